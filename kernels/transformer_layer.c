/*
 * transformer_layer.c - the pre-norm (norm_first) transformer layer, for
 * encoders and decoders: parameter layout and initialisation, activation
 * layout, forward and backward.
 *
 * Design note: a layer is a chain of residual sublayers, each
 *     x <- x + k * dropout(branch(norm(x)))      (k = ReZero alpha, else 1)
 * namely self-attention, cross-attention (decoder layers with
 * use_cross_attention; keys and values come from the encoder's memory)
 * and the FFN.  Both attention sublayers are one function: queries from the
 * normed x, keys and values from the normed x (self) or the memory (cross),
 * through the q rows and the k, v rows of in_proj_weight (two sgemms), so
 * self- and cross-attention share every line.
 *
 * This file owns three things.  (1) The parameter layout: MfTfLayout is
 * the one place that knows tensor names, shapes and order (PyTorch's
 * state_dict order); the size, the pointers and the exported table all
 * come from it.  (2) The activation layout, carved by one function on a
 * counting arena for the size and on the real one for the pointers, and
 * the backward scratch likewise.  (3) The order of operations, forward and
 * reversed.  Backward keeps one running gradient dcur (at y, then x2, x1,
 * x): each sublayer first scales dcur into its branch, then adds the
 * norm's input gradient back into dcur.
 */
#include "transformer.h"

#include <math.h>
#include <string.h>

static const char *const NormWeight[3] = {"norm1.weight", "norm2.weight", "norm3.weight"};
static const char *const NormBias[3] = {"norm1.bias", "norm2.bias", "norm3.bias"};
static const char *const NormG[3] = {"norm1.g", "norm2.g", "norm3.g"};
static const char *const RezeroAlpha[3] = {"rezero1.alpha", "rezero2.alpha", "rezero3.alpha"};

/* Width of linear1's output: 2 d_ff for gated activations. */
static size_t
MfTfF2(const MfTfLayerDims *dims)
{
	return mfk_act_is_gated(dims->act) ? 2 * dims->d_ff : dims->d_ff;
}

/* 1 when the dimensions describe a layer these kernels can run. */
static int
MfTfDimsValid(const MfTfLayerDims *dims)
{
	if (dims == NULL || dims->d_model == 0 || dims->n_heads == 0 ||
		dims->d_ff == 0 || dims->d_model % dims->n_heads != 0)
		return 0;
	if (dims->d_model > ((size_t) 1 << 20) || dims->d_ff > ((size_t) 1 << 24))
		return 0;
	if (dims->norm != MF_TF_LAYERNORM && dims->norm != MF_TF_SCALENORM &&
		dims->norm != MF_TF_REZERO)
		return 0;
	if (!(dims->dropout >= 0.0f && dims->dropout < 1.0f))
		return 0;
	if (dims->linear_attention &&
		(dims->nb_features == 0 || dims->nb_features > ((size_t) 1 << 16)))
		return 0;
	switch (dims->act)
	{
		case MF_ACT_GELU:
		case MF_ACT_RELU:
		case MF_ACT_SILU:
		case MF_ACT_GEGLU:
		case MF_ACT_REGLU:
		case MF_ACT_SWIGLU:
			return 1;
		default:
			return 0;
	}
}

/* Where MfTfPlace writes. */
typedef struct MfTfPlacer
{
	float	   *base;
	size_t		off;
	MfTfTensor *table;
	int			nt;
} MfTfPlacer;

/* Append one tensor to the layout: pointer, table row, running offset. */
static void
MfTfPlace(MfTfPlacer *pl, float **ptr, const char *name, size_t rows,
		  size_t cols)
{
	*ptr = pl->base != NULL ? pl->base + pl->off : NULL;
	if (pl->table != NULL)
	{
		pl->table[pl->nt].name = name;
		pl->table[pl->nt].rows = rows;
		pl->table[pl->nt].cols = cols;
		pl->table[pl->nt].offset = pl->off;
	}
	pl->nt++;
	pl->off += rows * (cols == 0 ? 1 : cols);
}

/* An attention block's four tensors under prefix ("self_attn" / "multihead_attn"). */
static void
MfTfPlaceAttn(MfTfPlacer *pl, MfTfAttnParams *a, int cross, size_t d)
{
	MfTfPlace(pl, &a->in_w, cross ? "multihead_attn.in_proj_weight" : "self_attn.in_proj_weight", 3 * d, d);
	MfTfPlace(pl, &a->in_b, cross ? "multihead_attn.in_proj_bias" : "self_attn.in_proj_bias", 3 * d, 0);
	MfTfPlace(pl, &a->out_w, cross ? "multihead_attn.out_proj.weight" : "self_attn.out_proj.weight", d, d);
	MfTfPlace(pl, &a->out_b, cross ? "multihead_attn.out_proj.bias" : "self_attn.out_proj.bias", d, 0);
}

