/*
 * transformer.h - float32 kernels of transformer training (pure C11 + CBLAS).
 *
 * Design note
 * -----------
 * Scope.  The blocks of encoder and decoder stacks, forward and backward:
 * token embeddings with learned positions, LayerNorm / ScaleNorm / ReZero,
 * the feed-forward network (GELU, RELU, SILU and the gated GEGLU, REGLU,
 * SWIGLU), multi-head softmax attention with padding and causal masks,
 * inverted dropout, one pre-norm layer kernel composed from them (encoder
 * layer, or decoder layer with causal self-attention and, with
 * use_cross_attention, cross-attention over the encoder's memory), and a
 * classifier head (mean or first-token pooling, softmax cross-entropy).
 * Like mf_kernels.h these know nothing of PostgreSQL.
 *
 * Semantics.  A softmax layer with the layer-norm option computes exactly
 * PyTorch's nn.TransformerEncoderLayer / nn.TransformerDecoderLayer
 * (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
 * batch_first=True, norm_first=True):
 *     x = x + dropout1(self_attn(norm1(x), key_padding_mask, causal mask))
 *     x = x + dropout2(multihead_attn(norm2(x), memory,       (decoder with
 *                      memory_key_padding_mask))               cross-attention)
 *     x = x + dropout3(linear2(dropout(act(linear1(normF(x))))))
 * where normF is norm2 of an encoder layer and norm3 of a decoder layer
 * (PyTorch calls the last dropout dropout2 in the encoder, dropout3 in the
 * decoder).  A decoder layer without cross-attention (decoder-only, GPT
 * style) is the encoder layer with causal = 1.  Differences, all
 * documented choices:
 *   - attention-probability dropout (MultiheadAttention's own dropout) is
 *     applied to softmax attention as PyTorch does (same rate as the other
 *     dropouts, as nn.TransformerEncoderLayer passes it); linear attention
 *     has no probability matrix to drop (performer-pytorch applies none
 *     either), so there only the residual-branch and FFN dropouts act;
 *   - a query row whose keys are all masked gets zero attention output
 *     (PyTorch returns NaN there);
 *   - ScaleNorm replaces norm(x) by g * x / max(||x||_2, eps) (one scalar g,
 *     initialised to sqrt(d)); ReZero drops the norm and scales each
 *     branch: x = x + alpha * branch(x) (alpha initialised to 0);
 *   - the gated activations double linear1's outputs (value half first,
 *     gate half second, as `v, g = h.chunk(2, -1); v * act(g)`).
 *
 * Layout.  Everything is row-major and batch-first: a batch of B sequences
 * of length T and width d is one (B*T) x d matrix, row b*T + t; the memory
 * of cross-attention is (B*S) x d.  Linear weights are stored as PyTorch
 * stores them, out x in (y = x W' + b, one sgemm NoTrans/Trans), so a
 * state_dict tensor copies one-to-one (same shape, same row-major bytes
 * as tensor.contiguous().numpy() in float32).  Masks: key_pad[b*T + t] != 0
 * marks a padding token (PyTorch key_padding_mask True); causal masks hide
 * key j from query i when j > i (PyTorch's
 * generate_square_subsequent_mask).
 *
 * Stored tensors of a layer, in state_dict order (mfk_tf_layer_bind is the
 * one owner of this list; d = d_model, f = d_ff = dim_feedforward, f2 = 2f
 * for gated activations, f otherwise):
 *     self_attn.in_proj_weight        [3d, d]   rows: W_q, W_k, W_v
 *     self_attn.in_proj_bias          [3d]
 *     self_attn.out_proj.weight       [d, d]
 *     self_attn.out_proj.bias         [d]
 *   decoder layer with cross-attention only:
 *     multihead_attn.in_proj_weight   [3d, d]   W_q acts on x, W_k, W_v on memory
 *     multihead_attn.in_proj_bias     [3d]
 *     multihead_attn.out_proj.weight  [d, d]
 *     multihead_attn.out_proj.bias    [d]
 *   all:
 *     linear1.weight                  [f2, d]
 *     linear1.bias                    [f2]
 *     linear2.weight                  [d, f]
 *     linear2.bias                    [d]
 *   layer_norm (norm3 only with cross-attention):
 *     norm1.weight [d], norm1.bias [d], norm2.weight [d], norm2.bias [d],
 *     norm3.weight [d], norm3.bias [d]
 *   scalenorm (no PyTorch counterpart; performer-pytorch's name):
 *     norm1.g [1], norm2.g [1] (, norm3.g [1])
 *   rezero (no PyTorch counterpart):
 *     rezero1.alpha [1], rezero2.alpha [1] (, rezero3.alpha [1])
 *   linear attention, buffers after all parameters (not trained; redrawn
 *   by the caller; performer-pytorch's buffer name):
 *     self_attn.projection_matrix [m, dh] (, multihead_attn.projection_matrix)
 * A stack prefixes them with "layers.<i>." (nn.TransformerEncoder's names);
 * its final norm is "norm.weight", "norm.bias".  Embedding and heads (names
 * of the model, not of a PyTorch layer): token_emb.weight [vocab, d],
 * pos_emb.weight [max_length, d], classifier.weight [C, d],
 * classifier.bias [C].  Head h of attention uses columns h*dh .. (h+1)*dh - 1
 * (dh = d/H) of q, k, v and of the concatenated output, as PyTorch's
 * MultiheadAttention.
 *
 * Gradients.  Every backward function ADDS to the gradients it produces
 * (parameters and inputs alike); the caller zeroes them once per step.  So
 * residual branches, tied weights and several micro-batches need no extra
 * buffers.  Parameters and their gradients share one layout (bind the
 * gradient buffer with the same function).
 *
 * Memory.  A step's activations come from one MfArena: the layout of a
 * layer's activations is carved by one function (mfk_tf_layer_acts_carve),
 * first on a counting arena to learn the size, then on a real one allocated
 * once per step (or once per run and reset every step).  Backward scratch is
 * taken above a mark and released after each layer.  The arena records its
 * peak, the number to report as peak memory per step.
 *
 * Cancellation.  Layer and attention functions take the MfEnv of
 * mf_kernels.h and call its progress callback between sequences of the
 * batch (MF_KERR_CANCELLED stops them); they allocate nothing except from
 * the arena, so a longjmp out of the callback is safe.
 */
