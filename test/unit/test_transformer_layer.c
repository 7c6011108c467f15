/*
 * test_transformer_layer.c - the encoder and decoder layers with each norm,
 * activation and attention kind, and whole small models (embedding, layers,
 * final norm, pooled classifier or tied LM head, cross-entropy), against
 * the float64 reference of transformer_ref.h; state_dict names, dropout,
 * cancellation, and the speed of one layer step.
 */
#include "transformer_ref.h"

#include <time.h>

/* ------------------------------------------------------ encoder layer */

/* Context of the layer check. */
typedef struct LayerCtx
{
	RefLayer	L;
	double	   *par,
			   *x,
			   *mem,			/* cross-attention memory or NULL */
			   *C,
			   *y;
	size_t		nd;
} LayerCtx;

/* sum(C * layer(x, mem)). */
static double
layer_loss(void *p)
{
	LayerCtx   *c = p;

	ref_layer(&c->L, c->par, c->x, c->mem, c->y);
	return dotc(c->C, c->y, c->nd);
}

/* Move a norm's parameters off their initial values (a ReZero alpha to a). */
static void
perturb_norm(const MfTfLayerDims *dims, MfTfNormParams *n, float a)
{
	size_t		i;

	if (dims->norm == MF_TF_REZERO)
		n->w[0] = a;
	else if (dims->norm == MF_TF_LAYERNORM)
		for (i = 0; i < dims->d_model; i++)
		{
			n->w[i] += 0.3f * (float) mfk_rng_normal(&rng);
			n->b[i] = 0.3f * (float) mfk_rng_normal(&rng);
		}
}

/* Kernel-initialised parameters with norms and biases moved off 1/0. */
static void
layer_params(const MfTfLayerDims *dims, float *pf, MfTfLayer *p)
{
	size_t		i;

	mfk_tf_layer_bind(dims, pf, p, NULL);
	mfk_tf_layer_init(dims, p, &rng);
	perturb_norm(dims, &p->norm_sa, 0.7f);
	perturb_norm(dims, &p->norm_ff, -0.5f);
	for (i = 0; i < 3 * dims->d_model; i++)
		p->sa.in_b[i] = 0.2f * (float) mfk_rng_normal(&rng);
	if (!dims->cross_attention)
		return;
	perturb_norm(dims, &p->norm_ca, 0.6f);
	for (i = 0; i < 3 * dims->d_model; i++)
		p->ca.in_b[i] = 0.2f * (float) mfk_rng_normal(&rng);
}

/* One layer: forward vs reference, gradients of x (mem) and every tensor. */
static void
test_layer(const char *name, MfAct act, MfTfNorm norm, int causal, int pad,
		   float dropout, int cross, int linear)
{
	MfTfLayerDims dims = {8, 2, 12, act, norm, 1e-5f, dropout, causal, cross,
	linear, linear ? 8 : 0};
	unsigned char kp[2 * 5] = {0},
				mp[2 * 7] = {0};
	MfTfBatch	b = {2, 5, pad ? kp : NULL, cross ? 7 : 0, pad ? mp : NULL};
	LayerCtx	c;
	size_t		np = mfk_tf_layer_size(&dims, NULL),
				bytes = mfk_tf_step_bytes(&dims, &b, 1, 1),
				nm = b.B * b.S * dims.d_model,
				ntrained,
				i;
	float	   *pf = falloc(np),
			   *gf = falloc(np),
			   *xf,
			   *Cf,
			   *dx,
			   *memf = falloc(nm),
			   *dmem = falloc(nm);
	MfTfLayer	p,
				g;
	MfTfLayerActs acts;
	MfArena		arena;
	MfRng		drop;
	GVar		v[MF_TF_LAYER_TENSORS + 2];
	int			k;
	char		buf[128];

	memset(&c, 0, sizeof(c));
	kp[8] = kp[9] = 1;
	kp[2] = 1;
	mp[13] = mp[12] = mp[11] = 1;
	mp[3] = 1;
	c.nd = b.B * b.T * dims.d_model;
	layer_params(&dims, pf, &p);
	mfk_tf_layer_bind(&dims, gf, &g, NULL);
	c.L.dims = &dims, c.L.b = &b;
	c.L.nt = mfk_tf_layer_bind(&dims, pf, &p, c.L.tab);
	c.par = dalloc(np), c.x = dalloc(c.nd), c.C = dalloc(c.nd), c.y = dalloc(c.nd);
	for (i = 0; i < np; i++)
		c.par[i] = pf[i];
	randn(c.x, c.nd, 1), randn(c.C, c.nd, 1);
	xf = falloc(c.nd), Cf = falloc(c.nd), dx = falloc(c.nd);
	tof(c.x, xf, c.nd), tof(c.C, Cf, c.nd);
	if (cross)
	{
		c.mem = dalloc(nm);
		randn(c.mem, nm, 1);
		tof(c.mem, memf, nm);
	}

	mfk_arena_init(&arena, &mfk_malloc_allocator, bytes);
	mfk_tf_layer_acts_carve(&dims, &b, 1, &arena, &acts);
	mfk_rng_seed(&drop, 99);
	MF_OK(mfk_tf_layer_forward(NULL, &dims, &b, &p, xf, cross ? memf : NULL, &drop, &arena, &acts) == MF_KOK,
		  "layer forward runs");
	c.L.masks = dropout > 0 ? &acts : NULL;
	if (dropout > 0 && !linear)
		MF_OK(acts.sa.pmask != NULL && (!cross || acts.ca.pmask != NULL),
			  "training drops attention probabilities (replayed by the reference)");
	layer_loss(&c);
	snprintf(buf, sizeof(buf), "%s layer %s", cross ? "decoder" : "encoder", name);
	check_fwd(buf, acts.y, c.y, c.nd, 2e-5);
	MF_OK(mfk_tf_layer_backward(NULL, &dims, &b, &p, &acts, Cf, &arena, &g, dx,
								cross ? dmem : NULL) == MF_KOK,
		  "layer backward runs");
	MF_OK(arena.peak == bytes && !arena.failed,
		  "the step's arena is exactly as large as its counted layout");
	mfk_tf_layer_size(&dims, &ntrained);
	for (k = 0; k < c.L.nt && c.L.tab[k].offset < ntrained; k++)
	{
		v[k].name = c.L.tab[k].name;
		v[k].v = c.par + c.L.tab[k].offset;
		v[k].g = gf + c.L.tab[k].offset;
		v[k].n = c.L.tab[k].rows * (c.L.tab[k].cols ? c.L.tab[k].cols : 1);
	}
	v[k].name = "x", v[k].v = c.x, v[k].g = dx, v[k].n = c.nd;
	if (cross)
		k++, v[k].name = "memory", v[k].v = c.mem, v[k].g = dmem, v[k].n = nm;
	check_grad(buf, layer_loss, &c, v, k + 1, 1e-3);
	mfk_arena_free(&arena, &mfk_malloc_allocator);
	free(c.par), free(c.x), free(c.C), free(c.y), free(c.mem), free(pf), free(gf), free(xf);
	free(Cf), free(dx), free(memf), free(dmem);
}

