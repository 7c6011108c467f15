/*
 * test_rng.c - PRNG: known answers, reproducibility, uniform and normal
 * moments, bounded integers, shuffles, the train/test split against the
 * per-class scans it replaced.
 */
#include "mf_kernels.h"
#include "mf_test.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

/*
 * The split as MfSplit did it before mfk_split_rows: one scan per class,
 * a shuffle, a bool per row, one output pass.  Returns n_test.
 */
static size_t
ref_split(uint64_t seed, const int *y, int k, size_t n, double test_size,
		  size_t *train, size_t *test)
{
	bool	   *is_test = calloc(n + 1, sizeof(bool));
	size_t	   *perm = malloc((n + 1) * sizeof(size_t));
	size_t		nt = 0,
				nr = 0;
	MfRng		rng;

	mfk_rng_seed(&rng, seed);
	if (y != NULL)
	{
		for (int c = 0; c < k; c++)
		{
			size_t		cnt = 0,
						take;

			for (size_t i = 0; i < n; i++)
				if (y[i] == c)
					perm[cnt++] = i;
			mfk_rng_shuffle(&rng, perm, cnt);
			take = (size_t) floor(cnt * test_size + 0.5);
			if (take >= cnt && cnt > 0)
				take = cnt - 1;
			for (size_t i = 0; i < take; i++)
				is_test[perm[i]] = true;
		}
	}
	else
	{
		size_t		take = (size_t) floor(n * test_size + 0.5);

		if (take >= n)
			take = n - 1;
		mfk_rng_permutation(&rng, perm, n);
		for (size_t i = 0; i < take; i++)
			is_test[perm[i]] = true;
	}
	for (size_t i = 0; i < n; i++)
	{
		if (is_test[i])
			test[nt++] = i;
		else
			train[nr++] = i;
	}
	free(perm);
	free(is_test);
	return nt;
}

/* mfk_split_rows equals ref_split on one label vector (y NULL: unstratified). */
static bool
split_agrees(uint64_t seed, const int *y, int k, size_t n, double test_size)
{
	size_t	   *rtrain = malloc((n + 1) * sizeof(size_t)),
			   *rtest = malloc((n + 1) * sizeof(size_t)),
			   *train = malloc((n + 1) * sizeof(size_t)),
			   *test,
			   *count = malloc((size_t) (k + 1) * sizeof(size_t));
	uint64_t   *bits = malloc((n / 64 + 1) * sizeof(uint64_t));
	size_t		rn = ref_split(seed, y, k, n, test_size, rtrain, rtest),
				nt = mfk_split_test_rows(y, k, n, test_size, count);
	bool		same = rn == nt;
	MfRng		rng;

	test = malloc((nt + 1) * sizeof(size_t));
	mfk_rng_seed(&rng, seed);
	mfk_split_rows(&rng, y, k, count, n, test_size, train, test, bits);
	same = same && memcmp(test, rtest, nt * sizeof(size_t)) == 0 &&
		memcmp(train, rtrain, (n - nt) * sizeof(size_t)) == 0;
	free(rtrain);
	free(rtest);
	free(train);
	free(test);
	free(count);
	free(bits);
	return same;
}

