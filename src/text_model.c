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
#include "vecmath.h"

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

/* Raise the SQL error of a failed text call (st) while doing what. */
static void
MfTextRaise(MfTextStatus st, const char *err, const char *what)
{
	if (st == MF_TEXT_NOMEM)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory while %s", what)));
	if (st == MF_TEXT_BAD_TEXT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("the text cannot be tokenized"),
				 errdetail("%s", err)));
	if (st == MF_TEXT_DECODE)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("the generated tokens cannot be decoded"),
				 errdetail("%s", err)));
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("the transformer kernels failed while %s", what),
			 errdetail("%s.", err)));
}

/* Open a transformer artifact (checked view) into the current context. */
MfTextModel *
MfTextModelOpen(const MfArtifactView *view, const char *ref)
{
	MfArtAllocator alloc = {MfArtAlloc, MfArtFree, NULL};
	MfEnv		env = MfKernelEnv();
	MfTextModel *tm = palloc0(sizeof(MfTextModel));
	char		err[320];
	MfTextStatus st = mf_text_run_open(tm, view, &alloc, &env.alloc, err, sizeof(err));
	MemoryContextCallback *cb;

	if (tm->tok != NULL)
	{
		/* freed with the context, whatever happens next */
		cb = MemoryContextAllocZero(CurrentMemoryContext, sizeof(MemoryContextCallback));
		cb->func = MfTokenizerFreeCb;
		cb->arg = tm->tok;
		MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	}
	if (st == MF_TEXT_BAD_ARTIFACT)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the model artifact is inconsistent"),
				 errdetail("Transformer artifact of \"%s\": %s.", ref, err),
				 errhint("Retrain the version with mf_train().")));
	if (st == MF_TEXT_BAD_TOKENIZER)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the tokenizer of %s cannot be loaded", ref),
				 errdetail("%s", err),
				 errhint("Retrain the version with mf_train().")));
	if (st == MF_TEXT_TOKENIZER_MISMATCH)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the model artifact is inconsistent"),
				 errdetail("The tokenizer of \"%s\" has %s.", ref, err),
				 errhint("Retrain the version with mf_train().")));
	if (st != MF_TEXT_OK)
		MfTextRaise(st, err, "opening a text model");
	return tm;
}

/* Token ids of a text (at most cap; the first cap when longer). */
int32 *
MfTextIds(MfTokenizer *tok, const char *text, size_t len, size_t cap, size_t *n)
{
	MfEnv		env = MfKernelEnv();
	char		err[256];
	int32	   *ids;
	MfTextStatus st = mf_text_run_ids(tok, &env.alloc, text, len, cap, &ids, n, err, sizeof(err));

	if (st != MF_TEXT_OK)
		MfTextRaise(st, err, "tokenizing");
	return ids;
}

