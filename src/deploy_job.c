/*
 * deploy_job.c - the worker of a background job of kind deploy: the image
 * of one version built, verified and pushed (mf_deploy(ref, 'oci', ...)).
 *
 * Design note
 * -----------
 * The launcher claims the job like any other; MfJobWorkerMain (job_worker.c)
 * sees kind deploy and calls MfDeployJobRun.  The SQL side (sql/image.sql)
 * owns every status: this file runs short transactions only to read what to
 * build (mf._deploy_job_begin: the version's served-directory fields, its
 * artifact, config hash, metrics and test rows) and to report phases and the
 * outcome (mf._deploy_job_phase, mf._deploy_job_finished).  The work itself
 * runs outside any transaction, in pure C (image/oci.h):
 *   building   the served model directory is written under
 *              $PGDATA/mf_images/<deployment_id>/models from the database's
 *              bytes, and the image layout under .../image; the base
 *              layer comes from $PGDATA/mf_images/base-layer-cache when an
 *              earlier job built the same one (image/oci_cache.c);
 *   verifying  the image's own mf-serve, run from the layer bytes through
 *              the layer's loader, answers the test rows; every answer must
 *              equal the in-process handler's on the database's artifact;
 *   pushing    the layout goes to the registry of options.registry
 *              (src/registry_pg.c over image/registry*.c: stored
 *              credentials, blob HEAD first, manifest last); the
 *              deployment records the image by digest.
 * A deployment with options.from (a gated registry) builds nothing: the
 * job checks the gate again and copies the source deployment's smoke-tested
 * image by digest (mf._deploy_copy), so production gets exactly the tested
 * bytes.  The directory is removed whatever the outcome.  A cancel (mf_cancel_job)
 * is honoured between phases; an ERROR anywhere is caught and recorded as
 * the job's and the deployment's failure.
 */
#include "postgres.h"

#include "mf_core.h"

#include <sys/stat.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "deploy_job.h"
#include "mf_jobs_shm.h"
#include "oci.h"
#include "registry_pg.h"

/* Under $PGDATA/mf_images: the base layer cache, kept between jobs (no deployment id is a name like it). */
#define MF_DEPLOY_LAYER_CACHE "base-layer-cache"

/* What one deploy job builds (copied out of the reading transaction). */
typedef struct MfDeployWork
{
	int64		deployment_id;
	MfServedVersion v;
	char	   *config_hash;
	char	   *metrics;
	char	   *rows;
	char	   *options;		/* {registry, repository, tag} as text */
	char		dir[MAXPGPATH]; /* $PGDATA/mf_images/<deployment_id> */
} MfDeployWork;

/* Column n of the first result row as text in the current context, or NULL. */
static char *
MfDeployText(int n)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n);

	return v != NULL ? pstrdup(v) : NULL;
}

/* The text[] of column n as C strings. */
static void
MfDeployLabels(int n, MfServedVersion *v)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			count = 0;
	const char **labels;

	if (!isnull)
		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &count);
	labels = palloc(sizeof(char *) * Max(count, 1));
	for (int i = 0; i < count; i++)
		labels[i] = TextDatumGetCString(elems[i]);
	v->labels = labels;
	v->n_labels = (size_t) count;
}

/* Transaction: mf._deploy_job_begin(); false when there is nothing to do. */
static bool
MfDeployBegin(int64 job_id, MfDeployWork *w, MemoryContext keep)
{
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(job_id), Int32GetDatum(MyProcPid)};
	bool		found;

	MfBgXactBegin("mf_ext deploy job: starting");
	if (SPI_execute_with_args("SELECT deployment_id, name, version, version_number, family, labels, "
							  "(extract(epoch FROM trained_at) * 1000000)::bigint, artifact_sha256, artifact, "
							  "config_hash, metrics, test_rows, options::text FROM mf._deploy_job_begin($1, $2)",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "mf._deploy_job_begin failed");
	found = SPI_processed == 1;
	if (found)
	{
		MemoryContext old = MemoryContextSwitchTo(keep);
		bool		isnull;
		bytea	   *art;

		w->deployment_id = pg_strtoint64(MfDeployText(1));
		w->v.name = MfDeployText(2);
		w->v.version = MfDeployText(3);
		w->v.version_number = pg_strtoint64(MfDeployText(4));
		w->v.family = MfDeployText(5);
		MfDeployLabels(6, &w->v);
		w->v.trained_at_us = pg_strtoint64(MfDeployText(7));
		w->v.artifact_sha256 = MfDeployText(8);
		art = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 9, &isnull));
		w->v.artifact = VARDATA_ANY(art);
		w->v.artifact_len = VARSIZE_ANY_EXHDR(art);
		w->config_hash = MfDeployText(10);
		w->metrics = MfDeployText(11);
		w->rows = MfDeployText(12);
		w->options = MfDeployText(13);
		MemoryContextSwitchTo(old);
	}
	MfBgXactCommit();
	return found;
}

