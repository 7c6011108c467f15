/*
 * test_transformer_model.c - whole transformer models (transformer_model.h):
 * gradients of every kind (encoder classifier, decoder LM, encoder-decoder)
 * with softmax, linear and causal-linear attention and each norm against
 * central differences of the float32 loss; the named layout; the arena
 * size; seeded feature redraw; determinism of training and decoding;
 * decoding with the key/value cache against recomputing every window;
 * decoding limited to the ids of a smaller tokenizer.
 *
 * Gradient check.  There is no float64 model, so the check is a central
 * difference of the float32 loss along a random unit direction v, one per
 * tensor (the tensor's own slice) and one over all parameters:
 *     fd = (L(w + h v) - L(w - h v)) / 2h   vs   g . v.
 * The loss is a mean of float32 logits' cross-entropies summed in double;
 * its rounding noise is about 1e-7 |L| (measured below as the spread of
 * repeated evaluations: 0), so with h = 1e-2 the noise term is ~1e-5 and the
 * truncation term h^2 f'''/6 ~1e-5 too.  A tensor passes when
 * |fd - g.v| <= 2e-3 (|g.v| + 1e-2 |g|), |g| the whole gradient's norm:
 * a wrong gradient component of relative size e shows up in g.v at
 * about e |g| / sqrt(n), far above that for any bug worth catching.  Dropout
 * is checked by replaying the same masks (the same seeded MfRng for every
 * evaluation).  Activations are mostly the smooth ones (GELU, SiLU, GEGLU,
 * SwiGLU): a difference across ReLU's kink is off by O(1) for that unit
 * (seen here: 2e-2 with ReLU behind ReZero); ReLU's gradient is checked
 * against the float64 reference in test_transformer.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_test.h"
#include "transformer_model.h"

extern void openblas_set_num_threads(int);

enum
{
	B = 3, S = 6, T = 5, V = 11, C = 3, L = 8
};

static MfRng rng;
static double worst_rel = 0.0;

/* A small spec of one kind. */
static MfTfSpec
small_spec(MfTfKind kind, MfTfAttnKind attn, MfTfNorm norm, const char *act,
		   double dropout)
{
	MfTfSpec	s;
	MfTfStackSpec st;

	memset(&s, 0, sizeof(s));
	memset(&st, 0, sizeof(st));
	st.present = 1;
	st.d_model = 8;
	st.num_layers = 2;
	st.num_heads = 2;
	st.d_ff = 12;
	st.dropout = dropout;
	st.attention = attn;
	snprintf(st.activation, sizeof(st.activation), "%s", act);
	st.norm = norm;
	st.nb_features = attn == MF_TF_ATTN_SOFTMAX ? 0 : 8;
	st.feature_redraw_interval = 2;
	st.auto_check_redraw = 1;
	s.kind = kind;
	s.vocab_size = V;
	s.max_length = L;
	if (kind != MF_TF_KIND_DECODER)
		s.encoder = st;
	if (kind != MF_TF_KIND_ENCODER)
	{
		s.decoder = st;
		s.decoder.cross_attention = kind == MF_TF_KIND_ENCODER_DECODER;
	}
	s.num_classes = kind == MF_TF_KIND_ENCODER ? C : 0;
	return s;
}

/* A padded batch with labels (the third sequence is shorter). */
typedef struct Batch
{
	int32_t		src[B * S],
				tgt[B * T],
				labels[B * T];
	unsigned char src_pad[B * S],
				tgt_pad[B * T];
	MfTfInput	in;
} Batch;

static void
make_batch(const MfTfModel *m, Batch *b)
{
	size_t		i;

	memset(b, 0, sizeof(*b));
	for (i = 0; i < B * S; i++)
	{
		b->src[i] = (int32_t) mfk_rng_below(&rng, V);
		b->src_pad[i] = i >= 2 * S + 4;
	}
	for (i = 0; i < B * T; i++)
	{
		b->tgt[i] = (int32_t) mfk_rng_below(&rng, V);
		b->tgt_pad[i] = i >= 2 * T + 3;
		b->labels[i] = (int32_t) mfk_rng_below(&rng, V);
	}
	b->labels[4] = -1;			/* an ignored position */
	for (i = 0; m->spec.kind == MF_TF_KIND_ENCODER && i < B; i++)
		b->labels[i] = (int32_t) (i % C);
	b->in.B = B;
	b->in.S = S;
	b->in.src = b->src;
	b->in.src_pad = b->src_pad;
	b->in.T = T;
	b->in.tgt = b->tgt;
	b->in.tgt_pad = b->tgt_pad;
	b->in.labels = b->labels;
}

