/*
 * oip.c - the Open Inference Protocol v2 (KServe v2) REST codec, as the
 * OpenAPI description open_inference_rest.yaml lays it out.
 *
 *   GET  /v2                                    server metadata
 *   GET  /v2/health/live, /v2/health/ready      200 (ready: a model is loaded)
 *   GET  /v2/models/{m}[/versions/{v}]          model metadata
 *   GET  /v2/models/{m}[/versions/{v}]/ready    200 or 404
 *   POST /v2/models/{m}[/versions/{v}]/infer    inference
 *
 * {v} is the semver (model_version in every answer), or the integer
 * number.  An inference request carries either one tensor of shape [n, p]
 * (FP64, FP32 or an integer type; any name when it is the only input)
 * holding the p expanded features in the order of the metadata's
 * "features" property (as mf_predict(ref, float8[]) takes them), or one
 * tensor per schema input, named as in the feature schema, of shape [n]
 * or [n, 1] (BYTES for text, BOOL or numbers; null elements impute).
 * Data may be flat or nested, in row-major order.  Outputs: predict (FP64
 * [n], mf_predict), label (BYTES [n], classifiers) and probabilities
 * (FP64 [n, k], classifiers); "outputs" in the request picks some.  FP32
 * data is rounded to float before use, as a float tensor means.
 * Transformers (text.c) take one BYTES tensor of texts, any name;
 * decoders and encoder-decoders answer one BYTES output "text", generated
 * with the request's parameters (max_tokens, temperature, top_k, seed,
 * greedy: mf_generate's options); embedding versions answer one output
 * "embedding", FP32 [n, d], row-major: mf_embed's floats, printed with the
 * fewest digits that read back as the same float.  Text classifiers answer
 * that output too when the request's "outputs" names it (alone, or beside
 * predict, label and probabilities); never by default, which would make
 * every answer d values per text larger.
 */
#include "serve_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MF_OIP_PATH_MAX 512

/* One input tensor of a request, its data flattened. */
typedef struct MfOipTensor
{
	const char *name;
	const char *datatype;
	size_t		dims[2];
	int			ndim;
	size_t		n_data;
	json_t	  **data;			/* borrowed from the body */
} MfOipTensor;

/* The per-input form: the tensor of each schema column. */
typedef struct MfOipColumns
{
	MfOipTensor **by_col;
} MfOipColumns;

/* ------------------------------------------------------------ metadata */

/* {"name", "datatype", "shape"} of a metadata tensor. */
static json_t *
MfOipMetaTensor(const char *name, const char *datatype, int k)
{
	return k > 0 ? json_pack("{s:s,s:s,s:[i,i]}", "name", name, "datatype", datatype, "shape", -1, k)
		: json_pack("{s:s,s:s,s:[i]}", "name", name, "datatype", datatype, "shape", -1);
}

/* The properties of a version (strings only, as the schema wants). */
static json_t *
MfOipProperties(const MfServeVersion *v)
{
	const MfModelIO *io = &v->io;
	json_t	   *feats = json_array();
	char		num[24],
				p[24];
	char	   *ftext;
	json_t	   *o;

	for (size_t j = 0; feats != NULL && j < io->n_features; j++)
		json_array_append_new(feats, json_string(io->feature_names[j]));
	ftext = feats ? json_dumps(feats, JSON_COMPACT) : NULL;
	json_decref(feats);
	snprintf(num, sizeof(num), "%lld", (long long) v->number);
	snprintf(p, sizeof(p), "%zu", io->n_features);
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "family", io->family, "task", io->task,
				  "version_number", num, "n_features", p, "features", ftext ? ftext : "[]",
				  "tensor_input", "one FP64, FP32 or INT64 tensor [n, n_features] in the order of "
				  "features, or one tensor per input named as in inputs");
	free(ftext);
	return o;
}

