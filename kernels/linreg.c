/*
 * linreg.c - linear and ridge regression, solved exactly.
 *
 * Design note.  The data are read in row blocks (progress is reported
 * between blocks).  Pass 1 computes column means (and checks the input is
 * finite); pass 2 accumulates G = Xc'Xc and Xc'yc over centred blocks with
 * dsyrk/dgemv (centring handles the intercept, which is never penalised);
 * up to MFK_GRAM_DIRECT columns G is summed directly, four rows a sweep.
 *
 * Normal equations: A = G + alpha I is equilibrated, S = D^-1/2 A D^-1/2
 * with D = diag(A), factorised by dpotrf, and its reciprocal condition
 * estimated by dpocon.  Cholesky's accuracy depends on the condition of the
 * equilibrated matrix (van der Sluis), so badly scaled but otherwise sound
 * features stay on this fast path.  If the factorisation fails or
 * cond(S) > max_cond, we fall back to QR.
 *
 * QR fallback: least squares on the augmented, standardised system
 *   [ Xc D^-1 ; sqrt(alpha) D^-1 ] v = [ yc ; 0 ],  w = D^-1 v,
 * D = diag of the centred column norms, computed as a blocked
 * (communication-avoiding) QR: R of [R ; next block] by dgeqrf, Q' applied
 * to the right-hand side by dormqr, finally R v = Q'y by dtrtrs.  Memory
 * stays O(block x p), never O(n x p).  Zero-variance columns get
 * coefficient 0.
 *
 * Rank deficiency (a one-hot group beside the intercept, duplicated or
 * collinear columns): when a diagonal entry of R is negligible, and only
 * then, min ||R v - Q'y|| is solved by SVD (dgelsd) with the minimum norm
 * of v, discarding singular values below MFK_MIN_NORM_RCOND times the
 * largest.  ||Xs v - y||^2 = ||R v - Q'y||^2 + const, so this is the
 * least-squares fit of scikit-learn's LinearRegression (fitted values are
 * the same; the coefficients are those of minimum norm on the standardised
 * columns, so a rescaled feature does not change the predictions).  Full
 * rank data never reach this path.
 */
#include "mf_kernels.h"

#include <cblas.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "lapack.h"

#define MFK_PHASE "linreg"
#define MFK_GRAM_DIRECT 16		/* widest G summed by MfkLinGramBlock */
#define MFK_MIN_NORM_RCOND 1e-10	/* relative singular value cut-off */

/* Workspace and sufficient statistics of one fit. */
typedef struct MfkLinWork
{
	const MfEnv *env;
	const double *X;
	const double *y;
	size_t		n,
				p,
				block;
	int			fit_intercept;
	double	   *xm;				/* p column means (0 without intercept) */
	double		ym;
	double	   *maxabs;			/* p max |x_ij| */
	double	   *G;				/* p x p Xc'Xc */
	double	   *xty;			/* p Xc'yc */
	double	   *buf;			/* block x p */
	double	   *ybuf;			/* block */
} MfkLinWork;

/* Sensible default options. */
void
mfk_linreg_defaults(MfLinregOpts *o)
{
	memset(o, 0, sizeof(*o));
	o->alpha = 0.0;
	o->fit_intercept = 1;
	o->max_cond = 1e10;
	o->force_qr = 0;
}

/* Report a tick for a fraction of the passes. */
static int
MfkLinTick(const MfkLinWork *w, double fraction)
{
	return mfk_tick(w->env, MFK_PHASE, 1, 1, fraction);
}

/* A column without variance after centring (or all zeros). */
static int
MfkLinIsConstant(const MfkLinWork *w, size_t j)
{
	double		norm = sqrt(w->G[j * w->p + j]);

	return w->maxabs[j] == 0.0 ||
		norm <= 1e-13 * sqrt((double) w->n) * w->maxabs[j];
}

