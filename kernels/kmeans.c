/*
 * kmeans.c - k-means: greedy k-means++ seeding, Lloyd iterations, n_init
 * restarts keeping the lowest inertia, and nearest-centre assignment.
 *
 * Design note.  Assignment computes -2 X C' for a block of rows with one
 * dgemm and adds the squared norms; only the argmin comes from that
 * expansion, the stored distance is recomputed exactly as sum (x - c)^2 so
 * inertia never suffers from cancellation.  Convergence follows
 * scikit-learn: stop when the summed squared centre shift is at most
 * tol * (mean per-feature variance of X).  An empty cluster is moved onto
 * the row farthest from its current centre (each such row used once), so
 * the result stays deterministic.  Restarts draw from child streams of the
 * seed; a final assignment pass makes labels and inertia consistent with
 * the returned centres.
 */
#include "mf_kernels.h"

#include <cblas.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#define MFK_PHASE "kmeans"

/* Defaults (scikit-learn's). */
void
mfk_kmeans_defaults(MfKmeansOpts *o)
{
	memset(o, 0, sizeof(*o));
	o->k = 8;
	o->max_iter = 300;
	o->tol = 1e-4;
	o->n_init = 10;
	o->init = MF_KMEANS_PLUSPLUS;
	o->seed = 0;
}

/* Exact squared distance. */
static double
MfkSqDist(const double *a, const double *b, size_t p)
{
	double		s = 0.0;
	size_t		j;

	for (j = 0; j < p; j++)
	{
		double		d = a[j] - b[j];

		s += d * d;
	}
	return s;
}

/* Nearest centre of one row (exact distances, no allocation). */
int
mfk_kmeans_assign_row(const double *centers, int k, size_t p, const double *x,
					  double *dist)
{
	int			c,
				best = 0;
	double		bd = INFINITY;

	for (c = 0; c < k; c++)
	{
		double		d = MfkSqDist(x, centers + (size_t) c * p, p);

		if (d < bd)
		{
			bd = d;
			best = c;
		}
	}
	if (dist != NULL)
		*dist = bd;
	return best;
}

/* Assignment of rows [r0, r1) using D (block x k) as scratch. */
static void
MfkAssignBlock(const double *X, size_t r0, size_t r1, size_t p,
			   const double *C, const double *cnorm, int k, double *D,
			   int *labels, double *dist)
{
	size_t		i;
	int			c;

	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) (r1 - r0), k,
				(int) p, -2.0, X + r0 * p, (int) p, C, (int) p, 0.0, D, k);
	for (i = r0; i < r1; i++)
	{
		const double *d = D + (i - r0) * (size_t) k;
		int			best = 0;
		double		bd = d[0] + cnorm[0];

		for (c = 1; c < k; c++)
			if (d[c] + cnorm[c] < bd)
			{
				bd = d[c] + cnorm[c];
				best = c;
			}
		labels[i] = best;
		if (dist != NULL)
			dist[i] = MfkSqDist(X + i * p, C + (size_t) best * p, p);
	}
}

/* Squared norms of the k centres. */
static void
MfkCenterNorms(const double *C, int k, size_t p, double *cnorm)
{
	int			c;
	size_t		j;

	for (c = 0; c < k; c++)
	{
		double		s = 0.0;

		for (j = 0; j < p; j++)
			s += C[(size_t) c * p + j] * C[(size_t) c * p + j];
		cnorm[c] = s;
	}
}

/* Blocked assignment with caller scratch; ticks between blocks. */
static int
MfkAssignAll(const MfEnv *env, const double *X, size_t n, size_t p,
			 const double *C, int k, double *cnorm, double *D, size_t block,
			 int *labels, double *dist, int64_t iter)
{
	size_t		r0;
	int			rc;

	MfkCenterNorms(C, k, p, cnorm);
	for (r0 = 0; r0 < n; r0 += block)
	{
		size_t		r1 = r0 + block < n ? r0 + block : n;

		MfkAssignBlock(X, r0, r1, p, C, cnorm, k, D, labels, dist);
		if (r1 < n && (rc = mfk_tick(env, MFK_PHASE, iter, 0,
									 (double) r1 / (double) n)) != MF_KOK)
			return rc;
	}
	return MF_KOK;
}

/* Rows per assignment block. */
static size_t
MfkKmBlock(size_t n, size_t p, int k)
{
	size_t		b = mfk_block_rows(p * (size_t) k);

	if (b * (size_t) k > ((size_t) 1 << 22))
		b = ((size_t) 1 << 22) / (size_t) k;
	if (b < 1)
		b = 1;
	return b < n ? b : n;
}

