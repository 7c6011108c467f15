/*
 * predlog.c - the prediction log of served names whose policy has
 * log_predictions: after a request's rows are scored and answered, one
 * JSON line per row goes to the server's sink in one call (never a line
 * from a refused request):
 *
 *   {"deployment_id": 7, "name": "churn", "version": "1.2.0", "number": 12,
 *    "request_id": "...", "row_id": "...", "prediction": "yes", "at": 1764936000.123}
 *
 * prediction is the label (classifiers) or the value (mf_predict's).
 * request_id is the X-Request-Id header when it is 1 to 128 printable
 * ASCII characters, else the body's request id (OIP "id") under the same
 * rule, else one made here (<pid>-<sequence>); row_id is the row object's
 * member named by the policy's log_id_field (a string, or an integer as
 * its digits; in the columnar form, that input's element; over OIP, the
 * element of the input tensor of that name), else <request_id>/<row index
 * from 0).  Every scoring route logs the same lines: TF Serving's predict,
 * classify and regress, OIP infer, /predict and /batch_predict.
 *
 * Embeddings are not logged: the log holds predictions whose outcomes
 * mf_record_outcomes can join, and a vector has none (a request that asks
 * a classifier for its embedding and its predictions logs the predictions).
 *
 * A request that carries MF_SERVE_PROBE_HEADER equal to the server's
 * probe token (the monitor worker's canary, see src/monitor_health.c) is
 * answered and counted but not logged: the log holds users' predictions.
 */
#include "serve_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MF_PREDLOG_ID_MAX 128

/* True when the header is a usable request id. */
static bool
MfPredlogIdOk(const char *s)
{
	size_t		n = s ? strlen(s) : 0;

	if (n == 0 || n > MF_PREDLOG_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

/* Row r's id member (text into buf), or NULL. */
static const char *
MfPredlogRowId(const MfServeEntry *e, json_t *rows_json, json_t *columns_json, size_t r,
			   char *buf, size_t len)
{
	const char *field = e->policy.log_id_field;
	json_t	   *v = NULL;

	if (field[0] == '\0')
		return NULL;
	if (rows_json != NULL)
		v = json_object_get(json_array_get(rows_json, r), field);	/* NULL unless an object */
	else if (columns_json != NULL)
		v = json_array_get(json_object_get(columns_json, field), r);
	if (json_is_string(v) && json_string_length(v) <= MF_PREDLOG_ID_MAX)
		return json_string_value(v);
	if (json_is_integer(v))
	{
		snprintf(buf, len, "%lld", (long long) json_integer_value(v));
		return buf;
	}
	return NULL;
}

/* True when the request is a probe of the server's own monitor (constant time). */
static bool
MfPredlogProbe(const MfServeCall *c)
{
	const char *token = c->srv->opt.probe_token;
	const char *got = c->req->probe;
	unsigned char diff = 0;

	if (token[0] == '\0' || got == NULL || strlen(got) != strlen(token))
		return false;
	for (size_t i = 0; token[i] != '\0'; i++)
		diff |= (unsigned char) (token[i] ^ got[i]);
	return diff == 0;
}

/* Wall-clock seconds since the epoch. */
static double
MfPredlogWallClock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Log the scored rows of one request (see the file's comment). */
void
mf_serve_log_rows(MfServeCall *c, const MfServeEntry *e, const MfServeRows *rows,
				  json_t *rows_json, json_t *columns_json, const char *body_id)
{
	MfServeBuf	b = {0};
	char		made[64],
				idbuf[32],
				rowbuf[MF_PREDLOG_ID_MAX + 32];
	const char *request_id = c->req->request_id;
	double		at = MfPredlogWallClock();

	if (!e->policy.log_predictions || c->srv->opt.log_sink == NULL || rows->n == 0 || rows->embed_only ||
		MfPredlogProbe(c))
		return;
	if (!MfPredlogIdOk(request_id))
		request_id = body_id;
	if (!MfPredlogIdOk(request_id))
	{
		snprintf(made, sizeof(made), "%ld-%llu", (long) getpid(),
				 (unsigned long long) atomic_fetch_add(&c->srv->requests, 1) + 1);
		request_id = made;
	}
	for (size_t r = 0; r < rows->n; r++)
	{
		const char *row_id = MfPredlogRowId(e, rows_json, columns_json, r, idbuf, sizeof(idbuf));
		const char *label = mf_serve_label(rows, r);

		if (row_id == NULL)
		{
			snprintf(rowbuf, sizeof(rowbuf), "%s/%zu", request_id, r);
			row_id = rowbuf;
		}
		mf_serve_buf_text(&b, "{\"deployment_id\":");
		mf_serve_buf_int(&b, (long long) e->policy.deployment_id);
		mf_serve_buf_text(&b, ",\"name\":");
		mf_serve_buf_str(&b, e->name);
		mf_serve_buf_text(&b, ",\"version\":");
		mf_serve_buf_str(&b, rows->v->semver);
		mf_serve_buf_text(&b, ",\"number\":");
		mf_serve_buf_int(&b, (long long) rows->v->number);
		mf_serve_buf_text(&b, ",\"request_id\":");
		mf_serve_buf_str(&b, request_id);
		mf_serve_buf_text(&b, ",\"row_id\":");
		mf_serve_buf_str(&b, row_id);
		mf_serve_buf_text(&b, ",\"prediction\":");
		if (label != NULL)
			mf_serve_buf_str(&b, label);
		else
			mf_serve_buf_real(&b, rows->values[r]);
		mf_serve_buf_text(&b, ",\"at\":");
		mf_serve_buf_real(&b, at);
		mf_serve_buf_text(&b, "}\n");
	}
	if (!b.failed)
		c->srv->opt.log_sink(c->srv->opt.log_arg, b.data, b.len);
	free(b.data);
}
