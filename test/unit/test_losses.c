/*
 * test_losses.c - MSE, BCE and CCE from logits: values, stability and
 * finite-difference gradients.
 */
#include "mf_kernels.h"
#include "mf_test.h"

/* Relative error. */
static double
relerr(double a, double b)
{
	return fabs(a - b) / fmax(fabs(a) + fabs(b), 1e-8);
}

int
main(void)
{
	MfRng		r;
	double		h = 1e-6,
				worst;
	int			i;

	mfk_rng_seed(&r, 17);

	/* MSE */
	{
		double		p[6] = {1, 2, 3, 4, 5, 6},
					y[6] = {1, 1, 1, 1, 1, 1},
					g[6];
		double		l = mfk_loss_mse(p, y, 3, 2, g);

		MF_CLOSE(l, (0 + 1 + 4 + 9 + 16 + 25) / 6.0, 1e-15, "mse value");
		MF_CLOSE(g[5], 2 * 5 / 6.0, 1e-15, "mse gradient value");
		for (i = 0; i < 6; i++)
			p[i] = mfk_rng_normal(&r), y[i] = mfk_rng_normal(&r);
		mfk_loss_mse(p, y, 3, 2, g);
		worst = 0;
		for (i = 0; i < 6; i++)
		{
			double		k = p[i],
						fp,
						fm;

			p[i] = k + h;
			fp = mfk_loss_mse(p, y, 3, 2, NULL);
			p[i] = k - h;
			fm = mfk_loss_mse(p, y, 3, 2, NULL);
			p[i] = k;
			worst = fmax(worst, relerr((fp - fm) / (2 * h), g[i]));
		}
		MF_OK(worst < 1e-4, "mse gradient matches finite differences");
	}

	/* BCE from logits */
	{
		double		z[8],
					y[8],
					g[8],
					zz[2] = {1000, -1000},
					yy[2] = {0, 0},
					l;

		MF_CLOSE(mfk_loss_bce_logits((double[]) {0}, (double[]) {1}, 1, NULL), log(2.0), 1e-15,
				 "bce at logit 0 is log 2");
		l = mfk_loss_bce_logits(zz, yy, 2, g);
		MF_CLOSE(l, 500.0, 1e-12, "bce stable at logits +-1000");
		MF_OK(g[0] == 0.5 && g[1] == 0.0, "bce gradient saturates cleanly");
		MF_CLOSE(mfk_loss_bce_logits((double[]) {2.0}, (double[]) {1}, 1, NULL),
				 -log(1 / (1 + exp(-2.0))), 1e-15, "bce value");
		for (i = 0; i < 8; i++)
		{
			z[i] = mfk_rng_normal(&r) * 3;
			y[i] = mfk_rng_uniform(&r);		/* soft labels too */
		}
		mfk_loss_bce_logits(z, y, 8, g);
		worst = 0;
		for (i = 0; i < 8; i++)
		{
			double		k = z[i],
						fp,
						fm;

			z[i] = k + h;
			fp = mfk_loss_bce_logits(z, y, 8, NULL);
			z[i] = k - h;
			fm = mfk_loss_bce_logits(z, y, 8, NULL);
			z[i] = k;
			worst = fmax(worst, relerr((fp - fm) / (2 * h), g[i]));
		}
		MF_OK(worst < 1e-4, "bce gradient matches finite differences");
	}

	/* CCE from logits */
	{
		double		z[12],
					g[12],
					big[3] = {1000, 0, -1000},
					l,
					ref;
		int			y[4] = {0, 2, 1, 2},
					yb[1] = {1};

		for (i = 0; i < 12; i++)
			z[i] = mfk_rng_normal(&r) * 2;
		l = mfk_loss_cce_logits(z, y, 4, 3, g);
		ref = 0;
		for (i = 0; i < 4; i++)
			ref += -log(exp(z[i * 3 + y[i]]) /
						(exp(z[i * 3]) + exp(z[i * 3 + 1]) + exp(z[i * 3 + 2])));
		MF_CLOSE(l, ref / 4, 1e-13, "cce equals -mean log softmax");
		worst = 0;
		for (i = 0; i < 12; i++)
		{
			double		k = z[i],
						fp,
						fm;

			z[i] = k + h;
			fp = mfk_loss_cce_logits(z, y, 4, 3, NULL);
			z[i] = k - h;
			fm = mfk_loss_cce_logits(z, y, 4, 3, NULL);
			z[i] = k;
			worst = fmax(worst, relerr((fp - fm) / (2 * h), g[i]));
		}
		MF_OK(worst < 1e-4, "cce gradient matches finite differences");
		l = mfk_loss_cce_logits(big, yb, 1, 3, g);
		MF_CLOSE(l, 1000.0, 1e-12, "cce stable at logits +-1000");
		MF_OK(isfinite(g[0]) && fabs(g[0] - 1.0) < 1e-15 && fabs(g[1] + 1.0) < 1e-15,
			  "cce gradient finite at large logits");
	}
	return mf_test_done();
}