/* The k-th norm (0-based) of the layer. */
static void
MfTfPlaceNorm(MfTfPlacer *pl, const MfTfLayerDims *dims, MfTfNormParams *n,
			  int k)
{
	n->b = NULL;
	if (dims->norm == MF_TF_LAYERNORM)
	{
		MfTfPlace(pl, &n->w, NormWeight[k], dims->d_model, 0);
		MfTfPlace(pl, &n->b, NormBias[k], dims->d_model, 0);
	}
	else if (dims->norm == MF_TF_SCALENORM)
		MfTfPlace(pl, &n->w, NormG[k], 1, 0);
	else
		MfTfPlace(pl, &n->w, RezeroAlpha[k], 1, 0);
}

/*
 * Lay out a layer's tensors in state_dict order, trained parameters first
 * (*n_params floats), then buffers; returns the float count.
 */
static size_t
MfTfLayout(const MfTfLayerDims *dims, MfTfPlacer *pl, MfTfLayer *p,
		   size_t *n_params)
{
	size_t		d = dims->d_model;
	int			cross = dims->cross_attention != 0;

	memset(p, 0, sizeof(*p));
	MfTfPlaceAttn(pl, &p->sa, 0, d);
	if (cross)
		MfTfPlaceAttn(pl, &p->ca, 1, d);
	MfTfPlace(pl, &p->lin1_w, "linear1.weight", MfTfF2(dims), d);
	MfTfPlace(pl, &p->lin1_b, "linear1.bias", MfTfF2(dims), 0);
	MfTfPlace(pl, &p->lin2_w, "linear2.weight", d, dims->d_ff);
	MfTfPlace(pl, &p->lin2_b, "linear2.bias", d, 0);
	MfTfPlaceNorm(pl, dims, &p->norm_sa, 0);
	if (cross)
		MfTfPlaceNorm(pl, dims, &p->norm_ca, 1);
	MfTfPlaceNorm(pl, dims, &p->norm_ff, cross ? 2 : 1);
	*n_params = pl->off;
	if (dims->linear_attention)
	{
		size_t		dh = d / dims->n_heads;

		MfTfPlace(pl, &p->sa.features, "self_attn.projection_matrix", dims->nb_features, dh);
		if (cross)
			MfTfPlace(pl, &p->ca.features, "multihead_attn.projection_matrix",
					  dims->nb_features, dh);
	}
	return pl->off;
}

/* Float count of a layer (0 when dims are invalid) and of its parameters. */
size_t
mfk_tf_layer_size(const MfTfLayerDims *dims, size_t *n_params)
{
	MfTfLayer	p;
	MfTfPlacer	pl = {NULL, 0, NULL, 0};
	size_t		np = 0,
				total = 0;

	if (MfTfDimsValid(dims))
		total = MfTfLayout(dims, &pl, &p, &np);
	if (n_params != NULL)
		*n_params = np;
	return total;
}

/* Bind pointers (and the optional table); returns the tensor count. */
int
mfk_tf_layer_bind(const MfTfLayerDims *dims, float *base, MfTfLayer *p,
				  MfTfTensor *table)
{
	MfTfPlacer	pl = {base, 0, table, 0};
	size_t		np;

	if (!MfTfDimsValid(dims))
		return 0;
	MfTfLayout(dims, &pl, p, &np);
	return pl.nt;
}

/* Fill n floats uniformly in [-a, a) (PyTorch's kaiming/xavier uniform). */
void
mfk_tf_fill_uniform(MfRng *r, float *w, size_t n, double a)
{
	size_t		i;

	for (i = 0; i < n; i++)
		w[i] = (float) mfk_rng_uniform_range(r, -a, a);
}

/* MultiheadAttention's initialisation: xavier in_proj, zero biases; features. */
static void
MfTfInitAttn(const MfTfLayerDims *dims, MfTfAttnParams *a, MfRng *r)
{
	size_t		d = dims->d_model;

	if (dims->linear_attention)
		mfk_tf_favor_draw(r, a->features, dims->nb_features, d / dims->n_heads);
	mfk_tf_fill_uniform(r, a->in_w, 3 * d * d, sqrt(6.0 / (4.0 * d)));
	memset(a->in_b, 0, 3 * d * sizeof(float));
	mfk_tf_fill_uniform(r, a->out_w, d * d, 1.0 / sqrt((double) d));
	memset(a->out_b, 0, d * sizeof(float));
}

