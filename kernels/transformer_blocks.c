/*
 * transformer_blocks.c - the row-wise blocks of a transformer: linear
 * layers in PyTorch's weight layout, token + position embeddings,
 * LayerNorm, ScaleNorm, the FFN activations (plain and gated) and inverted
 * dropout, all float32, forward and backward.
 *
 * Design note: weights are out x in (PyTorch's nn.Linear), so the forward
 * pass is one sgemm(NoTrans, Trans) and the backward pass dW += dY' X
 * (Trans, NoTrans) and dX += dY W (NoTrans, NoTrans), each with beta = 1:
 * every backward here adds (see transformer.h).  Norm statistics are
 * accumulated in double per row, so a float32 LayerNorm of wide rows loses
 * nothing to cancellation; elementwise activations reuse activations.c's
 * float32 forms mfk_act_scalar_f / mfk_act_deriv_f (own erf, expf; the double
 * forms cost 8 % of a step), so each function is defined in one file.
 */
#include "transformer.h"
#include "vecmath.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Y = X W' + b. */
void
mfk_tf_linear_forward(const float *X, size_t n, size_t in, const float *W,
					  const float *b, size_t out, float *Y)
{
	size_t		i;

	if (n == 0 || out == 0)
		return;
	if (b != NULL)
		for (i = 0; i < n; i++)
			memcpy(Y + i * out, b, out * sizeof(float));
	else
		memset(Y, 0, n * out * sizeof(float));
	if (in == 0)
		return;
	if (n == 1)					/* one row (decoding): sgemm would pack all of W */
		cblas_sgemv(CblasRowMajor, CblasNoTrans, (int) out, (int) in, 1.0f, W,
					(int) in, X, 1, 1.0f, Y, 1);
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) n, (int) out,
					(int) in, 1.0f, X, (int) in, W, (int) in, 1.0f, Y, (int) out);
}

/* dW += dY' X, db += colsum(dY), dX += dY W. */
void
mfk_tf_linear_backward(const float *X, size_t n, size_t in, const float *W,
					   size_t out, const float *dY, float *dW, float *db,
					   float *dX)
{
	size_t		i,
				j;

	if (n == 0 || out == 0)
		return;
	if (dW != NULL && in > 0)
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) out,
					(int) in, (int) n, 1.0f, dY, (int) out, X, (int) in, 1.0f,
					dW, (int) in);
	if (db != NULL)
		for (i = 0; i < n; i++)
			for (j = 0; j < out; j++)
				db[j] += dY[i * out + j];
	if (dX != NULL && in > 0)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) n,
					(int) in, (int) out, 1.0f, dY, (int) out, W, (int) in,
					1.0f, dX, (int) in);
}

/* Y = tok[ids] + pos[t]. */
void
mfk_tf_embed_forward(const int32_t *ids, size_t B, size_t T, size_t d,
					 const float *tok, const float *pos, float *Y)
{
	size_t		i,
				j;

	for (i = 0; i < B * T; i++)
	{
		const float *e = tok + (size_t) ids[i] * d;
		const float *p = pos + (i % T) * d;
		float	   *y = Y + i * d;

		for (j = 0; j < d; j++)
			y[j] = e[j] + p[j];
	}
}

/* Scatter-add the gradient into the used embedding rows. */
void
mfk_tf_embed_backward(const int32_t *ids, size_t B, size_t T, size_t d,
					  const float *dY, float *dtok, float *dpos)
{
	size_t		i,
				j;

	for (i = 0; i < B * T; i++)
	{
		const float *g = dY + i * d;

		if (dtok != NULL)
		{
			float	   *e = dtok + (size_t) ids[i] * d;

			for (j = 0; j < d; j++)
				e[j] += g[j];
		}
		if (dpos != NULL)
		{
			float	   *p = dpos + (i % T) * d;

			for (j = 0; j < d; j++)
				p[j] += g[j];
		}
	}
}

/* LayerNorm forward, statistics in double. */
MFK_VEC_CLONES void
mfk_tf_layernorm_forward(const float *X, size_t n, size_t d, const float *w,
						 const float *b, float eps, float *Y, float *mean,
						 float *rstd)
{
	size_t		i,
				j,
				l;

	for (i = 0; i < n; i++)
	{
		const float *x = X + i * d;
		float	   *y = Y + i * d;
		double		m = mfk_vec_sum_d(x, d) / (double) d,
					v = 0.0,
					lane[8] = {0};
		float		mf,
					rf;

		for (j = 0; j + 8 <= d; j += 8)
			for (l = 0; l < 8; l++)
				lane[l] += ((double) x[j + l] - m) * ((double) x[j + l] - m);
		for (; j < d; j++)
			v += ((double) x[j] - m) * ((double) x[j] - m);
		for (l = 0; l < 8; l++)
			v += lane[l];
		v /= (double) d;
		mf = (float) m;
		rf = (float) (1.0 / sqrt(v + (double) eps));
		mean[i] = mf;
		rstd[i] = rf;
		for (j = 0; j < d; j++)
			y[j] = (x[j] - mf) * rf * w[j] + b[j];
	}
}

/*
 * LayerNorm backward: with xh = (x - m) r and g = dy * w,
 * dx = r (g - mean(g) - xh mean(g xh)).
 */
