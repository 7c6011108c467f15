/*
 * smoke.c - the smoke test of a running model server (see smoke.h for the
 * design note): the in-process reference server, the requests, libcurl,
 * the comparison and the latency percentiles.  Pure C.
 */
#include "smoke.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "serve.h"

/* A response body being received. */
typedef struct MfSmokeBody
{
	char	   *data;
	size_t		len;
	bool		too_large;
} MfSmokeBody;

/* One run's state. */
typedef struct MfSmokeRun
{
	const MfSmokeSpec *spec;
	MfServe    *ref;			/* the in-process reference server */
	CURL	   *curl;
	char		path[512];		/* /v2/models/{name}/versions/{semver}/infer */
	json_t	   *datatypes;		/* input name -> datatype, from the reference's metadata */
	json_t	   *mismatch_rows;	/* details kept */
	json_t	   *statuses;		/* status code -> count */
	double	   *latencies;
	int			n_latencies;
	const char *remote_version; /* model_version the server answered (owned by last_version) */
	json_t	   *last_version;
} MfSmokeRun;

/* Set res->error (printf-style); returns false. */
static bool MfSmokeFail(MfSmokeResult *res, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static bool
MfSmokeFail(MfSmokeResult *res, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
	return false;
}

/* Monotonic milliseconds. */
static double
MfSmokeNowMs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* libcurl write callback: append, refusing bodies over MF_SMOKE_MAX_RESPONSE. */
static size_t
MfSmokeWrite(char *ptr, size_t size, size_t nmemb, void *arg)
{
	MfSmokeBody *b = arg;
	size_t		n = size * nmemb;
	char	   *d;

	if (b->len + n > MF_SMOKE_MAX_RESPONSE)
	{
		b->too_large = true;
		return 0;
	}
	d = realloc(b->data, b->len + n + 1);
	if (d == NULL)
		return 0;
	memcpy(d + b->len, ptr, n);
	b->data = d;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* The reference server: an MfServe holding only the version's artifact. */
static bool
MfSmokeReference(MfSmokeRun *r, MfSmokeResult *res)
{
	const MfSmokeSpec *s = r->spec;
	MfServeCatalogBuilder *b = mf_serve_builder_new();
	MfServeVersionSpec v = {0};
	MfServeCatalog *cat;
	char		err[512];

	if (b == NULL)
		return MfSmokeFail(res, "out of memory");
	v.semver = s->version;
	v.number = s->version_number;
	v.artifact = s->artifact;
	v.artifact_len = s->artifact_len;
	if (!mf_serve_builder_add_version(b, s->name, &v, err, sizeof(err)))
	{
		mf_serve_builder_discard(b);
		return MfSmokeFail(res, "the version's artifact cannot be served: %s", err);
	}
	if ((cat = mf_serve_builder_finish(b, err, sizeof(err))) == NULL)
		return MfSmokeFail(res, "the version's artifact cannot be served: %s", err);
	if ((r->ref = mf_serve_new(NULL)) == NULL)
	{
		mf_serve_catalog_unref(cat);
		return MfSmokeFail(res, "out of memory");
	}
	mf_serve_set_catalog(r->ref, cat);
	return true;
}

/* Ask the reference server (method, path, body); the response is the caller's to free. */
static void
MfSmokeAskReference(MfSmokeRun *r, const char *method, const char *path, const char *body, MfServeResponse *resp)
{
	MfServeRequest req = {0};

	req.method = method;
	req.path = path;
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	req.client = "smoke-test";
	memset(resp, 0, sizeof(*resp));
	mf_serve_handle(r->ref, &req, resp);
}

/* The datatype of each input, from the reference's model metadata. */
static bool
MfSmokeDatatypes(MfSmokeRun *r, MfSmokeResult *res)
{
	char		path[512];
	MfServeResponse resp;
	json_t	   *meta,
			   *in;
	size_t		i;

	snprintf(path, sizeof(path), "/v2/models/%s/versions/%s", r->spec->name, r->spec->version);
	MfSmokeAskReference(r, "GET", path, NULL, &resp);
	meta = resp.status == 200 && resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
	mf_serve_response_free(&resp);
	if (meta == NULL)
		return MfSmokeFail(res, "the reference server gave no model metadata (HTTP %d)", resp.status);
	r->datatypes = json_pack("{}");
	json_array_foreach(json_object_get(meta, "inputs"), i, in)
	{
		const char *n = json_string_value(json_object_get(in, "name"));
		const char *dt = json_string_value(json_object_get(in, "datatype"));

		if (n != NULL && dt != NULL)
			json_object_set_new(r->datatypes, n, json_string(dt));
	}
	json_decref(meta);
	return true;
}

/* The OIP request of one row: one [1] tensor per feature. */
static char *
MfSmokeRequest(MfSmokeRun *r, const json_t *row, size_t index)
{
	json_t	   *inputs = json_array();
	json_t	   *body;
	const char *key;
	json_t	   *v;
	char		id[32];
	char	   *text;

	json_object_foreach((json_t *) row, key, v)
	{
		const char *dt = json_string_value(json_object_get(r->datatypes, key));

		if (dt == NULL)
			dt = json_is_string(v) ? "BYTES" : json_is_boolean(v) ? "BOOL" : "FP64";
		json_array_append_new(inputs, json_pack("{s:s,s:[i],s:s,s:[O]}", "name", key, "shape", 1,
												"datatype", dt, "data", v));
	}
	snprintf(id, sizeof(id), "smoke-%zu", index);
	body = json_pack("{s:s,s:o}", "id", id, "inputs", inputs);
	text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(body);
	return text;
}

/* Send a request to the server under test; the HTTP status, or 0 with err on a transport error. */
static long
MfSmokeSend(MfSmokeRun *r, const char *url, const char *body, MfSmokeBody *out, double *ms, char *err, size_t errlen)
{
	struct curl_slist *h = NULL;
	char		cerr[CURL_ERROR_SIZE] = "";
	long		status = 0;
	double		t0;
	CURLcode	rc;

	curl_easy_reset(r->curl);
	curl_easy_setopt(r->curl, CURLOPT_URL, url);
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, r->spec->timeout_ms);
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT_MS, r->spec->timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(r->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, MfSmokeWrite);
	curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, out);
	if (body != NULL)
	{
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
	}
	t0 = MfSmokeNowMs();
	rc = curl_easy_perform(r->curl);
	*ms = MfSmokeNowMs() - t0;
	curl_slist_free_all(h);
	if (rc != CURLE_OK)
	{
		snprintf(err, errlen, "%s", out->too_large ? "the answer exceeded 4 MB" : cerr[0] ? cerr : curl_easy_strerror(rc));
		return 0;
	}
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* Count a status code in the details. */
static void
MfSmokeCountStatus(MfSmokeRun *r, long status)
{
	char		key[16];
	json_t	   *c;

	snprintf(key, sizeof(key), "%ld", status);
	c = json_object_get(r->statuses, key);
	json_object_set_new(r->statuses, key, json_integer((c ? json_integer_value(c) : 0) + 1));
}

/* Keep a mismatching row in the details (the first MF_SMOKE_MAX_DETAILS). */
static void
MfSmokeKeepMismatch(MfSmokeRun *r, size_t row, long expected_status, const char *expected,
					long got_status, const char *got)
{
	if (json_array_size(r->mismatch_rows) >= MF_SMOKE_MAX_DETAILS)
		return;
	json_array_append_new(r->mismatch_rows,
						  json_pack("{s:I,s:I,s:s#,s:I,s:s#}", "row", (json_int_t) row,
									"expected_status", (json_int_t) expected_status,
									"expected", expected ? expected : "", expected ? (int) (strlen(expected) < 1000 ? strlen(expected) : 1000) : 0,
									"got_status", (json_int_t) got_status,
									"got", got ? got : "", got ? (int) (strlen(got) < 1000 ? strlen(got) : 1000) : 0));
}

/* Do the two answers of a row agree (both 200, equal outputs)? */
static bool
MfSmokeSame(MfSmokeRun *r, const MfServeResponse *want, long got_status, const MfSmokeBody *got)
{
	json_t	   *a,
			   *b;
	bool		same;

	if (want->status != 200 || got_status != 200 || want->body == NULL || got->data == NULL)
		return false;
	a = json_loadb(want->body, want->body_len, 0, NULL);
	b = json_loadb(got->data, got->len, 0, NULL);
	same = a != NULL && b != NULL && json_object_get(a, "outputs") != NULL &&
		json_equal(json_object_get(a, "outputs"), json_object_get(b, "outputs"));
	if (b != NULL && json_is_string(json_object_get(b, "model_version")))
	{
		json_decref(r->last_version);
		r->last_version = json_incref(json_object_get(b, "model_version"));
		r->remote_version = json_string_value(r->last_version);
	}
	json_decref(a);
	json_decref(b);
	return same;
}

/* Send one row to both servers and compare; false on a transport error (err set). */
static bool
MfSmokeRow(MfSmokeRun *r, const json_t *row, size_t index, const char *url, MfSmokeResult *res,
		   char *err, size_t errlen)
{
	char	   *body = MfSmokeRequest(r, row, index);
	MfServeResponse want;
	MfSmokeBody got = {0};
	double		ms;
	long		status;
	bool		sent;

	if (body == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return false;
	}
	MfSmokeAskReference(r, "POST", r->path, body, &want);
	status = MfSmokeSend(r, url, body, &got, &ms, err, errlen);
	sent = status != 0;
	res->rows++;
	if (sent)
	{
		r->latencies[r->n_latencies++] = ms;
		MfSmokeCountStatus(r, status);
	}
	if (!sent || !MfSmokeSame(r, &want, status, &got))
	{
		res->mismatches++;
		MfSmokeKeepMismatch(r, index, want.status, want.body, status, sent ? got.data : err);
	}
	mf_serve_response_free(&want);
	free(got.data);
	free(body);
	return sent;
}

/* qsort order of doubles. */
static int
MfSmokeCmp(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile q of the sorted latencies. */
static double
MfSmokePercentile(const double *v, int n, double q)
{
	int			k = (int) ceil(q * n);

	return n == 0 ? -1 : v[(k < 1 ? 1 : k) - 1];
}

/* GET /v2/health/ready must answer 200. */
static bool
MfSmokeReady(MfSmokeRun *r, char *err, size_t errlen)
{
	char		url[2600];
	MfSmokeBody b = {0};
	double		ms;
	long		status;

	snprintf(url, sizeof(url), "%s/v2/health/ready", r->spec->endpoint);
	status = MfSmokeSend(r, url, NULL, &b, &ms, err, errlen);
	free(b.data);
	if (status == 0)
		return false;
	if (status != 200)
	{
		snprintf(err, errlen, "GET %s answered HTTP %ld, not 200", url, status);
		return false;
	}
	return true;
}

/* Send every row; false when the test stopped on transport errors (err set). */
static bool
MfSmokeRows(MfSmokeRun *r, const json_t *rows, MfSmokeResult *res, char *err, size_t errlen)
{
	char		url[2600];
	size_t		i;
	json_t	   *row;
	int			failures_in_a_row = 0;

	snprintf(url, sizeof(url), "%s%s", r->spec->endpoint, r->path);
	json_array_foreach((json_t *) rows, i, row)
	{
		if (r->spec->cancelled != NULL && r->spec->cancelled(r->spec->cancel_arg))
			return MfSmokeFail(res, "cancelled");
		failures_in_a_row = MfSmokeRow(r, row, i, url, res, err, errlen) ? 0 : failures_in_a_row + 1;
		if (failures_in_a_row >= MF_SMOKE_MAX_TRANSPORT_ERRORS)
		{
			res->mismatches += (int) (json_array_size(rows) - i - 1);
			res->rows = (int) json_array_size(rows);
			return false;
		}
		if (r->spec->progress != NULL)
			r->spec->progress(r->spec->cancel_arg, (int) i + 1, (int) json_array_size(rows));
	}
	return true;
}

/* The details object of a result. */
static char *
MfSmokeDetails(MfSmokeRun *r, const char *transport_error)
{
	json_t	   *d = json_pack("{s:s,s:s,s:s,s:O,s:O}", "path", r->path, "expected_version", r->spec->version,
							  "answered_version", r->remote_version ? r->remote_version : "",
							  "status_counts", r->statuses, "mismatch_rows", r->mismatch_rows);
	char	   *text;

	if (d != NULL && transport_error != NULL && transport_error[0] != '\0')
		json_object_set_new(d, "transport_error", json_string(transport_error));
	text = d ? json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(d);
	return text;
}

/* Free a run's state. */
static void
MfSmokeRunFree(MfSmokeRun *r)
{
	if (r->curl)
		curl_easy_cleanup(r->curl);
	if (r->ref)
		mf_serve_free(r->ref);
	json_decref(r->datatypes);
	json_decref(r->mismatch_rows);
	json_decref(r->statuses);
	json_decref(r->last_version);
	free(r->latencies);
}

/* Compare the rows now that the reference and the client are ready. */
static bool
MfSmokeCompare(MfSmokeRun *r, const json_t *rows, MfSmokeResult *res)
{
	char		err[512] = "";
	bool		ready = MfSmokeReady(r, err, sizeof(err));

	if (!ready)
	{
		res->rows = (int) json_array_size(rows);
		res->mismatches = res->rows;
		snprintf(res->error, sizeof(res->error), "endpoint %s is not ready: %s", r->spec->endpoint, err);
	}
	else if (!MfSmokeRows(r, rows, res, err, sizeof(err)))
	{
		if (res->error[0] != '\0')
			return false;		/* cancelled */
		snprintf(res->error, sizeof(res->error), "endpoint %s stopped answering (%d rows without an answer in a row): %s",
				 r->spec->endpoint, MF_SMOKE_MAX_TRANSPORT_ERRORS, err);
	}
	qsort(r->latencies, r->n_latencies, sizeof(double), MfSmokeCmp);
	res->p50_ms = MfSmokePercentile(r->latencies, r->n_latencies, 0.50);
	res->p99_ms = MfSmokePercentile(r->latencies, r->n_latencies, 0.99);
	res->passed = res->error[0] == '\0' && res->rows > 0 && res->mismatches == 0;
	res->details = MfSmokeDetails(r, ready ? err : NULL);
	return true;
}

/* Run the smoke test. */
bool
mf_smoke_run(const MfSmokeSpec *spec, MfSmokeResult *res)
{
	MfSmokeRun	r = {0};
	json_t	   *rows;
	json_error_t jerr;
	bool		ok;

	memset(res, 0, sizeof(*res));
	res->p50_ms = res->p99_ms = -1;
	r.spec = spec;
	rows = json_loads(spec->rows_json, 0, &jerr);
	if (!json_is_array(rows) || json_array_size(rows) == 0)
	{
		json_decref(rows);
		return MfSmokeFail(res, "the version's test rows are not a non-empty JSON array");
	}
	snprintf(r.path, sizeof(r.path), "/v2/models/%s/versions/%s/infer", spec->name, spec->version);
	r.mismatch_rows = json_array();
	r.statuses = json_pack("{}");
	r.latencies = calloc(json_array_size(rows) + 1, sizeof(double));
	r.curl = curl_easy_init();
	ok = r.mismatch_rows && r.statuses && r.latencies && r.curl ? true : MfSmokeFail(res, "out of memory");
	ok = ok && MfSmokeReference(&r, res) && MfSmokeDatatypes(&r, res) && MfSmokeCompare(&r, rows, res);
	MfSmokeRunFree(&r);
	json_decref(rows);
	return ok;
}

/* Free what a result holds. */
void
mf_smoke_result_free(MfSmokeResult *res)
{
	free(res->details);
	res->details = NULL;
}