/* Loss of a training forward with dropout masks from seed 7. */
static double
loss_at(MfTfModel *m, const MfTfInput *in, MfArena *a)
{
	MfTfFwd		f;
	MfRng		drop;

	mfk_rng_seed(&drop, 7);
	mfk_arena_release(a, 0);
	if (mfk_tf_model_forward(NULL, m, in, &drop, a, &f) != MF_KOK)
		return NAN;
	return f.loss;
}

/* Perturb a slice of the parameters by h * v. */
static void
axpy(MfTfModel *m, size_t off, const double *v, size_t n, double h,
	 const float *orig)
{
	size_t		i;

	for (i = 0; i < n; i++)
		m->params[off + i] = (float) (orig[off + i] + h * v[i]);
}

/*
 * fd and g.v along a random unit direction in [off, off + n), zero on
 * buffers (not trained: no gradient).
 */
static void
directional(MfTfModel *m, const MfTfInput *in, MfArena *a, size_t off,
			size_t n, double h, double *fd, double *gv)
{
	double	   *v = malloc(n * sizeof(double)),
				nrm = 0,
				lp,
				lm;
	float	   *orig = malloc(m->n_floats * sizeof(float));
	size_t		i;
	int			k;

	memcpy(orig, m->params, m->n_floats * sizeof(float));
	for (i = 0; i < n; i++)
		v[i] = mfk_rng_normal(&rng);
	for (k = 0; k < m->n_tensors; k++)
		if (!m->tensors[k].trained)
			for (i = m->tensors[k].offset; i < m->tensors[k].offset +
				 m->tensors[k].rows * m->tensors[k].cols; i++)
				if (i >= off && i < off + n)
					v[i - off] = 0;
	for (i = 0; i < n; i++)
		nrm += v[i] * v[i];
	*gv = 0;
	for (i = 0; i < n; i++)
	{
		v[i] /= sqrt(nrm);
		*gv += v[i] * m->grads[off + i];
	}
	axpy(m, off, v, n, h, orig);
	lp = loss_at(m, in, a);
	axpy(m, off, v, n, -h, orig);
	lm = loss_at(m, in, a);
	memcpy(m->params, orig, m->n_floats * sizeof(float));
	*fd = (lp - lm) / (2 * h);
	free(v);
	free(orig);
}

/* Whole-model gradient check of one configuration. */
static void
check_model(const char *label, MfTfSpec spec)
{
	MfTfModel	m;
	Batch		b;
	MfArena		a;
	MfTfFwd		f;
	MfRng		drop;
	double		gnorm = 0,
				worst = 0,
				fd,
				gv,
				l1,
				l2;
	size_t		i;
	int			k,
				ok = 1,
				bad = -1;
	char		name[256];

	if (mfk_tf_model_init(&m, &spec, 42, &mfk_malloc_allocator) != MF_KOK)
	{
		MF_OK(0, label);
		return;
	}
	make_batch(&m, &b);
	mfk_arena_init(&a, &mfk_malloc_allocator, mfk_tf_model_step_bytes(&m, B, S, T, 1));
	/* move ReZero alphas off 0 so every branch matters */
	for (k = 0; k < m.n_tensors; k++)
		if (strstr(m.tensors[k].name, "rezero") != NULL)
			m.params[m.tensors[k].offset] = 0.5f;
	mfk_rng_seed(&drop, 7);
	memset(m.grads, 0, m.n_floats * sizeof(float));
	ok &= mfk_tf_model_forward(NULL, &m, &b.in, &drop, &a, &f) == MF_KOK;
	ok &= mfk_tf_model_backward(NULL, &m, &b.in, &f, &a) == MF_KOK;
	snprintf(name, sizeof(name), "%s: forward and backward run, arena peak = counted bytes", label);
	MF_OK(ok && a.peak == mfk_tf_model_step_bytes(&m, B, S, T, 1) && !a.failed, name);
	l1 = loss_at(&m, &b.in, &a);
	l2 = loss_at(&m, &b.in, &a);
	snprintf(name, sizeof(name), "%s: the loss replays exactly (%.6f)", label, l1);
	MF_OK(l1 == l2 && l1 == f.loss && isfinite(l1), name);
	for (i = 0; i < m.n_floats; i++)
		gnorm += (double) m.grads[i] * m.grads[i];
	gnorm = sqrt(gnorm);
	for (k = 0; k < m.n_tensors; k++)
	{
		const MfTfNamedTensor *t = &m.tensors[k];
		double		err;

		if (!t->trained)
			continue;
		directional(&m, &b.in, &a, t->offset, t->rows * (t->cols ? t->cols : 1), 1e-2, &fd, &gv);
		err = fabs(fd - gv) / (fabs(gv) + 1e-2 * gnorm);
		if (err > worst)
			worst = err, bad = k;
	}
	directional(&m, &b.in, &a, 0, m.n_floats, 1e-2, &fd, &gv);
	if (fabs(fd - gv) / (fabs(gv) + 1e-2 * gnorm) > worst)
		worst = fabs(fd - gv) / (fabs(gv) + 1e-2 * gnorm), bad = -2;
	snprintf(name, sizeof(name), "%s: gradient of every tensor matches central differences", label);
	MF_OK(worst <= 2e-3, name);
	MF_DIAG("  %s: worst relative error %.2e (%s), |g| %.3g, all-parameter direction: fd %.6g, g.v %.6g",
			label, worst, bad >= 0 ? m.tensors[bad].name : bad == -2 ? "all" : "-", gnorm, fd, gv);
	if (worst > worst_rel)
		worst_rel = worst;
	mfk_arena_free(&a, &mfk_malloc_allocator);
	mfk_tf_model_free(&m);
}