/* Transaction: the job enters a phase (slot and row), with a log line. */
static void
MfDeployPhase(int64 job_id, MfJobPhase phase, double progress, const char *message, const char *details)
{
	Oid			argtypes[5] = {INT8OID, TEXTOID, FLOAT8OID, TEXTOID, JSONBOID};
	Datum		args[5];
	char		nulls[5] = "     ";

	MfJobReportPhase(phase);	/* honours a cancel */
	args[0] = Int64GetDatum(job_id);
	args[1] = CStringGetTextDatum(MfJobPhaseName(phase));
	args[2] = Float8GetDatum(progress);
	args[3] = CStringGetTextDatum(message);
	args[4] = details ? DirectFunctionCall1(jsonb_in, CStringGetDatum(details)) : (Datum) 0;
	if (details == NULL)
		nulls[4] = 'n';
	MfBgXactBegin(psprintf("mf_ext deploy job " INT64_FORMAT ": %s", job_id, MfJobPhaseName(phase)));
	if (SPI_execute_with_args("SELECT mf._deploy_job_phase($1, $2, $3, $4, $5)", 5, argtypes, args, nulls, false, 1)
		!= SPI_OK_SELECT)
		elog(ERROR, "mf._deploy_job_phase failed");
	MfBgXactCommit();
}

/* Transaction: the outcome (layers: NULL or the two digests). */
static void
MfDeployFinished(int64 job_id, bool ok, const char *message, const char *image, const MfOciResult *res,
				 const char *details)
{
	Oid			argtypes[6] = {INT8OID, BOOLOID, TEXTOID, TEXTOID, TEXTARRAYOID, JSONBOID};
	Datum		args[6];
	char		nulls[6] = "      ";

	args[0] = Int64GetDatum(job_id);
	args[1] = BoolGetDatum(ok);
	args[2] = CStringGetTextDatum(message ? message : "");
	args[3] = image ? CStringGetTextDatum(image) : (Datum) 0;
	nulls[3] = image ? ' ' : 'n';
	if (res != NULL && res->n_layers == 2)
	{
		Datum		elems[2] = {CStringGetTextDatum(res->layers[0].digest), CStringGetTextDatum(res->layers[1].digest)};

		args[4] = PointerGetDatum(construct_array(elems, 2, TEXTOID, -1, false, TYPALIGN_INT));
	}
	else
		nulls[4] = 'n';
	args[5] = details ? DirectFunctionCall1(jsonb_in, CStringGetDatum(details)) : (Datum) 0;
	nulls[5] = details ? ' ' : 'n';
	MfBgXactBegin("mf_ext deploy job: recording the outcome");
	if (SPI_execute_with_args("SELECT mf._deploy_job_finished($1, $2, $3, $4, $5, $6)", 6, argtypes, args, nulls,
							  false, 1) != SPI_OK_SELECT)
		elog(ERROR, "mf._deploy_job_finished failed");
	MfBgXactCommit();
}

/* Write one file of the served directory; false with msg set. */
static bool
MfDeployWriteFile(const char *path, const void *data, size_t len, char **msg)
{
	FILE	   *f = AllocateFile(path, PG_BINARY_W);

	if (f == NULL || fwrite(data, 1, len, f) != len)
	{
		if (f != NULL)
			FreeFile(f);
		*msg = psprintf("cannot write \"%s\": %m", path);
		return false;
	}
	if (FreeFile(f) != 0)
	{
		*msg = psprintf("cannot write \"%s\": %m", path);
		return false;
	}
	return true;
}

