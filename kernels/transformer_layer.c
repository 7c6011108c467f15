/*
 * transformer_layer.c - the pre-norm (norm_first) encoder layer: parameter
 * layout and initialisation, activation layout, forward and backward.
 *
 * Design note: the layer is composed from the blocks of
 * transformer_blocks.c and transformer_attention.c; this file owns three
 * things only.  (1) The parameter layout: mfk_tf_encoder_layer_bind is the
 * one place that knows tensor names, shapes and order (PyTorch's state_dict
 * order); the size, the pointers and the exported table all come from it.
 * (2) The activation layout: mfk_tf_encoder_acts_carve, run on a counting
 * arena for the size and on the real one for the pointers.  (3) The order
 * of operations, forward and reversed.  The norm choice is a small switch
 * (MfTfNormFwd / MfTfNormBwd); ReZero has no norm, its branch scale alpha
 * is stored where the norm weight would be.
 */
#include "transformer.h"

#include <math.h>
#include <string.h>

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

/* Append one tensor to the layout: pointer, table row, running offset. */
static void
MfTfPlace(float *base, size_t *off, float **ptr, MfTfTensor *table, int *nt,
		  const char *name, size_t rows, size_t cols)
{
	*ptr = base != NULL ? base + *off : NULL;
	if (table != NULL)
	{
		table[*nt].name = name;
		table[*nt].rows = rows;
		table[*nt].cols = cols;
		table[*nt].offset = *off;
	}
	(*nt)++;
	*off += rows * (cols == 0 ? 1 : cols);
}

/* Lay out a layer's tensors in state_dict order; returns the float count. */
static size_t
MfTfLayout(const MfTfLayerDims *dims, float *base, MfTfEncoderLayer *p,
		   MfTfTensor *table, int *ntensors)
{
	size_t		d = dims->d_model,
				f = dims->d_ff,
				f2 = MfTfF2(dims),
				off = 0;
	int			nt = 0;

	memset(p, 0, sizeof(*p));
	MfTfPlace(base, &off, &p->in_proj_w, table, &nt, "self_attn.in_proj_weight", 3 * d, d);
	MfTfPlace(base, &off, &p->in_proj_b, table, &nt, "self_attn.in_proj_bias", 3 * d, 0);
	MfTfPlace(base, &off, &p->out_proj_w, table, &nt, "self_attn.out_proj.weight", d, d);
	MfTfPlace(base, &off, &p->out_proj_b, table, &nt, "self_attn.out_proj.bias", d, 0);
	MfTfPlace(base, &off, &p->lin1_w, table, &nt, "linear1.weight", f2, d);
	MfTfPlace(base, &off, &p->lin1_b, table, &nt, "linear1.bias", f2, 0);
	MfTfPlace(base, &off, &p->lin2_w, table, &nt, "linear2.weight", d, f);
	MfTfPlace(base, &off, &p->lin2_b, table, &nt, "linear2.bias", d, 0);
	if (dims->norm == MF_TF_LAYERNORM)
	{
		MfTfPlace(base, &off, &p->norm1_w, table, &nt, "norm1.weight", d, 0);
		MfTfPlace(base, &off, &p->norm1_b, table, &nt, "norm1.bias", d, 0);
		MfTfPlace(base, &off, &p->norm2_w, table, &nt, "norm2.weight", d, 0);
		MfTfPlace(base, &off, &p->norm2_b, table, &nt, "norm2.bias", d, 0);
	}
	else if (dims->norm == MF_TF_SCALENORM)
	{
		MfTfPlace(base, &off, &p->norm1_w, table, &nt, "norm1.g", 1, 0);
		MfTfPlace(base, &off, &p->norm2_w, table, &nt, "norm2.g", 1, 0);
	}
	else
	{
		MfTfPlace(base, &off, &p->norm1_w, table, &nt, "rezero1.alpha", 1, 0);
		MfTfPlace(base, &off, &p->norm2_w, table, &nt, "rezero2.alpha", 1, 0);
	}
	*ntensors = nt;
	return off;
}