/* The split on random labels: k, n, skew, test_size and seeds varied. */
static void
test_split(void)
{
	static const double sizes[] = {0.2, 0.5, 0.01, 0.33, 0.999, 1.0};
	int			cases = 0,
				bad = 0;
	MfRng		g;

	mfk_rng_seed(&g, 2024);
	for (int t = 0; t < 600; t++)
	{
		size_t		n = t < 200 ? (size_t) t : (size_t) mfk_rng_below(&g, 20000) + 1;
		int			k = 1 + (int) mfk_rng_below(&g, 5);
		double		ts = sizes[t % 6];
		uint64_t	skew = mfk_rng_below(&g, 4);
		int		   *y = malloc((n + 1) * sizeof(int));

		for (size_t i = 0; i < n; i++)
		{
			/* skew 0: uniform; 1: class 0 rare; 2: k - 1 unused; 3: some out of range */
			int			c = (int) mfk_rng_below(&g, (uint64_t) k);

			if (skew == 1 && c == 0 && mfk_rng_below(&g, 20) != 0)
				c = k - 1;
			if (skew == 2 && k > 1 && c == k - 1)
				c = 0;
			if (skew == 3 && mfk_rng_below(&g, 10) == 0)
				c = mfk_rng_below(&g, 2) ? -1 : k;
			y[i] = c;
		}
		cases++;
		bad += !split_agrees(1000 + (uint64_t) t, y, k, n, ts);
		if (n > 0)				/* the old unstratified split took n - 1 of 0 */
		{
			cases++;
			bad += !split_agrees(7 * (uint64_t) t, NULL, 0, n, ts);
		}
		free(y);
	}
	if (!MF_OK(bad == 0, "split rows equal the per-class scans on random labels"))
		MF_DIAG("%d of %d cases differ", bad, cases);
}

