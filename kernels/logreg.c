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
 * Multinomial objective and gradient are evaluated in row blocks (gemm),
 * with a progress tick between blocks when n spans several blocks.  The
 * binary problem has one fused pass (MfkLogBinPass) that reads each row once
 * and yields f, the gradient and, for Newton, the Hessian H = Xa' D Xa + I_w.
 * Per block of MFK_BIN_BLOCK rows it runs short loops, each simple enough to
 * stay branch-free and (the elementwise ones, with the Makefile's
 * -fvect-cost-model=dynamic) to vectorise: logits; e = exp(-|z|) and the
 * labels as doubles; the loss in row order, with the log1p(exp(-|z|)) terms
 * as one log of the product of their (1 + e) per MFK_LOG_GROUP rows;
 * residuals and Hessian weights (one division per row); gradient; Hessian.
 * For q = p + intercept up to MFK_HESS_DIRECT the pass sums the Hessian's
 * upper triangle itself, four rows a sweep into a per-block accumulator
 * added to H (fixed order, so the same input gives the same bytes); at that
 * size OpenBLAS's dsyrk spent more on packing and padding than on
 * arithmetic.  Larger q use dsyrk over blocks of sqrt(d_i) [x_i, 1].  L-BFGS
 * calls the pass without the Hessian.  The binary Newton solver (IRLS)
 * factors H by Cholesky and backtracks on f; every trial point gets a full
 * pass, so an accepted step (almost always the first, t = 1) already carries
 * the next gradient and Hessian: one pass over the data per iteration.  Once
 * the gradient shrinks fast (by more than 1 / MFK_LAZY_RATIO a step) the
 * last Hessian factor is reused and the passes skip the Hessian, about half
 * of their cost; a slow step, a backtrack or a failed step brings a fresh
 * Hessian back.  On large inputs Newton first runs on every
 * MFK_WARM_STRIDE-th row (C scaled to the full sum; recursively while that
 * leaves at least MFK_WARM_MIN_ROWS rows) and the full problem starts from
 * that solution.
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
#define MFK_BIN_BLOCK 2048
#define MFK_WARM_STRIDE 8
#define MFK_WARM_MIN_ROWS 8192
#define MFK_LAZY_RATIO 0.1
/* q = p + intercept up to this: the pass sums the Hessian itself, no dsyrk */
#define MFK_HESS_DIRECT 16
/* rows per log of a product of (1 + e) terms: each lies in (1, 2], so the
 * product stays below 2^64, and a group's log is within about 2^-46 (two
 * roundings per row) of the sum of the log1p terms it replaces */
#define MFK_LOG_GROUP 64

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
	double	   *hbuf;			/* MFK_BIN_BLOCK x q rows for dsyrk (Newton,
								 * q > MFK_HESS_DIRECT) */
	size_t		stride;			/* binary pass: row i is X row i * stride */
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

/*
 * z[i - r0] = b + x_i . w for the rows r0..r1 of a pass, four rows per
 * sweep so that four independent sums hide the latency of each addition
 * (every row still sums in column order).
 */
static void
MfkLogBinLinear(const MfkLogCtx *c, const double *w, double b, size_t r0,
				size_t r1, double *z)
{
	size_t		p = c->p,
				ld = c->stride * p,
				i = r0,
				j;

	for (; i + 4 <= r1; i += 4)
	{
		const double *x0 = c->X + i * ld,
				   *x1 = x0 + ld,
				   *x2 = x1 + ld,
				   *x3 = x2 + ld;
		double		z0 = b,
					z1 = b,
					z2 = b,
					z3 = b;

		for (j = 0; j < p; j++)
		{
			z0 += x0[j] * w[j];
			z1 += x1[j] * w[j];
			z2 += x2[j] * w[j];
			z3 += x3[j] * w[j];
		}
		z[i - r0] = z0;
		z[i - r0 + 1] = z1;
		z[i - r0 + 2] = z2;
		z[i - r0 + 3] = z3;
	}
	for (; i < r1; i++)
	{
		const double *xi = c->X + i * ld;
		double		zi = b;

		for (j = 0; j < p; j++)
			zi += xi[j] * w[j];
		z[i - r0] = zi;
	}
}