/* Float count of a layer's parameters (0 when dims are invalid). */
size_t
mfk_tf_encoder_layer_size(const MfTfLayerDims *dims)
{
	MfTfEncoderLayer p;
	int			nt;

	if (!MfTfDimsValid(dims))
		return 0;
	return MfTfLayout(dims, NULL, &p, NULL, &nt);
}

/* Bind pointers (and the optional table); returns the tensor count. */
int
mfk_tf_encoder_layer_bind(const MfTfLayerDims *dims, float *base,
						  MfTfEncoderLayer *p, MfTfTensor *table)
{
	int			nt = 0;

	if (!MfTfDimsValid(dims))
		return 0;
	MfTfLayout(dims, base, p, table, &nt);
	return nt;
}

/* Fill n floats uniformly in [-a, a). */
static void
MfTfUniform(MfRng *r, float *w, size_t n, double a)
{
	size_t		i;

	for (i = 0; i < n; i++)
		w[i] = (float) mfk_rng_uniform_range(r, -a, a);
}

/* PyTorch's default initialisation of the layer. */
void
mfk_tf_encoder_layer_init(const MfTfLayerDims *dims, MfTfEncoderLayer *p,
						  MfRng *r)
{
	size_t		d = dims->d_model,
				f = dims->d_ff,
				f2 = MfTfF2(dims),
				i;

	MfTfUniform(r, p->in_proj_w, 3 * d * d, sqrt(6.0 / (4.0 * d)));
	memset(p->in_proj_b, 0, 3 * d * sizeof(float));
	MfTfUniform(r, p->out_proj_w, d * d, 1.0 / sqrt((double) d));
	memset(p->out_proj_b, 0, d * sizeof(float));
	MfTfUniform(r, p->lin1_w, f2 * d, 1.0 / sqrt((double) d));
	MfTfUniform(r, p->lin1_b, f2, 1.0 / sqrt((double) d));
	MfTfUniform(r, p->lin2_w, d * f, 1.0 / sqrt((double) f));
	MfTfUniform(r, p->lin2_b, d, 1.0 / sqrt((double) f));
	if (dims->norm == MF_TF_LAYERNORM)
		for (i = 0; i < d; i++)
		{
			p->norm1_w[i] = p->norm2_w[i] = 1.0f;
			p->norm1_b[i] = p->norm2_b[i] = 0.0f;
		}
	else if (dims->norm == MF_TF_SCALENORM)
		p->norm1_w[0] = p->norm2_w[0] = (float) sqrt((double) d);
	else
		p->norm1_w[0] = p->norm2_w[0] = 0.0f;
}

/* Carve the norm output and statistics of one sublayer. */
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

/* The activation layout of one layer. */
void
mfk_tf_encoder_acts_carve(const MfTfLayerDims *dims, const MfTfBatch *b,
						  int training, MfArena *arena, MfTfEncoderActs *acts)
{
	size_t		n = b->B * b->T,
				d = dims->d_model;

	memset(acts, 0, sizeof(*acts));
	MfTfCarveNorm(dims, n, arena, &acts->u1, &acts->s1a, &acts->s1b);
	acts->qkv = mfk_arena_floats(arena, n * 3 * d);
	acts->P = mfk_arena_floats(arena, b->B * dims->n_heads * b->T * b->T);
	acts->attn = mfk_arena_floats(arena, n * d);
	acts->sa = mfk_arena_floats(arena, n * d);
	acts->x1 = mfk_arena_floats(arena, n * d);
	MfTfCarveNorm(dims, n, arena, &acts->u2, &acts->s2a, &acts->s2b);
	acts->h1 = mfk_arena_floats(arena, n * MfTfF2(dims));
	acts->a = mfk_arena_floats(arena, n * dims->d_ff);
	acts->ff = mfk_arena_floats(arena, n * d);
	acts->y = mfk_arena_floats(arena, n * d);
	acts->m1 = MfTfCarveMask(dims, training, n * d, arena);
	acts->m_ff = MfTfCarveMask(dims, training, n * dims->d_ff, arena);
	acts->m2 = MfTfCarveMask(dims, training, n * d, arena);
}