/* The named layout: prefixes, order, tied head, counts. */
static void
test_names(void)
{
	MfTfSpec	s = small_spec(MF_TF_KIND_ENCODER_DECODER, MF_TF_ATTN_LINEAR,
							   MF_TF_LAYERNORM, "gelu", 0);
	MfTfModel	m;
	const MfTfNamedTensor *t;
	int			k,
				ordered = 1;

	mfk_tf_model_init(&m, &s, 1, &mfk_malloc_allocator);
	MF_STR_EQ(m.tensors[0].name, "encoder.token_emb.weight", "first tensor");
	MF_STR_EQ(m.tensors[2].name, "encoder.layers.0.self_attn.in_proj_weight", "first layer tensor");
	MF_STR_EQ(m.tensors[m.n_tensors - 1].name, "lm_head.bias", "last tensor");
	t = mfk_tf_model_tensor(&m, "decoder.layers.1.multihead_attn.projection_matrix");
	MF_OK(t != NULL && !t->trained && t->rows == 8 && t->cols == 4,
		  "cross-attention features are a buffer [nb_features, d_head]");
	t = mfk_tf_model_tensor(&m, "decoder.layers.1.norm3.bias");
	MF_OK(t != NULL && t->trained && t->rows == 8, "decoder layers have norm3");
	for (k = 1; k < m.n_tensors; k++)
		ordered &= m.tensors[k].offset == m.tensors[k - 1].offset +
			m.tensors[k - 1].rows * (m.tensors[k - 1].cols ? m.tensors[k - 1].cols : 1);
	MF_OK(ordered && m.tensors[0].offset == 0, "tensors tile the flat buffer in state_dict order");
	MF_OK((int64_t) m.n_trained == mf_tf_spec_n_params(&s), "trained floats = the spec's count");
	MF_OK(m.decay[mfk_tf_model_tensor(&m, "lm_head.weight")->offset] == 1 &&
		  m.decay[mfk_tf_model_tensor(&m, "lm_head.bias")->offset] == 0 &&
		  m.decay[mfk_tf_model_tensor(&m, "encoder.token_emb.weight")->offset] == 0 &&
		  m.decay[mfk_tf_model_tensor(&m, "encoder.norm.weight")->offset] == 0,
		  "weight decay on linear weights only");
	mfk_tf_model_free(&m);
	s = small_spec(MF_TF_KIND_DECODER, MF_TF_ATTN_SOFTMAX, MF_TF_LAYERNORM, "gelu", 0);
	s.tie_lm_head = 1;
	mfk_tf_model_init(&m, &s, 1, &mfk_malloc_allocator);
	MF_OK(mfk_tf_model_tensor(&m, "lm_head.weight") == NULL && m.p.lm_w == m.p.dec.tok &&
		  mfk_tf_model_tensor(&m, "lm_head.bias") != NULL,
		  "a tied head stores no lm_head.weight: it is decoder.token_emb.weight");
	mfk_tf_model_free(&m);
	s.decoder.num_heads = 3;
	MF_OK(mfk_tf_model_init(&m, &s, 1, &mfk_malloc_allocator) == MF_KERR_BADARG,
		  "heads that do not divide d_model are refused");
}