/* Pass 1: means, max |x|, finiteness. */
static int
MfkLinMeans(MfkLinWork *w)
{
	size_t		i,
				j,
				r0;
	double		ys = 0.0;
	double	   *restrict xm = w->xm,
			   *restrict mx = w->maxabs;

	memset(w->xm, 0, w->p * sizeof(double));
	memset(w->maxabs, 0, w->p * sizeof(double));
	for (r0 = 0; r0 < w->n; r0 += w->block)
	{
		size_t		r1 = r0 + w->block < w->n ? r0 + w->block : w->n;
		int			rc;

		for (i = r0; i < r1; i++)
		{
			const double *restrict xi = w->X + i * w->p;
			int			bad = !isfinite(w->y[i]);

			ys += w->y[i];
			/* branch-free: a NaN fails a <= DBL_MAX as well */
			for (j = 0; j < w->p; j++)
			{
				double		a = fabs(xi[j]);

				bad |= !(a <= DBL_MAX);
				xm[j] += xi[j];
				mx[j] = a > mx[j] ? a : mx[j];
			}
			if (bad)
				return MF_KERR_INPUT_NOT_FINITE;
		}
		if ((rc = MfkLinTick(w, 0.25 * (double) r1 / (double) w->n)) != 0)
			return rc;
	}
	if (w->fit_intercept)
	{
		for (j = 0; j < w->p; j++)
			w->xm[j] /= (double) w->n;
		w->ym = ys / (double) w->n;
	}
	else
	{
		memset(w->xm, 0, w->p * sizeof(double));
		w->ym = 0.0;
	}
	return MF_KOK;
}

/* Copy rows [r0, r1) centred into buf / ybuf. */
static void
MfkLinCentreBlock(MfkLinWork *w, size_t r0, size_t r1)
{
	size_t		i,
				j;

	for (i = r0; i < r1; i++)
	{
		const double *xi = w->X + i * w->p;
		double	   *bi = w->buf + (i - r0) * w->p;

		for (j = 0; j < w->p; j++)
			bi[j] = xi[j] - w->xm[j];
		w->ybuf[i - r0] = w->y[i] - w->ym;
	}
}

/*
 * Upper triangle of B'B for a rows x p block B (p <= MFK_GRAM_DIRECT) added
 * to acc (p x p), four rows a sweep: at this width OpenBLAS's dsyrk spends
 * more time packing than computing.
 */
static void
MfkLinGramBlock(const double *B, size_t rows, size_t p, double *restrict acc)
{
	size_t		i = 0,
				j,
				k;

	for (; i + 4 <= rows; i += 4)
	{
		const double *b0 = B + i * p,
				   *b1 = b0 + p,
				   *b2 = b1 + p,
				   *b3 = b2 + p;

		for (j = 0; j < p; j++)
		{
			double		a0 = b0[j],
						a1 = b1[j],
						a2 = b2[j],
						a3 = b3[j];
			double	   *gj = acc + j * p;

			for (k = j; k < p; k++)
				gj[k] += (a0 * b0[k] + a1 * b1[k]) + (a2 * b2[k] + a3 * b3[k]);
		}
	}
	for (; i < rows; i++)
	{
		const double *bi = B + i * p;

		for (j = 0; j < p; j++)
			for (k = j; k < p; k++)
				acc[j * p + k] += bi[j] * bi[k];
	}
}

/* Pass 2: G = Xc'Xc (full symmetric) and xty = Xc'yc. */
static int
MfkLinGram(MfkLinWork *w)
{
	size_t		r0,
				i,
				j,
				p = w->p;
	int			first = 1;

	memset(w->xty, 0, p * sizeof(double));
	for (r0 = 0; r0 < w->n; r0 += w->block)
	{
		size_t		r1 = r0 + w->block < w->n ? r0 + w->block : w->n;
		int			rows = (int) (r1 - r0);
		int			rc;

		MfkLinCentreBlock(w, r0, r1);
		if (p <= MFK_GRAM_DIRECT)
		{
			if (first)
				memset(w->G, 0, p * p * sizeof(double));
			MfkLinGramBlock(w->buf, (size_t) rows, p, w->G);
		}
		else
			cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int) p, rows, 1.0,
						w->buf, (int) p, first ? 0.0 : 1.0, w->G, (int) p);
		cblas_dgemv(CblasRowMajor, CblasTrans, rows, (int) p, 1.0, w->buf,
					(int) p, w->ybuf, 1, 1.0, w->xty, 1);
		first = 0;
		if ((rc = MfkLinTick(w, 0.25 + 0.5 * (double) r1 / (double) w->n)) != 0)
			return rc;
	}
	for (i = 0; i < p; i++)
		for (j = 0; j < i; j++)
			w->G[i * p + j] = w->G[j * p + i];
	return MF_KOK;
}