/* g[0..p) += sum of r[i - r0] x_i over the rows r0..r1, four rows a sweep. */
static void
MfkLogBinGradient(const MfkLogCtx *c, const double *r, size_t r0, size_t r1,
				  double *g)
{
	size_t		p = c->p,
				ld = c->stride * p,
				i = r0,
				j;

	for (; i + 4 <= r1; i += 4)
	{
		const double *x0 = c->X + i * ld,
				   *x1 = x0 + ld,
				   *x2 = x1 + ld,
				   *x3 = x2 + ld;
		const double *ri = r + (i - r0);

		for (j = 0; j < p; j++)
			g[j] += (ri[0] * x0[j] + ri[1] * x1[j]) + (ri[2] * x2[j] + ri[3] * x3[j]);
	}
	for (; i < r1; i++)
	{
		const double *xi = c->X + i * ld;

		for (j = 0; j < p; j++)
			g[j] += r[i - r0] * xi[j];
	}
}

/*
 * acc (upper triangle of the row-major q x q matrix, q = p + intercept) +=
 * the sum of d[i - r0] [x_i, 1]' [x_i, 1] over the rows r0..r1, four rows a
 * sweep (every entry sums its rows in order).
 */
static void
MfkLogBinHessian(const MfkLogCtx *c, const double *d, size_t r0, size_t r1,
				 double *restrict acc)
{
	size_t		p = c->p,
				q = p + (c->fit_intercept ? 1 : 0),
				ld = c->stride * p,
				i = r0,
				j,
				k;

	for (; i + 4 <= r1; i += 4)
	{
		const double *x0 = c->X + i * ld,
				   *x1 = x0 + ld,
				   *x2 = x1 + ld,
				   *x3 = x2 + ld;
		const double *di = d + (i - r0);

		for (j = 0; j < p; j++)
		{
			double		a0 = di[0] * x0[j],
						a1 = di[1] * x1[j],
						a2 = di[2] * x2[j],
						a3 = di[3] * x3[j];
			double	   *hj = acc + j * q;

			for (k = j; k < p; k++)
				hj[k] += (a0 * x0[k] + a1 * x1[k]) + (a2 * x2[k] + a3 * x3[k]);
			if (q > p)
				hj[p] += (a0 + a1) + (a2 + a3);
		}
		if (q > p)
			acc[p * q + p] += (di[0] + di[1]) + (di[2] + di[3]);
	}
	for (; i < r1; i++)
	{
		const double *xi = c->X + i * ld;
		double		di = d[i - r0];

		for (j = 0; j < p; j++)
		{
			double		a = di * xi[j];
			double	   *hj = acc + j * q;

			for (k = j; k < p; k++)
				hj[k] += a * xi[k];
			if (q > p)
				hj[p] += a;
		}
		if (q > p)
			acc[p * q + p] += di;
	}
}

/*
 * The loss terms of the rows r0..r1 (logits z) added to *loss in row order:
 * max(z, 0) - y z, and the log1p(exp(-|z|)) terms as one log of the product
 * of their (1 + e) per MFK_LOG_GROUP rows.  e = exp(-|z|) and the labels
 * (0 or 1, as doubles) are kept for the residuals.
 */
static void
MfkLogBinLoss(const MfkLogCtx *c, const double *z, size_t r0, size_t r1,
			  double *e, double *yd, double *loss)
{
	size_t		m = r1 - r0,
				i;
	double		l = *loss,
				prod = 1.0;

	for (i = 0; i < m; i++)
	{
		e[i] = exp(-fabs(z[i]));
		yd[i] = (double) c->y[(r0 + i) * c->stride];
	}
	for (i = 0; i < m; i++)
	{
		l += (z[i] > 0 ? z[i] : 0.0) - yd[i] * z[i];
		prod *= 1.0 + e[i];
		if (i % MFK_LOG_GROUP == MFK_LOG_GROUP - 1 || i + 1 == m)
		{
			l += log(prod);
			prod = 1.0;
		}
	}
	*loss = l;
}

