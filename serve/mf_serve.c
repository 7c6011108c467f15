/*
 * mf_serve.c - mf-serve, the standalone model server: a served model
 * directory in, TensorFlow Serving REST, Open Inference Protocol v2 and
 * the generated one-model API out (see serve.h).
 *
 *   mf-serve --model-base-path DIR [--port 8501] [--host ADDR]
 *            [--threads N] [--max-body BYTES] [--max-connections N]
 *            [--timeout SECONDS] [--poll-seconds S] [--log-requests]
 *            [--bearer-token-file FILE] [--requests-per-minute N]
 *            [--max-batch N] [--drain-seconds S]
 *
 * Signals: SIGHUP re-reads the directory now; every --poll-seconds (default
 * 5; 0 = never) it is re-read when a file of it changed.  A new catalog
 * replaces the old one atomically (requests in flight finish on the old
 * one); when the directory cannot be read the old catalog stays.  SIGTERM
 * or SIGINT drain: stop accepting, let requests in flight finish (at most
 * --drain-seconds), exit 0.  The signals are blocked in every thread and
 * taken by the main thread with sigtimedwait, so no handler runs inside
 * libmicrohttpd.  The policy flags apply to every served name; the token
 * file holds the token itself or its stored hash (sha256$salt$digest).
 */
#include "serve.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The command line. */
typedef struct MfServeArgs
{
	const char *base;
	const char *token_file;
	int			poll_seconds;
	int			drain_seconds;
	int			requests_per_minute;
	int			max_batch;
	MfServeDaemonOptions daemon;
} MfServeArgs;

/* Print a line to stderr with the program's prefix. */
static void
__attribute__((format(printf, 1, 2)))
MfLog(const char *fmt,...)
{
	char		line[2048];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "mf-serve: %s\n", line);
}

/* A skipped version directory. */
static void
MfWarn(void *arg, const char *msg)
{
	(void) arg;
	MfLog("warning: %s", msg);
}

/* Print the usage and exit with status. */
static void
MfUsage(int status)
{
	fprintf(status ? stderr : stdout,
			"usage: mf-serve --model-base-path DIR [options]\n"
			"  --model-base-path DIR     served models: DIR/<name>/<n>/{model.mfa,serving.json}\n"
			"  --port N                  TCP port (default 8501; 0 = any free port)\n"
			"  --host ADDR               address to listen on (default: all)\n"
			"  --threads N               worker threads (default: number of cores)\n"
			"  --max-body BYTES          largest request body (default %d)\n"
			"  --max-connections N       beyond: 503 (default %d)\n"
			"  --timeout SECONDS         idle connection timeout (default %d)\n"
			"  --poll-seconds S          re-read DIR when it changed (default 5; 0 = only on SIGHUP)\n"
			"  --drain-seconds S         on SIGTERM, wait this long for requests in flight (default 10)\n"
			"  --log-requests            one line per request on stderr\n"
			"  --bearer-token-file FILE  require this bearer token (or its sha256$salt$digest hash)\n"
			"  --requests-per-minute N   per client and model; beyond: 429 with Retry-After\n"
			"  --max-batch N             rows per request (default %d)\n",
			MF_SERVE_DEFAULT_MAX_BODY, MF_SERVE_DEFAULT_MAX_CONNECTIONS, MF_SERVE_DEFAULT_TIMEOUT,
			MF_SERVE_DEFAULT_MAX_BATCH);
	exit(status);
}

/* A non-negative integer argument of an option, or exit 2. */
static long
MfIntArg(const char *opt, const char *v, long max)
{
	char	   *end;
	long		n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < 0 || n > max)
	{
		MfLog("%s must be an integer from 0 to %ld, not \"%s\"", opt, max, v);
		exit(2);
	}
	return n;
}

