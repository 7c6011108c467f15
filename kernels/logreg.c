/*
 * logreg.c - binary and multinomial logistic regression.
 *
 * Design note.  The objective is scikit-learn's:
 *   f(w, b) = C * sum_i logloss_i + 0.5 ||w||^2     (intercepts unpenalised)
 * with the binary loss from logits (max(z,0) - y z + log1p(exp(-|z|))) and
 * the multinomial loss from the log-softmax over all K classes (the full,
 * over-parameterised form; the penalty makes W unique, and the intercepts
 * stay centred because their gradient sums to zero).  Parameters are packed
 * as [w (p or p x K row-major), b (1 or K)] in one vector for L-BFGS.
 *
 * Objective and gradient are evaluated in row blocks (gemv / gemm), with a
 * progress tick between blocks when n spans several blocks.  The binary
 * Newton solver (IRLS) builds H = Xa' D Xa + I_w with dsyrk over blocks of
 * sqrt(d_i) [x_i, 1], solves with Cholesky, and backtracks on f.
 */
#include "mf_kernels.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <string.h>

extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda,
					int *info, size_t uplo_len);
extern void dpotrs_(const char *uplo, const int *n, const int *nrhs,
					const double *a, const int *lda, double *b, const int *ldb,
					int *info, size_t uplo_len);

#define MFK_PHASE "logreg"

/* Problem description and scratch for objective evaluations. */
typedef struct MfkLogCtx
{
	const MfEnv *env;
	const double *X;
	const int  *y;
	size_t		n,
				p;
	int			K;				/* columns of W: 1 (binary) or n_classes */
	int			multinomial;
	int			fit_intercept;
	int			penalty;
	double		C;
	size_t		block;
	double	   *Z;				/* block x K */
	int64_t		iter;			/* for progress ticks */
} MfkLogCtx;

/* Default options (scikit-learn's). */
void
mfk_logreg_defaults(MfLogregOpts *o)
{
	memset(o, 0, sizeof(*o));
	o->C = 1.0;
	o->penalty = 1;
	o->fit_intercept = 1;
	o->multinomial = 0;
	o->solver = MF_LOGREG_LBFGS;
	o->max_iter = 100;
	o->tol = 1e-4;
}

/* Coefficients stored for a model. */
size_t
mfk_logreg_n_coef(size_t p, int n_classes, int multinomial)
{
	return (n_classes == 2 && !multinomial) ? p : p * (size_t) n_classes;
}

/* Intercepts stored for a model. */
size_t
mfk_logreg_n_intercept(int n_classes, int multinomial)
{
	return (n_classes == 2 && !multinomial) ? 1 : (size_t) n_classes;
}