/*
 * Residuals r = C (s - y) and, when d != NULL, Hessian weights
 * d = C s (1 - s) of m rows from z, e = exp(-|z|) and y (s = sigmoid(z)).
 */
static void
MfkLogBinWeights(const double *z, const double *e, const double *yd,
				 size_t m, double C, double *restrict r, double *restrict d)
{
	size_t		i;

	for (i = 0; i < m; i++)
	{
		double		inv = 1.0 / (1.0 + e[i]),
					lo = e[i] * inv,
					s = z[i] >= 0 ? inv : lo;

		r[i] = C * (s - yd[i]);
		if (d != NULL)
			d[i] = C * lo * inv;
	}
}

/*
 * H (upper triangle) gets the Hessian of the rows r0..r1 with weights d:
 * assigned on the first block, added after.  For q <= MFK_HESS_DIRECT the
 * block is summed here (OpenBLAS's packing would cost more than the
 * arithmetic), otherwise by dsyrk over the rows sqrt(d_i) [x_i, 1] in hbuf.
 */
static void
MfkLogBinHessianBlock(MfkLogCtx *c, const double *d, size_t r0, size_t r1,
					  int first, double *H)
{
	size_t		p = c->p,
				q = p + (c->fit_intercept ? 1 : 0),
				ld = c->stride * p,
				i,
				j;
	double		acc[MFK_HESS_DIRECT * MFK_HESS_DIRECT];

	if (q <= MFK_HESS_DIRECT)
	{
		memset(acc, 0, q * q * sizeof(double));
		MfkLogBinHessian(c, d, r0, r1, acc);
		for (j = 0; j < q * q; j++)
			H[j] = first ? acc[j] : H[j] + acc[j];
		return;
	}
	for (i = r0; i < r1; i++)
	{
		const double *xi = c->X + i * ld;
		double	   *bi = c->hbuf + (i - r0) * q;
		double		sd = sqrt(d[i - r0]);

		for (j = 0; j < p; j++)
			bi[j] = sd * xi[j];
		if (c->fit_intercept)
			bi[p] = sd;
	}
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int) q, (int) (r1 - r0),
				1.0, c->hbuf, (int) q, first ? 0.0 : 1.0, H, (int) q);
}

/*
 * One pass of the binary problem at x = [w, b]: *f, the gradient into g
 * (q entries) when g != NULL, and the Hessian into H (upper triangle of the
 * row-major q x q matrix, q = p + intercept) when H != NULL (needs c->hbuf
 * when q > MFK_HESS_DIRECT).  Rows go in blocks of MFK_BIN_BLOCK: logits,
 * loss terms, residuals and Hessian weights, then the block's gradient and
 * Hessian.
 */