/* A norm's initialisation: LayerNorm 1/0, ScaleNorm sqrt(d), ReZero 0. */
static void
MfTfInitNorm(const MfTfLayerDims *dims, MfTfNormParams *n)
{
	size_t		i;

	if (dims->norm == MF_TF_LAYERNORM)
		for (i = 0; i < dims->d_model; i++)
		{
			n->w[i] = 1.0f;
			n->b[i] = 0.0f;
		}
	else
		n->w[0] = dims->norm == MF_TF_SCALENORM ? (float) sqrt((double) dims->d_model) : 0.0f;
}

/* PyTorch's default initialisation of the layer. */
void
mfk_tf_layer_init(const MfTfLayerDims *dims, MfTfLayer *p, MfRng *r)
{
	size_t		d = dims->d_model,
				f = dims->d_ff,
				f2 = MfTfF2(dims);

	MfTfInitAttn(dims, &p->sa, r);
	if (dims->cross_attention)
		MfTfInitAttn(dims, &p->ca, r);
	mfk_tf_fill_uniform(r, p->lin1_w, f2 * d, 1.0 / sqrt((double) d));
	mfk_tf_fill_uniform(r, p->lin1_b, f2, 1.0 / sqrt((double) d));
	mfk_tf_fill_uniform(r, p->lin2_w, d * f, 1.0 / sqrt((double) f));
	mfk_tf_fill_uniform(r, p->lin2_b, d, 1.0 / sqrt((double) f));
	MfTfInitNorm(dims, &p->norm_sa);
	if (dims->cross_attention)
		MfTfInitNorm(dims, &p->norm_ca);
	MfTfInitNorm(dims, &p->norm_ff);
}

/* ------------------------------------------------------------- layouts */

/* Carve a norm's output and statistics (nothing for ReZero). */
static void
MfTfCarveNorm(const MfTfLayerDims *dims, size_t n, MfArena *arena, float **u,
			  float **sa, float **sb)
{
	*u = *sa = *sb = NULL;
	if (dims->norm == MF_TF_REZERO)
		return;
	*u = mfk_arena_floats(arena, n * dims->d_model);
	*sa = mfk_arena_floats(arena, n);
	if (dims->norm == MF_TF_LAYERNORM)
		*sb = mfk_arena_floats(arena, n);
}

/* Carve a dropout mask when training with dropout. */
static unsigned char *
MfTfCarveMask(const MfTfLayerDims *dims, int training, size_t n,
			  MfArena *arena)
{
	if (!training || dims->dropout <= 0.0f)
		return NULL;
	return (unsigned char *) mfk_arena_alloc(arena, n);
}

/* Carve one attention block's activations: n queries, Tk keys a sequence. */
static void
MfTfCarveAttn(const MfTfLayerDims *dims, const MfTfBatch *b, size_t Tk,
			  int training, MfArena *arena, MfTfAttnActs *a)
{
	size_t		n = b->B * b->T,
				d = dims->d_model;

	MfTfCarveNorm(dims, n, arena, &a->u, &a->st_a, &a->st_b);
	a->q = mfk_arena_floats(arena, n * d);
	a->kv = mfk_arena_floats(arena, b->B * Tk * 2 * d);
	if (dims->linear_attention)
	{
		a->Qp = mfk_arena_floats(arena, b->B * dims->n_heads * b->T * dims->nb_features);
		a->Kp = mfk_arena_floats(arena, b->B * dims->n_heads * Tk * dims->nb_features);
		a->den = mfk_arena_floats(arena, b->B * dims->n_heads * b->T);
	}
	else
	{
		a->P = mfk_arena_floats(arena, b->B * dims->n_heads * b->T * Tk);
		a->pmask = MfTfCarveMask(dims, training, b->B * dims->n_heads * b->T * Tk, arena);
	}
	a->attn = mfk_arena_floats(arena, n * d);
	a->out = mfk_arena_floats(arena, n * d);
	a->mask = MfTfCarveMask(dims, training, n * d, arena);
}

/* The activation layout of one layer. */
void
mfk_tf_layer_acts_carve(const MfTfLayerDims *dims, const MfTfBatch *b,
						int training, MfArena *arena, MfTfLayerActs *acts)
{
	size_t		n = b->B * b->T,
				d = dims->d_model;

	memset(acts, 0, sizeof(*acts));
	MfTfCarveAttn(dims, b, b->T, training, arena, &acts->sa);
	acts->x1 = mfk_arena_floats(arena, n * d);
	acts->x2 = acts->x1;
	if (dims->cross_attention)
	{
		MfTfCarveAttn(dims, b, b->S, training, arena, &acts->ca);
		acts->x2 = mfk_arena_floats(arena, n * d);
	}
	MfTfCarveNorm(dims, n, arena, &acts->u_ff, &acts->st_ff_a, &acts->st_ff_b);
	acts->h1 = mfk_arena_floats(arena, n * MfTfF2(dims));
	acts->a = mfk_arena_floats(arena, n * dims->d_ff);
	acts->ff = mfk_arena_floats(arena, n * d);
	acts->y = mfk_arena_floats(arena, n * d);
	acts->m_ff = MfTfCarveMask(dims, training, n * dims->d_ff, arena);
	acts->m_out = MfTfCarveMask(dims, training, n * d, arena);
}

