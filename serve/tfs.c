/*
 * tfs.c - the TensorFlow Serving REST codec.
 *
 *   GET  /v1/models/{m}[/versions/{n}|/labels/{l}]            model status
 *   GET  /v1/models/{m}[/versions/{n}|/labels/{l}]/metadata   signature
 *   POST /v1/models/{m}[/versions/{n}|/labels/{l}]:predict    row or columnar
 *   POST ...:classify, ...:regress                            examples
 *
 * Versions are the integer numbers of the served directory
 * (mf.model_versions.version_id); labels are the stage and the aliases.
 * Rows ("instances", or "inputs" as a list) are objects of named raw
 * features (texts, numbers, booleans, null, {"b64": ...}), lists of the
 * raw inputs in schema order, lists of the p expanded features (as
 * mf_predict(ref, float8[]) takes them), or a scalar when the model has
 * one input.  The columnar form ("inputs" as an object) maps each input
 * name to a list of n values.  Outputs are named predict (mf_predict),
 * label and probabilities (classifiers); a model with one output gives
 * bare values, as TF Serving does for one output tensor.  Transformer
 * classifiers take a string per instance (or an object / columnar input
 * named as their text column: text.c); embedding versions answer one
 * vector of d floats per text (mf_embed's, printed with the fewest digits
 * that read back as the same float): {"predictions": [[...], ...]}, or
 * {"outputs": [[...], ...]} for the columnar form.  Every text encoder
 * (classifiers too) has a second signature, "embedding": :predict with
 * "signature_name": "embedding" answers those vectors (what mf_embed
 * answers); serving_default stays the classifier's.  Decoders are described
 * here but generate through OIP infer only.  Errors are
 * {"error": "..."} with 400, 401, 404, 405, 413 or 429.
 */
#include "serve_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MF_TFS_PATH_MAX 512

/* What a /v1 URL asks. */
typedef enum MfTfsVerb
{
	MF_TFS_STATUS = 0,
	MF_TFS_METADATA,
	MF_TFS_PREDICT,
	MF_TFS_CLASSIFY,
	MF_TFS_REGRESS
} MfTfsVerb;

/* Where the rows of a request come from. */
typedef struct MfTfsSource
{
	json_t	   *rows;			/* instances / examples (array) */
	json_t	   *columns;		/* columnar inputs (object) */
	json_t	   *context;		/* classify/regress: shared features */
	bool		examples;
	bool		embedding;		/* signature "embedding": the texts' vectors */
	const MfServeRows *r;
} MfTfsSource;

/* ------------------------------------------------------------ URL */

/* Split the path after /v1 into target and verb; false when it is no TF URL. */
static bool
MfTfsParse(char *p, MfServeTarget *t, MfTfsVerb *verb)
{
	char	   *colon,
			   *seg[6];
	int			n = 0;
	char	   *last = strrchr(p, '/');

	*verb = MF_TFS_STATUS;
	colon = last ? strchr(last, ':') : NULL;
	if (colon != NULL)
	{
		*colon++ = '\0';
		if (strcmp(colon, "predict") == 0)
			*verb = MF_TFS_PREDICT;
		else if (strcmp(colon, "classify") == 0)
			*verb = MF_TFS_CLASSIFY;
		else if (strcmp(colon, "regress") == 0)
			*verb = MF_TFS_REGRESS;
		else
			return false;
	}
	if (strncmp(p, "/models/", 8) != 0)
		return false;
	for (char *s = p + 8; n < 6;)
	{
		char	   *slash = strchr(s, '/');

		seg[n++] = s;
		if (slash == NULL)
			break;
		*slash = '\0';
		s = slash + 1;
	}
	if (n == 0 || seg[0][0] == '\0' || n > 4)
		return false;
	t->name = seg[0];
	if (n >= 3 && (strcmp(seg[1], "versions") == 0 || strcmp(seg[1], "labels") == 0))
	{
		t->kind = seg[1][0] == 'v' ? MF_SEL_NUMBER : MF_SEL_LABEL;
		t->sel = seg[2];
		if (seg[2][0] == '\0')
			return false;
		memmove(&seg[1], &seg[3], sizeof(char *) * 3);
		n -= 2;
	}
	if (n == 2 && strcmp(seg[1], "metadata") == 0 && *verb == MF_TFS_STATUS)
		*verb = MF_TFS_METADATA;
	else if (n != 1)
		return false;
	return true;
}