#ifndef MF_TRANSFORMER_H
#define MF_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "mf_kernels.h"
#include "transformer_spec.h"

/* ----------------------------------------------------------------- arena */

#define MF_ARENA_ALIGN 64

/*
 * A bump allocator.  With base == NULL it only counts (every allocation
 * returns NULL), which is how a step's size is learned.
 */
typedef struct MfArena
{
	char	   *base;
	size_t		cap;
	size_t		used;
	size_t		peak;			/* highest `used` since init */
	int			failed;			/* a real allocation did not fit */
} MfArena;

/* A counting arena (no memory). */
extern void mfk_arena_counting(MfArena *a);
/* A real arena of cap bytes from alloc; MF_KERR_NOMEM on failure. */
extern int	mfk_arena_init(MfArena *a, const MfAllocator *alloc, size_t cap);
/* Give the arena's memory back. */
extern void mfk_arena_free(MfArena *a, const MfAllocator *alloc);
/* bytes (aligned to MF_ARENA_ALIGN); NULL when counting or out of room. */
extern void *mfk_arena_alloc(MfArena *a, size_t bytes);
/* n floats (overflow-checked). */
extern float *mfk_arena_floats(MfArena *a, size_t n);
/* n floats set to zero. */
extern float *mfk_arena_zeros(MfArena *a, size_t n);
/* The current top, to release to later. */
extern size_t mfk_arena_mark(const MfArena *a);
/* Drop everything allocated since mark. */
extern void mfk_arena_release(MfArena *a, size_t mark);

/* ------------------------------------------------------------ dimensions */

/* MfTfNorm, MfTfPool: transformer_spec.h */

