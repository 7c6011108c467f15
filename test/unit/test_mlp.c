/*
 * test_mlp.c - MLP: whole-network gradient check for every activation,
 * XOR, a noisy 2-class problem, regression, early stopping restores the
 * best epoch, determinism, cancellation, batch vs row inference.
 */
#include "mf_kernels.h"
#include "mf_test.h"

#include <cblas.h>
#include <stdlib.h>

static MfEnv env;
static int	cancel_epoch = -1;
static int	n_iter_reports = 0;

/* Counts epoch reports; cancels at cancel_epoch. */
static int
prog(void *ctx, const MfProgress *p)
{
	(void) ctx;
	if (p->kind == MF_PROGRESS_ITERATION)
	{
		n_iter_reports++;
		if (cancel_epoch > 0 && p->iteration >= cancel_epoch)
			return 1;
	}
	return 0;
}

/* Build a network with its params. */
static void
make_net(MfMlp *m, size_t nin, size_t nout, int nh, const size_t *hid,
		 MfAct act, MfTask task)
{
	MfMlpShape c;
	int			l;

	memset(&c, 0, sizeof(c));
	c.n_inputs = nin;
	c.n_outputs = nout;
	c.n_hidden = nh;
	for (l = 0; l < nh; l++)
		c.hidden[l] = hid[l];
	c.activation = act;
	c.task = task;
	c.init = MF_INIT_AUTO;
	if (mfk_mlp_layout(m, &c) != MF_KOK)
		abort();
	m->params = malloc(sizeof(double) * m->n_params);
}

/*
 * Gradient check: one full-batch SGD step (lr, no momentum) gives
 * g = (w0 - w1) / lr; compare with central differences of mfk_mlp_loss.
 */
static double
grad_check(MfAct act, MfTask task, MfRng *r)
{
	MfMlp		m;
	size_t		hid[2] = {5, 4};
	size_t		n = 7,
				nin = 3,
				nout = 3,
				i;
	double		X[21],
				yr[21],
				lr = 1e-2,
				h = 1e-5,
				worst = 0;
	int			yc[7];
	double	   *w0,
			   *g;
	MfMlpTrainOpts o;
	MfRng		ir;

	make_net(&m, nin, nout, 2, hid, act, task);
	for (i = 0; i < n * nin; i++)
		X[i] = mfk_rng_normal(r);
	for (i = 0; i < n * nout; i++)
		yr[i] = mfk_rng_normal(r);
	for (i = 0; i < n; i++)
		yc[i] = (int) mfk_rng_below(r, nout);
	mfk_rng_seed(&ir, 99);
	mfk_mlp_init_params(&m, &ir);
	for (i = 0; i < m.n_params; i++)	/* non-zero biases too */
		m.params[i] += 0.1 * mfk_rng_normal(r);
	w0 = malloc(sizeof(double) * m.n_params);
	g = malloc(sizeof(double) * m.n_params);
	memcpy(w0, m.params, sizeof(double) * m.n_params);
	mfk_mlp_train_defaults(&o);
	mfk_optim_defaults(&o.optim, MF_OPT_SGD);
	o.optim.momentum = 0;
	o.schedule.base_lr = lr;
	o.epochs = 1;
	o.batch_size = n;
	o.validation_fraction = 0;
	o.init_params = 0;
	if (mfk_mlp_train(&env, &m, X, n, task == MF_TASK_CLASSIFICATION ? yc : NULL,
					  task == MF_TASK_REGRESSION ? yr : NULL, &o, NULL, NULL) != MF_KOK)
		return 1e9;
	for (i = 0; i < m.n_params; i++)
		g[i] = (w0[i] - m.params[i]) / lr;
	for (i = 0; i < m.n_params; i++)
	{
		double		fp,
					fm,
					fd,
					err;

		memcpy(m.params, w0, sizeof(double) * m.n_params);
		m.params[i] += h;
		mfk_mlp_loss(&env, &m, X, n, yc, yr, &fp);
		m.params[i] -= 2 * h;
		mfk_mlp_loss(&env, &m, X, n, yc, yr, &fm);
		fd = (fp - fm) / (2 * h);
		err = fabs(fd - g[i]) / fmax(fabs(fd) + fabs(g[i]), 1e-6);
		if (err > worst)
			worst = err;
	}
	free(w0);
	free(g);
	free(m.params);
	return worst;
}

