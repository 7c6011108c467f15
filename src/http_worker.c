/*
 * http_worker.c - the HTTP worker: the background worker behind the
 * in-database HTTP server, and the SQL functions around it.
 *
 * Design note
 * -----------
 * Roles.  The launcher starts this worker when mf.http_port > 0.  It
 * connects to mf.database as the bootstrap superuser - PostgreSQL 15 lets a
 * background worker connect only as a role that may log in, and mf_reader
 * may not - and before its first query becomes mf.http_role for good: the
 * session user and the current user are that role, inside a
 * security-restricted operation (no SET ROLE or SET SESSION AUTHORIZATION
 * can undo it, and an aborted transaction restores that role), and
 * pg_stat_activity shows it.  A role that does not exist, is a superuser or
 * lacks mf_reader is refused: the worker logs why, serves nothing and looks
 * again every second.  What it reads, and the one read as the extension's
 * owner, is described in http_catalog.c.
 *
 * Processes.  The worker binds the listening sockets (every address of
 * mf.http_listen_addresses) and forks mf.http_workers serving processes
 * (http_server.c), which share those sockets.  They detach from shared
 * memory and never call PostgreSQL, and they are children of this worker,
 * not of the postmaster: a serving process that dies (kill -9, a crash in
 * a request) is reaped here and forked again (at once, then with a growing
 * pause if it keeps dying young); the cluster, the job workers and the
 * sessions never notice.  libmicrohttpd runs on each serving process's
 * main thread in serve/'s external event-loop mode; no request runs
 * PostgreSQL code, so no ERROR can cross libmicrohttpd frames.  The worker
 * itself waits on a WaitEventSet: its latch, postmaster death and each
 * serving process's control socket.  When the worker exits (SIGTERM from
 * the launcher, an error, the postmaster's death) its serving processes go
 * too (SIGTERM and a short drain; PR_SET_PDEATHSIG as the last resort).
 *
 * Snapshots.  A refresh reads every live http deployment (http_catalog.c)
 * in one transaction and compares a fingerprint of it with what is
 * served; when it differs, it writes a complete snapshot - artifacts
 * included - into a new memfd and sends that fd to every serving process,
 * which builds its catalog fully before it swaps it in.  Refreshes happen
 * when the latch is set by a commit that changed a table the served
 * models depend on (mf._http_wake(), a statement trigger, bumps a counter
 * in shared memory and sets this worker's latch at commit), and at least
 * once a second as the fallback, so a promotion, an alias move, a deploy
 * or an undeploy is served within a second.
 *
 * Counters.  Before it forks, the worker maps one table of serve/counters.h
 * (anonymous, MAP_SHARED: the serving processes keep it after they leave
 * PostgreSQL's shared memory); every serving process adds each answer to
 * it with atomics.  Each pass of the loop (at least once a second) and once
 * more after the serving processes stopped, the worker drains it into the
 * monitor's table in PostgreSQL shared memory (mf_monitor_shm.h), which
 * the monitor worker writes into mf.serving_metrics: counts of all serving
 * processes add up, and none is lost when one dies.  The table's
 * cumulative totals (never drained) are what every serving process's
 * /metrics shows, so a scrape sees all processes whichever answers it.
 */
#include "postgres.h"

#include "mf_core.h"

#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pg_shmem.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"

#include "http_server.h"
#include "http_worker.h"
#include "mf_http_shm.h"
#include "mf_jobs_shm.h"
#include "mf_monitor_shm.h"

extern PGDLLEXPORT void MfHttpWorkerMain(Datum arg);

#define MF_HTTP_POLL_MS 1000	/* fallback refresh, and the role re-check */
#define MF_HTTP_STOP_MS 2000	/* drain of the serving processes at exit */

/* One serving process. */
typedef struct MfHttpChild
{
	pid_t		pid;			/* 0: none */
	int			ctl;			/* control socket, -1 when closed */
	TimestampTz started_at;
	TimestampTz restart_at;		/* when to fork it (again) */
	int			quick_deaths;	/* deaths within 10 s of a start, in a row */
	uint64		sent;			/* last snapshot sent */
	uint64		ready;			/* last snapshot installed */
} MfHttpChild;

