/*
 * test_transformer_decode.c - a layer's incremental decoding step with a
 * key/value cache (mfk_tf_layer_step) against the full forward.
 *
 * For causal decoder layers (with and without cross-attention;
 * LayerNorm, ScaleNorm, ReZero; GELU and SwiGLU) the steps over positions
 * 0..T-1 must give the rows of mfk_tf_layer_forward on the whole sequence
 * to 1e-5 (relative to the largest magnitude): the same operations on one
 * row instead of a block, so only float rounding differs.  Whole-model
 * generation with the cache against recomputing every window is checked
 * in test_transformer_model.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_test.h"
#include "transformer_model.h"

extern void openblas_set_num_threads(int);

enum
{
	T = 7, SM = 5, D = 8
};

/* Largest |a - b| over n floats, relative to max(1, max |b|). */
static double
rel_diff(const float *a, const float *b, size_t n)
{
	double		err = 0.0,
				scale = 1.0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		err = fmax(err, fabs((double) a[i] - b[i]));
		scale = fmax(scale, fabs((double) b[i]));
	}
	return err / scale;
}

/* Steps over T positions against one forward of the whole sequence. */
static void
check_layer(const char *label, MfTfNorm norm, MfAct act, int cross, MfRng *r)
{
	MfTfLayerDims dims = {D, 2, 6, act, norm, 1e-5f, 0.0f, 1, cross, 0, 0};
	size_t		n = mfk_tf_layer_size(&dims, NULL),
				i;
	float	   *w = malloc(n * sizeof(float)),
			   *x = malloc(T * D * sizeof(float)),
			   *mem = malloc(SM * D * sizeof(float)),
			   *kv = malloc(T * 2 * D * sizeof(float)),
			   *mkv = malloc(SM * 2 * D * sizeof(float)),
			   *y = malloc(T * D * sizeof(float)),
			   *work = malloc(mfk_tf_layer_step_floats(&dims, T > SM ? T : SM) * sizeof(float));
	MfTfLayer	p;
	MfTfBatch	b = {1, T, NULL, cross ? SM : 0, NULL};
	MfTfLayerActs acts;
	MfArena		a;
	int			ok = 1;
	char		name[200];

	mfk_tf_layer_bind(&dims, w, &p, NULL);
	mfk_tf_layer_init(&dims, &p, r);
	for (i = 0; i < n; i++)		/* no trivial bias, norm or ReZero alpha */
		w[i] += (float) mfk_rng_uniform_range(r, -0.3, 0.3);
	for (i = 0; i < T * D; i++)
		x[i] = (float) mfk_rng_uniform_range(r, -2, 2);
	for (i = 0; i < SM * D; i++)
		mem[i] = (float) mfk_rng_uniform_range(r, -2, 2);
	mfk_arena_init(&a, &mfk_malloc_allocator, mfk_tf_step_bytes(&dims, &b, 1, 0));
	mfk_tf_layer_acts_carve(&dims, &b, 0, &a, &acts);
	ok &= mfk_tf_layer_forward(NULL, &dims, &b, &p, x, cross ? mem : NULL, NULL, &a, &acts) == MF_KOK;
	if (cross)
		mfk_tf_layer_memory_kv(&dims, &p, mem, SM, mkv);
	for (i = 0; i < T; i++)
		ok &= mfk_tf_layer_step(NULL, &dims, &p, x + i * D, i, kv, cross ? mkv : NULL,
								SM, NULL, work, y + i * D) == MF_KOK;
	snprintf(name, sizeof(name), "%s: %d steps equal the full forward's rows (rel diff %.1e)",
			 label, T, rel_diff(y, acts.y, T * D));
	MF_OK(ok && rel_diff(y, acts.y, T * D) <= 1e-5, name);
	mfk_arena_free(&a, &mfk_malloc_allocator);
	free(w), free(x), free(mem), free(kv), free(mkv), free(y), free(work);
}

int
main(void)
{
	MfRng		r;

	openblas_set_num_threads(1);
	mfk_rng_seed(&r, 20261205);
	check_layer("decoder layer, layernorm, gelu", MF_TF_LAYERNORM, MF_ACT_GELU, 0, &r);
	check_layer("decoder layer, scalenorm, swiglu", MF_TF_SCALENORM, MF_ACT_SWIGLU, 0, &r);
	check_layer("decoder layer, rezero, gelu", MF_TF_REZERO, MF_ACT_GELU, 0, &r);
	check_layer("cross-attention layer, layernorm, gelu", MF_TF_LAYERNORM, MF_ACT_GELU, 1, &r);
	check_layer("cross-attention layer, scalenorm, relu", MF_TF_SCALENORM, MF_ACT_RELU, 1, &r);
	return mf_test_done();
}
