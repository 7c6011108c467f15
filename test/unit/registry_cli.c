/*
 * registry_cli.c - the registry client (image/registry.h) as a command, for
 * test/integration/registry_push.sh.  Not installed.
 *
 *   registry_cli push URL LAYOUT_DIR REPOSITORY TAG [MOUNT_FROM]
 *   registry_cli copy SRC_URL SRC_REPOSITORY DIGEST DST_URL DST_REPOSITORY [TAG]
 *   registry_cli exists URL REPOSITORY REFERENCE
 * Credentials from the environment (never arguments, which ps shows):
 * MF_REG_USERNAME, MF_REG_PASSWORD, MF_REG_REFRESH_TOKEN (the copy's source:
 * MF_REG_SRC_*).  MF_REG_INSECURE=1 allows http; MF_REG_CHUNK, MF_REG_MAX_BLOB,
 * MF_REG_RETRIES, MF_REG_BACKOFF_MS tune the client.  MF_REG_PAUSE=<N>:<file>
 * stops after the Nth progress event (a chunk, a blob or the manifest), creates <file>.paused and waits for
 * <file>.go (a test stops the registry meanwhile).  Prints the digest on
 * success; on failure "error: <kind> http=<status> code=<code>: <message>"
 * on stderr and exit 1.  SIGINT cancels through the client's callback.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry.h"

static volatile sig_atomic_t interrupted = 0;
static int	events = 0;

/* SIGINT: ask the client to stop. */
static void
on_sigint(int sig)
{
	(void) sig;
	interrupted = 1;
}

/* The client's cancel callback. */
static bool
cancelled(void *arg)
{
	(void) arg;
	return interrupted != 0;
}

/* Print progress; pause where MF_REG_PAUSE says. */
static void
progress(void *arg, const char *what, const char *digest, uint64_t done, uint64_t total)
{
	const char *pause = getenv("MF_REG_PAUSE");

	(void) arg;
	fprintf(stderr, "progress: %s %s %llu/%llu\n", what, digest, (unsigned long long) done,
			(unsigned long long) total);
	events++;
	if (pause && atoi(pause) == events && strchr(pause, ':'))
	{
		char		path[4096];
		FILE	   *f;

		snprintf(path, sizeof(path), "%s.paused", strchr(pause, ':') + 1);
		if ((f = fopen(path, "w")) != NULL)
			fclose(f);
		snprintf(path, sizeof(path), "%s.go", strchr(pause, ':') + 1);
		while (access(path, F_OK) != 0 && !interrupted)
			usleep(50000);
	}
}

/* A config from the environment; prefix "MF_REG_" or "MF_REG_SRC_". */
static MfRegistryConfig
config_from_env(const char *url, const char *prefix)
{
	MfRegistryConfig c = {0};
	char		name[64];
	const char *v;

#define ENV(k) (snprintf(name, sizeof(name), "%s%s", prefix, k), getenv(name))
	c.url = url;
	c.username = ENV("USERNAME");
	c.password = ENV("PASSWORD");
	c.refresh_token = ENV("REFRESH_TOKEN");
	c.insecure = (v = getenv("MF_REG_INSECURE")) && strcmp(v, "1") == 0;
	c.chunk_bytes = (v = getenv("MF_REG_CHUNK")) ? strtoull(v, NULL, 10) : 0;
	c.max_blob_bytes = (v = getenv("MF_REG_MAX_BLOB")) ? strtoull(v, NULL, 10) : 0;
	c.max_retries = (v = getenv("MF_REG_RETRIES")) ? atoi(v) : 0;
	c.backoff_ms = (v = getenv("MF_REG_BACKOFF_MS")) ? atol(v) : 0;
	c.connect_timeout_ms = 2000;
	c.cancelled = cancelled;
	c.progress = progress;
#undef ENV
	return c;
}

/* Print an error; exit status 1. */
static int
fail(const MfRegistryError *err)
{
	static const char *const kinds[] = {"ok", "bad_arg", "bad_layout", "too_large", "auth", "not_found", "http",
	"unavailable", "protocol", "cancelled", "nomem"};

	fprintf(stderr, "error: %s http=%ld code=%s: %s\n", kinds[err->status], err->http_status,
			err->code[0] ? err->code : "-", err->message);
	return 1;
}

int
main(int argc, char **argv)
{
	MfRegistryError err;
	char		digest[MF_REGISTRY_DIGEST_LEN];
	MfRegistry *a,
			   *b;
	MfRegistryConfig ca,
				cb;
	int			rc;

	signal(SIGINT, on_sigint);
	if (argc >= 6 && strcmp(argv[1], "push") == 0)
	{
		ca = config_from_env(argv[2], "MF_REG_");
		if ((a = mf_registry_open(&ca, &err)) == NULL)
			return fail(&err);
		rc = mf_registry_push_layout(a, argv[3], argv[4], argv[5], argc > 6 ? argv[6] : NULL, digest, &err);
		mf_registry_close(a);
		if (rc != MF_REGISTRY_OK)
			return fail(&err);
		printf("%s\n", digest);
		return 0;
	}
	if (argc >= 7 && strcmp(argv[1], "copy") == 0)
	{
		ca = config_from_env(argv[2], "MF_REG_SRC_");
		cb = config_from_env(argv[5], "MF_REG_");
		if ((a = mf_registry_open(&ca, &err)) == NULL)
			return fail(&err);
		if ((b = mf_registry_open(&cb, &err)) == NULL)
		{
			mf_registry_close(a);
			return fail(&err);
		}
		rc = mf_registry_copy(a, argv[3], argv[4], b, argv[6], argc > 7 ? argv[7] : NULL, &err);
		mf_registry_close(a);
		mf_registry_close(b);
		if (rc != MF_REGISTRY_OK)
			return fail(&err);
		printf("%s\n", argv[4]);
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "exists") == 0)
	{
		ca = config_from_env(argv[2], "MF_REG_");
		if ((a = mf_registry_open(&ca, &err)) == NULL)
			return fail(&err);
		rc = mf_registry_manifest_exists(a, argv[3], argv[4], &err);
		mf_registry_close(a);
		if (rc < 0)
			return fail(&err);
		printf("%s\n", rc ? "yes" : "no");
		return 0;
	}
	fprintf(stderr, "usage: registry_cli push URL LAYOUT REPOSITORY TAG [MOUNT_FROM]\n"
			"       registry_cli copy SRC_URL SRC_REPOSITORY DIGEST DST_URL DST_REPOSITORY [TAG]\n"
			"       registry_cli exists URL REPOSITORY REFERENCE\n");
	return 2;
}