/* GET /v2/models/{m}[/versions/{v}]: the model metadata. */
static void
MfOipModelMeta(MfServeCall *c, const MfServeTarget *t)
{
	const MfModelIO *io = &t->version->io;
	json_t	   *versions = json_array(),
			   *in = json_array(),
			   *out = json_array();

	for (int k = t->entry->n_versions - 1; versions != NULL && k >= 0; k--)
		json_array_append_new(versions, json_string(t->entry->versions[k]->semver));
	for (int i = 0; in != NULL && i < io->n_inputs; i++)
		json_array_append_new(in, MfOipMetaTensor(io->inputs[i].name,
												  io->inputs[i].kind == MF_COL_CATEGORICAL ? "BYTES" :
												  io->inputs[i].kind == MF_COL_BOOLEAN ? "BOOL" : "FP64", 0));
	if (mf_serve_text_generates(t->version))
		json_array_append_new(out, MfOipMetaTensor("text", "BYTES", 0));
	else if (mf_serve_text_embed_dim(t->version) == 0)
		json_array_append_new(out, MfOipMetaTensor("predict", "FP64", 0));
	if (io->output == MF_OUT_CLASS)
	{
		json_array_append_new(out, MfOipMetaTensor("label", "BYTES", 0));
		json_array_append_new(out, MfOipMetaTensor("probabilities", "FP64", io->n_labels));
	}
	/* embedding versions' one output; classifiers' on request */
	if (mf_serve_text_encoder_dim(t->version) > 0)
		json_array_append_new(out, MfOipMetaTensor("embedding", "FP32", (int) mf_serve_text_encoder_dim(t->version)));
	mf_serve_json(c, 200, json_pack("{s:s,s:o*,s:s,s:o*,s:o*,s:o*}", "name", t->entry->name,
									"versions", versions, "platform", "mf_ext",
									"inputs", in, "outputs", out,
									"properties", t->version->text != NULL ? mf_serve_text_properties(t->version) :
									MfOipProperties(t->version)));
}

/* ------------------------------------------------------------ tensors */

/* Append the leaves of nested data to t->data; false when too many or not scalars. */
static bool
MfOipFlatten(MfOipTensor *t, json_t *d, size_t cap)
{
	size_t		i;
	json_t	   *v;

	if (!json_is_array(d))
	{
		if (json_is_object(d) || t->n_data >= cap)
			return false;
		t->data[t->n_data++] = d;
		return true;
	}
	json_array_foreach(d, i, v)
		if (!MfOipFlatten(t, v, cap))
		return false;
	return true;
}

/* True when dt is a numeric datatype of the protocol. */
static bool
MfOipNumeric(const char *dt)
{
	static const char *const known[] = {"FP64", "FP32", "FP16", "INT64", "INT32", "INT16", "INT8",
	"UINT64", "UINT32", "UINT16", "UINT8", NULL};

	for (int i = 0; known[i]; i++)
		if (strcmp(dt, known[i]) == 0)
			return true;
	return false;
}

/* True when dt is a datatype of the protocol (numbers, BOOL, BYTES). */
static bool
MfOipDatatypeKnown(const char *dt)
{
	return strcmp(dt, "BOOL") == 0 || strcmp(dt, "BYTES") == 0 || MfOipNumeric(dt);
}