/* The stored tensors and their order are PyTorch's state_dict. */
static void
test_state_dict_names(void)
{
	MfTfLayerDims dims = {16, 4, 64, MF_ACT_GELU, MF_TF_LAYERNORM, 1e-5f, 0.1f, 0, 0, 0, 0};
	static const char *const names[] = {
		"self_attn.in_proj_weight", "self_attn.in_proj_bias",
		"self_attn.out_proj.weight", "self_attn.out_proj.bias",
		"linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
		"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"
	};
	MfTfTensor	tab[MF_TF_LAYER_TENSORS];
	MfTfLayer p;
	int			nt = mfk_tf_layer_bind(&dims, NULL, &p, tab),
				i,
				same = nt == 12;
	size_t		off = 0;

	for (i = 0; same && i < nt; i++)
	{
		same &= strcmp(tab[i].name, names[i]) == 0 && tab[i].offset == off;
		off += tab[i].rows * (tab[i].cols ? tab[i].cols : 1);
	}
	MF_OK(same, "layer tensors are nn.TransformerEncoderLayer's state_dict, in order, contiguous");
	MF_OK(tab[0].rows == 48 && tab[0].cols == 16 && tab[4].rows == 64 && tab[4].cols == 16 &&
		  tab[6].rows == 16 && tab[6].cols == 64, "in_proj [3d, d], linear1 [f, d], linear2 [d, f]");
	/* PyTorch's parameter count for this layer: 4d^2 + 4d + 2df + f + d + 4d */
	MF_OK(off == mfk_tf_layer_size(&dims, NULL) &&
		  off == (size_t) (4 * 16 * 16 + 4 * 16 + 2 * 16 * 64 + 64 + 16 + 4 * 16),
		  "parameter count equals PyTorch's");
	{
		static const char *const dec[] = {
			"self_attn.in_proj_weight", "self_attn.in_proj_bias",
			"self_attn.out_proj.weight", "self_attn.out_proj.bias",
			"multihead_attn.in_proj_weight", "multihead_attn.in_proj_bias",
			"multihead_attn.out_proj.weight", "multihead_attn.out_proj.bias",
			"linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
			"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias",
			"norm3.weight", "norm3.bias"
		};

		dims.cross_attention = 1;
		nt = mfk_tf_layer_bind(&dims, NULL, &p, tab);
		same = nt == 18;
		for (i = 0; same && i < nt; i++)
			same &= strcmp(tab[i].name, dec[i]) == 0;
		MF_OK(same && mfk_tf_layer_size(&dims, NULL) == off + 4 * 16 * 16 + 4 * 16 + 2 * 16,
			  "decoder layer tensors are nn.TransformerDecoderLayer's state_dict, in order");
		{
			size_t		ntr,
						total;

			dims.linear_attention = 1, dims.nb_features = 32;
			total = mfk_tf_layer_size(&dims, &ntr);
			nt = mfk_tf_layer_bind(&dims, NULL, &p, tab);
			MF_OK(nt == 20 && strcmp(tab[18].name, "self_attn.projection_matrix") == 0 &&
				  strcmp(tab[19].name, "multihead_attn.projection_matrix") == 0 &&
				  tab[18].offset == ntr && tab[18].rows == 32 && tab[18].cols == 4 &&
				  total == ntr + 2 * 32 * 4,
				  "linear attention: feature buffers follow the trained parameters");
			dims.linear_attention = 0, dims.nb_features = 0;
		}
		dims.cross_attention = 0;
	}
	dims.act = MF_ACT_SWIGLU;
	mfk_tf_layer_bind(&dims, NULL, &p, tab);
	MF_OK(tab[4].rows == 128 && tab[6].cols == 64, "gated: linear1 [2f, d], linear2 [d, f]");
	dims.n_heads = 3;
	MF_OK(mfk_tf_layer_size(&dims, NULL) == 0, "heads that do not divide d_model are refused");
}

