/*
 * test_logreg.c - logistic regression: optimality, Newton vs L-BFGS,
 * multinomial accuracy, finite-difference gradient of the objective,
 * batch vs single-row prediction, L-BFGS on the Rosenbrock function,
 * the warm-started Newton path on 100k rows, L-BFGS below the rounding
 * floor of f, the Newton pass's Hessian (summed in the pass for small q,
 * by dsyrk for larger q) against a scalar reference.
 */
#include "mf_kernels.h"
#include "mf_test.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static MfEnv env;

/* Rosenbrock in n dims. */
static int
rosen(void *ctx, const double *x, double *f, double *g)
{
	size_t		n = *(size_t *) ctx,
				i;

	*f = 0;
	for (i = 0; i < n; i++)
		g[i] = 0;
	for (i = 0; i + 1 < n; i++)
	{
		double		a = x[i + 1] - x[i] * x[i],
					b = 1 - x[i];

		*f += 100 * a * a + b * b;
		g[i] += -400 * a * x[i] - 2 * b;
		g[i + 1] += 200 * a;
	}
	return 0;
}

static int	n_prog = 0;
static int	cancel_at = -1;

/* Counts progress calls; cancels at cancel_at. */
static int
prog(void *ctx, const MfProgress *p)
{
	(void) ctx;
	if (p->kind == MF_PROGRESS_ITERATION)
		n_prog++;
	return cancel_at >= 0 && n_prog >= cancel_at;
}

/*
 * L-BFGS to tol 1e-6 (the config default) on 200k noisy rows: near the
 * optimum the decrease c1 a f'(0) falls below the rounding error of f
 * (~1e5), the Armijo test becomes noise and the line search used to fail
 * there, stopping short of the tolerance after many wasted evaluations.
 * The approximate Wolfe conditions (the slope decides) must let it converge.
 */
static void
test_lbfgs_rounding_floor(void)
{
	size_t		n = 200000,
				p = 10,
				i,
				j;
	double	   *X = malloc(sizeof(double) * n * p);
	int		   *y = malloc(sizeof(int) * n);
	double		wt[10] = {1.0, -2.0, 0.5, 1.5, -1.0, 0.8, -0.3, 2.0, -1.2, 0.7};
	double		c[10],
				b;
	MfLogregOpts o;
	MfLogregInfo in;
	MfRng		r;
	int			rc;

	mfk_rng_seed(&r, 5);
	for (i = 0; i < n; i++)
	{
		double		z = 0.25;

		for (j = 0; j < p; j++)
		{
			double		u = 2.0 * mfk_rng_uniform(&r) - 1.0;

			z += wt[j] * u;
			X[i * p + j] = u / 0.57735;
		}
		y[i] = z + 0.5 * mfk_rng_normal(&r) > 0;
	}
	mfk_logreg_defaults(&o);
	o.tol = 1e-6;
	rc = mfk_logreg_fit(&env, X, y, n, p, 2, &o, c, &b, NULL, &in);
	MF_OK(rc == MF_KOK && in.converged && in.gnorm_inf <= 1e-6,
		  "lbfgs reaches tol 1e-6 below the rounding floor of f");
	MF_DIAG("200k rows lbfgs: iters %d gnorm %.2g f %.17g", in.n_iter, in.gnorm_inf, in.objective);
	free(X);
	free(y);
}

/*
 * Newton from MFK_WARM_MIN_ROWS rows on starts from a subsample solution:
 * it must reach the same optimum as L-BFGS on the full data, satisfy the
 * gradient tolerance by an independent evaluation, need few full passes
 * and give bit-identical results when run twice.  The lazy Hessian path
 * (a factor reused across iterations) runs here.
 */
