/*
 * text_run.c - running a transformer text model without PostgreSQL: open
 * its artifact with the tokenizer, classify, embed and generate with the
 * token layout of text_run.h (the design note is there).
 */
#include "text_run.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static MfTextStatus MfTextFail(MfTextStatus status, char *err, size_t errlen, const char *fmt,...)
			__attribute__((format(printf, 4, 5)));

/* Print a message into err; returns status. */
static MfTextStatus
MfTextFail(MfTextStatus status, char *err, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	if (err != NULL && errlen > 0)
	{
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return status;
}

/* The status of a kernel return code (message "kernel status N"). */
static MfTextStatus
MfTextKernel(int rc, char *err, size_t errlen)
{
	if (rc == MF_KERR_NOMEM)
		return MfTextFail(MF_TEXT_NOMEM, err, errlen, "out of memory");
	return MfTextFail(MF_TEXT_KERNEL, err, errlen, "Kernel status %d", rc);
}

/* The numeric values of a classifier's labels, when every label is a number. */
static bool
MfTextLabelValues(MfTextRun *tr, const MfArtAllocator *alloc)
{
	int			n = tr->art.n_labels;

	tr->label_values = alloc->alloc(alloc->ctx, sizeof(double) * (size_t) (n > 0 ? n : 1));
	if (tr->label_values == NULL)
		return false;
	tr->labels_numeric = n > 0;
	for (int i = 0; i < n && tr->labels_numeric; i++)
	{
		char	   *end;

		tr->label_values[i] = strtod(tr->art.labels[i], &end);
		tr->labels_numeric = end != tr->art.labels[i] && *end == '\0' && isfinite(tr->label_values[i]);
	}
	return true;
}

/* Open a transformer artifact with its tokenizer. */
MfTextStatus
mf_text_run_open(MfTextRun *tr, const MfArtifactView *view, const MfArtAllocator *alloc,
				 const MfAllocator *kalloc, char *err, size_t errlen)
{
	memset(tr, 0, sizeof(*tr));
	if (mf_tf_artifact_read(view, alloc, &tr->art, err, errlen) != 0 ||
		mf_tf_model_from_artifact(&tr->art, &tr->model, kalloc, err, errlen) != 0)
		return MF_TEXT_BAD_ARTIFACT;
	tr->tok = mf_tokenizer_load(tr->art.tokenizer, tr->art.tokenizer_len, err, errlen);
	if (tr->tok == NULL)
		return MF_TEXT_BAD_TOKENIZER;
	if (mf_tokenizer_size(tr->tok) > (int) tr->art.spec.vocab_size ||
		mf_tokenizer_bos(tr->tok) < 0 || mf_tokenizer_eos(tr->tok) < 0)
		return MfTextFail(MF_TEXT_TOKENIZER_MISMATCH, err, errlen, "%d pieces for a vocabulary of %zu, or no bos/eos",
						  mf_tokenizer_size(tr->tok), tr->art.spec.vocab_size);
	tr->bos = mf_tokenizer_bos(tr->tok);
	tr->eos = mf_tokenizer_eos(tr->tok);
	tr->never = alloc->alloc(alloc->ctx, (size_t) mf_tokenizer_size(tr->tok) + 1);
	if (!MfTextLabelValues(tr, alloc) || tr->never == NULL)
		return MfTextFail(MF_TEXT_NOMEM, err, errlen, "out of memory");
	for (int i = 0; i < mf_tokenizer_size(tr->tok); i++)
		tr->never[i] = (uint8_t) mf_tokenizer_never_generated(tr->tok, i);
	return MF_TEXT_OK;
}

/* Free the tokenizer of an open model. */
void
mf_text_run_close(MfTextRun *tr)
{
	if (tr->tok != NULL)
		mf_tokenizer_free(tr->tok);
	tr->tok = NULL;
}

/* Token ids of a text (at most cap; the first cap when longer). */
MfTextStatus
mf_text_run_ids(const MfTokenizer *tok, const MfAllocator *alloc, const char *text, size_t len,
				size_t cap, int32_t **ids, size_t *n, char *err, size_t errlen)
{
	size_t		want = len + 8 > 16 ? len + 8 : 16;

	*ids = alloc->alloc(alloc->ctx, want * sizeof(int32_t));
	if (*ids == NULL)
		return MfTextFail(MF_TEXT_NOMEM, err, errlen, "out of memory");
	if (mf_tokenizer_encode(tok, text, len, *ids, want, n, err, errlen) != 0)
		return MF_TEXT_BAD_TEXT;
	if (*n > want)
	{
		want = *n;
		alloc->free(alloc->ctx, *ids);
		*ids = alloc->alloc(alloc->ctx, want * sizeof(int32_t));
		if (*ids == NULL)
			return MfTextFail(MF_TEXT_NOMEM, err, errlen, "out of memory");
		if (mf_tokenizer_encode(tok, text, len, *ids, want, n, err, errlen) != 0)
			return MF_TEXT_BAD_TEXT;
	}
	if (*n > cap)
		*n = cap;
	return MF_TEXT_OK;
}

/* An evaluation forward of one text through the encoder (classifier or embedding). */
static MfTextStatus
MfTextEncoderForward(const MfEnv *env, MfTextRun *tr, const char *text, size_t len,
					 MfArena *arena, MfTfFwd *f, char *err, size_t errlen)
{
	int32_t    *ids;
	size_t		n;
	MfTfInput	in;
	int			rc;
	MfTextStatus st = mf_text_run_ids(tr->tok, &env->alloc, text, len, tr->art.spec.max_length,
									  &ids, &n, err, errlen);

	if (st != MF_TEXT_OK)
		return st;
	if (n == 0)
		ids[n++] = tr->eos;
	memset(&in, 0, sizeof(in));
	in.B = 1;
	in.S = n;
	in.src = ids;
	/* sized by this text, not by max_length: a stored max_length never sizes an allocation */
	memset(arena, 0, sizeof(*arena));
	rc = mfk_arena_init(arena, &env->alloc, mfk_tf_model_step_bytes(&tr->model, 1, n, 0, 0));
	if (rc == MF_KOK)
		rc = mfk_tf_model_forward(env, &tr->model, &in, NULL, arena, f);
	env->alloc.free(env->alloc.ctx, ids);
	if (rc != MF_KOK)
	{
		mfk_arena_free(arena, &env->alloc);
		return MfTextKernel(rc, err, errlen);
	}
	return MF_TEXT_OK;
}

/* Class probabilities of one text; the class index in *k, its embedding in emb when set. */
MfTextStatus
mf_text_run_classify(const MfEnv *env, MfTextRun *tr, const char *text, size_t len,
					 double *proba, int *k, float *emb, char *err, size_t errlen)
{
	MfArena		arena;
	MfTfFwd		f;
	int			K = tr->art.n_labels,
				best = 0;
	double		mx,
				sum = 0.0;
	MfTextStatus st = MfTextEncoderForward(env, tr, text, len, &arena, &f, err, errlen);

	if (st != MF_TEXT_OK)
		return st;
	mx = f.logits[0];
	for (int j = 1; j < K; j++)
		mx = mx > (double) f.logits[j] ? mx : (double) f.logits[j];
	for (int j = 0; j < K; j++)
		sum += proba[j] = exp((double) f.logits[j] - mx);
	for (int j = 0; j < K; j++)
	{
		proba[j] /= sum;
		if (f.logits[j] > f.logits[best])
			best = j;
	}
	if (emb != NULL)
		memcpy(emb, mfk_tf_model_embedding(&f), tr->art.spec.encoder.d_model * sizeof(float));
	mfk_arena_free(&arena, &env->alloc);
	*k = best;
	return MF_TEXT_OK;
}

/* The pooled encoder output of one text. */
MfTextStatus
mf_text_run_embed(const MfEnv *env, MfTextRun *tr, const char *text, size_t len, float *out,
				  char *err, size_t errlen)
{
	MfArena		arena;
	MfTfFwd		f;
	MfTextStatus st = MfTextEncoderForward(env, tr, text, len, &arena, &f, err, errlen);

	if (st != MF_TEXT_OK)
		return st;
	memcpy(out, mfk_tf_model_embedding(&f), tr->art.spec.encoder.d_model * sizeof(float));
	mfk_arena_free(&arena, &env->alloc);
	return MF_TEXT_OK;
}

/* The value mf_predict gives for class k. */
double
mf_text_run_value(const MfTextRun *tr, int k)
{
	return tr->labels_numeric ? tr->label_values[k] : (double) k;
}

/* Default generation options of a model. */
void
mf_text_gen_defaults(const MfTextRun *tr, MfTfGenOpts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_tokens = tr->art.spec.max_length < 64 ? tr->art.spec.max_length : 64;
	o->temperature = 0.0;
	o->seed = 42;
	o->bos = tr->bos;
	o->eos = tr->eos;
}

/* Apply one generation option. */
MfTextStatus
mf_text_gen_option(MfTfGenOpts *o, const char *key, const json_t *v, const char **must)
{
	*must = NULL;
	if (strcmp(key, "greedy") == 0)
	{
		if (!json_is_boolean(v))
			return *must = "true or false", MF_TEXT_BAD_OPTION;
		if (json_is_false(v) && o->temperature <= 0.0)
			o->temperature = 1.0;
	}
	else if (strcmp(key, "temperature") == 0)
	{
		if (!json_is_number(v) || !(json_number_value(v) >= 0.0 && json_number_value(v) <= 100.0))
			return *must = "a number between 0 (greedy) and 100", MF_TEXT_BAD_OPTION;
		o->temperature = json_number_value(v);
	}
	else if (strcmp(key, "top_k") == 0)
	{
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return *must = "an integer >= 0 (0: every token)", MF_TEXT_BAD_OPTION;
		o->top_k = (size_t) json_integer_value(v);
	}
	else if (strcmp(key, "max_tokens") == 0)
	{
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 4096)
			return *must = "an integer between 1 and 4096", MF_TEXT_BAD_OPTION;
		o->max_tokens = (size_t) json_integer_value(v);
	}
	else if (strcmp(key, "seed") == 0)
	{
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return *must = "an integer >= 0", MF_TEXT_BAD_OPTION;
		o->seed = (uint64_t) json_integer_value(v);
	}
	else
		return MF_TEXT_BAD_OPTION;
	return MF_TEXT_OK;
}

