/*
 * mf_bgworker.h - the background-worker part of the preloaded library:
 * GUCs, shared memory and the launcher (bgworker, src/preload).
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