/* Read one input tensor object; false with msg. */
static bool
MfOipTensorRead(json_t *o, MfOipTensor *t, char *msg, size_t msglen)
{
	json_t	   *name = json_object_get(o, "name"),
			   *shape = json_object_get(o, "shape"),
			   *dt = json_object_get(o, "datatype"),
			   *data = json_object_get(o, "data");
	size_t		count = 1;

	memset(t, 0, sizeof(*t));
	if (!json_is_object(o) || !json_is_string(name) || !json_is_array(shape) || !json_is_string(dt) || data == NULL)
		return mf_serve_fail(msg, msglen, "every input needs \"name\", \"shape\", \"datatype\" and \"data\"");
	t->name = json_string_value(name);
	t->datatype = json_string_value(dt);
	if (!MfOipDatatypeKnown(t->datatype))
		return mf_serve_fail(msg, msglen, "input \"%s\": datatype \"%.40s\" is not one of the protocol's "
							 "(BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES)",
							 t->name, t->datatype);
	if (json_array_size(shape) < 1 || json_array_size(shape) > 2)
		return mf_serve_fail(msg, msglen, "input \"%s\": shape must have 1 or 2 dimensions", t->name);
	t->ndim = (int) json_array_size(shape);
	for (int k = 0; k < t->ndim; k++)
	{
		json_t	   *d = json_array_get(shape, (size_t) k);

		if (!json_is_integer(d) || json_integer_value(d) < 0 || json_integer_value(d) > (1 << 24))
			return mf_serve_fail(msg, msglen, "input \"%s\": shape must hold non-negative integers", t->name);
		t->dims[k] = (size_t) json_integer_value(d);
		count *= t->dims[k];
	}
	if (count > (1u << 24) || (t->data = malloc(sizeof(json_t *) * (count ? count : 1))) == NULL)
		return mf_serve_fail(msg, msglen, "input \"%s\" is too large", t->name);
	if (!MfOipFlatten(t, data, count) || t->n_data != count)
		return mf_serve_fail(msg, msglen, "input \"%s\": data must hold exactly %zu scalars, the product of its shape",
						t->name, count);
	return true;
}

/* Check that a value fits a datatype (null allowed when nullable); false with msg. */
static bool
MfOipValueOk(const MfOipTensor *t, json_t *v, bool nullable, char *msg, size_t msglen)
{
	const char *dt = t->datatype;
	bool		ok;

	if (json_is_null(v))
		ok = nullable;
	else if (strcmp(dt, "BYTES") == 0)
		ok = json_is_string(v);
	else if (strcmp(dt, "BOOL") == 0)
		ok = json_is_boolean(v);
	else if (dt[0] == 'F')
		ok = json_is_number(v);
	else
		ok = json_is_integer(v) && (dt[0] != 'U' || json_integer_value(v) >= 0);
	if (!ok)
		snprintf(msg, msglen, "input \"%s\": %s is not a value of datatype %s", t->name,
				 json_is_null(v) ? "null" : json_is_string(v) ? "a string" : json_is_boolean(v) ? "a boolean" :
				 json_is_integer(v) ? "an integer" : "a number", dt);
	return ok;
}

/* A numeric element as a double (FP32 rounded to float). */
static double
MfOipNumber(const MfOipTensor *t, json_t *v)
{
	double		x = json_number_value(v);

	if (strcmp(t->datatype, "FP32") == 0)
		return (double) (float) x;
	return x;
}

/* ------------------------------------------------------------ inference */

/* Encode the single-tensor form [n, p] into rows; false with msg. */
static bool
MfOipEncodeTensor(MfServeRows *rows, const MfOipTensor *t, char *msg, size_t msglen)
{
	for (size_t i = 0; i < t->n_data; i++)
	{
		if (!MfOipValueOk(t, t->data[i], false, msg, msglen))
			return false;
		rows->X[i] = MfOipNumber(t, t->data[i]);
	}
	return true;
}

/* Element r of the tensor of schema column col (FP32 values rounded). */
static json_t *
MfOipColumnCell(void *ctx, size_t r, int col)
{
	MfOipColumns *cols = ctx;

	return cols->by_col[col]->data[r];
}

