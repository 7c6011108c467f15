/*
 * mf_ext.c - the preloaded part of mf_ext.
 *
 * This library is what shared_preload_libraries names.  It must stay free
 * of OpenBLAS (and of anything that starts threads when loaded): the
 * postmaster loads it before forking every backend.  It reserves the "mf"
 * GUC prefix and sets up background jobs (bgworker/: GUCs, shared memory,
 * the launcher); the job workers' training code lives in mf_core, which only
 * the job workers and SQL functions load.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "mf_bgworker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Module load: GUCs, the jobs segment and the launcher (bgworker/shmem.c). */
void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;
	MfBgworkerInit();
}
