/*
 * lbfgs.c - limited-memory BFGS with a strong-Wolfe line search.
 *
 * Design note.  The direction comes from the usual two-loop recursion over
 * the last m (s, y) pairs with H0 = (s'y / y'y) I.  The line search is the
 * bracketing / zoom algorithm of Nocedal & Wright (algorithms 3.5 and 3.6)
 * with safeguarded cubic interpolation (c1 = 1e-4, c2 = 0.9); a point that
 * meets the approximate Wolfe conditions of Hager and Zhang (sufficient
 * decrease judged by the slope, f within 1e-10 relative) is accepted too,
 * so that rounding noise in f near the optimum does not stall it.  Pairs with
 * s'y <= eps y'y are skipped, which keeps H positive definite.  When the
 * line search cannot make progress (usually rounding noise next to the
 * optimum) the memory is cleared and steepest descent is tried once; if
 * that fails too, the optimiser stops and reports whether the gradient
 * tolerance was met.  All workspace is allocated once, up front.
 */
#include "mf_kernels.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define MFK_C1 1e-4
#define MFK_C2 0.9
#define MFK_FEPS 1e-10

/* Workspace of one run. */
typedef struct MfkLbfgs
{
	MfObjectiveFn fn;
	void	   *ctx;
	size_t		n;
	int			m;
	double	   *g,
			   *d,
			   *xt,
			   *gt,
			   *S,
			   *Y,
			   *rho,
			   *al;
	int			n_pairs,
				head;			/* next slot to write */
	int			n_eval;
} MfkLbfgs;

