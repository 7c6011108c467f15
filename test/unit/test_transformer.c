/*
 * test_transformer.c - the float32 transformer kernels against a float64
 * reference path written as plain loops: forward agreement, finite-difference
 * gradients (taken in float64 on the reference) of every block, of the
 * encoder layer with each norm and activation and of a whole small model
 * (embedding, two layers, final norm, pooled classifier, cross-entropy);
 * masks; the arena; and the speed of one layer step.
 */
#include "transformer.h"
#include "mf_test.h"

#include <cblas.h>
#include <stdlib.h>
#include <time.h>

static MfRng rng;
static double worst_fwd = 0.0;	/* over every forward comparison */
static double worst_grad = 0.0;	/* over every gradient check */

/* ------------------------------------------------------------ helpers */

/* n zeroed doubles. */
static double *
dalloc(size_t n)
{
	return calloc(n ? n : 1, sizeof(double));
}

/* n zeroed floats. */
static float *
falloc(size_t n)
{
	return calloc(n ? n : 1, sizeof(float));
}

/* x = s * N(0, 1). */
static void
randn(double *x, size_t n, double s)
{
	size_t		i;

	for (i = 0; i < n; i++)
		x[i] = s * mfk_rng_normal(&rng);
}

/* float copy of a double array. */
static void
tof(const double *x, float *y, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		y[i] = (float) x[i];
}

/* max |a - b| of a float and a double array. */
static double
maxdiff(const float *a, const double *b, size_t n)
{
	double		m = 0.0;
	size_t		i;

	for (i = 0; i < n; i++)
		m = fmax(m, fabs((double) a[i] - b[i]));
	return m;
}

/* sum(c * y). */
static double
dotc(const double *c, const double *y, size_t n)
{
	double		s = 0.0;
	size_t		i;

	for (i = 0; i < n; i++)
		s += c[i] * y[i];
	return s;
}

/* Record a forward comparison. */
static void
check_fwd(const char *name, const float *got, const double *ref, size_t n,
		  double tol)
{
	double		e = maxdiff(got, ref, n);
	char		buf[200];

	worst_fwd = fmax(worst_fwd, e);
	snprintf(buf, sizeof(buf), "%s: float32 forward matches float64 reference", name);
	MF_OK(e <= tol, buf);
	MF_DIAG("  %s forward max abs error %.3g", name, e);
}

/* One variable of a gradient check: double values, kernel gradient. */
typedef struct GVar
{
	const char *name;
	double	   *v;
	const float *g;
	size_t		n;
} GVar;

typedef double (*LossFn) (void *ctx);

/*
 * Central differences of the float64 loss against the kernel's gradient,
 * per variable ||g - fd|| / ||fd|| (up to max_per_var entries, strided);
 * returns the worst variable's error.
 */
static double
grad_rel_err(LossFn f, void *ctx, GVar *vars, int nv, size_t max_per_var,
			 const char **worst_name)
{
	double		worst = 0.0;
	int			k;

	for (k = 0; k < nv; k++)
	{
		size_t		i,
					stride = vars[k].n > max_per_var ? vars[k].n / max_per_var : 1;
		double		num = 0.0,
					den = 0.0,
					rel;

		for (i = 0; i < vars[k].n; i += stride)
		{
			double		old = vars[k].v[i],
						h = 1e-5 * fmax(1.0, fabs(old)),
						fp,
						fm,
						fd;

			vars[k].v[i] = old + h;
			fp = f(ctx);
			vars[k].v[i] = old - h;
			fm = f(ctx);
			vars[k].v[i] = old;
			fd = (fp - fm) / (2 * h);
			num += (vars[k].g[i] - fd) * (vars[k].g[i] - fd);
			den += fd * fd;
		}
		rel = sqrt(num) / fmax(sqrt(den), 1e-6);
		if (rel >= worst)
		{
			worst = rel;
			if (worst_name)
				*worst_name = vars[k].name;
		}
	}
	return worst;
}

/* Run a gradient check and record it as one test. */
static void
check_grad(const char *name, LossFn f, void *ctx, GVar *vars, int nv,
		   double tol)
{
	const char *wn = "";
	double		e = grad_rel_err(f, ctx, vars, nv, 400, &wn);
	char		buf[200];

	worst_grad = fmax(worst_grad, e);
	snprintf(buf, sizeof(buf), "%s: gradients match finite differences", name);
	MF_OK(e <= tol, buf);
	MF_DIAG("  %s gradient relative error %.3g (worst: %s)", name, e, wn);
}

/* ------------------------------------------------- float64 reference */

/* Y = X W' + b. */
static void
ref_linear(const double *X, size_t n, size_t in, const double *W,
		   const double *b, size_t out, double *Y)
{
	size_t		i,
				o,
				k;

	for (i = 0; i < n; i++)
		for (o = 0; o < out; o++)
		{
			double		s = b ? b[o] : 0.0;

			for (k = 0; k < in; k++)
				s += X[i * in + k] * W[o * in + k];
			Y[i * out + o] = s;
		}
}

/* LayerNorm of n rows. */
static void
ref_layernorm(const double *X, size_t n, size_t d, const double *w,
			  const double *b, double eps, double *Y)
{
	size_t		i,
				j;

	for (i = 0; i < n; i++)
	{
		double		m = 0,
					v = 0;

		for (j = 0; j < d; j++)
			m += X[i * d + j] / d;
		for (j = 0; j < d; j++)
			v += (X[i * d + j] - m) * (X[i * d + j] - m) / d;
		for (j = 0; j < d; j++)
			Y[i * d + j] = (X[i * d + j] - m) / sqrt(v + eps) * w[j] + b[j];
	}
}

/* ScaleNorm of n rows. */
static void
ref_scalenorm(const double *X, size_t n, size_t d, double g, double eps,
			  double *Y)
{
	size_t		i,
				j;

	for (i = 0; i < n; i++)
	{
		double		s = 0;

		for (j = 0; j < d; j++)
			s += X[i * d + j] * X[i * d + j];
		s = fmax(sqrt(s), eps);
		for (j = 0; j < d; j++)
			Y[i * d + j] = g * X[i * d + j] / s;
	}
}

