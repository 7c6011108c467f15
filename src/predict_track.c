/*
 * predict_track.c - mf.track_predictions: counts of in-database mf_predict*
 * calls and rows per model and version, for mf.serving_metrics.
 *
 * Design note
 * -----------
 * Counting must cost next to nothing per row and write nothing: a
 * prediction on a read-only standby works as on the primary.  Each backend
 * keeps a small local table (model:version -> calls, rows) in
 * TopMemoryContext; a prediction call site looks its entry up once per
 * query (MfPredTrackFor, when mf.track_predictions is on) and then only
 * increments two local integers per call.  At the end of every transaction
 * (commit or abort: the predictions were made either way) a transaction
 * callback adds the local counts to the monitor's lock-free table in shared
 * memory (serve/counters.h, kind MF_COUNTERS_PREDICT) and zeroes them; the
 * monitor worker drains that table once a second into mf.serving_metrics
 * rows with deployment_id NULL (requests = calls, rows = rows scored; no
 * latency or bytes).  Without mf_ext in shared_preload_libraries there is no
 * shared table and nothing is counted.
 */
#include "postgres.h"

#include "mf_core.h"

#include "access/xact.h"
#include "fmgr.h"
#include "utils/memutils.h"

#include "mf_monitor_shm.h"
#include "predict.h"
#include "session_gucs.h"

#define MF_TRACK_LOCAL_MAX 64	/* models of one backend counted between transaction ends */

static MfPredTrack MfTrackLocal[MF_TRACK_LOCAL_MAX];
static int	MfTrackUsed = 0;
static MfCounters *MfTrackShared = NULL;
static bool MfTrackLooked = false;
static bool MfTrackCallbackSet = false;

/* The monitor's counters table, or NULL when mf_ext is not preloaded. */
static MfCounters *
MfTrackShmem(void)
{
	if (!MfTrackLooked)
	{
		MfMonitorShmemGetFn get;
		MfMonitorShared *mon;

		get = (MfMonitorShmemGetFn) load_external_function("$libdir/mf_ext", "MfMonitorShmemGet", false, NULL);
		mon = get != NULL ? get() : NULL;
		MfTrackShared = mon != NULL ? &mon->counters : NULL;
		MfTrackLooked = true;
	}
	return MfTrackShared;
}

/* Transaction end: add the local counts to shared memory. */
static void
MfTrackXactCallback(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	for (int i = 0; i < MfTrackUsed; i++)
	{
		MfPredTrack *t = &MfTrackLocal[i];
		MfCounterTake take;

		if (t->calls == 0 || MfTrackShared == NULL)
			continue;
		memset(&take, 0, sizeof(take));
		take.kind = MF_COUNTERS_PREDICT;
		take.model = t->model;
		take.version = t->version;
		take.requests = t->calls;
		take.rows = t->rows;
		mf_counters_put_back(MfTrackShared, &take);
		t->calls = t->rows = 0;
	}
}

/*
 * The local counters of a resolved model when mf.track_predictions is on
 * (NULL otherwise: nothing is counted).  Called once per query per call site.
 */
MfPredTrack *
MfPredTrackFor(const MfPredResolved *r)
{
	const char *colon;
	MfPredTrack *t;

	if (MfGucs == NULL || !MfGucs->track_predictions || MfTrackShmem() == NULL)
		return NULL;
	for (int i = 0; i < MfTrackUsed; i++)
		if (MfTrackLocal[i].version_id == r->version_id)
			return &MfTrackLocal[i];
	if (!MfTrackCallbackSet)
	{
		RegisterXactCallback(MfTrackXactCallback, NULL);
		MfTrackCallbackSet = true;
	}
	if (MfTrackUsed == MF_TRACK_LOCAL_MAX)
	{
		/* a backend that predicts with more models: reuse the least useful idle entry */
		for (int i = 0; i < MF_TRACK_LOCAL_MAX; i++)
			if (MfTrackLocal[i].calls == 0)
			{
				MfTrackLocal[i] = MfTrackLocal[--MfTrackUsed];
				break;
			}
		if (MfTrackUsed == MF_TRACK_LOCAL_MAX)
			return NULL;
	}
	t = &MfTrackLocal[MfTrackUsed++];
	memset(t, 0, sizeof(*t));
	t->version_id = r->version_id;
	colon = strchr(r->ref, ':');
	strlcpy(t->model, r->ref, Min((Size) (colon ? colon - r->ref + 1 : MF_COUNTERS_MODEL_LEN),
								  (Size) MF_COUNTERS_MODEL_LEN));
	strlcpy(t->version, colon ? colon + 1 : "", MF_COUNTERS_VERSION_LEN);
	return t;
}
