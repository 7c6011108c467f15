/*
 * rng.c - the kernels' own PRNG: xoshiro256** seeded through splitmix64.
 *
 * Every random choice of training (initialisation, shuffles, splits,
 * dropout masks, k-means++ seeding) is drawn from an MfRng the caller seeds,
 * so one seed fixes a whole run.  The state lives in the caller's struct;
 * there is no global generator.
 *
 * The train/test split (mfk_split_rows) draws one Fisher-Yates shuffle per
 * class, in class order, over the class's rows in ascending order (or one
 * permutation of all rows), and puts the first round(count * test_size)
 * shuffled rows in the test set.  The bookkeeping around those draws is
 * linear and branch-free where the labels are random: one counting pass
 * and one stable scatter bucket the rows by class (in the caller's train
 * array, free until the end), the test rows are marked in a bitmap (n / 8
 * bytes: stays in cache), and the bitmap is expanded into the two
 * ascending lists word by word.
 */
#include "mf_kernels.h"

#include <math.h>
#include <string.h>

/* One splitmix64 step: used to expand a 64-bit seed into the state. */
static uint64_t
MfkSplitmix64(uint64_t *x)
{
	uint64_t	z;

	*x += UINT64_C(0x9E3779B97F4A7C15);
	z = *x;
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Rotate left. */
static inline uint64_t
MfkRotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* Seed the state from a 64-bit seed. */
void
mfk_rng_seed(MfRng *r, uint64_t seed)
{
	uint64_t	x = seed;
	int			i;

	for (i = 0; i < 4; i++)
		r->s[i] = MfkSplitmix64(&x);
	/* splitmix64 never yields four zeros, but be explicit */
	if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
		r->s[0] = 1;
	r->has_spare = 0;
	r->spare = 0.0;
}

/* xoshiro256**: next 64 bits. */
uint64_t
mfk_rng_next(MfRng *r)
{
	uint64_t   *s = r->s;
	uint64_t	result = MfkRotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = MfkRotl(s[3], 45);
	return result;
}

/* Uniform [0, 1): top 53 bits times 2^-53. */
double
mfk_rng_uniform(MfRng *r)
{
	return (double) (mfk_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform [lo, hi). */
double
mfk_rng_uniform_range(MfRng *r, double lo, double hi)
{
	return lo + (hi - lo) * mfk_rng_uniform(r);
}

/*
 * Unbiased [0, n) by rejection of the short tail.  The rejection limit (the
 * largest multiple of n that fits) exceeds UINT64_MAX - n, so it is only
 * computed, with its division, for a draw above that: the same draws are
 * rejected as with the limit computed up front.
 */
uint64_t
mfk_rng_below(MfRng *r, uint64_t n)
{
	uint64_t	x;

	if (n <= 1)
		return 0;
	for (;;)
	{
		x = mfk_rng_next(r);
		if (x <= UINT64_MAX - n || x < UINT64_MAX - (UINT64_MAX % n))
			return x % n;
	}
}

/* Standard normal by Box-Muller; the second value is kept for next time. */
double
mfk_rng_normal(MfRng *r)
{
	double		u1,
				u2,
				rad,
				theta;

	if (r->has_spare)
	{
		r->has_spare = 0;
		return r->spare;
	}
	u1 = 1.0 - mfk_rng_uniform(r);	/* (0, 1]: log is finite */
	u2 = mfk_rng_uniform(r);
	rad = sqrt(-2.0 * log(u1));
	theta = 6.283185307179586476925286766559 * u2;
	r->spare = rad * sin(theta);
	r->has_spare = 1;
	return rad * cos(theta);
}

/* Fisher-Yates shuffle. */
void
mfk_rng_shuffle(MfRng *r, size_t *idx, size_t n)
{
	size_t		i;

	if (n < 2)
		return;
	for (i = n - 1; i > 0; i--)
	{
		size_t		j = (size_t) mfk_rng_below(r, (uint64_t) i + 1);
		size_t		t = idx[i];

		idx[i] = idx[j];
		idx[j] = t;
	}
}

/* A random permutation of 0..n-1. */
void
mfk_rng_permutation(MfRng *r, size_t *idx, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		idx[i] = i;
	mfk_rng_shuffle(r, idx, n);
}

/* Derive an independent child stream from the parent. */
void
mfk_rng_split(MfRng *parent, MfRng *child)
{
	mfk_rng_seed(child, mfk_rng_next(parent) ^ UINT64_C(0x6A09E667F3BCC909));
}

/* Test rows of a split of cnt rows: round(cnt test_size), at most cnt - 1. */
static size_t
MfkSplitTake(size_t cnt, double test_size)
{
	size_t		take = (size_t) floor(cnt * test_size + 0.5);

	if (take >= cnt && cnt > 0)
		take = cnt - 1;
	return take;
}

/* Number of test rows of mfk_split_rows; count[0..k) gets the class sizes. */
size_t
mfk_split_test_rows(const int *y, int k, size_t n, double test_size,
					size_t *count)
{
	size_t		n_test = 0;

	if (y == NULL)
		return MfkSplitTake(n, test_size);
	memset(count, 0, (size_t) k * sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		if ((unsigned) y[i] < (unsigned) k)
			count[y[i]]++;
	for (int c = 0; c < k; c++)
		n_test += MfkSplitTake(count[c], test_size);
	return n_test;
}

/* Seeded split of rows 0..n-1 into ascending test and train lists. */
void
mfk_split_rows(MfRng *r, const int *y, int k, size_t *count, size_t n,
			   double test_size, size_t *train, size_t *test, uint64_t *bits)
{
	size_t		n_words = (n + 63) / 64,
				nt = 0,
				nr = 0;

	memset(bits, 0, n_words * sizeof(uint64_t));
	if (y == NULL)
	{
		mfk_rng_permutation(r, train, n);
		for (size_t i = 0, take = MfkSplitTake(n, test_size); i < take; i++)
			bits[train[i] / 64] |= UINT64_C(1) << (train[i] % 64);
	}
	else
	{
		size_t		start = 0;

		/* count[c] becomes the end of class c's bucket in train */
		for (int c = 0; c < k; c++)
			count[c] = start += count[c];
		for (size_t i = n; i-- > 0;)
			if ((unsigned) y[i] < (unsigned) k)
				train[--count[y[i]]] = i;
		for (int c = 0; c < k; c++)
		{
			size_t	   *rows = train + count[c],
						cnt = (c + 1 < k ? count[c + 1] : start) - count[c];

			mfk_rng_shuffle(r, rows, cnt);
			for (size_t i = 0, take = MfkSplitTake(cnt, test_size); i < take; i++)
				bits[rows[i] / 64] |= UINT64_C(1) << (rows[i] % 64);
		}
	}
	for (size_t w = 0; w < n_words; w++)
	{
		uint64_t	t = bits[w],
					f = ~t;

		if (w == n_words - 1 && n % 64 != 0)
			f &= (UINT64_C(1) << (n % 64)) - 1;
		while (t != 0)
		{
			test[nt++] = w * 64 + (size_t) __builtin_ctzll(t);
			t &= t - 1;
		}
		while (f != 0)
		{
			train[nr++] = w * 64 + (size_t) __builtin_ctzll(f);
			f &= f - 1;
		}
	}
}
