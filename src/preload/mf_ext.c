/*
 * mf_ext.c - the preloaded part of mf_ext.
 *
 * This library is what shared_preload_libraries names.  It must stay free
 * of OpenBLAS (and of anything that starts threads when loaded): the
 * postmaster loads it before forking every backend.  It reserves the "mf"
 * GUC prefix; background workers register here, and their job code lives in
 * mf_core, which only the workers and SQL functions load.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Module load: reserve the GUC prefix (workers register here later). */
void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;
	MarkGUCPrefixReserved("mf");
}
