/*
 * layers.c - the dense layer (double and float32) on CBLAS gemm, inverted
 * dropout and weight initialisation.
 *
 * W is in x out row-major, so Y = X W + b is gemm(NoTrans, NoTrans) and the
 * backward pass is dW = X' dY, db = column sums of dY, dX = dY W'.  These
 * functions do one gemm each; callers that may see millions of rows
 * (prediction) split the rows into blocks and report progress in between.
 */
#include "mf_kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Y = X W + b. */
void
mfk_dense_forward(const double *X, size_t n, size_t in, const double *W,
				  const double *b, size_t out, double *Y)
{
	size_t		i;

	if (n == 0 || out == 0)
		return;
	if (b != NULL)
	{
		for (i = 0; i < n; i++)
			memcpy(Y + i * out, b, out * sizeof(double));
	}
	if (in == 0)
	{
		if (b == NULL)
			for (i = 0; i < n * out; i++)
				Y[i] = 0.0;
		return;
	}
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
				(int) n, (int) out, (int) in, 1.0, X, (int) in, W, (int) out,
				b != NULL ? 1.0 : 0.0, Y, (int) out);
}

/* dW (+)= X' dY, db (+)= colsum(dY), dX = dY W'. */
void
mfk_dense_backward(const double *X, size_t n, size_t in, const double *W,
				   size_t out, const double *dY, double *dW, double *db,
				   double *dX, int accumulate)
{
	size_t		i,
				j;

	if (dW != NULL && in > 0 && out > 0)
	{
		if (n > 0)
			cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
						(int) in, (int) out, (int) n, 1.0, X, (int) in,
						dY, (int) out, accumulate ? 1.0 : 0.0, dW, (int) out);
		else if (!accumulate)
			memset(dW, 0, in * out * sizeof(double));
	}
	if (db != NULL)
	{
		if (!accumulate)
			memset(db, 0, out * sizeof(double));
		for (i = 0; i < n; i++)
		{
			const double *d = dY + i * out;

			for (j = 0; j < out; j++)
				db[j] += d[j];
		}
	}
	if (dX != NULL && n > 0 && in > 0)
	{
		if (out > 0)
			cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
						(int) n, (int) in, (int) out, 1.0, dY, (int) out,
						W, (int) out, 0.0, dX, (int) in);
		else
			memset(dX, 0, n * in * sizeof(double));
	}
}

/* float32 Y = X W + b. */
void
mfk_dense_forward_f(const float *X, size_t n, size_t in, const float *W,
					const float *b, size_t out, float *Y)
{
	size_t		i;

	if (n == 0 || out == 0)
		return;
	if (b != NULL)
		for (i = 0; i < n; i++)
			memcpy(Y + i * out, b, out * sizeof(float));
	if (in == 0)
	{
		if (b == NULL)
			for (i = 0; i < n * out; i++)
				Y[i] = 0.0f;
		return;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
				(int) n, (int) out, (int) in, 1.0f, X, (int) in, W, (int) out,
				b != NULL ? 1.0f : 0.0f, Y, (int) out);
}

/* float32 backward. */
void
mfk_dense_backward_f(const float *X, size_t n, size_t in, const float *W,
					 size_t out, const float *dY, float *dW, float *db,
					 float *dX, int accumulate)
{
	size_t		i,
				j;

	if (dW != NULL && in > 0 && out > 0)
	{
		if (n > 0)
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
						(int) in, (int) out, (int) n, 1.0f, X, (int) in,
						dY, (int) out, accumulate ? 1.0f : 0.0f, dW, (int) out);
		else if (!accumulate)
			memset(dW, 0, in * out * sizeof(float));
	}
	if (db != NULL)
	{
		if (!accumulate)
			memset(db, 0, out * sizeof(float));
		for (i = 0; i < n; i++)
			for (j = 0; j < out; j++)
				db[j] += dY[i * out + j];
	}
	if (dX != NULL && n > 0 && in > 0)
	{
		if (out > 0)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
						(int) n, (int) in, (int) out, 1.0f, dY, (int) out,
						W, (int) out, 0.0f, dX, (int) in);
		else
			memset(dX, 0, n * in * sizeof(float));
	}
}

/* Inverted dropout: drop with probability p, scale survivors by 1/(1-p). */
void
mfk_dropout_forward(MfRng *r, double p, double *x, unsigned char *mask,
					size_t n)
{
	size_t		i;
	double		scale;

	if (p <= 0.0)
	{
		for (i = 0; i < n; i++)
			mask[i] = 1;
		return;
	}
	if (p >= 1.0)
	{
		for (i = 0; i < n; i++)
		{
			mask[i] = 0;
			x[i] = 0.0;
		}
		return;
	}
	scale = 1.0 / (1.0 - p);
	for (i = 0; i < n; i++)
	{
		mask[i] = mfk_rng_uniform(r) >= p;
		x[i] = mask[i] ? x[i] * scale : 0.0;
	}
}

/* Backward of inverted dropout. */
void
mfk_dropout_backward(double p, const unsigned char *mask, const double *dy,
					 double *dx, size_t n)
{
	size_t		i;
	double		scale = (p > 0.0 && p < 1.0) ? 1.0 / (1.0 - p) : 1.0;

	for (i = 0; i < n; i++)
		dx[i] = mask[i] ? dy[i] * scale : 0.0;
}

/* Xavier/Glorot or He initialisation of a fan_in x fan_out matrix. */
void
mfk_init_weights(MfRng *r, MfInit scheme, double *W, size_t fan_in,
				 size_t fan_out)
{
	size_t		i,
				n = fan_in * fan_out;
	double		fi = fan_in > 0 ? (double) fan_in : 1.0;
	double		fo = fan_out > 0 ? (double) fan_out : 1.0;
	double		a;

	switch (scheme)
	{
		case MF_INIT_XAVIER_NORMAL:
			a = sqrt(2.0 / (fi + fo));
			for (i = 0; i < n; i++)
				W[i] = a * mfk_rng_normal(r);
			break;
		case MF_INIT_HE_UNIFORM:
			a = sqrt(6.0 / fi);
			for (i = 0; i < n; i++)
				W[i] = mfk_rng_uniform_range(r, -a, a);
			break;
		case MF_INIT_HE_NORMAL:
			a = sqrt(2.0 / fi);
			for (i = 0; i < n; i++)
				W[i] = a * mfk_rng_normal(r);
			break;
		case MF_INIT_AUTO:
		case MF_INIT_XAVIER_UNIFORM:
		default:
			a = sqrt(6.0 / (fi + fo));
			for (i = 0; i < n; i++)
				W[i] = mfk_rng_uniform_range(r, -a, a);
			break;
	}
}
