/*
 * test_serve_handler.c - the serving core without sockets: the catalog
 * builder, every route of the handler (TF Serving REST, OIP v2, the
 * generated API, health, metrics), status codes and error bodies, the
 * policies (bearer 401, rate limit 429 + Retry-After, traffic split
 * proportions) and the Prometheus text.
 *
 * Models are fitted by the kernels in the test (serve_fixtures.h).  The
 * expected scores come from the model module itself (encode the same raw
 * row, score it), and answers must carry them bit for bit: the JSON is
 * parsed back and the doubles compared with memcmp.  The comparison with
 * the SQL functions is test/integration/mf_serve.sh.
 */
#include "model.h"
#include "serve_int.h"
#include "serve_fixtures.h"
#include "mf_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static MfServe *srv;
static MfTrainedModel tms[SF_NMODELS];
static MfModelWork works[SF_NMODELS];
static MfServeResponse resp;
static json_t *ans;				/* the last answer's parsed body */
static const char *token_hdr = NULL;
static double clock_now = 0.0;

/* ------------------------------------------------------------ helpers */

/* Send one request to srv; the answer lands in resp and ans. */
static int
call(const char *method, const char *path, const char *body)
{
	MfServeRequest req = {0};

	json_decref(ans);
	ans = NULL;
	mf_serve_response_free(&resp);
	req.method = method;
	req.path = path;
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	req.authorization = token_hdr;
	req.client = "10.0.0.1";
	req.now = clock_now;
	mf_serve_handle(srv, &req, &resp);
	if (resp.body != NULL && strncmp(resp.content_type, "application/json", 16) == 0)
		ans = json_loadb(resp.body, resp.body_len, 0, NULL);
	return resp.status;
}

/* True when the last answer is {"error": "..."} with status and the message holds part. */
static bool
is_error(int status, const char *part)
{
	const char *e = json_string_value(json_object_get(ans, "error"));
	bool		ok = resp.status == status && e != NULL && json_object_size(ans) == 1 &&
		(part == NULL || strstr(e, part) != NULL);

	if (!ok)
		MF_DIAG("  status %d, body %.*s", resp.status, (int) resp.body_len, resp.body ? resp.body : "");
	return ok;
}

/* The expected score of a JSON object of named features for model i. */
static MfModelScore
expect_obj(int i, const char *obj_text)
{
	json_t	   *o = json_loads(obj_text, 0, NULL);
	MfModelScore sc = {0};
	MfModelError err;

	if (mf_trained_model_encode_json(&tms[i], o, works[i].xraw, &err) != MF_MODEL_OK ||
		mf_trained_model_score(&tms[i], works[i].xraw, &works[i], &sc, &err) != MF_MODEL_OK)
		MF_DIAG("  expected score failed: %s", err.detail);
	json_decref(o);
	return sc;
}

/* The expected score of p expanded features for model i. */
static MfModelScore
expect_x(int i, const double *x)
{
	MfModelScore sc = {0};
	MfModelError err;

	memcpy(works[i].xraw, x, sizeof(double) * SF_P);
	if (mf_trained_model_score(&tms[i], works[i].xraw, &works[i], &sc, &err) != MF_MODEL_OK)
		MF_DIAG("  expected score failed: %s", err.detail);
	return sc;
}

/* True when a JSON number is v bit for bit. */
static bool
same(json_t *j, double v)
{
	double		d = json_number_value(j);

	if (!json_is_number(j) || memcmp(&d, &v, sizeof(d)) != 0)
	{
		MF_DIAG("  got %.17g, expected %.17g", d, v);
		return false;
	}
	return true;
}

/* True when a JSON array holds the k probabilities bit for bit. */
static bool
same_proba(json_t *a, const double *p, int k)
{
	bool		ok = json_array_size(a) == (size_t) k;

	for (int j = 0; ok && j < k; j++)
		ok = same(json_array_get(a, (size_t) j), p[j]);
	return ok;
}

