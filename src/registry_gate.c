/*
 * registry_gate.c - the refusal of a gated registry, recorded as an event
 * that stays although the refusal's ERROR rolls the caller back.
 *
 * Design note
 * -----------
 * mf._gate_source (sql/registries.sql) refuses an image whose digest did
 * not pass a smoke test by raising an ERROR, and the issue wants the
 * refusal in mf.events.  An INSERT in the refusing transaction would roll
 * back with it, so mf._record_refusal_autonomously starts a short dynamic
 * background worker (library mf_core, MfRefusalWorkerMain) that connects
 * to the same database as the bootstrap superuser, calls
 * mf._record_refusal(registry, deployment, actor, reason) in a transaction
 * of its own, and exits; the caller waits for it (a few milliseconds) and
 * then raises.  The arguments travel in a small DSM segment.  The actor is
 * the acting role of the gate (mf._caller()), taken here, never from an
 * argument a user writes: the function is mf._*, revoked from PUBLIC.  When
 * no worker slot is free (max_worker_processes), the refusal is still an
 * ERROR and a WARNING says that its event could not be written.
 */
#include "postgres.h"

#include "mf_core.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "mf_jobs_shm.h"
#include "privileges.h"

extern PGDLLEXPORT void MfRefusalWorkerMain(Datum arg);

/* What the worker records. */
typedef struct MfRefusal
{
	Oid			database;
	int64		deployment_id;
	char		actor[NAMEDATALEN];
	char		registry[NAMEDATALEN + 8];
	char		reason[1024];
} MfRefusal;

/* Worker: record the refusal in a transaction of its own, then exit. */
void
MfRefusalWorkerMain(Datum arg)
{
	dsm_segment *seg;
	MfRefusal	r;
	Oid			argtypes[4] = {TEXTOID, INT8OID, NAMEOID, TEXTOID};
	Datum		args[4];

	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		proc_exit(1);
	memcpy(&r, dsm_segment_address(seg), sizeof(r));
	dsm_detach(seg);
	BackgroundWorkerInitializeConnectionByOid(r.database, InvalidOid, 0);
	SetConfigOption("search_path", MF_WORKER_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_appname("mf_ext gate refusal");
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = CStringGetTextDatum(r.registry);
	args[1] = Int64GetDatum(r.deployment_id);
	args[2] = DirectFunctionCall1(namein, CStringGetDatum(r.actor));
	args[3] = CStringGetTextDatum(r.reason);
	if (SPI_execute_with_args("SELECT mf._record_refusal($1, $2, $3, $4)", 4, argtypes, args, NULL, false, 0)
		!= SPI_OK_SELECT)
		elog(ERROR, "mf._record_refusal failed");
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	proc_exit(0);
}

PG_FUNCTION_INFO_V1(mf_record_refusal_autonomously);

/* mf._record_refusal_autonomously(registry, from_deployment, reason): see the design note. */
Datum
mf_record_refusal_autonomously(PG_FUNCTION_ARGS)
{
	dsm_segment *seg = dsm_create(sizeof(MfRefusal), 0);
	MfRefusal  *r = dsm_segment_address(seg);
	BackgroundWorker w;
	BackgroundWorkerHandle *handle;
	pid_t		pid;
	BgwHandleStatus status = BGWH_STOPPED;

	memset(r, 0, sizeof(*r));
	r->database = MyDatabaseId;
	r->deployment_id = PG_GETARG_INT64(1);
	strlcpy(r->actor, GetUserNameFromId(MfCaller(), false), sizeof(r->actor));
	strlcpy(r->registry, text_to_cstring(PG_GETARG_TEXT_PP(0)), sizeof(r->registry));
	strlcpy(r->reason, text_to_cstring(PG_GETARG_TEXT_PP(2)), sizeof(r->reason));
	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "mf_core");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "MfRefusalWorkerMain");
	snprintf(w.bgw_name, BGW_MAXLEN, "mf_ext gate refusal");
	snprintf(w.bgw_type, BGW_MAXLEN, "mf_ext gate refusal");
	w.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	w.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&w, &handle) ||
		(status = WaitForBackgroundWorkerStartup(handle, &pid)) == BGWH_POSTMASTER_DIED ||
		(status == BGWH_STARTED && WaitForBackgroundWorkerShutdown(handle) != BGWH_STOPPED))
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("the refusal of registry \"%s\" could not be recorded as an event", r->registry),
				 errdetail("No background worker could be started to write it."),
				 errhint("Raise max_worker_processes (every mf_ext job also uses one).")));
	dsm_detach(seg);
	PG_RETURN_VOID();
}