/* ------------------------------------------- whole model: layers + head */

#define M_LAYERS 2
#define M_VOCAB 11
#define M_CLASSES 3

/* A small classifier: embedding, two layers, final LayerNorm, pooled head. */
typedef struct ModelCtx
{
	MfTfLayerDims dims;
	MfTfBatch	b;
	MfTfPool	pool;
	int32_t    *ids,
			   *y;
	RefLayer	L;
	size_t		np;				/* floats of one layer */
	double	   *tok,
			   *pos,
			   *par[M_LAYERS],
			   *fw,
			   *fb,
			   *cw,
			   *cb;
} ModelCtx;

/* Mean pooling / first token in float64. */
static void
ref_pool(MfTfPool mode, const MfTfBatch *b, size_t d, const double *X,
		 double *out)
{
	size_t		bi,
				t,
				j,
				c;

	for (bi = 0; bi < b->B; bi++)
	{
		for (j = 0; j < d; j++)
			out[bi * d + j] = mode == MF_TF_POOL_FIRST ? X[bi * b->T * d + j] : 0;
		if (mode == MF_TF_POOL_FIRST)
			continue;
		for (t = 0, c = 0; t < b->T; t++)
			if (!b->key_pad || !b->key_pad[bi * b->T + t])
			{
				c++;
				for (j = 0; j < d; j++)
					out[bi * d + j] += X[(bi * b->T + t) * d + j];
			}
		for (j = 0; c > 0 && j < d; j++)
			out[bi * d + j] /= c;
	}
}

/* Mean CE over the labelled rows in float64 (label < 0 ignored). */
static double
ref_ce_ignore(const double *z, const int32_t *y, size_t n, size_t k)
{
	double		s = 0;
	size_t		i,
				j,
				cnt = 0;

	for (i = 0; i < n; i++)
	{
		double		m = z[i * k],
					se = 0;

		if (y[i] < 0)
			continue;
		cnt++;
		for (j = 1; j < k; j++)
			m = fmax(m, z[i * k + j]);
		for (j = 0; j < k; j++)
			se += exp(z[i * k + j] - m);
		s += m + log(se) - z[i * k + y[i]];
	}
	return s / cnt;
}

/* The loss of the whole model in float64. */
static double
model_loss(void *p)
{
	ModelCtx   *c = p;
	size_t		d = c->dims.d_model,
				nd = c->b.B * c->b.T * d;
	double	   *h = dalloc(nd),
			   *h2 = dalloc(nd),
			   *pooled = dalloc(c->b.B * d),
			   *logits = dalloc(c->b.B * M_CLASSES),
				loss;
	int			l;

	ref_embed(c->ids, c->b.B, c->b.T, d, c->tok, c->pos, h);
	for (l = 0; l < M_LAYERS; l++)
	{
		ref_layer(&c->L, c->par[l], h, NULL, h2);
		memcpy(h, h2, nd * sizeof(double));
	}
	ref_layernorm(h, c->b.B * c->b.T, d, c->fw, c->fb, c->dims.eps, h2);
	ref_pool(c->pool, &c->b, d, h2, pooled);
	ref_linear(pooled, c->b.B, d, c->cw, c->cb, M_CLASSES, logits);
	loss = ref_ce_ignore(logits, c->y, c->b.B, M_CLASSES);
	free(h), free(h2), free(pooled), free(logits);
	return loss;
}

/* Float32 buffers of the model (parameters and gradients). */
typedef struct ModelF
{
	float	   *tok,
			   *pos,
			   *par[M_LAYERS],
			   *fw,
			   *fb,
			   *cw,
			   *cb;
} ModelF;

/* Allocate the float32 buffers of a model. */
static void
modelf_alloc(const ModelCtx *c, ModelF *m)
{
	int			l;
	size_t		d = c->dims.d_model;

	m->tok = falloc(M_VOCAB * d), m->pos = falloc(c->b.T * d);
	for (l = 0; l < M_LAYERS; l++)
		m->par[l] = falloc(c->np);
	m->fw = falloc(d), m->fb = falloc(d), m->cw = falloc(M_CLASSES * d), m->cb = falloc(M_CLASSES);
}

/* Free them. */
static void
modelf_free(ModelF *m)
{
	int			l;

	free(m->tok), free(m->pos), free(m->fw), free(m->fb), free(m->cw), free(m->cb);
	for (l = 0; l < M_LAYERS; l++)
		free(m->par[l]);
}