/* FFN activation (gated: value * act(gate)). */
static void
ref_act(MfAct act, const double *h, double *a, size_t n, size_t f)
{
	size_t		i,
				j;

	for (i = 0; i < n; i++)
		for (j = 0; j < f; j++)
			a[i * f + j] = mfk_act_is_gated(act)
				? h[i * 2 * f + j] * mfk_act_scalar(mfk_act_gate_base(act), h[i * 2 * f + f + j])
				: mfk_act_scalar(act, h[i * f + j]);
}

/* Naive O(Tq Tk) attention, query by query, with both masks. */
static void
ref_attention(const MfTfAttnShape *s, const double *Q, size_t ldq,
			  const double *K, size_t ldk, const double *V, size_t ldv,
			  double *O, size_t ldo)
{
	size_t		b,
				h,
				i,
				j,
				c;
	double	   *sc = dalloc(s->Tk);

	for (b = 0; b < s->B; b++)
		for (h = 0; h < s->H; h++)
			for (i = 0; i < s->Tq; i++)
			{
				const double *q = Q + (b * s->Tq + i) * ldq + h * s->dh;
				double	   *o = O + (b * s->Tq + i) * ldo + h * s->dh;
				double		m = -INFINITY,
							z = 0;

				for (j = 0; j < s->Tk; j++)
				{
					int			masked = (s->causal && j > i + s->Tk - s->Tq) ||
						(s->key_pad && s->key_pad[b * s->Tk + j]);

					sc[j] = -INFINITY;
					if (masked)
						continue;
					sc[j] = 0;
					for (c = 0; c < s->dh; c++)
						sc[j] += q[c] * K[(b * s->Tk + j) * ldk + h * s->dh + c];
					sc[j] /= sqrt((double) s->dh);
					m = fmax(m, sc[j]);
				}
				for (c = 0; c < s->dh; c++)
					o[c] = 0;
				if (m == -INFINITY)
					continue;
				for (j = 0; j < s->Tk; j++)
					z += sc[j] == -INFINITY ? 0 : exp(sc[j] - m);
				for (j = 0; j < s->Tk; j++)
				{
					double		p = sc[j] == -INFINITY ? 0 : exp(sc[j] - m) / z;

					if (s->drop != NULL && s->drop->mask != NULL)	/* replayed */
						p = s->drop->mask[((b * s->H + h) * s->Tq + i) * s->Tk + j]
							? p / (1 - s->drop->p) : 0;

					for (c = 0; c < s->dh; c++)
						o[c] += p * V[(b * s->Tk + j) * ldv + h * s->dh + c];
				}
			}
	free(sc);
}

/* Inverted dropout with a given mask (NULL: nothing). */
static void
ref_dropout(double p, const unsigned char *mask, double *x, size_t n)
{
	size_t		i;

	if (mask == NULL)
		return;
	for (i = 0; i < n; i++)
		x[i] = mask[i] ? x[i] / (1 - p) : 0;
}

/* Offset of a named tensor in a layer's table. */
static size_t
tensor_off(const MfTfTensor *tab, int nt, const char *name)
{
	int			i;

	for (i = 0; i < nt; i++)
		if (strcmp(tab[i].name, name) == 0)
			return tab[i].offset;
	fprintf(stderr, "no tensor %s\n", name);
	abort();
}

/* What the reference needs to run one encoder layer. */
typedef struct RefLayer
{
	const MfTfLayerDims *dims;
	const MfTfBatch *b;
	MfTfTensor	tab[MF_TF_LAYER_TENSORS];
	int			nt;
	const MfTfLayerActs *masks;	/* dropout masks to replay, or NULL */
} RefLayer;

/* Offset of "<prefix><k+1>.<suffix>" (norm k of the layer). */
static size_t
norm_off(const RefLayer *L, const char *prefix, int k, const char *suffix)
{
	char		name[64];

	snprintf(name, sizeof(name), "%s%d.%s", prefix, k + 1, suffix);
	return tensor_off(L->tab, L->nt, name);
}

/* Norm k (or identity for ReZero) of a sublayer; *scale = its branch scale. */
static void
ref_norm(const RefLayer *L, const double *par, int k, const double *x,
		 double *u, double *scale)
{
	size_t		n = L->b->B * L->b->T,
				d = L->dims->d_model;

	*scale = 1.0;
	if (L->dims->norm == MF_TF_LAYERNORM)
		ref_layernorm(x, n, d, par + norm_off(L, "norm", k, "weight"),
					  par + norm_off(L, "norm", k, "bias"), L->dims->eps, u);
	else if (L->dims->norm == MF_TF_SCALENORM)
		ref_scalenorm(x, n, d, par[norm_off(L, "norm", k, "g")], L->dims->eps, u);
	else
	{
		memcpy(u, x, n * d * sizeof(double));
		*scale = par[norm_off(L, "rezero", k, "alpha")];
	}
}

static void ref_linear_attention(const MfTfAttnShape *s, const double *W, size_t m,
								 const double *Q, const double *K, const double *V,
								 size_t ld, double *O);

/*
 * An attention sublayer in float64: xout = x + k * drop(MHA(norm(x), src)),
 * queries from the normed x, keys and values from src (NULL: the normed x).
 */