/* ------------------------------------------------------------ status and metadata */

/* One entry of model_version_status. */
static json_t *
MfTfsVersionStatus(const MfServeVersion *v)
{
	char		num[24];

	snprintf(num, sizeof(num), "%lld", (long long) v->number);
	return json_pack("{s:s,s:s,s:{s:s,s:s}}", "version", num, "state", "AVAILABLE",
					 "status", "error_code", "OK", "error_message", "");
}

/* GET /v1/models/{m}: every version (bare name) or the one named. */
static void
MfTfsStatus(MfServeCall *c, const MfServeTarget *t)
{
	json_t	   *list = json_array();

	if (t->kind == MF_SEL_DEFAULT)
	{
		for (int k = t->entry->n_versions - 1; list != NULL && k >= 0; k--)
			json_array_append_new(list, MfTfsVersionStatus(t->entry->versions[k]));
		mf_serve_answered_by(c, t->entry, NULL);
	}
	else
		json_array_append_new(list, MfTfsVersionStatus(t->version));
	mf_serve_json(c, 200, json_pack("{s:o*}", "model_version_status", list));
}

/* A TensorInfo: dtype and shape [-1] or [-1, k]. */
static json_t *
MfTfsTensor(const char *name, const char *dtype, int k)
{
	json_t	   *dims = json_pack("[{s:s,s:s}]", "size", "-1", "name", "");
	char		ks[16];

	if (k > 0)
	{
		snprintf(ks, sizeof(ks), "%d", k);
		json_array_append_new(dims, json_pack("{s:s,s:s}", "size", ks, "name", ""));
	}
	return json_pack("{s:s,s:{s:o*,s:b},s:s}", "dtype", dtype, "tensor_shape", "dim", dims,
					 "unknown_rank", 0, "name", name);
}

/* The dtype of an input column. */
static const char *
MfTfsDtype(MfColKind k)
{
	return k == MF_COL_CATEGORICAL ? "DT_STRING" : k == MF_COL_BOOLEAN ? "DT_BOOL" : "DT_DOUBLE";
}

/* A predict SignatureDef of inputs and outputs (both stolen). */
static json_t *
MfTfsSignature(json_t *in, json_t *out)
{
	return json_pack("{s:o*,s:o*,s:s}", "inputs", in, "outputs", out, "method_name", "tensorflow/serving/predict");
}

/*
 * GET .../metadata: a serving_default signature built from the feature
 * schema; text encoders add the signature "embedding" (DT_FLOAT [-1, d]).
 */
static void
MfTfsMetadata(MfServeCall *c, const MfServeTarget *t)
{
	const MfModelIO *io = &t->version->io;
	size_t		d = mf_serve_text_encoder_dim(t->version);
	json_t	   *in = mf_serve_object(),
			   *out = mf_serve_object(),
			   *sigs;
	char		num[24];

	for (int i = 0; in != NULL && i < io->n_inputs; i++)
		json_object_set_new(in, io->inputs[i].name,
							MfTfsTensor(io->inputs[i].name, MfTfsDtype(io->inputs[i].kind), 0));
	if (out != NULL && mf_serve_text_generates(t->version))
		json_object_set_new(out, "text", MfTfsTensor("text", "DT_STRING", 0));	/* served by OIP infer */
	else if (out != NULL && mf_serve_text_embed_dim(t->version) > 0)
		json_object_set_new(out, "embedding", MfTfsTensor("embedding", "DT_FLOAT",
														  (int) mf_serve_text_embed_dim(t->version)));
	else if (out != NULL)
	{
		json_object_set_new(out, "predict", MfTfsTensor("predict", "DT_DOUBLE", 0));
		if (io->output == MF_OUT_CLASS)
		{
			json_object_set_new(out, "label", MfTfsTensor("label", "DT_STRING", 0));
			json_object_set_new(out, "probabilities", MfTfsTensor("probabilities", "DT_DOUBLE", io->n_labels));
		}
	}
	sigs = json_pack("{s:o*}", "serving_default", MfTfsSignature(json_incref(in), out));
	if (sigs != NULL && d > 0)
		json_object_set_new(sigs, "embedding",
							MfTfsSignature(json_incref(in),
										   json_pack("{s:o*}", "embedding", MfTfsTensor("embedding", "DT_FLOAT", (int) d))));
	json_decref(in);
	snprintf(num, sizeof(num), "%lld", (long long) t->version->number);
	mf_serve_json(c, 200, json_pack("{s:{s:s,s:s,s:s},s:{s:{s:o*},s:o*}}",
									"model_spec", "name", t->entry->name, "signature_name", "",
									"version", num,
									"metadata", "signature_def", "signature_def", sigs,
									"mf_model", mf_serve_describe_json(t->version)));
}