/* f and g at x = [W, b]; g may be NULL. */
static int
MfkLogEval(MfkLogCtx *c, const double *x, double *f, double *g)
{
	size_t		p = c->p,
				K = (size_t) c->K,
				nw = p * K,
				r0,
				i,
				k;
	const double *W = x;
	const double *b = x + nw;
	double		loss = 0.0,
				pen = 0.0;
	int			rc;

	if (g != NULL)
		memset(g, 0, (nw + (c->fit_intercept ? K : 0)) * sizeof(double));
	for (r0 = 0; r0 < c->n; r0 += c->block)
	{
		size_t		r1 = r0 + c->block < c->n ? r0 + c->block : c->n;
		int			rows = (int) (r1 - r0);
		const double *Xb = c->X + r0 * p;

		for (i = 0; i < (size_t) rows; i++)
			for (k = 0; k < K; k++)
				c->Z[i * K + k] = c->fit_intercept ? b[k] : 0.0;
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, (int) K,
					(int) p, 1.0, Xb, (int) p, W, (int) K, 1.0, c->Z, (int) K);
		/* loss, and Z becomes the residual C (P - Y) */
		for (i = 0; i < (size_t) rows; i++)
		{
			double	   *z = c->Z + i * K;
			int			yi = c->y[r0 + i];

			if (!c->multinomial)
			{
				double		zi = z[0];

				loss += (zi > 0 ? zi : 0.0) - (yi ? zi : 0.0) + log1p(exp(-fabs(zi)));
				z[0] = c->C * (mfk_sigmoid(zi) - (double) yi);
			}
			else
			{
				double		m = z[0],
							s = 0.0,
							lse;

				for (k = 1; k < K; k++)
					if (z[k] > m)
						m = z[k];
				for (k = 0; k < K; k++)
					s += exp(z[k] - m);
				lse = m + log(s);
				loss += lse - z[yi];
				for (k = 0; k < K; k++)
					z[k] = c->C * exp(z[k] - lse);
				z[yi] -= c->C;
			}
		}
		if (g != NULL)
		{
			cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) p,
						(int) K, rows, 1.0, Xb, (int) p, c->Z, (int) K, 1.0,
						g, (int) K);
			if (c->fit_intercept)
				for (i = 0; i < (size_t) rows; i++)
					for (k = 0; k < K; k++)
						g[nw + k] += c->Z[i * K + k];
		}
		if (r1 < c->n &&
			(rc = mfk_tick(c->env, MFK_PHASE, c->iter, 0,
						   (double) r1 / (double) c->n)) != MF_KOK)
			return rc;
	}
	if (c->penalty)
	{
		for (i = 0; i < nw; i++)
		{
			pen += W[i] * W[i];
			if (g != NULL)
				g[i] += W[i];
		}
	}
	*f = c->C * loss + 0.5 * pen;
	return MF_KOK;
}

/* MfObjectiveFn adapter for L-BFGS. */
static int
MfkLogObjective(void *ctx, const double *x, double *f, double *g)
{
	MfkLogCtx  *c = (MfkLogCtx *) ctx;

	c->iter++;
	return MfkLogEval(c, x, f, g);
}

/* Max-norm. */
static double
MfkLogNormInf(const double *a, size_t n)
{
	double		s = 0.0;
	size_t		i;

	for (i = 0; i < n; i++)
		s = fmax(s, fabs(a[i]));
	return s;
}

/* Hessian of the binary objective at x into H (q x q, q = p + intercept). */
static int
MfkLogHessian(MfkLogCtx *c, const double *x, double *H, double *buf, int q)
{
	size_t		p = c->p,
				r0,
				i,
				j;
	int			first = 1,
				rc;

	for (r0 = 0; r0 < c->n; r0 += c->block)
	{
		size_t		r1 = r0 + c->block < c->n ? r0 + c->block : c->n;

		for (i = r0; i < r1; i++)
		{
			const double *xi = c->X + i * p;
			double	   *bi = buf + (i - r0) * (size_t) q;
			double		z = c->fit_intercept ? x[p] : 0.0;
			double		s,
						sd;

			for (j = 0; j < p; j++)
				z += xi[j] * x[j];
			s = mfk_sigmoid(z);
			sd = sqrt(c->C * s * (1.0 - s));
			for (j = 0; j < p; j++)
				bi[j] = sd * xi[j];
			if (c->fit_intercept)
				bi[p] = sd;
		}
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, q, (int) (r1 - r0),
					1.0, buf, q, first ? 0.0 : 1.0, H, q);
		first = 0;
		if (r1 < c->n &&
			(rc = mfk_tick(c->env, MFK_PHASE, c->iter, 0,
						   (double) r1 / (double) c->n)) != MF_KOK)
			return rc;
	}
	if (c->penalty)
		for (j = 0; j < p; j++)
			H[j * q + j] += 1.0;
	return MF_KOK;
}

