/*
 * text.c - transformer versions in the serving core: opened with
 * text/text_run.h (the model module of text models, shared with the SQL
 * functions), their rows (one text each) checked and scored, their
 * description.
 *
 * A text version has no tabular model.  So that every codec reads it as it
 * reads any version, it presents itself through the fields the codecs use:
 * model.meta holds its family, one input column (categorical, named as the
 * text column training saw: objects {"<column>": "..."}, OIP tensors and
 * columnar TF inputs find it by that name) and, for classifiers, the
 * labels; io describes that one BYTES / DT_STRING input.  Encoding a row
 * keeps the row's JSON string (borrowed from the body); scoring classifies
 * each text with mf_text_run_classify, the arithmetic of
 * mf_predict(ref, text), so the answers are the database's bit for bit.
 * Embedding versions (task "embedding": an encoder without a head) embed
 * each text with mf_text_run_embed, the arithmetic of mf_embed(ref, text),
 * into the rows' float vectors (d_model each); the codecs print them as
 * floats with the fewest digits that read back as the same float, so they
 * read back as mf_embed's float4 values bit for bit.  Classifiers embed
 * too when a request asks (mf_serve_rows_embed: OIP output "embedding", TF
 * signature "embedding"), as mf_embed answers for them: the same pooled
 * encoder output, the head unused; asked alone, the texts are not
 * classified.  A request may ask for at most MF_SERVE_MAX_EMBED_VALUES
 * floats (texts x d_model).
 * Decoders and encoder-decoders generate (OIP infer only: one BYTES tensor
 * of prompts, the request's parameters as mf_generate's options, one BYTES
 * output "text"), with mf_text_run_generate: mf_generate's text for the
 * same prompt and options.
 * A text must be a JSON string: jansson has already refused invalid UTF-8
 * and NUL, and the body bounds its length (MF_SERVE_MAX_STRING).
 * Everything a version holds comes from one chain of malloc'd blocks freed
 * at once with it.
 */
#include "serve_int.h"
#include "text_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tokens one request may generate (prompts x max_tokens): a bound on its time. */
#define MF_SERVE_MAX_GEN_TOKENS 16384
/* Floats one request's embeddings may hold (texts x d_model): a bound on its answer (~50 MB). */
#define MF_SERVE_MAX_EMBED_VALUES (1 << 22)

/* One block of a version's chain (16 bytes keep the payload aligned as malloc's). */
typedef struct MfTextBlock
{
	struct MfTextBlock *next;
	void	   *pad;
} MfTextBlock;

/* What a served text version owns. */
struct MfServeText
{
	MfTextBlock *chain;			/* every allocation of the version */
	MfTextRun	run;
	MfMetaColumn col;			/* the one input of model.meta */
};

/* Chain allocator: a block linked into the version's chain. */
static void *
MfTextChainAlloc(void *ctx, size_t size)
{
	MfServeText *t = ctx;
	MfTextBlock *b;

	if (size > SIZE_MAX - sizeof(MfTextBlock) || (b = malloc(sizeof(MfTextBlock) + size)) == NULL)
		return NULL;
	b->next = t->chain;
	t->chain = b;
	return b + 1;
}

/* Chain allocator: blocks live as long as the version. */
static void
MfTextChainFree(void *ctx, void *ptr)
{
	(void) ctx;
	(void) ptr;
}