/* Rows of the per-input form; false with msg. */
static bool
MfOipColumnsCheck(const MfServeVersion *v, MfOipTensor *ts, int nt, MfOipTensor **by_col,
				  size_t *n, char *msg, size_t msglen)
{
	const MfModelMeta *mm = &v->model.meta;

	for (int i = 0; i < nt; i++)
	{
		/* a text version's one tensor may have any name */
		int			col = v->text != NULL && nt == 1 ? 0 : mf_trained_model_column(&v->model, ts[i].name);

		if (v->text != NULL && strcmp(ts[i].datatype, "BYTES") != 0)
			return mf_serve_fail(msg, msglen, "input \"%s\": a text model takes one BYTES tensor of texts, not %s",
								 ts[i].name, ts[i].datatype);
		if (col < 0)
			return mf_serve_fail(msg, msglen, "input \"%s\" is not an input of the model (see its metadata), "
							"and a single [n, %zu] tensor must be the only input", ts[i].name, mm->p);
		if (by_col[col] != NULL)
			return mf_serve_fail(msg, msglen, "input \"%s\" is given twice", ts[i].name);
		if ((ts[i].ndim == 2 && ts[i].dims[1] != 1) || (i > 0 && ts[i].dims[0] != *n))
			return mf_serve_fail(msg, msglen, "input \"%s\" must have shape [n] or [n, 1], the same n for every input",
							ts[i].name);
		*n = ts[i].dims[0];
		by_col[col] = &ts[i];
		for (size_t r = 0; r < ts[i].n_data; r++)
			if (!MfOipValueOk(&ts[i], ts[i].data[r], true, msg, msglen))
				return false;
	}
	for (int col = 0; col < mm->ncols; col++)
		if (by_col[col] == NULL)
			return mf_serve_fail(msg, msglen, "input \"%s\" is missing", mm->cols[col].name);
	return true;
}

/* True when the request wants output name (all when it names none). */
static bool
MfOipWants(json_t *wanted, const char *name)
{
	size_t		i;
	json_t	   *o;

	if (wanted == NULL)
		return true;
	json_array_foreach(wanted, i, o)
		if (strcmp(json_string_value(json_object_get(o, "name")), name) == 0)
		return true;
	return false;
}

/* Begin an output tensor of the answer: name, datatype, shape [n] or [n, k], then "data":[. */
static void
MfOipOutputHead(MfServeBuf *b, bool first, const char *name, const char *dt, size_t n, int k)
{
	mf_serve_buf_text(b, first ? "{\"name\":\"" : ",{\"name\":\"");
	mf_serve_buf_text(b, name);
	mf_serve_buf_text(b, "\",\"datatype\":\"");
	mf_serve_buf_text(b, dt);
	mf_serve_buf_text(b, "\",\"shape\":[");
	mf_serve_buf_int(b, (long long) n);
	if (k > 0)
	{
		mf_serve_buf_text(b, ",");
		mf_serve_buf_int(b, k);
	}
	mf_serve_buf_text(b, "],\"data\":[");
}

/* The answer of an inference: model, version, the wanted outputs, the request's id. */
static void
MfOipAnswer(MfServeBuf *b, const MfServeTarget *t, const MfServeRows *rows, json_t *wanted, json_t *id)
{
	int			k = rows->v->model.meta.n_labels;
	bool		classifier = mf_serve_is_classifier(rows->v);
	bool		first = true;

	mf_serve_buf_text(b, "{\"model_name\":");
	mf_serve_buf_str(b, t->entry->name);
	mf_serve_buf_text(b, ",\"model_version\":");
	mf_serve_buf_str(b, t->version->semver);
	mf_serve_buf_text(b, ",\"outputs\":[");
	if (!rows->embed_only && MfOipWants(wanted, "predict"))
	{
		MfOipOutputHead(b, first, "predict", "FP64", rows->n, 0);
		for (size_t r = 0; r < rows->n; r++)
		{
			if (r > 0)
				mf_serve_buf_text(b, ",");
			mf_serve_buf_real(b, rows->values[r]);
		}
		mf_serve_buf_text(b, "]}");
		first = false;
	}
	if (!rows->embed_only && classifier && MfOipWants(wanted, "label"))
	{
		MfOipOutputHead(b, first, "label", "BYTES", rows->n, 0);
		for (size_t r = 0; r < rows->n; r++)
		{
			if (r > 0)
				mf_serve_buf_text(b, ",");
			mf_serve_buf_str(b, mf_serve_label(rows, r));
		}
		mf_serve_buf_text(b, "]}");
		first = false;
	}
	if (!rows->embed_only && classifier && MfOipWants(wanted, "probabilities"))
	{
		MfOipOutputHead(b, first, "probabilities", "FP64", rows->n, k);
		for (size_t i = 0; i < rows->n * (size_t) k; i++)
		{
			if (i > 0)
				mf_serve_buf_text(b, ",");
			mf_serve_buf_real(b, rows->proba[i]);
		}
		mf_serve_buf_text(b, "]}");
		first = false;
	}
	if (rows->emb != NULL)
	{
		MfOipOutputHead(b, first, "embedding", "FP32", rows->n, (int) rows->emb_dim);
		mf_serve_buf_floats(b, rows->emb, rows->n * rows->emb_dim);
		mf_serve_buf_text(b, "]}");
	}
	mf_serve_buf_text(b, "]");
	if (json_is_string(id))
	{
		mf_serve_buf_text(b, ",\"id\":");
		mf_serve_buf_str(b, json_string_value(id));
	}
	mf_serve_buf_text(b, "}");
}

