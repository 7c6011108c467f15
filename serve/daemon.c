/*
 * daemon.c - libmicrohttpd glue: a port, connections and bodies in front
 * of the socket-free handler (handler.c).
 *
 * Two modes.  THREADED (mf-serve): MHD's internal polling threads with
 * epoll, a pool of opt.threads (default: the number of cores); handlers
 * run on those threads.  EXTERNAL (the PostgreSQL background worker): MHD
 * starts no thread; the caller waits for mf_serve_daemon_epoll_fd() to be
 * readable (beside its latch: poll() it or add it to a WaitEventSet; never
 * epoll_wait() on it directly, which would consume MHD's edge-triggered
 * events) for at most mf_serve_daemon_timeout_ms() and then calls
 * mf_serve_daemon_run(), so handlers run on the caller's thread.
 *
 * Per connection: the body is collected up to max_body (a larger
 * Content-Length is refused at once, a longer chunked body is drained and
 * answered 413); connections beyond max_connections are answered 503 (MHD
 * itself closes those beyond max_connections + 64); an idle client is
 * dropped after timeout_seconds (MHD's idle timeout), and so is a slow
 * one: a request (headers and body) not received whole within
 * timeout_seconds of its beginning is cut (deadline.c), by a sweep on a
 * thread of its own (THREADED) or in mf_serve_daemon_run() (EXTERNAL,
 * whose mf_serve_daemon_timeout_ms() then wakes the caller in time); a
 * client that disconnects mid-request only frees its request state (the
 * completion callback).
 * mf_serve_daemon_quiesce() stops accepting while requests in flight
 * finish; their answers then say Connection: close.
 */
#include "serve_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct MfServeDaemon
{
	struct MHD_Daemon *mhd;
	MfServe    *srv;
	MfServeDaemonOptions opt;
	atomic_uint in_flight;		/* requests begun, not completed */
	atomic_int	connections;	/* open connections */
	atomic_bool quiescing;
	int			port;
	MfServeDeadlines *deadlines;	/* open connections' request deadlines */
	double		next_sweep;		/* EXTERNAL: when run() sweeps next */
	pthread_t	sweeper;		/* THREADED: the sweeping thread */
	bool		has_sweeper;
	pthread_mutex_t stop_lock;	/* THREADED: wakes the sweeper to stop */
	pthread_cond_t stop_cond;
	bool		stopping;
};

/* The state of one request while its body arrives. */
typedef struct MfServeConn
{
	char	   *body;
	size_t		len;
	size_t		cap;
	bool		too_large;
	bool		refused;		/* answered before the body (413, 503) */
	double		t0;
	MfServeDeadlineEntry *deadline; /* the connection's, or NULL */
} MfServeConn;

/* Write one log line through the embedder's function or to stderr. */
static void
MfDaemonLog(const MfServeDaemon *d, const char *line)
{
	if (d->opt.log != NULL)
		d->opt.log(d->opt.log_arg, line);
	else
		fprintf(stderr, "%s\n", line);
}

/* The peer address of a connection as text. */
static void
MfDaemonClient(struct MHD_Connection *conn, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(buf, len, "unknown");
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf, (socklen_t) len);
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, buf, (socklen_t) len);
}