/* ------------------------------------------------------------ rows */

/* A feature of a classify/regress example: the example's, else the context's; [x] is x. */
static json_t *
MfTfsExampleCell(void *ctx, size_t r, int col)
{
	MfTfsSource *src = ctx;
	const char *name = src->r->v->model.meta.cols[col].name;
	json_t	   *v = json_object_get(json_array_get(src->rows, r), name);

	if (v == NULL && src->context != NULL)
		v = json_object_get(src->context, name);
	if (json_is_array(v) && json_array_size(v) == 1)
		v = json_array_get(v, 0);
	return v;
}

/* Element r of the named column of a columnar input. */
static json_t *
MfTfsColumnCell(void *ctx, size_t r, int col)
{
	MfTfsSource *src = ctx;

	return json_array_get(json_object_get(src->columns, src->r->v->model.meta.cols[col].name), r);
}

/* Rows of a columnar object: every member a list of n; false with msg. */
static bool
MfTfsColumnRows(json_t *cols, size_t *n, char *msg, size_t msglen)
{
	const char *key;
	json_t	   *v;
	bool		first = true;

	*n = 0;
	json_object_foreach(cols, key, v)
	{
		if (!json_is_array(v))
		{
			snprintf(msg, msglen, "input \"%s\" of the columnar form must be a list of values, one per row", key);
			return false;
		}
		if (!first && json_array_size(v) != *n)
		{
			snprintf(msg, msglen, "inputs of the columnar form have different lengths (%zu and %zu)",
					 *n, json_array_size(v));
			return false;
		}
		*n = json_array_size(v);
		first = false;
	}
	if (first)
	{
		snprintf(msg, msglen, "\"inputs\" holds no input");
		return false;
	}
	return true;
}

/* Encode row r of an instance list (object, list or a lone scalar). */
static bool
MfTfsInstance(MfServeRows *rows, size_t r, json_t *inst, char *msg, size_t msglen)
{
	json_t	   *one;
	bool		ok;

	if (json_is_object(inst) && !json_object_get(inst, "b64"))
		return mf_serve_encode_object(rows, r, inst, msg, msglen);
	if (json_is_array(inst))
		return mf_serve_encode_list(rows, r, inst, msg, msglen);
	if (rows->v->model.meta.ncols != 1 && rows->v->model.meta.p != 1)
	{
		snprintf(msg, msglen, "instance %zu is a single value, but the model takes %d inputs",
				 r, rows->v->model.meta.ncols);
		return false;
	}
	one = json_pack("[O]", inst);
	ok = one != NULL && mf_serve_encode_list(rows, r, one, msg, msglen);
	json_decref(one);
	return ok;
}

/* The form of an instance: 'o' object of named features, 'l' list, 's' a single value. */
static char
MfTfsForm(json_t *inst)
{
	return json_is_object(inst) && !json_object_get(inst, "b64") ? 'o' : json_is_array(inst) ? 'l' : 's';
}

/* The name of a form in messages. */
static const char *
MfTfsFormName(char form)
{
	return form == 'o' ? "object" : form == 'l' ? "list" : "single value";
}