static MfHttpShared *MfHttp = NULL;
static bool MfHttpLooked = false;
static MfHttpConfig MfCfg;
static pid_t MfMyLauncher = 0;
static MfHttpChild MfChildren[MF_HTTP_MAX_WORKERS];
static int	MfListenFds[MF_HTTP_MAX_LISTEN];
static int	MfNListen = 0;
static int	MfSnapFd = -1;
static uint64 MfSnapSeq = 0;
static MemoryContext MfServedCxt = NULL;
static List *MfServed = NIL;
static char *MfFingerprint = NULL;
static char *MfLastError = NULL;
static uint64 MfSeenChanges = 0;
static TimestampTz MfLastRefresh = 0;
static bool MfSetDirty = true;
static bool MfWakeAtCommit = false;
static bool MfXactCallbackSet = false;
static MfCounters *MfChildCounters = NULL;	/* shared with the serving processes */
static MfCounters *MfMonitorCounters = NULL;	/* the monitor's, in shared memory */
static char MfProbeToken[MF_SERVE_PROBE_TOKEN_LEN + 1];	/* copied: the children detach */

/* The HTTP segment of the preloaded mf_ext.so, or NULL when not preloaded. */
static MfHttpShared *
MfHttpShmem(void)
{
	if (!MfHttpLooked)
	{
		MfHttpShmemGetFn get;

		get = (MfHttpShmemGetFn) load_external_function("$libdir/mf_ext", "MfHttpShmemGet", false, NULL);
		MfHttp = get != NULL ? get() : NULL;
		MfHttpLooked = true;
	}
	return MfHttp;
}

/* Publish the state (and a message, NULL to keep it) in shared memory. */
static void
MfHttpPublish(MfHttpState state, const char *message)
{
	SpinLockAcquire(&MfHttp->mutex);
	MfHttp->state = state;
	if (message != NULL)
		strlcpy(MfHttp->message, message, MF_HTTP_MSG_LEN);
	SpinLockRelease(&MfHttp->mutex);
}

/* Publish the pids of the serving processes. */
static void
MfHttpPublishServers(void)
{
	int			n = 0;

	SpinLockAcquire(&MfHttp->mutex);
	for (int i = 0; i < MfCfg.workers; i++)
		if (MfChildren[i].pid != 0)
			MfHttp->server_pids[n++] = MfChildren[i].pid;
	MfHttp->n_servers = n;
	SpinLockRelease(&MfHttp->mutex);
}

/* ------------------------------------------------------------ counters */

/* Drain callback: add what the serving processes counted to the monitor's table. */
static void
MfHttpMoveCounts(void *arg, const MfCounterTake *t)
{
	/* requests no model answered (health, metrics, unknown names) are only in /metrics */
	if (t->model[0] != '\0')
		mf_counters_put_back((MfCounters *) arg, t);
}

/* Move the serving processes' counts into the monitor's shared memory. */
static void
MfHttpDrainCounters(void)
{
	if (MfChildCounters != NULL && MfMonitorCounters != NULL)
		(void) mf_counters_drain(MfChildCounters, MfHttpMoveCounts, MfMonitorCounters);
}

