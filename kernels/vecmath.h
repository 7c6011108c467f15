/*
 * vecmath.h - float32 math that loops vectorise: exp and erf without a
 * library call, and the attribute that gives a loop an AVX2 clone picked
 * at run time.
 *
 * Design note: glibc's expf / erff are calls, so a loop over them stays
 * scalar (they were 20-40 % of a transformer inference batch).  These are
 * branch-free polynomials over plain arithmetic, compares and integer
 * shifts, which the vectoriser turns into SSE2 (the baseline of x86-64)
 * or, in the clone MFK_VEC_CLONES adds, AVX2 (8 floats at a time; the
 * ifunc picks it on CPUs that have it; never -march=native).  Without FMA
 * in either clone every lane computes exactly what the scalar code does,
 * so a result never depends on the CPU.  The files that use them are built
 * with -fvect-cost-model=dynamic -fno-trapping-math (Makefile): the
 * compares of a clamp are then if-converted.
 */
#ifndef MF_VECMATH_H
#define MF_VECMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define MFK_VEC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MFK_VEC_CLONES
#endif

/*
 * e^x in float32: x = n ln2 + r (Cody-Waite, |r| <= ln2/2), e^r by
 * Cephes' degree-6 polynomial, 2^n built in the exponent bits; max
 * relative error 2 ulp on [-87.3, 88.7]; 0 below (exp(-88) is subnormal),
 * clamped above (never overflows to inf).
 */
static inline float
mfk_expf_v(float x)
{
	float		xc = x > 88.3762626647949f ? 88.3762626647949f : x,
				t,
				n,
				r,
				p,
				scale;
	int32_t		bits;

	xc = xc < -87.3365478515625f ? -87.3365478515625f : xc;
	t = xc * 1.44269504088896341f;
	n = (t + 12582912.0f) - 12582912.0f;	/* round to nearest */
	r = xc - n * 0.693359375f;
	r = r - n * -2.12194440e-4f;
	p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	bits = ((int32_t) n + 127) << 23;
	memcpy(&scale, &bits, sizeof(scale));
	return x < -87.3365478515625f ? 0.0f : p * scale;
}

/*
 * erf in float32: x P(x^2) / Q(x^2) on |x| <= 4 (P, Q of degree 5, Q(0) =
 * 1, coefficients fitted for activations.c by iteratively reweighted least
 * squares on [0, 4]; max abs error 3e-8 in double, 4.2e-7 evaluated in
 * float, as good as erff's float rounding for GELU), +-1 beyond (erf(4) =
 * 1 - 1.5e-8).
 */
static inline float
mfk_erff_v(float x)
{
	float		a = fabsf(x) < 4.0f ? fabsf(x) : 4.0f,	/* not fminf: a call */
				z,
				p = 2.00010317e-06f,
				q = 3.76378536e-05f,
				r;

	z = a * a;
	p = p * z + 2.86022715e-04f;
	p = p * z + 3.89498979e-03f;
	p = p * z + 5.31334495e-02f;
	p = p * z + 1.93654585e-01f;
	p = p * z + 1.12837905e+00f;
	q = q * z + 1.19081326e-03f;
	q = q * z + 1.52264975e-02f;
	q = q * z + 1.15411986e-01f;
	q = q * z + 5.04953771e-01f;
	q = q * z + 1.0f;
	r = a * p / q;
	return copysignf(r < 1.0f ? r : 1.0f, x);
}

/* Largest of n floats (-inf for none); skip[j] != 0 leaves x[j] out. */
extern float mfk_vec_max(const float *x, size_t n, const unsigned char *skip);
/* Index of the largest of n floats, the lowest on ties (n for none); skip as above. */
extern size_t mfk_vec_argmax(const float *x, size_t n, const unsigned char *skip);
/*
 * x[j] = e^(x[j] - m) (0 where skip[j] != 0); returns their sum
 * (mfk_vec_sum_d).
 */
extern double mfk_vec_exp_shift(float *x, size_t n, float m,
								const unsigned char *skip);
/* x[j] *= k. */
extern void mfk_vec_scale(float *x, size_t n, float k);
/* Sum of n floats in double (8 lanes in a fixed order). */
extern double mfk_vec_sum_d(const float *x, size_t n);

#endif							/* MF_VECMATH_H */