/* Train n steps; the step info of the last. */
static int
train(MfTfModel *m, const MfTfTrainOpts *o, const MfTfInput *in, int n,
	  MfRng *drop, MfTfStepInfo *info)
{
	MfArena		a;
	int			i,
				err = MF_KOK;

	mfk_arena_init(&a, &mfk_malloc_allocator, mfk_tf_model_step_bytes(m, in->B, in->S, in->T, 1));
	for (i = 0; i < n && err == MF_KOK; i++)
		err = mfk_tf_train_step(NULL, m, o, in, drop, &a, info);
	mfk_arena_free(&a, &mfk_malloc_allocator);
	return err;
}

/* Training is deterministic; features are redrawn on schedule, from the seed. */
static void
test_training_and_redraw(void)
{
	MfTfSpec	s = small_spec(MF_TF_KIND_ENCODER_DECODER, MF_TF_ATTN_CAUSAL_LINEAR,
							   MF_TF_SCALENORM, "swiglu", 0.1);
	MfTfModel	m1,
				m2,
				m3;
	MfTfTrainOpts o;
	MfTfStepInfo i1,
				i2;
	MfRng		d1,
				d2;
	Batch		b;
	const MfTfNamedTensor *ft;
	float	   *before;
	double		first;
	size_t		nf;
	int			ok;

	mfk_tf_train_defaults(&o);
	o.lr.base_lr = 3e-3;
	o.lr.warmup_steps = 2;
	mfk_tf_model_init(&m1, &s, 9, &mfk_malloc_allocator);
	mfk_tf_model_init(&m2, &s, 9, &mfk_malloc_allocator);
	make_batch(&m1, &b);
	ft = mfk_tf_model_tensor(&m1, "decoder.layers.0.self_attn.projection_matrix");
	nf = ft->rows * ft->cols;
	before = malloc(nf * sizeof(float));
	memcpy(before, m1.params + ft->offset, nf * sizeof(float));
	mfk_tf_train_begin(&m1, &o);
	mfk_tf_train_begin(&m2, &o);
	mfk_rng_seed(&d1, 5);
	mfk_rng_seed(&d2, 5);
	ok = train(&m1, &o, &b.in, 1, &d1, &i1) == MF_KOK;
	first = i1.loss;
	MF_OK(ok && i1.lr == 1.5e-3 && !i1.redrawn &&
		  memcmp(before, m1.params + ft->offset, nf * sizeof(float)) == 0,
		  "step 0: warm-up halves the rate; buffers untouched by the optimiser");
	ok = train(&m1, &o, &b.in, 1, &d1, &i1) == MF_KOK && !i1.redrawn;
	ok &= train(&m1, &o, &b.in, 1, &d1, &i1) == MF_KOK && i1.redrawn == 2;
	MF_OK(ok && memcmp(before, m1.params + ft->offset, nf * sizeof(float)) != 0,
		  "features of both stacks are redrawn before step 2 (interval 2)");
	train(&m1, &o, &b.in, 27, &d1, &i1);
	MF_OK(i1.loss < first - 0.5, "30 AdamW steps lower the loss on a fixed batch");
	MF_DIAG("  loss %.4f -> %.4f, grad norm %.3g, peak arena %zu bytes per step",
			first, i1.loss, i1.grad_norm, i1.peak_bytes);
	train(&m2, &o, &b.in, 30, &d2, &i2);
	MF_OK(memcmp(m1.params, m2.params, m1.n_floats * sizeof(float)) == 0 && i1.loss == i2.loss,
		  "same seed, same data: bit-identical weights after 30 steps");
	mfk_tf_model_init(&m3, &s, 9, &mfk_malloc_allocator);
	MF_OK(mfk_tf_model_redraw_due(&m3, 28) == 2 &&
		  memcmp(m3.params + ft->offset, m1.params + ft->offset, nf * sizeof(float)) == 0,
		  "redraw k depends on (seed, k) only: a resumed run redraws the same features");
	mfk_tf_model_free(&m1);
	mfk_tf_model_free(&m2);
	mfk_tf_model_free(&m3);
	free(before);
}

