/*
 * test_optim.c - optimiser steps by hand, convergence on a quadratic,
 * decoupled weight decay, and learning-rate schedules.
 */
#include "mf_kernels.h"
#include "mf_test.h"

#define D 5

static const double A[D] = {1.0, 3.0, 0.5, 10.0, 2.0};
static const double T[D] = {1.0, -2.0, 0.5, 3.0, -1.0};

/* Gradient of 0.5 sum a_i (w_i - t_i)^2. */
static void
quad_grad(const double *w, double *g)
{
	int			i;

	for (i = 0; i < D; i++)
		g[i] = A[i] * (w[i] - T[i]);
}

/* Run steps of an optimiser on the quadratic; max |w - t|. */
static double
run(const MfOptimConfig *c, double lr, int steps)
{
	MfOptState s;
	double		w[D] = {0},
				g[D],
				e = 0;
	int			i;

	mfk_optim_init(&s, c, D, &mfk_malloc_allocator);
	for (i = 0; i < steps; i++)
	{
		quad_grad(w, g);
		mfk_optim_step(&s, w, g, lr, NULL);
	}
	mfk_optim_free(&s, &mfk_malloc_allocator);
	for (i = 0; i < D; i++)
		e = fmax(e, fabs(w[i] - T[i]));
	return e;
}