/* Map the table the serving processes count into; find the monitor's (and its probe token). */
static void
MfHttpMapCounters(void)
{
	MfMonitorShmemGetFn get;
	MfMonitorShared *mon;
	void	   *p;

	get = (MfMonitorShmemGetFn) load_external_function("$libdir/mf_ext", "MfMonitorShmemGet", false, NULL);
	mon = get != NULL ? get() : NULL;
	if (mon == NULL)
		return;
	strlcpy(MfProbeToken, mon->probe_token, sizeof(MfProbeToken));
	p = mmap(NULL, sizeof(MfCounters), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
	{
		ereport(LOG, (errmsg("mf_ext http: could not map the request counters: %m"),
					  errdetail("Requests are not counted into mf.serving_metrics.")));
		return;
	}
	MfChildCounters = p;		/* zeroed: an empty table */
	MfMonitorCounters = &mon->counters;
}

/* ------------------------------------------------------------ serving processes */

/* Stop every serving process: SIGTERM, a short drain, then SIGKILL. */
static void
MfHttpStopChildren(void)
{
	TimestampTz deadline = GetCurrentTimestamp() + MF_HTTP_STOP_MS * INT64CONST(1000);
	bool		left = false;

	for (int i = 0; i < MF_HTTP_MAX_WORKERS; i++)
		if (MfChildren[i].pid != 0)
			kill(MfChildren[i].pid, SIGTERM);
	do
	{
		left = false;
		for (int i = 0; i < MF_HTTP_MAX_WORKERS; i++)
			if (MfChildren[i].pid != 0)
			{
				if (waitpid(MfChildren[i].pid, NULL, WNOHANG) == 0)
					left = true;
				else
					MfChildren[i].pid = 0;
			}
		if (left)
			pg_usleep(10000);
	} while (left && GetCurrentTimestamp() < deadline);
	for (int i = 0; i < MF_HTTP_MAX_WORKERS; i++)
		if (MfChildren[i].pid != 0)
		{
			kill(MfChildren[i].pid, SIGKILL);
			(void) waitpid(MfChildren[i].pid, NULL, 0);
			MfChildren[i].pid = 0;
		}
}

/* before_shmem_exit: the serving processes go with the worker. */
static void
MfHttpDetach(int code, Datum arg)
{
	MfHttpStopChildren();
	MfHttpDrainCounters();		/* what the last requests counted */
	SpinLockAcquire(&MfHttp->mutex);
	MfHttp->worker_procno = -1;
	MfHttp->worker_pid = 0;
	MfHttp->n_servers = 0;
	if (MfHttp->state != MF_HTTP_REFUSED)
		MfHttp->state = MF_HTTP_STOPPED;
	SpinLockRelease(&MfHttp->mutex);
}

/* Send the current snapshot to a serving process; false when it must be retried. */
static bool
MfHttpSend(MfHttpChild *c)
{
	MfHttpCtlSnapshot m;
	char		cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;

	if (c->ctl < 0 || MfSnapFd < 0 || c->sent == MfSnapSeq)
		return true;
	memset(&m, 0, sizeof(m));
	m.kind = MF_HTTP_CTL_SNAPSHOT;
	m.seq = MfSnapSeq;
	iov.iov_base = &m;
	iov.iov_len = sizeof(m);
	memset(&mh, 0, sizeof(mh));
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &MfSnapFd, sizeof(int));
	if (sendmsg(c->ctl, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t) sizeof(m))
		return false;
	c->sent = MfSnapSeq;
	return true;
}

/* In the new process: leave PostgreSQL behind and serve (never returns). */
static void
MfHttpBecomeServer(int ctl, pid_t parent)
{
	MfHttpServerArgs a;

	for (int i = 0; i < MF_HTTP_MAX_WORKERS; i++)
		if (MfChildren[i].ctl >= 0)
			close(MfChildren[i].ctl);
	if (MfSnapFd >= 0)
		close(MfSnapFd);
	/* no PostgreSQL shared memory from here on: nothing here can touch it */
	PGSharedMemoryDetach();
	memset(&a, 0, sizeof(a));
	a.ctl = ctl;
	a.n_listen = MfNListen;
	memcpy(a.listen_fds, MfListenFds, sizeof(int) * MfNListen);
	a.max_body = (size_t) MfCfg.max_body_kb * 1024;
	a.parent = parent;
	strlcpy(a.log_dir, MfHttpSpoolDir(), sizeof(a.log_dir));
	a.counters = MfChildCounters;
	strlcpy(a.probe_token, MfProbeToken, sizeof(a.probe_token));
	mf_http_server_main(&a);
}

/* Fork serving process i. */
static void
MfHttpFork(int i)
{
	MfHttpChild *c = &MfChildren[i];
	int			sv[2];
	pid_t		parent = getpid();
	pid_t		pid;

	c->restart_at = GetCurrentTimestamp() + MF_HTTP_POLL_MS * INT64CONST(1000);	/* if this fails */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
	{
		ereport(LOG, (errmsg("mf_ext http: could not create a control socket: %m")));
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0)
	{
		close(sv[0]);
		MfHttpBecomeServer(sv[1], parent);
	}
	close(sv[1]);
	if (pid < 0)
	{
		ereport(LOG, (errmsg("mf_ext http: could not fork a serving process: %m")));
		close(sv[0]);
		return;
	}
	(void) fcntl(sv[0], F_SETFL, O_NONBLOCK);
	c->pid = pid;
	c->ctl = sv[0];
	c->started_at = GetCurrentTimestamp();
	c->sent = c->ready = 0;
	MfSetDirty = true;
	(void) MfHttpSend(c);
	MfHttpPublishServers();
}

