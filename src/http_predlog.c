/*
 * http_predlog.c - the HTTP worker's side of the prediction log: once a
 * second it moves the spool files its serving processes handed over
 * (http_spool.c has the design note) into mf.prediction_log.
 *
 * Each line is checked (a JSON object with an integer deployment_id,
 * texts name, version, request_id, row_id, a number at and a prediction);
 * a bad line is dropped and counted in the server log.  The rows of at
 * most MF_PREDLOG_MAX_FILES files go in with one INSERT, written as the
 * extension's owner (the worker's role only reads the catalog), the model
 * name taken from the deployment; the files are deleted after the commit.
 * A failure leaves the files for the next pass.
 */
#include "postgres.h"

#include "mf_core.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "http_spool.h"
#include "http_worker.h"
#include "mf_jobs_shm.h"
#include "privileges.h"

#define MF_PREDLOG_MAX_FILES 64
#define MF_PREDLOG_EVERY_MS 1000

/* The spool directory: MF_HTTP_SPOOL_DIR under the data directory. */
const char *
MfHttpSpoolDir(void)
{
	static char dir[MAXPGPATH];

	if (dir[0] == '\0')
		snprintf(dir, sizeof(dir), "%s/%s", DataDir, MF_HTTP_SPOOL_DIR);
	return dir;
}

/* Create the spool directory (mode 0700) when missing. */
void
MfHttpSpoolInit(void)
{
	if (mkdir(MfHttpSpoolDir(), 0700) != 0 && errno != EEXIST)
		ereport(LOG,
				(errmsg("mf_ext http: could not create the prediction log directory \"%s\": %m",
						MfHttpSpoolDir()),
				 errdetail("Deployments with option log_predictions log nothing.")));
}

/* A serving process (or any process of ours) is alive. */
static bool
MfPredlogAlive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno != ESRCH;
}

/* One checked line as a JSON text for the INSERT, or NULL. */
static char *
MfPredlogLine(const char *line, size_t len)
{
	json_error_t err;
	json_t	   *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
	char	   *out = NULL;

	if (json_is_object(o) && json_is_integer(json_object_get(o, "deployment_id")) &&
		json_is_string(json_object_get(o, "name")) && json_is_string(json_object_get(o, "version")) &&
		json_is_string(json_object_get(o, "request_id")) && json_is_string(json_object_get(o, "row_id")) &&
		json_is_number(json_object_get(o, "at")) && json_object_get(o, "prediction") != NULL)
		out = pnstrdup(line, len);
	json_decref(o);
	return out;
}

/* The checked lines of a spool text appended to *lines; the count of bad ones. */
static int
MfPredlogLines(const char *text, size_t len, List **lines)
{
	int			bad = 0;
	const char *p = text;

	while (p < text + len)
	{
		const char *nl = memchr(p, '\n', text + len - p);
		char	   *ok;

		if (nl == NULL)
			break;
		if (nl > p && (ok = MfPredlogLine(p, nl - p)) != NULL)
			*lines = lappend(*lines, ok);
		else if (nl > p)
			bad++;
		p = nl + 1;
	}
	return bad;
}

/* INSERT the lines (a text[]) as the extension's owner (SPI connected). */
static void
MfPredlogInsert(List *lines)
{
	Datum	   *elems = palloc(sizeof(Datum) * list_length(lines));
	Datum		args[1];
	Oid			types[1] = {TEXTARRAYOID};
	MfRunAs		owner;
	ListCell   *lc;
	int			i = 0;

	foreach(lc, lines)
		elems[i++] = CStringGetTextDatum(lfirst(lc));
	args[0] = PointerGetDatum(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
	MfAsOwnerBegin(&owner);
	if (SPI_execute_with_args(
							  "INSERT INTO mf.prediction_log (deployment_id, model_name, version, request_id, row_id, prediction, logged_at) "
							  "SELECT (j ->> 'deployment_id')::bigint, coalesce(d.model_name, j ->> 'name'), j ->> 'version', "
							  "j ->> 'request_id', j ->> 'row_id', j -> 'prediction', to_timestamp((j ->> 'at')::float8) "
							  "FROM unnest($1::text[]) l, LATERAL (SELECT l::jsonb AS j) x "
							  "LEFT JOIN mf.deployments d ON d.deployment_id = (j ->> 'deployment_id')::bigint",
							  1, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into mf.prediction_log");
	MfAsOwnerEnd(&owner);
}

/* Move the handed-over spool files into mf.prediction_log (at most once a second). */
void
MfHttpFlushPredictions(void)
{
	static TimestampTz last = 0;
	MemoryContext cxt;
	DIR		   *d;
	struct dirent *de;
	List	   *files = NIL,
			   *lines = NIL;
	int			bad = 0;
	ListCell   *lc;

	if (!TimestampDifferenceExceeds(last, GetCurrentTimestamp(), MF_PREDLOG_EVERY_MS))
		return;
	last = GetCurrentTimestamp();
	if ((d = opendir(MfHttpSpoolDir())) == NULL)
		return;
	cxt = AllocSetContextCreate(TopMemoryContext, "mf_ext http prediction log", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	while ((de = readdir(d)) != NULL && list_length(files) < MF_PREDLOG_MAX_FILES)
	{
		char	   *path;
		char	   *text;
		size_t		len;

		if (!mf_http_spool_ready(de->d_name, MfPredlogAlive))
			continue;
		path = psprintf("%s/%s", MfHttpSpoolDir(), de->d_name);
		if ((text = mf_http_spool_read(path, &len)) == NULL)
			continue;
		bad += MfPredlogLines(text, len, &lines);
		free(text);
		files = lappend(files, path);
	}
	closedir(d);
	if (bad > 0)
		ereport(LOG, (errmsg("mf_ext http: dropped %d malformed lines of the prediction log", bad)));
	PG_TRY();
	{
		if (lines != NIL)
		{
			MfBgXactBegin("mf_ext http: writing the prediction log");
			MemoryContextSwitchTo(cxt);
			MfPredlogInsert(lines);
			MfBgXactCommit();
		}
		foreach(lc, files)
			(void) unlink(lfirst(lc));
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(TopMemoryContext);
		ed = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
		ereport(LOG,
				(errmsg("mf_ext http: could not write the prediction log: %s", ed->message),
				 errdetail("The spool files stay in \"%s\"; the worker tries again every second.",
						   MfHttpSpoolDir())));
		FreeErrorData(ed);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(TopMemoryContext);
	MemoryContextDelete(cxt);
}
