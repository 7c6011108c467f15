/*
 * http_catalog.c - what the HTTP worker serves: every live http
 * deployment, resolved now, with its policy, versions and artifacts.
 *
 * Design note
 * -----------
 * Runs in the HTTP worker, inside a transaction, as mf.http_role (the
 * worker switched to it for good).  Three kinds of read:
 *   - as the role: mf.deployments (target http, status active), the
 *     versions' stage, trained_at and aliases - what mf_reader may read;
 *   - resolution and artifacts exactly as prediction does them
 *     (model_cache.c: MfPredResolve checks that the role holds mf_reader,
 *     then reads the catalog and mf.artifacts.bytes as the extension's
 *     owner), so the server scores what mf_predict scores;
 *   - the bearer-token hashes in mf.deployment_secrets, which only the
 *     extension's owner may read: one narrow MfAsOwnerBegin/End around
 *     one SELECT by deployment_id.  The hashes go to the serving processes
 *     and nowhere else (never in logs, fingerprints' text is not logged).
 * A deployment follows its ref (name, name@stage, name@alias) rebuilt on
 * its current model_name, or is pinned to model_name:version; each entry
 * of options.traffic is resolved the same way.  A ref that does not
 * resolve (no production version yet, an alias dropped) is a "problem":
 * the deployment is left out (or the split entry, for traffic) and the
 * worker logs it once.  Each resolution runs in a subtransaction so one
 * bad ref does not undo the others.
 */
#include "postgres.h"

#include "mf_core.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "http_worker.h"
#include "predict.h"
#include "privileges.h"

/* A live deployment as read (before resolution). */
typedef struct MfHttpDeployment
{
	int64		deployment_id;
	char	   *name;
	char	   *main_ref;		/* what it serves by default */
	int			requests_per_minute;
	int			max_batch;
	char	   *log_id_field;	/* NULL: predictions not logged */
} MfHttpDeployment;

/* Column n of row r of the last SPI result as a string in cxt, or NULL. */
static char *
MfHttpCol(int r, int n, MemoryContext cxt)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, n);

	return v != NULL ? MemoryContextStrdup(cxt, v) : NULL;
}