/* Log the end of serving process i and plan its replacement. */
static void
MfHttpReaped(int i, int status)
{
	MfHttpChild *c = &MfChildren[i];
	TimestampTz now = GetCurrentTimestamp();
	int			pause_ms;

	if (WIFSIGNALED(status))
		ereport(LOG,
				(errmsg("mf_ext http: serving process %d was terminated by signal %d: %s; starting another",
						(int) c->pid, WTERMSIG(status), pg_strsignal(WTERMSIG(status)))));
	else
		ereport(LOG,
				(errmsg("mf_ext http: serving process %d exited with status %d; starting another",
						(int) c->pid, WEXITSTATUS(status))));
	if (c->ctl >= 0)
		close(c->ctl);
	c->ctl = -1;
	c->pid = 0;
	/* at once, unless it keeps dying young: then 1 s, 2 s, 4 s ... at most 10 s */
	c->quick_deaths = TimestampDifferenceExceeds(c->started_at, now, 10000) ? 0 : c->quick_deaths + 1;
	pause_ms = c->quick_deaths <= 1 ? 0 : Min(10000, 1000 << Min(c->quick_deaths - 2, 4));
	c->restart_at = now + pause_ms * INT64CONST(1000);
	SpinLockAcquire(&MfHttp->mutex);
	MfHttp->server_restarts++;
	SpinLockRelease(&MfHttp->mutex);
	MfSetDirty = true;
	MfHttpPublishServers();
}

/* Reap serving processes that ended; fork those that are due. */
static void
MfHttpKeepChildren(void)
{
	TimestampTz now = GetCurrentTimestamp();

	for (int i = 0; i < MfCfg.workers; i++)
	{
		MfHttpChild *c = &MfChildren[i];
		int			status;

		if (c->pid != 0 && waitpid(c->pid, &status, WNOHANG) == c->pid)
			MfHttpReaped(i, status);
		if (c->pid == 0 && MfSnapFd >= 0 && now >= c->restart_at)
			MfHttpFork(i);
		if (c->pid != 0 && !MfHttpSend(c))
			c->sent = 0;		/* retried on the next pass */
	}
}

/* Read what serving process c said (text messages). */
static void
MfHttpReadChild(MfHttpChild *c)
{
	char		buf[MF_HTTP_CTL_MSG + 1];

	while (c->ctl >= 0)
	{
		ssize_t		n = recv(c->ctl, buf, MF_HTTP_CTL_MSG, MSG_DONTWAIT);
		unsigned long long seq;
		int			names,
					versions,
					off = 0;

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n <= 0)
		{
			/* it ended (or is ending): reaped by MfHttpKeepChildren */
			close(c->ctl);
			c->ctl = -1;
			MfSetDirty = true;
			return;
		}
		buf[n] = '\0';
		if (sscanf(buf, "ready %llu %d %d", &seq, &names, &versions) == 3)
		{
			c->ready = seq;
			if (seq == MfSnapSeq)
				MfHttpPublish(MF_HTTP_SERVING, NULL);
		}
		else if (sscanf(buf, "error %llu %n", &seq, &off) == 1 && off > 0)
			ereport(LOG,
					(errmsg("mf_ext http: serving process %d refused snapshot %llu: %s",
							(int) c->pid, seq, buf + off),
					 errdetail("It keeps serving the previous snapshot.")));
		else
			ereport(LOG, (errmsg("mf_ext http: serving process %d: %s", (int) c->pid,
								 strncmp(buf, "log ", 4) == 0 ? buf + 4 : buf)));
	}
}

/* ------------------------------------------------------------ role and sockets */