/* Accuracy of a classifier. */
static double
accuracy(const MfMlp *m, const double *X, const int *y, size_t n)
{
	double	   *P = malloc(sizeof(double) * n * m->cfg.n_outputs);
	size_t		i,
				k,
				ok = 0;

	mfk_mlp_predict(&env, m, X, n, P);
	for (i = 0; i < n; i++)
	{
		size_t		best = 0;

		for (k = 1; k < m->cfg.n_outputs; k++)
			if (P[i * m->cfg.n_outputs + k] > P[i * m->cfg.n_outputs + best])
				best = k;
		ok += (int) best == y[i];
	}
	free(P);
	return (double) ok / (double) n;
}

int
main(void)
{
	MfRng		r;
	MfAct		acts[] = {MF_ACT_RELU, MF_ACT_GELU, MF_ACT_SILU, MF_ACT_TANH,
	MF_ACT_SIGMOID, MF_ACT_IDENTITY, MF_ACT_GEGLU, MF_ACT_REGLU, MF_ACT_SWIGLU};
	int			a,
				rc;
	size_t		i;
	char		name[128];
	MfMlpTrainOpts o;
	MfMlpInfo	info;

	openblas_set_num_threads(1);
	env.alloc = mfk_malloc_allocator;
	env.progress = prog;
	mfk_rng_seed(&r, 2024);

	/* layout */
	{
		MfMlp		m;
		size_t		hid[2] = {4, 3};

		make_net(&m, 5, 2, 2, hid, MF_ACT_RELU, MF_TASK_CLASSIFICATION);
		MF_OK(m.n_params == (5 * 4 + 4) + (4 * 3 + 3) + (3 * 2 + 2), "layout parameter count");
		MF_OK(m.w_off[1] == 24 && m.b_off[1] == 36, "layout offsets");
		free(m.params);
		make_net(&m, 5, 2, 2, hid, MF_ACT_SWIGLU, MF_TASK_CLASSIFICATION);
		MF_OK(m.out[0] == 8 && m.act_out[0] == 4 && m.in[1] == 4 &&
			  m.n_params == (5 * 8 + 8) + (4 * 6 + 6) + (3 * 2 + 2), "gated layout doubles dense width");
		free(m.params);
	}

	/* whole-network gradient checks */
	for (a = 0; a < (int) (sizeof(acts) / sizeof(acts[0])); a++)
	{
		double		e1 = grad_check(acts[a], MF_TASK_CLASSIFICATION, &r);
		double		e2 = grad_check(acts[a], MF_TASK_REGRESSION, &r);

		snprintf(name, sizeof(name), "network gradient (%s, softmax+ce) matches finite differences",
				 mfk_act_name(acts[a]));
		if (!MF_OK(e1 < 1e-4, name))
			MF_DIAG("rel err %.3g", e1);
		snprintf(name, sizeof(name), "network gradient (%s, linear+mse) matches finite differences",
				 mfk_act_name(acts[a]));
		if (!MF_OK(e2 < 1e-4, name))
			MF_DIAG("rel err %.3g", e2);
	}

	/* XOR */
	{
		MfMlp		m;
		size_t		hid[1] = {8};
		double		X[8] = {0, 0, 0, 1, 1, 0, 1, 1};
		int			y[4] = {0, 1, 1, 0};
		double		tl[1000];
		MfHistory	h = {tl, NULL, 1000, 0};

		make_net(&m, 2, 2, 1, hid, MF_ACT_TANH, MF_TASK_CLASSIFICATION);
		mfk_mlp_train_defaults(&o);
		o.schedule.base_lr = 0.05;
		o.epochs = 400;
		o.batch_size = 4;
		o.validation_fraction = 0;
		o.seed = 1;
		rc = mfk_mlp_train(&env, &m, X, 4, y, NULL, &o, &h, &info);
		MF_OK(rc == MF_KOK, "xor trains");
		MF_OK(accuracy(&m, X, y, 4) == 1.0, "xor learned (4/4)");
		MF_OK(h.n == 400 && tl[399] < 0.05 && tl[399] < tl[0], "xor loss decreases below 0.05");
		MF_DIAG("xor loss %.4g -> %.4g", tl[0], tl[399]);
		free(m.params);
	}

	/* noisy two-class problem */
	{
		MfMlp		m;
		size_t		hid[2] = {16, 8},
					n = 400;
		double	   *X = malloc(sizeof(double) * n * 2);
		int		   *y = malloc(sizeof(int) * n);
		double		tl[100],
					vl[100];
		MfHistory	h = {tl, vl, 100, 0};
		double		acc;

		for (i = 0; i < n; i++)
		{
			double		t = mfk_rng_uniform(&r) * 6.283185307179586;
			double		rad;

			y[i] = (int) (i % 2);
			rad = y[i] ? 3.0 : 1.0;	/* two rings */
			X[i * 2] = rad * cos(t) + 0.3 * mfk_rng_normal(&r);
			X[i * 2 + 1] = rad * sin(t) + 0.3 * mfk_rng_normal(&r);
		}
		make_net(&m, 2, 2, 2, hid, MF_ACT_RELU, MF_TASK_CLASSIFICATION);
		mfk_mlp_train_defaults(&o);
		o.schedule.base_lr = 0.01;
		o.epochs = 60;
		o.validation_fraction = 0.2;
		o.seed = 5;
		rc = mfk_mlp_train(&env, &m, X, n, y, NULL, &o, &h, &info);
		acc = accuracy(&m, X, y, n);
		MF_OK(rc == MF_KOK && info.n_train == 320 && info.n_val == 80, "rings train with validation split");
		MF_OK(acc > 0.95, "rings accuracy > 95%");
		MF_DIAG("rings accuracy %.3f loss %.4g -> %.4g val %.4g -> %.4g", acc, tl[0], tl[59], vl[0], vl[59]);
		MF_OK(tl[59] < 0.5 * tl[0] && vl[59] < 0.5 * vl[0], "train and validation loss decrease");

		/* same seed: bit-identical weights; other seed differs */
		{
			double	   *w1 = malloc(sizeof(double) * m.n_params);

			memcpy(w1, m.params, sizeof(double) * m.n_params);
			o.epochs = 60;
			rc = mfk_mlp_train(&env, &m, X, n, y, NULL, &o, NULL, NULL);
			MF_OK(rc == MF_KOK && memcmp(w1, m.params, sizeof(double) * m.n_params) == 0,
				  "same seed gives bit-identical weights");
			o.seed = 6;
			rc = mfk_mlp_train(&env, &m, X, n, y, NULL, &o, NULL, NULL);
			MF_OK(memcmp(w1, m.params, sizeof(double) * m.n_params) != 0,
				  "another seed gives other weights");
			/* dropout + AdamW + cosine schedule, deterministic too */
			o.seed = 5;
			o.dropout = 0.2;
			mfk_optim_defaults(&o.optim, MF_OPT_ADAMW);
			o.schedule.kind = MF_LR_COSINE;
			o.epochs = 30;
			rc = mfk_mlp_train(&env, &m, X, n, y, NULL, &o, NULL, NULL);
			memcpy(w1, m.params, sizeof(double) * m.n_params);
			acc = accuracy(&m, X, y, n);
			rc |= mfk_mlp_train(&env, &m, X, n, y, NULL, &o, NULL, NULL);
			MF_OK(rc == MF_KOK && memcmp(w1, m.params, sizeof(double) * m.n_params) == 0,
				  "dropout training is deterministic under a seed");
			MF_OK(acc > 0.9, "dropout + adamw + cosine still learns");
			MF_DIAG("dropout accuracy %.3f", acc);
			free(w1);
		}

		/* cancel */
		mfk_mlp_train_defaults(&o);
		n_iter_reports = 0;
		cancel_epoch = 3;
		rc = mfk_mlp_train(&env, &m, X, n, y, NULL, &o, NULL, NULL);
		MF_OK(rc == MF_KERR_CANCELLED && n_iter_reports == 3, "cancel via callback stops after epoch 3");
		cancel_epoch = -1;
		free(m.params);
		free(X);
		free(y);
	}

	/* early stopping restores the best epoch */
	{
		MfMlp		m;
		size_t		hid[2] = {64, 64},
					n = 60;
		double	   *X = malloc(sizeof(double) * n * 4);
		int		   *y = malloc(sizeof(int) * n);
		double		tl[500],
					vl[500],
					vbest = INFINITY;
		MfHistory	h = {tl, vl, 500, 0};
		double	   *wa;
		int			e,
					arg = 0;

		for (i = 0; i < n; i++)
		{
			y[i] = mfk_rng_uniform(&r) < 0.5;	/* pure noise: must overfit */
			X[i * 4] = mfk_rng_normal(&r) + 0.5 * y[i];
			X[i * 4 + 1] = mfk_rng_normal(&r);
			X[i * 4 + 2] = mfk_rng_normal(&r);
			X[i * 4 + 3] = mfk_rng_normal(&r);
		}
		make_net(&m, 4, 2, 2, hid, MF_ACT_RELU, MF_TASK_CLASSIFICATION);
		mfk_mlp_train_defaults(&o);
		o.schedule.base_lr = 0.01;
		o.epochs = 500;
		o.batch_size = 8;
		o.validation_fraction = 0.3;
		o.early_stopping = 1;
		o.patience = 8;
		o.min_delta = 0;
		o.seed = 11;
		rc = mfk_mlp_train(&env, &m, X, n, y, NULL, &o, &h, &info);
		for (e = 0; e < h.n; e++)
			if (vl[e] < vbest)
				vbest = vl[e], arg = e + 1;
		MF_OK(rc == MF_KOK && info.stopped_early, "early stopping triggers on overfitting");
		MF_OK(info.best_epoch == arg && info.n_epochs == arg + 8, "best epoch is the validation minimum; stopped after patience");
		MF_DIAG("best epoch %d of %d, val %.4g", info.best_epoch, info.n_epochs, info.best_loss);
		wa = malloc(sizeof(double) * m.n_params);
		memcpy(wa, m.params, sizeof(double) * m.n_params);
		o.early_stopping = 0;
		o.epochs = info.best_epoch;
		rc = mfk_mlp_train(&env, &m, X, n, y, NULL, &o, NULL, NULL);
		MF_OK(rc == MF_KOK && memcmp(wa, m.params, sizeof(double) * m.n_params) == 0,
			  "restored weights equal the weights after the best epoch");
		free(wa);
		free(m.params);
		free(X);
		free(y);
	}

	/* regression */
	{
		MfMlp		m;
		size_t		hid[1] = {16},
					n = 300;
		double	   *X = malloc(sizeof(double) * n * 2);
		double	   *Y = malloc(sizeof(double) * n * 2);
		double		loss;

		for (i = 0; i < n; i++)
		{
			X[i * 2] = mfk_rng_uniform_range(&r, -2, 2);
			X[i * 2 + 1] = mfk_rng_uniform_range(&r, -2, 2);
			Y[i * 2] = 2 * X[i * 2] - X[i * 2 + 1] + 0.5;
			Y[i * 2 + 1] = X[i * 2] * X[i * 2];
		}
		make_net(&m, 2, 2, 1, hid, MF_ACT_GELU, MF_TASK_REGRESSION);
		mfk_mlp_train_defaults(&o);
		o.schedule.base_lr = 0.01;
		o.epochs = 150;
		o.validation_fraction = 0;
		o.seed = 3;
		rc = mfk_mlp_train(&env, &m, X, n, NULL, Y, &o, NULL, &info);
		mfk_mlp_loss(&env, &m, X, n, NULL, Y, &loss);
		MF_OK(rc == MF_KOK && loss < 0.02, "regression mse < 0.02");
		MF_DIAG("regression mse %.4g", loss);

		/* divergence is reported */
		mfk_optim_defaults(&o.optim, MF_OPT_SGD);
		o.schedule.base_lr = 1e12;
		rc = mfk_mlp_train(&env, &m, X, n, NULL, Y, &o, NULL, &info);
		MF_OK(rc == MF_KERR_NOT_FINITE, "diverging training returns MF_KERR_NOT_FINITE");
		X[3] = NAN;
		mfk_optim_defaults(&o.optim, MF_OPT_ADAM);
		o.schedule.base_lr = 0.01;
		MF_OK(mfk_mlp_train(&env, &m, X, n, NULL, Y, &o, NULL, &info) == MF_KERR_INPUT_NOT_FINITE,
			  "nan input rejected");
		free(m.params);
		free(X);
		free(Y);
	}

	/* batch vs row inference, gated multi-layer */
	{
		MfMlp		m;
		size_t		hid[3] = {6, 5, 4},
					n = 50;
		double	   *X = malloc(sizeof(double) * n * 3);
		double	   *P = malloc(sizeof(double) * n * 3);
		double	   *scr,
					out[3],
					md = 0,
					ms = 0;
		MfRng		ir;

		make_net(&m, 3, 3, 3, hid, MF_ACT_SWIGLU, MF_TASK_CLASSIFICATION);
		mfk_rng_seed(&ir, 8);
		mfk_mlp_init_params(&m, &ir);
		for (i = 0; i < n * 3; i++)
			X[i] = mfk_rng_normal(&r);
		scr = malloc(sizeof(double) * mfk_mlp_scratch_size(&m));
		rc = mfk_mlp_predict(&env, &m, X, n, P);
		for (i = 0; i < n; i++)
		{
			int			k;

			mfk_mlp_predict_row(&m, X + i * 3, out, scr);
			for (k = 0; k < 3; k++)
				md = fmax(md, fabs(out[k] - P[i * 3 + k]));
			ms = fmax(ms, fabs(out[0] + out[1] + out[2] - 1));
		}
		MF_OK(rc == MF_KOK && md < 1e-13, "batch inference equals row inference");
		MF_OK(ms < 1e-14, "softmax outputs sum to one");
		free(scr);
		free(X);
		free(P);
		free(m.params);
	}
	return mf_test_done();
}