static void
ref_attn_sub(const RefLayer *L, const double *par, const char *prefix, int k,
			 const double *x, const double *src, size_t Tk,
			 const unsigned char *kpad, int causal, const unsigned char *mask,
			 const unsigned char *pmask, double *xout)
{
	const MfTfLayerDims *D = L->dims;
	size_t		n = L->b->B * L->b->T,
				m = L->b->B * Tk,
				d = D->d_model,
				i;
	char		wn[64],
				bn[64],
				on[64],
				obn[64];
	double	   *u = dalloc(n * d),
			   *q = dalloc(n * d),
			   *kk = dalloc(m * d),
			   *v = dalloc(m * d),
			   *at = dalloc(n * d),
			   *o = dalloc(n * d),
				scale;
	const double *W,
			   *bias;
	MfTfAttnDrop drop = {D->dropout, NULL, (unsigned char *) pmask, NULL};
	MfTfAttnShape s = {L->b->B, L->b->T, Tk, D->n_heads, d / D->n_heads, causal, kpad,
	pmask ? &drop : NULL};

	snprintf(wn, sizeof(wn), "%s.in_proj_weight", prefix);
	snprintf(bn, sizeof(bn), "%s.in_proj_bias", prefix);
	snprintf(on, sizeof(on), "%s.out_proj.weight", prefix);
	snprintf(obn, sizeof(obn), "%s.out_proj.bias", prefix);
	W = par + tensor_off(L->tab, L->nt, wn);
	bias = par + tensor_off(L->tab, L->nt, bn);
	ref_norm(L, par, k, x, u, &scale);
	if (src == NULL)
		src = u;
	ref_linear(u, n, d, W, bias, d, q);
	ref_linear(src, m, d, W + d * d, bias + d, d, kk);
	ref_linear(src, m, d, W + 2 * d * d, bias + 2 * d, d, v);
	if (D->linear_attention)
	{
		char		pn[64];

		snprintf(pn, sizeof(pn), "%s.projection_matrix", prefix);
		ref_linear_attention(&s, par + tensor_off(L->tab, L->nt, pn), D->nb_features,
							 q, kk, v, d, at);
	}
	else
		ref_attention(&s, q, d, kk, d, v, d, at, d);
	ref_linear(at, n, d, par + tensor_off(L->tab, L->nt, on),
			   par + tensor_off(L->tab, L->nt, obn), d, o);
	ref_dropout(D->dropout, mask, o, n * d);
	for (i = 0; i < n * d; i++)
		xout[i] = x[i] + scale * o[i];
	free(u), free(q), free(kk), free(v), free(at), free(o);
}

/* The pre-norm layer in float64: y = layer(x[, mem]). */
static void
ref_layer(const RefLayer *L, const double *par, const double *x,
		  const double *mem, double *y)
{
	const MfTfLayerDims *D = L->dims;
	size_t		n = L->b->B * L->b->T,
				d = D->d_model,
				f = D->d_ff,
				f2 = mfk_act_is_gated(D->act) ? 2 * f : f,
				i;
	int			cross = D->cross_attention;
	double	   *u = dalloc(n * d),
			   *x1 = dalloc(n * d),
			   *x2 = dalloc(n * d),
			   *h1 = dalloc(n * f2),
			   *a = dalloc(n * f),
			   *ff = dalloc(n * d),
				k;

	ref_attn_sub(L, par, "self_attn", 0, x, NULL, L->b->T, L->b->key_pad, D->causal,
				 L->masks ? L->masks->sa.mask : NULL, L->masks ? L->masks->sa.pmask : NULL, x1);
	if (cross)
		ref_attn_sub(L, par, "multihead_attn", 1, x1, mem, L->b->S, L->b->mem_pad, 0,
					 L->masks ? L->masks->ca.mask : NULL, L->masks ? L->masks->ca.pmask : NULL, x2);
	else
		memcpy(x2, x1, n * d * sizeof(double));
	ref_norm(L, par, cross ? 2 : 1, x2, u, &k);
	ref_linear(u, n, d, par + tensor_off(L->tab, L->nt, "linear1.weight"),
			   par + tensor_off(L->tab, L->nt, "linear1.bias"), f2, h1);
	ref_act(D->act, h1, a, n, f);
	ref_dropout(D->dropout, L->masks ? L->masks->m_ff : NULL, a, n * f);
	ref_linear(a, n, f, par + tensor_off(L->tab, L->nt, "linear2.weight"),
			   par + tensor_off(L->tab, L->nt, "linear2.bias"), d, ff);
	ref_dropout(D->dropout, L->masks ? L->masks->m_out : NULL, ff, n * d);
	for (i = 0; i < n * d; i++)
		y[i] = x2[i] + k * ff[i];
	free(u), free(x1), free(x2), free(h1), free(a), free(ff);
}

/* ------------------------------------------------------ block checks */

/* Context of the linear-layer check. */
typedef struct LinCtx
{
	double	   *X,
			   *W,
			   *b,
			   *C,
			   *Y;
	size_t		n,
				in,
				out;
} LinCtx;

/* sum(C * (X W' + b)). */
static double
lin_loss(void *p)
{
	LinCtx	   *c = p;

	ref_linear(c->X, c->n, c->in, c->W, c->b, c->out, c->Y);
	return dotc(c->C, c->Y, c->n * c->out);
}

/* Linear layer in PyTorch's layout. */
static void
test_linear(void)
{
	LinCtx		c = {0};
	float	   *Xf,
			   *Wf,
			   *bf,
			   *Yf,
			   *Cf,
			   *dX,
			   *dW,
			   *db;

	c.n = 6, c.in = 5, c.out = 4;
	c.X = dalloc(c.n * c.in), c.W = dalloc(c.out * c.in), c.b = dalloc(c.out);
	c.C = dalloc(c.n * c.out), c.Y = dalloc(c.n * c.out);
	randn(c.X, c.n * c.in, 1), randn(c.W, c.out * c.in, 1), randn(c.b, c.out, 1);
	randn(c.C, c.n * c.out, 1);
	Xf = falloc(c.n * c.in), Wf = falloc(c.out * c.in), bf = falloc(c.out);
	Yf = falloc(c.n * c.out), Cf = falloc(c.n * c.out);
	dX = falloc(c.n * c.in), dW = falloc(c.out * c.in), db = falloc(c.out);
	tof(c.X, Xf, c.n * c.in), tof(c.W, Wf, c.out * c.in), tof(c.b, bf, c.out);
	tof(c.C, Cf, c.n * c.out);
	mfk_tf_linear_forward(Xf, c.n, c.in, Wf, bf, c.out, Yf);
	lin_loss(&c);
	check_fwd("linear", Yf, c.Y, c.n * c.out, 1e-5);
	mfk_tf_linear_backward(Xf, c.n, c.in, Wf, c.out, Cf, dW, db, dX);
	{
		GVar		v[] = {{"X", c.X, dX, c.n * c.in}, {"weight", c.W, dW, c.out * c.in},
		{"bias", c.b, db, c.out}};

		check_grad("linear", lin_loss, &c, v, 3, 1e-4);
	}
	free(c.X), free(c.W), free(c.b), free(c.C), free(c.Y);
	free(Xf), free(Wf), free(bf), free(Yf), free(Cf), free(dX), free(dW), free(db);
}

