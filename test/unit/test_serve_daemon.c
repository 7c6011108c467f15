/*
 * test_serve_daemon.c - the served model directory reader and the
 * libmicrohttpd glue of the serving core.
 *
 * A model directory is written in a temporary folder (serving.json and
 * model.mfa per version, the artifact fitted by the kernels) with good
 * versions and broken ones (sha256 mismatch, bad JSON, version_number not
 * the directory's, wrong family); the reader must serve the good ones and
 * warn about each broken one.  The fingerprint changes when a file does.
 * Then the daemon runs in both modes on 127.0.0.1: EXTERNAL driven by
 * this thread (epoll fd, timeout, run) while a client thread talks to it,
 * (polling the fd as a WaitEventSet would) and THREADED with a client in this thread: a real request, a body over
 * the limit (413), a client that disconnects mid-body, and quiesce.
 */
#include "serve_int.h"
#include "serve_fixtures.h"
#include "mf_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[256];
static int	n_warnings;

/* Count and show a reader warning. */
static void
warn(void *arg, const char *msg)
{
	(void) arg;
	n_warnings++;
	MF_DIAG("  warning: %s", msg);
}

/* Write a file. */
static void
put(const char *path, const void *data, size_t len)
{
	FILE	   *f = fopen(path, "wb");

	if (f != NULL)
	{
		fwrite(data, 1, len, f);
		fclose(f);
	}
}