/* norm(x) into u (nothing for ReZero, whose branch input is x itself). */
static void
MfTfNormFwd(const MfTfLayerDims *dims, const float *x, size_t n,
			const float *w, const float *bias, float *u, float *sa, float *sb)
{
	if (dims->norm == MF_TF_LAYERNORM)
		mfk_tf_layernorm_forward(x, n, dims->d_model, w, bias, dims->eps, u,
								 sa, sb);
	else if (dims->norm == MF_TF_SCALENORM)
		mfk_tf_scalenorm_forward(x, n, dims->d_model, w, dims->eps, u, sa);
}

/* Backward of MfTfNormFwd: adds du's contribution to dx and the weights. */
static void
MfTfNormBwd(const MfTfLayerDims *dims, const float *x, size_t n,
			const float *w, const float *sa, const float *sb, const float *du,
			float *dx, float *dw, float *dbias)
{
	size_t		i,
				nd = n * dims->d_model;

	if (dims->norm == MF_TF_LAYERNORM)
		mfk_tf_layernorm_backward(x, n, dims->d_model, w, sa, sb, du, dx, dw,
								  dbias);
	else if (dims->norm == MF_TF_SCALENORM)
		mfk_tf_scalenorm_backward(x, n, dims->d_model, w, dims->eps, sa, du,
								  dx, dw);
	else
		for (i = 0; i < nd; i++)
			dx[i] += du[i];
}

/* out = x + scale * branch (scale = ReZero's alpha, else 1). */
static void
MfTfResidual(const MfTfLayerDims *dims, const float *alpha, const float *x,
			 const float *branch, float *out, size_t nd)
{
	float		k = dims->norm == MF_TF_REZERO ? alpha[0] : 1.0f;
	size_t		i;

	for (i = 0; i < nd; i++)
		out[i] = x[i] + k * branch[i];
}

/* Forward of one layer. */
int
mfk_tf_encoder_layer_forward(const MfEnv *env, const MfTfLayerDims *dims,
							 const MfTfBatch *b, const MfTfEncoderLayer *p,
							 const float *x, MfRng *rng, MfTfEncoderActs *acts)
{
	size_t		n = b->B * b->T,
				d = dims->d_model,
				f = dims->d_ff;
	const float *u1,
			   *u2;
	MfTfAttnShape s = {b->B, b->T, b->T, dims->n_heads,
	d / (dims->n_heads ? dims->n_heads : 1), dims->causal, b->key_pad};
	int			err;

	if (!MfTfDimsValid(dims) || acts->y == NULL)
		return MF_KERR_BADARG;
	acts->x = x;
	MfTfNormFwd(dims, x, n, p->norm1_w, p->norm1_b, acts->u1, acts->s1a, acts->s1b);
	u1 = dims->norm == MF_TF_REZERO ? x : acts->u1;
	mfk_tf_linear_forward(u1, n, d, p->in_proj_w, p->in_proj_b, 3 * d, acts->qkv);
	err = mfk_tf_attn_forward(env, &s, acts->qkv, 3 * d, acts->qkv + d, 3 * d,
							  acts->qkv + 2 * d, 3 * d, acts->P, acts->attn, d);
	if (err != MF_KOK)
		return err;
	mfk_tf_linear_forward(acts->attn, n, d, p->out_proj_w, p->out_proj_b, d, acts->sa);
	mfk_tf_dropout_forward(rng, dims->dropout, acts->sa, acts->m1, n * d);
	MfTfResidual(dims, p->norm1_w, x, acts->sa, acts->x1, n * d);

	MfTfNormFwd(dims, acts->x1, n, p->norm2_w, p->norm2_b, acts->u2, acts->s2a, acts->s2b);
	u2 = dims->norm == MF_TF_REZERO ? acts->x1 : acts->u2;
	mfk_tf_linear_forward(u2, n, d, p->lin1_w, p->lin1_b, MfTfF2(dims), acts->h1);
	mfk_tf_act_forward(dims->act, acts->h1, acts->a, n, f);
	mfk_tf_dropout_forward(rng, dims->dropout, acts->a, acts->m_ff, n * f);
	mfk_tf_linear_forward(acts->a, n, f, p->lin2_w, p->lin2_b, d, acts->ff);
	mfk_tf_dropout_forward(rng, dims->dropout, acts->ff, acts->m2, n * d);
	MfTfResidual(dims, p->norm2_w, acts->x1, acts->ff, acts->y, n * d);
	return mfk_tick(env, "encoder layer", 0, 0, 1.0);
}