/*
 * Backward scratch of one layer, shared by the sublayers (they run one
 * after another): dcur (the running gradient), br (a branch's gradient),
 * u (a norm output's gradient), mid1 (da or d attn), mid2 (dh1, or dq then
 * dkv), dS (one sequence-head's scores, or linear attention's work).
 */
typedef struct MfTfScratch
{
	float	   *dcur;
	float	   *br;
	float	   *u;
	float	   *mid1;
	float	   *mid2;
	float	   *dS;
} MfTfScratch;

/* Floats of attention work space: scores, or linear attention's work. */
static size_t
MfTfAttnWork(const MfTfLayerDims *dims, const MfTfBatch *b, size_t tk)
{
	MfTfAttnShape s = {b->B, b->T, tk, dims->n_heads, dims->d_model / dims->n_heads,
	0, NULL, NULL};
	size_t		w;

	if (!dims->linear_attention)
		return b->T * tk;
	w = mfk_tf_linear_attn_work(&s, dims->nb_features);
	return w > b->T * tk ? w : b->T * tk;
}

/* Carve the backward scratch (counting arenas leave NULLs). */
static void
MfTfCarveScratch(const MfTfLayerDims *dims, const MfTfBatch *b,
				 MfArena *arena, MfTfScratch *s)
{
	size_t		n = b->B * b->T,
				d = dims->d_model,
				f = dims->d_ff,
				f2 = MfTfF2(dims),
				tk = dims->cross_attention && b->S > b->T ? b->S : b->T,
				attn2 = n * d + b->B * tk * 2 * d;

	s->dcur = mfk_arena_floats(arena, n * d);
	s->br = mfk_arena_floats(arena, n * d);
	s->u = mfk_arena_floats(arena, n * d);
	s->mid1 = mfk_arena_floats(arena, n * (f > d ? f : d));
	s->mid2 = mfk_arena_floats(arena, n * f2 > attn2 ? n * f2 : attn2);
	s->dS = mfk_arena_floats(arena, MfTfAttnWork(dims, b, tk));
}

/*
 * Bytes a layer takes above the arena's top: training, the backward
 * scratch (whose work part also holds the forward's attention work space);
 * evaluating, linear attention's forward work space.
 */
static void
MfTfCarveAbove(const MfTfLayerDims *dims, const MfTfBatch *b, int training,
			   MfArena *count)
{
	MfTfScratch s;

	if (training)
		MfTfCarveScratch(dims, b, count, &s);
	else if (dims->linear_attention)
		mfk_arena_floats(count, MfTfAttnWork(dims, b, dims->cross_attention &&
											 b->S > b->T ? b->S : b->T));
}

/* Bytes of a layer's forward/backward work above the arena's top. */
size_t
mfk_tf_layer_scratch_bytes(const MfTfLayerDims *dims, const MfTfBatch *b,
						   int training)
{
	MfArena		count;

	mfk_arena_counting(&count);
	MfTfCarveAbove(dims, b, training, &count);
	return count.failed ? SIZE_MAX : count.peak;
}

/*
 * Bytes of a training (or evaluation) step of n_layers layers: their
 * activations, then what one layer takes above them.
 */
size_t
mfk_tf_step_bytes(const MfTfLayerDims *dims, const MfTfBatch *b,
				  int n_layers, int training)
{
	MfArena		count;
	MfTfLayerActs acts;
	int			l;

	mfk_arena_counting(&count);
	for (l = 0; l < n_layers; l++)
		mfk_tf_layer_acts_carve(dims, b, training, &count, &acts);
	MfTfCarveAbove(dims, b, training, &count);
	return count.failed ? SIZE_MAX : count.peak;
}

/* ------------------------------------------------------------- forward */

/* norm(x) into u (nothing for ReZero, whose branch input is x itself). */
static const float *
MfTfNormFwd(const MfTfLayerDims *dims, const MfTfNormParams *np,
			const float *x, size_t n, float *u, float *sa, float *sb)
{
	if (dims->norm == MF_TF_LAYERNORM)
		mfk_tf_layernorm_forward(x, n, dims->d_model, np->w, np->b, dims->eps,
								 u, sa, sb);
	else if (dims->norm == MF_TF_SCALENORM)
		mfk_tf_scalenorm_forward(x, n, dims->d_model, np->w, dims->eps, u, sa);
	else
		return x;
	return u;
}