int
main(void)
{
	MfOptimConfig c;
	MfOptState	s;
	double		w[2],
				g[2];
	MfLrSchedule ls;
	unsigned char mask[2] = {1, 0};

	/* SGD by hand: momentum then Nesterov */
	mfk_optim_defaults(&c, MF_OPT_SGD);
	c.momentum = 0.5;
	mfk_optim_init(&s, &c, 2, &mfk_malloc_allocator);
	w[0] = 1, w[1] = 2, g[0] = 1, g[1] = -1;
	mfk_optim_step(&s, w, g, 0.1, NULL);
	MF_CLOSE(w[0], 0.9, 1e-15, "sgd momentum step 1");
	g[0] = 2;
	mfk_optim_step(&s, w, g, 0.1, NULL);	/* v = 0.5*1 + 2 = 2.5 */
	MF_CLOSE(w[0], 0.9 - 0.25, 1e-15, "sgd momentum step 2");
	mfk_optim_free(&s, &mfk_malloc_allocator);
	c.nesterov = 1;
	mfk_optim_init(&s, &c, 2, &mfk_malloc_allocator);
	w[0] = 1, g[0] = 1;
	mfk_optim_step(&s, w, g, 0.1, NULL);	/* v = 1, d = 1 + 0.5 */
	MF_CLOSE(w[0], 1 - 0.15, 1e-15, "nesterov step");
	mfk_optim_free(&s, &mfk_malloc_allocator);

	/* coupled L2 */
	mfk_optim_defaults(&c, MF_OPT_SGD);
	c.momentum = 0;
	c.l2 = 0.1;
	mfk_optim_init(&s, &c, 2, &mfk_malloc_allocator);
	w[0] = 2, w[1] = 2, g[0] = 0, g[1] = 0;
	mfk_optim_step(&s, w, g, 0.5, mask);
	MF_OK(fabs(w[0] - (2 - 0.5 * 0.2)) < 1e-15 && w[1] == 2, "l2 penalty respects the decay mask");
	mfk_optim_free(&s, &mfk_malloc_allocator);

	/* Adam first step is lr * sign(g) (bias-corrected) */
	mfk_optim_defaults(&c, MF_OPT_ADAM);
	mfk_optim_init(&s, &c, 2, &mfk_malloc_allocator);
	w[0] = 1, w[1] = 1, g[0] = 0.3, g[1] = -20;
	mfk_optim_step(&s, w, g, 0.01, NULL);
	MF_CLOSE(w[0], 1 - 0.01 * 0.3 / (0.3 + 1e-8), 1e-15, "adam first step");
	MF_CLOSE(w[1], 1 + 0.01 * 20 / (20 + 1e-8), 1e-15, "adam first step (negative gradient)");
	g[0] = 0.1;
	mfk_optim_step(&s, w, g, 0.01, NULL);
	{
		double		m = 0.9 * 0.1 * 0.3 + 0.1 * 0.1,
					v = 0.999 * 0.001 * 0.09 + 0.001 * 0.01;
		double		mh = m / (1 - 0.81),
					vh = v / (1 - 0.999 * 0.999);

		MF_CLOSE(w[0], 1 - 0.01 * 0.3 / (0.3 + 1e-8) - 0.01 * mh / (sqrt(vh) + 1e-8), 1e-14,
				 "adam second step");
	}
	mfk_optim_free(&s, &mfk_malloc_allocator);

	/* AdamW: decoupled decay acts even with zero gradient, masked */
	mfk_optim_defaults(&c, MF_OPT_ADAMW);
	c.weight_decay = 0.1;
	mfk_optim_init(&s, &c, 2, &mfk_malloc_allocator);
	w[0] = 3, w[1] = 3, g[0] = 0, g[1] = 0;
	mfk_optim_step(&s, w, g, 0.5, mask);
	MF_OK(fabs(w[0] - 3 * (1 - 0.05)) < 1e-15 && w[1] == 3, "adamw decoupled decay, masked");
	mfk_optim_free(&s, &mfk_malloc_allocator);

	/* convergence on a quadratic */
	mfk_optim_defaults(&c, MF_OPT_SGD);
	c.momentum = 0;
	MF_OK(run(&c, 0.05, 2000) < 1e-8, "plain sgd converges on a quadratic");
	c.momentum = 0.9;
	MF_OK(run(&c, 0.01, 2000) < 1e-8, "sgd momentum converges");
	c.nesterov = 1;
	MF_OK(run(&c, 0.01, 2000) < 1e-8, "nesterov converges");
	mfk_optim_defaults(&c, MF_OPT_ADAM);
	MF_OK(run(&c, 0.05, 3000) < 1e-4, "adam converges on a quadratic");
	mfk_optim_defaults(&c, MF_OPT_ADAMW);
	c.weight_decay = 0;
	MF_OK(run(&c, 0.05, 3000) < 1e-4, "adamw (no decay) converges");
	c.weight_decay = 0.1;
	MF_OK(run(&c, 0.05, 3000) > 1e-3, "adamw with decay stays away from the unpenalised optimum");
	mfk_optim_defaults(&c, MF_OPT_SGD);
	c.momentum = 0.9;
	MF_OK(run(&c, 0.5, 200) > 1e3, "sgd diverges with too large a step (test can fail)");

	/* schedules */
	memset(&ls, 0, sizeof(ls));
	ls.kind = MF_LR_CONSTANT;
	ls.base_lr = 0.1;
	MF_CLOSE(mfk_lr_at(&ls, 1000), 0.1, 0, "constant schedule");
	ls.kind = MF_LR_STEP;
	ls.step_size = 10;
	ls.gamma = 0.5;
	MF_CLOSE(mfk_lr_at(&ls, 0), 0.1, 1e-15, "step schedule at 0");
	MF_CLOSE(mfk_lr_at(&ls, 9), 0.1, 1e-15, "step schedule at 9");
	MF_CLOSE(mfk_lr_at(&ls, 10), 0.05, 1e-15, "step schedule at 10");
	MF_CLOSE(mfk_lr_at(&ls, 25), 0.025, 1e-15, "step schedule at 25");
	ls.kind = MF_LR_COSINE;
	ls.base_lr = 1.0;
	ls.min_lr = 0.0;
	ls.total_steps = 100;
	MF_CLOSE(mfk_lr_at(&ls, 0), 1.0, 1e-15, "cosine at 0");
	MF_CLOSE(mfk_lr_at(&ls, 25), 0.5 * (1 + cos(0.78539816339744830962)), 1e-15, "cosine at 25");
	MF_CLOSE(mfk_lr_at(&ls, 50), 0.5, 1e-15, "cosine at 50");
	MF_CLOSE(mfk_lr_at(&ls, 100), 0.0, 1e-15, "cosine at 100");
	MF_CLOSE(mfk_lr_at(&ls, 150), 0.0, 1e-15, "cosine clamped after total");
	ls.min_lr = 0.1;
	MF_CLOSE(mfk_lr_at(&ls, 50), 0.55, 1e-15, "cosine with min_lr");
	ls.kind = MF_LR_CONSTANT;
	ls.warmup_steps = 5;
	MF_CLOSE(mfk_lr_at(&ls, 0), 0.2, 1e-15, "warm-up first step");
	MF_CLOSE(mfk_lr_at(&ls, 4), 1.0, 1e-15, "warm-up reaches base");
	return mf_test_done();
}