/* The served model directory <dir>/models/<name>/<n>/ from the database's bytes. */
static bool
MfDeployModelDir(const MfDeployWork *w, char **msg)
{
	MfImageError err = {MF_IMAGE_OK, ""};
	char	   *path = psprintf("%s/models/%s/" INT64_FORMAT, w->dir, w->v.name, w->v.version_number);
	char	   *json = palloc(MF_SERVING_JSON_MAX);
	size_t		len;

	if (pg_mkdir_p(path, S_IRWXU) != 0)
	{
		*msg = psprintf("cannot create \"%s\": %m", path);
		return false;
	}
	if (mf_serving_json(&w->v, json, MF_SERVING_JSON_MAX, &len, &err) != MF_IMAGE_OK)
	{
		*msg = psprintf("serving.json: %s", err.detail);
		return false;
	}
	return MfDeployWriteFile(psprintf("%s/" MF_SERVING_JSON, path), json, len, msg) &&
		MfDeployWriteFile(psprintf("%s/" MF_SERVING_ARTIFACT, path), w->v.artifact, w->v.artifact_len, msg);
}

/* building: the model directory and the image layout; NULL or the failure. */
static char *
MfDeployBuild(int64 job_id, MfDeployWork *w, MfOciResult *res)
{
	char		bindir[MAXPGPATH];
	MfImageError err = {MF_IMAGE_OK, ""};
	MfOciSpec	spec = {0};
	char	   *msg = NULL;

	MfDeployPhase(job_id, MF_PHASE_BUILDING, 0.1,
				  psprintf("building the image of %s:%s in %s", w->v.name, w->v.version, w->dir), NULL);
	strlcpy(bindir, my_exec_path, sizeof(bindir));
	get_parent_directory(bindir);
	if (!MfDeployModelDir(w, &msg))
		return msg;
	spec.model_base = psprintf("%s/models", w->dir);
	spec.name = w->v.name;
	spec.version_number = w->v.version_number;
	spec.mf_serve = psprintf("%s/mf-serve", bindir);
	spec.out_dir = psprintf("%s/image", w->dir);
	spec.config_hash = w->config_hash;
	spec.metrics_json = w->metrics;
	spec.layer_cache = psprintf("%s/mf_images/" MF_DEPLOY_LAYER_CACHE, DataDir);
	if (mf_oci_build(&spec, res, &err) != MF_IMAGE_OK)
		return psprintf("building the image failed: %s", err.detail);
	return NULL;
}

/* verifying: the image's answers against the database's; NULL or the failure. */
static char *
MfDeployVerify(int64 job_id, MfDeployWork *w, const MfOciResult *res)
{
	MfImageError err = {MF_IMAGE_OK, ""};
	MfOciVerifySpec spec = {0};
	MfOciVerifyResult vr;

	MfDeployPhase(job_id, MF_PHASE_VERIFYING, 0.5,
				  psprintf("built %s (base layer %s, %llu bytes, %d shared objects, %d packages%s; model layer %s, %llu bytes); "
						   "verifying its answers", res->manifest.digest, res->layers[0].digest,
						   (unsigned long long) res->layers[0].size, res->n_libraries, res->n_packages,
						   res->base_cached ? ", from the base layer cache" : "",
						   res->layers[1].digest, (unsigned long long) res->layers[1].size),
				  psprintf("{\"manifest\": \"%s\", \"config\": \"%s\", \"layers\": [\"%s\", \"%s\"]}", res->manifest.digest,
						   res->config.digest, res->layers[0].digest, res->layers[1].digest));
	spec.layout = psprintf("%s/image", w->dir);
	spec.work_dir = psprintf("%s/verify", w->dir);
	spec.expected = &w->v;
	spec.rows_json = w->rows;
	if (mf_oci_verify(&spec, &vr, &err) != MF_IMAGE_OK)
		return psprintf("verification failed: %s", err.detail);
	MfDeployPhase(job_id, MF_PHASE_PUSHING, 0.8,
				  psprintf("verified: the image answered %d test rows as the database does, bit for bit", vr.rows), NULL);
	return NULL;
}