/* Public batch assignment. */
int
mfk_kmeans_assign(const MfEnv *env, const double *centers, int k, size_t p,
				  const double *X, size_t n, int *labels, double *dist)
{
	size_t		block;
	double	   *cnorm,
			   *D;
	int		   *lab = labels;
	int			rc = MF_KOK;

	if (env == NULL || centers == NULL || X == NULL || k < 1 || p == 0 ||
		n > (size_t) INT_MAX || p > (size_t) INT_MAX)
		return MF_KERR_BADARG;
	if (n == 0)
		return MF_KOK;
	block = MfkKmBlock(n, p, k);
	cnorm = mfk_alloc_doubles(&env->alloc, (size_t) k);
	D = mfk_alloc_doubles(&env->alloc, block * (size_t) k);
	if (lab == NULL)
		lab = (int *) mfk_alloc_bytes(&env->alloc, n * sizeof(int));
	if (cnorm == NULL || D == NULL || lab == NULL)
		rc = MF_KERR_NOMEM;
	else
		rc = MfkAssignAll(env, X, n, p, centers, k, cnorm, D, block, lab,
						  dist, 1);
	mfk_free(&env->alloc, cnorm);
	mfk_free(&env->alloc, D);
	if (lab != labels)
		mfk_free(&env->alloc, lab);
	return rc;
}

/* Index of the row chosen with probability proportional to w. */
static size_t
MfkSampleWeighted(MfRng *r, const double *w, size_t n, double total)
{
	double		u,
				acc = 0.0;
	size_t		i;

	if (!(total > 0.0))
		return (size_t) mfk_rng_below(r, n);
	u = mfk_rng_uniform(r) * total;
	for (i = 0; i < n; i++)
	{
		acc += w[i];
		if (acc > u && w[i] > 0.0)
			return i;
	}
	for (i = n; i > 0; i--)		/* rounding: last row with weight */
		if (w[i - 1] > 0.0)
			return i - 1;
	return n - 1;
}

/* Greedy k-means++ with closest (n) as scratch. */
static int
MfkPlusPlus(const MfEnv *env, const double *X, size_t n, size_t p, int k,
			MfRng *r, double *C, double *closest)
{
	int			trials = 2 + (int) floor(log((double) k)),
				c,
				t,
				rc;
	size_t		i,
				first = (size_t) mfk_rng_below(r, n);
	double		pot = 0.0;

	memcpy(C, X + first * p, p * sizeof(double));
	for (i = 0; i < n; i++)
	{
		closest[i] = MfkSqDist(X + i * p, C, p);
		pot += closest[i];
	}
	for (c = 1; c < k; c++)
	{
		size_t		best_row = 0;
		double		best_pot = INFINITY;

		for (t = 0; t < trials; t++)
		{
			size_t		row = MfkSampleWeighted(r, closest, n, pot);
			double		np_ = 0.0;

			for (i = 0; i < n; i++)
				np_ += fmin(closest[i], MfkSqDist(X + i * p, X + row * p, p));
			if (np_ < best_pot)
			{
				best_pot = np_;
				best_row = row;
			}
		}
		memcpy(C + (size_t) c * p, X + best_row * p, p * sizeof(double));
		pot = 0.0;
		for (i = 0; i < n; i++)
		{
			double		d = MfkSqDist(X + i * p, X + best_row * p, p);

			if (d < closest[i])
				closest[i] = d;
			pot += closest[i];
		}
		if ((rc = mfk_tick(env, MFK_PHASE, 0, k, (double) c / (double) k)) != MF_KOK)
			return rc;
	}
	return MF_KOK;
}

/* Public k-means++ seeding. */
int
mfk_kmeans_plusplus(const MfEnv *env, const double *X, size_t n, size_t p,
					int k, MfRng *r, double *centers)
{
	double	   *closest;
	int			rc;

	if (env == NULL || X == NULL || centers == NULL || r == NULL || k < 1 ||
		n < (size_t) k || p == 0)
		return MF_KERR_BADARG;
	closest = mfk_alloc_doubles(&env->alloc, n);
	if (closest == NULL)
		return MF_KERR_NOMEM;
	rc = MfkPlusPlus(env, X, n, p, k, r, centers, closest);
	mfk_free(&env->alloc, closest);
	return rc;
}

/* Workspace of a fit. */
typedef struct MfkKmWork
{
	double	   *C,
			   *newC,
			   *cnorm,
			   *D,
			   *dist;
	size_t	   *counts,
			   *perm;
	int		   *lab;
	double	   *curve;			/* max_iter: inertia per iteration, this run */
	double	   *best_curve;		/* max_iter: of the kept run */
	size_t		block;
} MfkKmWork;

