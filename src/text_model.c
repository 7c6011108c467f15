/*
 * text_model.c - transformer text models inside the server: opening their
 * artifacts, the tokenizer's life in a memory context, the token layout of
 * training and prediction, classification, embedding and generation (the
 * design note is atop text_model.h).
 */
#include "postgres.h"

#include "mf_core.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "model_pg.h"
#include "text_model.h"

/* Tokenizer kinds by option name. */
int
MfTokenizerKindFromName(const char *name)
{
	if (strcmp(name, "unigram") == 0)
		return MF_TOKENIZER_UNIGRAM;
	if (strcmp(name, "bpe") == 0)
		return MF_TOKENIZER_BPE;
	if (strcmp(name, "char") == 0)
		return MF_TOKENIZER_CHAR;
	return -1;
}

/* Reset callback: free a tokenizer with its memory context. */
static void
MfTokenizerFreeCb(void *arg)
{
	mf_tokenizer_free((MfTokenizer *) arg);
}

/* A tokenizer from model bytes, freed with the current memory context. */
MfTokenizer *
MfTokenizerLoadPg(const void *bytes, size_t len, const char *what)
{
	char		err[256];
	MfTokenizer *tok = mf_tokenizer_load(bytes, len, err, sizeof(err));
	MemoryContextCallback *cb;

	if (tok == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the tokenizer of %s cannot be loaded", what),
				 errdetail("%s", err),
				 errhint("Retrain the version with mf_train().")));
	cb = MemoryContextAllocZero(CurrentMemoryContext, sizeof(MemoryContextCallback));
	cb->func = MfTokenizerFreeCb;
	cb->arg = tok;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	return tok;
}

/* Raise the SQL error of a kernel status while doing what. */
static void
MfTextKernelError(int rc, const char *what)
{
	if (rc == MF_KERR_NOMEM)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory while %s", what)));
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("the transformer kernels failed while %s", what),
			 errdetail("Kernel status %d.", rc)));
}

/* The numeric values of a classifier's labels, when every label is a number. */
static void
MfTextLabelValues(MfTextModel *tm)
{
	tm->label_values = palloc(sizeof(double) * Max(tm->art.n_labels, 1));
	tm->labels_numeric = tm->art.n_labels > 0;
	for (int i = 0; i < tm->art.n_labels && tm->labels_numeric; i++)
	{
		char	   *end;

		tm->label_values[i] = strtod(tm->art.labels[i], &end);
		tm->labels_numeric = end != tm->art.labels[i] && *end == '\0' && isfinite(tm->label_values[i]);
	}
}

/* Open a transformer artifact (checked view) into the current context. */
MfTextModel *
MfTextModelOpen(const MfArtifactView *view, const char *ref)
{
	MfArtAllocator alloc = {MfArtAlloc, MfArtFree, NULL};
	MfEnv		env = MfKernelEnv();
	MfTextModel *tm = palloc0(sizeof(MfTextModel));
	char		err[320];

	if (mf_tf_artifact_read(view, &alloc, &tm->art, err, sizeof(err)) != 0 ||
		mf_tf_model_from_artifact(&tm->art, &tm->model, &env.alloc, err, sizeof(err)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the model artifact is inconsistent"),
				 errdetail("Transformer artifact of \"%s\": %s.", ref, err),
				 errhint("Retrain the version with mf_train().")));
	tm->tok = MfTokenizerLoadPg(tm->art.tokenizer, tm->art.tokenizer_len, ref);
	if (mf_tokenizer_size(tm->tok) > (int) tm->art.spec.vocab_size ||
		mf_tokenizer_bos(tm->tok) < 0 || mf_tokenizer_eos(tm->tok) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the model artifact is inconsistent"),
				 errdetail("The tokenizer of \"%s\" has %d pieces for a vocabulary of %zu, or no bos/eos.",
						   ref, mf_tokenizer_size(tm->tok), tm->art.spec.vocab_size),
				 errhint("Retrain the version with mf_train().")));
	tm->bos = mf_tokenizer_bos(tm->tok);
	tm->eos = mf_tokenizer_eos(tm->tok);
	MfTextLabelValues(tm);
	return tm;
}

/* Token ids of a text (at most cap; the first cap when longer). */
int32 *
MfTextIds(MfTokenizer *tok, const char *text, size_t len, size_t cap, size_t *n)
{
	char		err[256];
	size_t		want = Max(len + 8, 16);
	int32	   *ids = palloc(want * sizeof(int32));

	if (mf_tokenizer_encode(tok, text, len, ids, want, n, err, sizeof(err)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("the text cannot be tokenized"),
				 errdetail("%s", err)));
	if (*n > want)
	{
		want = *n;
		ids = repalloc(ids, want * sizeof(int32));
		if (mf_tokenizer_encode(tok, text, len, ids, want, n, err, sizeof(err)) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("the text cannot be tokenized"),
					 errdetail("%s", err)));
	}
	if (*n > cap)
		*n = cap;
	return ids;
}

