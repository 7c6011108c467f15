/*
 * http_server.c - a serving process of the in-database HTTP server.
 *
 * Design note
 * -----------
 * The HTTP worker (http_worker.c, a background worker connected to the
 * database) forks mf.http_workers of these.  A serving process detaches
 * from PostgreSQL's shared memory right after the fork and from then on
 * calls no PostgreSQL function: this file includes no PostgreSQL header.
 * It is not a child of the postmaster, so when it dies - kill -9, a crash -
 * the postmaster does not restart the cluster: its worker sees the control
 * socket close, reaps it and forks a new one; every other process goes on.
 *
 * It runs serve/'s daemon in its external event loop mode on its main
 * thread: one epoll set holds the control socket and each daemon's epoll
 * fd (one daemon per listening socket, all sharing one MfServe: one
 * catalog, one set of counters, one rate limiter); it waits at most until
 * the daemons' next timeout (or a second, to notice a dead worker) and
 * runs them.  The listening sockets were bound by the worker and are
 * shared by every serving process: a connection waits in the kernel's
 * queue until one of them accepts it, so a process that dies or is busy
 * does not lose the connections nobody accepted yet.
 *
 * Snapshots arrive as a memfd on the control socket (MF_HTTP_CTL_SNAPSHOT);
 * the process builds a complete catalog from it (serve/ copies and opens
 * every artifact) and only then installs it, with one pointer swap, so a
 * request sees the old catalog or the new one, never a part.  It accepts
 * no connection before its first catalog.  SIGTERM: stop accepting, let
 * requests in flight finish (at most 5 s), exit.  The worker's death
 * (PR_SET_PDEATHSIG, and the control socket's EOF) ends it at once.
 */
#include "http_server.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "http_snapshot.h"
#include "http_spool.h"
#include "serve.h"

#define MF_HTTP_DRAIN_SECONDS 5

static volatile sig_atomic_t MfServerStop = 0;

/* SIGTERM, SIGINT: drain and exit. */
static void
mf_http_server_sigterm(int sig)
{
	(void) sig;
	MfServerStop = 1;
}

/* Default dispositions for every signal the worker's process had caught, then ours. */
static void
mf_http_server_signals(void)
{
	struct sigaction sa;
	sigset_t	none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void) sigaction(sig, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void) sigaction(SIGPIPE, &sa, NULL);
	(void) sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = mf_http_server_sigterm;
	(void) sigaction(SIGTERM, &sa, NULL);
	(void) sigaction(SIGINT, &sa, NULL);
	sigemptyset(&none);
	(void) sigprocmask(SIG_SETMASK, &none, NULL);
}

static void mf_http_server_say(int ctl, const char *fmt,...) __attribute__((format(printf, 2, 3)));

/* Send one text message to the worker (dropped when the socket is full). */
static void
mf_http_server_say(int ctl, const char *fmt,...)
{
	char		buf[MF_HTTP_CTL_MSG];
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t) n >= sizeof(buf))
		n = sizeof(buf) - 1;
	(void) send(ctl, buf, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Daemon log callback: forward the line to the worker. */
static void
mf_http_server_log(void *arg, const char *line)
{
	mf_http_server_say(*(const int *) arg, "log %s", line);
}

/* Build and install the catalog of a snapshot memfd; tell the worker. */
static void
mf_http_server_install(MfServe *srv, int ctl, int fd, uint64_t seq)
{
	struct stat st;
	void	   *blob;
	MfServeCatalog *cat;
	char		err[512];

	if (fstat(fd, &st) != 0 || st.st_size <= 0)
	{
		mf_http_server_say(ctl, "error %llu cannot read the snapshot: %s", (unsigned long long) seq,
						   strerror(errno));
		return;
	}
	blob = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (blob == MAP_FAILED)
	{
		mf_http_server_say(ctl, "error %llu cannot map the snapshot: %s", (unsigned long long) seq,
						   strerror(errno));
		return;
	}
	err[0] = '\0';
	cat = mf_http_snap_load(blob, (size_t) st.st_size, err, sizeof(err));
	munmap(blob, (size_t) st.st_size);
	if (cat == NULL)
	{
		mf_http_server_say(ctl, "error %llu %s", (unsigned long long) seq, err);
		return;
	}
	mf_http_server_say(ctl, "ready %llu %d %d", (unsigned long long) seq,
					   mf_serve_catalog_size(cat), mf_serve_catalog_versions(cat));
	mf_serve_set_catalog(srv, cat);
}

/*
 * Read the control messages waiting on ctl; install snapshots.  Returns
 * false when the worker closed its end.
 */
static bool
mf_http_server_control(MfServe *srv, int ctl, bool *installed)
{
	for (;;)
	{
		MfHttpCtlSnapshot msg;
		char		cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = {&msg, sizeof(msg)};
		struct msghdr mh;
		struct cmsghdr *cm;
		ssize_t		n;
		int			fd = -1;

		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		n = recvmsg(ctl, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		if (n == 0)
			return false;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
				cm->cmsg_len == CMSG_LEN(sizeof(int)))
				memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		if (n == (ssize_t) sizeof(msg) && msg.kind == MF_HTTP_CTL_SNAPSHOT && fd >= 0)
		{
			mf_http_server_install(srv, ctl, fd, msg.seq);
			*installed = true;
		}
		else
			mf_http_server_say(ctl, "log ignored a malformed control message");
		if (fd >= 0)
			close(fd);
	}
}

/* Start one external-loop daemon per listening socket and watch their epoll fds. */
static int
mf_http_server_listen(MfServe *srv, const MfHttpServerArgs *a, int ep, MfServeDaemon **daemons)
{
	int			n = 0;

	for (int i = 0; i < a->n_listen; i++)
	{
		MfServeDaemonOptions o;
		char		err[256];
		struct epoll_event ev;

		memset(&o, 0, sizeof(o));
		o.mode = MF_SERVE_EXTERNAL;
		o.listen_fd = a->listen_fds[i];
		o.max_body = a->max_body;
		o.log = mf_http_server_log;
		o.log_arg = (void *) &a->ctl;
		daemons[n] = mf_serve_daemon_start(srv, &o, err, sizeof(err));
		if (daemons[n] == NULL)
		{
			mf_http_server_say(a->ctl, "log cannot serve on a listening socket: %s", err);
			continue;
		}
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.u32 = 1 + (uint32_t) n;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, mf_serve_daemon_epoll_fd(daemons[n]), &ev) != 0)
		{
			mf_http_server_say(a->ctl, "log cannot watch a daemon: %s", strerror(errno));
			mf_serve_daemon_stop(daemons[n]);
			continue;
		}
		n++;
	}
	return n;
}

