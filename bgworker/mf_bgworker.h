/*
 * mf_bgworker.h - internals of the preloaded library mf_ext.so (this
 * folder): GUCs, shared memory and the launcher.  mf_core sees only
 * mf_jobs_shm.h and session_gucs.h, the folder's declared interface.
 */
#ifndef MF_BGWORKER_H
#define MF_BGWORKER_H

#include "postgres.h"

#include "mf_jobs_shm.h"

/* GUCs (shmem.c) */
extern char *MfDatabase;
extern int	MfMaxWorkers;
extern int	MfTrainThreads;
extern int	MfJobTimeout;
extern int	MfPollInterval;

/* shmem.c */
extern void MfBgworkerInit(void);
extern PGDLLEXPORT MfJobsShared *MfJobsShmemGet(void);

/* launcher.c */
extern PGDLLEXPORT void MfLauncherMain(Datum arg);

#endif							/* MF_BGWORKER_H */