/*
 * Decoder ids of a text: *tgt = bos + ids, *lab = ids + eos, at most L
 * each (palloc'd); returns their length.
 */
size_t
MfTextDecoderIds(MfTokenizer *tok, int32 bos, int32 eos, size_t L, const char *text,
				 int32 **tgt, int32 **lab)
{
	size_t		n;
	int32	   *ids = MfTextIds(tok, text, strlen(text), L - 1, &n);

	*tgt = palloc((n + 1) * sizeof(int32));
	*lab = palloc((n + 1) * sizeof(int32));
	(*tgt)[0] = bos;
	memcpy(*tgt + 1, ids, n * sizeof(int32));
	memcpy(*lab, ids, n * sizeof(int32));
	(*lab)[n] = eos;
	pfree(ids);
	return n + 1;
}

/* An evaluation forward of one text through the encoder (classifier or embedding). */
static void
MfTextEncoderForward(MfTextModel *tm, const char *text, size_t len, MfArena *arena, MfTfFwd *f)
{
	MfEnv		env = MfKernelEnv();
	size_t		n;
	int32	   *ids = MfTextIds(tm->tok, text, len, tm->art.spec.max_length, &n);
	MfTfInput	in;
	int			rc;

	if (n == 0)
		ids[n++] = tm->eos;
	memset(&in, 0, sizeof(in));
	in.B = 1;
	in.S = n;
	in.src = ids;
	/* sized by this text, not by max_length: a stored max_length never sizes an allocation */
	rc = mfk_arena_init(arena, &env.alloc, mfk_tf_model_step_bytes(&tm->model, 1, n, 0, 0));
	if (rc == MF_KOK)
		rc = mfk_tf_model_forward(&env, &tm->model, &in, NULL, arena, f);
	if (rc != MF_KOK)
		MfTextKernelError(rc, "running the encoder");
	pfree(ids);
}

/* Class probabilities of one text; the class index. */
int
MfTextClassify(MfTextModel *tm, const char *text, size_t len, double *proba)
{
	MfEnv		env = MfKernelEnv();
	MfArena		arena;
	MfTfFwd		f;
	int			K = tm->art.n_labels,
				best = 0;
	double		mx,
				sum = 0.0;

	MfTextEncoderForward(tm, text, len, &arena, &f);
	mx = f.logits[0];
	for (int k = 1; k < K; k++)
		mx = Max(mx, (double) f.logits[k]);
	for (int k = 0; k < K; k++)
		sum += proba[k] = exp((double) f.logits[k] - mx);
	for (int k = 0; k < K; k++)
	{
		proba[k] /= sum;
		if (f.logits[k] > f.logits[best])
			best = k;
	}
	mfk_arena_free(&arena, &env.alloc);
	return best;
}

/*
 * Summed cross-entropy (nats) of a decoder on one text laid out as
 * training lays it out (bos + ids -> ids + eos); *tokens gets the
 * predicted tokens.
 */
double
MfTextTokenLoss(MfTextModel *tm, const char *text, size_t *tokens)
{
	MfEnv		env = MfKernelEnv();
	MfArena		arena;
	MfTfFwd		f;
	MfTfInput	in;
	int32	   *tgt,
			   *lab;
	size_t		T = MfTextDecoderIds(tm->tok, tm->bos, tm->eos, tm->art.spec.max_length,
									 text, &tgt, &lab);
	int			rc;
	double		loss;

	memset(&in, 0, sizeof(in));
	in.B = 1;
	in.T = T;
	in.tgt = tgt;
	in.labels = lab;
	rc = mfk_arena_init(&arena, &env.alloc, mfk_tf_model_step_bytes(&tm->model, 1, 0, T, 0));
	if (rc == MF_KOK)
		rc = mfk_tf_model_forward(&env, &tm->model, &in, NULL, &arena, &f);
	if (rc != MF_KOK)
		MfTextKernelError(rc, "running the decoder");
	loss = f.loss * (double) T;
	mfk_arena_free(&arena, &env.alloc);
	pfree(tgt);
	pfree(lab);
	*tokens = T;
	return loss;
}

/* The pooled encoder output of one text. */
float *
MfTextEmbed(MfTextModel *tm, const char *text, size_t len, size_t *d)
{
	MfEnv		env = MfKernelEnv();
	MfArena		arena;
	MfTfFwd		f;
	float	   *out;

	MfTextEncoderForward(tm, text, len, &arena, &f);
	*d = tm->art.spec.encoder.d_model;
	out = palloc(*d * sizeof(float));
	memcpy(out, mfk_tf_model_embedding(&f), *d * sizeof(float));
	mfk_arena_free(&arena, &env.alloc);
	return out;
}