/*
 * Gradient of a residual branch's output from the gradient of the sum:
 * db = dy * alpha (ReZero, where dalpha += sum(dy * branch)) or dy.
 */
static void
MfTfResidualBwd(const MfTfLayerDims *dims, const float *alpha,
				const float *branch, const float *dy, float *dbranch,
				float *dalpha, size_t nd)
{
	size_t		i;
	double		s = 0.0;

	if (dims->norm != MF_TF_REZERO)
	{
		memcpy(dbranch, dy, nd * sizeof(float));
		return;
	}
	for (i = 0; i < nd; i++)
	{
		dbranch[i] = dy[i] * alpha[0];
		s += (double) dy[i] * branch[i];
	}
	dalpha[0] += (float) s;
}

/*
 * Backward scratch of one layer.  The FFN phase and the attention phase
 * run one after the other, so they share buffers: br (d branch), u (d norm
 * output), mid1 (da, then d attn) and mid2 (dh1, then d qkv).
 */
typedef struct MfTfScratch
{
	float	   *dx1;			/* n x d: gradient at x1 */
	float	   *br;				/* n x d */
	float	   *u;				/* n x d */
	float	   *mid1;			/* n x max(f, d) */
	float	   *mid2;			/* n x max(f2, 3d) */
	float	   *dS;				/* T x T */
} MfTfScratch;

/* Carve the backward scratch (counting arenas leave NULLs). */
static void
MfTfCarveScratch(const MfTfLayerDims *dims, const MfTfBatch *b,
				 MfArena *arena, MfTfScratch *s)
{
	size_t		n = b->B * b->T,
				d = dims->d_model,
				f = dims->d_ff,
				f2 = MfTfF2(dims);

	s->dx1 = mfk_arena_floats(arena, n * d);
	s->br = mfk_arena_floats(arena, n * d);
	s->u = mfk_arena_floats(arena, n * d);
	s->mid1 = mfk_arena_floats(arena, n * (f > d ? f : d));
	s->mid2 = mfk_arena_floats(arena, n * (f2 > 3 * d ? f2 : 3 * d));
	s->dS = mfk_arena_floats(arena, b->T * b->T);
}

/* Bytes of a training (or evaluation) step of n_layers layers. */
size_t
mfk_tf_encoder_step_bytes(const MfTfLayerDims *dims, const MfTfBatch *b,
						  int n_layers, int training)
{
	MfArena		count;
	MfTfEncoderActs acts;
	MfTfScratch s;
	int			l;

	mfk_arena_counting(&count);
	for (l = 0; l < n_layers; l++)
		mfk_tf_encoder_acts_carve(dims, b, training, &count, &acts);
	if (training)
		MfTfCarveScratch(dims, b, &count, &s);
	return count.failed ? SIZE_MAX : count.peak;
}

/* Backward of the FFN sublayer: s->dx1 += d(x1) through norm2 and the FFN. */
static void
MfTfFfnBackward(const MfTfLayerDims *dims, const MfTfBatch *b,
				const MfTfEncoderLayer *p, const MfTfEncoderActs *acts,
				const float *dy, const MfTfScratch *s, MfTfEncoderLayer *g)
{
	size_t		n = b->B * b->T,
				d = dims->d_model,
				f = dims->d_ff,
				f2 = MfTfF2(dims);
	float	   *dff = s->br,
			   *da = s->mid1,
			   *dh1 = s->mid2,
			   *du2 = s->u;
	const float *u2 = dims->norm == MF_TF_REZERO ? acts->x1 : acts->u2;

	memset(da, 0, n * f * sizeof(float));
	memset(dh1, 0, n * f2 * sizeof(float));
	memset(du2, 0, n * d * sizeof(float));
	MfTfResidualBwd(dims, p->norm2_w, acts->ff, dy, dff, g->norm2_w, n * d);
	mfk_tf_dropout_backward(dims->dropout, acts->m2, dff, n * d);
	mfk_tf_linear_backward(acts->a, n, f, p->lin2_w, d, dff, g->lin2_w, g->lin2_b, da);
	mfk_tf_dropout_backward(dims->dropout, acts->m_ff, da, n * f);
	mfk_tf_act_backward(dims->act, acts->h1, da, dh1, n, f);
	mfk_tf_linear_backward(u2, n, d, p->lin1_w, f2, dh1, g->lin1_w, g->lin1_b, du2);
	MfTfNormBwd(dims, acts->x1, n, p->norm2_w, acts->s2a, acts->s2b, du2, s->dx1,
				g->norm2_w, g->norm2_b);
}

