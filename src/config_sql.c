/*
 * config_sql.c - SQL entry points of the config library (config/config*.c).
 *
 * Thin wrappers: read the arguments, call the pure C library, turn its
 * problem list into an ERROR (SQLSTATE 22023, one "path: problem" line per
 * problem in the detail) or into rows.
 */
#include "postgres.h"

#include "mf_core.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "mf_config.h"

/* Normalise a jsonb config; NULL when invalid, problems appended. */
static json_t *
MfNormalize(Jsonb *config, json_t *problems)
{
	json_t	   *input = MfJsonbToJansson(config, "model config");
	json_t	   *normalized;

	if (problems == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	normalized = mf_config_normalize(input, problems);
	json_decref(input);
	return normalized;
}

/* Raise 22023 listing every problem. */
static void
MfReportProblems(json_t *problems)
{
	StringInfoData detail;
	size_t		i;
	json_t	   *p;

	initStringInfo(&detail);
	json_array_foreach(problems, i, p)
	{
		if (i > 0)
			appendStringInfoChar(&detail, '\n');
		appendStringInfo(&detail, "%s: %s",
						 json_string_value(json_object_get(p, "path")),
						 json_string_value(json_object_get(p, "problem")));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid model config"),
			 errdetail("%s", detail.data),
			 errhint("mf_validate_config() lists the problems as rows.")));
}

/* Lowercase hex sha256 of a string (also the artifact files' check). */
char *
MfSha256Hex(const char *data, size_t len)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute sha256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	hex_encode((const char *) digest, sizeof(digest), hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

PG_FUNCTION_INFO_V1(mf_normalize_config);

/*
 * mf._normalize_config(config jsonb, OUT config jsonb, OUT family text,
 * OUT n_parameters bigint, OUT config_hash text)
 */
Datum
mf_normalize_config(PG_FUNCTION_ARGS)
{
	json_t	   *problems = json_array();
	json_t	   *normalized = MfNormalize(PG_GETARG_JSONB_P(0), problems);
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	char	   *canonical;
	int64		n_parameters;

	if (normalized == NULL || json_array_size(problems) > 0)
		MfReportProblems(problems);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	canonical = mf_json_canonical(normalized);
	if (canonical == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	n_parameters = mf_config_n_parameters(normalized);

	values[0] = DirectFunctionCall1(jsonb_in, CStringGetDatum(canonical));
	values[1] = CStringGetTextDatum(mf_family_name(mf_config_family(normalized)));
	values[2] = Int64GetDatum(n_parameters);
	nulls[2] = n_parameters < 0;
	values[3] = CStringGetTextDatum(MfSha256Hex(canonical, strlen(canonical)));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* Return the problem list as (path, problem) rows of a set-returning call. */
static Datum
MfProblemRows(FunctionCallInfo fcinfo, json_t *problems)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	size_t		i;
	json_t	   *p;

	json_array_foreach(problems, i, p)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(json_string_value(json_object_get(p, "path")));
		values[1] = CStringGetTextDatum(json_string_value(json_object_get(p, "problem")));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(mf_validate_config);

/* mf_validate_config(config jsonb) RETURNS TABLE(path text, problem text) */
Datum
mf_validate_config(PG_FUNCTION_ARGS)
{
	json_t	   *problems = json_array();

	InitMaterializedSRF(fcinfo, 0);
	json_decref(MfNormalize(PG_GETARG_JSONB_P(0), problems));
	return MfProblemRows(fcinfo, problems);
}

PG_FUNCTION_INFO_V1(mf_validate_config_yaml);

/*
 * mf_validate_config_yaml(config text) RETURNS TABLE(path text, problem
 * text): the rows of mf_validate_config; a YAML syntax error is one row at
 * "$" naming its line and column.
 */
Datum
mf_validate_config_yaml(PG_FUNCTION_ARGS)
{
	text	   *yaml = PG_GETARG_TEXT_PP(0);
	json_t	   *problems = json_array();
	char		err[256];
	json_t	   *input;

	if (problems == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	InitMaterializedSRF(fcinfo, 0);
	input = mf_yaml_parse(VARDATA_ANY(yaml), VARSIZE_ANY_EXHDR(yaml), err, sizeof(err));
	if (input == NULL)
		json_array_append_new(problems, json_pack("{s:s, s:s}", "path", "$", "problem", err));
	else
		json_decref(mf_config_normalize(input, problems));
	json_decref(input);
	return MfProblemRows(fcinfo, problems);
}

PG_FUNCTION_INFO_V1(mf_yaml_to_jsonb);

/* mf._yaml_to_jsonb(yaml text) RETURNS jsonb */
Datum
mf_yaml_to_jsonb(PG_FUNCTION_ARGS)
{
	text	   *yaml = PG_GETARG_TEXT_PP(0);
	char		err[256];
	json_t	   *value;

	value = mf_yaml_parse(VARDATA_ANY(yaml), VARSIZE_ANY_EXHDR(yaml), err, sizeof(err));
	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid YAML model config"),
				 errdetail("%s", err)));
	PG_RETURN_JSONB_P(MfJanssonToJsonb(value));
}

PG_FUNCTION_INFO_V1(mf_merge_patch);

/*
 * mf._merge_patch(target jsonb, patch jsonb) RETURNS jsonb: RFC 7386, plus
 * transformer shorthands in the patch reaching the stacks (config updates)
 */
Datum
mf_merge_patch(PG_FUNCTION_ARGS)
{
	json_t	   *target = MfJsonbToJansson(PG_GETARG_JSONB_P(0), "merge target");
	json_t	   *patch = MfJsonbToJansson(PG_GETARG_JSONB_P(1), "merge patch");
	json_t	   *merged = mf_config_merge_patch(target, patch);

	if (merged == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	PG_RETURN_JSONB_P(MfJanssonToJsonb(merged));
}

PG_FUNCTION_INFO_V1(mf_list_builtin_templates);

/* mf._builtin_templates() RETURNS TABLE(name, family, description, config) */
Datum
mf_list_builtin_templates(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const MfTemplate *templates;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	templates = mf_builtin_templates(&n);
	for (i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(templates[i].name);
		values[1] = CStringGetTextDatum(templates[i].family);
		values[2] = CStringGetTextDatum(templates[i].description);
		values[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(templates[i].config_json));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(mf_list_model_types);

/* mf_list_model_types() RETURNS TABLE(family text, description text) */
Datum
mf_list_model_types(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const MfFamilyInfo *families;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	families = mf_model_families(&n);
	for (i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(families[i].family);
		values[1] = CStringGetTextDatum(families[i].description);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(mf_canonical_json);

/* mf._canonical_json(value jsonb) RETURNS text: the text config_hash hashes */
Datum
mf_canonical_json(PG_FUNCTION_ARGS)
{
	json_t	   *value = MfJsonbToJansson(PG_GETARG_JSONB_P(0), "value");

	PG_RETURN_TEXT_P(MfJanssonToText(value));
}
