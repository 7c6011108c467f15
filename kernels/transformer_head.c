/*
 * transformer_head.c - the classifier head's pooling and the softmax
 * cross-entropy of transformer training (float32 logits, double sums).
 *
 * Design note: mean pooling averages the non-padding tokens of a sequence
 * (a sequence that is all padding pools to zeros), first-token pooling
 * takes position 0 whatever the mask says (a CLS token is never padding).
 * The linear layer of the head is mfk_tf_linear_* (classifier.weight is
 * [C, d] as in PyTorch).  Cross-entropy ignores rows labelled < 0 (the
 * ignore_index of an LM loss) and averages over the others.
 */
#include "transformer.h"

#include <math.h>
#include <string.h>

/* Tokens of sequence bi that mean pooling averages (0 if all padding). */
static size_t
MfTfPoolCount(const MfTfBatch *b, size_t bi)
{
	size_t		t,
				c = 0;

	if (b->key_pad == NULL)
		return b->T;
	for (t = 0; t < b->T; t++)
		c += b->key_pad[bi * b->T + t] == 0;
	return c;
}

/* Pool each sequence into one row. */
void
mfk_tf_pool_forward(MfTfPool mode, const MfTfBatch *b, size_t d,
					const float *X, float *pooled)
{
	size_t		bi,
				t,
				j;

	for (bi = 0; bi < b->B; bi++)
	{
		float	   *o = pooled + bi * d;
		size_t		c;

		if (mode == MF_TF_POOL_FIRST)
		{
			memcpy(o, X + bi * b->T * d, d * sizeof(float));
			continue;
		}
		memset(o, 0, d * sizeof(float));
		c = MfTfPoolCount(b, bi);
		if (c == 0)
			continue;
		for (t = 0; t < b->T; t++)
		{
			const float *x = X + (bi * b->T + t) * d;

			if (b->key_pad != NULL && b->key_pad[bi * b->T + t])
				continue;
			for (j = 0; j < d; j++)
				o[j] += x[j];
		}
		for (j = 0; j < d; j++)
			o[j] /= (float) c;
	}
}

/* Spread the pooled gradient back (adds to dX). */
void
mfk_tf_pool_backward(MfTfPool mode, const MfTfBatch *b, size_t d,
					 const float *dpooled, float *dX)
{
	size_t		bi,
				t,
				j;

	for (bi = 0; bi < b->B; bi++)
	{
		const float *g = dpooled + bi * d;
		size_t		c;
		float		k;

		if (mode == MF_TF_POOL_FIRST)
		{
			for (j = 0; j < d; j++)
				dX[bi * b->T * d + j] += g[j];
			continue;
		}
		c = MfTfPoolCount(b, bi);
		if (c == 0)
			continue;
		k = 1.0f / (float) c;
		for (t = 0; t < b->T; t++)
		{
			float	   *dx = dX + (bi * b->T + t) * d;

			if (b->key_pad != NULL && b->key_pad[bi * b->T + t])
				continue;
			for (j = 0; j < d; j++)
				dx[j] += g[j] * k;
		}
	}
}

/* Mean cross-entropy of the labelled rows; dlogits set (0 on ignored rows). */
double
mfk_tf_cross_entropy(const float *logits, const int32_t *y, size_t n,
					 size_t k, float *dlogits)
{
	size_t		i,
				j,
				counted = 0;
	double		loss = 0.0,
				inv;

	for (i = 0; i < n; i++)
		counted += y[i] >= 0 && (size_t) y[i] < k;
	inv = counted > 0 ? 1.0 / (double) counted : 0.0;
	for (i = 0; i < n; i++)
	{
		const float *z = logits + i * k;
		double		m = z[0],
					se = 0.0,
					lse;

		if (dlogits != NULL)
			memset(dlogits + i * k, 0, k * sizeof(float));
		if (y[i] < 0 || (size_t) y[i] >= k)
			continue;
		for (j = 1; j < k; j++)
			if (z[j] > m)
				m = z[j];
		for (j = 0; j < k; j++)
			se += exp((double) z[j] - m);
		lse = m + log(se);
		loss += lse - z[y[i]];
		if (dlogits != NULL)
		{
			for (j = 0; j < k; j++)
				dlogits[i * k + j] = (float) (exp((double) z[j] - lse) * inv);
			dlogits[i * k + y[i]] -= (float) inv;
		}
	}
	return loss * inv;
}