/* Generate with options o; returns the count ((size_t) -1 on error). */
static size_t
gen_opts(MfTfModel *m, const int32_t *prompt, size_t n, const MfTfGenOpts *o,
		 int32_t *out)
{
	MfArena		a;
	size_t		got = 0;

	mfk_arena_init(&a, &mfk_malloc_allocator, mfk_tf_model_step_bytes(m, 1, n, L, 0));
	if (mfk_tf_generate(NULL, m, prompt, n, o, &a, out, &got) != MF_KOK)
		got = (size_t) -1;
	mfk_arena_free(&a, &mfk_malloc_allocator);
	return got;
}

/* Generate 6 tokens with options; returns the count. */
static size_t
gen(MfTfModel *m, const int32_t *prompt, size_t n, double temp, size_t k,
	uint64_t seed, int32_t eos, int32_t *out)
{
	MfTfGenOpts o = {6, temp, k, seed, 1, eos, 0, 0, NULL};

	return gen_opts(m, prompt, n, &o, out);
}

/*
 * The key/value cache against the reference path (no_cache: every token
 * recomputes the window): the same tokens, greedy and sampled, also past
 * max_length, where the window takes over.
 */
static void
test_decode_cache(MfTfKind kind, MfTfNorm norm, const char *act, const char *label)
{
	MfTfSpec	s = small_spec(kind, MF_TF_ATTN_SOFTMAX, norm, act, 0.0);
	MfTfModel	m;
	int32_t		prompt[3] = {3, 4, 5},
				a[24],
				b[24];
	size_t		i,
				c;
	int			same = 1,
				varied = 0;
	char		name[200];

	mfk_tf_model_init(&m, &s, 11, &mfk_malloc_allocator);
	for (i = 0; i < m.n_floats; i++)	/* sharper logits than the initialisation's */
		m.params[i] *= 1.5f;
	for (c = 0; c < 3; c++)
	{
		MfTfGenOpts o = {c == 2 ? 20 : 5, c == 1 ? 1.0 : 0.0, 0, 5, 1, -1, 0, 0, NULL};
		size_t		na = gen_opts(&m, prompt, 3, &o, a),
					nb;

		o.no_cache = 1;
		nb = gen_opts(&m, prompt, 3, &o, b);
		same &= na == o.max_tokens && nb == na && memcmp(a, b, na * sizeof(int32_t)) == 0;
		for (i = 1; i < na; i++)
			varied |= a[i] != a[0];
	}
	snprintf(name, sizeof(name), "%s: key/value cache = recompute (greedy, sampled, 20 tokens past max_length %d)",
			 label, L);
	MF_OK(same && varied, name);
	mfk_tf_model_free(&m);
}

/* Greedy and sampled decoding: deterministic with the seed. */
static void
test_decode(MfTfKind kind, const char *label)
{
	MfTfSpec	s = small_spec(kind, MF_TF_ATTN_SOFTMAX, MF_TF_LAYERNORM, "gelu", 0.1);
	MfTfModel	m;
	int32_t		prompt[3] = {3, 4, 5},
				g1[8],
				g2[8],
				s1[8],
				s2[8],
				s3[8],
				bad[1] = {V};
	size_t		n1,
				n2,
				m1,
				m2,
				m3,
				i,
				j;
	int			differ = 0;
	char		name[200];

	mfk_tf_model_init(&m, &s, 3, &mfk_malloc_allocator);
	n1 = gen(&m, prompt, 3, 0, 0, 1, -1, g1);
	n2 = gen(&m, prompt, 3, 1.0, 1, 99, -1, g2);
	snprintf(name, sizeof(name), "%s: greedy gives max_tokens tokens; top_k 1 sampling is greedy", label);
	MF_OK(n1 == 6 && n2 == 6 && memcmp(g1, g2, sizeof(int32_t) * 6) == 0, name);
	m1 = gen(&m, prompt, 3, 1.5, 0, 11, -1, s1);
	m2 = gen(&m, prompt, 3, 1.5, 0, 11, -1, s2);
	m3 = gen(&m, prompt, 3, 1.5, 0, 12, -1, s3);
	for (i = 0; i < 6; i++)
		differ |= s1[i] != s3[i];
	snprintf(name, sizeof(name), "%s: same seed, same tokens; another seed, others", label);
	MF_OK(m1 == 6 && m2 == 6 && m3 == 6 && memcmp(s1, s2, sizeof(int32_t) * 6) == 0 && differ, name);
	for (j = 1; j < 6; j++)		/* the first new id of the greedy output */
	{
		for (i = 0; i < j && g1[i] != g1[j]; i++)
			;
		if (i == j)
			break;
	}
	n2 = j < 6 ? gen(&m, prompt, 3, 0, 0, 1, g1[j], g2) : 0;
	snprintf(name, sizeof(name), "%s: generation stops at eos (not emitted)", label);
	MF_OK(j < 6 && n2 == j && memcmp(g1, g2, j * sizeof(int32_t)) == 0, name);
	snprintf(name, sizeof(name), "%s: a token outside the vocabulary is refused", label);
	MF_OK(gen(&m, bad, 1, 0, 0, 1, -1, g2) == (size_t) -1, name);
	mfk_tf_model_free(&m);
}

