/*
 * mf_bgworker.h - internals of the preloaded library mf_ext.so (this
 * folder): GUCs, shared memory and the launcher.  mf_core sees only
 * mf_jobs_shm.h and session_gucs.h, the folder's declared interface.
 */
#ifndef MF_BGWORKER_H
#define MF_BGWORKER_H

#include "postgres.h"

#include "mf_http_shm.h"
#include "mf_jobs_shm.h"
#include "mf_monitor_shm.h"

/* GUCs (shmem.c) */
extern char *MfDatabase;
extern int	MfMaxWorkers;
extern int	MfTrainThreads;
extern int	MfJobTimeout;
extern int	MfPollInterval;
extern int	MfHttpPort;
extern int	MfHttpWorkers;
extern int	MfHttpMaxBodyKb;
extern char *MfHttpListenAddresses;
extern char *MfHttpRole;
extern int	MfMetricsRetention;

/* shmem.c */
extern void MfBgworkerInit(void);
extern PGDLLEXPORT MfJobsShared *MfJobsShmemGet(void);

/* http.c */
extern void MfHttpDefineGucs(void);
extern Size MfHttpShmemSize(void);
extern void MfHttpShmemInit(void);
extern PGDLLEXPORT MfHttpShared *MfHttpShmemGet(void);
extern bool MfHttpManage(void);

/* monitor.c */
extern void MfMonitorDefineGucs(void);
extern Size MfMonitorShmemSize(void);
extern void MfMonitorShmemInit(void);
extern PGDLLEXPORT MfMonitorShared *MfMonitorShmemGet(void);
extern bool MfMonitorManage(void);

/* launcher.c */
extern PGDLLEXPORT void MfLauncherMain(Datum arg);

#endif							/* MF_BGWORKER_H */