/* Add a version of a fixture model to a builder. */
static bool
add(MfServeCatalogBuilder *b, const char *name, int model, const char *semver, int64_t n,
	const char *label)
{
	const char *labels[1] = {label};
	MfServeVersionSpec v = {semver, n, labels, label ? 1 : 0, "2026-12-05T10:00:00Z",
	sf_models[model].bytes, sf_models[model].len};
	char		err[256];

	if (!mf_serve_builder_add_version(b, name, &v, err, sizeof(err)))
	{
		MF_DIAG("  %s", err);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------ cases */

static char token_hash[MF_SERVE_BEARER_HASH_LEN];

/* The builder: good versions, refusals, policies; installs the catalog. */
static void
test_catalog(void)
{
	MfServeCatalogBuilder *b = mf_serve_builder_new();
	MfServePolicy pol = {0};
	char		err[256];
	const char *bad_label[1] = {"no spaces"};
	MfServeVersionSpec v = {"1.0.0", 1, NULL, 0, NULL, sf_models[0].bytes, sf_models[0].len};
	MfServeCatalog *c;

	MF_OK(add(b, "lin", SF_LINEAR, "1.0.0", 1, NULL) && add(b, "lin", SF_LINEAR, "1.1.0", 2, "production") &&
		  add(b, "lin", SF_LINEAR, "1.2.0", 3, "canary") && add(b, "log", SF_LOGISTIC, "2.0.0", 5, "production") &&
		  add(b, "mlp", SF_MLP, "1.0.0", 7, NULL) && add(b, "km", SF_KMEANS, "1.0.0", 9, NULL) &&
		  add(b, "ab", SF_LINEAR, "1.0.0", 11, NULL) && add(b, "ab", SF_LINEAR, "1.1.0", 12, NULL),
		  "builder takes versions of four families");
	v.semver = "1.0";
	MF_OK(!mf_serve_builder_add_version(b, "lin", &v, err, sizeof(err)) && strstr(err, "MAJOR.MINOR.PATCH"),
		  "builder refuses a bad semver");
	v.semver = "1.0.0";
	MF_OK(!mf_serve_builder_add_version(b, "lin", &v, err, sizeof(err)) && strstr(err, "twice"),
		  "builder refuses a version number given twice");
	v.number = 4;
	v.labels = bad_label;
	v.n_labels = 1;
	MF_OK(!mf_serve_builder_add_version(b, "lin", &v, err, sizeof(err)) && strstr(err, "label"),
		  "builder refuses a bad label");
	v.n_labels = 0;
	v.artifact = "not an artifact at all, just text";
	v.artifact_len = 33;
	MF_OK(!mf_serve_builder_add_version(b, "lin", &v, err, sizeof(err)) && strstr(err, "refused"),
		  "builder refuses bytes that are not an artifact");
	MF_OK(!mf_serve_builder_add_version(b, "../etc", &v, err, sizeof(err)), "builder refuses a bad served name");
	MF_OK(mf_serve_bearer_hash("s3cret", 6, token_hash, sizeof(token_hash)) &&
		  mf_serve_bearer_check(token_hash, "s3cret", 6) && !mf_serve_bearer_check(token_hash, "s3cres", 6),
		  "bearer hash verifies its token only");
	pol.bearer_hash = token_hash;
	MF_OK(mf_serve_builder_set_policy(b, "log", &pol, err, sizeof(err)), "policy with a bearer hash");
	memset(&pol, 0, sizeof(pol));
	pol.requests_per_minute = 2;
	pol.max_batch = 3;
	MF_OK(mf_serve_builder_set_policy(b, "km", &pol, err, sizeof(err)), "policy with a rate limit and max_batch");
	memset(&pol, 0, sizeof(pol));
	pol.n_split = 2;
	pol.split[0] = (MfServeSplit) {11, 30.0};
	pol.split[1] = (MfServeSplit) {12, 70.0};
	MF_OK(mf_serve_builder_set_policy(b, "ab", &pol, err, sizeof(err)), "policy with a traffic split");
	c = mf_serve_builder_finish(b, err, sizeof(err));
	MF_OK(c != NULL && mf_serve_catalog_size(c) == 5 && mf_serve_catalog_versions(c) == 8, "catalog of 5 names, 8 versions");
	if (c == NULL)
		MF_DIAG("  %s", err);
	mf_serve_set_catalog(srv, c);

	b = mf_serve_builder_new();
	add(b, "lin", SF_LINEAR, "1.0.0", 1, NULL);
	pol.split[1].number = 99;
	mf_serve_builder_set_policy(b, "lin", &pol, err, sizeof(err));
	MF_OK(mf_serve_builder_finish(b, err, sizeof(err)) == NULL && strstr(err, "not served"),
		  "finish refuses a split naming a version that is not served");
	b = mf_serve_builder_new();
	add(b, "lin", SF_LINEAR, "1.0.0", 1, NULL);
	memset(&pol, 0, sizeof(pol));
	pol.bearer_hash = "sha256$zz$00";
	mf_serve_builder_set_policy(b, "lin", &pol, err, sizeof(err));
	MF_OK(mf_serve_builder_finish(b, err, sizeof(err)) == NULL && strstr(err, "bearer"),
		  "finish refuses a malformed bearer hash");
}

/* OIP v2: server routes, metadata, readiness. */
static void
test_oip_routes(void)
{
	MF_OK(call("GET", "/v2", NULL) == 200 && strcmp(json_string_value(json_object_get(ans, "name")), "mf-serve") == 0 &&
		  json_is_array(json_object_get(ans, "extensions")), "GET /v2: server metadata");
	MF_OK(call("GET", "/v2/health/live", NULL) == 200, "GET /v2/health/live");
	MF_OK(call("GET", "/v2/health/ready", NULL) == 200, "GET /v2/health/ready");
	MF_OK(call("POST", "/v2/health/live", "{}") == 405 && is_error(405, "POST") && resp.allow != NULL,
		  "POST /v2/health/live: 405 with Allow");
	call("GET", "/v2/models/lin", NULL);
	MF_OK(resp.status == 200 && json_array_size(json_object_get(ans, "versions")) == 3 &&
		  json_array_size(json_object_get(ans, "inputs")) == 3 &&
		  strcmp(json_string_value(json_object_get(json_array_get(json_object_get(ans, "inputs"), 2), "datatype")), "BYTES") == 0 &&
		  strcmp(resp.model_version, "1.1.0") == 0, "GET /v2/models/lin: metadata of the production version");
	call("GET", "/v2/models/log/versions/2.0.0", NULL);
	MF_OK(resp.status == 401, "metadata of a model with a token needs the token");
	call("GET", "/v2/models/mlp/versions/1.0.0", NULL);
	MF_OK(resp.status == 200 && json_array_size(json_object_get(ans, "outputs")) == 3 &&
		  json_is_string(json_object_get(json_object_get(ans, "properties"), "features")),
		  "GET /v2/models/mlp/versions/1.0.0: outputs predict, label, probabilities");
	MF_OK(call("GET", "/v2/models/lin/versions/1.2.0/ready", NULL) == 200 && strcmp(resp.model_version, "1.2.0") == 0,
		  "model ready by semver");
	MF_OK(call("GET", "/v2/models/lin/versions/3/ready", NULL) == 200 && strcmp(resp.model_version, "1.2.0") == 0,
		  "model ready by number");
	MF_OK(call("GET", "/v2/models/lin/versions/9.9.9/ready", NULL) == 404 && is_error(404, "9.9.9"),
		  "unknown version: 404");
	MF_OK(call("GET", "/v2/models/nope", NULL) == 404 && is_error(404, "nope"), "unknown model: 404");
	MF_OK(call("GET", "/v2/models/lin/infer", NULL) == 405, "GET .../infer: 405");
	MF_OK(call("GET", "/v2/models/lin/bogus", NULL) == 404 && is_error(404, NULL), "unknown model route: 404");
	MF_OK(call("GET", "/nowhere\xff", NULL) == 404 && is_error(404, "nowhere"), "unknown route with bad UTF-8: 404 JSON");
}

/* OIP v2 inference: one [n, p] tensor in three dtypes, per-input tensors. */
static void
test_oip_infer(void)
{
	double		x0[SF_P] = {0.25, 1, 0, 1, 0},
				x1[SF_P] = {-1.5, 0, 0, 0, 1};
	double		f32[SF_P];
	MfModelScore s0,
				s1;
	json_t	   *outs;

	call("POST", "/v2/models/mlp/infer",
		 "{\"id\":\"r1\",\"inputs\":[{\"name\":\"any\",\"shape\":[2,5],\"datatype\":\"FP64\","
		 "\"data\":[[0.25,1,0,1,0],[-1.5,0,0,0,1]]}]}");
	outs = json_object_get(ans, "outputs");
	s0 = expect_x(SF_MLP, x0);
	MF_OK(resp.status == 200 && strcmp(json_string_value(json_object_get(ans, "model_version")), "1.0.0") == 0 &&
		  strcmp(json_string_value(json_object_get(ans, "id")), "r1") == 0 && json_array_size(outs) == 3 &&
		  same(json_array_get(json_object_get(json_array_get(outs, 0), "data"), 0), s0.value),
		  "OIP FP64 [2,5] tensor: predict bit for bit, id echoed");
	{
		double		p0[2];

		memcpy(p0, s0.proba, sizeof(p0));
		s1 = expect_x(SF_MLP, x1);
		MF_OK(same(json_array_get(json_object_get(json_array_get(outs, 2), "data"), 0), p0[0]) &&
			  same(json_array_get(json_object_get(json_array_get(outs, 2), "data"), 3), s1.proba[1]) &&
			  json_integer_value(json_array_get(json_object_get(json_array_get(outs, 2), "shape"), 1)) == 2 &&
			  strcmp(json_string_value(json_array_get(json_object_get(json_array_get(outs, 1), "data"), 1)), s1.label) == 0,
			  "OIP probabilities [n,k] and labels bit for bit");
	}
	for (int j = 0; j < SF_P; j++)
		f32[j] = (double) (float) (j == 0 ? 0.1 : x0[j]);
	call("POST", "/v2/models/lin/versions/1.0.0/infer",
		 "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,5],\"datatype\":\"FP32\",\"data\":[0.1,1,0,1,0]}],"
		 "\"outputs\":[{\"name\":\"predict\"}]}");
	MF_OK(resp.status == 200 && same(json_array_get(json_object_get(json_array_get(json_object_get(ans, "outputs"), 0), "data"), 0),
									 expect_x(SF_LINEAR, f32).value), "OIP FP32 tensor rounds to float");
	f32[0] = 2.0;
	call("POST", "/v2/models/lin/infer",
		 "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,5],\"datatype\":\"INT64\",\"data\":[2,1,0,1,0]}]}");
	MF_OK(resp.status == 200 && same(json_array_get(json_object_get(json_array_get(json_object_get(ans, "outputs"), 0), "data"), 0),
									 expect_x(SF_LINEAR, f32).value) && strcmp(resp.model_version, "1.1.0") == 0,
		  "OIP INT64 tensor; bare name answers with the production version");
	call("POST", "/v2/models/mlp/infer",
		 "{\"inputs\":[{\"name\":\"colour\",\"shape\":[2],\"datatype\":\"BYTES\",\"data\":[\"green\",null]},"
		 "{\"name\":\"x\",\"shape\":[2,1],\"datatype\":\"FP64\",\"data\":[0.5,-0.25]},"
		 "{\"name\":\"flag\",\"shape\":[2],\"datatype\":\"BOOL\",\"data\":[true,false]}]}");
	s0 = expect_obj(SF_MLP, "{\"x\":-0.25,\"flag\":false,\"colour\":null}");
	MF_OK(resp.status == 200 && same(json_array_get(json_object_get(json_array_get(json_object_get(ans, "outputs"), 0), "data"), 1), s0.value) &&
		  same(json_array_get(json_object_get(json_array_get(json_object_get(ans, "outputs"), 2), "data"), 3), s0.proba[1]),
		  "OIP one tensor per input (BYTES text, null imputes, BOOL)");
	MF_OK(call("POST", "/v2/models/lin/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP64\",\"data\":[1,2,3,4]}]}") == 400 &&
		  is_error(400, "[n, 5]"), "OIP wrong shape: 400");
	MF_OK(call("POST", "/v2/models/lin/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,5],\"datatype\":\"BYTES\",\"data\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}]}") == 400 &&
		  is_error(400, "FP64"), "OIP BYTES single tensor: 400");
	MF_OK(call("POST", "/v2/models/lin/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,5],\"datatype\":\"INT64\",\"data\":[1.5,1,0,1,0]}]}") == 400 &&
		  is_error(400, "INT64"), "OIP INT64 with a fraction: 400");
	MF_OK(call("POST", "/v2/models/lin/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[2,5],\"datatype\":\"FP64\",\"data\":[1,2,3]}]}") == 400 &&
		  is_error(400, "product"), "OIP data not matching the shape: 400");
	MF_OK(call("POST", "/v2/models/lin/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
			   "{\"name\":\"shade\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"a\"]}]}") == 400 &&
		  is_error(400, "shade"), "OIP unknown input name: 400");
	MF_OK(call("POST", "/v2/models/lin/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
			   "{\"name\":\"flag\",\"shape\":[1],\"datatype\":\"BOOL\",\"data\":[true]}]}") == 400 &&
		  is_error(400, "colour"), "OIP missing input: 400 naming it");
	MF_OK(call("POST", "/v2/models/lin/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,5],\"datatype\":\"FP64\",\"data\":[1,1,0,1,0]}],"
			   "\"outputs\":[{\"name\":\"label\"}]}") == 400 && is_error(400, "label"), "OIP unknown output: 400");
	MF_OK(call("POST", "/v2/models/lin/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,5],\"datatype\":\"FP64\",\"data\":[NaN,1,0,1,0]}]}") == 400 &&
		  is_error(400, "malformed JSON"), "OIP NaN: 400 malformed JSON");
	MF_OK(call("POST", "/v2/models/lin/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,5],\"datatype\":\"FP64\",\"data\":[1e400,1,0,1,0]}]}") == 400 &&
		  is_error(400, NULL), "OIP overflowing number: 400");
	MF_OK(call("POST", "/v2/models/lin/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,5],\"datatype\":\"FP32\",\"data\":[1e300,1,0,1,0]}]}") == 400 &&
		  is_error(400, "finite"), "OIP FP32 overflow to infinity: 400");
	{
		static const char *const bad_dt[] = {"", "STRING", "TENSOR", "fp64", "DOUBLE", "FP128", "FLOAT64"};

		for (int i = 0; i < 7; i++)
		{
			char		body[512];
			char		what[96];

			/* the per-input form with x of an unknown datatype */
			snprintf(body, sizeof(body), "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"%s\",\"data\":[1]},"
					 "{\"name\":\"flag\",\"shape\":[1],\"datatype\":\"BOOL\",\"data\":[true]},"
					 "{\"name\":\"colour\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"red\"]}]}", bad_dt[i]);
			snprintf(what, sizeof(what), "OIP per-input tensor of datatype \"%s\": 400", bad_dt[i]);
			MF_OK(call("POST", "/v2/models/lin/infer", body) == 400 && is_error(400, "not one of the protocol's"), what);
		}
		MF_OK(call("POST", "/v2/models/lin/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
				   "{\"name\":\"flag\",\"shape\":[1],\"datatype\":\"BOOL\",\"data\":[true]},"
				   "{\"name\":\"colour\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"red\"]}]}") == 200,
			  "OIP per-input tensors of known datatypes: 200");
	}
	MF_OK(call("POST", "/v2/models/lin/infer", "{\"inputs\": 5}") == 400 && is_error(400, "inputs"), "OIP inputs not a list: 400");
	MF_OK(call("POST", "/v2/models/lin/infer", "[1,2]") == 400 && is_error(400, "object"), "OIP body a list: 400");
}

/* TF Serving: status, metadata, predict row/columnar, classify, regress. */
static void
test_tfs(void)
{
	double		x0[SF_P] = {0.75, 0, 1, 0, 0};
	MfModelScore s;

	MF_OK(call("GET", "/v1/models/lin", NULL) == 200 &&
		  json_array_size(json_object_get(ans, "model_version_status")) == 3 &&
		  strcmp(json_string_value(json_object_get(json_array_get(json_object_get(ans, "model_version_status"), 0), "state")), "AVAILABLE") == 0,
		  "GET /v1/models/lin: every version AVAILABLE");
	MF_OK(call("GET", "/v1/models/lin/labels/canary", NULL) == 200 &&
		  strcmp(json_string_value(json_object_get(json_array_get(json_object_get(ans, "model_version_status"), 0), "version")), "3") == 0,
		  "GET /v1/models/lin/labels/canary: version 3");
	MF_OK(call("GET", "/v1/models/lin/versions/2/metadata", NULL) == 200 &&
		  json_is_object(json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(
			  json_object_get(ans, "metadata"), "signature_def"), "signature_def"), "serving_default"), "inputs"), "colour")),
		  "GET .../metadata: signature inputs from the feature schema");
	call("POST", "/v1/models/lin:predict",
		 "{\"instances\":[{\"x\":0.75,\"flag\":false,\"colour\":\"blue\"},{\"x\":null,\"flag\":null,\"colour\":\"violet\"}]}");
	s = expect_obj(SF_LINEAR, "{\"x\":null,\"flag\":null,\"colour\":\"violet\"}");
	MF_OK(resp.status == 200 && same(json_array_get(json_object_get(ans, "predictions"), 0), expect_x(SF_LINEAR, x0).value) &&
		  same(json_array_get(json_object_get(ans, "predictions"), 1), s.value) && strcmp(resp.model_version, "1.1.0") == 0 &&
		  resp.version_number == 2, "TF row form, objects with text, null and an unseen category");
	MF_OK(call("POST", "/v1/models/lin/versions/1:predict", "{\"instances\":[[0.75,false,\"blue\"],[0.75,0,1,0,0]]}") == 200 &&
		  same(json_array_get(json_object_get(ans, "predictions"), 0), expect_x(SF_LINEAR, x0).value) &&
		  same(json_array_get(json_object_get(ans, "predictions"), 1), expect_x(SF_LINEAR, x0).value) &&
		  strcmp(resp.model_version, "1.0.0") == 0, "TF lists of raw inputs and of expanded features");
	call("POST", "/v1/models/mlp:predict", "{\"inputs\":{\"x\":[0.75,-1],\"flag\":[false,true],\"colour\":[{\"b64\":\"Ymx1ZQ==\"},\"red\"]}}");
	s = expect_x(SF_MLP, x0);
	MF_OK(resp.status == 200 && same(json_array_get(json_object_get(json_object_get(ans, "outputs"), "predict"), 0), s.value) &&
		  strcmp(json_string_value(json_array_get(json_object_get(json_object_get(ans, "outputs"), "label"), 0)), s.label) == 0,
		  "TF columnar form (with a b64 text) gives named outputs");
	call("POST", "/v1/models/mlp:predict", "{\"instances\":[{\"x\":0.75,\"flag\":false,\"colour\":\"blue\"}]}");
	MF_OK(resp.status == 200 && same(json_object_get(json_array_get(json_object_get(ans, "predictions"), 0), "predict"), s.value) &&
		  same_proba(json_object_get(json_array_get(json_object_get(ans, "predictions"), 0), "probabilities"), s.proba, 2),
		  "TF row form of a classifier: objects with predict, label, probabilities");
	token_hdr = "Bearer s3cret";
	call("POST", "/v1/models/log:classify", "{\"context\":{\"flag\":true},\"examples\":[{\"x\":[0.1],\"colour\":\"green\"}]}");
	s = expect_obj(SF_LOGISTIC, "{\"x\":0.1,\"flag\":true,\"colour\":\"green\"}");
	MF_OK(resp.status == 200 &&
		  strcmp(json_string_value(json_array_get(json_array_get(json_array_get(json_object_get(ans, "results"), 0), 1), 0)), "yes") == 0 &&
		  same(json_array_get(json_array_get(json_array_get(json_object_get(ans, "results"), 0), 1), 1), s.proba[1]),
		  ":classify with context and examples: (label, probability) pairs");
	token_hdr = NULL;
	MF_OK(call("POST", "/v1/models/lin:regress", "{\"examples\":[{\"x\":0.75,\"flag\":false,\"colour\":\"blue\"}]}") == 200 &&
		  same(json_array_get(json_object_get(ans, "results"), 0), expect_x(SF_LINEAR, x0).value), ":regress");
	MF_OK(call("POST", "/v1/models/lin:classify", "{\"examples\":[]}") == 400 && is_error(400, "not a classifier"),
		  ":classify of a regression: 400");
	MF_OK(call("POST", "/v1/models/lin:regress", "{\"examples\":[]}") == 400 && is_error(400, "empty"),
		  ":regress of an empty \"examples\": 400 (as TF Serving)");
	MF_OK(call("POST", "/v1/models/lin:predict", "{\"instances\":[]}") == 400 && is_error(400, "no values"),
		  ":predict of an empty \"instances\": 400 (as TF Serving)");
	MF_OK(call("POST", "/v1/models/lin:predict", "{\"inputs\":{\"x\":[],\"flag\":[],\"colour\":[]}}") == 400 &&
		  is_error(400, "no values"), ":predict of empty columns: 400");
	MF_OK(call("POST", "/v1/models/lin:predict", "{\"instances\":[{\"x\":0.75,\"flag\":false,\"colour\":\"blue\"},"
			   "[0.75,false,\"blue\"]]}") == 400 && is_error(400, "expecting object but got list at item 1"),
		  "instances mixing objects and lists: 400 (one form per request, as TF Serving)");
	MF_OK(call("POST", "/v1/models/lin:predict", "{\"instances\":[[0.75,false,\"blue\"],"
			   "{\"x\":0.75,\"flag\":false,\"colour\":\"blue\"}]}") == 400 && is_error(400, "expecting list but got object"),
		  "instances mixing lists and objects: 400");
	MF_OK(call("GET", "/v1/models/lin:predict", NULL) == 405 && resp.allow && strcmp(resp.allow, "POST") == 0,
		  "GET :predict: 405 with Allow: POST");
	MF_OK(call("POST", "/v1/models/lin/versions/99:predict", "{\"instances\":[]}") == 404 && is_error(404, "99"),
		  "unknown version: 404");
	MF_OK(call("POST", "/v1/models/lin/labels/nope:predict", "{\"instances\":[]}") == 404 && is_error(404, "nope"),
		  "unknown label: 404");
	MF_OK(call("POST", "/v1/models/lin:explain", "{}") == 404, "unknown verb: 404");
	MF_OK(call("POST", "/v1/models/lin:predict", "{\"instances\":[{\"x\":1,\"flag\":true}]}") == 400 && is_error(400, "colour"),
		  "missing input: 400 naming it");
	MF_OK(call("POST", "/v1/models/lin:predict", "{\"instances\":[{\"x\":\"abc\",\"flag\":true,\"colour\":null}]}") == 400 &&
		  is_error(400, "\"x\""), "text for a numeric input: 400");
	MF_OK(call("POST", "/v1/models/lin:predict", "{\"instances\":[[1,2]]}") == 400 && is_error(400, "3 inputs"),
		  "list of the wrong length: 400");
	MF_OK(call("POST", "/v1/models/lin:predict", "{\"instances\":[],\"inputs\":[]}") == 400 && is_error(400, "exactly one"),
		  "both instances and inputs: 400");
	MF_OK(call("POST", "/v1/models/lin:predict", "{\"inputs\":{\"x\":[1,2],\"flag\":[true]}}") == 400 && is_error(400, "lengths"),
		  "columnar lengths differ: 400");
	MF_OK(call("POST", "/v1/models/lin:predict", "{\"instances\":[{\"x\":1,\"x\":2}]}") == 400 && is_error(400, "malformed"),
		  "duplicate keys: 400");
	MF_OK(call("POST", "/v1/models/lin:predict", "") == 400 && is_error(400, "empty"), "empty body: 400");
	MF_OK(call("POST", "/v1/models/lin:predict", "{\"instances\":[{\"x\":1,\"flag\":tru") == 400 && is_error(400, "malformed"),
		  "truncated JSON: 400");
	{
		char		deep[200];

		memset(deep, '[', 100);
		memset(deep + 100, ']', 99);
		deep[199] = '\0';
		MF_OK(call("POST", "/v1/models/lin:predict", deep) == 400 && is_error(400, "nests deeper"), "deep nesting: 400");
	}
	{
		char	   *big = malloc(MF_SERVE_MAX_STRING + 64);

		sprintf(big, "{\"instances\":[{\"colour\":\"");
		memset(big + strlen(big), 'a', MF_SERVE_MAX_STRING + 1);
		strcpy(big + 25 + MF_SERVE_MAX_STRING + 1, "\"}]}");
		MF_OK(call("POST", "/v1/models/lin:predict", big) == 400 && is_error(400, "longer than"), "long string: 400");
		free(big);
	}
}