/* Check the requested outputs; false with msg. */
static bool
MfOipOutputsOk(const MfServeVersion *v, json_t *wanted, char *msg, size_t msglen)
{
	size_t		i;
	json_t	   *o;

	if (wanted == NULL)
		return true;
	if (!json_is_array(wanted))
		return mf_serve_fail(msg, msglen, "\"outputs\" must be a list of {\"name\": ...}");
	json_array_foreach(wanted, i, o)
	{
		const char *name = json_string_value(json_object_get(o, "name"));

		if (name == NULL)
			return mf_serve_fail(msg, msglen, "\"outputs\" must be a list of {\"name\": ...}");
		if (mf_serve_text_generates(v))
		{
			if (strcmp(name, "text") != 0)
				return mf_serve_fail(msg, msglen, "unknown output \"%s\"; this model has text", name);
			continue;
		}
		if (mf_serve_text_embed_dim(v) > 0)
		{
			if (strcmp(name, "embedding") != 0)
				return mf_serve_fail(msg, msglen, "unknown output \"%s\"; this model has embedding", name);
			continue;
		}
		if (strcmp(name, "predict") != 0 &&
			!(mf_serve_is_classifier(v) && (strcmp(name, "label") == 0 || strcmp(name, "probabilities") == 0)) &&
			!(mf_serve_text_encoder_dim(v) > 0 && strcmp(name, "embedding") == 0))
			return mf_serve_fail(msg, msglen, "unknown output \"%s\"; this model has %s", name,
							mf_serve_text_encoder_dim(v) > 0 ? "predict, label, probabilities and embedding" :
							mf_serve_is_classifier(v) ? "predict, label and probabilities" : "predict");
	}
	return true;
}

/*
 * Ask a text classifier's rows for embeddings when the request names the
 * output "embedding" (alone: the texts are not classified); false when out
 * of memory.
 */
static bool
MfOipWantEmbedding(MfServeRows *rows, json_t *wanted)
{
	if (wanted == NULL || rows->emb != NULL || !MfOipWants(wanted, "embedding"))
		return true;
	return mf_serve_rows_embed(rows, !MfOipWants(wanted, "predict") && !MfOipWants(wanted, "label") &&
							   !MfOipWants(wanted, "probabilities"));
}

