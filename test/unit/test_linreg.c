/*
 * test_linreg.c - linear/ridge regression against closed forms.
 */
#include "mf_kernels.h"
#include "mf_test.h"

#include <cblas.h>
#include <stdlib.h>

static MfEnv env;

/* Solve A x = b (m x m, row-major, destroyed) by Gaussian elimination with partial pivoting. */
static int
gauss_solve(double *A, double *b, int m)
{
	int			i,
				j,
				k;

	for (k = 0; k < m; k++)
	{
		int			piv = k;

		for (i = k + 1; i < m; i++)
			if (fabs(A[i * m + k]) > fabs(A[piv * m + k]))
				piv = i;
		if (A[piv * m + k] == 0.0)
			return -1;
		if (piv != k)
		{
			double		t;

			for (j = 0; j < m; j++)
			{
				t = A[k * m + j];
				A[k * m + j] = A[piv * m + j];
				A[piv * m + j] = t;
			}
			t = b[k];
			b[k] = b[piv];
			b[piv] = t;
		}
		for (i = k + 1; i < m; i++)
		{
			double		f = A[i * m + k] / A[k * m + k];

			for (j = k; j < m; j++)
				A[i * m + j] -= f * A[k * m + j];
			b[i] -= f * b[k];
		}
	}
	for (i = m - 1; i >= 0; i--)
	{
		double		s = b[i];

		for (j = i + 1; j < m; j++)
			s -= A[i * m + j] * b[j];
		b[i] = s / A[i * m + i];
	}
	return 0;
}

/* Reference ridge with intercept: centre, (Xc'Xc + aI)^-1 Xc'yc, scalar loops. */
static void
ref_ridge(const double *X, const double *y, int n, int p, double alpha,
		  double *coef, double *icpt)
{
	double	   *A = calloc((size_t) p * p, sizeof(double));
	double	   *xm = calloc(p, sizeof(double));
	double		ym = 0;
	int			i,
				j,
				k;

	for (i = 0; i < n; i++)
	{
		ym += y[i];
		for (j = 0; j < p; j++)
			xm[j] += X[i * p + j];
	}
	ym /= n;
	for (j = 0; j < p; j++)
		xm[j] /= n;
	for (j = 0; j < p; j++)
	{
		coef[j] = 0;
		for (i = 0; i < n; i++)
			coef[j] += (X[i * p + j] - xm[j]) * (y[i] - ym);
		for (k = 0; k < p; k++)
		{
			double		s = 0;

			for (i = 0; i < n; i++)
				s += (X[i * p + j] - xm[j]) * (X[i * p + k] - xm[k]);
			A[j * p + k] = s + (j == k ? alpha : 0.0);
		}
	}
	gauss_solve(A, coef, p);
	*icpt = ym;
	for (j = 0; j < p; j++)
		*icpt -= xm[j] * coef[j];
	free(A);
	free(xm);
}

/*
 * Ridge on random data of width p (either side of the direct Gram sum's
 * limit, and n not a multiple of its four-row sweep) against ref_ridge.
 */
static void
check_width(const MfEnv *env, int p)
{
	int			n = 1003;
	double	   *X = malloc(sizeof(double) * n * p);
	double	   *y = malloc(sizeof(double) * n);
	double	   *coef = malloc(sizeof(double) * p);
	double	   *rcoef = malloc(sizeof(double) * p);
	double		icpt,
				ricpt,
				maxerr;
	MfLinregOpts o;
	MfRng		r;
	char		name[96];
	int			rc;

	mfk_rng_seed(&r, 99 + p);
	for (int i = 0; i < n; i++)
	{
		y[i] = mfk_rng_normal(&r);
		for (int j = 0; j < p; j++)
		{
			X[i * p + j] = 3.0 + mfk_rng_normal(&r);
			y[i] += (j % 3 - 1) * X[i * p + j];
		}
	}
	mfk_linreg_defaults(&o);
	o.alpha = 2.0;
	rc = mfk_linreg_fit(env, X, y, n, p, &o, coef, &icpt, NULL);
	ref_ridge(X, y, n, p, 2.0, rcoef, &ricpt);
	maxerr = fabs(icpt - ricpt);
	for (int j = 0; j < p; j++)
		maxerr = fmax(maxerr, fabs(coef[j] - rcoef[j]));
	snprintf(name, sizeof(name), "ridge, %d columns: matches the reference to 1e-9 (%.1e)", p, maxerr);
	MF_OK(rc == MF_KOK && maxerr < 1e-9, name);
	free(X);
	free(y);
	free(coef);
	free(rcoef);
}