/* Can the worker act as mf.http_role?  Sets *role; else false with why. */
static bool
MfHttpRoleOk(Oid *role, char *why, size_t len)
{
	Oid			reader;
	bool		ok = false;

	StartTransactionCommand();
	*role = get_role_oid(MfCfg.role, true);
	reader = get_role_oid("mf_reader", true);
	if (!OidIsValid(*role))
		snprintf(why, len, "role \"%s\" of mf.http_role does not exist", MfCfg.role);
	else if (superuser_arg(*role))
		snprintf(why, len, "role \"%s\" of mf.http_role is a superuser", MfCfg.role);
	else if (!OidIsValid(reader) || !has_privs_of_role(*role, reader))
		snprintf(why, len, "role \"%s\" of mf.http_role does not hold mf_reader", MfCfg.role);
	else
		ok = true;
	CommitTransactionCommand();
	return ok;
}

/* Become mf.http_role for good (waits, refusing to serve, until it is acceptable). */
static void
MfHttpBecomeRole(void)
{
	char		why[MF_HTTP_MSG_LEN];
	char		logged[MF_HTTP_MSG_LEN] = "";
	Oid			role;
	volatile PgBackendStatus *be = MyBEEntry;

	while (!MfHttpRoleOk(&role, why, sizeof(why)))
	{
		MfHttpPublish(MF_HTTP_REFUSED, why);
		if (strcmp(why, logged) != 0)
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("mf_ext http: refusing to serve: %s", why),
					 errhint("Set mf.http_role to a role that holds mf_reader and is not a superuser, then reload.")));
		strlcpy(logged, why, sizeof(logged));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, MF_HTTP_POLL_MS,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	SetSessionAuthorization(role, false);
	SetUserIdAndSecContext(role, SECURITY_RESTRICTED_OPERATION);
	if (be != NULL)
	{
		PGSTAT_BEGIN_WRITE_ACTIVITY(be);
		be->st_userid = role;
		PGSTAT_END_WRITE_ACTIVITY(be);
	}
	SpinLockAcquire(&MfHttp->mutex);
	MfHttp->role = role;
	MfHttp->state = MF_HTTP_STARTING;
	MfHttp->message[0] = '\0';
	SpinLockRelease(&MfHttp->mutex);
}

/* Bind and listen on one address; the socket, or -1 with why appended. */
static int
MfHttpListenOn(const struct addrinfo *ai, StringInfo why, const char *host)
{
	int			fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int			one = 1;

	if (fd < 0)
	{
		appendStringInfo(why, "%s%s: %m", why->len ? "; " : "", host);
		return -1;
	}
	(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		(void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0)
	{
		appendStringInfo(why, "%s%s: %m", why->len ? "; " : "", host);
		close(fd);
		return -1;
	}
	return fd;
}

/* Listen on every address of mf.http_listen_addresses; the number bound. */
static int
MfHttpBind(StringInfo why)
{
	char	   *raw = pstrdup(MfCfg.listen_addresses);
	char		port[16];
	List	   *elems;
	ListCell   *lc;

	snprintf(port, sizeof(port), "%d", MfCfg.port);
	if (!SplitGUCList(raw, ',', &elems))
	{
		appendStringInfo(why, "mf.http_listen_addresses is not a list");
		return 0;
	}
	foreach(lc, elems)
	{
		const char *host = lfirst(lc);
		struct addrinfo hints;
		struct addrinfo *res = NULL;
		int			rc;

		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE;
		rc = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, port, &hints, &res);
		if (rc != 0)
		{
			appendStringInfo(why, "%s%s: %s", why->len ? "; " : "", host, gai_strerror(rc));
			continue;
		}
		for (struct addrinfo *ai = res; ai != NULL && MfNListen < MF_HTTP_MAX_LISTEN; ai = ai->ai_next)
		{
			int			fd = MfHttpListenOn(ai, why, host);

			if (fd >= 0)
				MfListenFds[MfNListen++] = fd;
		}
		freeaddrinfo(res);
	}
	return MfNListen;
}

