/*
 * mf_http_shm.h - shared memory of the in-database HTTP server.
 *
 * Included by the preloaded library (http.c: the mf.http_* GUCs,
 * the segment, the launcher's part) and by mf_core (src/http_worker.c: the
 * HTTP worker, the wake-up trigger, mf._http_state()), which reaches the
 * segment through MfHttpShmemGet() in mf_ext.so.  Plain C and PostgreSQL
 * storage headers only.
 *
 * The launcher writes `config` before it starts the HTTP worker and never
 * while one runs; the worker publishes what it does in the other fields.
 * `changes` is bumped (and the worker's latch set) at the commit of every
 * transaction that changed a table the served models depend on.  Fields
 * other than `changes` are protected by the spinlock.
 */
#ifndef MF_HTTP_SHM_H
#define MF_HTTP_SHM_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/spin.h"

#define MF_HTTP_SHMEM_NAME "mf_ext http server"
#define MF_HTTP_MAX_WORKERS 64	/* mf.http_workers at most */
#define MF_HTTP_ADDR_LEN 256	/* mf.http_listen_addresses at most, with NUL */
#define MF_HTTP_MSG_LEN 256

/* The settings an HTTP worker runs with (the mf.http_* GUCs). */
typedef struct MfHttpConfig
{
	int			port;			/* mf.http_port; 0 = off */
	int			workers;		/* mf.http_workers: serving processes */
	int			max_body_kb;	/* mf.http_max_body */
	char		listen_addresses[MF_HTTP_ADDR_LEN]; /* mf.http_listen_addresses */
	char		role[NAMEDATALEN];	/* mf.http_role */
} MfHttpConfig;

/* What the HTTP worker is doing. */
typedef enum MfHttpState
{
	MF_HTTP_STOPPED = 0,		/* no worker */
	MF_HTTP_STARTING,			/* connecting, binding, first snapshot */
	MF_HTTP_SERVING,			/* the serving processes answer */
	MF_HTTP_REFUSED				/* the role or the address was refused: see message */
} MfHttpState;

/* The whole segment. */
typedef struct MfHttpShared
{
	pg_atomic_uint64 changes;	/* catalog changes committed (wake-ups) */
	slock_t		mutex;
	MfHttpConfig config;		/* what the launcher started the worker with */
	pid_t		launcher_pid;	/* the launcher that started the worker */
	int			worker_procno;	/* PGPROC number of the HTTP worker, -1 when none */
	pid_t		worker_pid;
	MfHttpState state;
	char		message[MF_HTTP_MSG_LEN];	/* why refused, or the last snapshot error */
	Oid			role;			/* the role the worker acts as, once switched */
	int			n_servers;
	pid_t		server_pids[MF_HTTP_MAX_WORKERS];
	int64		server_restarts;	/* serving processes restarted after they died */
	int64		snapshots;		/* snapshots built */
	int			n_models;		/* served names of the current snapshot */
	int			n_versions;
	TimestampTz snapshot_at;	/* when the current snapshot was installed */
} MfHttpShared;

/* The segment, or NULL when mf_ext is not in shared_preload_libraries. */
typedef MfHttpShared *(*MfHttpShmemGetFn) (void);

/* Name of a state, as mf._http_state() shows it. */
static inline const char *
MfHttpStateName(MfHttpState s)
{
	switch (s)
	{
		case MF_HTTP_STARTING:
			return "starting";
		case MF_HTTP_SERVING:
			return "serving";
		case MF_HTTP_REFUSED:
			return "refused";
		default:
			return "stopped";
	}
}

#endif							/* MF_HTTP_SHM_H */