/*
 * Generation limited to ids below n_ids (a tokenizer smaller than the
 * vocabulary): the ids at or above it, which the LM head's bias favours
 * here, are never chosen; the tokens equal those of the same model whose
 * bias masks those ids (-1e30: softmax weight 0), greedy and sampled, with
 * and without the key/value cache; n_ids = vocab_size (or more) gives
 * exactly the tokens of no limit.
 */
static void
test_decode_limit(MfTfKind kind, const char *label)
{
	MfTfSpec	s = small_spec(kind, MF_TF_ATTN_SOFTMAX, MF_TF_LAYERNORM, "gelu", 0.0);
	MfTfModel	m,
				masked;
	const size_t n_ids = 6;
	int32_t		prompt[3] = {3, 4, 5},
				a[8],
				b[8],
				c[8];
	size_t		i,
				k,
				na,
				nb;
	int			high = 0,
				below = 1,
				same_mask = 1,
				same_full = 1;
	char		name[200];

	mfk_tf_model_init(&m, &s, 21, &mfk_malloc_allocator);
	mfk_tf_model_init(&masked, &s, 21, &mfk_malloc_allocator);
	for (i = n_ids; i < V; i++)
	{
		m.p.lm_b[i] += 4.0f;
		masked.p.lm_b[i] = -1e30f;
	}
	for (k = 0; k < 12; k++)
	{
		MfTfGenOpts o = {8, k == 0 ? 0.0 : 0.5 + 0.25 * (double) (k % 4), k % 3 == 2 ? 3 : 0, k, 1, -1, k % 2, 0, NULL};

		na = gen_opts(&m, prompt, 3, &o, a);	/* no limit */
		for (i = 0; i < na; i++)
			high |= (size_t) a[i] >= n_ids;
		o.n_ids = V;
		nb = gen_opts(&m, prompt, 3, &o, b);
		o.n_ids = 2 * V;
		same_full &= na == 8 && nb == na && gen_opts(&m, prompt, 3, &o, c) == na &&
			memcmp(a, b, na * sizeof(int32_t)) == 0 && memcmp(a, c, na * sizeof(int32_t)) == 0;
		o.n_ids = n_ids;
		na = gen_opts(&m, prompt, 3, &o, a);
		o.n_ids = 0;
		nb = gen_opts(&masked, prompt, 3, &o, b);
		same_mask &= na == 8 && nb == na && memcmp(a, b, na * sizeof(int32_t)) == 0;
		for (i = 0; i < na; i++)
			below &= (size_t) a[i] < n_ids;
	}
	snprintf(name, sizeof(name), "%s: n_ids %zu of %d: only ids below it, the tokens of a masked bias "
			 "(greedy, sampled, top_k, cache or not)", label, n_ids, V);
	MF_OK(high && below && same_mask, name);
	snprintf(name, sizeof(name), "%s: n_ids = vocab_size or more: the tokens of no limit", label);
	MF_OK(same_full, name);
	mfk_tf_model_free(&m);
	mfk_tf_model_free(&masked);
}

/*
 * Generation skipping marked ids (the tokenizer's unknown and control
 * pieces): ids 0, 1 and 7, which the LM head's bias favours here, are
 * never chosen; the tokens equal those of the same model whose bias masks
 * them (-1e30), greedy and sampled, top_k, with and without the key/value
 * cache, alone and with n_ids; a mask leaving no id is refused.
 */