/* Parse the command line into a. */
static void
MfParseArgs(int argc, char **argv, MfServeArgs *a)
{
	static const struct option opts[] = {
		{"model-base-path", required_argument, NULL, 'b'}, {"port", required_argument, NULL, 'p'},
		{"host", required_argument, NULL, 'H'}, {"threads", required_argument, NULL, 't'},
		{"max-body", required_argument, NULL, 'm'}, {"max-connections", required_argument, NULL, 'c'},
		{"timeout", required_argument, NULL, 'T'}, {"poll-seconds", required_argument, NULL, 's'},
		{"drain-seconds", required_argument, NULL, 'd'}, {"log-requests", no_argument, NULL, 'l'},
		{"bearer-token-file", required_argument, NULL, 'k'},
		{"requests-per-minute", required_argument, NULL, 'r'},
		{"max-batch", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int			ch;

	memset(a, 0, sizeof(*a));
	a->poll_seconds = 5;
	a->drain_seconds = 10;
	a->daemon.port = 8501;
	a->daemon.listen_fd = -1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		switch (ch)
		{
			case 'b': a->base = optarg; break;
			case 'p': a->daemon.port = (int) MfIntArg("--port", optarg, 65535); break;
			case 'H': a->daemon.host = optarg; break;
			case 't': a->daemon.threads = (int) MfIntArg("--threads", optarg, 1024); break;
			case 'm': a->daemon.max_body = (size_t) MfIntArg("--max-body", optarg, 1L << 30); break;
			case 'c': a->daemon.max_connections = (int) MfIntArg("--max-connections", optarg, 100000); break;
			case 'T': a->daemon.timeout_seconds = (int) MfIntArg("--timeout", optarg, 86400); break;
			case 's': a->poll_seconds = (int) MfIntArg("--poll-seconds", optarg, 86400); break;
			case 'd': a->drain_seconds = (int) MfIntArg("--drain-seconds", optarg, 86400); break;
			case 'l': a->daemon.log_requests = true; break;
			case 'k': a->token_file = optarg; break;
			case 'r': a->requests_per_minute = (int) MfIntArg("--requests-per-minute", optarg, 1000000000); break;
			case 'n': a->max_batch = (int) MfIntArg("--max-batch", optarg, 10000000); break;
			case 'h': MfUsage(0); break;
			default: MfUsage(2);
		}
	}
	if (optind < argc || a->base == NULL)
	{
		MfLog(a->base == NULL ? "--model-base-path is required" : "unexpected argument \"%s\"", argv[optind]);
		MfUsage(2);
	}
}

/* The stored hash of the token file (hashing a plain token); exit 2 on errors. */
static void
MfTokenHash(const char *path, char *hash, size_t len)
{
	FILE	   *f = fopen(path, "r");
	char		buf[1024];
	size_t		n;

	if (f == NULL)
	{
		MfLog("cannot read --bearer-token-file %s: %s", path, strerror(errno));
		exit(2);
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	if (n == 0 || n == sizeof(buf) - 1)
	{
		MfLog("--bearer-token-file %s must hold one token of 1 to 1000 bytes", path);
		exit(2);
	}
	if (strncmp(buf, "sha256$", 7) == 0)
		snprintf(hash, len, "%s", buf); /* a stored hash: the catalog checks its form */
	else if (!mf_serve_bearer_hash(buf, n, hash, len))
	{
		MfLog("cannot hash the bearer token (OpenSSL failed)");
		exit(1);
	}
	memset(buf, 0, sizeof(buf));
}

/* Load the directory and install it; false (old catalog kept) on errors. */
static bool
MfReload(MfServe *srv, const MfServeArgs *a, const MfServePolicy *policy, const char *why)
{
	char		err[1024];
	MfServeCatalog *c = mf_serve_model_dir_load(a->base, policy, MfWarn, NULL, err, sizeof(err));

	if (c == NULL)
	{
		MfLog("%s: %s; the models loaded before stay", why, err);
		return false;
	}
	MfLog("%s: %d versions of %d models from %s", why, mf_serve_catalog_versions(c),
		  mf_serve_catalog_size(c), a->base);
	mf_serve_set_catalog(srv, c);
	return true;
}

/* Stop accepting, wait for requests in flight, stop. */
static void
MfDrain(MfServeDaemon *d, int seconds)
{
	struct timespec step = {0, 20 * 1000 * 1000};
	int			waited = 0;

	mf_serve_daemon_quiesce(d);
	while (mf_serve_daemon_in_flight(d) > 0 && waited < seconds * 50)
	{
		nanosleep(&step, NULL);
		waited++;
	}
	if (mf_serve_daemon_in_flight(d) > 0)
		MfLog("drain: %u requests still in flight after %d s; closing them", mf_serve_daemon_in_flight(d), seconds);
	mf_serve_daemon_stop(d);
}

/* Wait for signals, reloading on SIGHUP and on directory changes. */
static void
MfLoop(MfServe *srv, MfServeDaemon *d, const MfServeArgs *a, const MfServePolicy *policy,
	   const sigset_t *set)
{
	char	   *print = mf_serve_model_dir_fingerprint(a->base);

	for (;;)
	{
		struct timespec ts = {a->poll_seconds > 0 ? a->poll_seconds : 3600, 0};
		int			sig = sigtimedwait(set, NULL, &ts);

		if (sig == SIGTERM || sig == SIGINT)
		{
			MfLog("%s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			MfDrain(d, a->drain_seconds);
			break;
		}
		if (sig == SIGHUP || (sig < 0 && errno == EAGAIN && a->poll_seconds > 0))
		{
			char	   *now = mf_serve_model_dir_fingerprint(a->base);

			if (sig == SIGHUP || now == NULL || print == NULL || strcmp(now, print) != 0)
				MfReload(srv, a, policy, sig == SIGHUP ? "SIGHUP" : "directory changed");
			free(print);
			print = now;
		}
	}
	free(print);
}

/* Parse, load, listen, serve until SIGTERM. */
int
main(int argc, char **argv)
{
	MfServeArgs a;
	MfServePolicy policy = {0};
	char		hash[MF_SERVE_BEARER_HASH_LEN];
	char		err[1024];
	sigset_t	set;
	MfServe    *srv;
	MfServeDaemon *d;

	MfParseArgs(argc, argv, &a);
	if (a.token_file != NULL)
	{
		MfTokenHash(a.token_file, hash, sizeof(hash));
		policy.bearer_hash = hash;
	}
	policy.requests_per_minute = a.requests_per_minute;
	policy.max_batch = a.max_batch;
	/* the signals go to sigtimedwait only: block them before any thread starts */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	srv = mf_serve_new(&(MfServeOptions) {.default_max_batch = a.max_batch, .max_body = a.daemon.max_body});
	if (srv == NULL)
		return 1;
	if (!MfReload(srv, &a, &policy, "start"))
		return 1;
	d = mf_serve_daemon_start(srv, &a.daemon, err, sizeof(err));
	if (d == NULL)
	{
		MfLog("%s", err);
		return 1;
	}
	MfLog("listening on http://%s:%d/ (TF Serving /v1, OIP /v2, /predict, /health, /metrics)",
		  a.daemon.host ? a.daemon.host : "0.0.0.0", mf_serve_daemon_port(d));
	MfLoop(srv, d, &a, &policy, &set);
	mf_serve_free(srv);
	MfLog("stopped");
	return 0;
}
