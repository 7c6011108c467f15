/*
 * test_layers.c - dense layer (double and float) against scalar references
 * and finite differences; dropout; initialisation statistics.
 */
#include "mf_kernels.h"
#include "mf_test.h"

#include <cblas.h>
#include <stdlib.h>

#define N 7
#define IN 5
#define OUT 4

/* Scalar reference of Y = X W + b. */
static void
ref_forward(const double *X, const double *W, const double *b, double *Y)
{
	int			i,
				j,
				k;

	for (i = 0; i < N; i++)
		for (j = 0; j < OUT; j++)
		{
			double		s = b ? b[j] : 0;

			for (k = 0; k < IN; k++)
				s += X[i * IN + k] * W[k * OUT + j];
			Y[i * OUT + j] = s;
		}
}

/* Scalar reference of the backward pass. */
static void
ref_backward(const double *X, const double *W, const double *dY, double *dW,
			 double *db, double *dX)
{
	int			i,
				j,
				k;

	for (k = 0; k < IN; k++)
		for (j = 0; j < OUT; j++)
		{
			double		s = 0;

			for (i = 0; i < N; i++)
				s += X[i * IN + k] * dY[i * OUT + j];
			dW[k * OUT + j] = s;
		}
	for (j = 0; j < OUT; j++)
	{
		db[j] = 0;
		for (i = 0; i < N; i++)
			db[j] += dY[i * OUT + j];
	}
	for (i = 0; i < N; i++)
		for (k = 0; k < IN; k++)
		{
			double		s = 0;

			for (j = 0; j < OUT; j++)
				s += dY[i * OUT + j] * W[k * OUT + j];
			dX[i * IN + k] = s;
		}
}

/* Max abs difference. */
static double
maxdiff(const double *a, const double *b, int n)
{
	double		m = 0;
	int			i;

	for (i = 0; i < n; i++)
		m = fmax(m, fabs(a[i] - b[i]));
	return m;
}

/* L = sum(C * (X W + b)). */
static double
lossfn(const double *X, const double *W, const double *b, const double *C)
{
	double		Y[N * OUT],
				s = 0;
	int			i;

	ref_forward(X, W, b, Y);
	for (i = 0; i < N * OUT; i++)
		s += C[i] * Y[i];
	return s;
}

