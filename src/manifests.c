/*
 * manifests.c - SQL wrappers of the deployment manifests (deploy/k8s.c,
 * deploy/iot_edge.c): the SQL bodies (sql/k8s.sql) read and check the
 * deployment row, these turn its fields and the options into a
 * MfDeployTarget, call the pure renderer, and raise its refusal with the
 * option's path.
 */
#include "postgres.h"

#include "mf_core.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "manifest.h"

/* The target of a manifest from arguments 0..5 (id, model, served name, version, number, image). */
static void
MfTargetFromArgs(FunctionCallInfo fcinfo, MfDeployTarget *t)
{
	t->deployment_id = PG_GETARG_INT64(0);
	t->model_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	t->served_name = text_to_cstring(PG_GETARG_TEXT_PP(2));
	t->version = text_to_cstring(PG_GETARG_TEXT_PP(3));
	t->version_number = PG_GETARG_INT64(4);
	t->image = text_to_cstring(PG_GETARG_TEXT_PP(5));
}

/* Raise a renderer's refusal. */
static void
MfManifestRefused(const char *what, const MfManifestError *err)
{
	bool		root = strcmp(err->path, "options") == 0;

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 root ? errmsg("invalid %s options", what) : errmsg("invalid %s option %s", what, err->path),
			 root ? errdetail("options: %s.", err->msg) : errdetail("options.%s: %s.", err->path, err->msg),
			 errhint("README.md, \"Deployments\", lists the options of %s.", what)));
}

PG_FUNCTION_INFO_V1(mf_k8s_manifest);

/* mf._k8s_manifest(id, model, name, version, number, image, options) RETURNS text. */
Datum
mf_k8s_manifest(PG_FUNCTION_ARGS)
{
	MfDeployTarget t;
	MfManifestError err;
	json_t	   *options = MfJsonbToJansson(PG_GETARG_JSONB_P(6), "options");
	char	   *yaml;
	text	   *result;

	MfTargetFromArgs(fcinfo, &t);
	yaml = mf_render_k8s_yaml(&t, options, &err);
	json_decref(options);
	if (yaml == NULL)
		MfManifestRefused("mf_render_k8s()", &err);
	result = cstring_to_text(yaml);
	free(yaml);
	PG_RETURN_TEXT_P(result);
}

PG_FUNCTION_INFO_V1(mf_iot_edge_manifest);

/* mf._iot_edge_manifest(id, model, name, version, number, image, options) RETURNS jsonb. */
Datum
mf_iot_edge_manifest(PG_FUNCTION_ARGS)
{
	MfDeployTarget t;
	MfManifestError err;
	json_t	   *options = MfJsonbToJansson(PG_GETARG_JSONB_P(6), "options");
	json_t	   *m;
	Jsonb	   *result;

	MfTargetFromArgs(fcinfo, &t);
	m = mf_render_iot_edge(&t, options, &err);
	json_decref(options);
	if (m == NULL)
		MfManifestRefused("mf_render_iot_edge()", &err);
	result = MfJanssonToJsonb(m);
	json_decref(m);
	PG_RETURN_JSONB_P(result);
}