/* Context of the embedding check. */
typedef struct EmbCtx
{
	int32_t    *ids;
	double	   *tok,
			   *pos,
			   *C,
			   *Y;
	size_t		B,
				T,
				d;
} EmbCtx;

/* Reference embedding: tok[id] + pos[t]. */
static void
ref_embed(const int32_t *ids, size_t B, size_t T, size_t d, const double *tok,
		  const double *pos, double *Y)
{
	size_t		i,
				j;

	for (i = 0; i < B * T; i++)
		for (j = 0; j < d; j++)
			Y[i * d + j] = tok[ids[i] * d + j] + pos[(i % T) * d + j];
}

/* sum(C * embed). */
static double
emb_loss(void *p)
{
	EmbCtx	   *c = p;

	ref_embed(c->ids, c->B, c->T, c->d, c->tok, c->pos, c->Y);
	return dotc(c->C, c->Y, c->B * c->T * c->d);
}

/* Token embeddings plus learned positions (repeated ids accumulate). */
static void
test_embedding(void)
{
	EmbCtx		c = {0};
	size_t		V = 7,
				n,
				i;
	float	   *tokf,
			   *posf,
			   *Yf,
			   *Cf,
			   *dtok,
			   *dpos;

	c.B = 3, c.T = 4, c.d = 5, n = c.B * c.T;
	c.ids = malloc(n * sizeof(int32_t));
	for (i = 0; i < n; i++)
		c.ids[i] = (int32_t) mfk_rng_below(&rng, 4);	/* repeats, unused rows */
	c.tok = dalloc(V * c.d), c.pos = dalloc(c.T * c.d), c.C = dalloc(n * c.d), c.Y = dalloc(n * c.d);
	randn(c.tok, V * c.d, 1), randn(c.pos, c.T * c.d, 1), randn(c.C, n * c.d, 1);
	tokf = falloc(V * c.d), posf = falloc(c.T * c.d), Yf = falloc(n * c.d), Cf = falloc(n * c.d);
	dtok = falloc(V * c.d), dpos = falloc(c.T * c.d);
	tof(c.tok, tokf, V * c.d), tof(c.pos, posf, c.T * c.d), tof(c.C, Cf, n * c.d);
	mfk_tf_embed_forward(c.ids, c.B, c.T, c.d, tokf, posf, Yf);
	emb_loss(&c);
	check_fwd("embedding", Yf, c.Y, n * c.d, 1e-6);
	mfk_tf_embed_backward(c.ids, c.B, c.T, c.d, Cf, dtok, dpos);
	{
		GVar		v[] = {{"token_emb", c.tok, dtok, V * c.d}, {"pos_emb", c.pos, dpos, c.T * c.d}};

		check_grad("embedding", emb_loss, &c, v, 2, 1e-5);
	}
	free(c.ids), free(c.tok), free(c.pos), free(c.C), free(c.Y);
	free(tokf), free(posf), free(Yf), free(Cf), free(dtok), free(dpos);
}

/* Context of the norm checks (w, b for LayerNorm; w[0] = g for ScaleNorm). */
typedef struct NormCtx
{
	int			scalenorm;
	double	   *X,
			   *w,
			   *b,
			   *C,
			   *Y;
	size_t		n,
				d;
	double		eps;
} NormCtx;

/* sum(C * norm(X)). */
static double
norm_loss(void *p)
{
	NormCtx    *c = p;

	if (c->scalenorm)
		ref_scalenorm(c->X, c->n, c->d, c->w[0], c->eps, c->Y);
	else
		ref_layernorm(c->X, c->n, c->d, c->w, c->b, c->eps, c->Y);
	return dotc(c->C, c->Y, c->n * c->d);
}

/* LayerNorm or ScaleNorm: forward and gradients. */
static void
test_norm(int scalenorm)
{
	NormCtx		c = {0};
	size_t		nd;
	float	   *Xf,
			   *wf,
			   *bf,
			   *Yf,
			   *Cf,
			   *dX,
			   *dw,
			   *db,
			   *s1,
			   *s2;
	const char *name = scalenorm ? "scalenorm" : "layernorm";

	c.scalenorm = scalenorm, c.n = 6, c.d = 8, c.eps = 1e-5, nd = c.n * c.d;
	c.X = dalloc(nd), c.w = dalloc(c.d), c.b = dalloc(c.d), c.C = dalloc(nd), c.Y = dalloc(nd);
	randn(c.X, nd, 1.5), randn(c.w, c.d, 1), randn(c.b, c.d, 1), randn(c.C, nd, 1);
	if (scalenorm)
		c.w[0] = 2.0;
	Xf = falloc(nd), wf = falloc(c.d), bf = falloc(c.d), Yf = falloc(nd), Cf = falloc(nd);
	dX = falloc(nd), dw = falloc(c.d), db = falloc(c.d), s1 = falloc(c.n), s2 = falloc(c.n);
	tof(c.X, Xf, nd), tof(c.w, wf, c.d), tof(c.b, bf, c.d), tof(c.C, Cf, nd);
	if (scalenorm)
	{
		mfk_tf_scalenorm_forward(Xf, c.n, c.d, wf, (float) c.eps, Yf, s1);
		mfk_tf_scalenorm_backward(Xf, c.n, c.d, wf, (float) c.eps, s1, Cf, dX, dw);
	}
	else
	{
		mfk_tf_layernorm_forward(Xf, c.n, c.d, wf, bf, (float) c.eps, Yf, s1, s2);
		mfk_tf_layernorm_backward(Xf, c.n, c.d, wf, s1, s2, Cf, dX, dw, db);
	}
	norm_loss(&c);
	check_fwd(name, Yf, c.Y, nd, 1e-5);
	{
		GVar		v[] = {{"X", c.X, dX, nd}, {"weight", c.w, dw, scalenorm ? 1 : c.d},
		{"bias", c.b, db, c.d}};

		check_grad(name, norm_loss, &c, v, scalenorm ? 2 : 3, 1e-4);
	}
	free(c.X), free(c.w), free(c.b), free(c.C), free(c.Y);
	free(Xf), free(wf), free(bf), free(Yf), free(Cf), free(dX), free(dw), free(db), free(s1), free(s2);
}