/* After every option: greedy true wins over a temperature. */
void
mf_text_gen_finish(MfTfGenOpts *o, bool greedy_true)
{
	if (greedy_true)
		o->temperature = 0.0;
}

/* Generate text from a prompt (decoder: continue it; encoder-decoder: its output). */
MfTextStatus
mf_text_run_generate(const MfEnv *env, MfTextRun *tr, const char *prompt, size_t len,
					 const MfTfGenOpts *o, char **out, char *err, size_t errlen)
{
	const MfAllocator *a = &env->alloc;
	bool		seq2seq = tr->art.spec.kind == MF_TF_KIND_ENCODER_DECODER;
	size_t		L = tr->art.spec.max_length,
				n,
				n_out,
				n_in = 0,
				win;
	int32_t    *ids,
			   *in,
			   *gen;
	MfArena		arena;
	MfTfGenOpts go = *o;
	int			rc;
	MfTextStatus st = mf_text_run_ids(tr->tok, a, prompt, len, seq2seq ? L : SIZE_MAX, &ids, &n, err, errlen);

	*out = NULL;
	if (st != MF_TEXT_OK)
		return st;
	in = a->alloc(a->ctx, (n + 2) * sizeof(int32_t));
	gen = a->alloc(a->ctx, (o->max_tokens + 1) * sizeof(int32_t));
	if (in == NULL || gen == NULL)
		return MfTextFail(MF_TEXT_NOMEM, err, errlen, "out of memory");
	if (!seq2seq)
		in[n_in++] = tr->bos;	/* a decoder continues bos + the prompt */
	memcpy(in + n_in, ids, n * sizeof(int32_t));
	n_in += n;
	if (n_in == 0)
		in[n_in++] = tr->eos;	/* an empty source */
	if (!seq2seq && n_in > L)
	{
		memmove(in, in + (n_in - L), L * sizeof(int32_t));	/* the last max_length tokens */
		n_in = L;
	}
	/* the decoder's window: at most the prompt, bos and every new token (and max_length) */
	win = (seq2seq ? 1 : n_in) + o->max_tokens + 1;
	memset(&arena, 0, sizeof(arena));
	rc = mfk_arena_init(&arena, a, mfk_tf_model_step_bytes(&tr->model, 1, seq2seq ? n_in : 0,
														   win < L ? win : L, 0));
	/*
	 * never an id the tokenizer lacks (it may have fewer pieces than
	 * vocab_size), nor its unknown or control pieces but eos
	 */
	go.n_ids = (size_t) mf_tokenizer_size(tr->tok);
	go.skip = tr->never;
	if (rc == MF_KOK)
		rc = mfk_tf_generate(env, &tr->model, in, n_in, &go, &arena, gen, &n_out);
	mfk_arena_free(&arena, a);
	if (rc == MF_KOK && (*out = mf_tokenizer_decode(tr->tok, gen, n_out, err, errlen)) == NULL)
		st = MF_TEXT_DECODE;
	a->free(a->ctx, ids);
	a->free(a->ctx, in);
	a->free(a->ctx, gen);
	return rc != MF_KOK ? MfTextKernel(rc, err, errlen) : st;
}