/*
 * Cholesky on the equilibrated normal equations.  Returns MF_KOK with coef
 * set, MF_KERR_SINGULAR when the fallback should be used, or an error.
 */
static int
MfkLinCholesky(MfkLinWork *w, double alpha, double max_cond, double *coef,
			   double *rcond_out)
{
	const MfAllocator *a = &w->env->alloc;
	size_t		p = w->p,
				i,
				j;
	int			np = (int) p,
				one = 1,
				info = 0;
	double	   *S = NULL,
			   *dinv = NULL,
			   *work = NULL;
	int		   *iwork = NULL;
	double		anorm = 0.0,
				rcond = 0.0;
	int			rc = MF_KOK;

	S = mfk_alloc_doubles(a, p * p);
	dinv = mfk_alloc_doubles(a, p);
	work = mfk_alloc_doubles(a, 3 * p);
	iwork = (int *) mfk_alloc_bytes(a, p * sizeof(int));
	if (S == NULL || dinv == NULL || work == NULL || iwork == NULL)
	{
		rc = MF_KERR_NOMEM;
		goto done;
	}
	for (i = 0; i < p; i++)
	{
		double		d = w->G[i * p + i] + alpha;

		/* unpenalised constant columns are left to the QR path */
		if (!(d > 0.0) || (alpha == 0.0 && MfkLinIsConstant(w, i)))
		{
			rc = MF_KERR_SINGULAR;
			goto done;
		}
		dinv[i] = 1.0 / sqrt(d);
	}
	for (i = 0; i < p; i++)
		for (j = 0; j < p; j++)
			S[i * p + j] = (w->G[i * p + j] + (i == j ? alpha : 0.0)) *
				dinv[i] * dinv[j];
	for (j = 0; j < p; j++)
	{
		double		s = 0.0;

		for (i = 0; i < p; i++)
			s += fabs(S[i * p + j]);
		if (s > anorm)
			anorm = s;
	}
	dpotrf_("L", &np, S, &np, &info, 1);
	if (info != 0)
	{
		rc = MF_KERR_SINGULAR;
		goto done;
	}
	dpocon_("L", &np, S, &np, &anorm, &rcond, work, iwork, &info, 1);
	*rcond_out = rcond;
	if (info != 0 || !(rcond * max_cond >= 1.0))
	{
		rc = MF_KERR_SINGULAR;
		goto done;
	}
	for (i = 0; i < p; i++)
		coef[i] = w->xty[i] * dinv[i];
	dpotrs_("L", &np, &one, S, &np, coef, &np, &info, 1);
	if (info != 0)
	{
		rc = MF_KERR_SINGULAR;
		goto done;
	}
	for (i = 0; i < p; i++)
		coef[i] *= dinv[i];
done:
	mfk_free(a, S);
	mfk_free(a, dinv);
	mfk_free(a, work);
	mfk_free(a, iwork);
	return rc;
}

/* Workspace of the blocked QR. */
typedef struct MfkQrWork
{
	int			q;				/* active columns */
	size_t	   *act;			/* their indices */
	double	   *scale;			/* 1 / column norm, per active column */
	double	   *R;				/* q x q column-major */
	double	   *qty;			/* q */
	double	   *M;				/* (q + block) x q column-major */
	double	   *rhs;			/* q + block */
	double	   *tau;			/* q */
	double	   *work;
	int			lwork;
	size_t		block;
} MfkQrWork;

/* Stack R over the rows already placed in M[q..q+rb) and re-factorise. */
static int
MfkQrAbsorb(MfkQrWork *qw, int rb)
{
	int			q = qw->q,
				m = q + rb,
				ld = q + (int) qw->block,
				one = 1,
				info = 0,
				i,
				j;

	for (j = 0; j < q; j++)
	{
		for (i = 0; i < q; i++)
			qw->M[i + (size_t) j * ld] = i <= j ? qw->R[i + (size_t) j * q] : 0.0;
	}
	for (i = 0; i < q; i++)
		qw->rhs[i] = qw->qty[i];
	dgeqrf_(&m, &q, qw->M, &ld, qw->tau, qw->work, &qw->lwork, &info);
	if (info != 0)
		return MF_KERR_BADARG;
	dormqr_("L", "T", &m, &one, &q, qw->M, &ld, qw->tau, qw->rhs, &m,
			qw->work, &qw->lwork, &info, 1, 1);
	if (info != 0)
		return MF_KERR_BADARG;
	for (j = 0; j < q; j++)
		for (i = 0; i <= j; i++)
			qw->R[i + (size_t) j * q] = qw->M[i + (size_t) j * ld];
	for (i = 0; i < q; i++)
		qw->qty[i] = qw->rhs[i];
	return MF_KOK;
}