/* What a layer is. */
typedef struct MfTfLayerDims
{
	size_t		d_model;
	size_t		n_heads;		/* divides d_model */
	size_t		d_ff;			/* hidden width (PyTorch dim_feedforward) */
	MfAct		act;			/* GELU RELU SILU GEGLU REGLU SWIGLU */
	MfTfNorm	norm;
	float		eps;			/* LayerNorm/ScaleNorm eps (1e-5) */
	float		dropout;		/* dropout1, dropout, dropout2 rate */
	int			causal;			/* causal self-attention */
	int			cross_attention;	/* decoder layer with cross-attention */
	int			linear_attention;	/* FAVOR+ instead of softmax (causal:
									 * prefix sums) */
	size_t		nb_features;	/* random features of linear attention */
} MfTfLayerDims;

/* What a batch is. */
typedef struct MfTfBatch
{
	size_t		B;				/* sequences */
	size_t		T;				/* tokens per sequence (padded) */
	const unsigned char *key_pad;	/* B*T, non-zero = padding; may be NULL */
	size_t		S;				/* memory tokens per sequence (cross-attention) */
	const unsigned char *mem_pad;	/* B*S, padding of the memory; may be NULL */
} MfTfBatch;

/* One stored tensor: name, shape (cols 0 = a vector) and float offset. */
typedef struct MfTfTensor
{
	const char *name;
	size_t		rows;
	size_t		cols;
	size_t		offset;
} MfTfTensor;

#define MF_TF_LAYER_TENSORS 20	/* 18 parameters + 2 feature buffers */

/* --------------------------------------------------------------- blocks */

/* Y (n x out) = X (n x in) W' + b, W out x in (PyTorch layout); b may be NULL. */
extern void mfk_tf_linear_forward(const float *X, size_t n, size_t in,
								  const float *W, const float *b, size_t out,
								  float *Y);
/* dW += dY' X, db += colsum(dY), dX += dY W (each may be NULL). */
extern void mfk_tf_linear_backward(const float *X, size_t n, size_t in,
								   const float *W, size_t out, const float *dY,
								   float *dW, float *db, float *dX);

/* Y[i] = tok[ids[i]] + pos[i % T] for n = B*T rows; ids must be < vocab. */
extern void mfk_tf_embed_forward(const int32_t *ids, size_t B, size_t T,
								 size_t d, const float *tok, const float *pos,
								 float *Y);
/* dtok[ids[i]] += dY[i], dpos[i % T] += dY[i] (either may be NULL). */
extern void mfk_tf_embed_backward(const int32_t *ids, size_t B, size_t T,
								  size_t d, const float *dY, float *dtok,
								  float *dpos);

/* LayerNorm of n rows: Y = (X - mean) * rstd * w + b; saves mean, rstd. */
extern void mfk_tf_layernorm_forward(const float *X, size_t n, size_t d,
									 const float *w, const float *b, float eps,
									 float *Y, float *mean, float *rstd);
/* LayerNorm backward (adds to dX, dw, db). */
extern void mfk_tf_layernorm_backward(const float *X, size_t n, size_t d,
									  const float *w, const float *mean,
									  const float *rstd, const float *dY,
									  float *dX, float *dw, float *db);
/* ScaleNorm: Y = g X / max(||X_row||, eps); saves the clamped norms. */
extern void mfk_tf_scalenorm_forward(const float *X, size_t n, size_t d,
									 const float *g, float eps, float *Y,
									 float *norm);
/* ScaleNorm backward (adds to dX, dg). */
extern void mfk_tf_scalenorm_backward(const float *X, size_t n, size_t d,
									  const float *g, float eps,
									  const float *norm, const float *dY,
									  float *dX, float *dg);

/* Activation of n rows of the FFN: h is n x (gated ? 2f : f), a is n x f. */
extern void mfk_tf_act_forward(MfAct act, const float *h, float *a, size_t n,
							   size_t f);
/* dh += da * act'(h) (gated: both halves). */
extern void mfk_tf_act_backward(MfAct act, const float *h, const float *da,
								float *dh, size_t n, size_t f);

/* Inverted dropout in place, mask[i] = kept (mask NULL: nothing). */
extern void mfk_tf_dropout_forward(MfRng *rng, float p, float *x,
								   unsigned char *mask, size_t n);
/* dy *= mask / (1 - p) in place (mask NULL: nothing). */
extern void mfk_tf_dropout_backward(float p, const unsigned char *mask,
									float *dy, size_t n);

