/*
 * numbody.c - the numeric bodies of :predict and infer read without a
 * JSON tree: numjson/ (simdjson behind a C interface) reads the values
 * straight into a matrix, and they are encoded into rows through the model
 * module exactly as rows.c encodes a JSON number (a raw MF_RAW_NUMBER per
 * input column, or the p expanded features copied), then scored per row.
 *
 * Design note: a fast path with no judgement of its own.  It answers only
 * bodies that the JSON path would score with a 200, and only when every
 * step succeeds; otherwise (another form, booleans, nulls, texts, a
 * categorical column, a row or model refusal, the prediction log on, the
 * server option no_fast_bodies) it returns false with nothing answered and
 * the caller parses the body with jansson, whose answers and error objects
 * are unchanged.  The conditions below mirror those of tfs.c and oip.c
 * for a successful answer of the same body.
 */
#include "serve_int.h"
#include "numjson.h"

#include <stdlib.h>
#include <string.h>

/* True when the fast path may read this request's body. */
static bool
MfNumUsable(const MfServeCall *c, const MfServeTarget *t)
{
	return !c->srv->opt.no_fast_bodies && !c->req->body_too_large && c->req->body != NULL &&
		c->req->body_len > 0 && !t->entry->policy.log_predictions;
}

/* Encode row r from its numbers: one per input column (by_column), else the p features. */
static bool
MfNumEncodeRow(MfServeRows *rows, size_t r, const double *v, bool by_column)
{
	const MfTrainedModel *m = &rows->v->model;
	double	   *xraw = rows->X + r * m->meta.p;

	if (!by_column)
	{
		memcpy(xraw, v, sizeof(double) * m->meta.p);
		return true;
	}
	/*
	 * What mf_trained_model_encode_value makes of a JSON number (rows.c) for a
	 * numeric or boolean column: the model module's mf_model_set_number of it.
	 */
	for (int i = 0; i < m->meta.ncols; i++)
		if (m->meta.cols[i].kind == MF_COL_CATEGORICAL || !mf_model_set_number(&m->meta.cols[i], xraw, v[i], false))
			return false;
	return true;
}

/* Rows for b's n rows of m values, encoded and scored; false (rows freed) on any refusal. */
static bool
MfNumRows(MfServeCall *c, const MfServeTarget *t, const MfNumBody *b, size_t n, bool by_column,
		  MfServeRows *rows)
{
	char		msg[512];

	if (n == 0 || n > (size_t) mf_serve_max_batch(c, t->entry) || !mf_serve_rows_init(rows, t->version, n))
	{
		mf_serve_rows_free(rows);
		return false;
	}
	for (size_t r = 0; r < n; r++)
		if (!MfNumEncodeRow(rows, r, b->x + r * b->m, by_column))
		{
			mf_serve_rows_free(rows);
			return false;
		}
	if (!mf_serve_rows_score(rows, msg, sizeof(msg)))
	{
		mf_serve_rows_free(rows);
		return false;
	}
	return true;
}

/* The scored rows of a TF :predict body of numbers; *columnar: "inputs" was used. */
bool
mf_serve_fast_tfs(MfServeCall *c, const MfServeTarget *t, MfServeRows *rows, bool *columnar)
{
	const MfModelMeta *mm = &t->version->model.meta;
	const char **names;
	MfNumBody	b;
	bool		ok,
				by_column;

	memset(rows, 0, sizeof(*rows));
	if (!MfNumUsable(c, t) || (names = malloc(sizeof(char *) * (size_t) (mm->ncols + 1))) == NULL)
		return false;
	for (int i = 0; i < mm->ncols; i++)
		names[i] = mm->cols[i].name;
	ok = mf_numjson_tf(c->req->body, c->req->body_len, names, mm->ncols, &b);
	free(names);
	if (!ok)
		return false;
	/* an object with a member "b64" is a single value to tfs.c */
	for (int i = 0; b.form == MF_NUM_TF_OBJECTS && i < mm->ncols; i++)
		if (strcmp(mm->cols[i].name, "b64") == 0)
			return false;
	/* a list of ncols values is read per column (mf_serve_encode_list), else p features */
	by_column = b.form != MF_NUM_TF_LISTS || b.m == (size_t) mm->ncols;
	if (!by_column && b.m != mm->p)
		return false;
	*columnar = b.under_inputs;
	return MfNumRows(c, t, &b, b.n, by_column, rows);
}

/* The scored rows of an OIP infer body of one FP64, FP32 or INT64 tensor [n, p]. */
bool
mf_serve_fast_oip(MfServeCall *c, const MfServeTarget *t, MfServeRows *rows, json_t **id)
{
	const MfTrainedModel *m = &t->version->model;
	MfNumBody	b;
	bool		fp32;
	double	   *x;

	memset(rows, 0, sizeof(*rows));
	*id = NULL;
	if (!MfNumUsable(c, t) || !mf_numjson_oip(c->req->body, c->req->body_len, &b))
		return false;
	fp32 = strcmp(b.datatype, "FP32") == 0;
	/* the single-tensor form of oip.c, [n, p], values of the datatype */
	if ((m->meta.ncols == 1 && mf_trained_model_column(m, b.name) >= 0) ||
		!(fp32 || strcmp(b.datatype, "FP64") == 0 || (strcmp(b.datatype, "INT64") == 0 && b.all_integers)) ||
		b.ndim != 2 || (size_t) b.dims[1] != m->meta.p || (size_t) (b.dims[0] * b.dims[1]) != b.n ||
		b.n > (1u << 24))
		return false;
	if (fp32)
	{
		/* a float tensor: each value rounded to float, as oip.c does */
		x = (double *) b.x;
		for (size_t i = 0; i < b.n; i++)
			x[i] = (double) (float) x[i];
	}
	b.m = m->meta.p;
	if (b.has_id && (*id = json_string(b.id)) == NULL)
		return false;
	if (!MfNumRows(c, t, &b, (size_t) b.dims[0], false, rows))
	{
		json_decref(*id);
		*id = NULL;
		return false;
	}
	return true;
}