static void
test_decode_excluded_ids(MfTfKind kind, const char *label)
{
	MfTfSpec	s = small_spec(kind, MF_TF_ATTN_SOFTMAX, MF_TF_LAYERNORM, "gelu", 0.0);
	MfTfModel	m,
				masked;
	uint8_t		skip[V],
				all[V];
	const int32_t skipped[3] = {0, 1, 7};
	int32_t		prompt[3] = {3, 4, 5},
				a[8],
				b[8];
	size_t		i,
				k,
				na,
				nb;
	int			favoured = 0,
				none = 1,
				same = 1;
	char		name[200];

	memset(skip, 0, sizeof(skip));
	memset(all, 1, sizeof(all));
	mfk_tf_model_init(&m, &s, 23, &mfk_malloc_allocator);
	mfk_tf_model_init(&masked, &s, 23, &mfk_malloc_allocator);
	for (i = 0; i < 3; i++)
	{
		skip[skipped[i]] = 1;
		m.p.lm_b[skipped[i]] += 4.0f;
		masked.p.lm_b[skipped[i]] = -1e30f;
	}
	for (k = 0; k < 12; k++)
	{
		MfTfGenOpts o = {8, k == 0 ? 0.0 : 0.5 + 0.25 * (double) (k % 4), k % 3 == 2 ? 3 : 0, k, 2, -1, k % 2,
		k % 4 == 3 ? 9 : 0, NULL};

		na = gen_opts(&m, prompt, 3, &o, a);	/* nothing skipped */
		for (i = 0; i < na; i++)
			favoured |= a[i] == 0 || a[i] == 1 || a[i] == 7;
		o.skip = skip;
		na = gen_opts(&m, prompt, 3, &o, a);
		o.skip = NULL;
		nb = gen_opts(&masked, prompt, 3, &o, b);
		same &= na == 8 && nb == na && memcmp(a, b, na * sizeof(int32_t)) == 0;
		for (i = 0; i < na; i++)
			none &= a[i] != 0 && a[i] != 1 && a[i] != 7 && (o.n_ids == 0 || (size_t) a[i] < o.n_ids);
	}
	snprintf(name, sizeof(name), "%s: skipped ids (0, 1, 7) never chosen, the tokens of a masked bias "
			 "(greedy, sampled, top_k, n_ids, cache or not)", label);
	MF_OK(favoured && none && same, name);
	{
		MfTfGenOpts o = {8, 0.0, 0, 1, 2, -1, 0, 0, NULL};

		o.skip = all;
		snprintf(name, sizeof(name), "%s: a skip mask leaving no id is refused", label);
		MF_OK(gen_opts(&m, prompt, 3, &o, a) == (size_t) -1, name);
	}
	mfk_tf_model_free(&m);
	mfk_tf_model_free(&masked);
}

/* A model built for inference (mfk_tf_model_alloc) has no gradients: training and backward refuse it. */
static void
test_inference_model(void)
{
	MfTfSpec	s = small_spec(MF_TF_KIND_ENCODER, MF_TF_ATTN_SOFTMAX, MF_TF_LAYERNORM, "gelu", 0.0);
	MfTfModel	m,
				ref;
	MfTfTrainOpts o;
	MfTfInput	in;
	MfTfFwd		f;
	MfArena		a;
	int32_t		src[3] = {3, 4, 5},
				lab[1] = {1};
	int			ok;

	mfk_tf_model_init(&ref, &s, 5, &mfk_malloc_allocator);
	ok = mfk_tf_model_alloc(&m, &s, 5, &mfk_malloc_allocator) == MF_KOK && m.grads == NULL &&
		m.n_floats == ref.n_floats;
	memcpy(m.params, ref.params, ref.n_floats * sizeof(float));
	mfk_tf_train_defaults(&o);
	ok &= mfk_tf_train_begin(&m, &o) == MF_KERR_BADARG && mfk_tf_train_begin(&ref, &o) == MF_KOK;
	memset(&in, 0, sizeof(in));
	in.B = 1;
	in.S = 3;
	in.src = src;
	in.labels = lab;
	mfk_arena_init(&a, &mfk_malloc_allocator, mfk_tf_model_step_bytes(&m, 1, 3, 0, 1));
	ok &= mfk_tf_model_forward(NULL, &m, &in, &rng, &a, &f) == MF_KOK &&
		mfk_tf_model_backward(NULL, &m, &in, &f, &a) == MF_KERR_BADARG;
	mfk_arena_release(&a, 0);
	ok &= mfk_tf_model_forward(NULL, &ref, &in, &rng, &a, &f) == MF_KOK &&
		mfk_tf_model_backward(NULL, &ref, &in, &f, &a) == MF_KOK;	/* the same call on a trainable model */
	mfk_arena_free(&a, &mfk_malloc_allocator);
	MF_OK(ok, "a model built for inference has no gradients: training and backward refuse it (BADARG)");
	mfk_tf_model_free(&m);
	mfk_tf_model_free(&ref);
}

