/*
 * monitor_health.c - one round of health checks of a deployment, over
 * libcurl, outside any transaction.
 *
 * Design note
 * -----------
 * A round asks the server, each with options.health.timeout:
 *   ready          GET <base>/v2/health/ready              200 expected
 *   model_loaded   GET <base>/v2/models/<name>/ready       200 expected (401 too: a
 *                                                         deployment with a bearer token
 *                                                         has its model; the monitor has
 *                                                         no token)
 *   canary         POST <base>/v1/models/<name>:predict    200 and "predictions",
 *                  {"instances": [<canary row>]}          (only with a canary row: see
 *                                                         mf._monitor_targets); to the
 *                                                         in-database server with header
 *                                                         X-Mf-Probe: <the cluster's probe
 *                                                         token>, so it is not logged as a
 *                                                         prediction (serve/predlog.c)
 *   response_time  the canary's latency (else model_loaded's) against
 *                  options.health.response_time_ms
 *   memory_usage   GET <base>/metrics: the server's own
 *                  process_resident_memory_bytes against options.health.memory_mb
 *                  (no threshold: passes when the server answers /metrics)
 * When the server cannot be reached at all (no HTTP answer to ready), the
 * other checks are not tried and fail with the same error, so a dead server
 * costs one timeout per round, not five.  The /metrics text is handed back
 * for the scrape of remote deployments.  libcurl runs with NOSIGNAL and
 * explicit timeouts; a progress callback aborts a transfer when the worker
 * is asked to stop.  Bodies beyond 4 MB are refused.
 */
#include "postgres.h"

#include <curl/curl.h>
#include <math.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"

#include "monitor.h"
#include "prom_text.h"
#include "serve.h"

#define MF_MON_MAX_BODY (4 * 1024 * 1024)

/* What one request brought back. */
typedef struct MfMonAnswer
{
	int			status;			/* 0: none */
	double		ms;
	StringInfoData body;
	char		error[CURL_ERROR_SIZE];
} MfMonAnswer;

/* Once per worker: libcurl's global state. */
void
MfMonHealthInit(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("mf_ext monitor: could not initialise libcurl")));
}

/* libcurl write callback: append to the body (refuse beyond the cap). */
static size_t
MfMonWrite(char *data, size_t size, size_t n, void *arg)
{
	MfMonAnswer *a = (MfMonAnswer *) arg;
	size_t		len = size * n;

	if ((size_t) a->body.len + len > MF_MON_MAX_BODY)
		return 0;
	appendBinaryStringInfo(&a->body, data, (int) len);
	return len;
}

/* libcurl progress callback: abort when the worker must stop. */
static int
MfMonProgress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	return (ProcDiePending || QueryCancelPending) ? 1 : 0;
}

/* One request (body NULL: GET; else POST of JSON, with the probe header when probe is set). */
static void
MfMonRequest(const char *url, const char *body, const char *probe, double timeout_s, MfMonAnswer *a)
{
	CURL	   *h = curl_easy_init();
	struct curl_slist *hdr = NULL;
	CURLcode	rc;
	long		code = 0;
	double		secs = 0;

	memset(a, 0, sizeof(*a));
	initStringInfo(&a->body);
	if (h == NULL)
	{
		strlcpy(a->error, "could not create a libcurl handle", sizeof(a->error));
		return;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) (timeout_s * 1000));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) (timeout_s * 1000));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, MfMonWrite);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, a->error);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, MfMonProgress);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mf_ext-monitor");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (body != NULL)
	{
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		if (probe != NULL)
			hdr = curl_slist_append(hdr, psprintf("%s: %s", MF_SERVE_PROBE_HEADER, probe));
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &secs);
	a->ms = secs * 1000.0;
	if (rc == CURLE_OK)
	{
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		a->status = (int) code;
	}
	else if (a->error[0] == '\0')
		strlcpy(a->error, curl_easy_strerror(rc), sizeof(a->error));
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
}

/* A check from an answer: ok when the status is 200. */
static void
MfMonFromAnswer(MfMonCheck *c, const char *check, const MfMonAnswer *a)
{
	c->check = check;
	c->latency_ms = a->ms;
	c->http_status = a->status;
	c->ok = a->status == 200;
	if (a->status == 0)
		c->error = pstrdup(a->error[0] ? a->error : "no answer");
	else if (!c->ok)
		c->error = psprintf("HTTP %d: %.200s", a->status, a->body.data);
	else
		c->error = NULL;
}

