/*
 * transformer_decode.c - greedy and sampled generation for decoder-only
 * and encoder-decoder models.
 *
 * Design note: no key/value cache.  Every new token reruns the decoder
 * stack over the whole window (the last max_length tokens of the prompt
 * plus what was generated) and takes the last position's logits: O(T^2)
 * layer work per sequence, exactly the training forward in evaluation
 * mode, so what was trained is what decodes (linear attention included).
 * An encoder_decoder encodes its source once, at the bottom of the arena;
 * each decoder pass is carved above it and released.  Choice of the next
 * token: temperature <= 0 is greedy (argmax, lowest id on ties); else
 * softmax(logits / temperature) over the top_k largest logits (all when
 * 0; ties broken by the lower id), sampled with an MfRng seeded by
 * o->seed, so the same seed gives the same tokens.
 */
#include "transformer_model.h"

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

/* Argmax (lowest id on ties). */
static int32_t
MfTfArgmax(const float *z, size_t V)
{
	size_t		i,
				best = 0;

	for (i = 1; i < V; i++)
		if (z[i] > z[best])
			best = i;
	return (int32_t) best;
}

/* Sample from softmax(z / temperature) over the top_k candidates. */
static int32_t
MfTfSample(const float *z, size_t V, double temperature, size_t top_k,
		   MfTfCand *cand, MfRng *r)
{
	size_t		i,
				k = top_k == 0 || top_k > V ? V : top_k;
	double		total = 0.0,
				u,
				mx;

	for (i = 0; i < V; i++)
		cand[i].z = z[i], cand[i].id = (int32_t) i;
	qsort(cand, V, sizeof(MfTfCand), MfTfCandCmp);
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
	return MF_KOK;
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
	int			err = MfTfGenCheck(m, prompt, n_prompt, o);

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
	for (t = 0; err == MF_KOK && t < o->max_tokens; t++)
	{
		int32_t		next;

		in.T = len < L ? len : L;
		in.tgt = ctx + (len - in.T);
		err = mfk_tf_model_decode_last(env, m, &in, seq2seq ? &enc : NULL, arena, logits);
		mfk_arena_release(arena, base);
		if (err != MF_KOK)
			break;
		next = o->temperature <= 0.0 ? MfTfArgmax(logits, V)
			: MfTfSample(logits, V, o->temperature, o->top_k, cand, &r);
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
