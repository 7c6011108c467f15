/*
 * test_serve_predlog.c - the prediction log of the serving core
 * (serve/predlog.c) on every scoring route: TF Serving predict (row and
 * columnar forms) and classify, OIP infer (with and without a row-id
 * tensor), /predict and /batch_predict.  Each line must have the same
 * members, the answered label as prediction, the row ids the client sent
 * (else <request id>/<index>) and the request id of X-Request-Id (else the
 * OIP body's id); a refused request and a request carrying the server's
 * probe token log nothing, a wrong token is logged like any request.
 *
 * The sink collects the lines in memory; the models are fitted in the test
 * (serve_fixtures.h).
 */
#include "model.h"
#include "serve_int.h"
#include "serve_fixtures.h"
#include "mf_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN "0123456789abcdef0123456789abcdef"

static MfServe *srv;
static MfServeResponse resp;
static json_t *ans;				/* the last answer's parsed body */
static char sink[65536];		/* what the sink got since the last call */
static size_t sink_len;

/* The log sink: append the lines. */
static void
collect(void *arg, const char *lines, size_t len)
{
	(void) arg;
	if (sink_len + len < sizeof(sink))
	{
		memcpy(sink + sink_len, lines, len);
		sink_len += len;
		sink[sink_len] = '\0';
	}
}

/* Send one request (request id and probe header may be NULL); returns the status. */
static int
call(const char *path, const char *body, const char *request_id, const char *probe)
{
	MfServeRequest req = {0};

	json_decref(ans);
	ans = NULL;
	sink_len = 0;
	sink[0] = '\0';
	mf_serve_response_free(&resp);
	req.method = "POST";
	req.path = path;
	req.body = body;
	req.body_len = strlen(body);
	req.client = "10.0.0.1";
	req.request_id = request_id;
	req.probe = probe;
	mf_serve_handle(srv, &req, &resp);
	if (resp.body != NULL)
		ans = json_loadb(resp.body, resp.body_len, 0, NULL);
	return resp.status;
}