int
main(void)
{
	MfRng		r;
	double		X[N * IN],
				W[IN * OUT],
				b[OUT],
				Y[N * OUT],
				Yr[N * OUT],
				dY[N * OUT];
	double		dW[IN * OUT],
				db[OUT],
				dX[N * IN],
				rW[IN * OUT],
				rb[OUT],
				rX[N * IN];
	int			i;
	double		worst = 0,
				h = 1e-6;

	openblas_set_num_threads(1);
	mfk_rng_seed(&r, 4);
	for (i = 0; i < N * IN; i++)
		X[i] = mfk_rng_normal(&r);
	for (i = 0; i < IN * OUT; i++)
		W[i] = mfk_rng_normal(&r);
	for (i = 0; i < OUT; i++)
		b[i] = mfk_rng_normal(&r);
	for (i = 0; i < N * OUT; i++)
		dY[i] = mfk_rng_normal(&r);

	mfk_dense_forward(X, N, IN, W, b, OUT, Y);
	ref_forward(X, W, b, Yr);
	MF_OK(maxdiff(Y, Yr, N * OUT) < 1e-13, "dense forward (dgemm) equals scalar reference");
	mfk_dense_forward(X, N, IN, W, NULL, OUT, Y);
	ref_forward(X, W, NULL, Yr);
	MF_OK(maxdiff(Y, Yr, N * OUT) < 1e-13, "dense forward without bias");

	mfk_dense_backward(X, N, IN, W, OUT, dY, dW, db, dX, 0);
	ref_backward(X, W, dY, rW, rb, rX);
	MF_OK(maxdiff(dW, rW, IN * OUT) < 1e-13, "dense backward dW equals scalar reference");
	MF_OK(maxdiff(db, rb, OUT) < 1e-13, "dense backward db equals scalar reference");
	MF_OK(maxdiff(dX, rX, N * IN) < 1e-13, "dense backward dX equals scalar reference");
	mfk_dense_backward(X, N, IN, W, OUT, dY, dW, db, NULL, 1);
	for (i = 0; i < IN * OUT; i++)
		rW[i] *= 2;
	for (i = 0; i < OUT; i++)
		rb[i] *= 2;
	MF_OK(maxdiff(dW, rW, IN * OUT) < 1e-12 && maxdiff(db, rb, OUT) < 1e-12,
		  "dense backward accumulate adds");

	/* finite differences of L = sum(dY * Y) */
	mfk_dense_backward(X, N, IN, W, OUT, dY, dW, db, dX, 0);
	for (i = 0; i < IN * OUT; i++)
	{
		double		k = W[i],
					fp,
					fm;

		W[i] = k + h;
		fp = lossfn(X, W, b, dY);
		W[i] = k - h;
		fm = lossfn(X, W, b, dY);
		W[i] = k;
		worst = fmax(worst, fabs((fp - fm) / (2 * h) - dW[i]) / fmax(1e-8, fabs(dW[i])));
	}
	for (i = 0; i < OUT; i++)
	{
		double		k = b[i],
					fp,
					fm;

		b[i] = k + h;
		fp = lossfn(X, W, b, dY);
		b[i] = k - h;
		fm = lossfn(X, W, b, dY);
		b[i] = k;
		worst = fmax(worst, fabs((fp - fm) / (2 * h) - db[i]) / fmax(1e-8, fabs(db[i])));
	}
	for (i = 0; i < N * IN; i++)
	{
		double		k = X[i],
					fp,
					fm;

		X[i] = k + h;
		fp = lossfn(X, W, b, dY);
		X[i] = k - h;
		fm = lossfn(X, W, b, dY);
		X[i] = k;
		worst = fmax(worst, fabs((fp - fm) / (2 * h) - dX[i]) / fmax(1e-8, fabs(dX[i])));
	}
	MF_OK(worst < 1e-4, "dense gradients match finite differences");

	/* float32 */
	{
		float		Xf[N * IN],
					Wf[IN * OUT],
					bf[OUT],
					Yf[N * OUT],
					dYf[N * OUT],
					dWf[IN * OUT],
					dbf[OUT],
					dXf[N * IN];
		double		Xd[N * IN],
					Wd[IN * OUT],
					bd[OUT],
					dYd[N * OUT],
					m1 = 0,
					m2 = 0;

		for (i = 0; i < N * IN; i++)
			Xd[i] = Xf[i] = (float) X[i];
		for (i = 0; i < IN * OUT; i++)
			Wd[i] = Wf[i] = (float) W[i];
		for (i = 0; i < OUT; i++)
			bd[i] = bf[i] = (float) b[i];
		for (i = 0; i < N * OUT; i++)
			dYd[i] = dYf[i] = (float) dY[i];
		mfk_dense_forward_f(Xf, N, IN, Wf, bf, OUT, Yf);
		ref_forward(Xd, Wd, bd, Yr);
		for (i = 0; i < N * OUT; i++)
			m1 = fmax(m1, fabs(Yf[i] - Yr[i]));
		MF_OK(m1 < 1e-5, "float dense forward (sgemm) equals scalar reference");
		mfk_dense_backward_f(Xf, N, IN, Wf, OUT, dYf, dWf, dbf, dXf, 0);
		ref_backward(Xd, Wd, dYd, rW, rb, rX);
		for (i = 0; i < IN * OUT; i++)
			m2 = fmax(m2, fabs(dWf[i] - rW[i]));
		for (i = 0; i < OUT; i++)
			m2 = fmax(m2, fabs(dbf[i] - rb[i]));
		for (i = 0; i < N * IN; i++)
			m2 = fmax(m2, fabs(dXf[i] - rX[i]));
		MF_OK(m2 < 1e-5, "float dense backward equals scalar reference");
	}

	/* dropout */
	{
		size_t		n = 100000,
					j,
					kept = 0;
		double	   *x = malloc(sizeof(double) * n),
				   *dx = malloc(sizeof(double) * n);
		unsigned char *mask = malloc(n),
				   *mask2 = malloc(n);
		double		s = 0;
		int			ok = 1;
		MfRng		r2;

		for (j = 0; j < n; j++)
			x[j] = 1.0;
		mfk_rng_seed(&r2, 8);
		mfk_dropout_forward(&r2, 0.3, x, mask, n);
		for (j = 0; j < n; j++)
		{
			kept += mask[j];
			s += x[j];
			if (mask[j] ? fabs(x[j] - 1 / 0.7) > 1e-15 : x[j] != 0)
				ok = 0;
		}
		MF_CLOSE((double) kept / n, 0.7, 0.01, "dropout keeps 1-p of the units");
		MF_CLOSE(s / n, 1.0, 0.015, "inverted dropout preserves the mean");
		MF_OK(ok, "kept units scaled by 1/(1-p), dropped are zero");
		for (j = 0; j < n; j++)
			x[j] = 2.0;
		mfk_dropout_backward(0.3, mask, x, dx, n);
		ok = 1;
		for (j = 0; j < n; j++)
			if (dx[j] != (mask[j] ? 2.0 / 0.7 : 0.0))
				ok = 0;
		MF_OK(ok, "dropout backward uses the same mask and scale");
		mfk_rng_seed(&r2, 8);
		mfk_dropout_forward(&r2, 0.3, x, mask2, n);
		MF_OK(memcmp(mask, mask2, n) == 0, "dropout mask fixed by the seed");
		mfk_dropout_forward(&r2, 0.0, x, mask2, n);
		MF_OK(x[0] == 2.0 / 0.7 || x[0] == 0.0 || x[0] == 2.0, "p = 0 leaves values");
		free(x);
		free(dx);
		free(mask);
		free(mask2);
	}

	/* initialisation statistics */
	{
		size_t		fi = 200,
					fo = 300,
					j,
					nn = fi * fo;
		double	   *Wi = malloc(sizeof(double) * nn);
		double		mx,
					s2;
		MfRng		r3;

		mfk_rng_seed(&r3, 1);
		mfk_init_weights(&r3, MF_INIT_XAVIER_UNIFORM, Wi, fi, fo);
		mx = 0, s2 = 0;
		for (j = 0; j < nn; j++)
			mx = fmax(mx, fabs(Wi[j])), s2 += Wi[j] * Wi[j];
		MF_OK(mx <= sqrt(6.0 / 500), "xavier uniform within the bound");
		MF_CLOSE(s2 / nn, 2.0 / 500, 0.02 * 2.0 / 500 + 0, "xavier uniform variance 2/(in+out)");
		MF_OK(fabs(s2 / nn - 2.0 / 500) < 0.03 * 2.0 / 500, "xavier variance within 3%");
		mfk_init_weights(&r3, MF_INIT_HE_NORMAL, Wi, fi, fo);
		s2 = 0;
		for (j = 0; j < nn; j++)
			s2 += Wi[j] * Wi[j];
		MF_OK(fabs(s2 / nn - 2.0 / 200) < 0.03 * 2.0 / 200, "he normal variance 2/fan_in within 3%");
		mfk_init_weights(&r3, MF_INIT_HE_UNIFORM, Wi, fi, fo);
		mx = 0, s2 = 0;
		for (j = 0; j < nn; j++)
			mx = fmax(mx, fabs(Wi[j])), s2 += Wi[j] * Wi[j];
		MF_OK(mx <= sqrt(6.0 / 200) && fabs(s2 / nn - 2.0 / 200) < 0.03 * 2.0 / 200,
			  "he uniform bound and variance");
		mfk_init_weights(&r3, MF_INIT_XAVIER_NORMAL, Wi, fi, fo);
		s2 = 0;
		for (j = 0; j < nn; j++)
			s2 += Wi[j] * Wi[j];
		MF_OK(fabs(s2 / nn - 2.0 / 500) < 0.03 * 2.0 / 500, "xavier normal variance");
		free(Wi);
	}
	return mf_test_done();
}
