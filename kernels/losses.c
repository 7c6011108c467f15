/*
 * losses.c - MSE, binary cross-entropy from logits and categorical
 * cross-entropy from logits, each with its gradient.
 *
 * The cross-entropies never form probabilities first: BCE uses
 * max(z,0) - z y + log1p(exp(-|z|)) and CCE uses the log-softmax, so large
 * logits neither overflow nor lose precision.
 */
#include "mf_kernels.h"

#include <math.h>

/* (1/(n k)) sum (pred - y)^2; grad = 2 (pred - y) / (n k). */
double
mfk_loss_mse(const double *pred, const double *y, size_t n, size_t k,
			 double *grad)
{
	size_t		i,
				m = n * k;
	double		s = 0.0;
	double		inv;

	if (m == 0)
		return 0.0;
	inv = 1.0 / (double) m;
	for (i = 0; i < m; i++)
	{
		double		d = pred[i] - y[i];

		s += d * d;
		if (grad != NULL)
			grad[i] = 2.0 * d * inv;
	}
	return s * inv;
}

/* Mean BCE over n logits; grad = (sigmoid(z) - y) / n. */
double
mfk_loss_bce_logits(const double *z, const double *y, size_t n, double *grad)
{
	size_t		i;
	double		s = 0.0;
	double		inv;

	if (n == 0)
		return 0.0;
	inv = 1.0 / (double) n;
	for (i = 0; i < n; i++)
	{
		double		zi = z[i];

		s += (zi > 0 ? zi : 0.0) - zi * y[i] + log1p(exp(-fabs(zi)));
		if (grad != NULL)
			grad[i] = (mfk_sigmoid(zi) - y[i]) * inv;
	}
	return s * inv;
}

/* Mean CCE over n rows of k logits; grad = (softmax(z) - onehot(y)) / n. */
double
mfk_loss_cce_logits(const double *z, const int *y, size_t n, size_t k,
					double *grad)
{
	size_t		i,
				j;
	double		s = 0.0;
	double		inv;

	if (n == 0 || k == 0)
		return 0.0;
	inv = 1.0 / (double) n;
	for (i = 0; i < n; i++)
	{
		const double *zr = z + i * k;
		double		m = zr[0];
		double		se = 0.0;
		double		lse;
		size_t		c = (size_t) y[i];

		for (j = 1; j < k; j++)
			if (zr[j] > m)
				m = zr[j];
		for (j = 0; j < k; j++)
			se += exp(zr[j] - m);
		lse = m + log(se);
		s += lse - zr[c];
		if (grad != NULL)
		{
			double	   *g = grad + i * k;

			for (j = 0; j < k; j++)
				g[j] = exp(zr[j] - lse) * inv;
			g[c] -= inv;
		}
	}
	return s * inv;
}
