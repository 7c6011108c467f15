/*
 * session_gucs.c - mf.model_cache_mb, mf.predict_simplify and
 * mf.track_predictions, the settings
 * that mf_core's SQL functions read.
 *
 * This file is linked into both libraries.  The preloaded mf_ext defines
 * the settings at server start, before it reserves the "mf" prefix, so
 * postgresql.conf, ALTER SYSTEM and a SET before the first mf_* call all
 * work.  Without mf_ext preloaded, mf_core defines them when it loads.
 * Whichever library defines them publishes its variables through a
 * rendezvous variable; mf_core always reads them from there.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "session_gucs.h"

/* The settings of this process: defined once, by the first library loaded. */
MfSessionGucs *
MfDefineSessionGucs(void)
{
	static MfSessionGucs gucs = {64, true, false};
	MfSessionGucs **slot = (MfSessionGucs **) find_rendezvous_variable("mf_ext session GUCs");

	if (*slot != NULL)
		return *slot;
	DefineCustomIntVariable("mf.model_cache_mb",
							"Memory for trained models cached in each backend.",
							"Least recently used models are dropped beyond this; "
							"a model larger than the whole cache is still loaded.",
							&gucs.model_cache_mb,
							64, 1, 1024 * 1024,
							PGC_USERSET, GUC_UNIT_MB,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("mf.predict_simplify",
							 "Lets the planner pass ARRAY[...] and row arguments of mf_predict() as plain arguments.",
							 "Off keeps the calls as written (for comparisons); results are the same.",
							 &gucs.predict_simplify,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("mf.track_predictions",
							 "Counts mf_predict* calls and rows per model and version in shared memory.",
							 "The monitor worker writes the counts into mf.serving_metrics (deployment_id NULL) "
							 "once a second; needs mf_ext in shared_preload_libraries.",
							 &gucs.track_predictions,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	*slot = &gucs;
	return *slot;
}