/* Bind the port (waits, refusing to serve, until at least one address is bound). */
static void
MfHttpListen(void)
{
	StringInfoData why;
	char	   *logged = NULL;

	initStringInfo(&why);
	while (MfHttpBind(&why) == 0)
	{
		char	   *msg = psprintf("could not listen on port %d: %s", MfCfg.port, why.data);

		MfHttpPublish(MF_HTTP_REFUSED, msg);
		if (logged == NULL || strcmp(logged, msg) != 0)
			ereport(WARNING,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("mf_ext http: %s", msg),
					 errhint("Check mf.http_port and mf.http_listen_addresses; retrying every second.")));
		logged = msg;
		resetStringInfo(&why);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, MF_HTTP_POLL_MS,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	if (why.len > 0)
		ereport(LOG, (errmsg("mf_ext http: some addresses were not bound: %s", why.data)));
	ereport(LOG, (errmsg("mf_ext http: listening on port %d (%s), %d serving processes, as role \"%s\"",
						 MfCfg.port, MfCfg.listen_addresses, MfCfg.workers, MfCfg.role)));
}

/* ------------------------------------------------------------ snapshots */

/* Make `served` (living in cxt) the snapshot: write it, send it to every serving process. */
static void
MfHttpInstall(List *served, MemoryContext cxt, char *fingerprint)
{
	MfHttpSnap *snap = MfHttpBuildSnap(served);
	int			fd = memfd_create("mf_ext http snapshot", MFD_CLOEXEC);
	bool		ok = fd >= 0 && mf_http_snap_write(snap, fd);
	int			names = mf_http_snap_names(snap);
	int			versions = mf_http_snap_versions(snap);

	mf_http_snap_free(snap);
	if (!ok)
	{
		ereport(LOG, (errmsg("mf_ext http: could not write a snapshot: %m")));
		if (fd >= 0)
			close(fd);
		MemoryContextDelete(cxt);
		return;
	}
	if (MfSnapFd >= 0)
		close(MfSnapFd);
	MfSnapFd = fd;
	MfSnapSeq++;
	if (MfServedCxt != NULL)
		MemoryContextDelete(MfServedCxt);
	MfServedCxt = cxt;
	MfServed = served;
	MfFingerprint = fingerprint;
	SpinLockAcquire(&MfHttp->mutex);
	MfHttp->snapshots++;
	MfHttp->n_models = names;
	MfHttp->n_versions = versions;
	MfHttp->snapshot_at = GetCurrentTimestamp();
	SpinLockRelease(&MfHttp->mutex);
	ereport(LOG, (errmsg("mf_ext http: snapshot " UINT64_FORMAT ": %d served names, %d versions",
						 MfSnapSeq, names, versions)));
	for (int i = 0; i < MfCfg.workers; i++)
		if (MfChildren[i].pid != 0 && !MfHttpSend(&MfChildren[i]))
			MfChildren[i].sent = 0;
}

/* Log each reason a deployment (or a split entry) is not served. */
static void
MfHttpLogProblems(List *problems)
{
	ListCell   *lc;

	foreach(lc, problems)
		ereport(LOG,
				(errmsg("mf_ext http: a deployment is not served as asked: %s", (char *) lfirst(lc)),
				 errhint("SELECT * FROM mf.deployments WHERE target = 'http' AND status = 'active' lists them.")));
}

/* Read the catalog; when what is served changed, install a new snapshot. */
static void
MfHttpRefresh(void)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "mf_ext http snapshot", ALLOCSET_DEFAULT_SIZES);
	List	   *volatile served = NIL;
	List	   *problems = NIL;
	char	   *volatile fp = NULL;
	volatile bool changed = false;

	MfSeenChanges = pg_atomic_read_u64(&MfHttp->changes);
	MfLastRefresh = GetCurrentTimestamp();
	PG_TRY();
	{
		MfBgXactBegin("mf_ext http: reading the deployments");
		MemoryContextSwitchTo(cxt);
		served = MfHttpReadServed(&problems);
		fp = MfHttpFingerprint(served, problems);
		changed = MfFingerprint == NULL || strcmp(fp, MfFingerprint) != 0;
		if (changed)
			MfHttpLoadArtifacts(served, MfServed);
		MfBgXactCommit();
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(TopMemoryContext);
		ed = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
		if (MfLastError == NULL || strcmp(MfLastError, ed->message) != 0)
			ereport(LOG,
					(errmsg("mf_ext http: could not read the deployments: %s", ed->message),
					 errdetail("The server keeps what it served; it tries again every second.")));
		if (MfLastError != NULL)
			pfree(MfLastError);
		MfLastError = pstrdup(ed->message);
		MfHttpPublish(MF_HTTP_STARTING, ed->message);
		FreeErrorData(ed);
		MemoryContextDelete(cxt);
		if (MfSnapFd < 0)
		{
			/* nothing served yet: serve nothing rather than nothing at all */
			cxt = AllocSetContextCreate(TopMemoryContext, "mf_ext http snapshot", ALLOCSET_DEFAULT_SIZES);
			MfHttpInstall(NIL, cxt, MemoryContextStrdup(cxt, "!error"));
		}
		return;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(TopMemoryContext);
	if (MfLastError != NULL)
	{
		pfree(MfLastError);
		MfLastError = NULL;
		MfHttpPublish(MfSnapSeq > 0 ? MF_HTTP_SERVING : MF_HTTP_STARTING, "");
	}
	if (!changed)
	{
		MemoryContextDelete(cxt);
		return;
	}
	MfHttpLogProblems(problems);
	MfHttpInstall(served, cxt, fp);
}