/* Dot product. */
static double
MfkDot(const double *a, const double *b, size_t n)
{
	double		s = 0.0;
	size_t		i;

	for (i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* Max-norm. */
static double
MfkNormInf(const double *a, size_t n)
{
	double		s = 0.0;
	size_t		i;

	for (i = 0; i < n; i++)
		if (fabs(a[i]) > s)
			s = fabs(a[i]);
	return s;
}

/* Default options. */
void
mfk_lbfgs_defaults(MfLbfgsOpts *o)
{
	o->m = 10;
	o->max_iter = 100;
	o->gtol = 1e-4;
	o->ftol = 1e-12;
	o->max_linesearch = 20;
	o->phase = "lbfgs";
}

/* d = -H g by the two-loop recursion. */
static void
MfkTwoLoop(MfkLbfgs *w)
{
	size_t		n = w->n,
				i;
	int			k,
				idx;
	double		gamma = 1.0;

	for (i = 0; i < n; i++)
		w->d[i] = -w->g[i];
	for (k = 0; k < w->n_pairs; k++)
	{
		idx = (w->head - 1 - k + w->m) % w->m;
		w->al[idx] = w->rho[idx] * MfkDot(w->S + (size_t) idx * n, w->d, n);
		for (i = 0; i < n; i++)
			w->d[i] -= w->al[idx] * w->Y[(size_t) idx * n + i];
	}
	if (w->n_pairs > 0)
	{
		idx = (w->head - 1 + w->m) % w->m;
		gamma = 1.0 / (w->rho[idx] *
					   MfkDot(w->Y + (size_t) idx * n, w->Y + (size_t) idx * n, n));
	}
	for (i = 0; i < n; i++)
		w->d[i] *= gamma;
	for (k = w->n_pairs - 1; k >= 0; k--)
	{
		double		beta;

		idx = (w->head - 1 - k + w->m) % w->m;
		beta = w->rho[idx] * MfkDot(w->Y + (size_t) idx * n, w->d, n);
		for (i = 0; i < n; i++)
			w->d[i] += (w->al[idx] - beta) * w->S[(size_t) idx * n + i];
	}
}

/* Evaluate at x + a d into xt, *f, gt; returns MfKErr. */
static int
MfkEvalAt(MfkLbfgs *w, const double *x, double a, double *f, double *dg)
{
	size_t		i;
	int			rc;

	for (i = 0; i < w->n; i++)
		w->xt[i] = x[i] + a * w->d[i];
	w->n_eval++;
	rc = w->fn(w->ctx, w->xt, f, w->gt);
	if (rc != MF_KOK)
		return rc;
	*dg = MfkDot(w->gt, w->d, w->n);
	if (!isfinite(*f) || !isfinite(*dg))
		*f = INFINITY;
	return MF_KOK;
}

/* Safeguarded cubic minimiser of the interpolant through (a,fa,da), (b,fb,db). */
static double
MfkCubicStep(double a, double fa, double da, double b, double fb, double db)
{
	double		lo = fmin(a, b),
				hi = fmax(a, b),
				width = hi - lo;
	double		d1 = da + db - 3.0 * (fa - fb) / (a - b);
	double		disc = d1 * d1 - da * db;
	double		d2,
				t;

	if (disc >= 0.0 && isfinite(disc))
	{
		d2 = (b > a ? 1.0 : -1.0) * sqrt(disc);
		t = b - (b - a) * (db + d2 - d1) / (db - da + 2.0 * d2);
		if (isfinite(t) && t > lo + 0.1 * width && t < hi - 0.1 * width)
			return t;
	}
	return 0.5 * (lo + hi);
}

/*
 * Approximate Wolfe conditions (Hager and Zhang): near the optimum the
 * decrease c1 a f'(0) falls below the rounding error of f, and the Armijo
 * test fails at random.  There the slope, which stays accurate, decides:
 * f(a) <= f(0) + MFK_FEPS |f(0)| and c2 f'(0) <= f'(a) <= (2 c1 - 1) f'(0).
 */
static int
MfkApproxWolfe(double f0, double dg0, double fa, double dga)
{
	return fa <= f0 + MFK_FEPS * fabs(f0) &&
		dga >= MFK_C2 * dg0 && dga <= (2.0 * MFK_C1 - 1.0) * dg0;
}

/*
 * Strong-Wolfe line search from x along w->d.  On success xt, gt and *f hold
 * the accepted point (returns MF_KOK); MF_KERR_LINESEARCH when no point
 * satisfying sufficient decrease was found.
 */
static int
MfkLineSearch(MfkLbfgs *w, const double *x, double f0, double dg0,
			  double stp, int max_eval, double *f)
{
	double		a_prev = 0.0,
				f_prev = f0,
				dg_prev = dg0;
	double		a = stp,
				fa = 0.0,
				dga = 0.0;
	double		lo,
				flo,
				dglo,
				hi,
				fhi,
				dghi;
	int			i,
				rc;

	for (i = 0; i < max_eval; i++)
	{
		if ((rc = MfkEvalAt(w, x, a, &fa, &dga)) != MF_KOK)
			return rc;
		if (!isfinite(fa))
		{
			a = a_prev + 0.25 * (a - a_prev);
			continue;
		}
		if (MfkApproxWolfe(f0, dg0, fa, dga))
		{
			*f = fa;
			return MF_KOK;
		}
		if (fa > f0 + MFK_C1 * a * dg0 || (i > 0 && fa >= f_prev))
		{
			lo = a_prev, flo = f_prev, dglo = dg_prev;
			hi = a, fhi = fa, dghi = dga;
			goto zoom;
		}
		if (fabs(dga) <= -MFK_C2 * dg0)
		{
			*f = fa;
			return MF_KOK;
		}
		if (dga >= 0)
		{
			lo = a, flo = fa, dglo = dga;
			hi = a_prev, fhi = f_prev, dghi = dg_prev;
			goto zoom;
		}
		a_prev = a, f_prev = fa, dg_prev = dga;
		a *= 2.0;
	}
	return MF_KERR_LINESEARCH;

zoom:
	for (i++; i < max_eval; i++)
	{
		a = MfkCubicStep(lo, flo, dglo, hi, fhi, dghi);
		if ((rc = MfkEvalAt(w, x, a, &fa, &dga)) != MF_KOK)
			return rc;
		if (isfinite(fa) && MfkApproxWolfe(f0, dg0, fa, dga))
		{
			*f = fa;
			return MF_KOK;
		}
		if (fa > f0 + MFK_C1 * a * dg0 || fa >= flo)
		{
			hi = a, fhi = fa, dghi = dga;
		}
		else
		{
			if (fabs(dga) <= -MFK_C2 * dg0)
			{
				*f = fa;
				return MF_KOK;
			}
			if (dga * (hi - lo) >= 0)
			{
				hi = lo, fhi = flo, dghi = dglo;
			}
			lo = a, flo = fa, dglo = dga;
		}
		if (fabs(hi - lo) <= DBL_EPSILON * fmax(1.0, fabs(lo)))
			break;
	}
	/* accept the best sufficient-decrease point if it is strictly better */
	if (lo > 0.0 && flo < f0)
	{
		if (a != lo && (rc = MfkEvalAt(w, x, lo, &fa, &dga)) != MF_KOK)
			return rc;
		*f = fa;
		return MF_KOK;
	}
	return MF_KERR_LINESEARCH;
}

/* Free the workspace. */
static void
MfkLbfgsFree(const MfAllocator *a, MfkLbfgs *w)
{
	mfk_free(a, w->g);
	mfk_free(a, w->d);
	mfk_free(a, w->xt);
	mfk_free(a, w->gt);
	mfk_free(a, w->S);
	mfk_free(a, w->Y);
	mfk_free(a, w->rho);
	mfk_free(a, w->al);
}

/* Store the pair s = xt - x, y = gt - g if the curvature is positive. */
static void
MfkPushPair(MfkLbfgs *w, const double *x)
{
	size_t		n = w->n,
				i;
	double	   *s = w->S + (size_t) w->head * n;
	double	   *y = w->Y + (size_t) w->head * n;
	double		sy,
				yy;

	for (i = 0; i < n; i++)
	{
		s[i] = w->xt[i] - x[i];
		y[i] = w->gt[i] - w->g[i];
	}
	sy = MfkDot(s, y, n);
	yy = MfkDot(y, y, n);
	if (!(sy > DBL_EPSILON * yy) || yy == 0.0)
		return;
	w->rho[w->head] = 1.0 / sy;
	w->head = (w->head + 1) % w->m;
	if (w->n_pairs < w->m)
		w->n_pairs++;
}

/* Minimise fn from x. */
int
mfk_lbfgs(const MfEnv *env, MfObjectiveFn fn, void *ctx, double *x, size_t n,
		  const MfLbfgsOpts *o, MfHistory *hist, MfLbfgsInfo *info)
{
	const MfAllocator *a = &env->alloc;
	MfLbfgsOpts def;
	MfkLbfgs	w;
	MfProgress	pr;
	double		f = 0.0,
				fnew = 0.0,
				gnorm = 0.0;
	int			rc,
				iter = 0,
				converged = 0;

	if (o == NULL)
	{
		mfk_lbfgs_defaults(&def);
		o = &def;
	}
	if (fn == NULL || x == NULL || n == 0 || o->m < 1 || o->max_iter < 0)
		return MF_KERR_BADARG;
	memset(&w, 0, sizeof(w));
	w.fn = fn;
	w.ctx = ctx;
	w.n = n;
	w.m = o->m;
	w.g = mfk_alloc_doubles(a, n);
	w.d = mfk_alloc_doubles(a, n);
	w.xt = mfk_alloc_doubles(a, n);
	w.gt = mfk_alloc_doubles(a, n);
	w.S = mfk_alloc_doubles(a, n * (size_t) o->m);
	w.Y = mfk_alloc_doubles(a, n * (size_t) o->m);
	w.rho = mfk_alloc_doubles(a, o->m);
	w.al = mfk_alloc_doubles(a, o->m);
	if (!w.g || !w.d || !w.xt || !w.gt || !w.S || !w.Y || !w.rho || !w.al)
	{
		rc = MF_KERR_NOMEM;
		goto done;
	}
	w.n_eval = 1;
	if ((rc = fn(ctx, x, &f, w.g)) != MF_KOK)
		goto done;
	if (!isfinite(f) || !mfk_all_finite(w.g, n))
	{
		rc = MF_KERR_NOT_FINITE;
		goto done;
	}
	gnorm = MfkNormInf(w.g, n);
	while (gnorm > o->gtol && iter < o->max_iter)
	{
		double		dg,
					stp;
		int			attempt;

		rc = MF_KERR_LINESEARCH;
		for (attempt = 0; attempt < 2 && rc == MF_KERR_LINESEARCH; attempt++)
		{
			if (attempt > 0)
				w.n_pairs = 0;	/* retry along steepest descent */
			MfkTwoLoop(&w);
			dg = MfkDot(w.d, w.g, n);
			if (!(dg < 0.0))
			{
				w.n_pairs = 0;
				MfkTwoLoop(&w);
				dg = MfkDot(w.d, w.g, n);
			}
			stp = w.n_pairs == 0 ? fmin(1.0, 1.0 / sqrt(MfkDot(w.g, w.g, n))) : 1.0;
			rc = MfkLineSearch(&w, x, f, dg, stp, o->max_linesearch, &fnew);
			if (rc == MF_KERR_LINESEARCH && w.n_pairs == 0)
				break;
		}
		if (rc == MF_KERR_LINESEARCH)
		{
			rc = MF_KOK;		/* no further progress possible */
			break;
		}
		if (rc != MF_KOK)
			goto done;
		MfkPushPair(&w, x);
		memcpy(x, w.xt, n * sizeof(double));
		memcpy(w.g, w.gt, n * sizeof(double));
		iter++;
		gnorm = MfkNormInf(w.g, n);
		mfk_history_push(hist, fnew, NAN);
		pr.kind = MF_PROGRESS_ITERATION;
		pr.phase = o->phase;
		pr.iteration = iter;
		pr.total = o->max_iter;
		pr.loss = fnew;
		pr.val_loss = NAN;
		pr.fraction = (double) iter / (double) (o->max_iter > 0 ? o->max_iter : 1);
		if ((rc = mfk_report(env, &pr)) != MF_KOK)
			goto done;
		if (fabs(f - fnew) <= o->ftol * fmax(1.0, fmax(fabs(f), fabs(fnew))))
		{
			f = fnew;
			break;
		}
		f = fnew;
	}
	converged = gnorm <= o->gtol;
	if (!mfk_all_finite(x, n))
		rc = MF_KERR_NOT_FINITE;
done:
	if (info != NULL)
	{
		info->n_iter = iter;
		info->n_eval = w.n_eval;
		info->f = f;
		info->gnorm_inf = gnorm;
		info->converged = converged;
	}
	MfkLbfgsFree(a, &w);
	return rc;
}
