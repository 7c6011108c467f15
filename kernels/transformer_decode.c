/*
 * transformer_decode.c - greedy and sampled generation for decoder-only
 * and encoder-decoder models.
 *
 * Design note: softmax decoders decode incrementally with a key/value
 * cache: every position runs once through the layers (mfk_tf_layer_step),
 * its keys and values are kept per layer, and the next token's logits are
 * the LM head of the last position alone: O(T) layer work per token
 * instead of the whole window.  An encoder_decoder encodes its source once
 * (at the bottom of the arena) and each cross-attention layer projects the
 * memory's keys and values once.  The cache holds at most max_length
 * positions (learned positions): when the sequence outgrows it, and for
 * linear attention, and with o->no_cache (the reference path the unit test
 * compares against), every new token reruns the decoder stack over the
 * window (the last max_length tokens) and takes the last position's
 * logits, exactly the training forward in evaluation mode; each such pass
 * is carved above the encoder's memory and released.  Choice of the next
 * token: temperature <= 0 is greedy (argmax, lowest id on ties); else
 * softmax(logits / temperature) over the top_k largest logits (all when
 * 0; ties broken by the lower id), sampled with an MfRng seeded by
 * o->seed, so the same seed gives the same tokens.  Both look at ids below
 * o->n_ids only, when it is set and smaller than the vocabulary (the
 * logits of the other ids masked out): a tokenizer trained on a small
 * corpus has fewer pieces than the model's vocab_size, and an id it lacks
 * could not be decoded.  Likewise ids marked in o->skip are never chosen
 * (the tokenizer's unknown piece, which decodes to a double question mark,
 * and its control pieces but the end of sequence).  Without such limits
 * the choice is exactly the unmasked one.
 */
#include "transformer_model.h"
#include "vecmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Logit and id, for the top-k sort. */
typedef struct MfTfCand
{
	float		z;
	int32_t		id;
} MfTfCand;

