/*
 * debug.c - the C helper of mf_debug (sql/observe.sql): does the model
 * module accept a stored artifact?  The debug report itself is SQL.
 */
#include "postgres.h"

#include "mf_core.h"

#include "fmgr.h"
#include "utils/memutils.h"

#include "model_pg.h"

PG_FUNCTION_INFO_V1(mf_artifact_loads);

/*
 * mf._artifact_loads(artifact): true when the model module opens the
 * artifact (checks, metadata, layout); its error (XX001 naming the member,
 * 0A000) otherwise.  Everything it allocates goes with a context of its own.
 */
Datum
mf_artifact_loads(PG_FUNCTION_ARGS)
{
	bytea	   *artifact = PG_GETARG_BYTEA_PP(0);
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "mf artifact check", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MfTrainedModel tm;

	MfOpenTrainedModel(VARDATA_ANY(artifact), VARSIZE_ANY_EXHDR(artifact), &tm);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	PG_RETURN_BOOL(true);
}