int
main(void)
{
	openblas_set_num_threads(1);
	mfk_rng_seed(&rng, 20261206);
	test_names();
	check_model("encoder, softmax, layernorm, gelu", small_spec(MF_TF_KIND_ENCODER, MF_TF_ATTN_SOFTMAX, MF_TF_LAYERNORM, "gelu", 0));
	check_model("encoder, linear, scalenorm, swiglu", small_spec(MF_TF_KIND_ENCODER, MF_TF_ATTN_LINEAR, MF_TF_SCALENORM, "swiglu", 0));
	check_model("encoder, causal linear, rezero, gelu", small_spec(MF_TF_KIND_ENCODER, MF_TF_ATTN_CAUSAL_LINEAR, MF_TF_REZERO, "gelu", 0));
	check_model("encoder, softmax, dropout 0.2 (probabilities too)", small_spec(MF_TF_KIND_ENCODER, MF_TF_ATTN_SOFTMAX, MF_TF_LAYERNORM, "geglu", 0.2));
	check_model("decoder, softmax, layernorm, gelu", small_spec(MF_TF_KIND_DECODER, MF_TF_ATTN_SOFTMAX, MF_TF_LAYERNORM, "gelu", 0));
	check_model("decoder, linear, scalenorm, geglu", small_spec(MF_TF_KIND_DECODER, MF_TF_ATTN_LINEAR, MF_TF_SCALENORM, "geglu", 0));
	check_model("decoder, causal linear, rezero, silu", small_spec(MF_TF_KIND_DECODER, MF_TF_ATTN_CAUSAL_LINEAR, MF_TF_REZERO, "silu", 0));
	{
		MfTfSpec	t = small_spec(MF_TF_KIND_DECODER, MF_TF_ATTN_SOFTMAX, MF_TF_LAYERNORM, "reglu", 0.2);

		t.tie_lm_head = 1;
		check_model("decoder, softmax, tied head, dropout 0.2", t);
	}
	check_model("encoder-decoder, softmax, layernorm, gelu", small_spec(MF_TF_KIND_ENCODER_DECODER, MF_TF_ATTN_SOFTMAX, MF_TF_LAYERNORM, "gelu", 0));
	check_model("encoder-decoder, linear, scalenorm, reglu", small_spec(MF_TF_KIND_ENCODER_DECODER, MF_TF_ATTN_LINEAR, MF_TF_SCALENORM, "reglu", 0));
	check_model("encoder-decoder, causal linear, rezero, gelu", small_spec(MF_TF_KIND_ENCODER_DECODER, MF_TF_ATTN_CAUSAL_LINEAR, MF_TF_REZERO, "gelu", 0));
	check_model("encoder-decoder, softmax, dropout 0.2", small_spec(MF_TF_KIND_ENCODER_DECODER, MF_TF_ATTN_SOFTMAX, MF_TF_LAYERNORM, "swiglu", 0.2));
	MF_DIAG("worst whole-model gradient error (central differences, float32): %.2e", worst_rel);
	test_training_and_redraw();
	test_inference_model();
	test_decode(MF_TF_KIND_DECODER, "decoder");
	test_decode(MF_TF_KIND_ENCODER_DECODER, "encoder-decoder");
	test_decode_limit(MF_TF_KIND_DECODER, "decoder");
	test_decode_limit(MF_TF_KIND_ENCODER_DECODER, "encoder-decoder");
	test_decode_excluded_ids(MF_TF_KIND_DECODER, "decoder");
	test_decode_excluded_ids(MF_TF_KIND_ENCODER_DECODER, "encoder-decoder");
	test_decode_cache(MF_TF_KIND_DECODER, MF_TF_LAYERNORM, "gelu", "decoder, layernorm, gelu");
	test_decode_cache(MF_TF_KIND_DECODER, MF_TF_REZERO, "swiglu", "decoder, rezero, swiglu");
	test_decode_cache(MF_TF_KIND_DECODER, MF_TF_SCALENORM, "relu", "decoder, scalenorm, relu");
	test_decode_cache(MF_TF_KIND_ENCODER_DECODER, MF_TF_LAYERNORM, "gelu", "encoder-decoder, layernorm, gelu");
	return mf_test_done();
}