/* Newton / IRLS for the binary problem; x has p (+1) entries. */
static int
MfkLogNewton(MfkLogCtx *c, const MfLogregOpts *o, double *x, MfHistory *hist,
			 MfLogregInfo *info)
{
	const MfAllocator *a = &c->env->alloc;
	int			q = (int) c->p + (c->fit_intercept ? 1 : 0),
				one = 1,
				lapinfo = 0,
				iter = 0,
				rc,
				j;
	double	   *H = mfk_alloc_doubles(a, (size_t) q * q);
	double	   *g = mfk_alloc_doubles(a, q);
	double	   *d = mfk_alloc_doubles(a, q);
	double	   *xt = mfk_alloc_doubles(a, q);
	double	   *buf = mfk_alloc_doubles(a, c->block * (size_t) q);
	double		f = 0.0,
				gnorm = 0.0;
	MfProgress	pr;

	if (!H || !g || !d || !xt || !buf)
	{
		rc = MF_KERR_NOMEM;
		goto done;
	}
	if ((rc = MfkLogEval(c, x, &f, g)) != MF_KOK)
		goto done;
	gnorm = MfkLogNormInf(g, q);
	while (gnorm > o->tol && iter < o->max_iter)
	{
		double		t = 1.0,
					ft = 0.0,
					gd = 0.0;

		c->iter = iter + 1;
		if ((rc = MfkLogHessian(c, x, H, buf, q)) != MF_KOK)
			goto done;
		dpotrf_("L", &q, H, &q, &lapinfo, 1);	/* row-major upper = col-major lower */
		if (lapinfo != 0)
		{
			rc = MF_KERR_SINGULAR;
			goto done;
		}
		memcpy(d, g, (size_t) q * sizeof(double));
		dpotrs_("L", &q, &one, H, &q, d, &q, &lapinfo, 1);
		for (j = 0; j < q; j++)
			gd += g[j] * d[j];
		/* backtracking (Armijo) along -d */
		for (;;)
		{
			for (j = 0; j < q; j++)
				xt[j] = x[j] - t * d[j];
			if ((rc = MfkLogEval(c, xt, &ft, NULL)) != MF_KOK)
				goto done;
			if ((isfinite(ft) && ft <= f - 1e-4 * t * gd) || t < 1e-10)
				break;
			t *= 0.5;
		}
		if (!(ft <= f))
			break;				/* no progress possible (rounding) */
		memcpy(x, xt, (size_t) q * sizeof(double));
		if ((rc = MfkLogEval(c, x, &f, g)) != MF_KOK)
			goto done;
		gnorm = MfkLogNormInf(g, q);
		iter++;
		mfk_history_push(hist, f, NAN);
		pr.kind = MF_PROGRESS_ITERATION;
		pr.phase = MFK_PHASE;
		pr.iteration = iter;
		pr.total = o->max_iter;
		pr.loss = f;
		pr.val_loss = NAN;
		pr.fraction = (double) iter / (double) o->max_iter;
		if ((rc = mfk_report(c->env, &pr)) != MF_KOK)
			goto done;
	}
	info->n_iter = iter;
	info->objective = f;
	info->gnorm_inf = gnorm;
	info->converged = gnorm <= o->tol;
done:
	mfk_free(a, H);
	mfk_free(a, g);
	mfk_free(a, d);
	mfk_free(a, xt);
	mfk_free(a, buf);
	return rc;
}

/* Validate arguments and fill the evaluation context. */
static int
MfkLogSetup(MfkLogCtx *c, const MfEnv *env, const double *X, const int *y,
			size_t n, size_t p, int n_classes, const MfLogregOpts *o)
{
	size_t		i;

	memset(c, 0, sizeof(*c));
	if (env == NULL || X == NULL || y == NULL || n == 0 || p == 0 ||
		n_classes < 2 || n > (size_t) INT_MAX || p > (size_t) INT_MAX ||
		!(o->C > 0.0) || !isfinite(o->C) || o->max_iter < 0)
		return MF_KERR_BADARG;
	if (o->solver == MF_LOGREG_NEWTON &&
		(n_classes != 2 || o->multinomial || p > 46340))
		return MF_KERR_BADARG;
	for (i = 0; i < n; i++)
		if (y[i] < 0 || y[i] >= n_classes)
			return MF_KERR_BADARG;
	if (!mfk_all_finite(X, n * p))
		return MF_KERR_INPUT_NOT_FINITE;
	c->env = env;
	c->X = X;
	c->y = y;
	c->n = n;
	c->p = p;
	c->multinomial = !(n_classes == 2 && !o->multinomial);
	c->K = c->multinomial ? n_classes : 1;
	c->fit_intercept = o->fit_intercept;
	c->penalty = o->penalty;
	c->C = o->C;
	c->block = mfk_block_rows(p * (size_t) c->K);
	if (c->block > n)
		c->block = n;
	c->Z = mfk_alloc_doubles(&env->alloc, c->block * (size_t) c->K);
	return c->Z == NULL ? MF_KERR_NOMEM : MF_KOK;
}