/* ------------------------------------------------------------ main loop */

/* SIGCHLD: a serving process ended; wake the loop. */
static void
MfHttpSigchld(SIGNAL_ARGS)
{
	int			save_errno = errno;

	SetLatch(MyLatch);
	errno = save_errno;
}

/* The wait set: latch, postmaster death, every open control socket. */
static WaitEventSet *
MfHttpWaitSet(WaitEventSet *old)
{
	WaitEventSet *set;

	if (old != NULL)
		FreeWaitEventSet(old);
	set = CreateWaitEventSet(TopMemoryContext, 2 + MF_HTTP_MAX_WORKERS);
	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (int i = 0; i < MfCfg.workers; i++)
		if (MfChildren[i].ctl >= 0)
			AddWaitEventToSet(set, WL_SOCKET_READABLE, MfChildren[i].ctl, NULL, NULL);
	MfSetDirty = false;
	return set;
}

/* Milliseconds until the next refresh or fork is due. */
static long
MfHttpSleepMs(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = MfLastRefresh + MF_HTTP_POLL_MS * INT64CONST(1000);

	for (int i = 0; i < MfCfg.workers; i++)
		if (MfChildren[i].pid == 0 && MfChildren[i].restart_at < next)
			next = MfChildren[i].restart_at;
	return next <= now ? 0 : (long) ((next - now + 999) / 1000);
}

