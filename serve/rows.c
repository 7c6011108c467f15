/*
 * rows.c - the rows of one request: JSON values turned into encoded
 * feature rows through the model module, scored, and the scores turned
 * back into JSON.  Shared by every protocol codec.
 *
 * A raw value comes from a JSON scalar as mf_predict(ref, jsonb) reads it
 * (mf_model_raw_from_json: numbers and booleans keep their JSON text for
 * categorical columns), plus TensorFlow Serving's {"b64": "..."} for
 * bytes, which becomes a text.  Rows are scored one by one
 * (mf_trained_model_score_rows), the path of mf_predict, so the answers
 * are the database's bit for bit.
 */
#include "serve_int.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Allocate rows for n rows of v; false when out of memory. */
bool
mf_serve_rows_init(MfServeRows *rows, const MfServeVersion *v, size_t n)
{
	size_t		p = v->model.meta.p;
	size_t		k = v->model.meta.n_labels > 0 ? (size_t) v->model.meta.n_labels : 1;
	size_t		m = n > 0 ? n : 1;

	memset(rows, 0, sizeof(*rows));
	rows->v = v;
	rows->n = n;
	if (m > SIZE_MAX / sizeof(double) / (p + k + 2))
		return false;
	rows->X = calloc(m * p, sizeof(double));
	rows->values = calloc(m, sizeof(double));
	rows->index = calloc(m, sizeof(int));
	rows->proba = mf_serve_is_classifier(v) ? calloc(m * k, sizeof(double)) : NULL;
	rows->texts = v->text != NULL ? calloc(m, sizeof(json_t *)) : NULL;
	rows->emb_dim = mf_serve_text_embed_dim(v);
	rows->embed_only = rows->emb_dim > 0;
	if (rows->emb_dim > 0 && m <= SIZE_MAX / sizeof(float) / rows->emb_dim)
		rows->emb = calloc(m * rows->emb_dim, sizeof(float));
	return rows->X && rows->values && rows->index && (rows->proba || !mf_serve_is_classifier(v)) &&
		(rows->texts || v->text == NULL) && (rows->emb || rows->emb_dim == 0);
}

/* Ask a text encoder's rows for embeddings too (alone when only); false when out of memory. */
bool
mf_serve_rows_embed(MfServeRows *rows, bool only)
{
	size_t		d = mf_serve_text_encoder_dim(rows->v);
	size_t		m = rows->n > 0 ? rows->n : 1;

	if (rows->emb == NULL)
	{
		if (d == 0 || m > SIZE_MAX / sizeof(float) / d || (rows->emb = calloc(m * d, sizeof(float))) == NULL)
			return false;
		rows->emb_dim = d;
	}
	rows->embed_only = rows->embed_only || only;
	return true;
}

/* Free the rows. */
void
mf_serve_rows_free(MfServeRows *rows)
{
	free(rows->X);
	free(rows->values);
	free(rows->index);
	free(rows->proba);
	for (size_t r = 0; rows->texts != NULL && r < rows->n; r++)
		json_decref(rows->texts[r]);
	free(rows->texts);
	free(rows->emb);
	memset(rows, 0, sizeof(*rows));
}

/* True when the version is a classifier. */
bool
mf_serve_is_classifier(const MfServeVersion *v)
{
	return v->model.meta.classify;
}

/* The message of a model error on row r. */
static void
MfRowsModelMsg(const MfServeRows *rows, size_t r, const MfModelError *err, char *msg, size_t msglen)
{
	const MfModelMeta *mm = &rows->v->model.meta;

	if (err->column >= 0 && err->column < mm->ncols)
		snprintf(msg, msglen, "row %zu: input \"%s\" %s", r, mm->cols[err->column].name, err->detail);
	else if (err->feature >= 0 && (size_t) err->feature < mm->p)
		snprintf(msg, msglen, "row %zu: feature \"%s\" %s", r, mm->feature_names[err->feature], err->detail);
	else
		snprintf(msg, msglen, "row %zu: %s", r, err->detail);
}