/* Encode and score the tensors of a request into rows (the outputs wanted); false with msg. */
static bool
MfOipScore(MfServeCall *c, const MfServeTarget *t, MfOipTensor *ts, int nt, json_t *wanted,
		   MfServeRows *rows, char *msg, size_t msglen)
{
	const MfServeVersion *v = t->version;
	const MfModelMeta *mm = &v->model.meta;
	bool		single = nt == 1 && v->text == NULL &&
		(mm->ncols != 1 || mf_trained_model_column(&v->model, ts[0].name) < 0);
	MfOipColumns cols = {0};
	size_t		n = 0;
	bool		ok = true;

	if (single)
	{
		if (!MfOipNumeric(ts[0].datatype))
			return mf_serve_fail(msg, msglen, "input \"%s\": a single tensor must be FP64, FP32 or INT64, not %s",
							ts[0].name, ts[0].datatype);
		if (!(ts[0].ndim == 2 && ts[0].dims[1] == mm->p) && !(ts[0].ndim == 1 && mm->p == 1))
			return mf_serve_fail(msg, msglen, "input \"%s\" must have shape [n, %zu] (the model's features)",
							ts[0].name, mm->p);
		n = ts[0].dims[0];
	}
	else
	{
		cols.by_col = calloc((size_t) (mm->ncols > 0 ? mm->ncols : 1), sizeof(MfOipTensor *));
		if (cols.by_col == NULL)
			return mf_serve_fail(msg, msglen, "out of memory");
		ok = MfOipColumnsCheck(v, ts, nt, cols.by_col, &n, msg, msglen);
	}
	if (ok && n > (size_t) mf_serve_max_batch(c, t->entry))
		ok = mf_serve_fail(msg, msglen, "%zu rows in one request; the limit is %d", n, mf_serve_max_batch(c, t->entry));
	if (ok && (!mf_serve_rows_init(rows, v, n) || !MfOipWantEmbedding(rows, wanted)))
		ok = mf_serve_fail(msg, msglen, "out of memory");
	for (size_t r = 0; ok && !single && r < n; r++)
		ok = mf_serve_encode_cells(rows, r, MfOipColumnCell, &cols, msg, msglen);
	ok = ok && (!single || MfOipEncodeTensor(rows, &ts[0], msg, msglen));
	/* a generating model's rows are generated by MfOipGenerated */
	ok = ok && (mf_serve_text_generates(v) || mf_serve_rows_score(rows, msg, msglen));
	free(cols.by_col);
	return ok;
}

/* Read the inputs of a request body into ts; false with msg. */
static bool
MfOipInputs(json_t *body, MfOipTensor **ts, int *nt, char *msg, size_t msglen)
{
	json_t	   *inputs = json_object_get(body, "inputs");
	json_t	   *id = json_object_get(body, "id");
	json_t	   *params = json_object_get(body, "parameters");
	size_t		i;
	json_t	   *o;

	*ts = NULL;
	*nt = 0;
	if (!json_is_object(body))
		return mf_serve_fail(msg, msglen, "the body must be a JSON object with \"inputs\"");
	if (!json_is_array(inputs) || json_array_size(inputs) == 0 || json_array_size(inputs) > 4096)
		return mf_serve_fail(msg, msglen, "\"inputs\" must be a non-empty list of tensors");
	if ((id != NULL && !json_is_string(id)) || (params != NULL && !json_is_object(params)))
		return mf_serve_fail(msg, msglen, "\"id\" must be a string and \"parameters\" an object");
	*ts = calloc(json_array_size(inputs), sizeof(MfOipTensor));
	if (*ts == NULL)
		return mf_serve_fail(msg, msglen, "out of memory");
	json_array_foreach(inputs, i, o)
	{
		(*nt)++;
		if (!MfOipTensorRead(o, &(*ts)[i], msg, msglen))
			return false;
	}
	return true;
}

/* Free the tensors of a request. */
static void
MfOipTensorsFree(MfOipTensor *ts, int nt)
{
	for (int i = 0; ts != NULL && i < nt; i++)
		free(ts[i].data);
	free(ts);
}