/* Context of the activation checks. */
typedef struct ActCtx
{
	MfAct		act;
	double	   *h,
			   *C,
			   *a;
	size_t		n,
				f;
} ActCtx;

/* sum(C * act(h)). */
static double
act_loss(void *p)
{
	ActCtx	   *c = p;

	ref_act(c->act, c->h, c->a, c->n, c->f);
	return dotc(c->C, c->a, c->n * c->f);
}

/* One FFN activation (plain or gated). */
static void
test_act(MfAct act)
{
	ActCtx		c = {0};
	size_t		f2;
	float	   *hf,
			   *af,
			   *Cf,
			   *dh;
	char		name[64];

	c.act = act, c.n = 5, c.f = 6;
	f2 = mfk_act_is_gated(act) ? 2 * c.f : c.f;
	c.h = dalloc(c.n * f2), c.C = dalloc(c.n * c.f), c.a = dalloc(c.n * c.f);
	randn(c.h, c.n * f2, 1.5), randn(c.C, c.n * c.f, 1);
	hf = falloc(c.n * f2), af = falloc(c.n * c.f), Cf = falloc(c.n * c.f), dh = falloc(c.n * f2);
	tof(c.h, hf, c.n * f2), tof(c.C, Cf, c.n * c.f);
	mfk_tf_act_forward(act, hf, af, c.n, c.f);
	act_loss(&c);
	snprintf(name, sizeof(name), "activation %s", mfk_act_name(act));
	check_fwd(name, af, c.a, c.n * c.f, 1e-5);
	mfk_tf_act_backward(act, hf, Cf, dh, c.n, c.f);
	{
		GVar		v[] = {{"h", c.h, dh, c.n * f2}};

		check_grad(name, act_loss, &c, v, 1, 1e-4);
	}
	free(c.h), free(c.C), free(c.a), free(hf), free(af), free(Cf), free(dh);
}

/* Context of the attention checks. */
typedef struct AttnCtx
{
	MfTfAttnShape s;
	size_t		ld;				/* leading dimension of Q, K, V, O */
	double	   *Q,
			   *K,
			   *V,
			   *C,
			   *O;
} AttnCtx;

/* sum(C * attention(Q, K, V)). */
static double
attn_loss(void *p)
{
	AttnCtx    *c = p;

	ref_attention(&c->s, c->Q, c->ld, c->K, c->ld, c->V, c->ld, c->O, c->ld);
	return dotc(c->C, c->O, c->s.B * c->s.Tq * c->ld);
}

/* Attention against the naive reference; masks; gradients. */
static void
test_attention(const char *name, size_t Tq, size_t Tk, int causal, int pad)
{
	AttnCtx		c;
	unsigned char kp[2 * 8] = {0};
	size_t		nq,
				nk,
				b,
				h,
				i,
				j;
	float	   *Qf,
			   *Kf,
			   *Vf,
			   *Of,
			   *Cf,
			   *P,
			   *dQ,
			   *dK,
			   *dV,
			   *dS;
	int			masked_ok = 1,
				rows_ok = 1;
	char		buf[128];

	memset(&c, 0, sizeof(c));
	c.s.B = 2, c.s.Tq = Tq, c.s.Tk = Tk, c.s.H = 2, c.s.dh = 3, c.s.causal = causal;
	c.ld = c.s.H * c.s.dh + 1;	/* a strided view, as in the qkv buffer */
	if (pad)
	{
		kp[1 * Tk + Tk - 1] = kp[1 * Tk + Tk - 2] = 1;	/* sequence 1: 2 pads */
		kp[0 * Tk + 1] = 1;		/* sequence 0: a hole */
		c.s.key_pad = kp;
	}
	nq = c.s.B * Tq * c.ld, nk = c.s.B * Tk * c.ld;
	c.Q = dalloc(nq), c.K = dalloc(nk), c.V = dalloc(nk), c.C = dalloc(nq), c.O = dalloc(nq);
	randn(c.Q, nq, 1.5), randn(c.K, nk, 1.5), randn(c.V, nk, 1), randn(c.C, nq, 1);
	for (i = 0; i < c.s.B * Tq; i++)
		c.C[i * c.ld + c.ld - 1] = 0;	/* the column outside the view */
	Qf = falloc(nq), Kf = falloc(nk), Vf = falloc(nk), Of = falloc(nq), Cf = falloc(nq);
	P = falloc(c.s.B * c.s.H * Tq * Tk), dQ = falloc(nq), dK = falloc(nk), dV = falloc(nk);
	dS = falloc(Tq * Tk);
	tof(c.Q, Qf, nq), tof(c.K, Kf, nk), tof(c.V, Vf, nk), tof(c.C, Cf, nq);
	MF_OK(mfk_tf_attn_forward(NULL, &c.s, Qf, c.ld, Kf, c.ld, Vf, c.ld, P, Of, c.ld) == MF_KOK,
		  "attention forward runs");
	attn_loss(&c);
	for (i = 0; i < c.s.B * Tq; i++)
		Of[i * c.ld + c.ld - 1] = 0;
	snprintf(buf, sizeof(buf), "attention %s vs naive O(n^2) reference", name);
	check_fwd(buf, Of, c.O, nq, 1e-5);
	for (b = 0; b < c.s.B; b++)
		for (h = 0; h < c.s.H; h++)
			for (i = 0; i < Tq; i++)
			{
				double		sum = 0;

				for (j = 0; j < Tk; j++)
				{
					float		p = P[((b * c.s.H + h) * Tq + i) * Tk + j];
					int			hidden = (causal && j > i + Tk - Tq) || (pad && kp[b * Tk + j]);

					if (hidden && p != 0.0f)
						masked_ok = 0;
					sum += p;
				}
				if (fabs(sum - 1.0) > 1e-5)
					rows_ok = 0;
			}
	snprintf(buf, sizeof(buf), "attention %s: masked keys get exactly zero probability", name);
	MF_OK(masked_ok, buf);
	snprintf(buf, sizeof(buf), "attention %s: probability rows sum to 1", name);
	MF_OK(rows_ok, buf);
	MF_OK(mfk_tf_attn_backward(NULL, &c.s, Qf, c.ld, Kf, c.ld, Vf, c.ld, P, Cf, c.ld,
							   dQ, dK, dV, dS) == MF_KOK, "attention backward runs");
	{
		GVar		v[] = {{"Q", c.Q, dQ, nq}, {"K", c.K, dK, nk}, {"V", c.V, dV, nk}};

		snprintf(buf, sizeof(buf), "attention %s", name);
		check_grad(buf, attn_loss, &c, v, 3, 1e-3);
	}
	free(c.Q), free(c.K), free(c.V), free(c.C), free(c.O);
	free(Qf), free(Kf), free(Vf), free(Of), free(Cf), free(P), free(dQ), free(dK), free(dV), free(dS);
}

