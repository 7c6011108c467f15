/*
 * test_drift.c - quantile edges, PSI, two-sample KS and the reference
 * sample against values computed by hand (kernels/drift.c).
 */
#include "drift.h"

#include <math.h>
#include <stdlib.h>

#include "mf_test.h"

/* Deciles of 1..10 and of a feature with two values (repeats dropped). */
static void
test_edges(void)
{
	double		v[10],
				e[9];
	double		ties[10] = {1, 1, 1, 1, 1, 2, 2, 2, 2, 2};
	size_t		k;
	int			ok = 1;

	for (int i = 0; i < 10; i++)
		v[i] = i + 1;
	k = mf_drift_edges(v, 10, 10, e);
	/* quantile i/10 of 1..10: h = 0.9 i, so 1 + 0.9 i */
	MF_OK(k == 9, "deciles of 1..10: nine edges");
	for (int i = 0; i < 9; i++)
		ok &= fabs(e[i] - (1.0 + 0.9 * (i + 1))) < 1e-12;
	MF_OK(ok, "deciles of 1..10 are 1.9, 2.8, ..., 9.1");
	k = mf_drift_edges(ties, 10, 10, e);
	/* h = 0.9 i: 1 for i <= 4 (h < 4), 1.5 at h = 4.5, 2 from h = 5.4 */
	MF_OK(k == 3 && e[0] == 1.0 && e[1] == 1.5 && e[2] == 2.0, "two values: edges 1, 1.5, 2 (repeats dropped)");
	MF_OK(mf_drift_edges(v, 0, 10, e) == 0, "no values: no edges");
	k = mf_drift_edges(v, 1, 10, e);
	MF_OK(k == 1 && e[0] == 1.0, "one value: one edge at it");
}

/* Ascending doubles (qsort). */
static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* Edges by selection equal the sorted ones bit for bit (ties, small n, sorted and reversed input). */
static void
test_edges_unsorted(void)
{
	size_t		sizes[] = {1, 2, 3, 7, 10, 11, 100, 1001, 20000};
	int			ok = 1;
	MfRng		r;

	mfk_rng_seed(&r, 7);
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
		for (int kind = 0; kind < 4; kind++)
		{
			size_t		n = sizes[si];
			double	   *v = malloc(sizeof(double) * n),
					   *s = malloc(sizeof(double) * n);
			double		e1[9],
						e2[9];
			size_t		k1,
						k2;

			for (size_t i = 0; i < n; i++)
				v[i] = kind == 0 ? mfk_rng_normal(&r) : kind == 1 ? (double) mfk_rng_below(&r, 4) :
					kind == 2 ? (double) i : (double) (n - i);
			memcpy(s, v, sizeof(double) * n);
			qsort(s, n, sizeof(double), cmp_double);
			k1 = mf_drift_edges(s, n, 10, e1);
			k2 = mf_drift_edges_unsorted(v, n, 10, e2);
			ok &= k1 == k2 && memcmp(e1, e2, sizeof(double) * k1) == 0;
			free(v);
			free(s);
		}
	MF_OK(ok, "edges by selection equal the edges of the sorted values (36 inputs, ties, sorted, reversed)");
}

/* Bins are closed on the right: (e[i-1], e[i]]. */
static void
test_bins(void)
{
	double		e[3] = {1, 2, 3};

	MF_OK(mf_drift_bin(e, 3, 0.5) == 0, "below the first edge: bin 0");
	MF_OK(mf_drift_bin(e, 3, 1.0) == 0, "on the first edge: bin 0");
	MF_OK(mf_drift_bin(e, 3, 1.5) == 1, "between edges 1 and 2: bin 1");
	MF_OK(mf_drift_bin(e, 3, 3.0) == 2, "on the last edge: bin 2");
	MF_OK(mf_drift_bin(e, 3, 3.1) == 3, "above the last edge: the last bin");
	MF_OK(mf_drift_bin(e, 0, 42.0) == 0, "no edges: one bin");
}

/* The branch-free histograms bin as mf_drift_bin, two columns of three, skipping. */
static void
test_histogram(void)
{
	double		e[2 * MF_DRIFT_BINS] = {1, 2, 3};
	double		X[18] = {0.5, 9, 5, 1.0, 9, 5, 1.5, 9, 5, 3.0, 9, 5, 3.1, 9, 5, 2.0, 9, 5};
	bool		skip0[6] = {false, false, false, false, false, true};
	const bool *skip[2] = {skip0, NULL};
	size_t		cols[2] = {0, 2},
				ne[2] = {3, 0};
	int64_t		c[2 * MF_DRIFT_BINS] = {0};

	mf_drift_histograms(X, 6, 3, cols, 2, skip, e, ne, c);
	/* column 0: 0.5, 1.0 -> 0; 1.5 -> 1; 3.0 -> 2; 3.1 -> 3; 2.0 skipped; column 2: no edges */
	MF_OK(c[0] == 2 && c[1] == 1 && c[2] == 1 && c[3] == 1, "histograms: bins closed on the right, skip");
	MF_OK(c[MF_DRIFT_BINS] == 6, "histograms: a column without edges is one bin");
}