static int	cancel_after = -1;
static int	calls = 0;

/* Progress callback that cancels after a number of calls. */
static int
progress_cb(void *ctx, const MfProgress *p)
{
	(void) ctx;
	(void) p;
	calls++;
	return cancel_after >= 0 && calls > cancel_after;
}

/*
 * Rows of a numeric column x and a categorical column of k levels; the
 * level is one-hot in X (1 + k columns), the target depends on both.
 */
static void
make_onehot(MfRng *r, int n, int k, double *X, double *y)
{
	for (int i = 0; i < n; i++)
	{
		int			lev = i % k == 0 ? 0 : (int) (mfk_rng_uniform(r) * k) % k;

		X[i * (1 + k)] = mfk_rng_normal(r) * 4.0 + 10.0;
		for (int c = 0; c < k; c++)
			X[i * (1 + k) + 1 + c] = c == lev ? 1.0 : 0.0;
		y[i] = 1.5 * X[i * (1 + k)] + 3.0 * lev - 2.0 + 0.2 * mfk_rng_normal(r);
	}
}

/*
 * Plain least squares on one-hot columns beside the intercept (rank p - 1):
 * the same predictions as a scalar reference fit on reference coding (the
 * first level's column dropped), on the training rows and on new rows of
 * every level, by both solver paths; minimum norm on the standardised
 * columns.
 */
static void
check_onehot(const MfEnv *env, int force_qr)
{
	int			n = 997,
				k = 4,
				p = 1 + k,
				pr = k;
	double	   *X = malloc(sizeof(double) * n * p);
	double	   *Xr = malloc(sizeof(double) * n * pr);
	double	   *y = malloc(sizeof(double) * n);
	double		coef[5],
				icpt,
				rcoef[4],
				ricpt,
				maxerr = 0.0,
				orth = 0.0;
	MfLinregOpts o;
	MfLinregInfo info;
	MfRng		r;
	char		name[128];
	int			rc;

	mfk_rng_seed(&r, 7 + force_qr);
	make_onehot(&r, n, k, X, y);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < pr; j++)
			Xr[i * pr + j] = X[i * p + (j == 0 ? 0 : j + 1)];
	mfk_linreg_defaults(&o);
	o.force_qr = force_qr;
	rc = mfk_linreg_fit(env, X, y, n, p, &o, coef, &icpt, &info);
	ref_ridge(Xr, y, n, pr, 0.0, rcoef, &ricpt);
	for (int i = 0; i < n + k; i++)
	{
		double		row[5] = {i < n ? 0 : 7.5 - i, 0, 0, 0, 0};
		double		rrow[4];

		if (i < n)
			memcpy(row, X + i * p, sizeof(row));
		else
			row[1 + (i - n)] = 1.0;
		for (int j = 0; j < pr; j++)
			rrow[j] = row[j == 0 ? 0 : j + 1];
		maxerr = fmax(maxerr, fabs(mfk_linear_predict_row(coef, icpt, p, row) -
								   mfk_linear_predict_row(rcoef, ricpt, pr, rrow)));
	}
	/* the null direction of the standardised columns is (0, |c_1|, ...) */
	for (int c = 0; c < k; c++)
	{
		double		m = 0.0,
					ss = 0.0;

		for (int i = 0; i < n; i++)
			m += X[i * p + 1 + c] / n;
		for (int i = 0; i < n; i++)
			ss += (X[i * p + 1 + c] - m) * (X[i * p + 1 + c] - m);
		orth += coef[1 + c] * ss;
	}
	snprintf(name, sizeof(name),
			 "one-hot beside the intercept (%s): reference-coding predictions to 1e-9 (%.1e)",
			 force_qr ? "qr" : "auto", maxerr);
	MF_OK(rc == MF_KOK && info.method == MF_LINREG_MIN_NORM && maxerr < 1e-9, name);
	MF_OK(fabs(orth) < 1e-8 * n, "one-hot: minimum norm (orthogonal to the null direction)");
	free(X);
	free(Xr);
	free(y);
}

