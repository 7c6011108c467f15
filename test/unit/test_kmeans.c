/*
 * test_kmeans.c - k-means on separated blobs, determinism, k-means++,
 * empty clusters, assignment paths, cancellation.
 */
#include "mf_kernels.h"
#include "mf_test.h"

#include <cblas.h>
#include <stdlib.h>

static MfEnv env;
static int	cancel_after = -1;
static int	reports = 0;

/* Cancels after cancel_after iteration reports. */
static int
prog(void *ctx, const MfProgress *p)
{
	(void) ctx;
	if (p->kind == MF_PROGRESS_ITERATION)
		reports++;
	return cancel_after >= 0 && reports >= cancel_after;
}

int
main(void)
{
	MfRng		r;
	const double truth[4][3] = {{0, 0, 0}, {10, 0, 0}, {0, 10, 0}, {0, 0, 10}};
	size_t		n = 800,
				p = 3,
				i,
				j;
	double	   *X = malloc(sizeof(double) * n * p);
	int		   *lab = malloc(sizeof(int) * n);
	int		   *lab2 = malloc(sizeof(int) * n);
	int		   *tl = malloc(sizeof(int) * n);
	double		C[12],
				C2[12],
				maxerr = 0;
	MfKmeansOpts o;
	MfKmeansInfo info,
				info2;
	double		curve[300];
	MfHistory	hist = {curve, NULL, 300, 0};
	int			rc,
				c,
				map[4],
				consistent = 1;

	openblas_set_num_threads(1);
	env.alloc = mfk_malloc_allocator;
	env.progress = prog;
	mfk_rng_seed(&r, 77);
	for (i = 0; i < n; i++)
	{
		tl[i] = (int) (i % 4);
		for (j = 0; j < p; j++)
			X[i * p + j] = truth[tl[i]][j] + 0.5 * mfk_rng_normal(&r);
	}

	mfk_kmeans_defaults(&o);
	o.k = 4;
	o.seed = 1;
	rc = mfk_kmeans_fit(&env, X, n, p, &o, C, lab, &hist, &info);
	MF_OK(rc == MF_KOK, "kmeans fit succeeds");
	MF_OK(hist.n == info.n_iter && curve[hist.n - 1] <= curve[0] + 1e-9,
		  "history holds the kept run's inertia per iteration, non-increasing");
	for (c = 0; c < 4; c++)
	{
		double		bd = INFINITY;
		int			t;

		map[c] = -1;
		for (t = 0; t < 4; t++)
		{
			double		d = 0;

			for (j = 0; j < p; j++)
				d += (C[c * p + j] - truth[t][j]) * (C[c * p + j] - truth[t][j]);
			if (d < bd)
				bd = d, map[c] = t;
		}
		maxerr = fmax(maxerr, sqrt(bd));
	}
	MF_OK(maxerr < 0.15, "centres found within 0.15 of the true centres");
	MF_DIAG("max centre error %.4f inertia %.3f iters %d", maxerr, info.inertia, info.n_iter);
	MF_OK(map[0] != map[1] && map[0] != map[2] && map[0] != map[3] &&
		  map[1] != map[2] && map[1] != map[3] && map[2] != map[3], "one centre per blob");
	for (i = 0; i < n; i++)
		if (map[lab[i]] != tl[i])
			consistent = 0;
	MF_OK(consistent, "labels recover the blobs");
	{
		double		s = 0;

		for (i = 0; i < n; i++)
			for (j = 0; j < p; j++)
				s += (X[i * p + j] - C[lab[i] * p + j]) * (X[i * p + j] - C[lab[i] * p + j]);
		MF_CLOSE(info.inertia, s, 1e-12, "inertia equals the sum of squared distances");
		/* each centre is the mean of its members (Lloyd fixed point) */
		s = 0;
		for (c = 0; c < 4; c++)
		{
			double		m[3] = {0, 0, 0};
			int			cnt = 0;

			for (i = 0; i < n; i++)
				if (lab[i] == c)
				{
					cnt++;
					for (j = 0; j < p; j++)
						m[j] += X[i * p + j];
				}
			for (j = 0; j < p; j++)
				s = fmax(s, fabs(m[j] / cnt - C[c * p + j]));
		}
		MF_OK(s < 1e-9, "centres are the means of their clusters");
	}

	/* determinism */
	rc = mfk_kmeans_fit(&env, X, n, p, &o, C2, lab2, NULL, &info2);
	MF_OK(rc == MF_KOK && memcmp(C, C2, sizeof(C)) == 0 &&
		  memcmp(lab, lab2, sizeof(int) * n) == 0, "same seed gives identical result");

	/* k-means++ deterministic under a seed, and picks distinct blobs */
	{
		MfRng		r1,
					r2;
		double		P1[12],
					P2[12];
		int			seen[4] = {0, 0, 0, 0},
					distinct = 0;

		mfk_rng_seed(&r1, 9);
		mfk_rng_seed(&r2, 9);
		rc = mfk_kmeans_plusplus(&env, X, n, p, 4, &r1, P1);
		rc |= mfk_kmeans_plusplus(&env, X, n, p, 4, &r2, P2);
		MF_OK(rc == MF_KOK && memcmp(P1, P2, sizeof(P1)) == 0, "kmeans++ seeding deterministic");
		for (c = 0; c < 4; c++)
		{
			int			found = 0;

			for (i = 0; i < n; i++)
				if (memcmp(P1 + c * p, X + i * p, sizeof(double) * p) == 0)
				{
					found = 1;
					if (!seen[tl[i]]++)
						distinct++;
					break;
				}
			if (!found)
				distinct = -100;
		}
		MF_OK(distinct == 4, "kmeans++ seeds are data rows, one in each blob");
		mfk_rng_seed(&r2, 10);
		mfk_kmeans_plusplus(&env, X, n, p, 4, &r2, P2);
		MF_OK(memcmp(P1, P2, sizeof(P1)) != 0, "another seed gives other seeds");
	}

	/* random init with one restart may hit a local minimum; n_init fixes it */
	o.init = MF_KMEANS_RANDOM;
	o.n_init = 10;
	rc = mfk_kmeans_fit(&env, X, n, p, &o, C2, NULL, NULL, &info2);
	MF_OK(rc == MF_KOK && fabs(info2.inertia - info.inertia) < 1e-6 * info.inertia,
		  "random init with restarts reaches the same inertia");

	/* batch assign vs row assign */
	{
		double	   *d = malloc(sizeof(double) * n),
					dr,
					md = 0;
		int			same = 1;

		rc = mfk_kmeans_assign(&env, C, 4, p, X, n, lab2, d);
		for (i = 0; i < n; i++)
		{
			int			l = mfk_kmeans_assign_row(C, 4, p, X + i * p, &dr);

			same &= l == lab2[i] && l == lab[i];
			md = fmax(md, fabs(dr - d[i]));
		}
		MF_OK(rc == MF_KOK && same && md == 0.0, "batch assign equals row assign");
		free(d);
	}

	/* empty clusters: duplicate points with k-means++ impossible -> random init on 3 distinct values */
	{
		double		Xd[10] = {0, 0, 0, 0, 0, 5, 5, 5, 9, 9};
		double		Cd[3];
		int			ld[10];
		MfKmeansOpts od;
		MfKmeansInfo id;

		mfk_kmeans_defaults(&od);
		od.k = 3;
		od.init = MF_KMEANS_RANDOM;
		od.n_init = 5;
		od.seed = 3;
		rc = mfk_kmeans_fit(&env, Xd, 10, 1, &od, Cd, ld, NULL, &id);
		MF_OK(rc == MF_KOK && id.inertia < 1e-12, "duplicates: empty clusters relocated, zero inertia");
		MF_DIAG("empty clusters fixed %d, centres %g %g %g", id.n_empty_fixed, Cd[0], Cd[1], Cd[2]);
		MF_OK(id.n_empty_fixed > 0, "empty-cluster handling exercised");
	}

	/* cancel and bad args */
	o.init = MF_KMEANS_PLUSPLUS;
	reports = 0;
	cancel_after = 2;
	rc = mfk_kmeans_fit(&env, X, n, p, &o, C2, NULL, NULL, NULL);
	MF_OK(rc == MF_KERR_CANCELLED && reports == 2, "cancel via callback");
	cancel_after = -1;
	o.k = 0;
	MF_OK(mfk_kmeans_fit(&env, X, n, p, &o, C2, NULL, NULL, NULL) == MF_KERR_BADARG, "k = 0 rejected");
	o.k = 4;
	X[5] = INFINITY;
	MF_OK(mfk_kmeans_fit(&env, X, n, p, &o, C2, NULL, NULL, NULL) == MF_KERR_INPUT_NOT_FINITE, "inf input rejected");
	free(X);
	free(lab);
	free(lab2);
	free(tl);
	return mf_test_done();
}