/* Live http deployments, as the role. */
static List *
MfHttpReadDeployments(MemoryContext cxt)
{
	List	   *out = NIL;
	MemoryContext spi;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	spi = CurrentMemoryContext;
	/*
	 * A following deployment's ref is rebuilt on the current model name (a
	 * renamed model keeps its deployments); a pinned one names its version.
	 */
	if (SPI_execute("SELECT d.deployment_id, d.name, "
					"CASE WHEN d.version IS NOT NULL THEN d.model_name || ':' || d.version "
					"ELSE d.model_name || substr(d.ref, strpos(translate(d.ref, '@', ':') || ':', ':')) END, "
					"CASE WHEN jsonb_typeof(d.options #> '{rate_limit,requests_per_minute}') = 'number' "
					"THEN least(greatest((d.options #>> '{rate_limit,requests_per_minute}')::numeric, 0), 1000000000)::int END, "
					"CASE WHEN jsonb_typeof(d.options -> 'max_batch') = 'number' "
					"THEN least(greatest((d.options ->> 'max_batch')::numeric, 0), 1000000000)::int END, "
					"d.options #>> '{log_predictions,id_field}' "
					"FROM mf.deployments d WHERE d.target = 'http' AND d.status = 'active' "
					"ORDER BY d.name, d.deployment_id", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read mf.deployments");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		MfHttpDeployment *d = MemoryContextAllocZero(cxt, sizeof(MfHttpDeployment));
		char	   *rpm = MfHttpCol(r, 4, cxt);
		char	   *mb = MfHttpCol(r, 5, cxt);

		d->deployment_id = pg_strtoint64(MfHttpCol(r, 1, cxt));
		d->name = MfHttpCol(r, 2, cxt);
		d->main_ref = MfHttpCol(r, 3, cxt);
		d->requests_per_minute = rpm ? pg_strtoint32(rpm) : 0;
		d->max_batch = mb ? pg_strtoint32(mb) : 0;
		d->log_id_field = MfHttpCol(r, 6, cxt);
		out = lappend(out, d);
	}
	MemoryContextSwitchTo(cxt);
	out = list_copy(out);		/* from SPI's memory into the caller's */
	MemoryContextSwitchTo(spi);
	SPI_finish();
	return out;
}

/*
 * Resolve ref as prediction does, in a subtransaction: false (and a
 * problem recorded) when it does not resolve to a trained version.
 */
static bool
MfHttpResolve(const char *ref, MfPredResolved *out, List **problems)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		MfPredResolve(cstring_to_text(ref), out);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		*problems = lappend(*problems, psprintf("%s: %s", ref, ed->message));
		FreeErrorData(ed);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

/* Labels and training time of a version, as the role. */
static void
MfHttpReadLabels(MfHttpVersion *v)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(v->version_id)};
	char	   *stage;
	char	   *aliases;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT v.stage, to_char(v.trained_at AT TIME ZONE 'UTC', "
							  "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
							  "(SELECT string_agg(a.alias, ',' ORDER BY a.alias) FROM mf.aliases a "
							  "WHERE a.version_id = v.version_id) "
							  "FROM mf.model_versions v WHERE v.version_id = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the labels of version " INT64_FORMAT, v->version_id);
	stage = MfHttpCol(0, 1, cxt);
	v->trained_at = MfHttpCol(0, 2, cxt);
	aliases = MfHttpCol(0, 3, cxt);
	SPI_finish();
	v->n_labels = 0;
	if (stage != NULL && strcmp(stage, "development") != 0)
		v->labels[v->n_labels++] = stage;
	for (char *a = aliases ? strtok(aliases, ",") : NULL; a != NULL && v->n_labels < MF_SERVE_MAX_LABELS;
		 a = strtok(NULL, ","))
		v->labels[v->n_labels++] = a;
}

/* The version ref resolves to, added to s->versions once; NULL when it does not resolve. */
static MfHttpVersion *
MfHttpAddVersion(MfHttpServed *s, const char *ref, List **problems)
{
	MfPredResolved r;
	MfHttpVersion *v;
	ListCell   *lc;

	if (!MfHttpResolve(ref, &r, problems))
		return NULL;
	foreach(lc, s->versions)
	{
		v = lfirst(lc);
		if (v->version_id == r.version_id)
			return v;
	}
	v = palloc0(sizeof(MfHttpVersion));
	v->version_id = r.version_id;
	v->semver = strchr(r.ref, ':') ? pstrdup(strchr(r.ref, ':') + 1) : pstrdup(r.ref);
	strlcpy(v->sha256, r.sha256, sizeof(v->sha256));
	MfHttpReadLabels(v);
	s->versions = lappend(s->versions, v);
	return v;
}