/* Encode every row of the source into rows (instances: one form for all, as TF Serving). */
static bool
MfTfsEncode(MfTfsSource *src, MfServeRows *rows, char *msg, size_t msglen)
{
	char		form = rows->n > 0 ? MfTfsForm(json_array_get(src->rows, 0)) : 'o';

	src->r = rows;
	for (size_t r = 0; r < rows->n; r++)
	{
		bool		ok;

		if (src->columns == NULL && !src->examples && MfTfsForm(json_array_get(src->rows, r)) != form)
			return mf_serve_fail(msg, msglen, "expecting %s but got %s at item %zu of input list "
								 "(every instance takes the form of the first)", MfTfsFormName(form),
								 MfTfsFormName(MfTfsForm(json_array_get(src->rows, r))), r);

		if (src->columns != NULL)
			ok = mf_serve_encode_cells(rows, r, MfTfsColumnCell, src, msg, msglen);
		else if (src->examples)
		{
			if (!json_is_object(json_array_get(src->rows, r)))
			{
				snprintf(msg, msglen, "example %zu must be an object of named features", r);
				return false;
			}
			ok = mf_serve_encode_cells(rows, r, MfTfsExampleCell, src, msg, msglen);
		}
		else
			ok = MfTfsInstance(rows, r, json_array_get(src->rows, r), msg, msglen);
		if (!ok)
			return false;
	}
	return true;
}

/* ------------------------------------------------------------ answers */

/* Row r with every output, as an object. */
static void
MfTfsRowObject(MfServeBuf *b, const MfServeRows *rows, size_t r)
{
	mf_serve_buf_text(b, "{\"predict\":");
	mf_serve_buf_real(b, rows->values[r]);
	mf_serve_buf_text(b, ",\"label\":");
	mf_serve_buf_str(b, mf_serve_label(rows, r));
	mf_serve_buf_text(b, ",\"probabilities\":");
	mf_serve_buf_proba(b, rows, r);
	mf_serve_buf_text(b, "}");
}

/* The answer of :predict in the row or the columnar form. */
static void
MfTfsPredictions(MfServeBuf *b, const MfServeRows *rows, bool columnar)
{
	bool		multi = mf_serve_is_classifier(rows->v) && !rows->embed_only;

	mf_serve_buf_text(b, columnar ? (multi ? "{\"outputs\":{\"predict\":[" : "{\"outputs\":[") : "{\"predictions\":[");
	for (size_t r = 0; r < rows->n; r++)
	{
		if (r > 0)
			mf_serve_buf_text(b, ",");
		if (rows->emb != NULL)
			mf_serve_buf_embedding(b, rows, r);
		else if (multi && !columnar)
			MfTfsRowObject(b, rows, r);
		else
			mf_serve_buf_real(b, rows->values[r]);
	}
	if (!(multi && columnar))
	{
		mf_serve_buf_text(b, "]}");
		return;
	}
	mf_serve_buf_text(b, "],\"label\":[");
	for (size_t r = 0; r < rows->n; r++)
	{
		if (r > 0)
			mf_serve_buf_text(b, ",");
		mf_serve_buf_str(b, mf_serve_label(rows, r));
	}
	mf_serve_buf_text(b, "],\"probabilities\":[");
	for (size_t r = 0; r < rows->n; r++)
	{
		if (r > 0)
			mf_serve_buf_text(b, ",");
		mf_serve_buf_proba(b, rows, r);
	}
	mf_serve_buf_text(b, "]}}");
}

/* The answer of :classify: per example, (label, probability) pairs. */
static void
MfTfsClassifications(MfServeBuf *b, const MfServeRows *rows)
{
	const MfModelMeta *mm = &rows->v->model.meta;

	mf_serve_buf_text(b, "{\"results\":[");
	for (size_t r = 0; r < rows->n; r++)
	{
		mf_serve_buf_text(b, r > 0 ? ",[" : "[");
		for (int k = 0; k < mm->n_labels; k++)
		{
			mf_serve_buf_text(b, k > 0 ? ",[" : "[");
			mf_serve_buf_str(b, mm->labels[k]);
			mf_serve_buf_text(b, ",");
			mf_serve_buf_real(b, rows->proba[r * (size_t) mm->n_labels + (size_t) k]);
			mf_serve_buf_text(b, "]");
		}
		mf_serve_buf_text(b, "]");
	}
	mf_serve_buf_text(b, "]}");
}

/* The answer of :regress: one value per example. */
static void
MfTfsRegressions(MfServeBuf *b, const MfServeRows *rows)
{
	mf_serve_buf_text(b, "{\"results\":[");
	for (size_t r = 0; r < rows->n; r++)
	{
		if (r > 0)
			mf_serve_buf_text(b, ",");
		mf_serve_buf_real(b, rows->values[r]);
	}
	mf_serve_buf_text(b, "]}");
}