/* True when artifact bytes hold a transformer (the header's family; checked again on opening). */
bool
mf_serve_text_is(const void *bytes, size_t len)
{
	const unsigned char *p = (const unsigned char *) bytes + 12;

	return len >= MF_ARTIFACT_HEADER_SIZE &&
		((uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24) ==
		MF_ART_FAMILY_TRANSFORMER;
}

/* Free what a text version owns. */
void
mf_serve_text_free(MfServeText *t)
{
	if (t == NULL)
		return;
	mf_text_run_close(&t->run);
	while (t->chain != NULL)
	{
		MfTextBlock *next = t->chain->next;

		free(t->chain);
		t->chain = next;
	}
	free(t);
}

/* Present the text model through model.meta and io (see the note atop). */
static bool
MfTextPresent(MfServeVersion *v, MfServeText *t)
{
	const MfTfArtifact *a = &t->run.art;
	bool		classify = a->task == MF_TF_TASK_CLASSIFICATION;

	t->col.name = a->task == MF_TF_TASK_SEQ2SEQ ? a->source_column : a->text_column;
	t->col.kind = MF_COL_CATEGORICAL;
	v->model.meta.family = MF_ART_FAMILY_TRANSFORMER;
	v->model.meta.classify = classify;
	v->model.meta.ncols = 1;
	v->model.meta.cols = &t->col;
	v->model.meta.p = 1;
	v->model.meta.n_labels = classify ? a->n_labels : 0;
	v->model.meta.labels = classify ? a->labels : NULL;
	v->model.meta.n_out = classify ? a->n_labels : 1;	/* an embedding: rows->emb */
	memset(&v->io, 0, sizeof(v->io));
	v->io.inputs = calloc(1, sizeof(MfModelInput));
	if (v->io.inputs == NULL)
		return false;
	v->io.family = "transformer";
	v->io.task = mf_tf_task_name(a->task);
	v->io.n_inputs = 1;
	v->io.inputs[0].name = t->col.name;
	v->io.inputs[0].kind = MF_COL_CATEGORICAL;
	v->io.inputs[0].width = 1;
	v->io.output = classify ? MF_OUT_CLASS : MF_OUT_VALUE;
	v->io.n_outputs = v->model.meta.n_out;
	v->io.n_labels = v->model.meta.n_labels;
	v->io.labels = v->model.meta.labels;
	v->io.labels_numeric = classify && t->run.labels_numeric;
	return true;
}

/* Open a transformer artifact into v (bytes copied); false with err. */
bool
mf_serve_text_open(MfServeVersion *v, const void *bytes, size_t len, char *err, size_t errlen)
{
	MfServeText *t = calloc(1, sizeof(MfServeText));
	MfArtAllocator aa = {MfTextChainAlloc, MfTextChainFree, NULL};
	MfAllocator ka = {MfTextChainAlloc, MfTextChainFree, NULL};
	MfArtifactView view;
	char		msg[320];
	void	   *copy;
	MfTextStatus st;

	if (t == NULL)
		return mf_serve_fail(err, errlen, "out of memory");
	v->text = t;
	aa.ctx = ka.ctx = t;
	copy = MfTextChainAlloc(t, len);
	if (copy == NULL)
		return mf_serve_fail(err, errlen, "out of memory");
	memcpy(copy, bytes, len);
	if (mf_artifact_open(copy, len, &view, msg, sizeof(msg)) != MF_ART_OK)
		return mf_serve_fail(err, errlen, "%s", msg);
	st = mf_text_run_open(&t->run, &view, &aa, &ka, msg, sizeof(msg));
	if (st != MF_TEXT_OK)
		return mf_serve_fail(err, errlen, "%s%s", st == MF_TEXT_BAD_TOKENIZER ? "tokenizer: " :
							 st == MF_TEXT_TOKENIZER_MISMATCH ? "tokenizer: " : "", msg);
	if (t->run.art.task != MF_TF_TASK_CLASSIFICATION && t->run.art.task != MF_TF_TASK_EMBEDDING &&
		t->run.art.task != MF_TF_TASK_LANGUAGE_MODEL && t->run.art.task != MF_TF_TASK_SEQ2SEQ)
		return mf_serve_fail(err, errlen, "unknown task");
	if (!MfTextPresent(v, t))
		return mf_serve_fail(err, errlen, "out of memory");
	return true;
}

/* Keep the JSON text of row r (encoding a text version's row); false with msg. */
bool
mf_serve_text_cell(MfServeRows *rows, size_t r, json_t *v, char *msg, size_t msglen)
{
	const char *name = rows->v->model.meta.cols[0].name;

	if (v == NULL)
		return mf_serve_fail(msg, msglen, "row %zu: input \"%s\" is missing", r, name);
	if (!json_is_string(v))
		return mf_serve_fail(msg, msglen, "row %zu: input \"%s\" must be a string (the text), not %s", r, name,
							 json_is_null(v) ? "null" : json_is_boolean(v) ? "a boolean" : json_is_number(v) ?
							 "a number" : json_is_array(v) ? "a list" : "an object");
	json_decref(rows->texts[r]);
	rows->texts[r] = json_incref(v);
	return true;
}

/* True when a version generates text (a decoder or an encoder-decoder). */
bool
mf_serve_text_generates(const MfServeVersion *v)
{
	return v->text != NULL && (v->text->run.art.task == MF_TF_TASK_LANGUAGE_MODEL ||
							   v->text->run.art.task == MF_TF_TASK_SEQ2SEQ);
}

/* The dimension of an embedding version's vectors, else 0. */
size_t
mf_serve_text_embed_dim(const MfServeVersion *v)
{
	return v->text != NULL && v->text->run.art.task == MF_TF_TASK_EMBEDDING ?
		v->text->run.art.spec.encoder.d_model : 0;
}

/* The dimension of the vectors a text encoder embeds into (classifiers, embedding versions), else 0. */
size_t
mf_serve_text_encoder_dim(const MfServeVersion *v)
{
	return v->text != NULL && (v->text->run.art.task == MF_TF_TASK_EMBEDDING ||
							   v->text->run.art.task == MF_TF_TASK_CLASSIFICATION) ?
		v->text->run.art.spec.encoder.d_model : 0;
}

/* False with msg when the rows' embeddings would exceed what one answer may hold. */
static bool
MfTextEmbedBound(const MfServeRows *rows, char *msg, size_t msglen)
{
	size_t		d = rows->emb_dim;

	if (rows->n > MF_SERVE_MAX_EMBED_VALUES / d)
		return mf_serve_fail(msg, msglen, "%zu texts of %zu dimensions exceed the %d values one answer may hold; "
							 "send at most %zu texts", rows->n, d, MF_SERVE_MAX_EMBED_VALUES,
							 (size_t) MF_SERVE_MAX_EMBED_VALUES / d);
	return true;
}

/* Embed every row of a text encoder into rows->emb (mf_embed's floats); false with msg. */
static bool
MfTextEmbedRows(MfServeRows *rows, char *msg, size_t msglen)
{
	MfEnv		env = {mfk_malloc_allocator, NULL, NULL};
	size_t		d = rows->emb_dim;
	char		err[256];

	if (!MfTextEmbedBound(rows, msg, msglen))
		return false;
	for (size_t r = 0; r < rows->n; r++)
	{
		json_t	   *s = rows->texts[r];
		MfTextStatus st;

		if (s == NULL)
			return mf_serve_fail(msg, msglen, "row %zu: input \"%s\" must be a string (the text)", r,
								 rows->v->model.meta.cols[0].name);
		st = mf_text_run_embed(&env, &rows->v->text->run, json_string_value(s), json_string_length(s),
							   rows->emb + r * d, err, sizeof(err));
		if (st != MF_TEXT_OK)
			return mf_serve_fail(msg, msglen, "row %zu: %s", r, st == MF_TEXT_NOMEM ? "out of memory" : err);
	}
	return true;
}

/*
 * Score every row of a text version (classifiers), embedding them when
 * asked (from the same forward as the scores); false with msg.
 */
bool
mf_serve_text_score(MfServeRows *rows, char *msg, size_t msglen)
{
	MfServeText *t = rows->v->text;
	MfEnv		env = {mfk_malloc_allocator, NULL, NULL};
	size_t		K = (size_t) t->run.art.n_labels;
	char		err[256];

	if (rows->embed_only)
		return MfTextEmbedRows(rows, msg, msglen);
	if (rows->emb != NULL && !MfTextEmbedBound(rows, msg, msglen))
		return false;
	if (t->run.art.task != MF_TF_TASK_CLASSIFICATION)
		return mf_serve_fail(msg, msglen, "this %s transformer does not classify: %s",
							 mf_tf_task_name(t->run.art.task),
							 "generate with POST /v2/models/{name}/infer, one BYTES tensor of prompts");
	for (size_t r = 0; r < rows->n; r++)
	{
		json_t	   *s = rows->texts[r];
		int			k;
		MfTextStatus st;

		if (s == NULL)
			return mf_serve_fail(msg, msglen, "row %zu: input \"%s\" must be a string (the text)", r,
								 rows->v->model.meta.cols[0].name);
		st = mf_text_run_classify(&env, &t->run, json_string_value(s), json_string_length(s),
								  rows->proba + r * K, &k, rows->emb != NULL ? rows->emb + r * rows->emb_dim : NULL,
								  err, sizeof(err));
		if (st != MF_TEXT_OK)
			return mf_serve_fail(msg, msglen, "row %zu: %s", r,
								 st == MF_TEXT_NOMEM ? "out of memory" : err);
		rows->values[r] = mf_text_run_value(&t->run, k);
		rows->index[r] = k;
	}
	return true;
}

/* Generation options from a request's parameters (mf_generate's options; others ignored). */
static bool
MfTextGenParams(const MfServeVersion *v, json_t *params, MfTfGenOpts *o, char *msg, size_t msglen)
{
	static const char *const keys[] = {"greedy", "temperature", "top_k", "max_tokens", "seed", NULL};
	const char *must;

	mf_text_gen_defaults(&v->text->run, o);
	for (int i = 0; keys[i] != NULL; i++)
	{
		json_t	   *x = json_object_get(params, keys[i]);

		if (x != NULL && mf_text_gen_option(o, keys[i], x, &must) != MF_TEXT_OK)
			return mf_serve_fail(msg, msglen, "parameter \"%s\" must be %s", keys[i], must);
	}
	mf_text_gen_finish(o, json_is_true(json_object_get(params, "greedy")));
	return true;
}

/* Generate from every row's prompt into out (malloc'd texts, rows->n); false with msg. */
bool
mf_serve_text_generate(const MfServeRows *rows, json_t *params, char **out, char *msg, size_t msglen)
{
	MfEnv		env = {mfk_malloc_allocator, NULL, NULL};
	MfTfGenOpts o;
	char		err[256];

	if (!MfTextGenParams(rows->v, params, &o, msg, msglen))
		return false;
	if (rows->n > 0 && o.max_tokens > MF_SERVE_MAX_GEN_TOKENS / rows->n)
		return mf_serve_fail(msg, msglen, "%zu prompts of max_tokens %zu exceed the %d tokens one request may generate; "
							 "send fewer prompts or lower max_tokens", rows->n, o.max_tokens, MF_SERVE_MAX_GEN_TOKENS);
	for (size_t r = 0; r < rows->n; r++)
	{
		json_t	   *s = rows->texts[r];
		MfTextStatus st;

		if (s == NULL)
			return mf_serve_fail(msg, msglen, "row %zu: the prompt must be a string", r);
		st = mf_text_run_generate(&env, &rows->v->text->run, json_string_value(s), json_string_length(s),
								  &o, &out[r], err, sizeof(err));
		if (st != MF_TEXT_OK)
			return mf_serve_fail(msg, msglen, "row %zu: %s", r, st == MF_TEXT_NOMEM ? "out of memory" : err);
	}
	return true;
}

/* The mf_model description of a text version: what mf_trained_model_describe_json says of others. */
static json_t *
MfTextDescribe(const MfServeVersion *v)
{
	const MfTfArtifact *a = &v->text->run.art;
	json_t	   *labels = json_array();

	json_t	   *o;

	for (int i = 0; labels != NULL && i < a->n_labels; i++)
		json_array_append_new(labels, json_string(a->labels[i]));
	o = json_pack("{s:s,s:s,s:[{s:s,s:s}],s:o*,s:i,s:s,s:i}", "family", "transformer",
				  "task", mf_tf_task_name(a->task),
				  "inputs", "name", v->model.meta.cols[0].name, "kind", "text",
				  "labels", labels, "max_length", (int) a->spec.max_length,
				  "tokenizer", a->tokenizer_kind, "vocab_size", (int) a->spec.vocab_size);
	if (o != NULL && mf_serve_text_embed_dim(v) > 0)
		json_object_set_new(o, "embedding_dim", json_integer((json_int_t) mf_serve_text_embed_dim(v)));
	return o;
}

/* The model's description as JSON (text versions described by text.c). */
json_t *
mf_serve_describe_json(const MfServeVersion *v)
{
	return v->text != NULL ? MfTextDescribe(v) : mf_trained_model_describe_json(&v->model);
}

/* OIP properties of a text version (strings only, as the schema wants). */
json_t *
mf_serve_text_properties(const MfServeVersion *v)
{
	const MfTfArtifact *a = &v->text->run.art;
	char		num[24],
				len[24],
				dim[24];
	json_t	   *o;

	snprintf(num, sizeof(num), "%lld", (long long) v->number);
	snprintf(len, sizeof(len), "%zu", a->spec.max_length);
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "family", "transformer",
				  "task", mf_tf_task_name(a->task), "version_number", num,
				  "text_input", v->model.meta.cols[0].name, "max_length", len,
				  "tensor_input", "one BYTES tensor [n] or [n, 1] of UTF-8 texts (any name), "
				  "cut to max_length tokens");
	snprintf(dim, sizeof(dim), "%zu", mf_serve_text_embed_dim(v));
	if (o != NULL && mf_serve_text_embed_dim(v) > 0)
		json_object_set_new(o, "embedding_dim", json_string(dim));
	return o;
}