/* The traffic split of a deployment: (ref, fallback ref, weight) rows, as the role. */
static void
MfHttpReadSplit(const MfHttpDeployment *d, MfHttpServed *s, List **problems)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(d->deployment_id)};
	int			n;
	char	   *refs[MF_SERVE_MAX_SPLIT];
	char	   *fallbacks[MF_SERVE_MAX_SPLIT];
	double		weights[MF_SERVE_MAX_SPLIT];

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* options.traffic: [{ref, version, weight}] as mf_deploy stores it, or {ref: weight} */
	if (SPI_execute_with_args("SELECT t.ref, CASE WHEN t.version IS NOT NULL THEN d.model_name || ':' || t.version END, "
							  "t.weight FROM mf.deployments d, LATERAL ("
							  "SELECT e ->> 'ref' AS ref, e ->> 'version' AS version, "
							  "CASE WHEN jsonb_typeof(e -> 'weight') = 'number' THEN (e ->> 'weight')::float8 END AS weight "
							  "FROM jsonb_array_elements(CASE jsonb_typeof(d.options -> 'traffic') "
							  "WHEN 'array' THEN d.options -> 'traffic' ELSE '[]' END) e "
							  "UNION ALL SELECT x.k, NULL, CASE WHEN jsonb_typeof(x.v) = 'number' THEN (x.v #>> '{}')::float8 END "
							  "FROM jsonb_each(CASE jsonb_typeof(d.options -> 'traffic') "
							  "WHEN 'object' THEN d.options -> 'traffic' ELSE '{}' END) x(k, v)) t "
							  "WHERE d.deployment_id = $1 AND t.weight > 0",
							  1, argtypes, args, NULL, true, MF_SERVE_MAX_SPLIT) != SPI_OK_SELECT)
		elog(ERROR, "could not read the traffic split of deployment " INT64_FORMAT, d->deployment_id);
	n = (int) SPI_processed;
	for (int i = 0; i < n; i++)
	{
		refs[i] = MfHttpCol(i, 1, cxt);
		fallbacks[i] = MfHttpCol(i, 2, cxt);
		weights[i] = DatumGetFloat8(DirectFunctionCall1(float8in, CStringGetDatum(MfHttpCol(i, 3, cxt))));
	}
	SPI_finish();
	for (int i = 0; i < n; i++)
	{
		MfHttpVersion *v = refs[i] ? MfHttpAddVersion(s, refs[i], problems) : NULL;

		if (v == NULL && fallbacks[i] != NULL)
			v = MfHttpAddVersion(s, fallbacks[i], problems);
		if (v == NULL)
			continue;
		s->split[s->n_split].number = v->version_id;
		s->split[s->n_split].weight = weights[i];
		s->n_split++;
	}
}

/* The bearer-token hash of a deployment: the one read of mf.deployment_secrets, as the owner. */
static char *
MfHttpReadBearer(int64 deployment_id)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(deployment_id)};
	char	   *hash = NULL;
	MfRunAs		owner;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MfAsOwnerBegin(&owner);
	if (SPI_execute_with_args("SELECT bearer_hash FROM mf.deployment_secrets WHERE deployment_id = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the token of deployment " INT64_FORMAT, deployment_id);
	if (SPI_processed == 1)
		hash = MfHttpCol(0, 1, cxt);
	MfAsOwnerEnd(&owner);
	SPI_finish();
	return hash;
}

/*
 * Every live http deployment, resolved now (in a transaction; current
 * context: where the result lives).  Refs that do not resolve are appended
 * to *problems as texts.
 */
List *
MfHttpReadServed(List **problems)
{
	List	   *served = NIL;
	ListCell   *lc;

	foreach(lc, MfHttpReadDeployments(CurrentMemoryContext))
	{
		MfHttpDeployment *d = lfirst(lc);
		MfHttpServed *s = palloc0(sizeof(MfHttpServed));
		MfHttpVersion *main;

		CHECK_FOR_INTERRUPTS();
		s->deployment_id = d->deployment_id;
		s->name = d->name;
		s->requests_per_minute = d->requests_per_minute;
		s->max_batch = d->max_batch;
		s->log_id_field = d->log_id_field;
		main = MfHttpAddVersion(s, d->main_ref, problems);
		if (main == NULL)
			continue;			/* nothing to serve by default: not served */
		s->default_number = main->version_id;
		MfHttpReadSplit(d, s, problems);
		s->bearer_hash = MfHttpReadBearer(d->deployment_id);
		served = lappend(served, s);
	}
	return served;
}

/*
 * A text that differs whenever what is served differs (or the problems
 * do).  It holds a digest of each bearer hash, never the hash.
 */