/* Raise the SQL error of a kernel status rc while doing what. */
static void
MfTextKernelError(int rc, const char *what)
{
	char		err[64];

	snprintf(err, sizeof(err), "Kernel status %d", rc);
	MfTextRaise(rc == MF_KERR_NOMEM ? MF_TEXT_NOMEM : MF_TEXT_KERNEL, err, what);
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

/* Class probabilities of one text; the class index. */
int
MfTextClassify(MfTextModel *tm, const char *text, size_t len, double *proba)
{
	MfEnv		env = MfKernelEnv();
	char		err[256];
	int			k;
	MfTextStatus st = mf_text_run_classify(&env, tm, text, len, proba, &k, NULL, err, sizeof(err));

	if (st != MF_TEXT_OK)
		MfTextRaise(st, err, "running the encoder");
	return k;
}

/*
 * Summed cross-entropy (nats) of a decoder on target laid out as training
 * lays it out (bos + ids -> ids + eos), given the S source ids src of an
 * encoder-decoder (none for a language model); *tokens gets the predicted
 * tokens, *right (when set) how many of them are the logits' argmax.
 */
static double
MfTextDecoderLoss(MfTextModel *tm, const int32 *src, size_t S, const char *target,
				  size_t *tokens, size_t *right)
{
	MfEnv		env = MfKernelEnv();
	MfArena		arena;
	MfTfFwd		f;
	MfTfInput	in;
	int32	   *tgt,
			   *lab;
	size_t		T = MfTextDecoderIds(tm->tok, tm->bos, tm->eos, tm->art.spec.max_length,
									 target, &tgt, &lab);
	int			rc;
	double		loss;

	memset(&in, 0, sizeof(in));
	in.B = 1;
	in.S = S;
	in.src = src;
	in.T = T;
	in.tgt = tgt;
	in.labels = lab;
	rc = mfk_arena_init(&arena, &env.alloc, mfk_tf_model_step_bytes(&tm->model, 1, S, T, 0));
	if (rc == MF_KOK)
		rc = mfk_tf_model_forward(&env, &tm->model, &in, NULL, &arena, &f);
	if (rc != MF_KOK)
		MfTextKernelError(rc, S > 0 ? "running the encoder-decoder" : "running the decoder");
	loss = f.loss * (double) T;
	for (size_t t = 0; right != NULL && t < f.rows && t < T; t++)
		*right += (int32) mfk_vec_argmax(f.logits + t * f.k, f.k, NULL) == lab[t];
	mfk_arena_free(&arena, &env.alloc);
	pfree(tgt);
	pfree(lab);
	*tokens = T;
	return loss;
}

/* Summed cross-entropy of a decoder language model on one text (*tokens predicted tokens). */
double
MfTextTokenLoss(MfTextModel *tm, const char *text, size_t *tokens)
{
	return MfTextDecoderLoss(tm, NULL, 0, text, tokens, NULL);
}

/*
 * The same of an encoder-decoder's target text given its source (the
 * source's ids, eos for an empty one, as training lays them out); *right
 * of the *tokens are the logits' argmax (training's token_accuracy).
 */
double
MfTextPairLoss(MfTextModel *tm, const char *source, const char *target, size_t *tokens,
			   size_t *right)
{
	size_t		S;
	int32	   *src = MfTextIds(tm->tok, source, strlen(source), tm->art.spec.max_length, &S);
	double		loss;

	if (S == 0)
		src[S++] = tm->eos;
	*right = 0;
	loss = MfTextDecoderLoss(tm, src, S, target, tokens, right);
	pfree(src);
	return loss;
}

/* The pooled encoder output of one text. */
float *
MfTextEmbed(MfTextModel *tm, const char *text, size_t len, size_t *d)
{
	MfEnv		env = MfKernelEnv();
	char		err[256];
	float	   *out;
	MfTextStatus st;

	*d = tm->art.spec.encoder.d_model;
	out = palloc(*d * sizeof(float));
	st = mf_text_run_embed(&env, tm, text, len, out, err, sizeof(err));
	if (st != MF_TEXT_OK)
		MfTextRaise(st, err, "running the encoder");
	return out;
}

/* Generation options from mf_generate's options object. */
void
MfTextGenOptions(MfTextModel *tm, Jsonb *options, MfTfGenOpts *o)
{
	json_t	   *opts = MfJsonbToJansson(options, "options");
	const char *key;
	const char *must;
	json_t	   *v;

	if (!json_is_object(opts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options of mf_generate() must be a JSON object"),
				 errdetail("Got a JSON %s.", json_is_array(opts) ? "array" : "scalar"),
				 errhint("Options: greedy, temperature, top_k, max_tokens, seed.")));
	mf_text_gen_defaults(tm, o);
	json_object_foreach(opts, key, v)
	{
		if (mf_text_gen_option(o, key, v, &must) == MF_TEXT_OK)
			continue;
		if (must != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" of mf_generate() must be %s", key, must),
					 errhint("Options: greedy, temperature, top_k, max_tokens, seed.")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown option \"%s\" of mf_generate()", key),
				 errhint("Options: greedy, temperature, top_k, max_tokens, seed.")));
	}
	mf_text_gen_finish(o, json_is_true(json_object_get(opts, "greedy")));
}

/* Generate text from a prompt. */
char *
MfTextGenerate(MfTextModel *tm, const char *prompt, size_t len, const MfTfGenOpts *o)
{
	MfEnv		env = MfKernelEnv();
	char		err[256];
	char	   *text = NULL,
			   *result;
	MfTextStatus st = mf_text_run_generate(&env, tm, prompt, len, o, &text, err, sizeof(err));

	if (st != MF_TEXT_OK)
		MfTextRaise(st, err, "generating");
	result = pstrdup(text);
	free(text);
	return result;
}