static void
test_newton_warm_start(void)
{
	size_t		n = 100000,
				p = 5,
				i,
				j;
	double	   *X = malloc(sizeof(double) * n * p);
	int		   *y = malloc(sizeof(int) * n);
	double		wt[5] = {0.8, -1.5, 0.3, 2.0, -0.7};
	double		cn[5],
				cl[5],
				cn2[5],
				g[5],
				bn,
				bl,
				bn2,
				gb,
				f,
				md,
				gmax;
	MfLogregOpts o;
	MfLogregInfo in,
				il;
	MfRng		r;
	int			rc1,
				rc2,
				rc3;

	mfk_rng_seed(&r, 11);
	for (i = 0; i < n; i++)
	{
		double		z = -0.4;

		for (j = 0; j < p; j++)
		{
			X[i * p + j] = mfk_rng_normal(&r);
			z += wt[j] * X[i * p + j];
		}
		y[i] = mfk_rng_uniform(&r) < mfk_sigmoid(z);
	}
	mfk_logreg_defaults(&o);
	o.solver = MF_LOGREG_NEWTON;
	rc1 = mfk_logreg_fit(&env, X, y, n, p, 2, &o, cn, &bn, NULL, &in);
	rc2 = mfk_logreg_fit(&env, X, y, n, p, 2, &o, cn2, &bn2, NULL, NULL);
	o.solver = MF_LOGREG_LBFGS;
	o.max_iter = 500;
	rc3 = mfk_logreg_fit(&env, X, y, n, p, 2, &o, cl, &bl, NULL, &il);
	MF_OK(rc1 == MF_KOK && rc2 == MF_KOK && rc3 == MF_KOK && in.converged,
		  "warm-started newton converges on 100k rows");
	md = fabs(bn - bl);
	for (j = 0; j < p; j++)
		md = fmax(md, fabs(cn[j] - cl[j]));
	MF_OK(md < 1e-6, "warm-started newton and lbfgs agree on 100k rows");
	MF_OK(in.n_iter <= 4, "warm-started newton needs at most 4 full iterations");
	MF_DIAG("100k rows: newton full iters %d, lbfgs iters %d, diff %.3g", in.n_iter, il.n_iter, md);
	mfk_logreg_objective(&env, X, y, n, p, 2, &o, cn, &bn, &f, g, &gb);
	gmax = fabs(gb);
	for (j = 0; j < p; j++)
		gmax = fmax(gmax, fabs(g[j]));
	MF_OK(gmax <= 1e-4, "gradient at the warm-started newton solution meets tol");
	MF_OK(memcmp(cn, cn2, sizeof(cn)) == 0 && memcmp(&bn, &bn2, sizeof(bn)) == 0,
		  "warm-started newton is bit-reproducible");
	free(X);
	free(y);
}

/*
 * The binary Hessian C sum_i s_i (1 - s_i) [x_i, 1]' [x_i, 1] + I_w of the
 * pass against a scalar sum, with and without intercept, for q on both
 * sides of the direct / dsyrk switch (q = 16 / 17) and n not a multiple of
 * the 4-row sweep nor of the row block.
 */
static void
test_hessian_paths(void)
{
	size_t		n = 5003,
				ps[4] = {3, 15, 16, 24},
				pi,
				i,
				j,
				k;
	double	   *X = malloc(sizeof(double) * n * 24);
	int		   *y = malloc(sizeof(int) * n);
	MfRng		r;

	mfk_rng_seed(&r, 23);
	for (i = 0; i < n * 24; i++)
		X[i] = mfk_rng_normal(&r);
	for (i = 0; i < n; i++)
		y[i] = mfk_rng_uniform(&r) < 0.4;
	for (pi = 0; pi < 4; pi++)
	{
		size_t		p = ps[pi];
		int			fi;

		for (fi = 0; fi <= 1; fi++)
		{
			size_t		q = p + (size_t) fi;
			double		w[24],
						b = 0.3,
						H[25 * 25],
						R[25 * 25],
						me = 0.0,
						hmax = 0.0;
			char		name[96];
			MfLogregOpts o;
			int			rc;

			mfk_logreg_defaults(&o);
			o.C = 0.8;
			o.fit_intercept = fi;
			for (j = 0; j < p; j++)
				w[j] = 0.2 * mfk_rng_normal(&r);
			memset(R, 0, sizeof(R));
			for (i = 0; i < n; i++)
			{
				const double *xi = X + i * p;
				double		z = fi ? b : 0.0,
							s,
							xa[25];

				for (j = 0; j < p; j++)
				{
					z += w[j] * xi[j];
					xa[j] = xi[j];
				}
				xa[p] = 1.0;
				s = 1.0 / (1.0 + exp(-z));
				for (j = 0; j < q; j++)
					for (k = j; k < q; k++)
						R[j * q + k] += o.C * s * (1.0 - s) * xa[j] * xa[k];
			}
			for (j = 0; j < p; j++)
				R[j * q + j] += 1.0;
			rc = mfk_logreg_hessian(&env, X, y, n, p, &o, w, &b, H);
			for (j = 0; j < q; j++)
				for (k = j; k < q; k++)
				{
					me = fmax(me, fabs(H[j * q + k] - R[j * q + k]));
					hmax = fmax(hmax, fabs(R[j * q + k]));
				}
			snprintf(name, sizeof(name),
					 "binary hessian matches the scalar sum (p %zu, intercept %d)", p, fi);
			MF_OK(rc == MF_KOK && me <= 1e-12 * hmax, name);
			MF_DIAG("hessian p %zu intercept %d: max diff %.3g of %.3g", p, fi, me, hmax);
		}
	}
	free(X);
	free(y);
}