/* ------------------------------------------------------------- attention */

/*
 * Dropout of attention probabilities (MultiheadAttention's own dropout, in
 * training): O = dropout(P) V with P kept undropped for backward.  mask
 * (B*H*Tq*Tk keep flags) is drawn by forward from rng and replayed by
 * backward; work holds Tq*Tk floats (forward only).
 */
typedef struct MfTfAttnDrop
{
	float		p;
	MfRng	   *rng;
	unsigned char *mask;
	float	   *work;
} MfTfAttnDrop;

/* Shape of one attention call: B sequences, Tq queries, Tk keys, H heads. */
typedef struct MfTfAttnShape
{
	size_t		B,
				Tq,
				Tk,
				H,
				dh;
	int			causal;			/* key j hidden from query i when j > i + Tk - Tq */
	const unsigned char *key_pad;	/* B*Tk or NULL */
	const MfTfAttnDrop *drop;	/* softmax only; NULL or p 0: no dropout */
} MfTfAttnShape;

/*
 * O = softmax(Q K' / sqrt(dh) + mask) V per sequence and head (V times the
 * dropped probabilities when s->drop is set).  Q, K, V, O are row-major
 * with leading dimensions ldq, ldk, ldv, ldo (so q, k, v can live in one
 * [n, 3d] buffer).  P (B*H*Tq*Tk) keeps the (undropped) probabilities for
 * backward; masked entries are exactly 0.
 */
extern int	mfk_tf_attn_forward(const MfEnv *env, const MfTfAttnShape *s,
								const float *Q, size_t ldq, const float *K,
								size_t ldk, const float *V, size_t ldv,
								float *P, float *O, size_t ldo);
/*
 * Backward: adds to dQ, dK, dV (leading dimensions ldq, ldk, ldv as the
 * inputs); dS is scratch of Tq*Tk floats.
 */
extern int	mfk_tf_attn_backward(const MfEnv *env, const MfTfAttnShape *s,
								 const float *Q, size_t ldq, const float *K,
								 size_t ldk, const float *V, size_t ldv,
								 const float *P, const float *dO, size_t ldo,
								 float *dQ, float *dK, float *dV, float *dS);

/* ------------------------------------------------------ linear attention */

/* Floats of work space one linear-attention call needs (m features). */
extern size_t mfk_tf_linear_attn_work(const MfTfAttnShape *s, size_t m);
/* Draw FAVOR+ features W (m x dh): orthogonal Gaussian blocks. */
extern void mfk_tf_favor_draw(MfRng *r, float *W, size_t m, size_t dh);
/* 1 when a redraw is due before step (every interval steps, if auto_redraw). */
extern int	mfk_tf_favor_redraw_due(int64_t step, int64_t interval,
									int auto_redraw);
/*
 * Linear attention with positive random features (causal: prefix sums;
 * needs Tq == Tk).  Qp (B*H*Tq*m), Kp (B*H*Tk*m) and den (B*H*Tq) are kept
 * for backward; work holds mfk_tf_linear_attn_work floats.
 */
extern int	mfk_tf_linear_attn_forward(const MfEnv *env,
									   const MfTfAttnShape *s, const float *W,
									   size_t m, const float *Q, size_t ldq,
									   const float *K, size_t ldk,
									   const float *V, size_t ldv, float *Qp,
									   float *Kp, float *den, float *O,
									   size_t ldo, float *work);
/* Backward: adds to dQ, dK, dV (O is the forward output). */
extern int	mfk_tf_linear_attn_backward(const MfEnv *env,
										const MfTfAttnShape *s,
										const float *W, size_t m,
										const float *Q, size_t ldq,
										const float *K, size_t ldk,
										const float *V, size_t ldv,
										const float *Qp, const float *Kp,
										const float *den, const float *O,
										const float *dO, size_t ldo,
										float *dQ, float *dK, float *dV,
										float *work);

/* ------------------------------------------------ encoder / decoder layer */

