/*
 * mf_core.c - load-time set-up of the mf_core library and build facts.
 *
 * mf_core is loaded by backends on the first call of an mf_ext function and
 * by job workers; never by the postmaster (see the Makefile).  On load it
 * points jansson at palloc, so every JSON value lives in a memory context
 * and an ERROR frees it.  OpenBLAS is loaded on first use (blas_loader.c),
 * which refuses its OpenMP build (it hangs in forked processes) and pins
 * BLAS to one thread.
 */
#include "postgres.h"

#include "mf_core.h"

#include <cblas.h>
#include <yaml.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

#include "mf_config.h"
#include "mf_jobs_shm.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* mf.model_cache_mb and mf.predict_simplify (session_gucs.c). */
MfSessionGucs *MfGucs = NULL;

/* jansson allocation in the current memory context, NULL on failure. */
static void *
MfJsonMalloc(size_t size)
{
	return MemoryContextAllocExtended(CurrentMemoryContext, size, MCXT_ALLOC_NO_OOM);
}

/* jansson free: pfree, tolerating NULL. */
static void
MfJsonFree(void *ptr)
{
	if (ptr != NULL)
		pfree(ptr);
}

/* Route jansson's allocations through palloc. */
void
MfInstallJanssonAllocator(void)
{
	json_set_alloc_funcs(MfJsonMalloc, MfJsonFree);
}

/* Module load. */
void
_PG_init(void)
{
	MfInstallJanssonAllocator();

	MfGucs = MfDefineSessionGucs();
}

PG_FUNCTION_INFO_V1(mf_build_info);

/* mf._build_info(): versions of the extension and the libraries it uses. */
Datum
mf_build_info(PG_FUNCTION_ARGS)
{
	json_t	   *info = mf_json_object_new();

	json_object_set_new(info, "postgresql", json_string(PG_VERSION));
	json_object_set_new(info, "blas", json_string(openblas_get_config()));
	json_object_set_new(info, "blas_threads", json_integer(openblas_get_num_threads()));
	json_object_set_new(info, "jansson", json_string(JANSSON_VERSION));
	json_object_set_new(info, "libyaml", json_string(yaml_get_version_string()));
	PG_RETURN_JSONB_P(MfJanssonToJsonb(info));
}

/* True while the launcher with this pid still runs (a worker it started stops otherwise). */
bool
MfLauncherIs(pid_t pid)
{
	static MfJobsShared *jobs = NULL;

	if (jobs == NULL)
	{
		MfJobsShmemGetFn get = (MfJobsShmemGetFn) load_external_function("$libdir/mf_ext", "MfJobsShmemGet",
																		  false, NULL);

		jobs = get != NULL ? get() : NULL;
		if (jobs == NULL)
			return false;
	}
	return MfBgLauncherPid(jobs) == pid;
}