/* The logged lines since the last call as a JSON array (each line checked for the members). */
static json_t *
logged(void)
{
	json_t	   *out = json_array();
	char	   *save = NULL;
	char		copy[sizeof(sink)];

	memcpy(copy, sink, sink_len + 1);
	for (char *line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
	{
		json_t	   *o = json_loads(line, JSON_REJECT_DUPLICATES, NULL);

		if (json_object_size(o) != 8 || json_integer_value(json_object_get(o, "deployment_id")) != 42 ||
			strcmp(json_string_value(json_object_get(o, "name")), "churn") != 0 ||
			strcmp(json_string_value(json_object_get(o, "version")), "1.0.0") != 0 ||
			json_integer_value(json_object_get(o, "number")) != 5 ||
			!json_is_string(json_object_get(o, "request_id")) || !json_is_string(json_object_get(o, "row_id")) ||
			!json_is_string(json_object_get(o, "prediction")) || !json_is_real(json_object_get(o, "at")))
		{
			MF_DIAG("  bad line: %s", line);
			json_decref(o);
			continue;
		}
		json_array_append_new(out, o);
	}
	return out;
}

/*
 * True when the lines are n rows of request id rid, row ids ids[] (NULL:
 * <rid>/<i>) and predictions labels[] (the answered labels); takes both
 * references.
 */
static bool
lines_are(json_t *lines, size_t n, const char *rid, const char *const *ids, json_t *labels)
{
	bool		ok = json_array_size(lines) == n && json_array_size(labels) == n;

	for (size_t i = 0; ok && i < n; i++)
	{
		json_t	   *o = json_array_get(lines, i);
		char		want[160];

		if (ids != NULL)
			snprintf(want, sizeof(want), "%s", ids[i]);
		else
			snprintf(want, sizeof(want), "%s/%zu", rid, i);
		ok = (rid == NULL || strcmp(json_string_value(json_object_get(o, "request_id")), rid) == 0) &&
			strcmp(json_string_value(json_object_get(o, "row_id")), want) == 0 &&
			strcmp(json_string_value(json_object_get(o, "prediction")), json_string_value(json_array_get(labels, i))) == 0;
	}
	if (!ok)
		MF_DIAG("  logged %s", sink);
	json_decref(lines);
	json_decref(labels);
	return ok;
}

/* The labels of a TF answer ({"predictions": [{"label": ...}]} or classify's [[label, score]...]). */
static json_t *
tf_labels(bool classify)
{
	json_t	   *out = json_array();
	json_t	   *list = json_object_get(ans, classify ? "results" : "predictions");
	size_t		i;
	json_t	   *v;

	json_array_foreach(list, i, v)
	{
		if (classify)
		{
			/* the winning class: the pair with the highest score */
			json_t	   *best = NULL;
			size_t		k;
			json_t	   *pair;

			json_array_foreach(v, k, pair)
				if (best == NULL || json_number_value(json_array_get(pair, 1)) > json_number_value(json_array_get(best, 1)))
				best = pair;
			json_array_append(out, json_array_get(best, 0));
		}
		else
			json_array_append(out, json_object_get(v, "label"));
	}
	return out;
}

/* The label output of an OIP answer. */
static json_t *
oip_labels(void)
{
	size_t		i;
	json_t	   *o;

	json_array_foreach(json_object_get(ans, "outputs"), i, o)
		if (strcmp(json_string_value(json_object_get(o, "name")), "label") == 0)
		return json_incref(json_object_get(o, "data"));
	return json_array();
}

/* The labels of /predict (one object) or /batch_predict (a list). */
static json_t *
generated_labels(void)
{
	json_t	   *out = json_array();
	size_t		i;
	json_t	   *v;

	if (json_is_object(ans))
		json_array_append(out, json_object_get(ans, "label"));
	json_array_foreach(ans, i, v)
		json_array_append(out, json_object_get(v, "label"));
	return out;
}

/* A one-name catalog: churn (the logistic fixture), logged with id member "oid". */
static void
install(void)
{
	MfServeCatalogBuilder *b = mf_serve_builder_new();
	MfServeVersionSpec v = {"1.0.0", 5, NULL, 0, "2026-12-05T10:00:00Z", NULL, 0};
	MfServePolicy pol = {0};
	char		err[256];

	v.artifact = sf_models[SF_LOGISTIC].bytes;
	v.artifact_len = sf_models[SF_LOGISTIC].len;
	pol.log_predictions = true;
	pol.deployment_id = 42;
	strcpy(pol.log_id_field, "oid");
	MF_OK(mf_serve_builder_add_version(b, "churn", &v, err, sizeof(err)) &&
		  mf_serve_builder_set_policy(b, "churn", &pol, err, sizeof(err)), "catalog with a logged name");
	mf_serve_set_catalog(srv, mf_serve_builder_finish(b, err, sizeof(err)));
}

/* TF Serving REST: predict (rows, columns) and classify. */
static void
test_tfs(void)
{
	const char *const ab[] = {"a1", "a2"};
	const char *const cols[] = {"c1", "7"};

	call("/v1/models/churn:predict", "{\"instances\":[{\"oid\":\"a1\",\"x\":0.3,\"flag\":true,\"colour\":\"red\"},"
		 "{\"oid\":\"a2\",\"x\":-1,\"flag\":false,\"colour\":\"blue\"}]}", "rq-1", NULL);
	MF_OK(resp.status == 200 && lines_are(logged(), 2, "rq-1", ab, tf_labels(false)),
		  ":predict rows: one line a row, the oid members and X-Request-Id");
	call("/v1/models/churn:predict", "{\"inputs\":{\"oid\":[\"c1\",7],\"x\":[0.3,-1],\"flag\":[true,false],"
		 "\"colour\":[\"red\",\"blue\"]}}", "rq-2", NULL);
	MF_OK(resp.status == 200 &&
		  lines_are(logged(), 2, "rq-2", cols, json_incref(json_object_get(json_object_get(ans, "outputs"), "label"))),
		  ":predict columnar: the oid input's elements (an integer as digits)");
	call("/v1/models/churn:classify", "{\"examples\":[{\"x\":0.3,\"flag\":true,\"colour\":\"red\"}]}", "rq-3", NULL);
	MF_OK(resp.status == 200 && lines_are(logged(), 1, "rq-3", NULL, tf_labels(true)),
		  ":classify: logged, row id <X-Request-Id>/<index>");
	MF_OK(call("/v1/models/churn:predict", "{\"instances\":[{\"oid\":\"z\",\"x\":\"oops\"}]}", "rq-4", NULL) == 400 &&
		  sink_len == 0, "a refused request logs nothing");
}

/* OIP infer: an oid tensor beside the inputs, the body's id, no id at all. */
static void
test_oip(void)
{
	const char *const ids[] = {"o1", "o2", "o3"};
	const char *body = "{\"id\":\"oip-7\",\"inputs\":["
		"{\"name\":\"x\",\"shape\":[3],\"datatype\":\"FP64\",\"data\":[0.3,-1,2]},"
		"{\"name\":\"oid\",\"shape\":[3],\"datatype\":\"BYTES\",\"data\":[\"o1\",\"o2\",\"o3\"]},"
		"{\"name\":\"flag\",\"shape\":[3],\"datatype\":\"BOOL\",\"data\":[true,false,true]},"
		"{\"name\":\"colour\",\"shape\":[3,1],\"datatype\":\"BYTES\",\"data\":[[\"red\"],[\"blue\"],[\"green\"]]}]}";

	call("/v2/models/churn/infer", body, NULL, NULL);
	MF_OK(resp.status == 200 && lines_are(logged(), 3, "oip-7", ids, oip_labels()),
		  "OIP infer: the oid tensor's elements as row ids, the body's id as request id");
	call("/v2/models/churn/infer", body, "hdr-1", NULL);
	MF_OK(resp.status == 200 && lines_are(logged(), 3, "hdr-1", ids, oip_labels()),
		  "OIP infer: X-Request-Id wins over the body's id");
	call("/v2/models/churn/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[0.5]},"
		 "{\"name\":\"flag\",\"shape\":[1],\"datatype\":\"BOOL\",\"data\":[false]},"
		 "{\"name\":\"colour\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"red\"]}]}", "noid", NULL);
	MF_OK(resp.status == 200 && lines_are(logged(), 1, "noid", NULL, oip_labels()),
		  "OIP infer without an oid tensor: <request id>/<index>");
	MF_OK(call("/v2/models/churn/infer", "{\"inputs\":[{\"name\":\"oid\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"q\"]}]}",
			   NULL, NULL) == 400 && strstr(resp.body, "row-id input") != NULL && sink_len == 0,
		  "OIP infer of the oid tensor alone: 400, nothing logged");
	MF_OK(call("/v2/models/churn/infer", "{\"inputs\":[{\"name\":\"bogus\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
			   "{\"name\":\"oid\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"q\"]}]}", NULL, NULL) == 400 && sink_len == 0,
		  "OIP infer with an unknown input beside the oid tensor: 400, nothing logged");
}

/* The generated API, and the probe token. */
static void
test_generated_and_probe(void)
{
	const char *const one[] = {"g1"};
	const char *const two[] = {"b1", "b2"};
	const char *row = "{\"oid\":\"g1\",\"x\":0.3,\"flag\":null,\"colour\":\"red\"}";

	call("/predict", row, "gen-1", NULL);
	MF_OK(resp.status == 200 && lines_are(logged(), 1, "gen-1", one, generated_labels()), "/predict is logged");
	call("/batch_predict", "[{\"oid\":\"b1\",\"x\":0.3,\"flag\":null,\"colour\":\"red\"},"
		 "{\"oid\":\"b2\",\"x\":1,\"flag\":true,\"colour\":null}]", "gen-2", NULL);
	MF_OK(resp.status == 200 && lines_are(logged(), 2, "gen-2", two, generated_labels()), "/batch_predict is logged");
	MF_OK(call("/predict", row, "probe", TOKEN) == 200 && sink_len == 0, "a request with the probe token: answered, not logged");
	MF_OK(call("/v1/models/churn:predict", "{\"instances\":[{\"x\":0.3,\"flag\":true,\"colour\":\"red\"}]}", NULL, TOKEN) == 200 &&
		  sink_len == 0, "the canary's route with the probe token: not logged");
	call("/predict", row, "probe-2", "0123456789abcdef0123456789abcdeX");
	MF_OK(resp.status == 200 && lines_are(logged(), 1, "probe-2", one, generated_labels()), "a wrong probe token is logged");
	call("/predict", row, "probe-3", "0123");
	MF_OK(resp.status == 200 && lines_are(logged(), 1, "probe-3", one, generated_labels()), "a short probe token is logged");
}

/* Fit the fixtures, serve churn with a log sink, run the cases. */
int
main(void)
{
	MfServeOptions opt = {0};

	if (!MF_OK(sf_fit(), "fixture models fitted and written"))
		return mf_test_done();
	opt.log_sink = collect;
	strcpy(opt.probe_token, TOKEN);
	srv = mf_serve_new(&opt);
	install();
	test_tfs();
	test_oip();
	test_generated_and_probe();
	mf_serve_response_free(&resp);
	json_decref(ans);
	mf_serve_free(srv);
	for (int i = 0; i < SF_NMODELS; i++)
		free(sf_models[i].bytes);
	return mf_test_done();
}