/* 22023 for a bad generation option. */
static void
MfGenOptError(const char *key, const char *must)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("option \"%s\" of mf_generate() must be %s", key, must),
			 errhint("Options: greedy, temperature, top_k, max_tokens, seed.")));
}

/* Generation options from mf_generate's options object. */
void
MfTextGenOptions(MfTextModel *tm, Jsonb *options, MfTfGenOpts *o)
{
	json_t	   *opts = MfJsonbToJansson(options, "options");
	const char *key;
	json_t	   *v;

	if (!json_is_object(opts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options of mf_generate() must be a JSON object"),
				 errdetail("Got a JSON %s.", json_is_array(opts) ? "array" : "scalar"),
				 errhint("Options: greedy, temperature, top_k, max_tokens, seed.")));
	memset(o, 0, sizeof(*o));
	o->max_tokens = Min((size_t) 64, tm->art.spec.max_length);
	o->temperature = 0.0;
	o->seed = 42;
	o->bos = tm->bos;
	o->eos = tm->eos;
	json_object_foreach(opts, key, v)
	{
		if (strcmp(key, "greedy") == 0)
		{
			if (!json_is_boolean(v))
				MfGenOptError(key, "true or false");
			if (json_is_false(v) && o->temperature <= 0.0)
				o->temperature = 1.0;
		}
		else if (strcmp(key, "temperature") == 0)
		{
			if (!json_is_number(v) || !(json_number_value(v) >= 0.0 && json_number_value(v) <= 100.0))
				MfGenOptError(key, "a number between 0 (greedy) and 100");
			o->temperature = json_number_value(v);
		}
		else if (strcmp(key, "top_k") == 0)
		{
			if (!json_is_integer(v) || json_integer_value(v) < 0)
				MfGenOptError(key, "an integer >= 0 (0: every token)");
			o->top_k = (size_t) json_integer_value(v);
		}
		else if (strcmp(key, "max_tokens") == 0)
		{
			if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 4096)
				MfGenOptError(key, "an integer between 1 and 4096");
			o->max_tokens = (size_t) json_integer_value(v);
		}
		else if (strcmp(key, "seed") == 0)
		{
			if (!json_is_integer(v) || json_integer_value(v) < 0)
				MfGenOptError(key, "an integer >= 0");
			o->seed = (uint64) json_integer_value(v);
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown option \"%s\" of mf_generate()", key),
					 errhint("Options: greedy, temperature, top_k, max_tokens, seed.")));
	}
	/* greedy: true wins over a temperature */
	if (json_is_true(json_object_get(opts, "greedy")))
		o->temperature = 0.0;
}

/* Generate text from a prompt. */
char *
MfTextGenerate(MfTextModel *tm, const char *prompt, size_t len, const MfTfGenOpts *o)
{
	MfEnv		env = MfKernelEnv();
	bool		seq2seq = tm->art.spec.kind == MF_TF_KIND_ENCODER_DECODER;
	size_t		L = tm->art.spec.max_length,
				n,
				n_out;
	int32	   *ids = MfTextIds(tm->tok, prompt, len, seq2seq ? L : SIZE_MAX, &n);
	int32	   *in = palloc((n + 2) * sizeof(int32));
	int32	   *out = palloc((o->max_tokens + 1) * sizeof(int32));
	size_t		n_in = 0;
	MfArena		arena;
	char		err[256];
	char	   *text,
			   *result;
	int			rc;

	if (!seq2seq)
		in[n_in++] = tm->bos;	/* a decoder continues bos + the prompt */
	memcpy(in + n_in, ids, n * sizeof(int32));
	n_in += n;
	if (n_in == 0)
		in[n_in++] = tm->eos;	/* an empty source */
	if (!seq2seq && n_in > L)
	{
		memmove(in, in + (n_in - L), L * sizeof(int32));	/* the last max_length tokens */
		n_in = L;
	}
	/* the decoder's window: at most the prompt, bos and every new token (and max_length) */
	rc = mfk_arena_init(&arena, &env.alloc,
						mfk_tf_model_step_bytes(&tm->model, 1, seq2seq ? n_in : 0,
												Min(L, (seq2seq ? 1 : n_in) + o->max_tokens + 1), 0));
	if (rc == MF_KOK)
		rc = mfk_tf_generate(&env, &tm->model, in, n_in, o, &arena, out, &n_out);
	if (rc != MF_KOK)
		MfTextKernelError(rc, "generating");
	mfk_arena_free(&arena, &env.alloc);
	text = mf_tokenizer_decode(tm->tok, out, n_out, err, sizeof(err));
	if (text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("the generated tokens cannot be decoded"),
				 errdetail("%s", err)));
	result = pstrdup(text);
	free(text);
	return result;
}