/* Policies: bearer 401, rate limit 429, max_batch, traffic split. */
static void
test_policies(void)
{
	int			first = 0;
	char		line[64];

	MF_OK(call("POST", "/v1/models/log:predict", "{\"instances\":[[0,1,0,1,0]]}") == 401 && resp.www_authenticate &&
		  is_error(401, "bearer"), "no token: 401 with WWW-Authenticate");
	token_hdr = "Bearer wrong";
	MF_OK(call("POST", "/v1/models/log:predict", "{\"instances\":[[0,1,0,1,0]]}") == 401, "wrong token: 401");
	token_hdr = "bearer   s3cret  ";
	MF_OK(call("POST", "/v1/models/log:predict", "{\"instances\":[[0,1,0,1,0]]}") == 200, "right token: 200");
	token_hdr = NULL;
	clock_now = 100.0;
	MF_OK(call("POST", "/v1/models/km:predict", "{\"instances\":[[0,1,0,1,0]]}") == 200 &&
		  call("POST", "/v1/models/km:predict", "{\"instances\":[[0,1,0,1,0]]}") == 200, "two requests within the limit");
	MF_OK(call("POST", "/v1/models/km:predict", "{\"instances\":[[0,1,0,1,0]]}") == 429 && resp.retry_after == 30 &&
		  is_error(429, "rate limit"), "third request of 2/minute: 429, Retry-After 30");
	clock_now = 130.5;
	MF_OK(call("POST", "/v1/models/km:predict", "{\"instances\":[[0,1,0,1,0]]}") == 200, "after Retry-After: 200");
	MF_OK(call("GET", "/v1/models/km", NULL) == 200, "status GETs do not count against the limit");
	clock_now = 500.0;
	MF_OK(call("POST", "/v1/models/km:predict", "{\"instances\":[[0,1,0,1,0],[0,1,0,1,0],[0,1,0,1,0],[0,1,0,1,0]]}") == 400 &&
		  is_error(400, "limit is 3"), "more rows than max_batch: 400");
	clock_now = 0.0;
	for (int i = 0; i < 2000; i++)
	{
		call("POST", "/v1/models/ab:predict", "{\"instances\":[[0,1,0,1,0]]}");
		first += strcmp(resp.model_version, "1.0.0") == 0;
	}
	snprintf(line, sizeof(line), "traffic split 30/70 over 2000: %d to 1.0.0", first);
	MF_OK(first > 600 - 90 && first < 600 + 90, line);
	MF_OK(call("POST", "/v1/models/ab/versions/12:predict", "{\"instances\":[[0,1,0,1,0]]}") == 200 &&
		  resp.version_number == 12, "a named version bypasses the split");
}

