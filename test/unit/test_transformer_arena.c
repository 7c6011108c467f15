/*
 * test_transformer_arena.c - a training step's memory comes from one arena:
 * for each kind of model (encoder classifier, decoder LM, encoder-decoder,
 * linear and causal-linear attention with feature redraws, dropout on),
 * after the model, its optimiser state and the arena exist, training steps
 * and evaluation forwards make no allocation at all (a counting allocator
 * given to the model and to the MfEnv sees none), every step's arena peak
 * equals mfk_tf_model_step_bytes, and an arena one alignment unit too small
 * fails cleanly with MF_KERR_NOMEM leaving the weights untouched.
 */
#include <stdlib.h>
#include <string.h>

#include "mf_test.h"
#include "transformer_model.h"

static size_t n_allocs;

/* malloc that counts. */
static void *
counting_alloc(void *ctx, size_t size)
{
	(void) ctx;
	n_allocs++;
	return malloc(size);
}

/* free. */
static void
counting_free(void *ctx, void *ptr)
{
	(void) ctx;
	free(ptr);
}

static const MfAllocator Counting = {counting_alloc, counting_free, NULL};

/* A small spec of a kind and attention. */
static MfTfSpec
small_spec(MfTfKind kind, MfTfAttnKind attn)
{
	MfTfSpec	s;
	MfTfStackSpec st;

	memset(&s, 0, sizeof(s));
	memset(&st, 0, sizeof(st));
	st.present = 1;
	st.d_model = 16;
	st.num_layers = 2;
	st.num_heads = 2;
	st.d_ff = 32;
	st.dropout = 0.1;
	st.attention = attn;
	st.nb_features = attn == MF_TF_ATTN_SOFTMAX ? 0 : 8;
	st.feature_redraw_interval = 2;
	st.auto_check_redraw = 1;
	snprintf(st.activation, sizeof(st.activation), "swiglu");
	st.norm = MF_TF_LAYERNORM;
	s.kind = kind;
	s.vocab_size = 11;
	s.max_length = 8;
	s.num_classes = kind == MF_TF_KIND_ENCODER ? 3 : 0;
	if (kind != MF_TF_KIND_DECODER)
		s.encoder = st;
	if (kind != MF_TF_KIND_ENCODER)
	{
		s.decoder = st;
		s.decoder.cross_attention = kind == MF_TF_KIND_ENCODER_DECODER;
		if (attn == MF_TF_ATTN_LINEAR)
			s.decoder.attention = MF_TF_ATTN_CAUSAL_LINEAR;
	}
	return s;
}

/* Steps and forwards of one model with no allocation; peaks as counted. */
static void
check_kind(const char *label, MfTfKind kind, MfTfAttnKind attn)
{
	enum
	{
		B = 3, S = 7, T = 6
	};
	MfTfSpec	s = small_spec(kind, attn);
	MfTfModel	m;
	MfTfTrainOpts o;
	MfTfStepInfo info;
	MfTfInput	in;
	MfTfFwd		f;
	MfArena		a,
				small;
	MfEnv		env;
	MfRng		r;
	int32_t		src[B * S],
				tgt[B * T],
				labels[B * T];
	unsigned char src_pad[B * S] = {0},
				tgt_pad[B * T] = {0};
	size_t		i,
				before,
				need;
	int			step,
				ok = 1,
				peaks = 1;
	float	   *saved;
	char		name[160];

	mfk_rng_seed(&r, 5);
	for (i = 0; i < B * S; i++)
		src[i] = (int32_t) mfk_rng_below(&r, 11);
	for (i = 0; i < B * T; i++)
		tgt[i] = (int32_t) mfk_rng_below(&r, 11), labels[i] = (int32_t) mfk_rng_below(&r, 3);
	src_pad[S - 1] = tgt_pad[2 * T - 1] = 1;
	memset(&in, 0, sizeof(in));
	in.B = B, in.S = S, in.T = T;
	in.src = src, in.src_pad = src_pad, in.tgt = tgt, in.tgt_pad = tgt_pad;
	in.labels = labels;
	memset(&env, 0, sizeof(env));
	env.alloc = Counting;

	ok = mfk_tf_model_init(&m, &s, 9, &Counting) == MF_KOK;
	mfk_tf_train_defaults(&o);
	ok = ok && mfk_tf_train_begin(&m, &o) == MF_KOK;
	need = mfk_tf_model_step_bytes(&m, B, S, T, 1);
	ok = ok && mfk_arena_init(&a, &Counting, need) == MF_KOK;
	before = n_allocs;
	for (step = 0; ok && step < 5; step++)
	{
		ok = mfk_tf_train_step(&env, &m, &o, &in, &r, &a, &info) == MF_KOK;
		peaks &= info.peak_bytes == need;
	}
	for (step = 0; ok && step < 2; step++)
	{
		mfk_arena_release(&a, 0);
		ok = mfk_tf_model_forward(&env, &m, &in, NULL, &a, &f) == MF_KOK;
	}
	snprintf(name, sizeof(name), "%s: 5 training steps and 2 forwards allocate nothing "
			 "(%zu allocations)", label, n_allocs - before);
	MF_OK(ok && n_allocs == before, name);
	snprintf(name, sizeof(name), "%s: every step's arena peak = mfk_tf_model_step_bytes (%zu)",
			 label, need);
	MF_OK(ok && peaks, name);

	saved = malloc(m.n_floats * sizeof(float));
	memcpy(saved, m.params, m.n_floats * sizeof(float));
	ok = mfk_arena_init(&small, &Counting, need - MF_ARENA_ALIGN) == MF_KOK &&
		mfk_tf_train_step(&env, &m, &o, &in, &r, &small, &info) == MF_KERR_NOMEM;
	snprintf(name, sizeof(name), "%s: an arena %d bytes short fails with NOMEM, weights kept",
			 label, MF_ARENA_ALIGN);
	MF_OK(ok && memcmp(saved, m.params, m.n_floats * sizeof(float)) == 0, name);
	free(saved);
	mfk_arena_free(&small, &Counting);
	mfk_arena_free(&a, &Counting);
	mfk_tf_model_free(&m);
}

int
main(void)
{
	check_kind("encoder classifier", MF_TF_KIND_ENCODER, MF_TF_ATTN_SOFTMAX);
	check_kind("decoder LM", MF_TF_KIND_DECODER, MF_TF_ATTN_SOFTMAX);
	check_kind("encoder-decoder", MF_TF_KIND_ENCODER_DECODER, MF_TF_ATTN_SOFTMAX);
	check_kind("encoder, linear attention", MF_TF_KIND_ENCODER, MF_TF_ATTN_LINEAR);
	check_kind("decoder, causal linear attention", MF_TF_KIND_DECODER, MF_TF_ATTN_CAUSAL_LINEAR);
	check_kind("encoder-decoder, linear attention", MF_TF_KIND_ENCODER_DECODER, MF_TF_ATTN_LINEAR);
	return mf_test_done();
}