/* Allocate the QR workspace; choose active columns. */
static int
MfkQrSetup(MfkLinWork *w, MfkQrWork *qw, int *n_constant)
{
	const MfAllocator *a = &w->env->alloc;
	size_t		j,
				p = w->p;
	int			q = 0,
				m,
				ld,
				one = 1,
				info = 0,
				lw = -1;
	double		wq1 = 0.0,
				wq2 = 0.0;

	qw->act = (size_t *) mfk_alloc_bytes(a, p * sizeof(size_t));
	qw->scale = mfk_alloc_doubles(a, p);
	if (qw->act == NULL || qw->scale == NULL)
		return MF_KERR_NOMEM;
	*n_constant = 0;
	for (j = 0; j < p; j++)
	{
		if (MfkLinIsConstant(w, j))
		{
			(*n_constant)++;
			continue;
		}
		qw->act[q] = j;
		qw->scale[q] = 1.0 / sqrt(w->G[j * p + j]);
		q++;
	}
	qw->q = q;
	if (q == 0)
		return MF_KOK;
	qw->block = (size_t) (4 * q) > 256 ? (size_t) (4 * q) : 256;
	if (qw->block > MF_BLOCK_ROWS)
		qw->block = MF_BLOCK_ROWS;
	if (qw->block < p)			/* the ridge block has q rows */
		qw->block = p;
	m = q + (int) qw->block;
	ld = m;
	qw->R = mfk_alloc_doubles(a, (size_t) q * q);
	qw->qty = mfk_alloc_doubles(a, q);
	qw->M = mfk_alloc_doubles(a, (size_t) m * q);
	qw->rhs = mfk_alloc_doubles(a, m);
	qw->tau = mfk_alloc_doubles(a, q);
	if (!qw->R || !qw->qty || !qw->M || !qw->rhs || !qw->tau)
		return MF_KERR_NOMEM;
	memset(qw->R, 0, (size_t) q * q * sizeof(double));
	memset(qw->qty, 0, q * sizeof(double));
	dgeqrf_(&m, &q, qw->M, &ld, qw->tau, &wq1, &lw, &info);
	dormqr_("L", "T", &m, &one, &q, qw->M, &ld, qw->tau, qw->rhs, &m,
			&wq2, &lw, &info, 1, 1);
	qw->lwork = (int) fmax(fmax(wq1, wq2), (double) q * 64.0);
	qw->work = mfk_alloc_doubles(a, (size_t) qw->lwork);
	if (qw->work == NULL)
		return MF_KERR_NOMEM;
	return MF_KOK;
}

/* Free the QR workspace. */
static void
MfkQrFree(const MfAllocator *a, MfkQrWork *qw)
{
	mfk_free(a, qw->act);
	mfk_free(a, qw->scale);
	mfk_free(a, qw->R);
	mfk_free(a, qw->qty);
	mfk_free(a, qw->M);
	mfk_free(a, qw->rhs);
	mfk_free(a, qw->tau);
	mfk_free(a, qw->work);
}

/*
 * Minimum-norm solution of R v = Q'y (rank-deficient R) by SVD; v replaces
 * qw->qty and *rank is the numerical rank.  Destroys qw->R.
 */
