/*
 * mf_monitor_shm.h - shared memory of the monitor worker.
 *
 * Included by the preloaded library (monitor.c: the segment, the
 * mf.metrics_retention GUC, the launcher's unit that keeps the monitor
 * worker running) and by mf_core (src/monitor_*.c: the worker; the HTTP
 * worker and mf_predict* add to `counters`), which reaches the segment
 * through MfMonitorShmemGet() in mf_ext.so.
 *
 * `counters` is a table of serve/counters.h: the HTTP worker adds what its
 * serving processes counted (kind MF_COUNTERS_SERVED), backends add their
 * mf_predict* calls when mf.track_predictions is on (MF_COUNTERS_PREDICT),
 * the monitor worker drains it into mf.serving_metrics.  It is lock-free;
 * the other fields are protected by the spinlock, but `probe_token`, set
 * once when the segment is made (random, 32 hex characters; "" when no
 * random bytes were available): the monitor worker sends it in the
 * X-Mf-Probe header of its canary to the in-database server, whose
 * serving processes (given it by the HTTP worker) then do not log the
 * canary as a prediction (serve/predlog.c).  It never leaves the cluster.
 */
#ifndef MF_MONITOR_SHM_H
#define MF_MONITOR_SHM_H

#include "postgres.h"

#include "storage/spin.h"

#include "counters.h"
#include "serve.h"

#define MF_MONITOR_SHMEM_NAME "mf_ext monitor"

/* The whole segment. */
typedef struct MfMonitorShared
{
	slock_t		mutex;
	pid_t		launcher_pid;	/* the launcher that started the worker */
	pid_t		worker_pid;		/* the monitor worker, 0 when none */
	int64		cycles;			/* cycles the worker completed */
	MfCounters	counters;		/* lock-free (counters.h) */
	char		probe_token[MF_SERVE_PROBE_TOKEN_LEN + 1];	/* read-only after creation */
} MfMonitorShared;

/* The segment, or NULL when mf_ext is not in shared_preload_libraries. */
typedef MfMonitorShared *(*MfMonitorShmemGetFn) (void);

#endif							/* MF_MONITOR_SHM_H */