/* out = x + k * branch (k = ReZero's alpha, else 1). */
static void
MfTfResidual(const MfTfLayerDims *dims, const MfTfNormParams *np,
			 const float *x, const float *branch, float *out, size_t nd)
{
	float		k = dims->norm == MF_TF_REZERO ? np->w[0] : 1.0f;
	size_t		i;

	for (i = 0; i < nd; i++)
		out[i] = x[i] + k * branch[i];
}

/* The attention shape of a sublayer (cross: memory keys, never causal). */
static MfTfAttnShape
MfTfShape(const MfTfLayerDims *dims, const MfTfBatch *b, int cross)
{
	MfTfAttnShape s;

	s.B = b->B;
	s.Tq = b->T;
	s.Tk = cross ? b->S : b->T;
	s.H = dims->n_heads;
	s.dh = dims->d_model / dims->n_heads;
	s.causal = cross ? 0 : dims->causal;
	s.key_pad = cross ? b->mem_pad : b->key_pad;
	s.drop = NULL;
	return s;
}

/* One attention sublayer: xout = x + k * dropout(attn(norm(x), kv_src)). */
static int
MfTfAttnSubFwd(const MfEnv *env, const MfTfLayerDims *dims, const MfTfBatch *b,
			   int cross, const MfTfAttnParams *p, const MfTfNormParams *np,
			   const float *x, const float *mem, MfRng *rng, MfArena *arena,
			   MfTfAttnActs *a, float *xout)
{
	size_t		n = b->B * b->T,
				d = dims->d_model;
	MfTfAttnShape s = MfTfShape(dims, b, cross);
	const float *u = MfTfNormFwd(dims, np, x, n, a->u, a->st_a, a->st_b);
	size_t		mark = mfk_arena_mark(arena);
	MfTfAttnDrop drop = {dims->dropout, rng, a->pmask, NULL};
	float	   *work = NULL;
	int			err;

	mfk_tf_linear_forward(u, n, d, p->in_w, p->in_b, d, a->q);
	mfk_tf_linear_forward(cross ? mem : u, b->B * s.Tk, d, p->in_w + d * d,
						  p->in_b + d, 2 * d, a->kv);
	if (dims->linear_attention || (a->pmask != NULL && rng != NULL))
	{
		work = mfk_arena_floats(arena, MfTfAttnWork(dims, b, s.Tk));
		if (work == NULL)
			return MF_KERR_NOMEM;
	}
	if (dims->linear_attention)
		err = mfk_tf_linear_attn_forward(env, &s, p->features, dims->nb_features,
										 a->q, d, a->kv, 2 * d, a->kv + d, 2 * d,
										 a->Qp, a->Kp, a->den, a->attn, d, work);
	else
	{
		drop.work = work;
		s.drop = work != NULL ? &drop : NULL;
		err = mfk_tf_attn_forward(env, &s, a->q, d, a->kv, 2 * d, a->kv + d,
								  2 * d, a->P, a->attn, d);
	}
	mfk_arena_release(arena, mark);
	if (err != MF_KOK)
		return err;
	mfk_tf_linear_forward(a->attn, n, d, p->out_w, p->out_b, d, a->out);
	mfk_tf_dropout_forward(rng, dims->dropout, a->out, a->mask, n * d);
	MfTfResidual(dims, np, x, a->out, xout, n * d);
	return MF_KOK;
}

/* The FFN sublayer: y = x2 + k * dropout(linear2(dropout(act(linear1(norm(x2)))))). */
static void
MfTfFfnFwd(const MfTfLayerDims *dims, const MfTfBatch *b, const MfTfLayer *p,
		   MfRng *rng, MfTfLayerActs *acts)
{
	size_t		n = b->B * b->T,
				d = dims->d_model,
				f = dims->d_ff;
	const float *u = MfTfNormFwd(dims, &p->norm_ff, acts->x2, n, acts->u_ff,
								 acts->st_ff_a, acts->st_ff_b);

	mfk_tf_linear_forward(u, n, d, p->lin1_w, p->lin1_b, MfTfF2(dims), acts->h1);
	mfk_tf_act_forward(dims->act, acts->h1, acts->a, n, f);
	mfk_tf_dropout_forward(rng, dims->dropout, acts->a, acts->m_ff, n * f);
	mfk_tf_linear_forward(acts->a, n, f, p->lin2_w, p->lin2_b, d, acts->ff);
	mfk_tf_dropout_forward(rng, dims->dropout, acts->ff, acts->m_out, n * d);
	MfTfResidual(dims, &p->norm_ff, acts->x2, acts->ff, acts->y, n * d);
}