/* /metrics text and /health. */
static void
test_metrics(void)
{
	const char *t;
	char	   *inf,
			   *cnt;

	MF_OK(call("GET", "/metrics", NULL) == 200 && strstr(resp.content_type, "version=0.0.4") != NULL,
		  "GET /metrics: Prometheus text 0.0.4");
	t = resp.body;
	if (!MF_OK(strstr(t, "# TYPE mf_serve_requests_total counter\n") != NULL &&
		  strstr(t, "mf_serve_requests_total{model=\"lin\",version=\"1.1.0\",code=\"200\"} ") != NULL &&
		  strstr(t, "mf_serve_errors_total{model=\"log\",version=\"\",code=\"401\"} 3\n") != NULL &&
		  strstr(t, "mf_serve_errors_total{model=\"km\",version=\"\",code=\"429\"} 1\n") != NULL,
			   "counters per model, version and status code"))
		MF_DIAG("%s", t);
	inf = strstr(t, "mf_serve_request_duration_seconds_bucket{model=\"ab\",version=\"1.1.0\",le=\"+Inf\"} ");
	cnt = strstr(t, "mf_serve_request_duration_seconds_count{model=\"ab\",version=\"1.1.0\"} ");
	MF_OK(strstr(t, "# TYPE mf_serve_request_duration_seconds histogram\n") && inf && cnt &&
		  strtol(strchr(inf, '}') + 2, NULL, 10) == strtol(strchr(cnt, '}') + 2, NULL, 10) &&
		  strtol(strchr(cnt, '}') + 2, NULL, 10) > 1000, "histogram: +Inf bucket equals _count");
	MF_OK(call("GET", "/health", NULL) == 200 && strcmp(json_string_value(json_object_get(ans, "status")), "ok") == 0 &&
		  json_array_size(json_object_get(ans, "models")) == 5, "GET /health lists the models");
	MF_OK(call("POST", "/predict", "{}") == 404 && is_error(404, "one model"), "/predict on a many-model server: 404");
}