/* The parameters of one attention block (pointers into a flat buffer). */
typedef struct MfTfAttnParams
{
	float	   *in_w;			/* [3d, d]: rows W_q, W_k, W_v */
	float	   *in_b;			/* [3d] */
	float	   *out_w;			/* [d, d] */
	float	   *out_b;			/* [d] */
	float	   *features;		/* [m, dh] FAVOR+ buffer (linear attention) */
} MfTfAttnParams;

/* A norm's parameters: LayerNorm w, b [d]; ScaleNorm g [1]; ReZero alpha [1]. */
typedef struct MfTfNormParams
{
	float	   *w;
	float	   *b;				/* LayerNorm only, else NULL */
} MfTfNormParams;

/* One layer's parameters (or gradients); ca and norm_ca only with cross-attention. */
typedef struct MfTfLayer
{
	MfTfAttnParams sa;			/* self_attn */
	MfTfAttnParams ca;			/* multihead_attn */
	float	   *lin1_w;			/* [f2, d] */
	float	   *lin1_b;			/* [f2] */
	float	   *lin2_w;			/* [d, f] */
	float	   *lin2_b;			/* [d] */
	MfTfNormParams norm_sa;		/* norm1 */
	MfTfNormParams norm_ca;		/* norm2 of a decoder layer */
	MfTfNormParams norm_ff;		/* norm2 (encoder) / norm3 (decoder) */
} MfTfLayer;

/* Activations of one attention block. */
typedef struct MfTfAttnActs
{
	float	   *u;				/* norm(x) (NULL for ReZero: u is x) */
	float	   *st_a,
			   *st_b;			/* norm statistics: mean, rstd / norm */
	float	   *q;				/* n x d */
	float	   *kv;				/* m x 2d: keys and values of u or memory */
	float	   *P;				/* B*H*Tq*Tk probabilities (softmax) */
	unsigned char *pmask;		/* their dropout mask (training, softmax) */
	float	   *Qp,
			   *Kp,
			   *den;			/* features and denominators (linear) */
	float	   *attn;			/* n x d, heads concatenated */
	float	   *out;			/* n x d, out_proj output after dropout */
	unsigned char *mask;		/* dropout mask (NULL without dropout) */
} MfTfAttnActs;

/* Activations of one layer for one step (carved from the arena). */
typedef struct MfTfLayerActs
{
	const float *x;				/* input, n x d (the caller's) */
	const float *mem;			/* cross-attention memory (the caller's) */
	MfTfAttnActs sa;
	MfTfAttnActs ca;			/* cross-attention only */
	float	   *x1;				/* after self-attention */
	float	   *x2;				/* after cross-attention (= x1 without) */
	float	   *u_ff,
			   *st_ff_a,
			   *st_ff_b;		/* FFN norm */
	float	   *h1;				/* linear1 output, n x f2 */
	float	   *a;				/* activation after dropout, n x f */
	float	   *ff;				/* linear2 output after dropout */
	float	   *y;				/* output, n x d */
	unsigned char *m_ff,
			   *m_out;			/* FFN dropout masks */
} MfTfLayerActs;

/*
 * Floats of a layer: trained parameters first, then buffers (the FAVOR+
 * feature matrices, not trained); 0 for invalid dims.  *n_params (may be
 * NULL) gets the trained prefix, the part an optimiser updates.
 */
extern size_t mfk_tf_layer_size(const MfTfLayerDims *dims, size_t *n_params);
/*
 * Point p into base (which holds mfk_tf_layer_size floats; NULL gives NULL
 * pointers) and, if table is not NULL, describe the stored tensors in
 * state_dict order (at most MF_TF_LAYER_TENSORS).  Returns the count.
 */
extern int	mfk_tf_layer_bind(const MfTfLayerDims *dims, float *base,
							  MfTfLayer *p, MfTfTensor *table);
/* Fill n floats uniformly in [-a, a) (PyTorch's kaiming/xavier uniform). */
extern void mfk_tf_fill_uniform(MfRng *r, float *w, size_t n, double a);
/* PyTorch's initialisation (xavier in_proj, Linear defaults, norms 1/0). */
extern void mfk_tf_layer_init(const MfTfLayerDims *dims, MfTfLayer *p,
							  MfRng *r);