int
main(void)
{
	MfRng		r;
	int			n = 500,
				p = 5,
				i,
				j;
	double		truth[5] = {1.5, -2.0, 0.25, 3.0, -0.5};
	double		b0 = 0.75;
	double	   *X = malloc(sizeof(double) * n * p);
	double	   *y = malloc(sizeof(double) * n);
	double		coef[5],
				icpt,
				rcoef[5],
				ricpt;
	MfLinregOpts o;
	MfLinregInfo info;
	int			rc;
	double		maxerr;

	openblas_set_num_threads(1);
	env.alloc = mfk_malloc_allocator;
	env.progress = progress_cb;
	mfk_rng_seed(&r, 42);
	for (i = 0; i < n; i++)
	{
		y[i] = b0;
		for (j = 0; j < p; j++)
		{
			X[i * p + j] = mfk_rng_normal(&r) * (j + 1) + j;
			y[i] += truth[j] * X[i * p + j];
		}
	}

	/* 1. OLS, noise-free: exact recovery by Cholesky */
	mfk_linreg_defaults(&o);
	rc = mfk_linreg_fit(&env, X, y, n, p, &o, coef, &icpt, &info);
	MF_OK(rc == MF_KOK, "ols fit succeeds");
	MF_OK(info.method == MF_LINREG_CHOLESKY, "ols uses cholesky");
	maxerr = fabs(icpt - b0);
	for (j = 0; j < p; j++)
		maxerr = fmax(maxerr, fabs(coef[j] - truth[j]));
	MF_OK(maxerr < 1e-6, "ols recovers true coefficients to 1e-6");
	MF_DIAG("max error %.3g, rcond %.3g", maxerr, info.rcond);
	MF_OK(calls > 0, "progress callback called");

	/* 2. forced QR gives the same */
	o.force_qr = 1;
	rc = mfk_linreg_fit(&env, X, y, n, p, &o, coef, &icpt, &info);
	maxerr = fabs(icpt - b0);
	for (j = 0; j < p; j++)
		maxerr = fmax(maxerr, fabs(coef[j] - truth[j]));
	MF_OK(rc == MF_KOK && info.method == MF_LINREG_QR, "forced qr path");
	MF_OK(maxerr < 1e-8, "qr recovers true coefficients");

	/* 3. ridge vs explicit formula, with noise */
	for (i = 0; i < n; i++)
		y[i] += 0.3 * mfk_rng_normal(&r);
	o.force_qr = 0;
	o.alpha = 25.0;
	rc = mfk_linreg_fit(&env, X, y, n, p, &o, coef, &icpt, &info);
	ref_ridge(X, y, n, p, 25.0, rcoef, &ricpt);
	maxerr = fabs(icpt - ricpt);
	for (j = 0; j < p; j++)
		maxerr = fmax(maxerr, fabs(coef[j] - rcoef[j]));
	MF_OK(rc == MF_KOK, "ridge fit succeeds");
	MF_OK(maxerr < 1e-9, "ridge matches (X'X+aI)^-1 X'y by gaussian elimination");
	MF_DIAG("ridge max diff %.3g", maxerr);
	check_width(&env, 16);
	check_width(&env, 17);
	check_width(&env, 3);
	MF_OK(fabs(coef[3] - rcoef[3]) < 1e-9 && fabs(coef[3] - truth[3]) > 1e-4,
		  "ridge shrinks (differs from ols truth)");
	o.force_qr = 1;
	rc = mfk_linreg_fit(&env, X, y, n, p, &o, coef, &icpt, &info);
	maxerr = fabs(icpt - ricpt);
	for (j = 0; j < p; j++)
		maxerr = fmax(maxerr, fabs(coef[j] - rcoef[j]));
	MF_OK(rc == MF_KOK && info.method == MF_LINREG_QR && maxerr < 1e-9,
		  "ridge via augmented qr matches formula");

	/* 4. nearly collinear: x2 = x1 + 1e-7 * noise -> QR fallback */
	{
		int			n2 = 300;
		double	   *X2 = malloc(sizeof(double) * n2 * 3);
		double	   *y2 = malloc(sizeof(double) * n2);
		double		c2[3],
					i2;

		for (i = 0; i < n2; i++)
		{
			double		a = mfk_rng_normal(&r);

			X2[i * 3 + 0] = a;
			X2[i * 3 + 1] = a + 1e-7 * mfk_rng_normal(&r);
			X2[i * 3 + 2] = mfk_rng_normal(&r);
			y2[i] = 2.0 * X2[i * 3 + 0] - 1.0 * X2[i * 3 + 1] + 0.5 * X2[i * 3 + 2] + 4.0;
		}
		mfk_linreg_defaults(&o);
		rc = mfk_linreg_fit(&env, X2, y2, n2, 3, &o, c2, &i2, &info);
		MF_OK(rc == MF_KOK, "nearly collinear fit succeeds");
		MF_OK(info.method == MF_LINREG_QR, "nearly collinear design falls back to qr");
		MF_DIAG("collinear rcond %.3g coef %.10g %.10g %.10g %.10g", info.rcond, c2[0], c2[1], c2[2], i2);
		MF_OK(fabs(c2[0] - 2.0) < 1e-5 && fabs(c2[1] + 1.0) < 1e-5 &&
			  fabs(c2[2] - 0.5) < 1e-9 && fabs(i2 - 4.0) < 1e-9,
			  "qr recovers coefficients of the collinear design");

		/* exactly collinear: the minimum-norm least-squares solution */
		for (i = 0; i < n2; i++)
			X2[i * 3 + 1] = 2.0 * X2[i * 3 + 0];
		rc = mfk_linreg_fit(&env, X2, y2, n2, 3, &o, c2, &i2, &info);
		MF_OK(rc == MF_KOK && info.method == MF_LINREG_MIN_NORM,
			  "exactly collinear design: minimum-norm solve");
		/* standardised columns x0/|x0| = x1/|x1|: v0 = v1, so w1 = w0 / 2 */
		MF_OK(fabs(c2[1] - 0.5 * c2[0]) < 1e-9 * fabs(c2[0]),
			  "exactly collinear design: minimum norm on standardised columns");
		/* ... but ridge handles it */
		o.alpha = 1.0;
		rc = mfk_linreg_fit(&env, X2, y2, n2, 3, &o, c2, &i2, &info);
		MF_OK(rc == MF_KOK, "ridge on exactly collinear design succeeds");

		/* constant column: coefficient 0 via qr */
		for (i = 0; i < n2; i++)
		{
			X2[i * 3 + 1] = 0.1;
			y2[i] = 2.0 * X2[i * 3 + 0] + 0.5 * X2[i * 3 + 2] + 4.0;
		}
		o.alpha = 0.0;
		rc = mfk_linreg_fit(&env, X2, y2, n2, 3, &o, c2, &i2, &info);
		MF_DIAG("rc %d method %d nconst %d rcond %g c %g %g %g", rc, info.method, info.n_constant, info.rcond, c2[0], c2[1], c2[2]);
		MF_OK(rc == MF_KOK && info.method == MF_LINREG_QR && info.n_constant == 1,
			  "constant column detected");
		MF_OK(c2[1] == 0.0 && fabs(c2[0] - 2.0) < 1e-9 && fabs(i2 - 4.0) < 1e-9,
			  "constant column gets coefficient 0");
		free(X2);
		free(y2);
	}

	check_onehot(&env, 0);
	check_onehot(&env, 1);

	/* 5. no intercept */
	{
		double		Xs[8] = {1, 0, 0, 1, 1, 1, 2, 1};
		double		ys[4] = {3, -1, 2, 5};
		double		cs[2],
					is;

		mfk_linreg_defaults(&o);
		o.fit_intercept = 0;
		rc = mfk_linreg_fit(&env, Xs, ys, 4, 2, &o, cs, &is, NULL);
		MF_OK(rc == MF_KOK && is == 0.0, "no-intercept fit");
		MF_CLOSE(cs[0], 3.0, 1e-12, "no-intercept coef 0");
		MF_CLOSE(cs[1], -1.0, 1e-12, "no-intercept coef 1");
	}

	/* 6. errors */
	mfk_linreg_defaults(&o);
	X[7] = NAN;
	rc = mfk_linreg_fit(&env, X, y, n, p, &o, coef, &icpt, &info);
	MF_OK(rc == MF_KERR_INPUT_NOT_FINITE, "nan input rejected");
	X[7] = 1.0;
	o.alpha = -1;
	MF_OK(mfk_linreg_fit(&env, X, y, n, p, &o, coef, &icpt, &info) == MF_KERR_BADARG,
		  "negative alpha rejected");
	mfk_linreg_defaults(&o);
	calls = 0;
	cancel_after = 0;
	MF_OK(mfk_linreg_fit(&env, X, y, n, p, &o, coef, &icpt, &info) == MF_KERR_CANCELLED,
		  "cancel via callback");
	cancel_after = -1;
	MF_STR_EQ(mfk_strerror(MF_KERR_NOT_FINITE), "non-finite value in the weights", "error message");

	/* 7. batch predict vs row predict */
	{
		double	   *out = malloc(sizeof(double) * n);
		double		md = 0;

		rc = mfk_linreg_fit(&env, X, y, n, p, &o, coef, &icpt, &info);
		rc |= mfk_linear_predict(&env, X, n, p, coef, icpt, out);
		for (i = 0; i < n; i++)
			md = fmax(md, fabs(out[i] - mfk_linear_predict_row(coef, icpt, p, X + i * p)));
		MF_OK(rc == MF_KOK && md < 1e-12, "batch predict equals row predict");
		free(out);
	}

	/* 8. larger n crosses block boundaries: same answer as small-block reference */
	{
		int			nb = 150000,
					pb = 3;
		double	   *Xb = malloc(sizeof(double) * nb * pb);
		double	   *yb = malloc(sizeof(double) * nb);
		double		cb[3],
					ib,
					me = 0;

		for (i = 0; i < nb; i++)
		{
			yb[i] = -1.0;
			for (j = 0; j < pb; j++)
			{
				Xb[i * pb + j] = mfk_rng_uniform(&r) * 10;
				yb[i] += (j + 1) * Xb[i * pb + j];
			}
		}
		calls = 0;
		rc = mfk_linreg_fit(&env, Xb, yb, nb, pb, &o, cb, &ib, &info);
		for (j = 0; j < pb; j++)
			me = fmax(me, fabs(cb[j] - (j + 1)));
		MF_OK(rc == MF_KOK && me < 1e-9 && fabs(ib + 1.0) < 1e-8, "multi-block fit exact");
		MF_OK(calls >= 4, "progress called between blocks");
		free(Xb);
		free(yb);
	}
	free(X);
	free(y);
	return mf_test_done();
}