/* Fit logistic regression. */
int
mfk_logreg_fit(const MfEnv *env, const double *X, const int *y, size_t n,
			   size_t p, int n_classes, const MfLogregOpts *o, double *coef,
			   double *intercept, MfHistory *hist, MfLogregInfo *info)
{
	MfLogregOpts def;
	MfkLogCtx	c;
	MfLogregInfo inf;
	double	   *x = NULL;
	size_t		nw,
				nb,
				nx;
	int			rc;

	if (o == NULL)
	{
		mfk_logreg_defaults(&def);
		o = &def;
	}
	if (coef == NULL || intercept == NULL)
		return MF_KERR_BADARG;
	rc = MfkLogSetup(&c, env, X, y, n, p, n_classes, o);
	if (rc != MF_KOK)
		goto done;
	nw = p * (size_t) c.K;
	nb = c.fit_intercept ? (size_t) c.K : 0;
	nx = nw + nb;
	x = mfk_alloc_doubles(&env->alloc, nx);
	if (x == NULL)
	{
		rc = MF_KERR_NOMEM;
		goto done;
	}
	memset(x, 0, nx * sizeof(double));
	memset(&inf, 0, sizeof(inf));
	if (o->solver == MF_LOGREG_NEWTON)
		rc = MfkLogNewton(&c, o, x, hist, &inf);
	else
	{
		MfLbfgsOpts lo;
		MfLbfgsInfo li;

		mfk_lbfgs_defaults(&lo);
		lo.max_iter = o->max_iter;
		lo.gtol = o->tol;
		lo.ftol = 0.0;
		lo.phase = MFK_PHASE;
		rc = mfk_lbfgs(env, MfkLogObjective, &c, x, nx, &lo, hist, &li);
		inf.n_iter = li.n_iter;
		inf.objective = li.f;
		inf.gnorm_inf = li.gnorm_inf;
		inf.converged = li.converged;
	}
	if (rc != MF_KOK)
		goto done;
	if (!mfk_all_finite(x, nx))
	{
		rc = MF_KERR_NOT_FINITE;
		goto done;
	}
	memcpy(coef, x, nw * sizeof(double));
	if (c.fit_intercept)
		memcpy(intercept, x + nw, nb * sizeof(double));
	else
		memset(intercept, 0, (size_t) c.K * sizeof(double));
	if (info != NULL)
		*info = inf;
done:
	mfk_free(&env->alloc, x);
	if (c.Z != NULL)
		mfk_free(&env->alloc, c.Z);
	return rc;
}