/* Descending logit, then ascending id. */
static int
MfTfCandCmp(const void *a, const void *b)
{
	const MfTfCand *x = a,
			   *y = b;

	if (x->z != y->z)
		return x->z > y->z ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Sample from softmax(z / temperature) over the top_k candidates not skipped. */
static int32_t
MfTfSample(const float *z, size_t V, const uint8_t *skip, double temperature,
		   size_t top_k, MfTfCand *cand, MfRng *r)
{
	size_t		i,
				n = 0,
				k;
	double		total = 0.0,
				u,
				mx;

	for (i = 0; i < V; i++)
		if (skip == NULL || !skip[i])
			cand[n].z = z[i], cand[n++].id = (int32_t) i;
	k = top_k == 0 || top_k > n ? n : top_k;
	qsort(cand, n, sizeof(MfTfCand), MfTfCandCmp);
	mx = cand[0].z;
	for (i = 0; i < k; i++)
	{
		cand[i].z = (float) exp(((double) cand[i].z - mx) / temperature);
		total += cand[i].z;
	}
	u = mfk_rng_uniform(r) * total;
	for (i = 0; i + 1 < k; i++)
	{
		u -= cand[i].z;
		if (u < 0.0)
			break;
	}
	return cand[i].id;
}

/* Check the model, options and prompt. */
static int
MfTfGenCheck(const MfTfModel *m, const int32_t *prompt, size_t n_prompt,
			 const MfTfGenOpts *o)
{
	size_t		i,
				V = m->spec.vocab_size;

	if (m->spec.kind == MF_TF_KIND_ENCODER || (n_prompt > 0 && prompt == NULL) ||
		!isfinite(o->temperature))
		return MF_KERR_BADARG;
	for (i = 0; i < n_prompt; i++)
		if (prompt[i] < 0 || (size_t) prompt[i] >= V)
			return MF_KERR_BADARG;
	if ((o->bos < 0 || (size_t) o->bos >= V) &&
		(m->spec.kind == MF_TF_KIND_ENCODER_DECODER || n_prompt == 0))
		return MF_KERR_BADARG;
	if (m->spec.kind == MF_TF_KIND_ENCODER_DECODER &&
		(n_prompt == 0 || n_prompt > m->spec.max_length))
		return MF_KERR_BADARG;
	if (o->skip != NULL)		/* some id must remain to be chosen */
	{
		size_t		n = o->n_ids > 0 && o->n_ids < V ? o->n_ids : V;

		for (i = 0; i < n && o->skip[i]; i++)
			;
		if (i == n)
			return MF_KERR_BADARG;
	}
	return MF_KOK;
}

/* The next token from the last position's logits (ids below o->n_ids when set, not in o->skip). */
static int32_t
MfTfNext(const float *logits, size_t V, const MfTfGenOpts *o, MfTfCand *cand,
		 MfRng *r)
{
	size_t		n = o->n_ids > 0 && o->n_ids < V ? o->n_ids : V;

	return o->temperature <= 0.0 ? (int32_t) mfk_vec_argmax(logits, n, o->skip)
		: MfTfSample(logits, n, o->skip, o->temperature, o->top_k, cand, r);
}

/* The key/value cache of a decoder stack for one sequence. */
typedef struct MfTfKvCache
{
	float	   *buf;			/* everything below, one allocation */
	float	   *kv;				/* layers x L x 2d */
	float	   *mem_kv;			/* layers x S x 2d (cross-attention) */
	float	   *x,
			   *y,
			   *nout;			/* 1 x d each */
	float	   *work;			/* mfk_tf_layer_step_floats */
	size_t		S;
	size_t		len;			/* positions cached */
} MfTfKvCache;

/* Allocate the cache (and project the memory of an encoder_decoder). */
static int
MfTfCacheInit(MfTfModel *m, const MfTfStackActs *enc, MfTfKvCache *c)
{
	const MfTfLayerDims *dims = &m->dec_dims;
	size_t		d = dims->d_model,
				nl = m->spec.decoder.num_layers,
				L = m->spec.max_length,
				S = enc != NULL ? enc->b.T : 0,
				w = mfk_tf_layer_step_floats(dims, L > S ? L : S),
				l;

	memset(c, 0, sizeof(*c));
	c->S = S;
	c->buf = mfk_alloc_bytes(&m->alloc, (nl * (L + S) * 2 * d + 3 * d + w) * sizeof(float));
	if (c->buf == NULL)
		return MF_KERR_NOMEM;
	c->kv = c->buf;
	c->mem_kv = S > 0 ? c->kv + nl * L * 2 * d : NULL;
	c->x = c->kv + nl * (L + S) * 2 * d;
	c->y = c->x + d;
	c->nout = c->y + d;
	c->work = c->nout + d;
	for (l = 0; l < nl && S > 0; l++)
		mfk_tf_layer_memory_kv(dims, &m->p.dec.layers[l], enc->out, S,
							   c->mem_kv + l * S * 2 * d);
	return MF_KOK;
}

/*
 * Run token id at the next position through the decoder stack; with
 * logits != NULL also the final norm and the LM head (the next token's
 * logits).
 */
static int
MfTfCacheStep(const MfEnv *env, MfTfModel *m, MfTfKvCache *c, int32_t id,
			  float *logits)
{
	const MfTfLayerDims *dims = &m->dec_dims;
	size_t		d = dims->d_model,
				L = m->spec.max_length,
				l;
	float	   *x = c->x,
			   *y = c->y,
			   *tmp,
				st[2];
	const float *out;
	int			err;

	mfk_tf_embed_forward(&id, 1, 1, d, m->p.dec.tok, m->p.dec.pos + c->len * d, x);
	for (l = 0; l < m->spec.decoder.num_layers; l++)
	{
		err = mfk_tf_layer_step(env, dims, &m->p.dec.layers[l], x, c->len,
								c->kv + l * L * 2 * d,
								c->mem_kv != NULL ? c->mem_kv + l * c->S * 2 * d : NULL,
								c->S, NULL, c->work, y);
		if (err != MF_KOK)
			return err;
		tmp = x, x = y, y = tmp;
	}
	c->len++;
	if (logits == NULL)
		return MF_KOK;
	out = dims->norm == MF_TF_REZERO ? x : c->nout;
	if (dims->norm == MF_TF_LAYERNORM)
		mfk_tf_layernorm_forward(x, 1, d, m->p.dec.norm.w, m->p.dec.norm.b, dims->eps,
								 c->nout, st, st + 1);
	else if (dims->norm == MF_TF_SCALENORM)
		mfk_tf_scalenorm_forward(x, 1, d, m->p.dec.norm.w, dims->eps, c->nout, st);
	mfk_tf_linear_forward(out, 1, d, m->p.lm_w, m->p.lm_b, m->spec.vocab_size, logits);
	return mfk_tick(env, "decoding", 0, 0, 1.0);
}

/*
 * The cached part of generation: the context ctx[0..*len) (at most
 * max_length) is fed once, then each new token; stops at eos (*done), at
 * max_tokens, or when the sequence would outgrow max_length (the caller
 * then recomputes windows).  *t counts the tokens chosen.
 */
static int
MfTfGenerateCached(const MfEnv *env, MfTfModel *m, const MfTfStackActs *enc,
				   const MfTfGenOpts *o, int32_t *ctx, size_t *len,
				   float *logits, MfTfCand *cand, MfRng *r, int32_t *out,
				   size_t *n_out, size_t *t, int *done)
{
	MfTfKvCache c;
	size_t		i;
	int			err = MfTfCacheInit(m, enc, &c);

	for (i = 0; err == MF_KOK && i < *len; i++)
		err = MfTfCacheStep(env, m, &c, ctx[i], i + 1 == *len ? logits : NULL);
	while (err == MF_KOK && *t < o->max_tokens)
	{
		int32_t		next = MfTfNext(logits, m->spec.vocab_size, o, cand, r);

		(*t)++;
		if (next == o->eos)
		{
			*done = 1;
			break;
		}
		out[(*n_out)++] = next;
		ctx[(*len)++] = next;
		if (*len > m->spec.max_length || *t == o->max_tokens)
			break;
		err = MfTfCacheStep(env, m, &c, next, logits);
	}
	mfk_free(&m->alloc, c.buf);
	return err;
}

/* Generate up to o->max_tokens ids after the prompt. */
int
mfk_tf_generate(const MfEnv *env, MfTfModel *m, const int32_t *prompt,
				size_t n_prompt, const MfTfGenOpts *o, MfArena *arena,
				int32_t *out, size_t *n_out)
{
	int			seq2seq = m->spec.kind == MF_TF_KIND_ENCODER_DECODER;
	size_t		V = m->spec.vocab_size,
				L = m->spec.max_length,
				len = 0,
				base,
				t;
	int32_t    *ctx;
	float	   *logits;
	MfTfCand   *cand;
	MfTfInput	in;
	MfTfStackActs enc;
	MfRng		r;
	int			done = 0,
				err = MfTfGenCheck(m, prompt, n_prompt, o);

	*n_out = 0;
	if (err != MF_KOK)
		return err;
	ctx = mfk_alloc_bytes(&m->alloc, (L + o->max_tokens + n_prompt + 1) * sizeof(int32_t));
	logits = mfk_alloc_bytes(&m->alloc, V * sizeof(float));
	cand = mfk_alloc_bytes(&m->alloc, V * sizeof(MfTfCand));
	if (ctx == NULL || logits == NULL || cand == NULL)
		err = MF_KERR_NOMEM;
	mfk_rng_seed(&r, o->seed);
	memset(&in, 0, sizeof(in));
	in.B = 1;
	if (seq2seq || n_prompt == 0)
		ctx[len++] = o->bos;
	if (!seq2seq)
		for (t = 0; t < n_prompt; t++)
			ctx[len++] = prompt[t];
	mfk_arena_release(arena, 0);
	if (err == MF_KOK && seq2seq)
	{
		in.S = n_prompt;
		in.src = prompt;
		err = mfk_tf_model_encode(env, m, &in, arena, &enc);
	}
	base = mfk_arena_mark(arena);
	t = 0;
	if (err == MF_KOK && !o->no_cache && !m->dec_dims.linear_attention && len <= L)
		err = MfTfGenerateCached(env, m, seq2seq ? &enc : NULL, o, ctx, &len, logits,
								 cand, &r, out, n_out, &t, &done);
	for (; err == MF_KOK && !done && t < o->max_tokens; t++)
	{
		int32_t		next;

		in.T = len < L ? len : L;
		in.tgt = ctx + (len - in.T);
		err = mfk_tf_model_decode_last(env, m, &in, seq2seq ? &enc : NULL, arena, logits);
		mfk_arena_release(arena, base);
		if (err != MF_KOK)
			break;
		next = MfTfNext(logits, V, o, cand, &r);
		if (next == o->eos)
			break;
		out[(*n_out)++] = next;
		ctx[len++] = next;
	}
	mfk_free(&m->alloc, ctx);
	mfk_free(&m->alloc, logits);
	mfk_free(&m->alloc, cand);
	return err;
}
