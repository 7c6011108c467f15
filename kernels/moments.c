/*
 * moments.c - blocked column means and variances (see moments.h).
 */
#include "moments.h"

#include <string.h>

/*
 * Mean (relative to the pivot K) and squared-deviation sum of one block of
 * rows, two sweeps while it is in cache.  Summing x - K with K near the
 * data keeps the block sums small, so they round like the deviations.
 */
static void
MfMomentsBlock(const double *X, size_t p, const size_t *idx, size_t r0, size_t r1,
			   const double *K, double *bmean, double *bm2)
{
	double		inv = 1.0 / (double) (r1 - r0);

	memset(bmean, 0, p * sizeof(double));
	memset(bm2, 0, p * sizeof(double));
	for (size_t r = r0; r < r1; r++)
	{
		const double *x = X + (idx ? idx[r] : r) * p;

		for (size_t j = 0; j < p; j++)
			bmean[j] += x[j] - K[j];
	}
	for (size_t j = 0; j < p; j++)
		bmean[j] *= inv;
	for (size_t r = r0; r < r1; r++)
	{
		const double *x = X + (idx ? idx[r] : r) * p;

		for (size_t j = 0; j < p; j++)
		{
			double		d = (x[j] - K[j]) - bmean[j];

			bm2[j] += d * d;
		}
	}
}

/* Column means and squared-deviation sums of selected rows (moments.h). */
int
mf_row_moments(const double *X, size_t p, const size_t *idx, size_t n,
			   double *mean, double *m2, double *scratch)
{
	double	   *bmean = scratch,
			   *bm2 = scratch + p;
	const double *K;			/* pivot: the first row */
	size_t		seen = 0;

	if ((p > 0 && (mean == NULL || m2 == NULL || scratch == NULL)) || (n > 0 && X == NULL))
		return -1;
	memset(mean, 0, p * sizeof(double));
	memset(m2, 0, p * sizeof(double));
	if (n == 0)
		return 0;
	K = X + (idx ? idx[0] : 0) * p;
	/* mean[] holds the running mean relative to K until the end */
	for (size_t r0 = 0; r0 < n; r0 += MF_MOMENTS_BLOCK)
	{
		size_t		r1 = r0 + MF_MOMENTS_BLOCK < n ? r0 + MF_MOMENTS_BLOCK : n;
		double		nb = (double) (r1 - r0),
					na = (double) seen,
					nt = na + nb;

		MfMomentsBlock(X, p, idx, r0, r1, K, bmean, bm2);
		for (size_t j = 0; j < p; j++)
		{
			double		delta = bmean[j] - mean[j];

			mean[j] += delta * (nb / nt);
			m2[j] += bm2[j] + delta * delta * (na * nb / nt);
		}
		seen = r1;
	}
	for (size_t j = 0; j < p; j++)
		mean[j] += K[j];
	return 0;
}