/* The objective at (coef, intercept) and its gradient. */
int
mfk_logreg_objective(const MfEnv *env, const double *X, const int *y,
					 size_t n, size_t p, int n_classes, const MfLogregOpts *o,
					 const double *coef, const double *intercept, double *f,
					 double *gcoef, double *gintercept)
{
	MfkLogCtx	c;
	double	   *x = NULL,
			   *g = NULL;
	size_t		nw,
				K;
	int			rc;

	rc = MfkLogSetup(&c, env, X, y, n, p, n_classes, o);
	if (rc != MF_KOK)
		goto done;
	K = (size_t) c.K;
	nw = p * K;
	x = mfk_alloc_doubles(&env->alloc, nw + K);
	g = mfk_alloc_doubles(&env->alloc, nw + K);
	if (x == NULL || g == NULL)
	{
		rc = MF_KERR_NOMEM;
		goto done;
	}
	memcpy(x, coef, nw * sizeof(double));
	if (c.fit_intercept)
		memcpy(x + nw, intercept, K * sizeof(double));
	rc = MfkLogEval(&c, x, f, g);
	if (rc == MF_KOK && gcoef != NULL)
		memcpy(gcoef, g, nw * sizeof(double));
	if (rc == MF_KOK && gintercept != NULL)
	{
		if (c.fit_intercept)
			memcpy(gintercept, g + nw, K * sizeof(double));
		else
			memset(gintercept, 0, K * sizeof(double));
	}
done:
	mfk_free(&env->alloc, x);
	mfk_free(&env->alloc, g);
	if (c.Z != NULL)
		mfk_free(&env->alloc, c.Z);
	return rc;
}

/* Probabilities of one row; no allocation. */
void
mfk_logreg_predict_proba_row(const double *coef, const double *intercept,
							 size_t p, int n_classes, int multinomial,
							 const double *x, double *out)
{
	size_t		j;
	int			k;

	if (n_classes == 2 && !multinomial)
	{
		double		z = intercept != NULL ? intercept[0] : 0.0;

		for (j = 0; j < p; j++)
			z += coef[j] * x[j];
		out[1] = mfk_sigmoid(z);
		out[0] = mfk_sigmoid(-z);
		return;
	}
	for (k = 0; k < n_classes; k++)
		out[k] = intercept != NULL ? intercept[k] : 0.0;
	for (j = 0; j < p; j++)
	{
		const double *wr = coef + j * (size_t) n_classes;

		for (k = 0; k < n_classes; k++)
			out[k] += x[j] * wr[k];
	}
	mfk_softmax_rows(out, out, 1, (size_t) n_classes);
}

/* Probabilities of n rows (n x K) by blocked gemv / gemm. */
int
mfk_logreg_predict_proba(const MfEnv *env, const double *X, size_t n,
						 size_t p, const double *coef, const double *intercept,
						 int n_classes, int multinomial, double *out)
{
	size_t		K = (size_t) n_classes,
				block,
				r0,
				i,
				k;
	int			binary = (n_classes == 2 && !multinomial),
				rc;

	if (X == NULL || coef == NULL || out == NULL || n_classes < 2 ||
		n > (size_t) INT_MAX || p > (size_t) INT_MAX)
		return MF_KERR_BADARG;
	block = mfk_block_rows(p * K);
	for (r0 = 0; r0 < n; r0 += block)
	{
		size_t		r1 = r0 + block < n ? r0 + block : n;
		int			rows = (int) (r1 - r0);
		double	   *ob = out + r0 * K;

		for (i = 0; i < (size_t) rows; i++)
			for (k = 0; k < K; k++)
				ob[i * K + k] = intercept != NULL ? intercept[binary ? 0 : k] : 0.0;
		if (binary)
		{
			cblas_dgemv(CblasRowMajor, CblasNoTrans, rows, (int) p, 1.0,
						X + r0 * p, (int) p, coef, 1, 1.0, ob + 1, 2);
			for (i = 0; i < (size_t) rows; i++)
			{
				double		z = ob[i * 2 + 1];

				ob[i * 2 + 1] = mfk_sigmoid(z);
				ob[i * 2] = mfk_sigmoid(-z);
			}
		}
		else
		{
			cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows,
						(int) K, (int) p, 1.0, X + r0 * p, (int) p, coef,
						(int) K, 1.0, ob, (int) K);
			mfk_softmax_rows(ob, ob, (size_t) rows, K);
		}
		if (r1 < n && (rc = mfk_tick(env, "predict", 1, 1,
									 (double) r1 / (double) n)) != 0)
			return rc;
	}
	return MF_KOK;
}