/* The sha256 hex of bytes. */
static void
sha_hex(const void *b, size_t len, char *out)
{
	unsigned char d[32];
	unsigned int n;

	EVP_Digest(b, len, d, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* Write base/name/n with model m; json_extra replaces serving.json when given. */
static void
write_version(const char *name, int n, int m, const char *family, const char *sha_override,
			  const char *json_text)
{
	char		dir[512],
				path[600],
				sha[65],
				js[1024];

	snprintf(dir, sizeof(dir), "%s/%s", base, name);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/%s/%d", base, name, n);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/model.mfa", dir);
	put(path, sf_models[m].bytes, sf_models[m].len);
	sha_hex(sf_models[m].bytes, sf_models[m].len, sha);
	snprintf(js, sizeof(js),
			 "{\"format\": \"mf-serving/1\", \"name\": \"%s\", \"version\": \"1.%d.0\", \"version_number\": %d, "
			 "\"family\": \"%s\", \"labels\": [\"production\"], \"artifact\": \"model.mfa\", "
			 "\"artifact_sha256\": \"%s\", \"trained_at\": \"2026-12-05T10:00:00Z\"}",
			 name, n, n, family, sha_override ? sha_override : sha);
	snprintf(path, sizeof(path), "%s/serving.json", dir);
	put(path, json_text ? json_text : js, strlen(json_text ? json_text : js));
}

/* The directory reader and the fingerprint. */
static void
test_model_dir(void)
{
	char		err[512];
	MfServeCatalog *c;
	char	   *f1,
			   *f2;
	const MfServeEntry *e;

	snprintf(base, sizeof(base), "/tmp/mf_serve_test_%d", (int) getpid());
	mkdir(base, 0755);
	write_version("lin", 1, SF_LINEAR, "linear_regression", NULL, NULL);
	write_version("lin", 2, SF_LINEAR, "linear_regression", NULL, NULL);
	write_version("km", 4, SF_KMEANS, "kmeans", NULL, NULL);
	write_version("bad", 1, SF_LINEAR, "linear_regression", "0000000000000000000000000000000000000000000000000000000000000000", NULL);
	write_version("bad", 2, SF_LINEAR, "linear_regression", NULL, "{\"format\": \"mf-serving/1\",");
	write_version("bad", 3, SF_LINEAR, "kmeans", NULL, NULL);
	write_version("bad", 4, SF_LINEAR, "linear_regression", NULL,
				  "{\"format\": \"mf-serving/1\", \"name\": \"bad\", \"version\": \"1.0.0\", \"version_number\": 5, "
				  "\"family\": \"linear_regression\", \"artifact\": \"model.mfa\", \"artifact_sha256\": \"00\"}");
	write_version("bad", 5, SF_LINEAR, "linear_regression", NULL,
				  "{\"format\": \"mf-serving/1\", \"name\": \"bad\", \"version\": \"1.0.0\", \"version_number\": 5, "
				  "\"family\": \"linear_regression\", \"artifact\": \"../../etc/passwd\", "
				  "\"artifact_sha256\": \"0000000000000000000000000000000000000000000000000000000000000000\"}");
	f1 = mf_serve_model_dir_fingerprint(base);
	c = mf_serve_model_dir_load(base, NULL, warn, NULL, err, sizeof(err));
	MF_OK(c != NULL && mf_serve_catalog_size(c) == 2 && mf_serve_catalog_versions(c) == 3,
		  "model directory: the 3 good versions of 2 names are served");
	MF_OK(n_warnings == 5, "model directory: one warning per broken version (sha256, JSON, family, number, path)");
	e = c ? mf_serve_catalog_find(c, "lin") : NULL;
	MF_OK(e != NULL && e->n_versions == 2 && e->versions[e->default_idx]->number == 2 &&
		  strcmp(e->versions[0]->semver, "1.1.0") == 0, "versions ordered, production label picks the default");
	mf_serve_catalog_unref(c);
	write_version("lin", 3, SF_LINEAR, "linear_regression", NULL, NULL);
	f2 = mf_serve_model_dir_fingerprint(base);
	MF_OK(f1 && f2 && strcmp(f1, f2) != 0, "the fingerprint changes when a version appears");
	free(f1);
	f1 = mf_serve_model_dir_fingerprint(base);
	MF_OK(f1 && strcmp(f1, f2) == 0, "the fingerprint is stable otherwise");
	free(f1);
	free(f2);
	MF_OK(mf_serve_model_dir_load("/nonexistent/mf", NULL, warn, NULL, err, sizeof(err)) == NULL &&
		  strstr(err, "cannot read") != NULL, "a missing base directory is an error");
}

/* Send a raw request to 127.0.0.1:port and read the answer into buf. */
static int
http(int port, const char *raw, char *buf, size_t len)
{
	size_t		rawlen = strlen(raw);
	struct sockaddr_in a = {0};
	int			fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t		got = 0;
	ssize_t		n;

	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t) port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	buf[0] = '\0';
	if (fd < 0 || connect(fd, (struct sockaddr *) &a, sizeof(a)) != 0)
		return -1;
	if (write(fd, raw, rawlen) != (ssize_t) rawlen)
	{
		close(fd);
		return -1;
	}
	while (got + 1 < len && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += (size_t) n;
	buf[got] = '\0';
	close(fd);
	return atoi(buf + 9);
}

/* A client thread's request and answer. */
typedef struct Client
{
	int			port;
	const char *raw;
	char		buf[4096];
	int			status;
	volatile int done;
} Client;

/* Run one request from a thread. */
static void *
client_main(void *arg)
{
	Client	   *c = arg;

	c->status = http(c->port, c->raw, c->buf, sizeof(c->buf));
	c->done = 1;
	return NULL;
}

/* A one-model server state from the fixtures. */
static MfServe *
one_model_server(void)
{
	MfServeCatalogBuilder *b = mf_serve_builder_new();
	MfServeVersionSpec v = {"1.0.0", 1, NULL, 0, NULL, sf_models[SF_LOGISTIC].bytes, sf_models[SF_LOGISTIC].len};
	MfServe    *s = mf_serve_new(NULL);
	char		err[256];

	mf_serve_builder_add_version(b, "churn", &v, err, sizeof(err));
	mf_serve_set_catalog(s, mf_serve_builder_finish(b, err, sizeof(err)));
	return s;
}

/* EXTERNAL mode: this thread waits on the epoll fd and runs the daemon. */
static void
test_external(void)
{
	MfServe    *s = one_model_server();
	MfServeDaemonOptions o = {.mode = MF_SERVE_EXTERNAL, .host = "127.0.0.1", .port = 0, .listen_fd = -1};
	char		err[256];
	MfServeDaemon *d = mf_serve_daemon_start(s, &o, err, sizeof(err));
	Client		c = {0};
	const char *body = "{\"inputs\":[{\"name\":\"t\",\"shape\":[1,5],\"datatype\":\"FP64\",\"data\":[0.5,1,0,0,1]}]}";
	char		raw[512];
	pthread_t	th;
	int			ep,
				loops = 0;

	if (!MF_OK(d != NULL && mf_serve_daemon_port(d) > 0, "EXTERNAL daemon listens on a free port"))
	{
		MF_DIAG("  %s", err);
		return;
	}
	ep = mf_serve_daemon_epoll_fd(d);
	MF_OK(ep >= 0, "EXTERNAL daemon exposes its epoll fd");
	c.port = mf_serve_daemon_port(d);
	snprintf(raw, sizeof(raw), "POST /v2/models/churn/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
			 "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	c.raw = raw;
	pthread_create(&th, NULL, client_main, &c);
	while (!c.done && loops++ < 500)
	{
		struct pollfd pfd = {ep, POLLIN, 0};
		long		t = mf_serve_daemon_timeout_ms(d);

		poll(&pfd, 1, t < 0 || t > 20 ? 20 : (int) t);
		mf_serve_daemon_run(d);
	}
	pthread_join(th, NULL);
	if (!MF_OK(c.status == 200 && strstr(c.buf, "X-Model-Version: 1.0.0") != NULL &&
		  strstr(c.buf, "\"model_version\":\"1.0.0\"") != NULL, "EXTERNAL daemon answers an OIP request on this thread"))
		MF_DIAG("  status %d port %d loops %d: %s", c.status, c.port, loops, c.buf);
	mf_serve_daemon_stop(d);
	mf_serve_free(s);
}

/* THREADED mode: requests, 413, a client leaving mid-body, quiesce. */
static void
test_threaded(void)
{
	MfServe    *s = one_model_server();
	MfServeDaemonOptions o = {.mode = MF_SERVE_THREADED, .host = "127.0.0.1", .port = 0, .listen_fd = -1,
	.threads = 2, .max_body = 256, .timeout_seconds = 2};
	char		err[256],
				buf[4096];
	MfServeDaemon *d = mf_serve_daemon_start(s, &o, err, sizeof(err));
	int			port;
	char		big[1024];
	int			fd;
	struct sockaddr_in a = {0};

	if (!MF_OK(d != NULL, "THREADED daemon starts"))
	{
		MF_DIAG("  %s", err);
		return;
	}
	port = mf_serve_daemon_port(d);
	if (!MF_OK(http(port, "GET /v1/models/churn HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf, sizeof(buf)) == 200 &&
		  strstr(buf, "AVAILABLE") != NULL, "THREADED daemon answers TF model status"))
		MF_DIAG("  %s", buf);
	snprintf(big, sizeof(big), "POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 300\r\n\r\n%0300d", 0);
	MF_OK(http(port, big, buf, sizeof(buf)) == 413 && strstr(buf, "\"error\"") != NULL,
		  "a Content-Length over --max-body: 413 with an error object");
	/* a client that sends half a body and goes away */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t) port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0)
	{
		const char *half = "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"x\":";

		if (write(fd, half, strlen(half)) < 0)
			MF_DIAG("  write failed");
		usleep(100000);
	}
	close(fd);
	usleep(100000);
	MF_OK(http(port, "GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf, sizeof(buf)) == 200 &&
		  mf_serve_daemon_in_flight(d) == 0, "after a client left mid-body: alive, nothing in flight");
	mf_serve_daemon_quiesce(d);
	MF_OK(http(port, "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", buf, sizeof(buf)) < 0,
		  "quiesced: new connections are refused");
	mf_serve_daemon_stop(d);
	mf_serve_free(s);
}

/* Connections beyond the limit are answered 503, and the server keeps serving. */
static void
test_connection_limit(void)
{
	MfServe    *s = one_model_server();
	MfServeDaemonOptions o = {.mode = MF_SERVE_THREADED, .host = "127.0.0.1", .port = 0, .listen_fd = -1,
	.threads = 1, .max_connections = 1};
	char		err[256],
				buf[4096];
	MfServeDaemon *d = mf_serve_daemon_start(s, &o, err, sizeof(err));
	struct sockaddr_in a = {0};
	int			idle,
				st;

	if (!MF_OK(d != NULL, "daemon with one connection allowed starts"))
		return;
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t) mf_serve_daemon_port(d));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	idle = socket(AF_INET, SOCK_STREAM, 0);
	st = connect(idle, (struct sockaddr *) &a, sizeof(a));
	usleep(100000);
	MF_OK(st == 0 && http(mf_serve_daemon_port(d), "GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
						  buf, sizeof(buf)) == 503 && strstr(buf, "Retry-After: 1") && strstr(buf, "\"error\""),
		  "a connection over the limit: 503 with Retry-After and an error object");
	close(idle);
	usleep(100000);
	MF_OK(http(mf_serve_daemon_port(d), "GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			   buf, sizeof(buf)) == 200, "below the limit again: 200");
	mf_serve_daemon_stop(d);
	mf_serve_free(s);
}

/* Fit the fixtures and run the cases. */
int
main(void)
{
	char		cmd[300];

	if (!MF_OK(sf_fit(), "fixture models fitted and written"))
		return mf_test_done();
	test_model_dir();
	test_external();
	test_threaded();
	test_connection_limit();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		MF_DIAG("could not remove %s", base);
	for (int i = 0; i < SF_NMODELS; i++)
		free(sf_models[i].bytes);
	return mf_test_done();
}
