/*
 * debug.c - the C helper of mf_debug (sql/observe.sql): does the loader of
 * a stored artifact's family accept it?  The debug report itself is SQL.
 */
#include "postgres.h"

#include "mf_core.h"

#include "fmgr.h"
#include "utils/memutils.h"

#include "model_pg.h"
#include "text_model.h"

PG_FUNCTION_INFO_V1(mf_artifact_loads);

/*
 * mf._artifact_loads(artifact): true when the loader prediction uses opens
 * the artifact: the model module (checks, metadata, layout), or for a
 * transformer the text model's (its members, weights and tokenizer, as
 * model_cache.c opens it); the loader's error (XX001 naming the member,
 * 0A000) otherwise.  Everything it allocates, the tokenizer included, goes
 * with a context of its own.
 */
Datum
mf_artifact_loads(PG_FUNCTION_ARGS)
{
	bytea	   *artifact = PG_GETARG_BYTEA_PP(0);
	const char *data = VARDATA_ANY(artifact);
	size_t		len = VARSIZE_ANY_EXHDR(artifact);
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "mf artifact check", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MfArtifactView view;
	MfTrainedModel tm;

	if (MfArtifactFamily(data, len) == MF_ART_FAMILY_TRANSFORMER)
	{
		(void) MfOpenArtifactCopy(data, len, &view);
		(void) MfTextModelOpen(&view, "the checked artifact");
	}
	else
		MfOpenTrainedModel(data, len, &tm);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	PG_RETURN_BOOL(true);
}