/*
 * One float32 training step through the kernels: forward, loss, backward
 * into G (zeroed by the caller).  Returns the loss; *peak gets the arena's
 * high-water mark.
 */
static double
model_step(const ModelCtx *c, const ModelF *P, ModelF *G, MfRng *drop,
		   size_t *peak)
{
	size_t		d = c->dims.d_model,
				n = c->b.B * c->b.T,
				nd = n * d,
				bytes;
	MfArena		a;
	MfTfLayerActs acts[M_LAYERS];
	MfTfLayer p[M_LAYERS],
				g[M_LAYERS];
	float	   *emb,
			   *hf,
			   *fmean,
			   *frstd,
			   *pooled,
			   *logits,
			   *dlogits,
			   *dpooled,
			   *dh,
			   *dprev;
	double		loss;
	int			l;

	bytes = mfk_tf_step_bytes(&c->dims, &c->b, M_LAYERS, 1) +
		5 * (nd * sizeof(float) + MF_ARENA_ALIGN) + 4 * (n * sizeof(float) + MF_ARENA_ALIGN);
	mfk_arena_init(&a, &mfk_malloc_allocator, bytes);
	emb = mfk_arena_floats(&a, nd), hf = mfk_arena_floats(&a, nd);
	fmean = mfk_arena_floats(&a, n), frstd = mfk_arena_floats(&a, n);
	pooled = mfk_arena_floats(&a, c->b.B * d), dpooled = mfk_arena_zeros(&a, c->b.B * d);
	logits = mfk_arena_floats(&a, c->b.B * M_CLASSES);
	dlogits = mfk_arena_floats(&a, c->b.B * M_CLASSES);
	dh = mfk_arena_zeros(&a, nd), dprev = mfk_arena_floats(&a, nd);
	for (l = 0; l < M_LAYERS; l++)
	{
		mfk_tf_layer_bind(&c->dims, P->par[l], &p[l], NULL);
		mfk_tf_layer_bind(&c->dims, G->par[l], &g[l], NULL);
		mfk_tf_layer_acts_carve(&c->dims, &c->b, 1, &a, &acts[l]);
	}
	mfk_tf_embed_forward(c->ids, c->b.B, c->b.T, d, P->tok, P->pos, emb);
	for (l = 0; l < M_LAYERS; l++)
		mfk_tf_layer_forward(NULL, &c->dims, &c->b, &p[l],
							 l == 0 ? emb : acts[l - 1].y, NULL, drop, &a, &acts[l]);
	mfk_tf_layernorm_forward(acts[M_LAYERS - 1].y, n, d, P->fw, P->fb, c->dims.eps,
							 hf, fmean, frstd);
	mfk_tf_pool_forward(c->pool, &c->b, d, hf, pooled);
	mfk_tf_linear_forward(pooled, c->b.B, d, P->cw, P->cb, M_CLASSES, logits);
	loss = mfk_tf_cross_entropy(logits, c->y, c->b.B, M_CLASSES, dlogits);

	mfk_tf_linear_backward(pooled, c->b.B, d, P->cw, M_CLASSES, dlogits, G->cw, G->cb, dpooled);
	memset(hf, 0, nd * sizeof(float));	/* hf now holds d(normed) */
	mfk_tf_pool_backward(c->pool, &c->b, d, dpooled, hf);
	mfk_tf_layernorm_backward(acts[M_LAYERS - 1].y, n, d, P->fw, fmean, frstd, hf, dh,
							  G->fw, G->fb);
	for (l = M_LAYERS - 1; l >= 0; l--)
	{
		memset(dprev, 0, nd * sizeof(float));
		mfk_tf_layer_backward(NULL, &c->dims, &c->b, &p[l], &acts[l], dh, &a,
									  &g[l], dprev, NULL);
		memcpy(dh, dprev, nd * sizeof(float));
	}
	mfk_tf_embed_backward(c->ids, c->b.B, c->b.T, d, dh, G->tok, G->pos);
	if (peak)
		*peak = a.failed ? 0 : a.peak;
	mfk_arena_free(&a, &mfk_malloc_allocator);
	return loss;
}