static int
MfkLinMinNorm(const MfAllocator *a, MfkQrWork *qw, int *rank)
{
	int			q = qw->q,
				one = 1,
				lwork = -1,
				info = 0,
				iw = 0;
	double		rcond = MFK_MIN_NORM_RCOND,
				wq = 0.0,
			   *sv,
			   *work = NULL;
	int		   *iwork = NULL;
	int			rc = MF_KOK;

	sv = mfk_alloc_doubles(a, q);
	dgelsd_(&q, &q, &one, qw->R, &q, qw->qty, &q, sv, &rcond, rank, &wq,
			&lwork, &iw, &info);
	lwork = (int) wq;
	work = mfk_alloc_doubles(a, (size_t) lwork);
	iwork = (int *) mfk_alloc_bytes(a, (size_t) (iw > 1 ? iw : 1) * sizeof(int));
	if (sv == NULL || work == NULL || iwork == NULL || info != 0)
		rc = info != 0 ? MF_KERR_BADARG : MF_KERR_NOMEM;
	else
	{
		dgelsd_(&q, &q, &one, qw->R, &q, qw->qty, &q, sv, &rcond, rank, work,
				&lwork, iwork, &info);
		if (info != 0)			/* the SVD did not converge */
			rc = MF_KERR_SINGULAR;
	}
	mfk_free(a, sv);
	mfk_free(a, work);
	mfk_free(a, iwork);
	return rc;
}

/*
 * Blocked QR on the standardised augmented system; *min_norm is set when R
 * was rank-deficient and the minimum-norm solution was taken.
 */
static int
MfkLinQr(MfkLinWork *w, double alpha, double *coef, int *n_constant,
		 int *min_norm)
{
	const MfAllocator *a = &w->env->alloc;
	MfkQrWork	qw;
	size_t		r0,
				i;
	int			rc,
				q,
				j,
				one = 1,
				info = 0,
				rank = 0;
	double		rmax = 0.0;

	memset(&qw, 0, sizeof(qw));
	*min_norm = 0;
	rc = MfkQrSetup(w, &qw, n_constant);
	if (rc != MF_KOK)
		goto done;
	q = qw.q;
	memset(coef, 0, w->p * sizeof(double));
	if (q == 0)
		goto done;
	for (r0 = 0; r0 < w->n; r0 += qw.block)
	{
		size_t		r1 = r0 + qw.block < w->n ? r0 + qw.block : w->n;
		int			rb = (int) (r1 - r0);
		int			ld = q + (int) qw.block;

		for (i = r0; i < r1; i++)
		{
			const double *xi = w->X + i * w->p;
			int			row = q + (int) (i - r0);

			for (j = 0; j < q; j++)
				qw.M[row + (size_t) j * ld] =
					(xi[qw.act[j]] - w->xm[qw.act[j]]) * qw.scale[j];
			qw.rhs[row] = w->y[i] - w->ym;
		}
		if ((rc = MfkQrAbsorb(&qw, rb)) != MF_KOK)
			goto done;
		if ((rc = MfkLinTick(w, 0.75 + 0.25 * (double) r1 / (double) w->n)) != 0)
			goto done;
	}
	if (alpha > 0.0)
	{
		int			ld = q + (int) qw.block;
		int			k;

		for (k = 0; k < q; k++)
		{
			for (j = 0; j < q; j++)
				qw.M[q + k + (size_t) j * ld] = k == j ? sqrt(alpha) * qw.scale[j] : 0.0;
			qw.rhs[q + k] = 0.0;
		}
		if ((rc = MfkQrAbsorb(&qw, q)) != MF_KOK)
			goto done;
	}
	for (j = 0; j < q; j++)
		rmax = fmax(rmax, fabs(qw.R[j + (size_t) j * q]));
	for (j = 0; j < q; j++)
		if (!(fabs(qw.R[j + (size_t) j * q]) > 1e-12 * rmax))
			*min_norm = 1;
	if (!*min_norm)
	{
		dtrtrs_("U", "N", "N", &q, &one, qw.R, &q, qw.qty, &q, &info, 1, 1, 1);
		*min_norm = info != 0;
	}
	if (*min_norm && (rc = MfkLinMinNorm(a, &qw, &rank)) != MF_KOK)
		goto done;
	for (j = 0; j < q; j++)
		coef[qw.act[j]] = qw.qty[j] * qw.scale[j];
done:
	MfkQrFree(a, &qw);
	return rc;
}

/* Free the fit's workspace. */
static void
MfkLinFree(MfkLinWork *w)
{
	const MfAllocator *a = &w->env->alloc;

	mfk_free(a, w->xm);
	mfk_free(a, w->maxabs);
	mfk_free(a, w->G);
	mfk_free(a, w->xty);
	mfk_free(a, w->buf);
	mfk_free(a, w->ybuf);
}