/* A failed check that was not tried. */
static void
MfMonNotTried(MfMonCheck *c, const char *check, const char *why)
{
	c->check = check;
	c->ok = false;
	c->latency_ms = NAN;
	c->http_status = 0;
	c->error = psprintf("not tried: %s", why);
}

/* Sample callback: pick process_resident_memory_bytes. */
static void
MfMonMemorySample(void *arg, const char *name, const char *labels, double value)
{
	if (strcmp(name, "process_resident_memory_bytes") == 0)
		*(double *) arg = value;
}

/* The memory_usage check from a /metrics answer. */
static void
MfMonMemory(const MfMonTarget *t, MfMonCheck *c, const MfMonAnswer *a)
{
	double		bytes = NAN;
	int			bad = 0;

	MfMonFromAnswer(c, "memory_usage", a);
	if (!c->ok)
		return;
	if (mf_prom_parse(a->body.data, a->body.len, MfMonMemorySample, &bytes, &bad) < 0)
	{
		c->ok = false;
		c->error = psprintf("/metrics is not Prometheus text (line %d)", bad);
	}
	else if (isnan(bytes))
	{
		c->ok = t->memory_mb <= 0;
		if (!c->ok)
			c->error = pstrdup("/metrics has no process_resident_memory_bytes");
	}
	else if (t->memory_mb > 0 && bytes / 1048576.0 > t->memory_mb)
	{
		c->ok = false;
		c->error = psprintf("resident memory %.1f MB is over options.health.memory_mb %g",
							bytes / 1048576.0, t->memory_mb);
	}
}

/*
 * Run a round of checks of t into out (MF_MON_CHECKS at most); returns the
 * number.  *metrics gets the /metrics text (palloc'd) when it was read.
 */
int
MfMonRunChecks(const MfMonTarget *t, MfMonCheck *out, char **metrics, size_t *metrics_len)
{
	MfMonAnswer a;
	MfMonAnswer model;
	int			n = 0;
	double		rt;
	bool		rt_ok;

	*metrics = NULL;
	*metrics_len = 0;
	MfMonRequest(psprintf("%s/v2/health/ready", t->base_url), NULL, NULL, t->timeout_s, &a);
	MfMonFromAnswer(&out[n++], "ready", &a);
	if (a.status == 0)
	{
		char	   *why = psprintf("the server did not answer (%s)", out[0].error);

		MfMonNotTried(&out[n++], "model_loaded", why);
		if (t->canary != NULL)
			MfMonNotTried(&out[n++], "canary", why);
		MfMonNotTried(&out[n++], "response_time", why);
		MfMonNotTried(&out[n++], "memory_usage", why);
		return n;
	}
	CHECK_FOR_INTERRUPTS();
	MfMonRequest(psprintf("%s/v2/models/%s/ready", t->base_url, t->name), NULL, NULL, t->timeout_s, &model);
	MfMonFromAnswer(&out[n], "model_loaded", &model);
	if (model.status == 401)
	{
		/* a deployment with a bearer token: the server has the model (else 404), the monitor no token */
		out[n].ok = true;
		out[n].error = NULL;
	}
	n++;
	rt = model.ms;
	rt_ok = out[n - 1].ok;
	if (t->canary != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		MfMonRequest(psprintf("%s/v1/models/%s:predict", t->base_url, t->name),
					 psprintf("{\"instances\": [%s]}", t->canary), t->probe, t->timeout_s, &a);
		MfMonFromAnswer(&out[n], "canary", &a);
		if (out[n].ok && strstr(a.body.data, "\"predictions\"") == NULL)
		{
			out[n].ok = false;
			out[n].error = psprintf("the answer has no predictions: %.200s", a.body.data);
		}
		rt = a.ms;
		rt_ok = out[n].ok;
		n++;
	}
	out[n].check = "response_time";
	out[n].latency_ms = rt;
	out[n].http_status = 0;
	out[n].ok = rt_ok && rt <= t->response_time_ms;
	out[n].error = out[n].ok ? NULL :
		!rt_ok ? pstrdup("no successful answer to time") :
		psprintf("%.1f ms is over options.health.response_time_ms %g", rt, t->response_time_ms);
	n++;
	CHECK_FOR_INTERRUPTS();
	MfMonRequest(psprintf("%s/metrics", t->base_url), NULL, NULL, t->timeout_s, &a);
	MfMonMemory(t, &out[n++], &a);
	if (a.status == 200)
	{
		*metrics = a.body.data;
		*metrics_len = a.body.len;
	}
	return n;
}
