/*
 * test_moments.c - blocked column moments against a long double two-pass.
 */
#include "moments.h"

#include <stdint.h>
#include <stdlib.h>

#include "mf_test.h"

/* A uniform draw in [0, 1) from a 64-bit LCG (test data only). */
static double
unit_draw(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double) (*s >> 11) / 9007199254740992.0;
}

/* Two-pass moments over all rows at once in long double: the reference. */
static void
ref_moments(const double *X, size_t p, const size_t *idx, size_t n, double *mean, double *m2)
{
	for (size_t j = 0; j < p; j++)
	{
		long double s = 0,
					ss = 0,
					mu;

		for (size_t r = 0; r < n; r++)
			s += X[(idx ? idx[r] : r) * p + j];
		mu = n ? s / n : 0;
		for (size_t r = 0; r < n; r++)
		{
			long double d = X[(idx ? idx[r] : r) * p + j] - mu;

			ss += d * d;
		}
		mean[j] = (double) mu;
		m2[j] = (double) ss;
	}
}

/* Compare mf_row_moments with the long double reference on one shape. */
static void
check_shape(size_t rows, size_t p, double offset, int every, double outlier, const char *what)
{
	double	   *X = malloc(sizeof(double) * rows * p);
	size_t	   *idx = malloc(sizeof(size_t) * rows);
	double		mean[8], m2[8], rmean[8], rm2[8], scratch[16];
	double		worst_mean = 0, worst_m2 = 0;
	uint64_t	s = 7 + rows;
	size_t		n = 0;
	char		name[160];

	for (size_t i = 0; i < rows * p; i++)
		X[i] = offset + (i % p + 1) * (unit_draw(&s) - 0.5);
	for (size_t j = 0; j < p; j++)
		X[j] += outlier;		/* the first row, which is the pivot */
	for (size_t r = 0; r < rows; r++)
		if (every <= 1 || r % every != 0)
			idx[n++] = r;
	MF_OK(mf_row_moments(X, p, idx, n, mean, m2, scratch) == 0, "moments returns 0");
	ref_moments(X, p, idx, n, rmean, rm2);
	for (size_t j = 0; j < p; j++)
	{
		worst_mean = fmax(worst_mean, fabs(mean[j] - rmean[j]) / fmax(1.0, fabs(rmean[j])));
		worst_m2 = fmax(worst_m2, fabs(m2[j] - rm2[j]) / fmax(1e-300, fabs(rm2[j])));
	}
	snprintf(name, sizeof(name), "%s: means within 1e-14 (worst %.1e)", what, worst_mean);
	MF_OK(worst_mean <= 1e-14, name);
	/* a two-pass over all rows in double gets 1.3e-11 on the 3e8 offset */
	snprintf(name, sizeof(name), "%s: squared deviations within 1e-13 (worst %.1e)",
			 what, worst_m2);
	MF_OK(n < 2 || worst_m2 <= 1e-13, name);
	free(X);
	free(idx);
}

int
main(void)
{
	double		X[6] = {1, 10, 2, 20, 4, 40};
	size_t		idx[3] = {0, 1, 2};
	double		mean[2], m2[2], scratch[4], mean2[2], m22[2];

	check_shape(1, 3, 0.0, 0, 0.0, "one row");
	check_shape(MF_MOMENTS_BLOCK, 5, 0.0, 0, 0.0, "one full block");
	check_shape(10 * MF_MOMENTS_BLOCK + 17, 7, 0.0, 0, 0.0, "ragged last block");
	check_shape(20000, 8, 1e6, 5, 0.0, "offset 1e6, every 5th row left out");
	check_shape(20000, 3, -3e8, 3, 0.0, "offset -3e8, every 3rd row left out");
	check_shape(20000, 4, 1e6, 0, 1e4, "offset 1e6, first row (the pivot) 1e4 away");

	MF_OK(mf_row_moments(X, 2, NULL, 3, mean, m2, scratch) == 0, "all rows without idx");
	MF_CLOSE(mean[0], 7.0 / 3.0, 1e-15, "mean of 1, 2, 4");
	MF_CLOSE(m2[1], 100.0 * (1 + 4 + 16 - 49.0 / 3.0), 1e-13, "m2 of 10, 20, 40");
	mf_row_moments(X, 2, idx, 3, mean2, m22, scratch);
	MF_OK(memcmp(mean, mean2, sizeof(mean)) == 0 && memcmp(m2, m22, sizeof(m2)) == 0,
		  "identity idx gives the same bits as no idx");
	MF_OK(mf_row_moments(X, 2, NULL, 0, mean, m2, scratch) == 0 && mean[0] == 0 && m2[1] == 0,
		  "no rows: zeros");
	MF_OK(mf_row_moments(X, 2, NULL, 3, mean, m2, NULL) == -1, "missing scratch is refused");
	return mf_test_done();
}