/* k distinct random rows. */
static void
MfkRandomInit(const double *X, size_t n, size_t p, int k, MfRng *r,
			  size_t *perm, double *C)
{
	size_t		i;
	int			c;

	for (i = 0; i < n; i++)
		perm[i] = i;
	for (c = 0; c < k; c++)		/* partial Fisher-Yates */
	{
		size_t		j = (size_t) c + (size_t) mfk_rng_below(r, n - (size_t) c);
		size_t		t = perm[c];

		perm[c] = perm[j];
		perm[j] = t;
		memcpy(C + (size_t) c * p, X + perm[c] * p, p * sizeof(double));
	}
}

/* M-step: new centres; empty clusters go to the farthest rows. */
static int
MfkUpdateCenters(const double *X, size_t n, size_t p, int k, MfkKmWork *w)
{
	size_t		i,
				j;
	int			c,
				fixed = 0;

	memset(w->newC, 0, (size_t) k * p * sizeof(double));
	memset(w->counts, 0, (size_t) k * sizeof(size_t));
	for (i = 0; i < n; i++)
	{
		double	   *dst = w->newC + (size_t) w->lab[i] * p;
		const double *x = X + i * p;

		for (j = 0; j < p; j++)
			dst[j] += x[j];
		w->counts[w->lab[i]]++;
	}
	for (c = 0; c < k; c++)
	{
		if (w->counts[c] == 0)
		{
			size_t		far = 0;

			for (i = 1; i < n; i++)
				if (w->dist[i] > w->dist[far])
					far = i;
			memcpy(w->newC + (size_t) c * p, X + far * p, p * sizeof(double));
			w->dist[far] = -1.0;	/* use each row once */
			fixed++;
			continue;
		}
		for (j = 0; j < p; j++)
			w->newC[(size_t) c * p + j] /= (double) w->counts[c];
	}
	return fixed;
}

/* Mean per-feature variance of X (for the tolerance). */
static double
MfkMeanVariance(const double *X, size_t n, size_t p)
{
	size_t		i,
				j;
	double		total = 0.0;

	for (j = 0; j < p; j++)
	{
		double		m = 0.0,
					v = 0.0;

		for (i = 0; i < n; i++)
			m += X[i * p + j];
		m /= (double) n;
		for (i = 0; i < n; i++)
			v += (X[i * p + j] - m) * (X[i * p + j] - m);
		total += v / (double) n;
	}
	return total / (double) p;
}

/* One run: init, Lloyd to convergence, final assignment. */
static int
MfkKmRun(const MfEnv *env, const double *X, size_t n, size_t p,
		 const MfKmeansOpts *o, double tol_abs, MfRng *r, MfkKmWork *w,
		 int64_t *iter_counter, int *n_iter, double *inertia, int *n_fixed)
{
	int			it,
				rc,
				k = o->k;
	size_t		i;
	MfProgress	pr;

	if (o->init == MF_KMEANS_RANDOM)
		MfkRandomInit(X, n, p, k, r, w->perm, w->C);
	else if ((rc = MfkPlusPlus(env, X, n, p, k, r, w->C, w->dist)) != MF_KOK)
		return rc;
	*n_iter = 0;
	for (it = 1; it <= o->max_iter; it++)
	{
		double		shift = 0.0,
					inert = 0.0;

		(*iter_counter)++;
		rc = MfkAssignAll(env, X, n, p, w->C, k, w->cnorm, w->D, w->block,
						  w->lab, w->dist, *iter_counter);
		if (rc != MF_KOK)
			return rc;
		for (i = 0; i < n; i++)
			inert += w->dist[i];
		w->curve[it - 1] = inert;
		*n_fixed += MfkUpdateCenters(X, n, p, k, w);
		for (i = 0; i < (size_t) k * p; i++)
		{
			double		d = w->newC[i] - w->C[i];

			shift += d * d;
		}
		memcpy(w->C, w->newC, (size_t) k * p * sizeof(double));
		*n_iter = it;
		pr.kind = MF_PROGRESS_ITERATION;
		pr.phase = MFK_PHASE;
		pr.iteration = *iter_counter;
		pr.total = (int64_t) o->max_iter * o->n_init;
		pr.loss = inert;
		pr.val_loss = NAN;
		pr.fraction = (double) *iter_counter / (double) pr.total;
		if ((rc = mfk_report(env, &pr)) != MF_KOK)
			return rc;
		if (shift <= tol_abs)
			break;
	}
	rc = MfkAssignAll(env, X, n, p, w->C, k, w->cnorm, w->D, w->block,
					  w->lab, w->dist, *iter_counter);
	if (rc != MF_KOK)
		return rc;
	*inertia = 0.0;
	for (i = 0; i < n; i++)
		*inertia += w->dist[i];
	return MF_KOK;
}