/* The answer of a generating model: the text of every prompt (output "text", BYTES [n]). */
static void
MfOipGenerated(MfServeCall *c, const MfServeTarget *t, const MfServeRows *rows, json_t *body)
{
	char	  **out = calloc(rows->n > 0 ? rows->n : 1, sizeof(char *));
	char		msg[512];
	json_t	   *id = json_object_get(body, "id");
	MfServeBuf	b = {0};

	if (out == NULL)
		mf_serve_error(c, 500, "out of memory");
	else if (!mf_serve_text_generate(rows, json_object_get(body, "parameters"), out, msg, sizeof(msg)))
		mf_serve_error(c, 400, "%s", msg);
	else
	{
		mf_serve_buf_text(&b, "{\"model_name\":");
		mf_serve_buf_str(&b, t->entry->name);
		mf_serve_buf_text(&b, ",\"model_version\":");
		mf_serve_buf_str(&b, t->version->semver);
		mf_serve_buf_text(&b, ",\"outputs\":[");
		MfOipOutputHead(&b, true, "text", "BYTES", rows->n, 0);
		for (size_t r = 0; r < rows->n; r++)
		{
			if (r > 0)
				mf_serve_buf_text(&b, ",");
			mf_serve_buf_str(&b, out[r]);
		}
		mf_serve_buf_text(&b, "]}]");
		if (json_is_string(id))
		{
			mf_serve_buf_text(&b, ",\"id\":");
			mf_serve_buf_str(&b, json_string_value(id));
		}
		mf_serve_buf_text(&b, "}");
		mf_serve_json_buf(c, 200, &b);
	}
	for (size_t r = 0; out != NULL && r < rows->n; r++)
		free(out[r]);
	free(out);
}

/*
 * The prediction log's row-id input (the policy's log_id_field, not an
 * input of the model) moved to the end of ts; returns the tensors left to
 * score (nt when there is none).
 */
static int
MfOipSetIdAside(const MfServeTarget *t, MfOipTensor *ts, int nt)
{
	const char *field = t->entry->policy.log_id_field;

	if (!t->entry->policy.log_predictions || field[0] == '\0' ||
		mf_trained_model_column(&t->version->model, field) >= 0)
		return nt;
	for (int i = 0; i < nt; i++)
		if (strcmp(ts[i].name, field) == 0)
		{
			MfOipTensor id = ts[i];

			ts[i] = ts[nt - 1];
			ts[nt - 1] = id;
			return nt - 1;
		}
	return nt;
}

/* Log the scored rows, their ids from the named input (one element a row) when it has them. */
static void
MfOipLog(MfServeCall *c, const MfServeTarget *t, const MfServeRows *rows, const MfOipTensor *ts,
		 int nt, json_t *body)
{
	json_t	   *cols = NULL;
	const char *field = t->entry->policy.log_id_field;

	if (!t->entry->policy.log_predictions)
		return;
	for (int i = 0; i < nt && cols == NULL; i++)
		if (field[0] != '\0' && strcmp(ts[i].name, field) == 0 && ts[i].n_data == rows->n)
		{
			json_t	   *ids = json_array();

			for (size_t r = 0; ids != NULL && r < ts[i].n_data; r++)
				json_array_append(ids, ts[i].data[r]);
			cols = ids ? json_pack("{s:o}", field, ids) : NULL;
		}
	mf_serve_log_rows(c, t->entry, rows, NULL, cols, json_string_value(json_object_get(body, "id")));
	json_decref(cols);
}

/* infer of one numeric tensor read without a JSON tree (numbody.c); false: the JSON path answers. */
static bool
MfOipInferFast(MfServeCall *c, const MfServeTarget *t)
{
	MfServeRows rows;
	MfServeBuf	b = {0};
	json_t	   *id = NULL;

	if (!mf_serve_fast_oip(c, t, &rows, &id))
		return false;
	MfOipAnswer(&b, t, &rows, NULL, id);
	mf_serve_json_buf(c, 200, &b);
	mf_serve_rows_free(&rows);
	json_decref(id);
	return true;
}