/* Gradient check of the whole model for one pooling mode and norm. */
static void
test_model(const char *name, MfTfPool pool, MfTfNorm norm, MfAct act)
{
	ModelCtx	c = {0};
	ModelF		P,
				G;
	unsigned char kp[3 * 6] = {0};
	size_t		d,
				i,
				nd;
	int32_t		ids[3 * 6],
				y[3] = {0, 2, 1};
	GVar		v[6 + M_LAYERS * MF_TF_LAYER_TENSORS];
	int			nv = 0,
				l,
				k;
	double		loss_f,
				loss_d;
	MfTfLayer tmp;
	char		buf[128];

	c.dims = (MfTfLayerDims) {8, 2, 8, act, norm, 1e-5f, 0.0f, 0, 0, 0, 0};
	c.b = (MfTfBatch) {3, 6, kp, 0, NULL};
	c.pool = pool, c.ids = ids, c.y = y;
	d = c.dims.d_model, nd = c.b.B * c.b.T * d;
	kp[4] = kp[5] = kp[17] = 1;
	for (i = 0; i < 18; i++)
		ids[i] = (int32_t) mfk_rng_below(&rng, M_VOCAB);
	c.np = mfk_tf_layer_size(&c.dims, NULL);
	c.L.dims = &c.dims, c.L.b = &c.b;
	c.L.nt = mfk_tf_layer_bind(&c.dims, NULL, &tmp, c.L.tab);
	modelf_alloc(&c, &P), modelf_alloc(&c, &G);
	c.tok = dalloc(M_VOCAB * d), c.pos = dalloc(c.b.T * d), c.fw = dalloc(d), c.fb = dalloc(d);
	c.cw = dalloc(M_CLASSES * d), c.cb = dalloc(M_CLASSES);
	randn(c.tok, M_VOCAB * d, 1), randn(c.pos, c.b.T * d, 0.5), randn(c.fw, d, 0.3);
	randn(c.fb, d, 0.3), randn(c.cw, M_CLASSES * d, 0.5), randn(c.cb, M_CLASSES, 0.5);
	for (i = 0; i < d; i++)
		c.fw[i] += 1.0;
	tof(c.tok, P.tok, M_VOCAB * d), tof(c.pos, P.pos, c.b.T * d), tof(c.fw, P.fw, d);
	tof(c.fb, P.fb, d), tof(c.cw, P.cw, M_CLASSES * d), tof(c.cb, P.cb, M_CLASSES);
	for (l = 0; l < M_LAYERS; l++)
	{
		layer_params(&c.dims, P.par[l], &tmp);
		c.par[l] = dalloc(c.np);
		for (i = 0; i < c.np; i++)
			c.par[l][i] = P.par[l][i];
	}
	loss_f = model_step(&c, &P, &G, NULL, NULL);
	loss_d = model_loss(&c);
	snprintf(buf, sizeof(buf), "model %s: float32 loss matches float64 reference", name);
	MF_OK(fabs(loss_f - loss_d) < 1e-5 * fmax(1, fabs(loss_d)), buf);
	MF_DIAG("  model %s loss %.8f (float64 %.8f)", name, loss_f, loss_d);
	v[nv++] = (GVar) {"token_emb.weight", c.tok, G.tok, M_VOCAB * d};
	v[nv++] = (GVar) {"pos_emb.weight", c.pos, G.pos, c.b.T * d};
	for (l = 0; l < M_LAYERS; l++)
		for (k = 0; k < c.L.nt; k++)
			v[nv++] = (GVar) {c.L.tab[k].name, c.par[l] + c.L.tab[k].offset,
				G.par[l] + c.L.tab[k].offset,
			c.L.tab[k].rows * (c.L.tab[k].cols ? c.L.tab[k].cols : 1)};
	v[nv++] = (GVar) {"norm.weight", c.fw, G.fw, d};
	v[nv++] = (GVar) {"norm.bias", c.fb, G.fb, d};
	v[nv++] = (GVar) {"classifier.weight", c.cw, G.cw, M_CLASSES * d};
	v[nv++] = (GVar) {"classifier.bias", c.cb, G.cb, M_CLASSES};
	snprintf(buf, sizeof(buf), "model %s (embedding, %d layers, norm, head, CE)", name, M_LAYERS);
	check_grad(buf, model_loss, &c, v, nv, 2e-3);
	(void) nd;
	for (l = 0; l < M_LAYERS; l++)
		free(c.par[l]);
	free(c.tok), free(c.pos), free(c.fw), free(c.fb), free(c.cw), free(c.cb);
	modelf_free(&P), modelf_free(&G);
}

/* ------------------------------------------- decoder LM with tied head */

#define LM_V 9

/* A decoder-only LM: tied embedding, one causal layer, final norm, LM head. */
typedef struct LmCtx
{
	MfTfLayerDims dims;
	MfTfBatch	b;
	int32_t    *ids,
			   *y;				/* next token, -1 = ignored (padding) */
	RefLayer	L;
	double	   *tok,
			   *pos,
			   *par,
			   *fw,
			   *fb,
			   *lmb;
} LmCtx;

/* The LM loss in float64; the head's weight is token_emb.weight. */
static double
lm_loss(void *p)
{
	LmCtx	   *c = p;
	size_t		d = c->dims.d_model,
				n = c->b.B * c->b.T;
	double	   *h = dalloc(n * d),
			   *h2 = dalloc(n * d),
			   *z = dalloc(n * LM_V),
				loss;

	ref_embed(c->ids, c->b.B, c->b.T, d, c->tok, c->pos, h);
	ref_layer(&c->L, c->par, h, NULL, h2);
	ref_layernorm(h2, n, d, c->fw, c->fb, c->dims.eps, h);
	ref_linear(h, n, d, c->tok, c->lmb, LM_V, z);
	loss = ref_ce_ignore(z, c->y, n, LM_V);
	free(h), free(h2), free(z);
	return loss;
}