/* Free the workspace. */
static void
MfkKmFree(const MfAllocator *a, MfkKmWork *w)
{
	mfk_free(a, w->C);
	mfk_free(a, w->newC);
	mfk_free(a, w->cnorm);
	mfk_free(a, w->D);
	mfk_free(a, w->dist);
	mfk_free(a, w->counts);
	mfk_free(a, w->perm);
	mfk_free(a, w->lab);
	mfk_free(a, w->curve);
	mfk_free(a, w->best_curve);
}

/* k-means with restarts. */
int
mfk_kmeans_fit(const MfEnv *env, const double *X, size_t n, size_t p,
			   const MfKmeansOpts *o, double *centers, int *labels,
			   MfHistory *hist, MfKmeansInfo *info)
{
	const MfAllocator *a;
	MfkKmWork	w;
	MfRng		master;
	MfKmeansInfo best;
	double		tol_abs;
	int64_t		iter_counter = 0;
	int			run,
				rc = MF_KOK,
				k,
				n_fixed = 0;
	size_t		kp;

	if (env == NULL || X == NULL || o == NULL || centers == NULL ||
		o->k < 1 || n < (size_t) o->k || p == 0 || n > (size_t) INT_MAX ||
		p > (size_t) INT_MAX || o->max_iter < 1 || o->n_init < 1 ||
		!(o->tol >= 0.0))
		return MF_KERR_BADARG;
	if (!mfk_all_finite(X, n * p))
		return MF_KERR_INPUT_NOT_FINITE;
	a = &env->alloc;
	k = o->k;
	kp = (size_t) k * p;
	memset(&w, 0, sizeof(w));
	w.block = MfkKmBlock(n, p, k);
	w.C = mfk_alloc_doubles(a, kp);
	w.newC = mfk_alloc_doubles(a, kp);
	w.cnorm = mfk_alloc_doubles(a, (size_t) k);
	w.D = mfk_alloc_doubles(a, w.block * (size_t) k);
	w.dist = mfk_alloc_doubles(a, n);
	w.counts = (size_t *) mfk_alloc_bytes(a, (size_t) k * sizeof(size_t));
	w.perm = (size_t *) mfk_alloc_bytes(a, n * sizeof(size_t));
	w.lab = (int *) mfk_alloc_bytes(a, n * sizeof(int));
	w.curve = mfk_alloc_doubles(a, (size_t) o->max_iter);
	w.best_curve = mfk_alloc_doubles(a, (size_t) o->max_iter);
	if (!w.C || !w.newC || !w.cnorm || !w.D || !w.dist || !w.counts ||
		!w.perm || !w.lab || !w.curve || !w.best_curve)
	{
		rc = MF_KERR_NOMEM;
		goto done;
	}
	tol_abs = o->tol * MfkMeanVariance(X, n, p);
	mfk_rng_seed(&master, o->seed);
	best.inertia = INFINITY;
	best.n_iter = 0;
	best.best_init = -1;
	for (run = 0; run < o->n_init; run++)
	{
		MfRng		r;
		double		inertia = 0.0;
		int			n_iter = 0;

		mfk_rng_split(&master, &r);
		rc = MfkKmRun(env, X, n, p, o, tol_abs, &r, &w, &iter_counter,
					  &n_iter, &inertia, &n_fixed);
		if (rc != MF_KOK)
			goto done;
		if (inertia < best.inertia)
		{
			best.inertia = inertia;
			best.n_iter = n_iter;
			best.best_init = run;
			memcpy(centers, w.C, kp * sizeof(double));
			memcpy(w.best_curve, w.curve, (size_t) n_iter * sizeof(double));
			if (labels != NULL)
				memcpy(labels, w.lab, n * sizeof(int));
		}
	}
	if (best.best_init < 0 || !mfk_all_finite(centers, kp) ||
		!isfinite(best.inertia))
	{
		rc = MF_KERR_NOT_FINITE;
		goto done;
	}
	best.n_empty_fixed = n_fixed;
	for (run = 0; run < best.n_iter; run++)
		mfk_history_push(hist, w.best_curve[run], NAN);
	if (info != NULL)
		*info = best;
done:
	MfkKmFree(a, &w);
	return rc;
}