/* The generated one-model API, and a catalog swap under a held reference. */
static void
test_generated(void)
{
	MfServeCatalogBuilder *b = mf_serve_builder_new();
	MfServeCatalog *old = mf_serve_get_catalog(srv);
	MfModelScore s = expect_obj(SF_LOGISTIC, "{\"x\":0.3,\"flag\":null,\"colour\":\"red\"}");
	char		err[256];

	add(b, "churn", SF_LOGISTIC, "1.0.0", 1, "production");
	mf_serve_set_catalog(srv, mf_serve_builder_finish(b, err, sizeof(err)));
	call("POST", "/predict", "{\"x\":0.3,\"flag\":null,\"colour\":\"red\",\"extra\":1}");
	MF_OK(resp.status == 200 && same(json_object_get(ans, "prediction"), s.value) &&
		  strcmp(json_string_value(json_object_get(ans, "label")), s.label) == 0 &&
		  same(json_object_get(json_object_get(ans, "probabilities"), "yes"), s.proba[1]) &&
		  strcmp(resp.model_version, "1.0.0") == 0, "POST /predict answers as mf_predict(ref, jsonb)");
	MF_OK(call("POST", "/batch_predict", "[{\"x\":0.3,\"flag\":null,\"colour\":\"red\"},{\"x\":1,\"flag\":true,\"colour\":null}]") == 200 &&
		  json_array_size(ans) == 2 && same(json_object_get(json_array_get(ans, 0), "prediction"), s.value),
		  "POST /batch_predict: a list");
	MF_OK(call("POST", "/batch_predict", "{\"x\":1}") == 400 && is_error(400, "list"), "/batch_predict of an object: 400");
	MF_OK(call("POST", "/predict", "{\"x\":1e999}") == 400, "/predict with an overflowing number: 400");
	MF_OK(call("GET", "/predict", NULL) == 405, "GET /predict: 405");
	MF_OK(mf_serve_catalog_find(old, "lin") != NULL && mf_serve_catalog_size(old) == 5,
		  "the old catalog stays whole while a reference is held");
	mf_serve_catalog_unref(old);
	{
		MfServeRequest req = {"POST", "/predict", NULL, "1.2.3.4", "{}", 2, true, 0, NULL, NULL};

		mf_serve_response_free(&resp);
		mf_serve_handle(srv, &req, &resp);
		MF_OK(resp.status == 413, "a body the daemon cut: 413");
	}
	mf_serve_set_catalog(srv, NULL);
	MF_OK(call("GET", "/v2/health/ready", NULL) == 503 && call("GET", "/health", NULL) == 503,
		  "no catalog: not ready (503)");
}

/* Fit the fixtures, open them for the expected scores, run the cases. */
int
main(void)
{
	MfArtAllocator heap = {mfk_malloc_allocator.alloc, mfk_malloc_allocator.free, NULL};

	if (!MF_OK(sf_fit(), "fixture models fitted and written"))
		return mf_test_done();
	for (int i = 0; i < SF_NMODELS; i++)
		if (mf_trained_model_open(&tms[i], sf_models[i].bytes, sf_models[i].len, true, &heap, NULL) != MF_MODEL_OK ||
			mf_model_work_init(&tms[i], &works[i], &heap) != MF_MODEL_OK)
			MF_OK(0, "fixture model opens");
	srv = mf_serve_new(NULL);
	test_catalog();
	test_oip_routes();
	test_oip_infer();
	test_tfs();
	test_policies();
	test_metrics();
	test_generated();
	mf_serve_response_free(&resp);
	json_decref(ans);
	mf_serve_free(srv);
	for (int i = 0; i < SF_NMODELS; i++)
	{
		mf_model_work_free(&works[i], &heap);
		mf_trained_model_free(&tms[i]);
		free(sf_models[i].bytes);
	}
	return mf_test_done();
}
