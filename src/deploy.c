/*
 * deploy.c - SQL wrappers of deployments and exports: salt bytes for the
 * bearer-token hash, and the tar of a served model directory over the pure
 * C writer in image/ (model_dir.c, tar.c).  The rules (who may export,
 * which version, its labels) live in sql/deploy.sql.
 */
#include "postgres.h"

#include "mf_core.h"

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "model_dir.h"

/* Most salt bytes one call returns. */
#define MF_RANDOM_BYTES_MAX 1024

PG_FUNCTION_INFO_V1(mf_random_bytes);

/* mf._random_bytes(n): n bytes from the strong random source. */
Datum
mf_random_bytes(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	bytea	   *out;

	if (n < 1 || n > MF_RANDOM_BYTES_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("random byte count must be between 1 and %d", MF_RANDOM_BYTES_MAX),
				 errdetail("Got %d.", n)));
	out = palloc(VARHDRSZ + n);
	SET_VARSIZE(out, VARHDRSZ + n);
	if (!pg_strong_random(VARDATA(out), n))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes"),
				 errhint("The server's strong random source (OpenSSL or /dev/urandom) failed.")));
	PG_RETURN_BYTEA_P(out);
}

/* The labels of a text[] as C strings (no NULLs allowed). */
static const char **
MfExportLabels(ArrayType *arr, size_t *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int			count;
	const char **labels;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("labels must be a one-dimensional text array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &count);
	labels = palloc(sizeof(char *) * Max(count, 1));
	for (int i = 0; i < count; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("labels must not contain NULL")));
		labels[i] = TextDatumGetCString(elems[i]);
	}
	*n = (size_t) count;
	return labels;
}

/* Raise the error of a refused export, with its SQLSTATE. */
static void
MfExportFail(const char *name, const MfImageError *err)
{
	int			code;

	switch (err->status)
	{
		case MF_IMAGE_BAD_ARG:
			code = ERRCODE_INVALID_PARAMETER_VALUE;
			break;
		case MF_IMAGE_TOO_LARGE:
			code = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
			break;
		case MF_IMAGE_NOMEM:
			code = ERRCODE_OUT_OF_MEMORY;
			break;
		default:
			code = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
			break;
	}
	ereport(ERROR,
			(errcode(code),
			 errmsg("cannot export model \"%s\"", name),
			 errdetail("%s.", err->detail)));
}

PG_FUNCTION_INFO_V1(mf_export_tar);

/*
 * mf._model_dir_tar(name, version_number, version, family, labels,
 * trained_at, artifact_sha256, artifact): the tar of <name>/<n>/ with
 * model.mfa and serving.json (image/model_dir.h).
 */
Datum
mf_export_tar(PG_FUNCTION_ARGS)
{
	TimestampTz trained_at = PG_GETARG_TIMESTAMPTZ(5);
	bytea	   *artifact = PG_GETARG_BYTEA_PP(7);
	MfServedVersion v;
	MfImageError err = {MF_IMAGE_OK, ""};
	size_t		size,
				len;
	bytea	   *out;

	v.name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	v.version_number = PG_GETARG_INT64(1);
	v.version = text_to_cstring(PG_GETARG_TEXT_PP(2));
	v.family = text_to_cstring(PG_GETARG_TEXT_PP(3));
	v.labels = MfExportLabels(PG_GETARG_ARRAYTYPE_P(4), &v.n_labels);
	if (TIMESTAMP_NOT_FINITE(trained_at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot export model \"%s\"", v.name),
				 errdetail("trained_at is infinite.")));
	v.trained_at_us = trained_at + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	v.artifact_sha256 = text_to_cstring(PG_GETARG_TEXT_PP(6));
	v.artifact = VARDATA_ANY(artifact);
	v.artifact_len = VARSIZE_ANY_EXHDR(artifact);

	size = mf_model_dir_tar_size(&v);
	if (size == 0)
	{
		/* a field is refused (its detail), or the archive is too large */
		if (mf_serving_json(&v, NULL, 0, &len, &err) == MF_IMAGE_NOMEM)
			mf_image_fail(&err, MF_IMAGE_TOO_LARGE, "the archive does not fit in memory");
		MfExportFail(v.name, &err);
	}
	if (size > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cannot export model \"%s\"", v.name),
				 errdetail("The archive would have %zu bytes; a bytea holds at most %zu.", size,
						   (size_t) (MaxAllocSize - VARHDRSZ))));
	out = palloc(VARHDRSZ + size);
	if (mf_model_dir_tar(&v, VARDATA(out), size, &len, &err) != MF_IMAGE_OK)
		MfExportFail(v.name, &err);
	SET_VARSIZE(out, VARHDRSZ + len);
	PG_RETURN_BYTEA_P(out);
}