/* Tied LM head: gradients reach token_emb from the input and the output side. */
static void
test_lm_tied(void)
{
	LmCtx		c;
	unsigned char kp[2 * 6] = {0};
	int32_t		ids[12],
				y[12];
	size_t		d,
				n,
				np,
				bytes,
				i;
	float	   *tok,
			   *pos,
			   *par,
			   *fw,
			   *fb,
			   *lmb,
			   *gtok,
			   *gpos,
			   *gpar,
			   *gfw,
			   *gfb,
			   *glmb;
	float	   *emb,
			   *hn,
			   *mean,
			   *rstd,
			   *z,
			   *dz,
			   *dhn,
			   *dh,
			   *dx;
	MfTfLayer	p,
				g;
	MfTfLayerActs acts;
	MfArena		a;
	double		loss;
	GVar		v[MF_TF_LAYER_TENSORS + 5];
	int			nv = 0,
				k;

	memset(&c, 0, sizeof(c));
	c.dims = (MfTfLayerDims) {8, 2, 8, MF_ACT_SWIGLU, MF_TF_LAYERNORM, 1e-5f, 0.0f, 1, 0, 0, 0};
	c.b = (MfTfBatch) {2, 6, kp, 0, NULL};
	d = c.dims.d_model, n = c.b.B * c.b.T;
	kp[10] = kp[11] = 1;
	for (i = 0; i < n; i++)
		ids[i] = (int32_t) mfk_rng_below(&rng, LM_V);
	for (i = 0; i < n; i++)		/* next-token labels, none past the end or on padding */
		y[i] = (i % c.b.T == c.b.T - 1 || kp[i] || kp[i + 1]) ? -1 : ids[i + 1];
	c.ids = ids, c.y = y;
	np = mfk_tf_layer_size(&c.dims, NULL);
	tok = falloc(LM_V * d), pos = falloc(c.b.T * d), par = falloc(np), fw = falloc(d);
	fb = falloc(d), lmb = falloc(LM_V);
	gtok = falloc(LM_V * d), gpos = falloc(c.b.T * d), gpar = falloc(np), gfw = falloc(d);
	gfb = falloc(d), glmb = falloc(LM_V);
	c.tok = dalloc(LM_V * d), c.pos = dalloc(c.b.T * d), c.par = dalloc(np);
	c.fw = dalloc(d), c.fb = dalloc(d), c.lmb = dalloc(LM_V);
	randn(c.tok, LM_V * d, 1), randn(c.pos, c.b.T * d, 0.5), randn(c.fb, d, 0.3);
	randn(c.fw, d, 0.3), randn(c.lmb, LM_V, 0.3);
	for (i = 0; i < d; i++)
		c.fw[i] += 1;
	tof(c.tok, tok, LM_V * d), tof(c.pos, pos, c.b.T * d), tof(c.fw, fw, d);
	tof(c.fb, fb, d), tof(c.lmb, lmb, LM_V);
	layer_params(&c.dims, par, &p);
	for (i = 0; i < np; i++)
		c.par[i] = par[i];
	mfk_tf_layer_bind(&c.dims, gpar, &g, NULL);
	c.L.dims = &c.dims, c.L.b = &c.b;
	c.L.nt = mfk_tf_layer_bind(&c.dims, par, &p, c.L.tab);

	/* float32 step: everything of the step from one arena */
	bytes = mfk_tf_step_bytes(&c.dims, &c.b, 1, 1) +
		6 * (n * d * sizeof(float) + MF_ARENA_ALIGN) + 2 * (n * LM_V * sizeof(float) + MF_ARENA_ALIGN);
	mfk_arena_init(&a, &mfk_malloc_allocator, bytes);
	emb = mfk_arena_floats(&a, n * d), hn = mfk_arena_floats(&a, n * d);
	mean = mfk_arena_floats(&a, n), rstd = mfk_arena_floats(&a, n);
	z = mfk_arena_floats(&a, n * LM_V), dz = mfk_arena_floats(&a, n * LM_V);
	dhn = mfk_arena_zeros(&a, n * d), dh = mfk_arena_zeros(&a, n * d), dx = mfk_arena_zeros(&a, n * d);
	mfk_tf_layer_acts_carve(&c.dims, &c.b, 1, &a, &acts);
	mfk_tf_embed_forward(ids, c.b.B, c.b.T, d, tok, pos, emb);
	mfk_tf_layer_forward(NULL, &c.dims, &c.b, &p, emb, NULL, NULL, &a, &acts);
	mfk_tf_layernorm_forward(acts.y, n, d, fw, fb, c.dims.eps, hn, mean, rstd);
	mfk_tf_linear_forward(hn, n, d, tok, lmb, LM_V, z);	/* tied: W = token_emb */
	loss = mfk_tf_cross_entropy(z, y, n, LM_V, dz);
	mfk_tf_linear_backward(hn, n, d, tok, LM_V, dz, gtok, glmb, dhn);
	mfk_tf_layernorm_backward(acts.y, n, d, fw, mean, rstd, dhn, dh, gfw, gfb);
	mfk_tf_layer_backward(NULL, &c.dims, &c.b, &p, &acts, dh, &a, &g, dx, NULL);
	mfk_tf_embed_backward(ids, c.b.B, c.b.T, d, dx, gtok, gpos);
	MF_OK(!a.failed && fabs(loss - lm_loss(&c)) < 1e-5 * fmax(1, loss),
		  "tied LM (causal layer, ignore_index labels): float32 loss matches float64 reference");
	v[nv++] = (GVar) {"token_emb.weight (tied)", c.tok, gtok, LM_V * d};
	v[nv++] = (GVar) {"pos_emb.weight", c.pos, gpos, c.b.T * d};
	v[nv++] = (GVar) {"norm.weight", c.fw, gfw, d};
	v[nv++] = (GVar) {"norm.bias", c.fb, gfb, d};
	v[nv++] = (GVar) {"lm_head.bias", c.lmb, glmb, LM_V};
	for (k = 0; k < c.L.nt; k++)
		v[nv++] = (GVar) {c.L.tab[k].name, c.par + c.L.tab[k].offset, gpar + c.L.tab[k].offset,
		c.L.tab[k].rows * (c.L.tab[k].cols ? c.L.tab[k].cols : 1)};
	check_grad("decoder LM with tied head", lm_loss, &c, v, nv, 2e-3);
	mfk_arena_free(&a, &mfk_malloc_allocator);
	free(tok), free(pos), free(par), free(fw), free(fb), free(lmb), free(gtok), free(gpos);
	free(gpar), free(gfw), free(gfb), free(glmb), free(c.tok), free(c.pos), free(c.par);
	free(c.fw), free(c.fb), free(c.lmb);
}