/* PSI by hand. */
static void
test_psi(void)
{
	double		r1[2] = {50, 50},
				c1[2] = {25, 75};
	double		r2[2] = {100, 0},
				c2[2] = {90, 10};
	double		r3[3] = {1, 2, 3},
				c3[3] = {2, 4, 6};
	double		z[2] = {0, 0};

	/* (0.25 - 0.5) ln(0.5) + (0.75 - 0.5) ln(1.5) = 0.25 ln 3 */
	MF_CLOSE(mf_drift_psi(r1, c1, 2, MF_DRIFT_PSI_EPSILON), 0.25 * log(3.0), 1e-15, "psi 50/50 -> 25/75 = ln(3)/4");
	MF_CLOSE(mf_drift_psi(r1, c1, 2, MF_DRIFT_PSI_EPSILON), mf_drift_psi(c1, r1, 2, MF_DRIFT_PSI_EPSILON), 1e-15,
			 "psi is symmetric");
	/* the empty reference bin counts as 1e-4: (0.9 - 1) ln 0.9 + (0.1 - 1e-4) ln(0.1 / 1e-4) */
	MF_CLOSE(mf_drift_psi(r2, c2, 2, 1e-4), -0.1 * log(0.9) + 0.0999 * log(1000.0), 1e-14,
			 "psi with an empty reference bin uses epsilon 1e-4");
	MF_CLOSE(mf_drift_psi(r3, c3, 3, 1e-4), 0.0, 1e-15, "psi of the same shares is 0");
	MF_OK(isnan(mf_drift_psi(z, c1, 2, 1e-4)), "psi without reference rows is NaN");
	MF_OK(isnan(mf_drift_psi(r1, z, 2, 1e-4)), "psi without current rows is NaN");
}

/* KS by hand (the values scipy.stats.ks_2samp gives). */
static void
test_ks(void)
{
	double		a[4] = {1, 2, 3, 4},
				b[4] = {3, 4, 5, 6};
	double		ta[3] = {1, 1, 2},
				tb[3] = {1, 2, 2};
	double		d1[2] = {1, 2},
				d2[3] = {3, 4, 5};
	double		one[1] = {2.5};

	/* CDF gaps at 1..6: .25 .5 .5 .5 .25 0 */
	MF_CLOSE(mf_drift_ks(a, 4, b, 4), 0.5, 1e-15, "ks of 1..4 and 3..6 is 0.5");
	/* at 1: 2/3 - 1/3; at 2: 1 - 1 */
	MF_CLOSE(mf_drift_ks(ta, 3, tb, 3), 1.0 / 3.0, 1e-15, "ks with ties counts every equal value");
	MF_CLOSE(mf_drift_ks(d1, 2, d2, 3), 1.0, 1e-15, "ks of disjoint samples is 1");
	MF_CLOSE(mf_drift_ks(a, 4, a, 4), 0.0, 1e-15, "ks of a sample with itself is 0");
	/* at 1: .25; at 2: .5; at 2.5: .5 - 1; at 3: .75 - 1; at 4: 0 */
	MF_CLOSE(mf_drift_ks(a, 4, one, 1), 0.5, 1e-15, "ks against one value 2.5 is 0.5");
	MF_OK(isnan(mf_drift_ks(a, 4, b, 0)), "ks with an empty sample is NaN");
}

/* Statuses at the thresholds. */
static void
test_status(void)
{
	MF_STR_EQ(mf_drift_status(0.0999), "ok", "psi 0.0999 is ok");
	MF_STR_EQ(mf_drift_status(0.1), "warning", "psi 0.1 is a warning");
	MF_STR_EQ(mf_drift_status(0.2499), "warning", "psi 0.2499 is a warning");
	MF_STR_EQ(mf_drift_status(0.25), "drift", "psi 0.25 is drift");
	MF_OK(mf_drift_status(NAN) == NULL, "no status for NaN");
}

/* The sample: all when few, exactly k ascending distinct, seeded. */
static void
test_sample(void)
{
	size_t		n = 100000,
				k = MF_DRIFT_SAMPLE_MAX;
	size_t	   *s1 = malloc(sizeof(size_t) * k),
			   *s2 = malloc(sizeof(size_t) * k);
	size_t		few[20];
	MfRng		r;
	int			ascending = 1,
				same = 1;
	double		mean = 0.0;
	size_t		m;

	mfk_rng_seed(&r, MF_DRIFT_SAMPLE_SEED);
	m = mf_drift_sample(&r, 10, 20, few);
	MF_OK(m == 10 && few[0] == 0 && few[9] == 9, "k >= n takes every index");
	mfk_rng_seed(&r, MF_DRIFT_SAMPLE_SEED);
	m = mf_drift_sample(&r, n, k, s1);
	mfk_rng_seed(&r, MF_DRIFT_SAMPLE_SEED);
	(void) mf_drift_sample(&r, n, k, s2);
	MF_OK(m == k, "exactly k indexes");
	for (size_t i = 0; i < k; i++)
	{
		ascending &= i == 0 || s1[i] > s1[i - 1];
		same &= s1[i] == s2[i];
		mean += (double) s1[i] / k;
	}
	MF_OK(ascending && s1[k - 1] < n, "ascending, distinct, in range");
	MF_OK(same, "the same seed gives the same sample");
	/* uniform: the mean index is n/2 with sd n/sqrt(12 k) ~ 913; allow 5 sd */
	MF_OK(fabs(mean - n / 2.0) < 5 * n / sqrt(12.0 * k), "the mean index is near n/2");
	free(s1);
	free(s2);
}

int
main(void)
{
	test_edges();
	test_edges_unsorted();
	test_bins();
	test_histogram();
	test_psi();
	test_ks();
	test_status();
	test_sample();
	return mf_test_done();
}