/* Milliseconds until the daemons need running anyway (at most 1000). */
static int
mf_http_server_timeout(MfServeDaemon **daemons, int n)
{
	long		t = 1000;

	for (int i = 0; i < n; i++)
	{
		long		d = mf_serve_daemon_timeout_ms(daemons[i]);

		if (d >= 0 && d < t)
			t = d;
	}
	return (int) t;
}

/* Monotonic seconds. */
static double
mf_http_server_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

static MfHttpSpool *MfServerSpool = NULL;

/* Log sink: a request's prediction lines to this process's spool file. */
static void
mf_http_server_log_predictions(void *arg, const char *lines, size_t len)
{
	static bool warned = false;

	if (!mf_http_spool_write(MfServerSpool, lines, len) && !warned)
	{
		mf_http_server_say(*(const int *) arg, "log cannot write the prediction log: %s", strerror(errno));
		warned = true;
	}
}

/* Stop the daemons, free the state and leave without running any exit handler. */
static void
mf_http_server_exit(MfServe *srv, MfServeDaemon **daemons, int n, int code)
{
	for (int i = 0; i < n; i++)
		mf_serve_daemon_stop(daemons[i]);
	mf_serve_free(srv);
	mf_http_spool_free(MfServerSpool);	/* the last lines handed over */
	_exit(code);
}

/* Requests in flight over all daemons. */
static unsigned
mf_http_server_in_flight(MfServeDaemon **daemons, int n)
{
	unsigned	f = 0;

	for (int i = 0; i < n; i++)
		f += mf_serve_daemon_in_flight(daemons[i]);
	return f;
}

/* Serve until SIGTERM or the worker's end. */
void
mf_http_server_main(const MfHttpServerArgs *a)
{
	MfServeOptions so;
	MfServe    *srv;
	MfServeDaemon *daemons[MF_HTTP_MAX_LISTEN];
	int			n_daemons = 0;
	bool		installed = false;
	bool		listening = false;
	double		drain_until = 0;
	int			ep;
	struct epoll_event ev;

	mf_http_server_signals();
	/* mf_core routes jansson through palloc: this process allocates with malloc only */
	json_set_alloc_funcs(malloc, free);
	(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != a->parent)
		_exit(0);
	memset(&so, 0, sizeof(so));
	so.max_body = a->max_body;
	so.no_generated_api = true;
	snprintf(so.probe_token, sizeof(so.probe_token), "%s", a->probe_token);
	if (a->log_dir[0] != '\0' && (MfServerSpool = mf_http_spool_new(a->log_dir, getpid())) != NULL)
	{
		so.log_sink = mf_http_server_log_predictions;
		so.log_arg = (void *) &a->ctl;
	}
	srv = mf_serve_new(&so);
	if (srv != NULL)
		mf_serve_set_counters(srv, a->counters);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (srv == NULL || ep < 0)
	{
		mf_http_server_say(a->ctl, "log cannot start: %s", srv == NULL ? "out of memory" : strerror(errno));
		_exit(1);
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u32 = 0;
	(void) epoll_ctl(ep, EPOLL_CTL_ADD, a->ctl, &ev);
	for (;;)
	{
		struct epoll_event evs[MF_HTTP_MAX_LISTEN + 1];
		int			n = epoll_wait(ep, evs, MF_HTTP_MAX_LISTEN + 1,
								   mf_http_server_timeout(daemons, n_daemons));

		if (n < 0 && errno != EINTR)
			mf_http_server_exit(srv, daemons, n_daemons, 1);
		if (getppid() != a->parent)
			mf_http_server_exit(srv, daemons, n_daemons, 0);
		for (int i = 0; i < n; i++)
			if (evs[i].data.u32 == 0 && !mf_http_server_control(srv, a->ctl, &installed))
				mf_http_server_exit(srv, daemons, n_daemons, 0);
		if (installed && !listening && !MfServerStop)
		{
			n_daemons = mf_http_server_listen(srv, a, ep, daemons);
			listening = true;
		}
		for (int i = 0; i < n_daemons; i++)
			if (!mf_serve_daemon_run(daemons[i]))
				mf_http_server_say(a->ctl, "log a daemon reported a fatal error");
		mf_http_spool_rotate(MfServerSpool, false);	/* at least once a second */
		if (MfServerStop && drain_until == 0)
		{
			for (int i = 0; i < n_daemons; i++)
				mf_serve_daemon_quiesce(daemons[i]);
			drain_until = mf_http_server_now() + MF_HTTP_DRAIN_SECONDS;
		}
		if (drain_until > 0 && (mf_http_server_in_flight(daemons, n_daemons) == 0 ||
								mf_http_server_now() > drain_until))
			mf_http_server_exit(srv, daemons, n_daemons, 0);
	}
}