/* Fit linear / ridge regression. */
int
mfk_linreg_fit(const MfEnv *env, const double *X, const double *y, size_t n,
			   size_t p, const MfLinregOpts *o, double *coef,
			   double *intercept, MfLinregInfo *info)
{
	MfkLinWork	w;
	MfLinregOpts def;
	double		max_cond,
				rcond = 0.0;
	int			rc,
				n_constant = 0,
				min_norm = 0;
	MfLinregMethod method = MF_LINREG_CHOLESKY;
	size_t		j;

	if (o == NULL)
	{
		mfk_linreg_defaults(&def);
		o = &def;
	}
	if (env == NULL || X == NULL || y == NULL || coef == NULL ||
		intercept == NULL || n == 0 || p == 0 || p > 46340 ||
		n > (size_t) INT_MAX || !(o->alpha >= 0.0) || !isfinite(o->alpha))
		return MF_KERR_BADARG;
	max_cond = o->max_cond > 0 ? o->max_cond : 1e10;
	memset(&w, 0, sizeof(w));
	w.env = env;
	w.X = X;
	w.y = y;
	w.n = n;
	w.p = p;
	w.fit_intercept = o->fit_intercept;
	w.block = mfk_block_rows(p * p);
	if (w.block > n)
		w.block = n;
	w.xm = mfk_alloc_doubles(&env->alloc, p);
	w.maxabs = mfk_alloc_doubles(&env->alloc, p);
	w.G = mfk_alloc_doubles(&env->alloc, p * p);
	w.xty = mfk_alloc_doubles(&env->alloc, p);
	w.buf = mfk_alloc_doubles(&env->alloc, w.block * p);
	w.ybuf = mfk_alloc_doubles(&env->alloc, w.block);
	if (!w.xm || !w.maxabs || !w.G || !w.xty || !w.buf || !w.ybuf)
	{
		rc = MF_KERR_NOMEM;
		goto done;
	}
	if ((rc = MfkLinMeans(&w)) != MF_KOK || (rc = MfkLinGram(&w)) != MF_KOK)
		goto done;
	rc = MF_KERR_SINGULAR;
	if (!o->force_qr)
		rc = MfkLinCholesky(&w, o->alpha, max_cond, coef, &rcond);
	if (rc == MF_KERR_SINGULAR)
	{
		method = MF_LINREG_QR;
		rc = MfkLinQr(&w, o->alpha, coef, &n_constant, &min_norm);
		if (min_norm)
			method = MF_LINREG_MIN_NORM;
	}
	if (rc != MF_KOK)
		goto done;
	*intercept = 0.0;
	if (o->fit_intercept)
	{
		double		b = w.ym;

		for (j = 0; j < p; j++)
			b -= w.xm[j] * coef[j];
		*intercept = b;
	}
	if (!mfk_all_finite(coef, p) || !isfinite(*intercept))
		rc = MF_KERR_NOT_FINITE;
	if (info != NULL)
	{
		info->method = method;
		info->rcond = rcond;
		info->n_constant = n_constant;
	}
done:
	MfkLinFree(&w);
	return rc;
}

/* w.x + b. */
double
mfk_linear_predict_row(const double *coef, double intercept, size_t p,
					   const double *x)
{
	double		s = intercept;
	size_t		j;

	for (j = 0; j < p; j++)
		s += coef[j] * x[j];
	return s;
}

/* Batch prediction by blocked dgemv. */
int
mfk_linear_predict(const MfEnv *env, const double *X, size_t n, size_t p,
				   const double *coef, double intercept, double *out)
{
	size_t		r0,
				i,
				block = mfk_block_rows(p);
	int			rc;

	if (X == NULL || coef == NULL || out == NULL || n > (size_t) INT_MAX ||
		p > (size_t) INT_MAX)
		return MF_KERR_BADARG;
	for (r0 = 0; r0 < n; r0 += block)
	{
		size_t		r1 = r0 + block < n ? r0 + block : n;

		for (i = r0; i < r1; i++)
			out[i] = intercept;
		if (p > 0)
			cblas_dgemv(CblasRowMajor, CblasNoTrans, (int) (r1 - r0), (int) p,
						1.0, X + r0 * p, (int) p, coef, 1, 1.0, out + r0, 1);
		if (r1 < n && (rc = mfk_tick(env, "predict", 1, 1,
									 (double) r1 / (double) n)) != 0)
			return rc;
	}
	return MF_KOK;
}