/* A progress callback that cancels at once. */
static int
cancel_now(void *ctx, const MfProgress *p)
{
	(void) ctx, (void) p;
	return 1;
}

/* Dropout: rate, scaling, determinism; cancellation. */
static void
test_dropout_cancel(void)
{
	enum
	{
		N = 100000
	};
	float	   *x = falloc(N),
			   *x2 = falloc(N);
	unsigned char *m = malloc(N),
			   *m2 = malloc(N);
	MfRng		r1,
				r2;
	size_t		i,
				kept = 0;
	int			same = 1,
				scaled = 1;
	MfEnv		env;
	MfTfAttnShape s = {1, 2, 2, 1, 1, 0, NULL, NULL};
	float		q[2] = {1, 2},
				P[4],
				O[2];

	for (i = 0; i < N; i++)
		x[i] = x2[i] = 1.0f;
	mfk_rng_seed(&r1, 5), mfk_rng_seed(&r2, 5);
	mfk_tf_dropout_forward(&r1, 0.25f, x, m, N);
	mfk_tf_dropout_forward(&r2, 0.25f, x2, m2, N);
	for (i = 0; i < N; i++)
	{
		kept += m[i];
		same &= m[i] == m2[i] && x[i] == x2[i];
		scaled &= m[i] ? fabsf(x[i] - 1.0f / 0.75f) < 1e-6f : x[i] == 0.0f;
	}
	MF_OK(fabs((double) kept / N - 0.75) < 0.01, "dropout keeps 1 - p of the values");
	MF_OK(scaled, "kept values are scaled by 1 / (1 - p), dropped are 0");
	MF_OK(same, "the same seed draws the same mask");
	mfk_tf_dropout_backward(0.25f, m, x, N);
	MF_OK(fabsf(x[0] - (m[0] ? 1.0f / 0.5625f : 0.0f)) < 1e-5f, "dropout backward applies the mask");
	memset(&env, 0, sizeof(env));
	env.alloc = mfk_malloc_allocator;
	env.progress = cancel_now;
	MF_OK(mfk_tf_attn_forward(&env, &s, q, 1, q, 1, q, 1, P, O, 1) == MF_KERR_CANCELLED,
		  "attention honours a cancel from the progress callback");
	free(x), free(x2), free(m), free(m2);
}

/* Seconds since an arbitrary point. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One layer's forward+backward at d 128, 4 heads, d_ff 512, batch 16. */
static void
bench_layer(const char *label, size_t T, int causal, int linear)
{
	MfTfLayerDims dims = {128, 4, 512, MF_ACT_GELU, MF_TF_LAYERNORM, 1e-5f, 0.1f, causal, 0,
	linear, linear ? 256 : 0};
	MfTfBatch	b = {16, T, NULL, 0, NULL};
	size_t		np = mfk_tf_layer_size(&dims, NULL),
				nd = b.B * b.T * dims.d_model,
				bytes = mfk_tf_step_bytes(&dims, &b, 1, 1),
				i;
	float	   *pf = falloc(np),
			   *gf = falloc(np),
			   *x = falloc(nd),
			   *dy = falloc(nd),
			   *dx = falloc(nd);
	MfTfLayer p,
				g;
	MfTfLayerActs acts;
	MfArena		a;
	MfRng		drop;
	double		t0,
				tf = 0,
				tb = 0;
	int			it,
				reps = 20,
				ok = 1;

	mfk_tf_layer_bind(&dims, pf, &p, NULL);
	mfk_tf_layer_bind(&dims, gf, &g, NULL);
	mfk_tf_layer_init(&dims, &p, &rng);
	for (i = 0; i < nd; i++)
		x[i] = (float) mfk_rng_normal(&rng), dy[i] = (float) mfk_rng_normal(&rng) * 1e-3f;
	mfk_rng_seed(&drop, 1);
	mfk_arena_init(&a, &mfk_malloc_allocator, bytes);
	mfk_tf_layer_acts_carve(&dims, &b, 1, &a, &acts);
	for (it = -2; it < reps; it++)
	{
		t0 = now();
		ok &= mfk_tf_layer_forward(NULL, &dims, &b, &p, x, NULL, &drop, &a, &acts) == MF_KOK;
		if (it >= 0)
			tf += now() - t0;
		t0 = now();
		ok &= mfk_tf_layer_backward(NULL, &dims, &b, &p, &acts, dy, &a, &g, dx, NULL) == MF_KOK;
		if (it >= 0)
			tb += now() - t0;
	}
	MF_OK(ok, "benchmark layer steps run");
	MF_DIAG("speed, %s: d_model 128, 4 heads, d_ff 512, GELU, seq %zu, batch 16, dropout 0.1, "
			"1 thread:", label, T);
	MF_DIAG("  forward %.2f ms, backward %.2f ms, step %.2f ms per layer",
			1e3 * tf / reps, 1e3 * tb / reps, 1e3 * (tf + tb) / reps);
	MF_DIAG("  peak arena bytes per step (one layer: activations + backward scratch): %zu (%.2f MiB)",
			a.peak, a.peak / 1048576.0);
	mfk_tf_layer_size(&dims, &np);
	MF_DIAG("  trained parameters per layer: %zu", np);
	mfk_arena_free(&a, &mfk_malloc_allocator);
	free(pf), free(gf), free(x), free(dy), free(dx);
}

