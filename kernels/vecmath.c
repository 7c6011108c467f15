/*
 * vecmath.c - the float32 row loops of transformer inference and training
 * (max, shifted exp with its sum, scaling, sums), each with an AVX2 clone
 * (vecmath.h).  Reductions keep 8 partial lanes combined in a fixed order,
 * so both clones and every run give the same bits.
 */
#include "vecmath.h"

#define MFK_LANES 8

/* Largest of n floats, skip[j] != 0 left out; -inf when none counts. */
MFK_VEC_CLONES float
mfk_vec_max(const float *x, size_t n, const unsigned char *skip)
{
	float		lane[MFK_LANES],
				m = -INFINITY;
	size_t		j = 0,
				l;

	for (l = 0; l < MFK_LANES; l++)
		lane[l] = -INFINITY;
	if (skip == NULL)
		for (; j + MFK_LANES <= n; j += MFK_LANES)
			for (l = 0; l < MFK_LANES; l++)
				lane[l] = x[j + l] > lane[l] ? x[j + l] : lane[l];
	for (; j < n; j++)
		if ((skip == NULL || !skip[j]) && x[j] > m)
			m = x[j];
	for (l = 0; l < MFK_LANES; l++)
		m = lane[l] > m ? lane[l] : m;
	return m;
}

/* Index of the largest float not skipped, the lowest on ties; n for none. */
size_t
mfk_vec_argmax(const float *x, size_t n, const unsigned char *skip)
{
	size_t		best = n;

	for (size_t j = 0; j < n; j++)
		if ((skip == NULL || !skip[j]) && (best == n || x[j] > x[best]))
			best = j;
	return best;
}

/* x[j] = e^(x[j] - m), 0 where skipped; their sum. */
MFK_VEC_CLONES double
mfk_vec_exp_shift(float *x, size_t n, float m, const unsigned char *skip)
{
	size_t		j;

	for (j = 0; j < n; j++)
		x[j] = mfk_expf_v(x[j] - m);
	if (skip != NULL)
		for (j = 0; j < n; j++)
			x[j] = skip[j] ? 0.0f : x[j];
	return mfk_vec_sum_d(x, n);
}

/* x[j] *= k. */
MFK_VEC_CLONES void
mfk_vec_scale(float *x, size_t n, float k)
{
	size_t		j;

	for (j = 0; j < n; j++)
		x[j] *= k;
}

/* Sum in double, 8 lanes. */
MFK_VEC_CLONES double
mfk_vec_sum_d(const float *x, size_t n)
{
	double		lane[MFK_LANES] = {0},
				s = 0.0;
	size_t		j = 0,
				l;

	for (; j + MFK_LANES <= n; j += MFK_LANES)
		for (l = 0; l < MFK_LANES; l++)
			lane[l] += x[j + l];
	for (; j < n; j++)
		s += x[j];
	for (l = 0; l < MFK_LANES; l++)
		s += lane[l];
	return s;
}
