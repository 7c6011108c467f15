/*
 * handler.c - one request to one response, without sockets: the server
 * state (installed catalog, metrics, rate limiter), routing to the
 * protocol codecs, the bounds every body passes before it is parsed, the
 * lookup of the model and version a URL names (with authentication and
 * the rate limit), and the generated one-model API (/predict,
 * /batch_predict, /health, /metrics).
 *
 * Routes:
 *   /v1/models/...                  TensorFlow Serving REST (tfs.c)
 *   /v2, /v2/...                    Open Inference Protocol v2 (oip.c)
 *   POST /predict, /batch_predict   one object / a list of objects of named
 *                                   features; answers as mf_predict(ref, jsonb)
 *                                   (embedding versions: {"embedding": [...]})
 *   GET /health, /metrics           liveness with the served versions;
 *                                   Prometheus text 0.0.4
 * HEAD is answered as GET (the daemon sends no body).  Health, metrics and
 * server metadata need no token; every model route checks the name's
 * policy.
 */
#include "serve_int.h"
#include "counters.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char MfJsonType[] = "application/json";
static const char MfPromType[] = "text/plain; version=0.0.4; charset=utf-8";

/* ------------------------------------------------------------ server state */

/* A new server state without a catalog. */
MfServe *
mf_serve_new(const MfServeOptions *opt)
{
	MfServe    *s = calloc(1, sizeof(MfServe));

	if (s == NULL)
		return NULL;
	if (opt != NULL)
		s->opt = *opt;
	if (s->opt.default_max_batch <= 0)
		s->opt.default_max_batch = MF_SERVE_DEFAULT_MAX_BATCH;
	if (s->opt.max_body == 0)
		s->opt.max_body = MF_SERVE_DEFAULT_MAX_BODY;
	s->metrics = mf_serve_metrics_new();
	s->limiter = mf_serve_limiter_new();
	atomic_init(&s->draws, 0);
	atomic_init(&s->requests, 0);
	if (s->metrics == NULL || s->limiter == NULL || pthread_mutex_init(&s->lock, NULL) != 0)
	{
		mf_serve_metrics_free(s->metrics);
		mf_serve_limiter_free(s->limiter);
		free(s);
		return NULL;
	}
	return s;
}