/* ------------------------------------------------------------ POST */

/*
 * Read the body's signature_name into src: serving_default (or none, or
 * ""), or "embedding" of a text encoder's :predict; false after an error
 * answer.
 */
static bool
MfTfsSignatureOf(MfServeCall *c, const MfServeVersion *v, json_t *body, MfTfsVerb verb, MfTfsSource *src)
{
	json_t	   *sig = json_object_get(body, "signature_name");
	bool		encoder = mf_serve_text_encoder_dim(v) > 0;
	const char *name = json_string_value(sig);

	if (sig == NULL || (name != NULL && (strcmp(name, "serving_default") == 0 || name[0] == '\0')))
		return true;
	if (name != NULL && encoder && strcmp(name, "embedding") == 0)
	{
		if (verb != MF_TFS_PREDICT)
			return mf_serve_error(c, 400, "signature_name \"embedding\" is served by :predict "
								  "(one vector per text)"), false;
		src->embedding = true;
		return true;
	}
	if (name == NULL)
		return mf_serve_error(c, 400, "signature_name must be a string"), false;
	return mf_serve_error(c, 400, "unknown signature_name \"%.64s\"; this model has \"serving_default\"%s", name,
						  encoder ? " and \"embedding\"" : ""), false;
}

/* Where the rows of a body are; false after an error answer. */
static bool
MfTfsSourceOf(MfServeCall *c, const MfServeVersion *v, json_t *body, MfTfsVerb verb, MfTfsSource *src, size_t *n)
{
	char		msg[256];

	memset(src, 0, sizeof(*src));
	if (!json_is_object(body))
		return mf_serve_error(c, 400, "the body must be a JSON object"), false;
	if (!MfTfsSignatureOf(c, v, body, verb, src))
		return false;
	if (verb != MF_TFS_PREDICT)
	{
		src->rows = json_object_get(body, "examples");
		src->context = json_object_get(body, "context");
		src->examples = true;
		if (!json_is_array(src->rows) || (src->context != NULL && !json_is_object(src->context)))
			return mf_serve_error(c, 400, "the body needs \"examples\": a list of objects of named features "
								  "(and optionally \"context\": an object)"), false;
		*n = json_array_size(src->rows);
		if (*n == 0)
			return mf_serve_error(c, 400, "\"examples\" is an empty list; send at least one example"), false;
		return true;
	}
	src->rows = json_object_get(body, "instances");
	src->columns = json_object_get(body, "inputs");
	if ((src->rows == NULL) == (src->columns == NULL))
		return mf_serve_error(c, 400, "the body needs exactly one of \"instances\" (row form) and \"inputs\" (columnar form)"), false;
	if (src->rows != NULL && !json_is_array(src->rows))
		return mf_serve_error(c, 400, "\"instances\" must be a list"), false;
	if (json_is_array(src->columns))
	{
		src->rows = src->columns;
		src->columns = NULL;
	}
	else if (src->columns != NULL && !json_is_object(src->columns))
		return mf_serve_error(c, 400, "\"inputs\" must be an object of named inputs or a list of rows"), false;
	if (src->columns != NULL && !MfTfsColumnRows(src->columns, n, msg, sizeof(msg)))
		return mf_serve_error(c, 400, "%s", msg), false;
	if (src->columns == NULL)
		*n = json_array_size(src->rows);
	if (*n == 0)
		return mf_serve_error(c, 400, "no values in \"%s\"; send at least one row",
							  json_object_get(body, "instances") ? "instances" : "inputs"), false;
	return true;
}