/* POST .../infer. */
static void
MfOipInfer(MfServeCall *c, const MfServeTarget *t)
{
	json_t	   *body = MfOipInferFast(c, t) ? NULL : mf_serve_parse_body(c);
	MfOipTensor *ts = NULL;
	int			nt = 0;
	int			scored = 0;
	MfServeRows rows = {0};
	char		msg[512];
	json_t	   *wanted;
	bool		ok;

	if (body == NULL)
		return;
	wanted = json_object_get(body, "outputs");
	ok = MfOipInputs(body, &ts, &nt, msg, sizeof(msg)) && MfOipOutputsOk(t->version, wanted, msg, sizeof(msg));
	if (ok && (scored = MfOipSetIdAside(t, ts, nt)) == 0)
		ok = mf_serve_fail(msg, sizeof(msg), "\"inputs\" holds only the row-id input \"%s\"; add the model's inputs",
						   t->entry->policy.log_id_field);
	if (!ok || !MfOipScore(c, t, ts, scored, wanted, &rows, msg, sizeof(msg)))
		mf_serve_error(c, 400, "%s", msg);
	else if (mf_serve_text_generates(t->version))
		MfOipGenerated(c, t, &rows, body);
	else
	{
		MfServeBuf	b = {0};

		MfOipAnswer(&b, t, &rows, wanted, json_object_get(body, "id"));
		mf_serve_json_buf(c, 200, &b);
		if (c->resp->status == 200)
			MfOipLog(c, t, &rows, ts, nt, body);
	}
	mf_serve_rows_free(&rows);
	MfOipTensorsFree(ts, nt);
	json_decref(body);
}

/* ------------------------------------------------------------ routing */

/* /v2/models/{m}[/versions/{v}][/ready|/infer]. */
static void
MfOipModels(MfServeCall *c, char *p)
{
	MfServeTarget t = {0};
	char	   *seg[5];
	int			n = 0;
	const char *op = "";

	for (char *s = p; n < 5;)
	{
		char	   *slash = strchr(s, '/');

		seg[n++] = s;
		if (slash == NULL)
			break;
		*slash = '\0';
		s = slash + 1;
	}
	t.name = seg[0];
	if (n >= 3 && strcmp(seg[1], "versions") == 0 && seg[2][0] != '\0')
	{
		t.kind = MF_SEL_SEMVER;
		t.sel = seg[2];
		memmove(&seg[1], &seg[3], sizeof(char *) * 2);
		n -= 2;
	}
	if (n == 2)
		op = seg[1];
	if (t.name[0] == '\0' || n > 2 || (n == 2 && strcmp(op, "ready") != 0 && strcmp(op, "infer") != 0))
	{
		mf_serve_error(c, 404, "no route for this path; use /v2/models/{name}[/versions/{version}][/ready|/infer]");
		return;
	}
	if (!mf_serve_method_ok(c, strcmp(op, "infer") == 0 ? "POST" : "GET") ||
		!mf_serve_resolve(c, &t, strcmp(op, "infer") == 0))
		return;
	if (strcmp(op, "infer") == 0)
		MfOipInfer(c, &t);
	else if (strcmp(op, "ready") == 0)
		mf_serve_empty(c, 200);
	else
		MfOipModelMeta(c, &t);
}

/* Answer a /v2... request (rest starts after "/v2"). */
void
mf_serve_oip(MfServeCall *c, const char *rest)
{
	char		buf[MF_OIP_PATH_MAX];

	if (strcmp(rest, "") == 0 || strcmp(rest, "/") == 0)
	{
		if (mf_serve_method_ok(c, "GET"))
			mf_serve_json(c, 200, json_pack("{s:s,s:s,s:[]}", "name", MF_SERVE_SERVER_NAME,
											"version", MF_SERVE_SERVER_VERSION, "extensions"));
	}
	else if (strcmp(rest, "/health/live") == 0)
	{
		if (mf_serve_method_ok(c, "GET"))
			mf_serve_empty(c, 200);
	}
	else if (strcmp(rest, "/health/ready") == 0)
	{
		if (!mf_serve_method_ok(c, "GET"))
			return;
		if (c->cat != NULL && c->cat->n_entries > 0)
			mf_serve_empty(c, 200);
		else
			mf_serve_error(c, 503, "no model is loaded");
	}
	else if (strncmp(rest, "/models/", 8) == 0 && strlen(rest) < sizeof(buf))
	{
		memcpy(buf, rest + 8, strlen(rest + 8) + 1);
		MfOipModels(c, buf);
	}
	else
		mf_serve_error(c, 404, "no route for /v2%s", strlen(rest) < 200 ? rest : "/...");
}