char *
MfHttpFingerprint(List *served, List *problems)
{
	StringInfoData b;
	ListCell   *lc,
			   *lv;

	initStringInfo(&b);
	foreach(lc, served)
	{
		MfHttpServed *s = lfirst(lc);

		appendStringInfo(&b, "%s|" INT64_FORMAT "|%d|%d|" INT64_FORMAT "|%u|", s->name, s->deployment_id,
						 s->requests_per_minute, s->max_batch, s->default_number,
						 s->bearer_hash ? hash_bytes((const unsigned char *) s->bearer_hash,
													 strlen(s->bearer_hash)) : 0);
		for (int i = 0; i < s->n_split; i++)
			appendStringInfo(&b, INT64_FORMAT ":%.17g,", s->split[i].number, s->split[i].weight);
		appendStringInfo(&b, "log=%s|", s->log_id_field ? s->log_id_field : "-");
		foreach(lv, s->versions)
		{
			MfHttpVersion *v = lfirst(lv);

			appendStringInfo(&b, "[" INT64_FORMAT " %s %s %s", v->version_id, v->semver, v->sha256,
							 v->trained_at ? v->trained_at : "");
			for (int i = 0; i < v->n_labels; i++)
				appendStringInfo(&b, " %s", v->labels[i]);
			appendStringInfoChar(&b, ']');
		}
		appendStringInfoChar(&b, '\n');
	}
	foreach(lc, problems)
		appendStringInfo(&b, "!%s\n", (char *) lfirst(lc));
	return b.data;
}

/*
 * Fill in the artifact bytes: a copy of those of `previous` (the snapshot
 * served now) when the version and digest match, else read as prediction
 * reads them (current context).
 */
void
MfHttpLoadArtifacts(List *served, List *previous)
{
	ListCell   *lc,
			   *lv,
			   *pc,
			   *pv;

	foreach(lc, served)
	{
		foreach(lv, ((MfHttpServed *) lfirst(lc))->versions)
		{
			MfHttpVersion *v = lfirst(lv);

			foreach(pc, previous)
			{
				foreach(pv, ((MfHttpServed *) lfirst(pc))->versions)
				{
					MfHttpVersion *o = lfirst(pv);

					if (v->bytes == NULL && o->version_id == v->version_id && o->bytes != NULL &&
						strcmp(o->sha256, v->sha256) == 0)
						v->bytes = (bytea *) DatumGetPointer(datumCopy(PointerGetDatum(o->bytes), false, -1));
				}
			}
			CHECK_FOR_INTERRUPTS();
			if (v->bytes == NULL)
				v->bytes = MfPredReadArtifact(v->version_id, v->semver);
		}
	}
}

/* The snapshot description of what is served (artifacts by reference). */
MfHttpSnap *
MfHttpBuildSnap(List *served)
{
	MfHttpSnap *snap = mf_http_snap_new();
	ListCell   *lc,
			   *lv;

	if (snap == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	foreach(lc, served)
	{
		MfHttpServed *s = lfirst(lc);
		MfServePolicy p;
		bool		ok;

		memset(&p, 0, sizeof(p));
		p.bearer_hash = s->bearer_hash;
		p.requests_per_minute = s->requests_per_minute;
		p.max_batch = s->max_batch;
		p.default_number = s->default_number;
		p.n_split = s->n_split;
		memcpy(p.split, s->split, sizeof(p.split));
		p.deployment_id = s->deployment_id;
		p.log_predictions = s->log_id_field != NULL;
		strlcpy(p.log_id_field, s->log_id_field ? s->log_id_field : "", sizeof(p.log_id_field));
		ok = mf_http_snap_add_name(snap, s->name, &p);
		foreach(lv, s->versions)
		{
			MfHttpVersion *v = lfirst(lv);
			MfServeVersionSpec spec;

			memset(&spec, 0, sizeof(spec));
			spec.semver = v->semver;
			spec.number = v->version_id;
			spec.labels = (const char *const *) v->labels;
			spec.n_labels = v->n_labels;
			spec.trained_at = v->trained_at;
			spec.artifact = VARDATA_ANY(v->bytes);
			spec.artifact_len = VARSIZE_ANY_EXHDR(v->bytes);
			ok = ok && mf_http_snap_add_version(snap, &spec, v->sha256);
		}
		if (!ok)
		{
			mf_http_snap_free(snap);
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		}
	}
	return snap;
}