/* Forward of one layer. */
int
mfk_tf_layer_forward(const MfEnv *env, const MfTfLayerDims *dims,
					 const MfTfBatch *b, const MfTfLayer *p, const float *x,
					 const float *mem, MfRng *rng, MfArena *arena,
					 MfTfLayerActs *acts)
{
	int			err;

	if (!MfTfDimsValid(dims) || acts->y == NULL ||
		(dims->cross_attention && (mem == NULL || b->S == 0)))
		return MF_KERR_BADARG;
	acts->x = x;
	acts->mem = mem;
	err = MfTfAttnSubFwd(env, dims, b, 0, &p->sa, &p->norm_sa, x, NULL, rng,
						 arena, &acts->sa, acts->x1);
	if (err == MF_KOK && dims->cross_attention)
		err = MfTfAttnSubFwd(env, dims, b, 1, &p->ca, &p->norm_ca, acts->x1,
							 mem, rng, arena, &acts->ca, acts->x2);
	if (err != MF_KOK)
		return err;
	MfTfFfnFwd(dims, b, p, rng, acts);
	return mfk_tick(env, "transformer layer", 0, 0, 1.0);
}

/* ------------------------------------------------- incremental decoding */

/* Floats of mfk_tf_layer_step's work space for up to tk keys. */
size_t
mfk_tf_layer_step_floats(const MfTfLayerDims *dims, size_t tk)
{
	size_t		d = dims->d_model;

	return 8 * d + 4 + dims->n_heads * tk + MfTfF2(dims) + dims->d_ff;
}

/*
 * One attention sublayer for one query at position t: q from norm(x);
 * self-attention (mem_kv NULL) appends this position's key and value to
 * kv (rows of 2d) and attends over rows 0..t; cross-attention attends over
 * the S rows of mem_kv.  xout = x + k * out_proj(attention).
 */
static int
MfTfAttnStep(const MfEnv *env, const MfTfLayerDims *dims,
			 const MfTfAttnParams *p, const MfTfNormParams *np,
			 const float *x, size_t t, float *kv, const float *mem_kv,
			 size_t S, const unsigned char *mem_pad, float *w, float *xout)
{
	size_t		d = dims->d_model;
	float	   *u = w,
			   *q = w + d,
			   *attn = w + 2 * d,
			   *out = w + 3 * d,
			   *st = w + 4 * d,
			   *P = st + 2;
	const float *keys = mem_kv != NULL ? mem_kv : kv;
	const float *un = MfTfNormFwd(dims, np, x, 1, u, st, st + 1);
	MfTfAttnShape s = {1, 1, mem_kv != NULL ? S : t + 1, dims->n_heads,
	d / dims->n_heads, 0, mem_kv != NULL ? mem_pad : NULL, NULL};
	int			err;

	mfk_tf_linear_forward(un, 1, d, p->in_w, p->in_b, d, q);
	if (mem_kv == NULL)
		mfk_tf_linear_forward(un, 1, d, p->in_w + d * d, p->in_b + d, 2 * d, kv + t * 2 * d);
	err = mfk_tf_attn_forward(env, &s, q, d, keys, 2 * d, keys + d, 2 * d, P, attn, d);
	if (err != MF_KOK)
		return err;
	mfk_tf_linear_forward(attn, 1, d, p->out_w, p->out_b, d, out);
	MfTfResidual(dims, np, x, out, xout, d);
	return MF_KOK;
}

/* The memory's keys and values of a cross-attention layer (S rows of 2d). */
void
mfk_tf_layer_memory_kv(const MfTfLayerDims *dims, const MfTfLayer *p,
					   const float *mem, size_t S, float *mem_kv)
{
	size_t		d = dims->d_model;

	mfk_tf_linear_forward(mem, S, d, p->ca.in_w + d * d, p->ca.in_b + d, 2 * d, mem_kv);
}

/*
 * One decoding step of a softmax layer (evaluation): x (1 x d) at
 * position t, keys and values of positions 0..t-1 in kv (this one's are
 * appended); y (1 x d) gets what row t of mfk_tf_layer_forward would.
 */