/* Queue the handler's answer on a connection. */
static enum MHD_Result
MfDaemonQueue(MfServeDaemon *d, struct MHD_Connection *conn, MfServeResponse *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char		num[32];

	resp = MHD_create_response_from_buffer(r->body_len, r->body ? r->body : (char *) "",
										   r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
	{
		mf_serve_response_free(r);
		return MHD_NO;
	}
	r->body = NULL;				/* MHD frees it now */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	if (r->model_version[0] != '\0')
	{
		MHD_add_response_header(resp, "X-Model-Version", r->model_version);
		snprintf(num, sizeof(num), "%lld", (long long) r->version_number);
		MHD_add_response_header(resp, "X-Model-Version-Number", num);
	}
	if (r->retry_after > 0)
	{
		snprintf(num, sizeof(num), "%d", r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	if (r->www_authenticate)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"mf-serve\"");
	if (r->allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (atomic_load(&d->quiescing))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(conn, (unsigned int) r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Answer an error before the body was read (413, 503). */
static enum MHD_Result
MfDaemonRefuse(MfServeDaemon *d, struct MHD_Connection *conn, MfServeConn *st, int status,
			   const char *msg)
{
	MfServeResponse r = {0};
	json_t	   *o = json_pack("{s:s}", "error", msg);

	st->refused = true;
	r.status = status;
	r.content_type = "application/json";
	r.body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	r.body_len = r.body ? strlen(r.body) : 0;
	if (status == 503)
		r.retry_after = 1;
	mf_serve_count(d->srv, "", "", status, 0.0, 0, r.body_len);
	return MfDaemonQueue(d, conn, &r);
}

/* Log one answered request. */
static void
MfDaemonLogRequest(MfServeDaemon *d, const char *client, const char *method, const char *url,
				   const MfServeResponse *r, double seconds)
{
	char		line[1024];

	snprintf(line, sizeof(line), "%s \"%s %.400s\" %d %zu %.3fms model=%s version=%s",
			 client, method, url, r->status, r->body_len, seconds * 1e3,
			 r->model_name[0] ? r->model_name : "-", r->model_version[0] ? r->model_version : "-");
	MfDaemonLog(d, line);
}

/* Run the handler on a complete request and queue its answer. */
static enum MHD_Result
MfDaemonAnswer(MfServeDaemon *d, struct MHD_Connection *conn, MfServeConn *st,
			   const char *url, const char *method)
{
	MfServeRequest req = {0};
	MfServeResponse r;
	char		client[INET6_ADDRSTRLEN + 1];

	MfDaemonClient(conn, client, sizeof(client));
	req.method = method;
	req.path = url;
	req.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	req.request_id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
	req.probe = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MF_SERVE_PROBE_HEADER);
	req.client = client;
	req.body = st->body;
	req.body_len = st->len;
	req.body_too_large = st->too_large;
	mf_serve_handle(d->srv, &req, &r);
	if (d->opt.log_requests)
		MfDaemonLogRequest(d, client, method, url, &r, mf_serve_now() - st->t0);
	return MfDaemonQueue(d, conn, &r);
}

/* Append upload data to the body, or drop it past max_body. */
static void
MfDaemonAppend(MfServeDaemon *d, MfServeConn *st, const char *data, size_t n)
{
	if (st->too_large || n > d->opt.max_body - st->len)
	{
		st->too_large = true;
		return;
	}
	if (st->len + n + 1 > st->cap)
	{
		size_t		cap = st->cap ? st->cap : 4096;
		char	   *b;

		while (cap < st->len + n + 1)
			cap *= 2;
		if (cap > d->opt.max_body + 1)
			cap = d->opt.max_body + 1;
		b = realloc(st->body, cap);
		if (b == NULL)
		{
			st->too_large = true;
			return;
		}
		st->body = b;
		st->cap = cap;
	}
	memcpy(st->body + st->len, data, n);
	st->len += n;
	st->body[st->len] = '\0';
}

/* First call of a request: state, connection limit, Content-Length. */
static enum MHD_Result
MfDaemonBegin(MfServeDaemon *d, struct MHD_Connection *conn, void **con_cls)
{
	MfServeConn *st = calloc(1, sizeof(MfServeConn));
	const union MHD_ConnectionInfo *ci;
	const char *cl;

	if (st == NULL)
		return MHD_NO;
	st->t0 = mf_serve_now();
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	st->deadline = ci != NULL ? ci->socket_context : NULL;
	*con_cls = st;
	atomic_fetch_add(&d->in_flight, 1);
	if (atomic_load(&d->connections) > d->opt.max_connections)
		return MfDaemonRefuse(d, conn, st, 503, "the server has too many connections; retry later");
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && strtoull(cl, NULL, 10) > d->opt.max_body)
	{
		char		msg[128];

		snprintf(msg, sizeof(msg), "the request body is larger than %zu bytes", d->opt.max_body);
		return MfDaemonRefuse(d, conn, st, 413, msg);
	}
	return MHD_YES;
}

/* MHD's access handler: collect the body, then answer. */
static enum MHD_Result
MfDaemonAccess(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			   const char *version, const char *upload_data, size_t *upload_data_size,
			   void **con_cls)
{
	MfServeDaemon *d = cls;
	MfServeConn *st = *con_cls;

	(void) version;
	if (st == NULL)
		return MfDaemonBegin(d, conn, con_cls);
	if (*upload_data_size > 0)
	{
		if (!st->refused)
			MfDaemonAppend(d, st, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (st->refused)
		return MHD_YES;
	mf_serve_deadline_mark(d->deadlines, st->deadline, true, 0.0);
	return MfDaemonAnswer(d, conn, st, url, method);
}

/* A request ended (answered, or the client went away): free its state. */
static void
MfDaemonCompleted(void *cls, struct MHD_Connection *conn, void **con_cls,
				  enum MHD_RequestTerminationCode toe)
{
	MfServeDaemon *d = cls;
	MfServeConn *st = *con_cls;

	(void) conn;
	(void) toe;
	if (st == NULL)
		return;
	mf_serve_deadline_mark(d->deadlines, st->deadline, false, mf_serve_now());
	free(st->body);
	free(st);
	*con_cls = NULL;
	atomic_fetch_sub(&d->in_flight, 1);
}

/* Count open connections. */
static void
MfDaemonConnection(void *cls, struct MHD_Connection *conn, void **socket_context,
				   enum MHD_ConnectionNotificationCode toe)
{
	MfServeDaemon *d = cls;

	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
	{
		atomic_fetch_add(&d->connections, 1);
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		/* out of memory: the connection only keeps MHD's idle timeout */
		*socket_context = ci != NULL ? mf_serve_deadline_add(d->deadlines, ci->connect_fd, mf_serve_now()) : NULL;
	}
	else
	{
		atomic_fetch_sub(&d->connections, 1);
		/* MHD closes the socket after this call: off the list first */
		mf_serve_deadline_remove(d->deadlines, *socket_context);
		*socket_context = NULL;
	}
}

/* Cut the connections whose request is over its deadline; seconds to the next. */
static double
MfDaemonSweep(MfServeDaemon *d)
{
	double		next = d->opt.timeout_seconds;
	int			cut = mf_serve_deadlines_sweep(d->deadlines, mf_serve_now(), d->opt.timeout_seconds, &next);

	if (cut > 0 && d->opt.log_requests)
	{
		char		line[128];

		snprintf(line, sizeof(line), "%d connection(s) cut: request not received within %d s", cut,
				 d->opt.timeout_seconds);
		MfDaemonLog(d, line);
	}
	return next;
}

/* THREADED: sweep at each next deadline until the daemon stops. */
static void *
MfDaemonSweeper(void *arg)
{
	MfServeDaemon *d = arg;

	pthread_mutex_lock(&d->stop_lock);
	while (!d->stopping)
	{
		double		next = MfDaemonSweep(d);
		struct timespec until;

		/* a connection added or answered later has a later deadline */
		if (next < 0.01)
			next = 0.01;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long) (next * 1e9);
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&d->stop_cond, &d->stop_lock, &until);
	}
	pthread_mutex_unlock(&d->stop_lock);
	return NULL;
}

/* MHD's own error messages, in the request log when it is on. */
static void
__attribute__((format(printf, 2, 0)))
MfDaemonMhdLog(void *cls, const char *fmt, va_list ap)
{
	MfServeDaemon *d = cls;
	char		line[512];
	size_t		n;

	if (!d->opt.log_requests)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	MfDaemonLog(d, line);
}

/* Resolve host into an address for MHD (IPv4 preferred); false with err. */
static bool
MfDaemonAddress(const char *host, int port, struct sockaddr_storage *ss, bool *v6,
				char *err, size_t errlen)
{
	struct addrinfo hints = {0},
			   *res = NULL;
	int			rc;
	char		ps[16];

	snprintf(ps, sizeof(ps), "%d", port);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	hints.ai_family = AF_INET;
	rc = getaddrinfo(host, ps, &hints, &res);
	if (rc != 0)
	{
		hints.ai_family = AF_INET6;
		rc = getaddrinfo(host, ps, &hints, &res);
	}
	if (rc != 0 || res == NULL)
	{
		snprintf(err, errlen, "cannot resolve listen address \"%s\": %s", host, gai_strerror(rc));
		return false;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*v6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return true;
}

/* Fill in the defaults of daemon options. */
static void
MfDaemonDefaults(MfServeDaemonOptions *o)
{
	if (o->max_body == 0)
		o->max_body = MF_SERVE_DEFAULT_MAX_BODY;
	if (o->max_connections <= 0)
		o->max_connections = MF_SERVE_DEFAULT_MAX_CONNECTIONS;
	if (o->timeout_seconds <= 0)
		o->timeout_seconds = MF_SERVE_DEFAULT_TIMEOUT;
	if (o->threads <= 0)
	{
		long		n = sysconf(_SC_NPROCESSORS_ONLN);

		o->threads = n > 0 ? (int) (n < 256 ? n : 256) : 1;
	}
}

/* Start MHD with the daemon's options (addr: the bind address, or NULL). */
static struct MHD_Daemon *
MfDaemonStartMhd(MfServeDaemon *d, unsigned int flags, struct sockaddr_storage *addr)
{
	struct MHD_OptionItem o[12];
	int			n = 0;

#define MF_OPT(opt, v, p) (o[n++] = (struct MHD_OptionItem) {(opt), (intptr_t) (v), (p)})
	if (d->opt.mode == MF_SERVE_THREADED && d->opt.threads > 1)
		MF_OPT(MHD_OPTION_THREAD_POOL_SIZE, d->opt.threads, NULL);
	MF_OPT(MHD_OPTION_CONNECTION_LIMIT, d->opt.max_connections + 64, NULL);
	MF_OPT(MHD_OPTION_CONNECTION_TIMEOUT, d->opt.timeout_seconds, NULL);
	MF_OPT(MHD_OPTION_NOTIFY_COMPLETED, MfDaemonCompleted, d);
	MF_OPT(MHD_OPTION_NOTIFY_CONNECTION, MfDaemonConnection, d);
	MF_OPT(MHD_OPTION_EXTERNAL_LOGGER, MfDaemonMhdLog, d);
	if (d->opt.reuse_port)
		MF_OPT(MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL);
	if (d->opt.listen_fd >= 0)
		MF_OPT(MHD_OPTION_LISTEN_SOCKET, d->opt.listen_fd, NULL);
	else if (addr != NULL)
		MF_OPT(MHD_OPTION_SOCK_ADDR, 0, addr);
	MF_OPT(MHD_OPTION_END, 0, NULL);
#undef MF_OPT
	return MHD_start_daemon(flags, (uint16_t) d->opt.port, NULL, NULL, MfDaemonAccess, d,
							MHD_OPTION_ARRAY, o, MHD_OPTION_END);
}

/* Start listening; NULL with err set on failure. */
MfServeDaemon *
mf_serve_daemon_start(MfServe *s, const MfServeDaemonOptions *opt, char *err, size_t errlen)
{
	MfServeDaemon *d = calloc(1, sizeof(MfServeDaemon));
	struct sockaddr_storage ss;
	bool		v6 = false;
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;

	if (d == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->srv = s;
	d->opt = *opt;
	MfDaemonDefaults(&d->opt);
	s->opt.max_body = d->opt.max_body;
	if ((d->deadlines = mf_serve_deadlines_new()) == NULL)
	{
		snprintf(err, errlen, "out of memory");
		free(d);
		return NULL;
	}
	if (d->opt.listen_fd < 0 && d->opt.host != NULL &&
		!MfDaemonAddress(d->opt.host, d->opt.port, &ss, &v6, err, errlen))
	{
		mf_serve_deadlines_free(d->deadlines);
		free(d);
		return NULL;
	}
	if (d->opt.mode == MF_SERVE_THREADED)
		flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
	if (v6)
		flags |= MHD_USE_IPv6;
	d->mhd = MfDaemonStartMhd(d, flags, d->opt.host != NULL ? &ss : NULL);
	if (d->mhd == NULL)
	{
		snprintf(err, errlen, "cannot listen on %s port %d: %s", d->opt.host ? d->opt.host : "*",
				 d->opt.port, errno ? strerror(errno) : "libmicrohttpd refused the options");
		mf_serve_deadlines_free(d->deadlines);
		free(d);
		return NULL;
	}
	info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
	d->port = info ? info->port : d->opt.port;
	pthread_mutex_init(&d->stop_lock, NULL);
	pthread_cond_init(&d->stop_cond, NULL);
	if (d->opt.mode == MF_SERVE_THREADED &&
		pthread_create(&d->sweeper, NULL, MfDaemonSweeper, d) != 0)
	{
		snprintf(err, errlen, "cannot start the request deadline thread");
		mf_serve_daemon_stop(d);
		return NULL;
	}
	d->has_sweeper = d->opt.mode == MF_SERVE_THREADED;
	return d;
}

/* The port the daemon listens on. */
int
mf_serve_daemon_port(const MfServeDaemon *d)
{
	return d->port;
}

/* EXTERNAL: the epoll fd to wait on. */
int
mf_serve_daemon_epoll_fd(const MfServeDaemon *d)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_EPOLL_FD);

	return info ? info->epoll_fd : -1;
}

/* EXTERNAL: milliseconds until _run must be called anyway; -1 = no timer. */
long
mf_serve_daemon_timeout_ms(MfServeDaemon *d)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;

	long		sweep;

	if (MHD_get_timeout(d->mhd, &ms) != MHD_YES)
		ms = ~(MHD_UNSIGNED_LONG_LONG) 0;
	if (mf_serve_deadlines_count(d->deadlines) > 0)
	{
		/* an open connection may need cutting: wake for the next sweep */
		sweep = (long) ((d->next_sweep - mf_serve_now()) * 1e3) + 1;
		if (sweep < 0)
			sweep = 0;
		if ((MHD_UNSIGNED_LONG_LONG) sweep < ms)
			ms = (MHD_UNSIGNED_LONG_LONG) sweep;
	}
	if (ms == ~(MHD_UNSIGNED_LONG_LONG) 0)
		return -1;
	return ms > 86400000ULL ? 86400000L : (long) ms;
}

/* EXTERNAL: do all pending work without blocking (and sweep when due). */
bool
mf_serve_daemon_run(MfServeDaemon *d)
{
	bool		ok = MHD_run(d->mhd) == MHD_YES;
	double		now = mf_serve_now();

	if (now >= d->next_sweep)
	{
		double		next = MfDaemonSweep(d);

		d->next_sweep = now + (next > 0.01 ? next : 0.01);
	}
	return ok;
}

/* Stop accepting new connections. */
void
mf_serve_daemon_quiesce(MfServeDaemon *d)
{
	MHD_socket	fd;

	atomic_store(&d->quiescing, true);
	fd = MHD_quiesce_daemon(d->mhd);
	if (fd != MHD_INVALID_SOCKET && d->opt.listen_fd < 0)
		close(fd);
}

/* Requests received and not yet completed. */
unsigned
mf_serve_daemon_in_flight(const MfServeDaemon *d)
{
	return atomic_load(&((MfServeDaemon *) d)->in_flight);
}

/* Close every connection and free the daemon. */
void
mf_serve_daemon_stop(MfServeDaemon *d)
{
	if (d == NULL)
		return;
	if (d->has_sweeper)
	{
		pthread_mutex_lock(&d->stop_lock);
		d->stopping = true;
		pthread_cond_signal(&d->stop_cond);
		pthread_mutex_unlock(&d->stop_lock);
		pthread_join(d->sweeper, NULL);
	}
	if (d->mhd != NULL)
		MHD_stop_daemon(d->mhd);
	pthread_cond_destroy(&d->stop_cond);
	pthread_mutex_destroy(&d->stop_lock);
	mf_serve_deadlines_free(d->deadlines);
	free(d);
}