/* Free a server state. */
void
mf_serve_free(MfServe *s)
{
	if (s == NULL)
		return;
	mf_serve_catalog_unref(s->catalog);
	mf_serve_metrics_free(s->metrics);
	mf_serve_limiter_free(s->limiter);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Install a catalog (taking the caller's reference); release the old one. */
void
mf_serve_set_catalog(MfServe *s, MfServeCatalog *c)
{
	MfServeCatalog *old;

	pthread_mutex_lock(&s->lock);
	old = s->catalog;
	s->catalog = c;
	pthread_mutex_unlock(&s->lock);
	mf_serve_catalog_unref(old);
}

/* A reference to the installed catalog, or NULL. */
MfServeCatalog *
mf_serve_get_catalog(MfServe *s)
{
	MfServeCatalog *c;

	pthread_mutex_lock(&s->lock);
	c = mf_serve_catalog_ref(s->catalog);
	pthread_mutex_unlock(&s->lock);
	return c;
}

/* Count one answer: in the server's metrics and, when set, in its shared counters. */
void
mf_serve_count(MfServe *s, const char *model, const char *version, int status, double seconds,
			   size_t bytes_in, size_t bytes_out)
{
	mf_serve_metrics_record(s->metrics, model, version, status, seconds, bytes_in, bytes_out);
	if (s->counters != NULL)
		mf_counters_add(s->counters, MF_COUNTERS_SERVED, model, version, status, seconds, bytes_in, bytes_out, 0);
}

/* Count answers in a shared table too (the in-database server's processes). */
void
mf_serve_set_counters(MfServe *s, struct MfCounters *c)
{
	s->counters = c;
}

/* The Prometheus text of the server's metrics. */
char *
mf_serve_metrics_render(MfServe *s, size_t *len)
{
	if (s->counters != NULL)
		return mf_serve_metrics_text_shared(s->counters, len);
	return mf_serve_metrics_text(s->metrics, len);
}

/* Free a response's body. */
void
mf_serve_response_free(MfServeResponse *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}

/* ------------------------------------------------------------ answers */

/* Set a JSON answer (steals o; a NULL o is out of memory: 500). */
void
mf_serve_json(MfServeCall *c, int status, json_t *o)
{
	MfServeResponse *r = c->resp;

	free(r->body);
	r->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	r->content_type = MfJsonType;
	if (r->body == NULL)
	{
		r->status = 500;
		r->body_len = 0;
		return;
	}
	r->status = status;
	r->body_len = strlen(r->body);
}

/* Set an error answer {"error": msg} with status. */
void
mf_serve_error(MfServeCall *c, int status, const char *fmt,...)
{
	char		msg[1024];
	va_list		ap;
	json_t	   *text;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	text = json_string(msg);
	if (text == NULL)
	{
		/* not UTF-8 (bytes of the request): keep the ASCII only */
		for (char *p = msg; *p; p++)
			if ((unsigned char) *p >= 0x80)
				*p = '?';
		text = json_string(msg);
	}
	mf_serve_json(c, status, json_pack("{s:o*}", "error", text));
}

/* Set an empty answer with status. */
void
mf_serve_empty(MfServeCall *c, int status)
{
	mf_serve_response_free(c->resp);
	c->resp->status = status;
	c->resp->content_type = MfJsonType;
}

/* Record which version answered (X-Model-Version). */
void
mf_serve_answered_by(MfServeCall *c, const MfServeEntry *e, const MfServeVersion *v)
{
	snprintf(c->resp->model_name, sizeof(c->resp->model_name), "%s", e->name);
	snprintf(c->resp->model_version, sizeof(c->resp->model_version), "%s", v ? v->semver : "");
	c->resp->version_number = v ? v->number : 0;
}

/* The row limit of an entry. */
int
mf_serve_max_batch(const MfServeCall *c, const MfServeEntry *e)
{
	return e->policy.max_batch > 0 ? e->policy.max_batch : c->srv->opt.default_max_batch;
}

/* ------------------------------------------------------------ bodies */

/* Check nesting depth and string lengths before parsing; false with msg. */
static bool
MfBodyBounds(const char *s, size_t n, char *msg, size_t msglen)
{
	int			depth = 0;
	bool		in_str = false;
	size_t		slen = 0;

	for (size_t i = 0; i < n; i++)
	{
		char		ch = s[i];

		if (in_str)
		{
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
			if (in_str && ++slen > MF_SERVE_MAX_STRING)
			{
				snprintf(msg, msglen, "a string of the body is longer than %d bytes", MF_SERVE_MAX_STRING);
				return false;
			}
		}
		else if (ch == '"')
		{
			in_str = true;
			slen = 0;
		}
		else if ((ch == '[' || ch == '{') && ++depth > MF_SERVE_MAX_DEPTH)
		{
			snprintf(msg, msglen, "the body nests deeper than %d levels", MF_SERVE_MAX_DEPTH);
			return false;
		}
		else if (ch == ']' || ch == '}')
			depth--;
	}
	return true;
}

/* Parse a request body as JSON within the bounds; NULL after an error answer. */
json_t *
mf_serve_parse_body(MfServeCall *c)
{
	const MfServeRequest *req = c->req;
	json_error_t jerr;
	json_t	   *o;
	char		msg[256];

	if (req->body_too_large)
	{
		mf_serve_error(c, 413, "the request body is larger than %zu bytes", c->srv->opt.max_body);
		return NULL;
	}
	if (req->body == NULL || req->body_len == 0)
	{
		mf_serve_error(c, 400, "the request body is empty; send a JSON object");
		return NULL;
	}
	if (!MfBodyBounds(req->body, req->body_len, msg, sizeof(msg)))
	{
		mf_serve_error(c, 400, "%s", msg);
		return NULL;
	}
	o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		mf_serve_error(c, 400, "malformed JSON body at line %d, column %d: %s",
					   jerr.line, jerr.column, jerr.text);
	return o;
}

/* ------------------------------------------------------------ target lookup */

/* The token of an "Authorization: Bearer <token>" header, or NULL. */
static const char *
MfBearerToken(const char *h, size_t *len)
{
	size_t		n;

	if (h == NULL)
		return NULL;
	while (*h == ' ')
		h++;
	if (strncasecmp(h, "bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	n = strlen(h);
	while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	*len = n;
	return n > 0 ? h : NULL;
}

/* Parse a positive decimal integer (digits only); 0 when not one. */
static int64_t
MfParseNumber(const char *s)
{
	int64_t		v = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/* A uniform draw in [0, 1) from the server's split sequence (splitmix64). */
static double
MfSplitDraw(MfServe *s)
{
	uint64_t	z = atomic_fetch_add(&s->draws, 1) * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	return (double) (z >> 11) / 9007199254740992.0;
}

/* The version a target's selector names, or NULL. */
static const MfServeVersion *
MfTargetVersion(MfServeCall *c, const MfServeTarget *t)
{
	const MfServeEntry *e = t->entry;
	const MfServeVersion *v;

	switch (t->kind)
	{
		case MF_SEL_DEFAULT:
			if (e->policy.n_split > 0)
				return mf_serve_split_pick(e, MfSplitDraw(c->srv));
			return e->versions[e->default_idx];
		case MF_SEL_NUMBER:
			return mf_serve_entry_version(e, MfParseNumber(t->sel));
		case MF_SEL_LABEL:
			return mf_serve_entry_label(e, t->sel);
		case MF_SEL_SEMVER:
			v = mf_serve_entry_semver(e, t->sel);
			return v ? v : mf_serve_entry_version(e, MfParseNumber(t->sel));
	}
	return NULL;
}

/* Find the entry and version of t, checking auth and the rate limit. */
bool
mf_serve_resolve(MfServeCall *c, MfServeTarget *t, bool count_rate)
{
	const char *token;
	size_t		tlen = 0;
	int			retry = 0;
	static const char *const what[] = {"", "version", "label", "version"};

	t->entry = mf_serve_catalog_find(c->cat, t->name);
	if (t->entry == NULL)
	{
		mf_serve_error(c, 404, "model \"%s\" is not served", t->name);
		return false;
	}
	mf_serve_answered_by(c, t->entry, NULL);
	token = MfBearerToken(c->req->authorization, &tlen);
	if (t->entry->has_bearer && (token == NULL || !mf_serve_bearer_verify(&t->entry->bearer, token, tlen)))
	{
		c->resp->www_authenticate = true;
		mf_serve_error(c, 401, "model \"%s\" needs a valid bearer token (Authorization: Bearer <token>)",
					   t->name);
		return false;
	}
	if (count_rate && t->entry->policy.requests_per_minute > 0 &&
		!mf_serve_limiter_take(c->srv->limiter, t->entry->name,
							   t->entry->has_bearer ? "bearer" : (c->req->client ? c->req->client : ""),
							   t->entry->policy.requests_per_minute, c->now, &retry))
	{
		c->resp->retry_after = retry;
		mf_serve_error(c, 429, "rate limit of model \"%s\" exceeded (%d requests per minute); retry in %d s",
					   t->name, t->entry->policy.requests_per_minute, retry);
		return false;
	}
	t->version = MfTargetVersion(c, t);
	if (t->version == NULL)
	{
		mf_serve_error(c, 404, "%s \"%s\" of model \"%s\" is not served", what[t->kind], t->sel, t->name);
		return false;
	}
	mf_serve_answered_by(c, t->entry, t->version);
	return true;
}

/* ------------------------------------------------------------ generated API */

/* One scored row as mf_predict(ref, jsonb) answers it. */
static void
MfGeneratedRow(MfServeBuf *b, const MfServeRows *rows, size_t r)
{
	const MfModelMeta *mm = &rows->v->model.meta;
	const char *label = mf_serve_label(rows, r);

	if (rows->emb != NULL)
	{
		/* an embedding version: mf_embed's floats */
		mf_serve_buf_text(b, "{\"embedding\":");
		mf_serve_buf_embedding(b, rows, r);
		mf_serve_buf_text(b, "}");
		return;
	}
	mf_serve_buf_text(b, "{\"prediction\":");
	mf_serve_buf_real(b, rows->values[r]);
	if (label != NULL)
	{
		mf_serve_buf_text(b, ",\"label\":");
		mf_serve_buf_str(b, label);
		mf_serve_buf_text(b, ",\"probabilities\":{");
		for (int k = 0; k < mm->n_labels; k++)
		{
			if (k > 0)
				mf_serve_buf_text(b, ",");
			mf_serve_buf_str(b, mm->labels[k]);
			mf_serve_buf_text(b, ":");
			mf_serve_buf_real(b, rows->proba[r * (size_t) mm->n_labels + (size_t) k]);
		}
		mf_serve_buf_text(b, "}");
	}
	else if (mm->family == MF_ART_FAMILY_KMEANS)
	{
		mf_serve_buf_text(b, ",\"cluster\":");
		mf_serve_buf_int(b, rows->index[r]);
	}
	mf_serve_buf_text(b, "}");
}

/* Log the scored rows of /predict (one object) or /batch_predict (a list). */
static void
MfGeneratedLog(MfServeCall *c, const MfServeEntry *e, const MfServeRows *rows, json_t *body, bool batch)
{
	json_t	   *list = batch ? json_incref(body) : json_pack("[O]", body);

	mf_serve_log_rows(c, e, rows, list, NULL, NULL);
	json_decref(list);
}

/* Answer /predict (one object) and /batch_predict (a list of objects). */
void
mf_serve_generated(MfServeCall *c, bool batch)
{
	MfServeTarget t = {0};
	MfServeRows rows;
	MfServeBuf	out = {0};
	json_t	   *body;
	size_t		n;
	char		msg[512];

	if (c->cat == NULL || c->cat->n_entries != 1)
	{
		mf_serve_error(c, 404, "%s serves one model only; this server has %d: use /v1/models/{name} or /v2/models/{name}",
					   batch ? "/batch_predict" : "/predict", c->cat ? c->cat->n_entries : 0);
		return;
	}
	t.name = c->cat->entries[0].name;
	if (!mf_serve_resolve(c, &t, true) || (body = mf_serve_parse_body(c)) == NULL)
		return;
	if (batch != json_is_array(body))
	{
		json_decref(body);
		mf_serve_error(c, 400, batch ? "the body must be a list of objects of named features" :
					   "the body must be one object of named features");
		return;
	}
	n = batch ? json_array_size(body) : 1;
	if (n > (size_t) mf_serve_max_batch(c, t.entry))
	{
		json_decref(body);
		mf_serve_error(c, 400, "%zu rows in one request; the limit is %d", n, mf_serve_max_batch(c, t.entry));
		return;
	}
	if (!mf_serve_rows_init(&rows, t.version, n))
	{
		mf_serve_rows_free(&rows);
		json_decref(body);
		mf_serve_error(c, 500, "out of memory");
		return;
	}
	msg[0] = '\0';
	for (size_t r = 0; r < n; r++)
		if (!mf_serve_encode_object(&rows, r, batch ? json_array_get(body, r) : body, msg, sizeof(msg)))
			break;
	if (msg[0] != '\0' || !mf_serve_rows_score(&rows, msg, sizeof(msg)))
	{
		mf_serve_rows_free(&rows);
		json_decref(body);
		mf_serve_error(c, 400, "%s", msg);
		return;
	}
	if (batch)
		mf_serve_buf_text(&out, "[");
	for (size_t r = 0; r < n; r++)
	{
		if (r > 0)
			mf_serve_buf_text(&out, ",");
		MfGeneratedRow(&out, &rows, r);
	}
	if (batch)
		mf_serve_buf_text(&out, "]");
	mf_serve_json_buf(c, 200, &out);
	if (c->resp->status == 200)
		MfGeneratedLog(c, t.entry, &rows, body, batch);
	mf_serve_rows_free(&rows);
	json_decref(body);
}

/* GET /health: the served versions, 503 before the first catalog. */
static void
MfHealth(MfServeCall *c)
{
	json_t	   *models = json_array();

	if (c->cat == NULL)
	{
		mf_serve_json(c, 503, json_pack("{s:s,s:s}", "status", "unavailable", "error", "no models are loaded yet"));
		json_decref(models);
		return;
	}
	for (int i = 0; models != NULL && i < c->cat->n_entries; i++)
	{
		const MfServeEntry *e = &c->cat->entries[i];
		json_t	   *vs = json_array();

		for (int k = 0; vs != NULL && k < e->n_versions; k++)
			json_array_append_new(vs, json_pack("{s:s,s:I,s:s}", "version", e->versions[k]->semver,
												"number", (json_int_t) e->versions[k]->number,
												"state", "AVAILABLE"));
		json_array_append_new(models, json_pack("{s:s,s:s,s:o*}", "name", e->name, "default",
												e->versions[e->default_idx]->semver, "versions", vs));
	}
	mf_serve_json(c, 200, json_pack("{s:s,s:o*}", "status", "ok", "models", models));
}

/* GET /metrics: the Prometheus text. */
static void
MfMetrics(MfServeCall *c)
{
	size_t		len = 0;
	/* processes sharing a table answer with the totals of all of them */
	char	   *text = c->srv->counters != NULL ? mf_serve_metrics_text_shared(c->srv->counters, &len)
		: mf_serve_metrics_text(c->srv->metrics, &len);

	mf_serve_response_free(c->resp);
	c->resp->content_type = MfPromType;
	c->resp->status = text ? 200 : 500;
	c->resp->body = text;
	c->resp->body_len = text ? len : 0;
}

/* ------------------------------------------------------------ routing */

/* True when the method is one of allowed ("GET", "POST"); else a 405. */
static bool
MfMethodOk(MfServeCall *c, const char *allowed)
{
	const char *m = c->req->method ? c->req->method : "";

	if (strcmp(m, allowed) == 0 || (strcmp(allowed, "GET") == 0 && strcmp(m, "HEAD") == 0))
		return true;
	c->resp->allow = strcmp(allowed, "GET") == 0 ? "GET, HEAD" : allowed;
	mf_serve_error(c, 405, "method %s is not allowed here; use %s", m, allowed);
	return false;
}

/* Route a request to its answer. */
static void
MfRoute(MfServeCall *c)
{
	const char *path = c->req->path ? c->req->path : "";

	if (strncmp(path, "/v1/", 4) == 0)
		mf_serve_tfs(c, path + 3);
	else if (strcmp(path, "/v2") == 0 || strncmp(path, "/v2/", 4) == 0)
		mf_serve_oip(c, path + 3);
	else if (strcmp(path, "/health") == 0)
	{
		if (MfMethodOk(c, "GET"))
			MfHealth(c);
	}
	else if (strcmp(path, "/metrics") == 0)
	{
		if (MfMethodOk(c, "GET"))
			MfMetrics(c);
	}
	else if (!c->srv->opt.no_generated_api &&
			 (strcmp(path, "/predict") == 0 || strcmp(path, "/batch_predict") == 0))
	{
		if (MfMethodOk(c, "POST"))
			mf_serve_generated(c, path[1] == 'b');
	}
	else
		mf_serve_error(c, 404, "no route for %s", path[0] ? path : "(empty path)");
}

/* Monotonic seconds. */
double
mf_serve_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Answer one request. */
void
mf_serve_handle(MfServe *s, const MfServeRequest *req, MfServeResponse *resp)
{
	MfServeCall c;
	double		t0 = mf_serve_now();

	memset(resp, 0, sizeof(*resp));
	resp->status = 500;
	resp->content_type = MfJsonType;
	c.srv = s;
	c.req = req;
	c.resp = resp;
	c.now = req->now > 0 ? req->now : t0;
	c.cat = mf_serve_get_catalog(s);
	MfRoute(&c);
	mf_serve_catalog_unref((MfServeCatalog *) c.cat);
	mf_serve_count(s, resp->model_name, resp->model_version, resp->status, mf_serve_now() - t0,
				   req->body_len, resp->body_len);
}

/* True when the method is allowed; else a 405 answer. */
bool
mf_serve_method_ok(MfServeCall *c, const char *allowed)
{
	return MfMethodOk(c, allowed);
}