/* pushing: the layout to the registry (an ERROR is the failure); *image the reference by digest. */
static char *
MfDeployPush(MfDeployWork *w, char **image)
{
	json_error_t jerr;
	json_t	   *o = json_loads(w->options, 0, &jerr);
	const char *registry = o != NULL ? json_string_value(json_object_get(o, "registry")) : NULL;
	const char *repository = o != NULL ? json_string_value(json_object_get(o, "repository")) : NULL;
	const char *tag = o != NULL ? json_string_value(json_object_get(o, "tag")) : NULL;
	char	   *ref;

	if (registry == NULL || repository == NULL || tag == NULL)
		return psprintf("the stored options of deployment " INT64_FORMAT " lack registry, repository or tag: %s",
						w->deployment_id, w->options);
	MfBgXactBegin("mf_ext deploy job: pushing");
	ref = MfRegistryPush(registry, psprintf("%s/image", w->dir), repository, tag, NULL, NULL);
	*image = MemoryContextStrdup(GetMemoryChunkContext(w), ref);	/* the job's context */
	MfBgXactCommit();
	json_decref(o);
	return NULL;
}

/* Is this deployment a copy of another's image (options.from)? */
static bool
MfDeployIsCopy(const MfDeployWork *w)
{
	json_t	   *o = json_loads(w->options, 0, NULL);
	bool		copy = o != NULL && json_object_get(o, "from") != NULL;

	json_decref(o);
	return copy;
}

/* copying (options.from): the gate again, then the source's image by digest; an ERROR is the failure. */
static char *
MfDeployCopy(int64 job_id, MfDeployWork *w, char **image)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};

	MfDeployPhase(job_id, MF_PHASE_PUSHING, 0.5,
				  psprintf("copying the smoke-tested image of the deployment options.from names: %s", w->options), NULL);
	MfBgXactBegin("mf_ext deploy job: copying");
	if (SPI_execute_with_args("SELECT mf._deploy_copy($1)", 1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "mf._deploy_copy failed");
	*image = MemoryContextStrdup(GetMemoryChunkContext(w), MfDeployText(1));
	MfBgXactCommit();
	return NULL;
}

/* Remove a job's directory when it exists. */
static void
MfDeployRemoveDir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		rmtree(dir, true);
}

/* Run a deploy job (see the design note). */
void
MfDeployJobRun(int64 job_id)
{
	MemoryContext ctx = AllocSetContextCreate(TopMemoryContext, "mf_ext deploy job", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(ctx);
	MfDeployWork *w = palloc0(sizeof(MfDeployWork));
	MfOciResult *res = palloc0(sizeof(MfOciResult));
	char	   *volatile failure = NULL;
	char	   *image = NULL;
	volatile bool begun = false;

	PG_TRY();
	{
		if (MfDeployBegin(job_id, w, ctx))
		{
			begun = true;
			if (MfDeployIsCopy(w))
				failure = MfDeployCopy(job_id, w, &image);
			else
			{
				snprintf(w->dir, sizeof(w->dir), "%s/mf_images/" INT64_FORMAT, DataDir, w->deployment_id);
				MfDeployRemoveDir(w->dir);	/* what an interrupted attempt left */
				failure = MfDeployBuild(job_id, w, res);
				if (failure == NULL)
					failure = MfDeployVerify(job_id, w, res);
				if (failure == NULL)
					failure = MfDeployPush(w, &image);
			}
		}
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(ctx);
		ed = CopyErrorData();
		FlushErrorState();
		HOLD_CANCEL_INTERRUPTS();
		AbortCurrentTransaction();
		QueryCancelPending = false;
		failure = ed->detail ? psprintf("%s (%s)", ed->message, ed->detail) : pstrdup(ed->message);
		begun = true;
		RESUME_CANCEL_INTERRUPTS();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(ctx);
	if (w->dir[0] != '\0')
		MfDeployRemoveDir(w->dir);
	if (begun)
		MfDeployFinished(job_id, failure == NULL, failure, image, res->n_layers == 2 ? res : NULL,
						 res->n_layers == 2 ? psprintf("{\"manifest\": \"%s\"}", res->manifest.digest) : NULL);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
}
