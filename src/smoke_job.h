/*
 * smoke_job.h - the job worker's entry for jobs of kind smoke_test
 * (src/smoke_job.c; src/job_worker.c dispatches on mf.jobs.kind).
 */
#ifndef MF_SMOKE_JOB_H
#define MF_SMOKE_JOB_H

#include "postgres.h"

/*
 * Run a claimed smoke_test job and record its outcome (mf._smoke_finish);
 * cancelled(NULL) says whether mf_cancel_job() asked it to stop.
 */
extern void MfSmokeJobRun(int64 job_id, Oid queued_by, bool (*cancelled) (void *));

/* Column n of SPI's first result row as text in TopMemoryContext, or NULL (job_worker.c). */
extern char *MfResultText(int n);

#endif							/* MF_SMOKE_JOB_H */