/* Backward of the attention sublayer: dx += d(x) through norm1 and attention. */
static int
MfTfAttnSublayerBackward(const MfEnv *env, const MfTfLayerDims *dims,
						 const MfTfBatch *b, const MfTfEncoderLayer *p,
						 const MfTfEncoderActs *acts, const MfTfScratch *s,
						 MfTfEncoderLayer *g, float *dx)
{
	size_t		n = b->B * b->T,
				d = dims->d_model;
	float	   *dsa = s->br,
			   *dattn = s->mid1,
			   *dqkv = s->mid2,
			   *du1 = s->u;
	const float *u1 = dims->norm == MF_TF_REZERO ? acts->x : acts->u1;
	MfTfAttnShape sh = {b->B, b->T, b->T, dims->n_heads, d / dims->n_heads,
	dims->causal, b->key_pad};
	int			err;

	memset(dattn, 0, n * d * sizeof(float));
	memset(dqkv, 0, n * 3 * d * sizeof(float));
	memset(du1, 0, n * d * sizeof(float));
	MfTfResidualBwd(dims, p->norm1_w, acts->sa, s->dx1, dsa, g->norm1_w, n * d);
	mfk_tf_dropout_backward(dims->dropout, acts->m1, dsa, n * d);
	mfk_tf_linear_backward(acts->attn, n, d, p->out_proj_w, d, dsa,
						   g->out_proj_w, g->out_proj_b, dattn);
	err = mfk_tf_attn_backward(env, &sh, acts->qkv, 3 * d, acts->qkv + d, 3 * d,
							   acts->qkv + 2 * d, 3 * d, acts->P, dattn, d,
							   dqkv, dqkv + d, dqkv + 2 * d, s->dS);
	if (err != MF_KOK)
		return err;
	mfk_tf_linear_backward(u1, n, d, p->in_proj_w, 3 * d, dqkv, g->in_proj_w,
						   g->in_proj_b, du1);
	MfTfNormBwd(dims, acts->x, n, p->norm1_w, acts->s1a, acts->s1b, du1, dx,
				g->norm1_w, g->norm1_b);
	return MF_KOK;
}

/* Backward of one layer (scratch above the arena's top, released). */
int
mfk_tf_encoder_layer_backward(const MfEnv *env, const MfTfLayerDims *dims,
							  const MfTfBatch *b, const MfTfEncoderLayer *p,
							  const MfTfEncoderActs *acts, const float *dy,
							  MfArena *arena, MfTfEncoderLayer *g, float *dx)
{
	size_t		nd = b->B * b->T * dims->d_model,
				mark = mfk_arena_mark(arena),
				i;
	MfTfScratch s;
	int			err;

	if (!MfTfDimsValid(dims) || acts->y == NULL)
		return MF_KERR_BADARG;
	MfTfCarveScratch(dims, b, arena, &s);
	if (s.dS == NULL)
	{
		mfk_arena_release(arena, mark);
		return MF_KERR_NOMEM;
	}
	memcpy(s.dx1, dy, nd * sizeof(float));
	MfTfFfnBackward(dims, b, p, acts, dy, &s, g);
	err = MfTfAttnSublayerBackward(env, dims, b, p, acts, &s, g, dx);
	if (err == MF_KOK)
		for (i = 0; i < nd; i++)
			dx[i] += s.dx1[i];
	mfk_arena_release(arena, mark);
	if (err == MF_KOK)
		err = mfk_tick(env, "encoder layer backward", 0, 0, 1.0);
	return err;
}
