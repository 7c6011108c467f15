/*
 * http.c - the preloaded part of the in-database HTTP server: the mf.http_*
 * GUCs, its shared memory, and the launcher's unit that keeps one HTTP
 * worker running with the current settings.
 *
 * Design note
 * -----------
 * The launcher owns the HTTP worker's life.  Each pass (and after every
 * reload, which sets its latch) it compares the settings with those the
 * running worker was started with: when mf.http_port is 0 it stops the
 * worker; when any mf.http_* setting differs it stops it and, once it has
 * stopped, starts a new one with the new settings (a moved port or a new
 * role is a new worker); when the worker stopped on its own (an ERROR, or
 * the cluster restarted) it starts it again, at most once a second.  The
 * worker is a dynamic background worker of mf_core (MfHttpWorkerMain,
 * src/http_worker.c) that forks the serving processes itself, so a kill -9
 * of a serving process is a child dying, which its worker replaces,
 * never a crash of the cluster.  The settings go to the worker through
 * shared memory (they do not fit in bgw_extra).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mf_bgworker.h"
#include "mf_http_shm.h"

int			MfHttpPort = 0;
int			MfHttpWorkers = 1;
int			MfHttpMaxBodyKb = 1024;
char	   *MfHttpListenAddresses = NULL;
char	   *MfHttpRole = NULL;

static MfHttpShared *MfHttp = NULL;
static BackgroundWorkerHandle *MfHttpHandle = NULL;
static MfHttpConfig MfHttpRunning;	/* what the running worker was started with */
static bool MfHttpTerminating = false;
static TimestampTz MfHttpStoppedAt = 0;

/* The HTTP segment, or NULL when mf_ext was not preloaded. */
MfHttpShared *
MfHttpShmemGet(void)
{
	return MfHttp;
}

/* Bytes of the HTTP segment. */
Size
MfHttpShmemSize(void)
{
	return MAXALIGN(sizeof(MfHttpShared));
}

/* Create (or after a crash restart re-create) the HTTP segment; caller holds AddinShmemInitLock. */
void
MfHttpShmemInit(void)
{
	bool		found;

	MfHttp = ShmemInitStruct(MF_HTTP_SHMEM_NAME, sizeof(MfHttpShared), &found);
	if (!found)
	{
		memset(MfHttp, 0, sizeof(MfHttpShared));
		pg_atomic_init_u64(&MfHttp->changes, 0);
		SpinLockInit(&MfHttp->mutex);
		MfHttp->worker_procno = -1;
	}
}

/* check hook of mf.http_listen_addresses: a non-empty list that fits the segment. */
static bool
MfHttpCheckAddresses(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || strlen(*newval) == 0 || strlen(*newval) >= MF_HTTP_ADDR_LEN)
	{
		GUC_check_errdetail("mf.http_listen_addresses must list 1 to %d bytes of host names or addresses.",
							MF_HTTP_ADDR_LEN - 1);
		return false;
	}
	return true;
}

/* check hook of mf.http_role: a role name. */
static bool
MfHttpCheckRole(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || strlen(*newval) == 0 || strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errdetail("mf.http_role must name a role (at most %d bytes).", NAMEDATALEN - 1);
		return false;
	}
	return true;
}