int
main(void)
{

	openblas_set_num_threads(1);
	mfk_rng_seed(&rng, 20261205);
	test_state_dict_names();
	test_layer("layernorm gelu padded", MF_ACT_GELU, MF_TF_LAYERNORM, 0, 1, 0, 0, 0);
	test_layer("layernorm relu causal", MF_ACT_RELU, MF_TF_LAYERNORM, 1, 0, 0, 0, 0);
	test_layer("layernorm silu", MF_ACT_SILU, MF_TF_LAYERNORM, 0, 0, 0, 0, 0);
	test_layer("layernorm geglu padded", MF_ACT_GEGLU, MF_TF_LAYERNORM, 0, 1, 0, 0, 0);
	test_layer("layernorm reglu causal+padded", MF_ACT_REGLU, MF_TF_LAYERNORM, 1, 1, 0, 0, 0);
	test_layer("layernorm swiglu", MF_ACT_SWIGLU, MF_TF_LAYERNORM, 0, 1, 0, 0, 0);
	test_layer("scalenorm gelu padded", MF_ACT_GELU, MF_TF_SCALENORM, 0, 1, 0, 0, 0);
	test_layer("rezero gelu causal", MF_ACT_GELU, MF_TF_REZERO, 1, 0, 0, 0, 0);
	test_layer("layernorm gelu dropout 0.2", MF_ACT_GELU, MF_TF_LAYERNORM, 0, 1, 0.2f, 0, 0);
	test_layer("causal self + cross, layernorm gelu, padded", MF_ACT_GELU, MF_TF_LAYERNORM, 1, 1, 0, 1, 0);
	test_layer("causal self + cross, scalenorm swiglu", MF_ACT_SWIGLU, MF_TF_SCALENORM, 1, 1, 0, 1, 0);
	test_layer("causal self + cross, rezero relu", MF_ACT_RELU, MF_TF_REZERO, 1, 0, 0, 1, 0);
	test_layer("causal self + cross, dropout 0.2", MF_ACT_GEGLU, MF_TF_LAYERNORM, 1, 1, 0.2f, 1, 0);
	test_layer("linear attention, layernorm gelu, padded", MF_ACT_GELU, MF_TF_LAYERNORM, 0, 1, 0, 0, 1);
	test_layer("causal linear attention, scalenorm swiglu", MF_ACT_SWIGLU, MF_TF_SCALENORM, 1, 1, 0, 0, 1);
	test_layer("causal linear self + linear cross, dropout 0.2", MF_ACT_GELU, MF_TF_LAYERNORM, 1, 1, 0.2f, 1, 1);
	test_model("mean pooling, layernorm", MF_TF_POOL_MEAN, MF_TF_LAYERNORM, MF_ACT_GELU);
	test_model("first-token pooling, scalenorm", MF_TF_POOL_FIRST, MF_TF_SCALENORM, MF_ACT_SWIGLU);
	test_model("mean pooling, rezero", MF_TF_POOL_MEAN, MF_TF_REZERO, MF_ACT_RELU);
	test_lm_tied();
	test_dropout_cancel();
	MF_DIAG("worst float32-vs-float64 forward max abs error: %.3g", worst_fwd);
	MF_DIAG("worst gradient relative error (float32 kernels vs float64 finite differences): %.3g",
			worst_grad);
	bench_layer("softmax", 64, 0, 0);
	bench_layer("causal softmax", 64, 1, 0);
	bench_layer("causal linear (FAVOR+, 256 features)", 64, 1, 1);
	bench_layer("softmax", 512, 0, 0);
	bench_layer("linear (FAVOR+, 256 features)", 512, 0, 1);
	return mf_test_done();
}