int
mfk_tf_layer_step(const MfEnv *env, const MfTfLayerDims *dims,
				  const MfTfLayer *p, const float *x, size_t t, float *kv,
				  const float *mem_kv, size_t S, const unsigned char *mem_pad,
				  float *work, float *y)
{
	size_t		d = dims->d_model,
				f = dims->d_ff;
	float	   *x1 = work,
			   *x2 = work + d,
			   *h1 = work + 2 * d,
			   *a = h1 + MfTfF2(dims),
			   *u = a + f,
			   *ff = u + d,
			   *st = ff + d,
			   *w = st + 2;
	const float *un;
	int			err;

	if (!MfTfDimsValid(dims) || dims->linear_attention ||
		(dims->cross_attention && (mem_kv == NULL || S == 0)))
		return MF_KERR_BADARG;
	/* w: the attention's own part (4d + 2 + H * keys) reuses the tail */
	err = MfTfAttnStep(env, dims, &p->sa, &p->norm_sa, x, t, kv, NULL, 0, NULL, w, x1);
	if (err == MF_KOK && dims->cross_attention)
		err = MfTfAttnStep(env, dims, &p->ca, &p->norm_ca, x1, t, NULL, mem_kv, S, mem_pad, w, x2);
	else
		memcpy(x2, x1, d * sizeof(float));
	if (err != MF_KOK)
		return err;
	un = MfTfNormFwd(dims, &p->norm_ff, x2, 1, u, st, st + 1);
	mfk_tf_linear_forward(un, 1, d, p->lin1_w, p->lin1_b, MfTfF2(dims), h1);
	mfk_tf_act_forward(dims->act, h1, a, 1, f);
	mfk_tf_linear_forward(a, 1, f, p->lin2_w, p->lin2_b, d, ff);
	MfTfResidual(dims, &p->norm_ff, x2, ff, y, d);
	return MF_KOK;
}

/* ------------------------------------------------------------ backward */

/*
 * A branch's gradient from the running one: br = k * dcur; ReZero also
 * adds sum(dcur * branch) to dalpha.
 */
static void
MfTfResidualBwd(const MfTfLayerDims *dims, const MfTfNormParams *np,
				const float *branch, const float *dcur, float *br,
				MfTfNormParams *gn, size_t nd)
{
	size_t		i;
	double		s = 0.0;

	if (dims->norm != MF_TF_REZERO)
	{
		memcpy(br, dcur, nd * sizeof(float));
		return;
	}
	for (i = 0; i < nd; i++)
	{
		br[i] = dcur[i] * np->w[0];
		s += (double) dcur[i] * branch[i];
	}
	gn->w[0] += (float) s;
}

/* Backward of MfTfNormFwd: adds du's contribution to dx and the norm's weights. */
static void
MfTfNormBwd(const MfTfLayerDims *dims, const MfTfNormParams *np,
			const float *x, size_t n, const float *sa, const float *sb,
			const float *du, float *dx, MfTfNormParams *gn)
{
	size_t		i,
				nd = n * dims->d_model;

	if (dims->norm == MF_TF_LAYERNORM)
		mfk_tf_layernorm_backward(x, n, dims->d_model, np->w, sa, sb, du, dx,
								  gn->w, gn->b);
	else if (dims->norm == MF_TF_SCALENORM)
		mfk_tf_scalenorm_backward(x, n, dims->d_model, np->w, dims->eps, sa,
								  du, dx, gn->w);
	else
		for (i = 0; i < nd; i++)
			dx[i] += du[i];
}

/* Backward of the FFN sublayer: s->dcur goes from d y to d x2. */
static void
MfTfFfnBwd(const MfTfLayerDims *dims, const MfTfBatch *b, const MfTfLayer *p,
		   const MfTfLayerActs *acts, const MfTfScratch *s, MfTfLayer *g)
{
	size_t		n = b->B * b->T,
				d = dims->d_model,
				f = dims->d_ff,
				f2 = MfTfF2(dims);
	const float *u = dims->norm == MF_TF_REZERO ? acts->x2 : acts->u_ff;

	memset(s->mid1, 0, n * f * sizeof(float));
	memset(s->mid2, 0, n * f2 * sizeof(float));
	memset(s->u, 0, n * d * sizeof(float));
	MfTfResidualBwd(dims, &p->norm_ff, acts->ff, s->dcur, s->br, &g->norm_ff, n * d);
	mfk_tf_dropout_backward(dims->dropout, acts->m_out, s->br, n * d);
	mfk_tf_linear_backward(acts->a, n, f, p->lin2_w, d, s->br, g->lin2_w, g->lin2_b, s->mid1);
	mfk_tf_dropout_backward(dims->dropout, acts->m_ff, s->mid1, n * f);
	mfk_tf_act_backward(dims->act, acts->h1, s->mid1, s->mid2, n, f);
	mfk_tf_linear_backward(u, n, d, p->lin1_w, f2, s->mid2, g->lin1_w, g->lin1_b, s->u);
	MfTfNormBwd(dims, &p->norm_ff, acts->x2, n, acts->st_ff_a, acts->st_ff_b,
				s->u, s->dcur, &g->norm_ff);
}