/* Masks seen from outside: changing hidden tokens changes nothing visible. */
static void
test_attention_masks(void)
{
	enum
	{
		B = 2, T = 6, H = 2, DH = 4, D = H * DH
	};
	unsigned char kp[B * T] = {0};
	MfTfAttnShape s = {B, T, T, H, DH, 0, kp, NULL};
	float		Q[B * T * D],
				K[B * T * D],
				V[B * T * D],
				O1[B * T * D],
				O2[B * T * D],
				P[B * H * T * T];
	size_t		i,
				t;
	int			same = 1,
				zero = 1;

	for (i = 0; i < B * T * D; i++)
		Q[i] = (float) mfk_rng_normal(&rng), K[i] = (float) mfk_rng_normal(&rng),
			V[i] = (float) mfk_rng_normal(&rng);
	kp[4] = kp[5] = 1;			/* sequence 0 ends in two pads */
	for (t = 0; t < T; t++)
		kp[T + t] = 1;			/* sequence 1 is all padding */
	mfk_tf_attn_forward(NULL, &s, Q, D, K, D, V, D, P, O1, D);
	for (i = 4 * D; i < 6 * D; i++)
		K[i] += 3.0f, V[i] -= 5.0f;	/* change the padded tokens of sequence 0 */
	mfk_tf_attn_forward(NULL, &s, Q, D, K, D, V, D, P, O2, D);
	for (i = 0; i < T * D; i++)
		same &= O1[i] == O2[i];
	MF_OK(same, "padded keys and values do not change any output of their sequence");
	for (i = T * D; i < 2 * T * D; i++)
		zero &= O1[i] == 0.0f;
	MF_OK(zero, "a sequence that is all padding attends to nothing (zeros, not NaN)");

	/* causal: changing token t changes no output before t */
	s.causal = 1, s.key_pad = NULL;
	mfk_tf_attn_forward(NULL, &s, Q, D, K, D, V, D, P, O1, D);
	for (i = 3 * D; i < T * D; i++)
		Q[i] += 1.0f, K[i] += 2.0f, V[i] += 3.0f;
	mfk_tf_attn_forward(NULL, &s, Q, D, K, D, V, D, P, O2, D);
	same = 1;
	for (i = 0; i < 3 * D; i++)
		same &= O1[i] == O2[i];
	MF_OK(same, "causal rows see no future token");
	same = 0;
	for (i = 3 * D; i < T * D; i++)
		same |= O1[i] != O2[i];
	MF_OK(same, "causal rows do see the changed present and past");
}

/* ---------------------------------------------------- linear attention */

/* FAVOR+ features of one row in float64, without stabiliser. */
static void
ref_phi(const double *x, size_t dh, const double *W, size_t m, double *out)
{
	double		s = pow((double) dh, -0.25),
				n2 = 0;
	size_t		f,
				j;

	for (j = 0; j < dh; j++)
		n2 += x[j] * x[j];
	for (f = 0; f < m; f++)
	{
		double		dot = 0;

		for (j = 0; j < dh; j++)
			dot += W[f * dh + j] * x[j];
		out[f] = exp(s * dot - s * s * n2 / 2) / sqrt((double) m);
	}
}

/* Naive linear attention: O_i = sum_j (phi_i.phi_j) v_j / sum_j phi_i.phi_j. */
static void
ref_linear_attention(const MfTfAttnShape *s, const double *W, size_t m,
					 const double *Q, const double *K, const double *V,
					 size_t ld, double *O)
{
	size_t		b,
				h,
				i,
				j,
				c,
				f;
	double	   *pq = dalloc(m),
			   *pk = dalloc(m);

	for (b = 0; b < s->B; b++)
		for (h = 0; h < s->H; h++)
			for (i = 0; i < s->Tq; i++)
			{
				double		den = 0;
				double	   *o = O + (b * s->Tq + i) * ld + h * s->dh;

				ref_phi(Q + (b * s->Tq + i) * ld + h * s->dh, s->dh, W, m, pq);
				for (c = 0; c < s->dh; c++)
					o[c] = 0;
				for (j = 0; j < s->Tk; j++)
				{
					double		a = 0;

					if ((s->causal && j > i) || (s->key_pad && s->key_pad[b * s->Tk + j]))
						continue;
					ref_phi(K + (b * s->Tk + j) * ld + h * s->dh, s->dh, W, m, pk);
					for (f = 0; f < m; f++)
						a += pq[f] * pk[f];
					den += a;
					for (c = 0; c < s->dh; c++)
						o[c] += a * V[(b * s->Tk + j) * ld + h * s->dh + c];
				}
				for (c = 0; den > 0 && c < s->dh; c++)
					o[c] /= den;
			}
	free(pq), free(pk);
}

/* Context of the linear-attention checks. */
typedef struct LinAttnCtx
{
	MfTfAttnShape s;
	size_t		ld,
				m;
	double	   *W,
			   *Q,
			   *K,
			   *V,
			   *C,
			   *O;
} LinAttnCtx;

/* sum(C * linear_attention(Q, K, V)). */
static double
linattn_loss(void *p)
{
	LinAttnCtx *c = p;

	ref_linear_attention(&c->s, c->W, c->m, c->Q, c->K, c->V, c->ld, c->O);
	return dotc(c->C, c->O, c->s.B * c->s.Tq * c->ld);
}