/* Attach to shared memory: take the settings, publish this worker. */
static void
MfHttpAttach(void)
{
	if (MfHttpShmem() == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mf_ext http worker started without mf_ext in shared_preload_libraries")));
	SpinLockAcquire(&MfHttp->mutex);
	MfCfg = MfHttp->config;
	MfMyLauncher = MfHttp->launcher_pid;
	MfHttp->worker_procno = MyProc->pgprocno;
	MfHttp->worker_pid = MyProcPid;
	MfHttp->state = MF_HTTP_STARTING;
	MfHttp->role = InvalidOid;
	MfHttp->n_servers = 0;
	MfHttp->snapshots = 0;
	MfHttp->n_models = MfHttp->n_versions = 0;
	SpinLockRelease(&MfHttp->mutex);
	MfCfg.workers = Max(1, Min(MfCfg.workers, MF_HTTP_MAX_WORKERS));
	for (int i = 0; i < MF_HTTP_MAX_WORKERS; i++)
	{
		MfChildren[i].pid = 0;
		MfChildren[i].ctl = -1;
		MfChildren[i].restart_at = 0;
	}
	before_shmem_exit(MfHttpDetach, (Datum) 0);
}

/* Entry point of the HTTP worker: bgw_main_arg is the database's OID. */
void
MfHttpWorkerMain(Datum arg)
{
	WaitEventSet *set = NULL;
	WaitEvent	events[4];

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	pqsignal(SIGCHLD, MfHttpSigchld);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);
	/* its queries name mf.* tables; built-ins resolve in pg_catalog only */
	SetConfigOption("search_path", MF_WORKER_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_appname("mf_ext http");
	MfHttpAttach();
	MfHttpMapCounters();
	MfHttpBecomeRole();
	MfHttpListen();
	/* serving processes score transformers with BLAS: load it here, where an ERROR is safe */
	(void) MfBlasPreload();
	MfHttpSpoolInit();
	MfHttpRefresh();
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!MfLauncherIs(MfMyLauncher))
		{
			ereport(LOG, (errmsg("mf_ext http: the launcher that started this worker is gone; stopping")));
			proc_exit(0);
		}
		for (int i = 0; i < MfCfg.workers; i++)
			MfHttpReadChild(&MfChildren[i]);
		MfHttpKeepChildren();
		MfHttpDrainCounters();
		if (pg_atomic_read_u64(&MfHttp->changes) != MfSeenChanges ||
			TimestampDifferenceExceeds(MfLastRefresh, GetCurrentTimestamp(), MF_HTTP_POLL_MS))
			MfHttpRefresh();
		MfHttpFlushPredictions();
		if (MfSetDirty || set == NULL)
			set = MfHttpWaitSet(set);
		(void) WaitEventSetWait(set, MfHttpSleepMs(), events, lengthof(events), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ------------------------------------------------------- SQL-callable C */

/* Transaction callback: tell the HTTP worker once the changing transaction committed. */
static void
MfHttpXactCallback(XactEvent event, void *arg)
{
	MfHttpShared *sh;
	int			procno;

	if (!MfWakeAtCommit)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		sh = MfHttpShmem();
		if (sh != NULL)
		{
			pg_atomic_fetch_add_u64(&sh->changes, 1);
			SpinLockAcquire(&sh->mutex);
			procno = sh->worker_procno;
			SpinLockRelease(&sh->mutex);
			if (procno >= 0)
				SetLatch(&ProcGlobal->allProcs[procno].procLatch);
		}
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		MfWakeAtCommit = false;
}

PG_FUNCTION_INFO_V1(mf_http_wake);

/*
 * mf._http_wake(): statement trigger on the tables served models depend
 * on; the HTTP worker refreshes when the transaction commits.
 */
Datum
mf_http_wake(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mf._http_wake() must be called as a trigger")));
	if (!MfXactCallbackSet)
	{
		RegisterXactCallback(MfHttpXactCallback, NULL);
		MfXactCallbackSet = true;
	}
	MfWakeAtCommit = true;
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(mf_http_state);

/* mf._http_state(): what the HTTP server does now (one row). */
Datum
mf_http_state(PG_FUNCTION_ARGS)
{
	MfHttpShared *sh = MfHttpShmem();
	MfHttpShared s;
	TupleDesc	tupdesc;
	Datum		values[13];
	bool		nulls[13];
	Datum		pids[MF_HTTP_MAX_WORKERS];
	const char *role;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, 0, sizeof(nulls));
	memset(&s, 0, sizeof(s));
	if (sh != NULL)
	{
		SpinLockAcquire(&sh->mutex);
		memcpy(&s, sh, sizeof(s));
		SpinLockRelease(&sh->mutex);
	}
	for (int i = 0; i < s.n_servers; i++)
		pids[i] = Int32GetDatum(s.server_pids[i]);
	role = OidIsValid(s.role) ? GetUserNameFromId(s.role, true) : NULL;
	values[0] = Int32GetDatum(s.worker_pid != 0 ? s.config.port : 0);
	values[1] = CStringGetTextDatum(s.config.listen_addresses);
	values[2] = CStringGetTextDatum(MfHttpStateName(s.state));
	values[3] = CStringGetTextDatum(s.message);
	values[4] = role ? CStringGetTextDatum(role) : (Datum) 0;
	nulls[4] = role == NULL;
	values[5] = Int32GetDatum(s.worker_pid);
	values[6] = PointerGetDatum(construct_array(pids, s.n_servers, INT4OID, 4, true, TYPALIGN_INT));
	values[7] = Int64GetDatum(s.server_restarts);
	values[8] = Int64GetDatum(s.snapshots);
	values[9] = Int32GetDatum(s.n_models);
	values[10] = Int32GetDatum(s.n_versions);
	values[11] = TimestampTzGetDatum(s.snapshot_at);
	nulls[11] = s.snapshot_at == 0;
	values[12] = BoolGetDatum(sh != NULL);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
