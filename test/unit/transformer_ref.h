/*
 * transformer_ref.h - what the transformer kernel tests share: the random
 * generator, small helpers and the float64 reference path written as plain
 * loops (functions inline, so each test program uses what it needs).
 */
#ifndef MF_TRANSFORMER_REF_H
#define MF_TRANSFORMER_REF_H

#include "transformer.h"
#include "mf_test.h"

#include <cblas.h>
#include <stdlib.h>

static MfRng rng;
static double worst_fwd = 0.0;	/* over every forward comparison */
static double worst_grad = 0.0;	/* over every gradient check */

/* ------------------------------------------------------------ helpers */

/* n zeroed doubles. */
static inline double *
dalloc(size_t n)
{
	return calloc(n ? n : 1, sizeof(double));
}

/* n zeroed floats. */
static inline float *
falloc(size_t n)
{
	return calloc(n ? n : 1, sizeof(float));
}

/* x = s * N(0, 1). */
static inline void
randn(double *x, size_t n, double s)
{
	size_t		i;

	for (i = 0; i < n; i++)
		x[i] = s * mfk_rng_normal(&rng);
}

/* float copy of a double array. */
static inline void
tof(const double *x, float *y, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		y[i] = (float) x[i];
}

/* max |a - b| of a float and a double array. */
static inline double
maxdiff(const float *a, const double *b, size_t n)
{
	double		m = 0.0;
	size_t		i;

	for (i = 0; i < n; i++)
		m = fmax(m, fabs((double) a[i] - b[i]));
	return m;
}

/* sum(c * y). */
static inline double
dotc(const double *c, const double *y, size_t n)
{
	double		s = 0.0;
	size_t		i;

	for (i = 0; i < n; i++)
		s += c[i] * y[i];
	return s;
}

/* Record a forward comparison. */
static inline void
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
static inline double
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
static inline void
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
static inline void
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
static inline void
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
static inline void
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
static inline void
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
static inline void
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
static inline void
ref_dropout(double p, const unsigned char *mask, double *x, size_t n)
{
	size_t		i;

	if (mask == NULL)
		return;
	for (i = 0; i < n; i++)
		x[i] = mask[i] ? x[i] / (1 - p) : 0;
}

/* Offset of a named tensor in a layer's table. */
static inline size_t
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
static inline size_t
norm_off(const RefLayer *L, const char *prefix, int k, const char *suffix)
{
	char		name[64];

	snprintf(name, sizeof(name), "%s%d.%s", prefix, k + 1, suffix);
	return tensor_off(L->tab, L->nt, name);
}

/* Norm k (or identity for ReZero) of a sublayer; *scale = its branch scale. */
static inline void
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


static inline void ref_linear_attention(const MfTfAttnShape *s, const double *W, size_t m,
								 const double *Q, const double *K, const double *V,
								 size_t ld, double *O);
/*
 * An attention sublayer in float64: xout = x + k * drop(MHA(norm(x), src)),
 * queries from the normed x, keys and values from src (NULL: the normed x).
 */
static inline void
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
static inline void
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


/* Reference embedding: tok[id] + pos[t]. */
static inline void
ref_embed(const int32_t *ids, size_t B, size_t T, size_t d, const double *tok,
		  const double *pos, double *Y)
{
	size_t		i,
				j;

	for (i = 0; i < B * T; i++)
		for (j = 0; j < d; j++)
			Y[i * d + j] = tok[ids[i] * d + j] + pos[(i % T) * d + j];
}


/* FAVOR+ features of one row in float64, without stabiliser. */
static inline void
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
static inline void
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

#endif							/* MF_TRANSFORMER_REF_H */