/* Linear attention vs its naive float64 reference and finite differences. */
static void
test_linear_attention(const char *name, size_t Tq, size_t Tk, int causal,
					  int pad)
{
	LinAttnCtx	c;
	unsigned char kp[2 * 130] = {0};
	size_t		nq,
				nk,
				i;
	float	   *Wf,
			   *Qf,
			   *Kf,
			   *Vf,
			   *Of,
			   *Cf,
			   *Qp,
			   *Kp,
			   *den,
			   *dQ,
			   *dK,
			   *dV,
			   *work;
	char		buf[128];

	memset(&c, 0, sizeof(c));
	c.s.B = 2, c.s.Tq = Tq, c.s.Tk = Tk, c.s.H = 2, c.s.dh = 4, c.s.causal = causal;
	c.ld = c.s.H * c.s.dh, c.m = 6;
	if (pad)
	{
		kp[1 * Tk + Tk - 1] = kp[1 * Tk + Tk - 2] = 1;
		kp[0 * Tk + 1] = 1;
		c.s.key_pad = kp;
	}
	nq = c.s.B * Tq * c.ld, nk = c.s.B * Tk * c.ld;
	Wf = falloc(c.m * c.s.dh);
	mfk_tf_favor_draw(&rng, Wf, c.m, c.s.dh);
	c.W = dalloc(c.m * c.s.dh);
	for (i = 0; i < c.m * c.s.dh; i++)
		c.W[i] = Wf[i];
	c.Q = dalloc(nq), c.K = dalloc(nk), c.V = dalloc(nk), c.C = dalloc(nq), c.O = dalloc(nq);
	randn(c.Q, nq, 0.8), randn(c.K, nk, 0.8), randn(c.V, nk, 1), randn(c.C, nq, 1);
	Qf = falloc(nq), Kf = falloc(nk), Vf = falloc(nk), Of = falloc(nq), Cf = falloc(nq);
	Qp = falloc(c.s.B * c.s.H * Tq * c.m), Kp = falloc(c.s.B * c.s.H * Tk * c.m);
	den = falloc(c.s.B * c.s.H * Tq), dQ = falloc(nq), dK = falloc(nk), dV = falloc(nk);
	work = falloc(mfk_tf_linear_attn_work(&c.s, c.m));
	tof(c.Q, Qf, nq), tof(c.K, Kf, nk), tof(c.V, Vf, nk), tof(c.C, Cf, nq);
	MF_OK(mfk_tf_linear_attn_forward(NULL, &c.s, Wf, c.m, Qf, c.ld, Kf, c.ld, Vf, c.ld,
									 Qp, Kp, den, Of, c.ld, work) == MF_KOK,
		  "linear attention forward runs");
	linattn_loss(&c);
	snprintf(buf, sizeof(buf), "linear attention %s vs naive reference", name);
	check_fwd(buf, Of, c.O, nq, 1e-5);
	MF_OK(mfk_tf_linear_attn_backward(NULL, &c.s, Wf, c.m, Qf, c.ld, Kf, c.ld, Vf, c.ld,
									  Qp, Kp, den, Of, Cf, c.ld, dQ, dK, dV, work) == MF_KOK,
		  "linear attention backward runs");
	{
		GVar		v[] = {{"Q", c.Q, dQ, nq}, {"K", c.K, dK, nk}, {"V", c.V, dV, nk}};

		snprintf(buf, sizeof(buf), "linear attention %s", name);
		check_grad(buf, linattn_loss, &c, v, 3, 1e-3);
	}
	free(c.W), free(c.Q), free(c.K), free(c.V), free(c.C), free(c.O), free(Wf), free(Qf), free(Kf);
	free(Vf), free(Of), free(Cf), free(Qp), free(Kp), free(den), free(dQ), free(dK), free(dV), free(work);
}

/*
 * ||linear - softmax|| / ||softmax|| for m features on one random batch;
 * *uniform gets the same error of plain (prefix) averaging of V, the
 * attention that ignores q and k, as a yardstick.
 */
static double
linear_vs_softmax(size_t m, int causal, double *uniform)
{
	enum
	{
		B = 2, T = 64, H = 2, DH = 16, D = H * DH
	};
	MfTfAttnShape s = {B, T, T, H, DH, causal, NULL, NULL};
	size_t		n = B * T * D,
				i;
	float	   *Q = falloc(n),
			   *K = falloc(n),
			   *V = falloc(n),
			   *Os = falloc(n),
			   *Ol = falloc(n),
			   *P = falloc(B * H * T * T),
			   *W = falloc(m * DH),
			   *Qp = falloc(B * H * T * m),
			   *Kp = falloc(B * H * T * m),
			   *den = falloc(B * H * T),
			   *work = falloc(mfk_tf_linear_attn_work(&s, m));
	double		num = 0,
				nrm = 0;
	MfRng		r;

	mfk_rng_seed(&r, 77);
	for (i = 0; i < n; i++)
		Q[i] = (float) (0.7 * mfk_rng_normal(&r)), K[i] = (float) (0.7 * mfk_rng_normal(&r)),
			V[i] = (float) mfk_rng_normal(&r);
	mfk_rng_seed(&r, 1000 + m);
	mfk_tf_favor_draw(&r, W, m, DH);
	mfk_tf_attn_forward(NULL, &s, Q, D, K, D, V, D, P, Os, D);
	mfk_tf_linear_attn_forward(NULL, &s, W, m, Q, D, K, D, V, D, Qp, Kp, den, Ol, D, work);
	for (i = 0; i < n; i++)
		num += (Ol[i] - Os[i]) * (double) (Ol[i] - Os[i]), nrm += Os[i] * (double) Os[i];
	if (uniform != NULL)
	{
		double		un = 0;
		size_t		b,
					t,
					j,
					c;

		for (b = 0; b < B; b++)
			for (t = 0; t < T; t++)
				for (c = 0; c < D; c++)
				{
					double		avg = 0;
					size_t		cnt = causal ? t + 1 : T;

					for (j = 0; j < cnt; j++)
						avg += V[(b * T + j) * D + c] / cnt;
					un += (avg - Os[(b * T + t) * D + c]) * (avg - Os[(b * T + t) * D + c]);
				}
		*uniform = sqrt(un / nrm);
	}
	free(Q), free(K), free(V), free(Os), free(Ol), free(P), free(W), free(Qp), free(Kp), free(den);
	free(work);
	return sqrt(num / nrm);
}