/* Decode TF Serving's {"b64": "..."} into a malloc'd text; NULL when not that form. */
static unsigned char *
MfRowsB64(const json_t *v, size_t *len, bool *bad)
{
	const json_t *s;
	const char *in;
	size_t		n;
	unsigned char *out;
	int			got;

	*bad = false;
	if (!json_is_object(v) || json_object_size(v) != 1 || !json_is_string(s = json_object_get(v, "b64")))
		return NULL;
	in = json_string_value(s);
	n = json_string_length(s);
	out = malloc(n / 4 * 3 + 4);
	if (out == NULL || n % 4 != 0 || n > INT32_MAX)
	{
		free(out);
		*bad = true;
		return NULL;
	}
	got = n ? EVP_DecodeBlock(out, (const unsigned char *) in, (int) n) : 0;
	if (got < 0)
	{
		free(out);
		*bad = true;
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes */
	if (n >= 1 && in[n - 1] == '=')
		got--;
	if (n >= 2 && in[n - 2] == '=')
		got--;
	*len = (size_t) got;
	return out;
}

/* Encode the JSON value of schema column i of row r into xraw. */
static bool
MfRowsEncodeValue(MfServeRows *rows, size_t r, int i, json_t *v, double *xraw,
				  char *msg, size_t msglen)
{
	const MfTrainedModel *m = &rows->v->model;
	const MfMetaColumn *col = &m->meta.cols[i];
	char		buf[MF_MODEL_JSON_TEXT];
	MfRawValue	raw;
	MfModelError err;
	unsigned char *bytes;
	size_t		blen = 0;
	bool		bad;
	MfModelStatus s;

	if (rows->v->text != NULL)
		return mf_serve_text_cell(rows, r, v, msg, msglen);
	if (v == NULL)
	{
		snprintf(msg, msglen, "row %zu: input \"%s\" is missing", r, col->name);
		return false;
	}
	bytes = MfRowsB64(v, &blen, &bad);
	if (bad)
	{
		snprintf(msg, msglen, "row %zu: input \"%s\": \"b64\" is not valid base64", r, col->name);
		return false;
	}
	if (bytes != NULL)
		raw = (MfRawValue) {MF_RAW_TEXT, 0.0, false, (const char *) bytes, blen};
	else if (col->kind != MF_COL_CATEGORICAL && (json_is_number(v) || json_is_boolean(v)))
	{
		/* a numeric or boolean column reads only the number: no JSON text printed for it */
		raw = (MfRawValue) {json_is_boolean(v) ? MF_RAW_BOOL : MF_RAW_NUMBER,
			json_is_number(v) ? json_number_value(v) : 0.0, json_is_true(v), NULL, 0};
	}
	else if (mf_model_raw_from_json(v, &raw, buf, sizeof(buf)) != MF_MODEL_OK)
	{
		snprintf(msg, msglen, "row %zu: input \"%s\" must be %s", r, col->name,
				 col->kind == MF_COL_CATEGORICAL ? "a string, a number or null" : "a number, a boolean or null");
		return false;
	}
	s = mf_trained_model_encode_value(m, i, &raw, xraw, &err);
	free(bytes);
	if (s != MF_MODEL_OK)
	{
		MfRowsModelMsg(rows, r, &err, msg, msglen);
		return false;
	}
	return true;
}

/* Encode row r from raw values given per schema column by get. */
bool
mf_serve_encode_cells(MfServeRows *rows, size_t r, MfServeCellFn get, void *ctx,
					  char *msg, size_t msglen)
{
	const MfModelMeta *mm = &rows->v->model.meta;
	double	   *xraw = rows->X + r * mm->p;

	for (int i = 0; i < mm->ncols; i++)
		if (!MfRowsEncodeValue(rows, r, i, get(ctx, r, i), xraw, msg, msglen))
			return false;
	return true;
}

/* The member of an object named as schema column col. */
static json_t *
MfRowsObjectCell(void *ctx, size_t r, int col)
{
	const MfServeRows *rows = ((void **) ctx)[0];

	(void) r;
	return json_object_get(((void **) ctx)[1], rows->v->model.meta.cols[col].name);
}

/* Encode row r from a JSON object of named raw features. */
bool
mf_serve_encode_object(MfServeRows *rows, size_t r, json_t *obj, char *msg, size_t msglen)
{
	void	   *ctx[2] = {rows, obj};

	if (!json_is_object(obj))
	{
		snprintf(msg, msglen, "row %zu must be an object of named features or a list", r);
		return false;
	}
	return mf_serve_encode_cells(rows, r, MfRowsObjectCell, ctx, msg, msglen);
}

/* Element col of a list. */
static json_t *
MfRowsListCell(void *ctx, size_t r, int col)
{
	(void) r;
	return json_array_get(ctx, (size_t) col);
}

/* Encode row r from a JSON list of raw column values or p numbers. */
bool
mf_serve_encode_list(MfServeRows *rows, size_t r, json_t *list, char *msg, size_t msglen)
{
	const MfModelMeta *mm = &rows->v->model.meta;
	size_t		n = json_array_size(list);
	double	   *xraw = rows->X + r * mm->p;

	if (!json_is_array(list))
	{
		snprintf(msg, msglen, "row %zu must be a list or an object of named features", r);
		return false;
	}
	if (n == (size_t) mm->ncols)
		return mf_serve_encode_cells(rows, r, MfRowsListCell, list, msg, msglen);
	if (n != mm->p)
	{
		snprintf(msg, msglen, "row %zu has %zu values; the model takes %d inputs (%zu features)",
				 r, n, mm->ncols, mm->p);
		return false;
	}
	for (size_t j = 0; j < n; j++)
	{
		json_t	   *v = json_array_get(list, j);

		if (!json_is_number(v))
		{
			snprintf(msg, msglen, "row %zu: feature \"%s\" must be a number", r, mm->feature_names[j]);
			return false;
		}
		xraw[j] = json_number_value(v);
	}
	return true;
}

/*
 * Score every row one by one (what mf_trained_model_score_rows does, with
 * the row of a refusal known); false with msg set when a row is refused.
 */
bool
mf_serve_rows_score(MfServeRows *rows, char *msg, size_t msglen)
{
	MfArtAllocator heap = {mfk_malloc_allocator.alloc, mfk_malloc_allocator.free, NULL};
	const MfTrainedModel *m = &rows->v->model;
	size_t		p = m->meta.p;
	size_t		K = (size_t) m->meta.n_labels;
	MfModelWork w;
	MfModelError err;
	bool		ok = true;

	if (rows->v->text != NULL)
		return mf_serve_text_score(rows, msg, msglen);
	if (mf_model_work_init(m, &w, &heap) != MF_MODEL_OK)
	{
		snprintf(msg, msglen, "out of memory");
		return false;
	}
	for (size_t r = 0; ok && r < rows->n; r++)
	{
		MfModelScore sc;

		if (mf_trained_model_score(m, rows->X + r * p, &w, &sc, &err) != MF_MODEL_OK)
		{
			MfRowsModelMsg(rows, r, &err, msg, msglen);
			ok = false;
			break;
		}
		rows->values[r] = sc.value;
		rows->index[r] = sc.index;
		if (rows->proba != NULL && sc.proba != NULL)
			memcpy(rows->proba + r * K, sc.proba, sizeof(double) * K);
	}
	mf_model_work_free(&w, &heap);
	return ok;
}

/* Row r's probabilities as a JSON list into b. */
void
mf_serve_buf_proba(MfServeBuf *b, const MfServeRows *rows, size_t r)
{
	int			k = rows->v->model.meta.n_labels;

	mf_serve_buf_text(b, "[");
	for (int j = 0; j < k; j++)
	{
		if (j > 0)
			mf_serve_buf_text(b, ",");
		mf_serve_buf_real(b, rows->proba[r * (size_t) k + (size_t) j]);
	}
	mf_serve_buf_text(b, "]");
}

/* Row r's embedding as a JSON list of floats. */
void
mf_serve_buf_embedding(MfServeBuf *b, const MfServeRows *rows, size_t r)
{
	mf_serve_buf_text(b, "[");
	mf_serve_buf_floats(b, rows->emb + r * rows->emb_dim, rows->emb_dim);
	mf_serve_buf_text(b, "]");
}

/* The label of row r (classifiers), else NULL. */
const char *
mf_serve_label(const MfServeRows *rows, size_t r)
{
	const MfModelMeta *mm = &rows->v->model.meta;

	if (!mm->classify || rows->index[r] < 0 || rows->index[r] >= mm->n_labels)
		return NULL;
	return mm->labels[rows->index[r]];
}
