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
 *            [--prediction-log FILE [--prediction-log-id-field NAME]
 *             [--deployment-id N]]
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
 *
 * --prediction-log FILE appends one JSON line per scored row of every
 * served name (serve/predlog.c has the format, the in-database server's:
 * deployment_id from --deployment-id, default 0; row ids from the member
 * or input named by --prediction-log-id-field, default "id"), written
 * with one write(2) per request under a lock, from any route that scores
 * (TF Serving, OIP, /predict, /batch_predict).  SIGHUP reopens the file
 * (for log rotation) before re-reading the directory.  A failed write is
 * reported on stderr (once per reopen); the request is answered anyway.
 */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
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
	const char *prediction_log; /* NULL: none */
	const char *log_id_field;
	long		deployment_id;
	MfServeDaemonOptions daemon;
} MfServeArgs;

/* The prediction log file (--prediction-log), shared by the daemon's threads. */
static struct
{
	pthread_mutex_t lock;
	int			fd;
	bool		failed;			/* a write failed since the last (re)open */
}			MfPredLog = {PTHREAD_MUTEX_INITIALIZER, -1, false};

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
			"  --timeout SECONDS         idle timeout, and the time a client has to send a\n"
			"                            whole request (default %d)\n"
			"  --poll-seconds S          re-read DIR when it changed (default 5; 0 = only on SIGHUP)\n"
			"  --drain-seconds S         on SIGTERM, wait this long for requests in flight (default 10)\n"
			"  --log-requests            one line per request on stderr\n"
			"  --bearer-token-file FILE  require this bearer token (or its sha256$salt$digest hash)\n"
			"  --requests-per-minute N   per client and model; beyond: 429 with Retry-After\n"
			"  --max-batch N             rows per request (default %d)\n"
			"  --prediction-log FILE     append one JSON line per scored row (SIGHUP reopens it)\n"
			"  --prediction-log-id-field NAME  the row member (or input) holding row ids (default id)\n"
			"  --deployment-id N         the deployment_id written into each logged row (default 0)\n",
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
		{"prediction-log", required_argument, NULL, 'P'},
		{"prediction-log-id-field", required_argument, NULL, 'I'},
		{"deployment-id", required_argument, NULL, 'D'},
		{NULL, 0, NULL, 0}
	};
	int			ch;

	memset(a, 0, sizeof(*a));
	a->poll_seconds = 5;
	a->drain_seconds = 10;
	a->daemon.port = 8501;
	a->daemon.listen_fd = -1;
	a->log_id_field = "id";
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
			case 'P': a->prediction_log = optarg; break;
			case 'I': a->log_id_field = optarg; break;
			case 'D': a->deployment_id = MfIntArg("--deployment-id", optarg, 1L << 62); break;
			case 'h': MfUsage(0); break;
			default: MfUsage(2);
		}
	}
	if (optind < argc || a->base == NULL)
	{
		MfLog(a->base == NULL ? "--model-base-path is required" : "unexpected argument \"%s\"", argv[optind]);
		MfUsage(2);
	}
	if (strlen(a->log_id_field) == 0 || strlen(a->log_id_field) >= MF_SERVE_NAME_LEN)
	{
		MfLog("--prediction-log-id-field must have 1 to %d bytes", MF_SERVE_NAME_LEN - 1);
		exit(2);
	}
}

/* (Re)open the prediction log for appending; false with a message on stderr. */
static bool
MfPredLogOpen(const char *path)
{
	int			fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	bool		ok = fd >= 0;

	if (!ok)
		MfLog("cannot open --prediction-log %s: %s", path, strerror(errno));
	pthread_mutex_lock(&MfPredLog.lock);
	if (ok)
	{
		if (MfPredLog.fd >= 0)
			close(MfPredLog.fd);
		MfPredLog.fd = fd;
		MfPredLog.failed = false;
	}
	pthread_mutex_unlock(&MfPredLog.lock);
	return ok;
}

/* The serving core's log sink: the lines of one request, appended whole. */
static void
MfPredLogSink(void *arg, const char *lines, size_t len)
{
	const char *path = arg;
	size_t		done = 0;

	pthread_mutex_lock(&MfPredLog.lock);
	while (MfPredLog.fd >= 0 && done < len)
	{
		ssize_t		n = write(MfPredLog.fd, lines + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			if (!MfPredLog.failed)
				MfLog("cannot write --prediction-log %s: %s; rows are lost until it is writable",
					  path, n < 0 ? strerror(errno) : "no progress");
			MfPredLog.failed = true;
			break;
		}
		done += (size_t) n;
	}
	pthread_mutex_unlock(&MfPredLog.lock);
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
		if (sig == SIGHUP && a->prediction_log != NULL)
			(void) MfPredLogOpen(a->prediction_log);
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
	if (a.prediction_log != NULL)
	{
		if (!MfPredLogOpen(a.prediction_log))
			return 1;
		policy.log_predictions = true;
		policy.deployment_id = a.deployment_id;
		snprintf(policy.log_id_field, sizeof(policy.log_id_field), "%s", a.log_id_field);
	}
	/* the signals go to sigtimedwait only: block them before any thread starts */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	srv = mf_serve_new(&(MfServeOptions) {.default_max_batch = a.max_batch, .max_body = a.daemon.max_body,
			.log_sink = a.prediction_log ? MfPredLogSink : NULL, .log_arg = (void *) a.prediction_log});
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