/* Define the mf.http_* GUCs (all reload: the launcher applies them). */
void
MfHttpDefineGucs(void)
{
	DefineCustomIntVariable("mf.http_port",
							"TCP port of the in-database HTTP model server; 0 turns it off.",
							"A reload starts, moves or stops the server.",
							&MfHttpPort, 0, 0, 65535, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("mf.http_listen_addresses",
							   "Addresses the HTTP model server listens on (comma-separated; * for all).",
							   NULL, &MfHttpListenAddresses, "localhost", PGC_SIGHUP, GUC_LIST_INPUT,
							   MfHttpCheckAddresses, NULL, NULL);
	DefineCustomIntVariable("mf.http_workers",
							"Processes of the HTTP model server sharing its port.",
							"A serving process that dies is replaced; the others go on.",
							&MfHttpWorkers, 1, 1, MF_HTTP_MAX_WORKERS, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mf.http_max_body",
							"Largest request body the HTTP model server reads.",
							"A larger body is answered 413.",
							&MfHttpMaxBodyKb, 1024, 1, 1024 * 1024, PGC_SIGHUP, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomStringVariable("mf.http_role",
							   "Role the HTTP model server reads the catalog as.",
							   "It must hold mf_reader and must not be a superuser.",
							   &MfHttpRole, "mf_reader", PGC_SIGHUP, 0, MfHttpCheckRole, NULL, NULL);
}

/* The settings as they are now. */
static void
MfHttpWanted(MfHttpConfig *c)
{
	memset(c, 0, sizeof(*c));
	c->port = MfHttpPort;
	c->workers = MfHttpWorkers;
	c->max_body_kb = MfHttpMaxBodyKb;
	strlcpy(c->listen_addresses, MfHttpListenAddresses ? MfHttpListenAddresses : "", MF_HTTP_ADDR_LEN);
	strlcpy(c->role, MfHttpRole ? MfHttpRole : "", NAMEDATALEN);
}

/* Register the HTTP worker with the settings c; false when no slot is free. */
static bool
MfHttpStart(const MfHttpConfig *c)
{
	BackgroundWorker w;
	MemoryContext old;
	bool		ok;

	SpinLockAcquire(&MfHttp->mutex);
	MfHttp->config = *c;
	MfHttp->launcher_pid = MyProcPid;
	MfHttp->state = MF_HTTP_STARTING;
	MfHttp->message[0] = '\0';
	SpinLockRelease(&MfHttp->mutex);
	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "mf_core");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "MfHttpWorkerMain");
	snprintf(w.bgw_name, BGW_MAXLEN, "mf_ext http port %d", c->port);
	snprintf(w.bgw_type, BGW_MAXLEN, "mf_ext http");
	w.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	w.bgw_notify_pid = MyProcPid;
	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&w, &MfHttpHandle);
	MemoryContextSwitchTo(old);
	if (!ok)
	{
		MfHttpHandle = NULL;
		ereport(LOG,
				(errmsg("mf_ext launcher: no background worker slot is free for the HTTP server"),
				 errhint("Raise max_worker_processes; retrying in %d ms.", MfPollInterval)));
		return false;
	}
	MfHttpRunning = *c;
	MfHttpTerminating = false;
	return true;
}

/* Forget a worker that has stopped. */
static void
MfHttpForget(void)
{
	pfree(MfHttpHandle);
	MfHttpHandle = NULL;
	/* a worker we stopped is replaced at once, one that stopped on its own after a second */
	MfHttpStoppedAt = MfHttpTerminating ? 0 : GetCurrentTimestamp();
	MfHttpTerminating = false;
	SpinLockAcquire(&MfHttp->mutex);
	if (MfHttp->state != MF_HTTP_REFUSED)
		MfHttp->state = MF_HTTP_STOPPED;
	MfHttp->n_servers = 0;
	SpinLockRelease(&MfHttp->mutex);
}

/*
 * Launcher unit: stop, restart or start the HTTP worker so that it runs
 * with the current settings.  Returns true while a change is pending (the
 * launcher then comes back within a second).
 */
bool
MfHttpManage(void)
{
	MfHttpConfig want;
	pid_t		pid;

	if (MfHttp == NULL)
		return false;
	MfHttpWanted(&want);
	if (MfHttpHandle != NULL)
	{
		if (GetBackgroundWorkerPid(MfHttpHandle, &pid) == BGWH_STOPPED)
			MfHttpForget();
		else if (want.port == 0 || memcmp(&want, &MfHttpRunning, sizeof(want)) != 0)
		{
			if (!MfHttpTerminating)
			{
				ereport(LOG,
						(errmsg("mf_ext launcher: stopping the HTTP server on port %d (%s)", MfHttpRunning.port,
								want.port == 0 ? "mf.http_port is 0" : "its settings changed")));
				TerminateBackgroundWorker(MfHttpHandle);
				MfHttpTerminating = true;
			}
			return true;
		}
		else
			return false;
	}
	if (want.port == 0)
	{
		SpinLockAcquire(&MfHttp->mutex);
		MfHttp->state = MF_HTTP_STOPPED;
		SpinLockRelease(&MfHttp->mutex);
		return false;
	}
	/* at most one start a second: a worker that keeps failing does not spin */
	if (!TimestampDifferenceExceeds(MfHttpStoppedAt, GetCurrentTimestamp(), 1000))
		return true;
	return !MfHttpStart(&want);
}