/* Score the rows of a parsed body and set the answer; msg on a refusal. */
static bool
MfTfsScoreBody(MfServeCall *c, const MfServeTarget *t, MfTfsVerb verb, json_t *body,
			   char *msg, size_t msglen, int *status)
{
	MfTfsSource src;
	MfServeRows rows;
	size_t		n = 0;
	bool		columnar = verb == MF_TFS_PREDICT && json_object_get(body, "inputs") != NULL;
	bool		ok;

	*status = 0;
	if (!MfTfsSourceOf(c, t->version, body, verb, &src, &n))
		return true;			/* answered */
	*status = 400;
	if (n > (size_t) mf_serve_max_batch(c, t->entry))
	{
		snprintf(msg, msglen, "%zu rows in one request; the limit is %d", n, mf_serve_max_batch(c, t->entry));
		return false;
	}
	if (!mf_serve_rows_init(&rows, t->version, n) || (src.embedding && !mf_serve_rows_embed(&rows, true)))
	{
		mf_serve_rows_free(&rows);
		*status = 500;
		snprintf(msg, msglen, "out of memory");
		return false;
	}
	ok = MfTfsEncode(&src, &rows, msg, msglen) && mf_serve_rows_score(&rows, msg, msglen);
	if (ok)
	{
		MfServeBuf	b = {0};

		if (verb == MF_TFS_CLASSIFY)
			MfTfsClassifications(&b, &rows);
		else if (verb == MF_TFS_REGRESS)
			MfTfsRegressions(&b, &rows);
		else
			MfTfsPredictions(&b, &rows, columnar);
		mf_serve_json_buf(c, 200, &b);
		if (c->resp->status == 200)
			mf_serve_log_rows(c, t->entry, &rows, src.columns ? NULL : src.rows, src.columns, NULL);
	}
	mf_serve_rows_free(&rows);
	return ok;
}

/* :predict of a numeric body read without a JSON tree (numbody.c); false: the JSON path answers. */
static bool
MfTfsScoreFast(MfServeCall *c, const MfServeTarget *t)
{
	MfServeRows rows;
	MfServeBuf	b = {0};
	bool		columnar = false;

	if (!mf_serve_fast_tfs(c, t, &rows, &columnar))
		return false;
	MfTfsPredictions(&b, &rows, columnar);
	mf_serve_json_buf(c, 200, &b);
	mf_serve_rows_free(&rows);
	return true;
}

/* POST :predict, :classify, :regress. */
static void
MfTfsScore(MfServeCall *c, const MfServeTarget *t, MfTfsVerb verb)
{
	bool		classifier = mf_serve_is_classifier(t->version);
	json_t	   *body;
	char		msg[512];
	int			status;

	if (verb != MF_TFS_PREDICT && mf_serve_text_embed_dim(t->version) > 0)
		mf_serve_error(c, 400, "model \"%s\" embeds texts: use :predict (one vector per text)", t->entry->name);
	else if (verb == MF_TFS_CLASSIFY && !classifier)
		mf_serve_error(c, 400, "model \"%s\" is a %s model, not a classifier: use :regress or :predict",
					   t->entry->name, t->version->io.task);
	else if (verb == MF_TFS_REGRESS && classifier)
		mf_serve_error(c, 400, "model \"%s\" is a classifier: use :classify or :predict", t->entry->name);
	else if (verb == MF_TFS_PREDICT && MfTfsScoreFast(c, t))
		return;
	else if ((body = mf_serve_parse_body(c)) != NULL)
	{
		if (!MfTfsScoreBody(c, t, verb, body, msg, sizeof(msg), &status))
			mf_serve_error(c, status, "%s", msg);
		json_decref(body);
	}
}

/* Answer a /v1/... request (rest starts after "/v1"). */
void
mf_serve_tfs(MfServeCall *c, const char *rest)
{
	char		buf[MF_TFS_PATH_MAX];
	MfServeTarget t = {0};
	MfTfsVerb	verb;

	if (strlen(rest) >= sizeof(buf))
	{
		mf_serve_error(c, 404, "no route for this path (longer than %d bytes)", MF_TFS_PATH_MAX);
		return;
	}
	memcpy(buf, rest, strlen(rest) + 1);
	if (!MfTfsParse(buf, &t, &verb))
	{
		mf_serve_error(c, 404, "no route for /v1%s; use /v1/models/{name}[/versions/{n}|/labels/{label}]"
							  "[/metadata|:predict|:classify|:regress]", rest);
		return;
	}
	if (!mf_serve_method_ok(c, verb >= MF_TFS_PREDICT ? "POST" : "GET") ||
		!mf_serve_resolve(c, &t, verb >= MF_TFS_PREDICT))
		return;
	if (verb == MF_TFS_STATUS)
		MfTfsStatus(c, &t);
	else if (verb == MF_TFS_METADATA)
		MfTfsMetadata(c, &t);
	else
		MfTfsScore(c, &t, verb);
}