static int
MfkLogBinPass(MfkLogCtx *c, const double *x, double *f, double *g, double *H)
{
	size_t		p = c->p,
				q = p + (c->fit_intercept ? 1 : 0),
				r0,
				i,
				j;
	const double *w = x;
	double		b = c->fit_intercept ? x[p] : 0.0;
	double		loss = 0.0,
				gb = 0.0,
				pen = 0.0;
	double		zb[MFK_BIN_BLOCK],
				eb[MFK_BIN_BLOCK],
				yb[MFK_BIN_BLOCK],
				rb[MFK_BIN_BLOCK],
				db[MFK_BIN_BLOCK];
	int			rc;

	if (g != NULL)
		memset(g, 0, q * sizeof(double));
	for (r0 = 0; r0 < c->n; r0 += MFK_BIN_BLOCK)
	{
		size_t		r1 = r0 + MFK_BIN_BLOCK < c->n ? r0 + MFK_BIN_BLOCK : c->n;

		MfkLogBinLinear(c, w, b, r0, r1, zb);
		MfkLogBinLoss(c, zb, r0, r1, eb, yb, &loss);
		if (g != NULL)
		{
			MfkLogBinWeights(zb, eb, yb, r1 - r0, c->C, rb, H != NULL ? db : NULL);
			for (i = 0; i < r1 - r0; i++)
				gb += rb[i];
			MfkLogBinGradient(c, rb, r0, r1, g);
		}
		if (H != NULL)
			MfkLogBinHessianBlock(c, db, r0, r1, r0 == 0, H);
		if (r1 < c->n &&
			(rc = mfk_tick(c->env, MFK_PHASE, c->iter, 0,
						   (double) r1 / (double) c->n)) != MF_KOK)
			return rc;
	}
	for (j = 0; j < p; j++)
	{
		if (c->penalty)
		{
			pen += w[j] * w[j];
			if (g != NULL)
				g[j] += w[j];
			if (H != NULL)
				H[j * q + j] += 1.0;
		}
	}
	if (g != NULL && c->fit_intercept)
		g[p] = gb;
	*f = c->C * loss + 0.5 * pen;
	return MF_KOK;
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

	if (!c->multinomial)
		return MfkLogBinPass(c, x, f, g, NULL);
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

/*
 * Newton workspace (q = p + intercept); g/gt and H/Ht swap on a step.  H
 * holds either a Hessian not yet factored (h_fresh) or the Cholesky factor
 * of the last Hessian computed, which may be older than x (lazy Hessian).
 */
typedef struct MfkNewtonWork
{
	double	   *H,
			   *Ht,
			   *g,
			   *gt,
			   *d,
			   *xt;
	double		f,
				gnorm;
	int			iter;
	int			h_fresh;		/* H is a Hessian at x, not factored yet */
	int			want_h;			/* the next trial pass computes the Hessian */
	int			factor_at_x;	/* the factor in H was computed at x */
} MfkNewtonWork;

/*
 * Newton iterations on the problem c from x (w->f, w->g and w->H already
 * describe x) until gnorm <= tol or max_iter.  The Hessian of a trial
 * point is only computed while the gradient shrinks slowly (ratio above
 * MFK_LAZY_RATIO) or after a backtracking step; in the fast local phase
 * the last factor is reused, which saves the dsyrk and half of each pass.
 * The full problem pushes its iterations to hist and reports them.
 */
static int
MfkLogNewtonLoop(MfkLogCtx *c, MfkNewtonWork *w, double *x, double tol,
				 int max_iter, int report, MfHistory *hist)
{
	int			q = (int) c->p + (c->fit_intercept ? 1 : 0),
				one = 1,
				lapinfo = 0,
				rc,
				j;
	MfProgress	pr;

	while (w->gnorm > tol && w->iter < max_iter)
	{
		double		t = 1.0,
					ft = 0.0,
					gd = 0.0,
					gnt = 0.0,
					gold = w->gnorm,
				   *tmp;
		int			with_h = w->want_h,
					refresh = 0;

		c->iter = w->iter + 1;
		if (w->h_fresh)
		{
			dpotrf_("L", &q, w->H, &q, &lapinfo, 1);	/* row-major upper = col-major lower */
			if (lapinfo != 0)
				return MF_KERR_SINGULAR;
			w->h_fresh = 0;
		}
		memcpy(w->d, w->g, (size_t) q * sizeof(double));
		dpotrs_("L", &q, &one, w->H, &q, w->d, &q, &lapinfo, 1);
		for (j = 0; j < q; j++)
			gd += w->g[j] * w->d[j];

		/*
		 * Backtracking (Armijo) along -d; each trial is a full pass.  When f
		 * only moves at rounding level, a smaller gradient decides.  A reused
		 * factor gets no backtracking: its failure brings a fresh Hessian.
		 */
		for (;;)
		{
			for (j = 0; j < q; j++)
				w->xt[j] = x[j] - t * w->d[j];
			if ((rc = MfkLogBinPass(c, w->xt, &ft, w->gt, with_h ? w->Ht : NULL)) != MF_KOK)
				return rc;
			gnt = MfkLogNormInf(w->gt, q);
			if (isfinite(ft) &&
				(ft <= w->f - 1e-4 * t * gd ||
				 (ft - w->f <= 1e-12 * fabs(w->f) && gnt < w->gnorm)))
				break;
			if (!w->factor_at_x)
			{
				refresh = 1;
				break;
			}
			if (t < 1e-10)
				break;
			t *= 0.5;
		}
		if (refresh)
		{
			/* the reused factor failed: a fresh Hessian at x, then retry */
			if ((rc = MfkLogBinPass(c, x, &w->f, w->g, w->H)) != MF_KOK)
				return rc;
			w->h_fresh = w->want_h = w->factor_at_x = 1;
			continue;
		}
		if (!(ft <= w->f) && !(ft - w->f <= 1e-12 * fabs(w->f) && gnt < w->gnorm))
			break;				/* no progress possible (rounding) */
		memcpy(x, w->xt, (size_t) q * sizeof(double));
		tmp = w->g, w->g = w->gt, w->gt = tmp;
		if (with_h)
			tmp = w->H, w->H = w->Ht, w->Ht = tmp;
		w->h_fresh = w->factor_at_x = with_h;
		w->f = ft;
		w->gnorm = gnt;
		w->want_h = t < 1.0 || !(w->gnorm <= MFK_LAZY_RATIO * gold);
		w->iter++;
		if (!report)
			continue;
		mfk_history_push(hist, w->f, NAN);
		pr.kind = MF_PROGRESS_ITERATION;
		pr.phase = MFK_PHASE;
		pr.iteration = w->iter;
		pr.total = max_iter;
		pr.loss = w->f;
		pr.val_loss = NAN;
		pr.fraction = (double) w->iter / (double) max_iter;
		if ((rc = mfk_report(c->env, &pr)) != MF_KOK)
			return rc;
	}
	return MF_KOK;
}

/*
 * Warm start for large n: Newton on every MFK_WARM_STRIDE-th row with C
 * scaled by n / rows (the same objective, estimated), to a loose tolerance,
 * itself warm-started the same way while its rows are many.  Its solution
 * is within sampling error of the optimum: the full problem then converges
 * in a few passes (a fresh Hessian at the start, then mostly reused).
 */
static int
MfkLogWarmStart(MfkLogCtx *c, MfkNewtonWork *w, double *x)
{
	MfkLogCtx	sub = *c;
	int			q = (int) c->p + (c->fit_intercept ? 1 : 0),
				rc;

	sub.n = (c->n + MFK_WARM_STRIDE - 1) / MFK_WARM_STRIDE;
	sub.stride = c->stride * MFK_WARM_STRIDE;
	sub.C = c->C * (double) c->n / (double) sub.n;
	if (sub.n >= MFK_WARM_MIN_ROWS && (rc = MfkLogWarmStart(&sub, w, x)) != MF_KOK)
		return rc;
	if ((rc = MfkLogBinPass(&sub, x, &w->f, w->g, w->H)) != MF_KOK)
		return rc;
	w->h_fresh = w->want_h = w->factor_at_x = 1;
	w->gnorm = MfkLogNormInf(w->g, q);
	w->iter = 0;
	/* gradient of a sum over sub.n rows: relative tolerance 1e-6 */
	rc = MfkLogNewtonLoop(&sub, w, x, 1e-6 * sub.C * (double) sub.n, 30, 0, NULL);
	return rc;
}

/* Newton / IRLS for the binary problem; x has p (+1) entries. */
static int
MfkLogNewton(MfkLogCtx *c, const MfLogregOpts *o, double *x, MfHistory *hist,
			 MfLogregInfo *info)
{
	const MfAllocator *a = &c->env->alloc;
	size_t		q = c->p + (c->fit_intercept ? 1 : 0);
	MfkNewtonWork w;
	int			rc;

	memset(&w, 0, sizeof(w));
	w.H = mfk_alloc_doubles(a, q * q);
	w.Ht = mfk_alloc_doubles(a, q * q);
	w.g = mfk_alloc_doubles(a, q);
	w.gt = mfk_alloc_doubles(a, q);
	w.d = mfk_alloc_doubles(a, q);
	w.xt = mfk_alloc_doubles(a, q);
	if (q > MFK_HESS_DIRECT)
		c->hbuf = mfk_alloc_doubles(a, (size_t) MFK_BIN_BLOCK * q);
	if (!w.H || !w.Ht || !w.g || !w.gt || !w.d || !w.xt ||
		(q > MFK_HESS_DIRECT && !c->hbuf))
	{
		rc = MF_KERR_NOMEM;
		goto done;
	}
	if (c->n >= MFK_WARM_MIN_ROWS * MFK_WARM_STRIDE && o->max_iter > 0)
	{
		rc = MfkLogWarmStart(c, &w, x);
		if (rc != MF_KOK && rc != MF_KERR_SINGULAR)
			goto done;
		if (rc != MF_KOK || !mfk_all_finite(x, q))
			memset(x, 0, q * sizeof(double));	/* the full problem decides */
	}
	if ((rc = MfkLogBinPass(c, x, &w.f, w.g, w.H)) != MF_KOK)
		goto done;
	w.h_fresh = w.want_h = w.factor_at_x = 1;
	w.gnorm = MfkLogNormInf(w.g, q);
	w.iter = 0;
	if ((rc = MfkLogNewtonLoop(c, &w, x, o->tol, o->max_iter, 1, hist)) != MF_KOK)
		goto done;
	info->n_iter = w.iter;
	info->objective = w.f;
	info->gnorm_inf = w.gnorm;
	info->converged = w.gnorm <= o->tol;
done:
	mfk_free(a, w.H);
	mfk_free(a, w.Ht);
	mfk_free(a, w.g);
	mfk_free(a, w.gt);
	mfk_free(a, w.d);
	mfk_free(a, w.xt);
	mfk_free(a, c->hbuf);
	c->hbuf = NULL;
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
	c->stride = 1;
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

/* The binary objective's Hessian at (coef, intercept), upper triangle. */
int
mfk_logreg_hessian(const MfEnv *env, const double *X, const int *y, size_t n,
				   size_t p, const MfLogregOpts *o, const double *coef,
				   const double *intercept, double *H)
{
	MfkLogCtx	c;
	size_t		q = p + (o->fit_intercept ? 1 : 0);
	double	   *x = NULL,
			   *g = NULL;
	double		f;
	int			rc;

	rc = MfkLogSetup(&c, env, X, y, n, p, 2, o);
	if (rc != MF_KOK || o->multinomial)
	{
		rc = rc != MF_KOK ? rc : MF_KERR_BADARG;
		goto done;
	}
	x = mfk_alloc_doubles(&env->alloc, q);
	g = mfk_alloc_doubles(&env->alloc, q);
	if (q > MFK_HESS_DIRECT)
		c.hbuf = mfk_alloc_doubles(&env->alloc, (size_t) MFK_BIN_BLOCK * q);
	if (x == NULL || g == NULL || (q > MFK_HESS_DIRECT && c.hbuf == NULL))
	{
		rc = MF_KERR_NOMEM;
		goto done;
	}
	memcpy(x, coef, p * sizeof(double));
	if (o->fit_intercept)
		x[p] = intercept[0];
	rc = MfkLogBinPass(&c, x, &f, g, H);
done:
	mfk_free(&env->alloc, x);
	mfk_free(&env->alloc, g);
	mfk_free(&env->alloc, c.hbuf);
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