void
mfk_tf_layernorm_backward(const float *X, size_t n, size_t d, const float *w,
						  const float *mean, const float *rstd,
						  const float *dY, float *dX, float *dw, float *db)
{
	size_t		i,
				j;

	for (i = 0; i < n; i++)
	{
		const float *x = X + i * d;
		const float *dy = dY + i * d;
		float		m = mean[i],
					r = rstd[i];
		double		sg = 0.0,
					sgx = 0.0;
		float		mg,
					mgx;

		for (j = 0; j < d; j++)
		{
			float		xh = (x[j] - m) * r;
			float		g = dy[j] * w[j];

			sg += g;
			sgx += (double) g * xh;
			if (dw != NULL)
				dw[j] += dy[j] * xh;
			if (db != NULL)
				db[j] += dy[j];
		}
		mg = (float) (sg / (double) d);
		mgx = (float) (sgx / (double) d);
		if (dX != NULL)
			for (j = 0; j < d; j++)
			{
				float		xh = (x[j] - m) * r;

				dX[i * d + j] += r * (dy[j] * w[j] - mg - xh * mgx);
			}
	}
}

/* ScaleNorm forward. */
void
mfk_tf_scalenorm_forward(const float *X, size_t n, size_t d, const float *g,
						 float eps, float *Y, float *norm)
{
	size_t		i,
				j;

	for (i = 0; i < n; i++)
	{
		const float *x = X + i * d;
		double		s = 0.0;
		float		nr,
					k;

		for (j = 0; j < d; j++)
			s += (double) x[j] * x[j];
		nr = (float) sqrt(s);
		if (nr < eps)
			nr = eps;
		norm[i] = nr;
		k = g[0] / nr;
		for (j = 0; j < d; j++)
			Y[i * d + j] = x[j] * k;
	}
}

/*
 * ScaleNorm backward: y = g x / nr; dg += sum(dy x) / nr and, when the norm
 * is not clamped, dx = (g / nr) (dy - x (dy . x) / nr^2).
 */
void
mfk_tf_scalenorm_backward(const float *X, size_t n, size_t d, const float *g,
						  float eps, const float *norm, const float *dY,
						  float *dX, float *dg)
{
	size_t		i,
				j;
	double		sdg = 0.0;

	for (i = 0; i < n; i++)
	{
		const float *x = X + i * d;
		const float *dy = dY + i * d;
		double		dot = 0.0;
		float		nr = norm[i];
		float		k = g[0] / nr;
		float		c;

		for (j = 0; j < d; j++)
			dot += (double) dy[j] * x[j];
		sdg += dot / nr;
		if (dX == NULL)
			continue;
		c = nr > eps ? (float) (dot / ((double) nr * nr)) : 0.0f;
		for (j = 0; j < d; j++)
			dX[i * d + j] += k * (dy[j] - x[j] * c);
	}
	if (dg != NULL)
		dg[0] += (float) sdg;
}

/* a = act(h) (gated: value * act(gate)). */
void
mfk_tf_act_forward(MfAct act, const float *h, float *a, size_t n, size_t f)
{
	MfAct		base = mfk_act_gate_base(act);
	size_t		i,
				j;

	if (!mfk_act_is_gated(act))
	{
		mfk_act_forward_f(act, h, a, n * f);
		return;
	}
	for (i = 0; i < n; i++)
	{
		const float *v = h + i * 2 * f;
		const float *gt = v + f;

		for (j = 0; j < f; j++)
			a[i * f + j] = v[j] * mfk_act_scalar_f(base, gt[j]);
	}
}

/* dh += da * act'(h); gated: dv += da act(g), dg += da v act'(g). */
void
mfk_tf_act_backward(MfAct act, const float *h, const float *da, float *dh,
					size_t n, size_t f)
{
	MfAct		base = mfk_act_gate_base(act);
	size_t		i,
				j;

	if (!mfk_act_is_gated(act))
	{
		mfk_act_backward_add_f(act, h, da, dh, n * f);
		return;
	}
	for (i = 0; i < n; i++)
	{
		const float *dar = da + i * f;

		for (j = 0; j < f; j++)
		{
			const float *v = h + i * 2 * f;
			float	   *dv = dh + i * 2 * f;
			float		gt = v[f + j];

			dv[j] += dar[j] * mfk_act_scalar_f(base, gt);
			dv[f + j] += dar[j] * v[j] * mfk_act_deriv_f(base, gt);
		}
	}
}

/* Inverted dropout: keep with probability 1 - p, scale by 1 / (1 - p). */
void
mfk_tf_dropout_forward(MfRng *rng, float p, float *x, unsigned char *mask,
					   size_t n)
{
	size_t		i;
	float		scale;

	if (mask == NULL || rng == NULL || p <= 0.0f)
		return;
	scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
	for (i = 0; i < n; i++)
	{
		mask[i] = mfk_rng_uniform(rng) >= (double) p;
		x[i] = mask[i] ? x[i] * scale : 0.0f;
	}
}

/* Backward of inverted dropout, in place. */
void
mfk_tf_dropout_backward(float p, const unsigned char *mask, float *dy,
						size_t n)
{
	size_t		i;
	float		scale;

	if (mask == NULL || p <= 0.0f)
		return;
	scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
	for (i = 0; i < n; i++)
		dy[i] = mask[i] ? dy[i] * scale : 0.0f;
}