int
main(void)
{
	MfRng		a,
				b;
	int			i,
				same = 1,
				inrange = 1;
	size_t		N = 1000000;
	double		s = 0,
				s2 = 0,
				s3 = 0,
				s4 = 0,
				chi = 0;
	int			bins[10] = {0};
	uint64_t	first;

	/* known answers: splitmix64(0) and one xoshiro256** step */
	mfk_rng_seed(&a, 0);
	MF_OK(a.s[0] == UINT64_C(0xe220a8397b1dcdaf), "splitmix64 seeding known answer");
	a.s[0] = 1, a.s[1] = 2, a.s[2] = 3, a.s[3] = 4;
	first = mfk_rng_next(&a);
	MF_OK(first == 11520, "xoshiro256** known answer for state {1,2,3,4}");
	MF_OK(a.s[0] == 7 && a.s[1] == 0 && a.s[2] == 262146 && a.s[3] == ((UINT64_C(6) << 45) | (UINT64_C(6) >> 19)),
		  "xoshiro256** state transition");

	/* reproducibility */
	mfk_rng_seed(&a, 12345);
	mfk_rng_seed(&b, 12345);
	for (i = 0; i < 1000; i++)
		same &= mfk_rng_next(&a) == mfk_rng_next(&b);
	MF_OK(same, "same seed, same sequence");
	mfk_rng_seed(&b, 12346);
	MF_OK(mfk_rng_next(&a) != mfk_rng_next(&b), "different seed, different sequence");

	/* uniform moments and histogram */
	mfk_rng_seed(&a, 1);
	for (size_t k = 0; k < N; k++)
	{
		double		u = mfk_rng_uniform(&a);

		if (!(u >= 0.0 && u < 1.0))
			inrange = 0;
		s += u;
		s2 += u * u;
		bins[(int) (u * 10)]++;
	}
	MF_OK(inrange, "uniform in [0, 1)");
	MF_CLOSE(s / N, 0.5, 0.003, "uniform mean 1/2");
	MF_CLOSE(s2 / N - (s / N) * (s / N), 1.0 / 12, 0.002, "uniform variance 1/12");
	for (i = 0; i < 10; i++)
		chi += (bins[i] - N / 10.0) * (bins[i] - N / 10.0) / (N / 10.0);
	MF_OK(chi < 27.9, "uniform histogram chi-square (9 df, p = 0.001)");
	MF_DIAG("chi-square %.2f", chi);

	/* normal moments */
	s = s2 = s3 = s4 = 0;
	for (size_t k = 0; k < N; k++)
	{
		double		z = mfk_rng_normal(&a);

		s += z;
		s2 += z * z;
		s3 += z * z * z;
		s4 += z * z * z * z;
	}
	MF_OK(fabs(s / N) < 0.005, "normal mean 0");
	MF_CLOSE(s2 / N, 1.0, 0.01, "normal variance 1");
	MF_OK(fabs(s3 / N) < 0.02, "normal skewness 0");
	MF_CLOSE(s4 / N, 3.0, 0.03, "normal kurtosis 3");

	/* bounded integers */
	{
		int			cnt[7] = {0};
		int			ok = 1;

		for (i = 0; i < 70000; i++)
		{
			uint64_t	v = mfk_rng_below(&a, 7);

			if (v >= 7)
				ok = 0;
			else
				cnt[v]++;
		}
		for (i = 0; i < 7; i++)
			if (abs(cnt[i] - 10000) > 500)
				ok = 0;
		MF_OK(ok, "below(7) in range and roughly uniform");
		MF_OK(mfk_rng_below(&a, 1) == 0 && mfk_rng_below(&a, 0) == 0, "below(1) and below(0) are 0");
	}

	/* shuffles */
	{
		size_t		idx[50],
					idx2[50];
		int			perm = 1,
					pos0[4] = {0};
		int			seen[50] = {0};

		mfk_rng_seed(&a, 5);
		mfk_rng_seed(&b, 5);
		mfk_rng_permutation(&a, idx, 50);
		mfk_rng_permutation(&b, idx2, 50);
		for (i = 0; i < 50; i++)
			if (idx[i] >= 50 || seen[idx[i]]++)
				perm = 0;
		MF_OK(perm, "permutation is a permutation");
		MF_OK(memcmp(idx, idx2, sizeof(idx)) == 0, "shuffle reproducible under a seed");
		for (i = 0; i < 40000; i++)
		{
			size_t		v[4] = {0, 1, 2, 3};

			mfk_rng_shuffle(&a, v, 4);
			pos0[v[0]]++;
		}
		perm = 1;
		for (i = 0; i < 4; i++)
			if (abs(pos0[i] - 10000) > 500)
				perm = 0;
		MF_OK(perm, "fisher-yates: every element equally likely first");
	}

	/* split */
	{
		MfRng		c1,
					c2;

		mfk_rng_seed(&a, 3);
		mfk_rng_split(&a, &c1);
		mfk_rng_split(&a, &c2);
		MF_OK(mfk_rng_next(&c1) != mfk_rng_next(&c2), "child streams differ");
		mfk_rng_seed(&b, 3);
		mfk_rng_split(&b, &c2);
		mfk_rng_seed(&c1, 0);
		mfk_rng_seed(&a, 3);
		mfk_rng_split(&a, &c1);
		MF_OK(memcmp(c1.s, c2.s, sizeof(c1.s)) == 0, "split reproducible");
	}
	{
		double		u = mfk_rng_uniform_range(&a, -3, -2);

		MF_OK(u >= -3 && u < -2, "uniform_range in [lo, hi)");
	}
	{
		/* below() against the limit computed up front, n near 2^64 too */
		static const uint64_t ns[] = {2, 3, 7, 1000, 800001, UINT64_C(1) << 40,
			(UINT64_C(1) << 63) + 1, UINT64_MAX - 1, UINT64_MAX};
		int			same = 1;

		for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++)
		{
			MfRng		x,
						ref;
			uint64_t	limit = UINT64_MAX - (UINT64_MAX % ns[k]);

			mfk_rng_seed(&x, 99 + k);
			mfk_rng_seed(&ref, 99 + k);
			for (int i = 0; i < 20000; i++)
			{
				uint64_t	v,
							want;

				do
					v = mfk_rng_next(&ref);
				while (v >= limit);
				want = v % ns[k];
				if (mfk_rng_below(&x, ns[k]) != want)
					same = 0;
			}
			if (memcmp(x.s, ref.s, sizeof(x.s)) != 0)
				same = 0;		/* the same draws were rejected */
		}
		MF_OK(same, "below(n) equals rejection at the up-front limit, n up to 2^64 - 1");
	}
	test_split();
	return mf_test_done();
}