int
main(void)
{
	MfRng		r;
	int			n = 400,
				p = 4,
				i,
				j,
				k,
				rc;
	double	   *X = malloc(sizeof(double) * n * p);
	int		   *y = malloc(sizeof(int) * n);
	double		wtrue[4] = {1.0, -2.0, 0.5, 0.0};
	double		c1[4],
				b1,
				c2[4],
				b2,
				g[4],
				gb,
				f;
	MfLogregOpts o;
	MfLogregInfo info,
				info2;
	double		hist_tr[200];
	MfHistory	hist = {hist_tr, NULL, 200, 0};

	openblas_set_num_threads(1);
	env.alloc = mfk_malloc_allocator;
	env.progress = prog;
	mfk_rng_seed(&r, 7);
	for (i = 0; i < n; i++)
	{
		double		z = 0.3;

		for (j = 0; j < p; j++)
		{
			X[i * p + j] = mfk_rng_normal(&r);
			z += wtrue[j] * X[i * p + j];
		}
		y[i] = mfk_rng_uniform(&r) < mfk_sigmoid(z);
	}

	/* L-BFGS on Rosenbrock */
	{
		size_t		nr = 6;
		double		x[6];
		MfLbfgsOpts lo;
		MfLbfgsInfo li;
		double		me = 0;

		for (i = 0; i < 6; i++)
			x[i] = -1.2;
		mfk_lbfgs_defaults(&lo);
		lo.max_iter = 500;
		lo.gtol = 1e-9;
		lo.ftol = 0;
		rc = mfk_lbfgs(&env, rosen, &nr, x, nr, &lo, NULL, &li);
		for (i = 0; i < 6; i++)
			me = fmax(me, fabs(x[i] - 1));
		MF_OK(rc == MF_KOK && li.converged, "lbfgs converges on rosenbrock");
		MF_OK(me < 1e-6, "lbfgs finds the rosenbrock minimum");
		MF_DIAG("rosenbrock iters %d evals %d err %.3g", li.n_iter, li.n_eval, me);
	}

	/* binary, L-BFGS */
	mfk_logreg_defaults(&o);
	o.tol = 1e-8;
	o.max_iter = 200;
	rc = mfk_logreg_fit(&env, X, y, n, p, 2, &o, c1, &b1, &hist, &info);
	MF_OK(rc == MF_KOK && info.converged, "binary lbfgs converges");
	MF_OK(hist.n == info.n_iter && hist.n > 0, "history has one entry per iteration");
	MF_OK(hist.train_loss[hist.n - 1] <= hist.train_loss[0], "objective decreases");
	rc = mfk_logreg_objective(&env, X, y, n, p, 2, &o, c1, &b1, &f, g, &gb);
	{
		double		gm = fabs(gb);

		for (j = 0; j < p; j++)
			gm = fmax(gm, fabs(g[j]));
		MF_OK(rc == MF_KOK && gm < 1e-7, "gradient at the lbfgs solution is ~0");
		MF_DIAG("grad norm %.3g f %.10g", gm, f);
	}
	/* optimality: C X'(p - y) + w = 0 computed independently */
	{
		double		me = 0,
					sb = 0;

		for (j = 0; j < p; j++)
		{
			double		s = c1[j];

			for (i = 0; i < n; i++)
			{
				double		z = b1;

				for (k = 0; k < p; k++)
					z += c1[k] * X[i * p + k];
				s += o.C * X[i * p + j] * (1 / (1 + exp(-z)) - y[i]);
				if (j == 0)
					sb += 1 / (1 + exp(-z)) - y[i];
			}
			me = fmax(me, fabs(s));
		}
		me = fmax(me, fabs(sb));
		MF_OK(me < 1e-7, "independent optimality condition holds");
	}
	MF_OK(fabs(c1[0] - 1.0) < 0.4 && fabs(c1[1] + 2.0) < 0.6, "coefficients near the truth");

	/* Newton agrees */
	o.solver = MF_LOGREG_NEWTON;
	rc = mfk_logreg_fit(&env, X, y, n, p, 2, &o, c2, &b2, NULL, &info2);
	{
		double		md = fabs(b1 - b2);

		for (j = 0; j < p; j++)
			md = fmax(md, fabs(c1[j] - c2[j]));
		MF_OK(rc == MF_KOK && info2.converged, "newton converges");
		MF_OK(md < 1e-6, "newton and lbfgs agree");
		MF_OK(info2.n_iter < 15, "newton needs few iterations");
		MF_DIAG("newton iters %d, lbfgs iters %d, diff %.3g", info2.n_iter, info.n_iter, md);
	}

	/* stronger penalty shrinks */
	o.C = 0.01;
	rc = mfk_logreg_fit(&env, X, y, n, p, 2, &o, c2, &b2, NULL, &info2);
	MF_OK(rc == MF_KOK && fabs(c2[1]) < fabs(c1[1]) * 0.7, "small C shrinks coefficients");

	/* finite-difference gradient of the objective at a random point */
	{
		double		w[4],
					bb = 0.2,
					fp,
					fm,
					gw[4],
					gbb,
					me = 0;
		double		h = 1e-5;

		mfk_logreg_defaults(&o);
		o.C = 0.7;
		for (j = 0; j < p; j++)
			w[j] = mfk_rng_normal(&r);
		mfk_logreg_objective(&env, X, y, n, p, 2, &o, w, &bb, &f, gw, &gbb);
		for (j = 0; j < p; j++)
		{
			double		fd;

			w[j] += h;
			mfk_logreg_objective(&env, X, y, n, p, 2, &o, w, &bb, &fp, NULL, NULL);
			w[j] -= 2 * h;
			mfk_logreg_objective(&env, X, y, n, p, 2, &o, w, &bb, &fm, NULL, NULL);
			w[j] += h;
			fd = (fp - fm) / (2 * h);
			me = fmax(me, fabs(fd - gw[j]) / fmax(1e-8, fabs(fd) + fabs(gw[j])));
		}
		MF_OK(me < 1e-4, "binary objective gradient matches finite differences");
	}

	/* multinomial on 3 well-separated blobs */
	{
		int			nm = 300,
					K = 3,
					correct = 0;
		double	   *Xm = malloc(sizeof(double) * nm * 2);
		int		   *ym = malloc(sizeof(int) * nm);
		double		W[6],
					bm[3],
					cen[3][2] = {{0, 0}, {6, 0}, {0, 6}},
					pr[3],
					gW[6],
					gbm[3],
					sumb;
		double	   *P = malloc(sizeof(double) * nm * 3);
		double		md = 0;

		for (i = 0; i < nm; i++)
		{
			ym[i] = i % K;
			Xm[i * 2] = cen[ym[i]][0] + mfk_rng_normal(&r);
			Xm[i * 2 + 1] = cen[ym[i]][1] + mfk_rng_normal(&r);
		}
		mfk_logreg_defaults(&o);
		o.tol = 1e-7;
		o.max_iter = 300;
		rc = mfk_logreg_fit(&env, Xm, ym, nm, 2, K, &o, W, bm, NULL, &info);
		MF_OK(rc == MF_KOK && info.converged, "multinomial converges");
		rc = mfk_logreg_predict_proba(&env, Xm, nm, 2, W, bm, K, 1, P);
		for (i = 0; i < nm; i++)
		{
			int			best = 0;

			mfk_logreg_predict_proba_row(W, bm, 2, K, 1, Xm + i * 2, pr);
			for (k = 0; k < K; k++)
			{
				md = fmax(md, fabs(pr[k] - P[i * K + k]));
				if (pr[k] > pr[best])
					best = k;
			}
			correct += best == ym[i];
		}
		MF_OK(correct >= nm - 3, "multinomial accuracy ~100% on separated blobs");
		MF_DIAG("multinomial accuracy %d/%d", correct, nm);
		MF_OK(rc == MF_KOK && md < 1e-12, "batch proba equals row proba (multinomial)");
		mfk_logreg_objective(&env, Xm, ym, nm, 2, K, &o, W, bm, &f, gW, gbm);
		md = 0;
		for (k = 0; k < 6; k++)
			md = fmax(md, fabs(gW[k]));
		for (k = 0; k < 3; k++)
			md = fmax(md, fabs(gbm[k]));
		MF_OK(md < 1e-6, "multinomial gradient at solution ~0");
		sumb = bm[0] + bm[1] + bm[2];
		MF_OK(fabs(sumb) < 1e-6, "multinomial intercepts stay centred");

		/* multinomial finite-difference gradient */
		{
			double		h = 1e-5,
						fp,
						fm,
						me = 0;

			for (k = 0; k < 6; k++)
				W[k] = 0.3 * mfk_rng_normal(&r);
			mfk_logreg_objective(&env, Xm, ym, nm, 2, K, &o, W, bm, &f, gW, gbm);
			for (k = 0; k < 6; k++)
			{
				double		fd;

				W[k] += h;
				mfk_logreg_objective(&env, Xm, ym, nm, 2, K, &o, W, bm, &fp, NULL, NULL);
				W[k] -= 2 * h;
				mfk_logreg_objective(&env, Xm, ym, nm, 2, K, &o, W, bm, &fm, NULL, NULL);
				W[k] += h;
				fd = (fp - fm) / (2 * h);
				me = fmax(me, fabs(fd - gW[k]) / fmax(1e-8, fabs(fd) + fabs(gW[k])));
			}
			MF_OK(me < 1e-4, "multinomial gradient matches finite differences");
		}
		/* 2-class multinomial equals binary up to parametrisation: P agree */
		free(Xm);
		free(ym);
		free(P);
	}

	/* binary batch vs row proba */
	{
		double	   *P = malloc(sizeof(double) * n * 2),
					pr[2],
					md = 0;

		rc = mfk_logreg_predict_proba(&env, X, n, p, c1, &b1, 2, 0, P);
		for (i = 0; i < n; i++)
		{
			mfk_logreg_predict_proba_row(c1, &b1, p, 2, 0, X + i * p, pr);
			md = fmax(md, fabs(pr[0] - P[2 * i]) + fabs(pr[1] - P[2 * i + 1]));
		}
		MF_OK(rc == MF_KOK && md < 1e-12, "batch proba equals row proba (binary)");
		MF_CLOSE(P[0] + P[1], 1.0, 1e-15, "binary probabilities sum to one");
		free(P);
	}

	/* binary via 2-class multinomial gives the same probabilities */
	{
		double		W2[8],
					bb2[2],
					pa[2],
					pb[2],
					md = 0;

		mfk_logreg_defaults(&o);
		o.tol = 1e-8;
		o.max_iter = 300;
		o.multinomial = 1;
		/*
		 * Softmax with columns (-v, v) is a sigmoid with d = 2v; its penalty
		 * ||v||^2 = ||d||^2 / 4, so multinomial C = 0.5 equals binary C = 1.
		 */
		o.C = 0.5;
		rc = mfk_logreg_fit(&env, X, y, n, p, 2, &o, W2, bb2, NULL, &info);
		MF_OK(rc == MF_KOK && info.converged, "2-class multinomial converges");
		MF_DIAG("2-class gnorm %.3g iters %d", info.gnorm_inf, info.n_iter);
		o.multinomial = 0;
		o.C = 1.0;
		for (i = 0; i < n; i++)
		{
			mfk_logreg_predict_proba_row(W2, bb2, p, 2, 1, X + i * p, pa);
			mfk_logreg_predict_proba_row(c1, &b1, p, 2, 0, X + i * p, pb);
			md = fmax(md, fabs(pa[1] - pb[1]));
		}
		MF_OK(md < 1e-6, "2-class softmax (C/2) equals binary sigmoid (C)");
		MF_DIAG("2-class softmax vs sigmoid max prob diff %.3g", md);
		MF_OK(fabs(W2[0] + W2[1]) < 1e-6, "2-class softmax weights antisymmetric");
	}

	test_newton_warm_start();
	test_lbfgs_rounding_floor();
	test_hessian_paths();

	/* cancel and bad args */
	mfk_logreg_defaults(&o);
	o.tol = 1e-12;
	n_prog = 0;
	cancel_at = 2;
	rc = mfk_logreg_fit(&env, X, y, n, p, 2, &o, c2, &b2, NULL, NULL);
	MF_OK(rc == MF_KERR_CANCELLED && n_prog == 2, "cancel stops lbfgs promptly");
	n_prog = 0;
	o.solver = MF_LOGREG_NEWTON;
	rc = mfk_logreg_fit(&env, X, y, n, p, 2, &o, c2, &b2, NULL, NULL);
	MF_OK(rc == MF_KERR_CANCELLED, "cancel stops newton");
	cancel_at = -1;
	y[3] = 5;
	MF_OK(mfk_logreg_fit(&env, X, y, n, p, 2, &o, c2, &b2, NULL, NULL) == MF_KERR_BADARG,
		  "label out of range rejected");
	y[3] = 0;
	o.solver = MF_LOGREG_NEWTON;
	o.multinomial = 1;
	MF_OK(mfk_logreg_fit(&env, X, y, n, p, 2, &o, c2, &b2, NULL, NULL) == MF_KERR_BADARG,
		  "newton refuses multinomial");
	free(X);
	free(y);
	return mf_test_done();
}