/* Features: orthogonal blocks, redraw schedule, error against softmax. */
static void
test_favor(void)
{
	float		W[12 * 4];
	size_t		i,
				j,
				k;
	double		worst = 0,
				e16,
				e1024;
	int			causal;

	mfk_tf_favor_draw(&rng, W, 12, 4);
	for (i = 0; i < 12; i++)
		for (k = i - i % 4; k < i; k++)
		{
			double		dot = 0;

			for (j = 0; j < 4; j++)
				dot += W[i * 4 + j] * W[k * 4 + j];
			worst = fmax(worst, fabs(dot));
		}
	MF_OK(worst < 1e-4, "FAVOR+ features are orthogonal within each block of dh rows");
	MF_OK(!mfk_tf_favor_redraw_due(0, 1000, 1) && mfk_tf_favor_redraw_due(1000, 1000, 1) &&
		  !mfk_tf_favor_redraw_due(1001, 1000, 1) && !mfk_tf_favor_redraw_due(1000, 1000, 0),
		  "features are redrawn every feature_redraw_interval steps when auto_check_redraw");
	for (causal = 0; causal <= 1; causal++)
	{
		double		uni;

		e16 = linear_vs_softmax(16, causal, &uni);
		e1024 = linear_vs_softmax(1024, causal, NULL);
		MF_DIAG("%s linear attention vs softmax (T 64, dh 16, q,k ~ N(0, 0.49)): relative error "
				"%.3f (16 features), %.3f (64), %.3f (256), %.3f (1024); uniform averaging %.3f",
				causal ? "causal" : "non-causal", e16, linear_vs_softmax(64, causal, NULL),
				linear_vs_softmax(256, causal, NULL), e1024, uni);
		MF_OK(e1024 < e16 && e1024 < uni,
			  causal ? "causal linear attention approaches softmax with more features"
			  : "linear attention approaches softmax with more features");
	}
}

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

/* ------------------------------------------------ arena, dropout, speed */

/* Arena: alignment, counting, exhaustion, release, peak. */
static void
test_arena(void)
{
	MfArena		c,
				a;
	float	   *p,
			   *q;
	size_t		m;
	MfTfLayerDims dims = {8, 2, 12, MF_ACT_GELU, MF_TF_LAYERNORM, 1e-5f, 0.1f, 0, 0, 0, 0};
	MfTfBatch	b = {2, 5, NULL, 0, NULL};
	MfTfLayerActs acts;
	MfTfLayer pl,
				gl;
	float		x[2 * 5 * 8] = {0},
				dx[2 * 5 * 8] = {0};
	float	   *pf = falloc(mfk_tf_layer_size(&dims, NULL));

	mfk_arena_counting(&c);
	MF_OK(mfk_arena_floats(&c, 10) == NULL && c.used == 64, "counting arena counts aligned bytes");
	MF_OK(mfk_arena_init(&a, &mfk_malloc_allocator, 256) == MF_KOK, "arena of 256 bytes");
	p = mfk_arena_floats(&a, 3);
	m = mfk_arena_mark(&a);
	q = mfk_arena_floats(&a, 20);
	MF_OK(p && q && ((uintptr_t) p % MF_ARENA_ALIGN) == 0 && ((uintptr_t) q % MF_ARENA_ALIGN) == 0,
		  "allocations are 64-byte aligned");
	MF_OK(mfk_arena_floats(&a, 64) == NULL && a.failed, "an allocation that does not fit fails");
	mfk_arena_release(&a, m);
	MF_OK(mfk_arena_floats(&a, 16) == q && a.used == 128 && a.peak == 192,
		  "release reuses the memory, the peak stays");
	mfk_arena_free(&a, &mfk_malloc_allocator);

	/* a layer given a too small arena refuses with NOMEM, no crash */
	mfk_tf_layer_bind(&dims, pf, &pl, NULL);
	mfk_tf_layer_bind(&dims, pf, &gl, NULL);
	mfk_arena_init(&a, &mfk_malloc_allocator, mfk_tf_step_bytes(&dims, &b, 1, 0));
	mfk_tf_layer_acts_carve(&dims, &b, 0, &a, &acts);
	MF_OK(mfk_tf_layer_forward(NULL, &dims, &b, &pl, x, NULL, NULL, &a, &acts) == MF_KOK,
		  "evaluation step fits its arena");
	MF_OK(mfk_tf_layer_backward(NULL, &dims, &b, &pl, &acts, x, &a, &gl, dx, NULL) == MF_KERR_NOMEM,
		  "backward without room for its scratch returns out of memory");
	mfk_arena_free(&a, &mfk_malloc_allocator);
	free(pf);
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
	static const MfAct acts[] = {MF_ACT_GELU, MF_ACT_RELU, MF_ACT_SILU,
	MF_ACT_GEGLU, MF_ACT_REGLU, MF_ACT_SWIGLU};
	size_t		i;

	openblas_set_num_threads(1);
	mfk_rng_seed(&rng, 20261205);
	test_arena();
	test_linear();
	test_embedding();
	test_norm(0);
	test_norm(1);
	for (i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
		test_act(acts[i]);
	test_attention("unmasked", 5, 5, 0, 0);
	test_attention("padded", 5, 5, 0, 1);
	test_attention("causal", 5, 5, 1, 0);
	test_attention("causal+padded", 5, 5, 1, 1);
	test_attention("cross 3x5 padded", 3, 5, 0, 1);
	test_attention_masks();
	test_linear_attention("unmasked", 5, 5, 0, 0);
	test_linear_attention("padded", 5, 5, 0, 1);
	test_linear_attention("causal (prefix sums)", 5, 5, 1, 0);
	test_linear_attention("causal+padded", 5, 5, 1, 1);
	test_linear_attention("cross 3x5 padded", 3, 5, 0, 1);
	test_linear_attention("causal+padded, 3 blocks of rows (T 130)", 130, 130, 1, 1);
	test_favor();
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