/* Backward of an attention sublayer: s->dcur goes from d xout to d x. */
static int
MfTfAttnSubBwd(const MfEnv *env, const MfTfLayerDims *dims,
			   const MfTfBatch *b, int cross, const MfTfAttnParams *p,
			   const MfTfNormParams *np, const float *x, const float *mem,
			   const MfTfAttnActs *a, const MfTfScratch *s, MfTfAttnParams *g,
			   MfTfNormParams *gn, float *dmem)
{
	size_t		n = b->B * b->T,
				d = dims->d_model;
	MfTfAttnShape sh = MfTfShape(dims, b, cross);
	size_t		m = b->B * sh.Tk;
	const float *u = dims->norm == MF_TF_REZERO ? x : a->u;
	float	   *dq = s->mid2,
			   *dkv = s->mid2 + n * d;
	MfTfAttnDrop drop = {dims->dropout, NULL, a->pmask, NULL};
	int			err;

	memset(s->mid1, 0, n * d * sizeof(float));
	memset(s->mid2, 0, (n * d + m * 2 * d) * sizeof(float));
	memset(s->u, 0, n * d * sizeof(float));
	MfTfResidualBwd(dims, np, a->out, s->dcur, s->br, gn, n * d);
	mfk_tf_dropout_backward(dims->dropout, a->mask, s->br, n * d);
	mfk_tf_linear_backward(a->attn, n, d, p->out_w, d, s->br, g->out_w, g->out_b, s->mid1);
	if (dims->linear_attention)
		err = mfk_tf_linear_attn_backward(env, &sh, p->features, dims->nb_features,
										  a->q, d, a->kv, 2 * d, a->kv + d, 2 * d,
										  a->Qp, a->Kp, a->den, a->attn, s->mid1,
										  d, dq, dkv, dkv + d, s->dS);
	else
	{
		sh.drop = a->pmask != NULL ? &drop : NULL;
		err = mfk_tf_attn_backward(env, &sh, a->q, d, a->kv, 2 * d, a->kv + d,
								   2 * d, a->P, s->mid1, d, dq, dkv, dkv + d, s->dS);
	}
	if (err != MF_KOK)
		return err;
	mfk_tf_linear_backward(u, n, d, p->in_w, d, dq, g->in_w, g->in_b, s->u);
	mfk_tf_linear_backward(cross ? mem : u, m, d, p->in_w + d * d, 2 * d, dkv,
						   g->in_w + d * d, g->in_b + d, cross ? dmem : s->u);
	MfTfNormBwd(dims, np, x, n, a->st_a, a->st_b, s->u, s->dcur, gn);
	return MF_KOK;
}

/* Backward of one layer (scratch above the arena's top, released). */
int
mfk_tf_layer_backward(const MfEnv *env, const MfTfLayerDims *dims,
					  const MfTfBatch *b, const MfTfLayer *p,
					  const MfTfLayerActs *acts, const float *dy,
					  MfArena *arena, MfTfLayer *g, float *dx, float *dmem)
{
	size_t		nd = b->B * b->T * dims->d_model,
				mark = mfk_arena_mark(arena),
				i;
	MfTfScratch s;
	int			err = MF_KOK;

	if (!MfTfDimsValid(dims) || acts->y == NULL ||
		(dims->cross_attention && dmem == NULL))
		return MF_KERR_BADARG;
	MfTfCarveScratch(dims, b, arena, &s);
	if (s.dS == NULL)
	{
		mfk_arena_release(arena, mark);
		return MF_KERR_NOMEM;
	}
	memcpy(s.dcur, dy, nd * sizeof(float));
	MfTfFfnBwd(dims, b, p, acts, &s, g);
	if (dims->cross_attention)
		err = MfTfAttnSubBwd(env, dims, b, 1, &p->ca, &p->norm_ca, acts->x1,
							 acts->mem, &acts->ca, &s, &g->ca, &g->norm_ca, dmem);
	if (err == MF_KOK)
		err = MfTfAttnSubBwd(env, dims, b, 0, &p->sa, &p->norm_sa, acts->x,
							 NULL, &acts->sa, &s, &g->sa, &g->norm_sa, NULL);
	if (err == MF_KOK)
		for (i = 0; i < nd; i++)
			dx[i] += s.dcur[i];
	mfk_arena_release(arena, mark);
	if (err == MF_KOK)
		err = mfk_tick(env, "transformer layer backward", 0, 0, 1.0);
	return err;
}