/* Carve the activations of one layer (counting arenas leave NULLs). */
extern void mfk_tf_layer_acts_carve(const MfTfLayerDims *dims,
									const MfTfBatch *b, int training,
									MfArena *arena, MfTfLayerActs *acts);
/*
 * Bytes of one step's arena: the activations of n_layers layers plus, when
 * training, one layer's backward scratch (SIZE_MAX on overflow).
 */
extern size_t mfk_tf_step_bytes(const MfTfLayerDims *dims, const MfTfBatch *b,
								int n_layers, int training);
/*
 * Bytes one layer's forward (and, training, backward) takes above the
 * arena's top and releases (SIZE_MAX on overflow).
 */
extern size_t mfk_tf_layer_scratch_bytes(const MfTfLayerDims *dims,
										 const MfTfBatch *b, int training);
/*
 * Forward of one pre-norm layer on x (B*T x d) into acts->y; mem (B*S x d)
 * is the encoder output for cross-attention (NULL otherwise).  rng != NULL
 * means training (dropout on where masks were carved); NULL, evaluation.
 * Linear attention takes its work space from the arena above its top
 * (mfk_tf_step_bytes counts it) and releases it.
 */
extern int	mfk_tf_layer_forward(const MfEnv *env, const MfTfLayerDims *dims,
								 const MfTfBatch *b, const MfTfLayer *p,
								 const float *x, const float *mem, MfRng *rng,
								 MfArena *arena, MfTfLayerActs *acts);
/*
 * Backward from dy (B*T x d): adds to the parameter gradients g, to dx and
 * (cross-attention) to dmem.  Scratch comes from the arena above its top
 * and is released.
 */
extern int	mfk_tf_layer_backward(const MfEnv *env, const MfTfLayerDims *dims,
								  const MfTfBatch *b, const MfTfLayer *p,
								  const MfTfLayerActs *acts, const float *dy,
								  MfArena *arena, MfTfLayer *g, float *dx,
								  float *dmem);

/*
 * Incremental decoding (evaluation, softmax attention only): one position
 * at a time with the keys and values of the earlier positions cached.
 * kv holds one row of 2d floats (key, value) per position already seen;
 * a step appends row t.  mem_kv holds the memory's keys and values of a
 * cross-attention layer (mfk_tf_layer_memory_kv, S rows of 2d).  work
 * holds mfk_tf_layer_step_floats(dims, keys) floats, keys >= t + 1 and S.
 * y equals row t of mfk_tf_layer_forward on positions 0..t up to float
 * rounding (the same operations on one row instead of a block).
 */
extern size_t mfk_tf_layer_step_floats(const MfTfLayerDims *dims, size_t tk);
/* The memory's keys and values (S rows of 2d) of a cross-attention layer. */
extern void mfk_tf_layer_memory_kv(const MfTfLayerDims *dims, const MfTfLayer *p,
								   const float *mem, size_t S, float *mem_kv);
/* One layer step at position t (MF_KERR_BADARG for linear attention). */
extern int	mfk_tf_layer_step(const MfEnv *env, const MfTfLayerDims *dims,
							  const MfTfLayer *p, const float *x, size_t t,
							  float *kv, const float *mem_kv, size_t S,
							  const unsigned char *mem_pad, float *work,
							  float *y);

/* ------------------------------------------------------------------ head */

/* pooled (B x d) from X (B*T x d): mean over non-padding tokens or token 0. */
extern void mfk_tf_pool_forward(MfTfPool mode, const MfTfBatch *b, size_t d,
								const float *X, float *pooled);
/* dX += d pooled spread back over the pooled tokens. */
extern void mfk_tf_pool_backward(MfTfPool mode, const MfTfBatch *b, size_t d,
								 const float *dpooled, float *dX);
/*
 * Mean softmax cross-entropy of n rows of logits (n x k) against labels
 * 0..k-1 (a label < 0 is ignored and not counted); dlogits (may be NULL)
 * is SET to the gradient of the returned mean.
 */
extern double mfk_tf_cross_entropy(const float *logits, const int32_t *y,
								   size_t n, size_t k, float *dlogits);

#endif							/* MF_TRANSFORMER_H */
