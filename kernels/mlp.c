/*
 * mlp.c - multilayer perceptron: layout, training, inference.
 *
 * Design note.  A network is n_hidden dense layers with one activation
 * (plain or gated) and a dense output layer: linear + MSE for regression,
 * softmax + categorical cross-entropy (from logits) for classification.
 * Parameters are one flat vector (per layer W then b, see mf_kernels.h), so
 * optimisers, early-stopping snapshots and storage treat them as one array.
 *
 * Training is minibatch gradient descent.  All workspace (activations per
 * layer for one batch, gradients, optimiser moments, best-weights snapshot,
 * index permutation) is allocated once from the caller's allocator and
 * carved into pieces; the epoch loop allocates nothing.  Randomness comes
 * from four child streams of one seed (init, validation split, shuffles,
 * dropout), so switching dropout on does not change the initial weights.
 * The validation split is a random fraction of the rows, fixed for the
 * run.  Early stopping monitors the validation loss (training loss when
 * there is no validation set); at the end the best weights are restored.
 * The learning-rate schedule is stepped once per epoch.  Progress: a tick
 * after every minibatch, an iteration report after every epoch.
 */
#include "mf_kernels.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#define MFK_PHASE "mlp"

/* Fill dims and offsets. */
int
mfk_mlp_layout(MfMlp *m, const MfMlpShape *cfg)
{
	int			l,
				L,
				gated;
	size_t		off = 0,
				prev;

	memset(m, 0, sizeof(*m));
	if (cfg == NULL || cfg->n_inputs == 0 || cfg->n_outputs == 0 ||
		cfg->n_hidden < 0 || cfg->n_hidden >= MF_MLP_MAX_LAYERS ||
		(int) cfg->activation < MF_ACT_IDENTITY ||
		cfg->activation > MF_ACT_SWIGLU ||
		(cfg->task == MF_TASK_CLASSIFICATION && cfg->n_outputs < 2) ||
		(cfg->task != MF_TASK_CLASSIFICATION && cfg->task != MF_TASK_REGRESSION))
		return MF_KERR_BADARG;
	m->cfg = *cfg;
	L = m->n_layers = cfg->n_hidden + 1;
	gated = mfk_act_is_gated(cfg->activation);
	prev = cfg->n_inputs;
	for (l = 0; l < L; l++)
	{
		size_t		width = l < L - 1 ? cfg->hidden[l] : cfg->n_outputs;

		if (width == 0 || width > ((size_t) 1 << 24))
			return MF_KERR_BADARG;
		m->in[l] = prev;
		m->act_out[l] = width;
		m->out[l] = (l < L - 1 && gated) ? 2 * width : width;
		m->w_off[l] = off;
		off += m->in[l] * m->out[l];
		m->b_off[l] = off;
		off += m->out[l];
		if (m->in[l] > m->max_width)
			m->max_width = m->in[l];
		if (m->out[l] > m->max_width)
			m->max_width = m->out[l];
		prev = width;
	}
	m->n_params = off;
	m->params = NULL;
	return MF_KOK;
}

/* Initialise weights (scheme per layer) and zero the biases. */
void
mfk_mlp_init_params(MfMlp *m, MfRng *r)
{
	int			l;
	MfInit		hidden = m->cfg.init;

	if (hidden == MF_INIT_AUTO)
	{
		MfAct		base = mfk_act_gate_base(m->cfg.activation);

		hidden = (base == MF_ACT_RELU || base == MF_ACT_GELU || base == MF_ACT_SILU) ?
			MF_INIT_HE_UNIFORM : MF_INIT_XAVIER_UNIFORM;
	}
	for (l = 0; l < m->n_layers; l++)
	{
		MfInit		s = l < m->n_layers - 1 ? hidden :
			(m->cfg.init == MF_INIT_AUTO ? MF_INIT_XAVIER_UNIFORM : m->cfg.init);

		mfk_init_weights(r, s, m->params + m->w_off[l], m->in[l], m->out[l]);
		memset(m->params + m->b_off[l], 0, m->out[l] * sizeof(double));
	}
}

/* Training defaults. */
void
mfk_mlp_train_defaults(MfMlpTrainOpts *o)
{
	memset(o, 0, sizeof(*o));
	o->epochs = 200;
	o->batch_size = 32;
	mfk_optim_defaults(&o->optim, MF_OPT_ADAM);
	o->schedule.kind = MF_LR_CONSTANT;
	o->schedule.base_lr = 1e-3;
	o->schedule.gamma = 0.1;
	o->dropout = 0.0;
	o->validation_fraction = 0.1;
	o->early_stopping = 0;
	o->patience = 10;
	o->min_delta = 1e-4;
	o->shuffle = 1;
	o->seed = 0;
	o->init_params = 1;
}

/* Hidden activation of layer l: Z (rows x out_l) -> A (rows x act_out_l). */
static void
MfkMlpActivate(const MfMlp *m, int l, const double *Z, double *A, size_t rows)
{
	if (mfk_act_is_gated(m->cfg.activation))
		mfk_glu_forward(m->cfg.activation, Z, A, rows, m->act_out[l]);
	else
		mfk_act_forward(m->cfg.activation, Z, A, rows * m->out[l]);
}

/* Doubles of scratch for single-row prediction. */
size_t
mfk_mlp_scratch_size(const MfMlp *m)
{
	return 2 * m->max_width;
}

/* Inference logits of rows rows; buf0/buf1 hold rows x max_width each. */
static void
MfkMlpLogits(const MfMlp *m, const double *X, size_t rows, double *buf0,
			 double *buf1, double *logits)
{
	const double *cur = X;
	double	   *bufs[2];
	int			l,
				t = 0;

	bufs[0] = buf0;
	bufs[1] = buf1;
	for (l = 0; l < m->n_layers; l++)
	{
		double	   *z = l == m->n_layers - 1 ? logits : bufs[t];

		mfk_dense_forward(cur, rows, m->in[l], m->params + m->w_off[l],
						  m->params + m->b_off[l], m->out[l], z);
		if (l < m->n_layers - 1)
			MfkMlpActivate(m, l, z, z, rows);	/* in place is safe */
		cur = z;
		t = 1 - t;
	}
}

/* Turn logits into the model's output (softmax for classification). */
static void
MfkMlpFinish(const MfMlp *m, double *out, size_t rows)
{
	if (m->cfg.task == MF_TASK_CLASSIFICATION)
		mfk_softmax_rows(out, out, rows, m->cfg.n_outputs);
}

/* One row, no allocation. */
void
mfk_mlp_predict_row(const MfMlp *m, const double *x, double *out,
					double *scratch)
{
	MfkMlpLogits(m, x, 1, scratch, scratch + m->max_width, out);
	MfkMlpFinish(m, out, 1);
}

/* Rows per inference block: bounded work and bounded buffer size. */
static size_t
MfkMlpInferBlock(const MfMlp *m, size_t n)
{
	size_t		work = 0,
				block;
	int			l;

	for (l = 0; l < m->n_layers; l++)
		work += m->in[l] * m->out[l];
	block = mfk_block_rows(work);
	if (block * m->max_width > ((size_t) 1 << 22))
		block = ((size_t) 1 << 22) / m->max_width;
	if (block < 1)
		block = 1;
	if (block > n)
		block = n;
	return block;
}

/* Batch inference in blocks. */
int
mfk_mlp_predict(const MfEnv *env, const MfMlp *m, const double *X, size_t n,
				double *out)
{
	size_t		block,
				r0,
				k = m->cfg.n_outputs;
	double	   *b0,
			   *b1;
	int			rc = MF_KOK;

	if (env == NULL || m == NULL || m->params == NULL || X == NULL ||
		out == NULL || n > (size_t) INT_MAX)
		return MF_KERR_BADARG;
	if (n == 0)
		return MF_KOK;
	block = MfkMlpInferBlock(m, n);
	b0 = mfk_alloc_doubles(&env->alloc, block * m->max_width);
	b1 = mfk_alloc_doubles(&env->alloc, block * m->max_width);
	if (b0 == NULL || b1 == NULL)
		rc = MF_KERR_NOMEM;
	for (r0 = 0; rc == MF_KOK && r0 < n; r0 += block)
	{
		size_t		rows = r0 + block < n ? block : n - r0;

		MfkMlpLogits(m, X + r0 * m->cfg.n_inputs, rows, b0, b1, out + r0 * k);
		MfkMlpFinish(m, out + r0 * k, rows);
		if (r0 + rows < n)
			rc = mfk_tick(env, "predict", 1, 1, (double) (r0 + rows) / (double) n);
	}
	mfk_free(&env->alloc, b0);
	mfk_free(&env->alloc, b1);
	return rc;
}

/* Mean loss of logits for rows rows (targets at row offset 0). */
static double
MfkMlpBatchLoss(const MfMlp *m, const double *logits, const int *yc,
				const double *yr, size_t rows, double *grad)
{
	if (m->cfg.task == MF_TASK_CLASSIFICATION)
		return mfk_loss_cce_logits(logits, yc, rows, m->cfg.n_outputs, grad);
	return mfk_loss_mse(logits, yr, rows, m->cfg.n_outputs, grad);
}

/* Mean loss over n rows (inference mode). */
int
mfk_mlp_loss(const MfEnv *env, const MfMlp *m, const double *X, size_t n,
			 const int *y_class, const double *y_reg, double *loss)
{
	size_t		block,
				r0,
				k = m->cfg.n_outputs;
	double	   *b0,
			   *b1,
			   *lg;
	double		s = 0.0;
	int			rc = MF_KOK;

	if (env == NULL || m == NULL || m->params == NULL || X == NULL ||
		loss == NULL || n == 0 || n > (size_t) INT_MAX ||
		(m->cfg.task == MF_TASK_CLASSIFICATION ? y_class == NULL : y_reg == NULL))
		return MF_KERR_BADARG;
	block = MfkMlpInferBlock(m, n);
	b0 = mfk_alloc_doubles(&env->alloc, block * m->max_width);
	b1 = mfk_alloc_doubles(&env->alloc, block * m->max_width);
	lg = mfk_alloc_doubles(&env->alloc, block * k);
	if (b0 == NULL || b1 == NULL || lg == NULL)
		rc = MF_KERR_NOMEM;
	for (r0 = 0; rc == MF_KOK && r0 < n; r0 += block)
	{
		size_t		rows = r0 + block < n ? block : n - r0;

		MfkMlpLogits(m, X + r0 * m->cfg.n_inputs, rows, b0, b1, lg);
		s += (double) rows * MfkMlpBatchLoss(m, lg, y_class ? y_class + r0 : NULL,
											 y_reg ? y_reg + r0 * k : NULL,
											 rows, NULL);
		if (r0 + rows < n)
			rc = mfk_tick(env, "loss", 1, 1, (double) (r0 + rows) / (double) n);
	}
	*loss = s / (double) n;
	mfk_free(&env->alloc, b0);
	mfk_free(&env->alloc, b1);
	mfk_free(&env->alloc, lg);
	return rc;
}

/* ------------------------------------------------------------ training */

/* All training workspace, carved from two arenas. */
typedef struct MfkMlpWork
{
	double	   *darena;
	unsigned char *barena;
	size_t	   *idx;			/* n: [0, n_val) validation, rest training */
	int		   *yb_c;			/* B */
	double	   *Z[MF_MLP_MAX_LAYERS];	/* B x out_l */
	double	   *A[MF_MLP_MAX_LAYERS];	/* B x act_out_l (hidden only) */
	unsigned char *mask[MF_MLP_MAX_LAYERS];
	double	   *dA,
			   *dZ;				/* B x max_width */
	double	   *Xb;				/* B x n_inputs */
	double	   *yb_r;			/* B x n_outputs */
	double	   *grad;			/* n_params */
	double	   *best;			/* n_params */
	unsigned char *decay;		/* n_params: 1 for weights */
	MfOptState	opt;
	int			opt_ready;
	size_t		B;
} MfkMlpWork;

/* Allocate and carve the workspace. */
static int
MfkMlpWorkAlloc(const MfEnv *env, const MfMlp *m, size_t n, size_t B,
				const MfMlpTrainOpts *o, MfkMlpWork *w)
{
	const MfAllocator *a = &env->alloc;
	size_t		nd = 0,
				nb = 0,
				i;
	int			l,
				L = m->n_layers,
				rc;
	double	   *dp;
	unsigned char *bp;

	memset(w, 0, sizeof(*w));
	w->B = B;
	for (l = 0; l < L; l++)
	{
		nd += B * m->out[l];
		if (l < L - 1)
		{
			nd += B * m->act_out[l];
			nb += B * m->act_out[l];
		}
	}
	nd += 2 * B * m->max_width + B * m->cfg.n_inputs + B * m->cfg.n_outputs +
		2 * m->n_params;
	nb += m->n_params;
	w->darena = mfk_alloc_doubles(a, nd);
	w->barena = (unsigned char *) mfk_alloc_bytes(a, nb);
	w->idx = (size_t *) mfk_alloc_bytes(a, n * sizeof(size_t));
	w->yb_c = (int *) mfk_alloc_bytes(a, B * sizeof(int));
	if (!w->darena || !w->barena || !w->idx || !w->yb_c)
		return MF_KERR_NOMEM;
	dp = w->darena;
	bp = w->barena;
	for (l = 0; l < L; l++)
	{
		w->Z[l] = dp;
		dp += B * m->out[l];
		if (l < L - 1)
		{
			w->A[l] = dp;
			dp += B * m->act_out[l];
			w->mask[l] = bp;
			bp += B * m->act_out[l];
		}
	}
	w->dA = dp;
	dp += B * m->max_width;
	w->dZ = dp;
	dp += B * m->max_width;
	w->Xb = dp;
	dp += B * m->cfg.n_inputs;
	w->yb_r = dp;
	dp += B * m->cfg.n_outputs;
	w->grad = dp;
	dp += m->n_params;
	w->best = dp;
	w->decay = bp;
	for (i = 0; i < m->n_params; i++)
		w->decay[i] = 1;
	for (l = 0; l < L; l++)
		memset(w->decay + m->b_off[l], 0, m->out[l]);
	rc = mfk_optim_init(&w->opt, &o->optim, m->n_params, a);
	if (rc == MF_KOK)
		w->opt_ready = 1;
	return rc;
}

/* Free the workspace. */
static void
MfkMlpWorkFree(const MfEnv *env, MfkMlpWork *w)
{
	const MfAllocator *a = &env->alloc;

	if (w->opt_ready)
		mfk_optim_free(&w->opt, a);
	mfk_free(a, w->darena);
	mfk_free(a, w->barena);
	mfk_free(a, w->idx);
	mfk_free(a, w->yb_c);
}

/* Copy the rows idx[0..rows) into Xb and the batch targets. */
static void
MfkMlpGather(const MfMlp *m, MfkMlpWork *w, const double *X, const int *yc,
			 const double *yr, const size_t *idx, size_t rows)
{
	size_t		i,
				p = m->cfg.n_inputs,
				k = m->cfg.n_outputs;

	for (i = 0; i < rows; i++)
	{
		memcpy(w->Xb + i * p, X + idx[i] * p, p * sizeof(double));
		if (yc != NULL)
			w->yb_c[i] = yc[idx[i]];
		else
			memcpy(w->yb_r + i * k, yr + idx[i] * k, k * sizeof(double));
	}
}

/* Forward pass of a batch in Xb; dropout when rng != NULL. */
static void
MfkMlpForward(const MfMlp *m, MfkMlpWork *w, size_t rows, double dropout,
			  MfRng *rng)
{
	const double *cur = w->Xb;
	int			l,
				L = m->n_layers;

	for (l = 0; l < L; l++)
	{
		mfk_dense_forward(cur, rows, m->in[l], m->params + m->w_off[l],
						  m->params + m->b_off[l], m->out[l], w->Z[l]);
		if (l == L - 1)
			break;
		MfkMlpActivate(m, l, w->Z[l], w->A[l], rows);
		if (rng != NULL && dropout > 0.0)
			mfk_dropout_forward(rng, dropout, w->A[l], w->mask[l],
								rows * m->act_out[l]);
		cur = w->A[l];
	}
}

/* Backward pass from dZ (gradient of the loss at the output logits). */
static void
MfkMlpBackward(const MfMlp *m, MfkMlpWork *w, size_t rows, double dropout)
{
	int			l,
				L = m->n_layers;

	for (l = L - 1; l >= 0; l--)
	{
		const double *input = l == 0 ? w->Xb : w->A[l - 1];

		mfk_dense_backward(input, rows, m->in[l], m->params + m->w_off[l],
						   m->out[l], w->dZ, w->grad + m->w_off[l],
						   w->grad + m->b_off[l], l > 0 ? w->dA : NULL, 0);
		if (l == 0)
			break;
		if (dropout > 0.0)
			mfk_dropout_backward(dropout, w->mask[l - 1], w->dA, w->dA,
								 rows * m->act_out[l - 1]);
		if (mfk_act_is_gated(m->cfg.activation))
			mfk_glu_backward(m->cfg.activation, w->Z[l - 1], w->dA, w->dZ,
							 rows, m->act_out[l - 1]);
		else
			mfk_act_backward(m->cfg.activation, w->Z[l - 1], w->dA, w->dZ,
							 rows * m->out[l - 1]);
	}
}

/* Mean inference loss over the rows idx[0..cnt). */
static double
MfkMlpSetLoss(const MfMlp *m, MfkMlpWork *w, const double *X, const int *yc,
			  const double *yr, const size_t *idx, size_t cnt)
{
	size_t		r0;
	double		s = 0.0;

	for (r0 = 0; r0 < cnt; r0 += w->B)
	{
		size_t		rows = r0 + w->B < cnt ? w->B : cnt - r0;

		MfkMlpGather(m, w, X, yc, yr, idx + r0, rows);
		MfkMlpForward(m, w, rows, 0.0, NULL);
		s += (double) rows * MfkMlpBatchLoss(m, w->Z[m->n_layers - 1], w->yb_c,
											 w->yb_r, rows, NULL);
	}
	return cnt > 0 ? s / (double) cnt : NAN;
}

/* Check arguments and data. */
static int
MfkMlpCheck(const MfEnv *env, const MfMlp *m, const double *X, size_t n,
			const int *yc, const double *yr, const MfMlpTrainOpts *o)
{
	size_t		i;

	if (env == NULL || m == NULL || m->params == NULL || m->n_layers < 1 ||
		X == NULL || n == 0 || n > (size_t) INT_MAX || o == NULL ||
		o->epochs < 0 || o->batch_size == 0 ||
		!(o->dropout >= 0.0 && o->dropout < 1.0) ||
		!(o->validation_fraction >= 0.0 && o->validation_fraction < 1.0) ||
		!(o->schedule.base_lr > 0.0))
		return MF_KERR_BADARG;
	if (m->cfg.task == MF_TASK_CLASSIFICATION)
	{
		if (yc == NULL)
			return MF_KERR_BADARG;
		for (i = 0; i < n; i++)
			if (yc[i] < 0 || (size_t) yc[i] >= m->cfg.n_outputs)
				return MF_KERR_BADARG;
	}
	else
	{
		if (yr == NULL)
			return MF_KERR_BADARG;
		if (!mfk_all_finite(yr, n * m->cfg.n_outputs))
			return MF_KERR_INPUT_NOT_FINITE;
	}
	if (!mfk_all_finite(X, n * m->cfg.n_inputs))
		return MF_KERR_INPUT_NOT_FINITE;
	return MF_KOK;
}

/* One epoch of minibatch steps over idx[0..n_train); mean batch loss out. */
static int
MfkMlpEpoch(const MfEnv *env, MfMlp *m, MfkMlpWork *w, const double *X,
			const int *yc, const double *yr, size_t *idx, size_t n_train,
			const MfMlpTrainOpts *o, double lr, int epoch, MfRng *shuf,
			MfRng *drop, double *loss_out)
{
	size_t		r0;
	double		s = 0.0;
	int			rc;

	if (o->shuffle)
		mfk_rng_shuffle(shuf, idx, n_train);
	for (r0 = 0; r0 < n_train; r0 += w->B)
	{
		size_t		rows = r0 + w->B < n_train ? w->B : n_train - r0;

		MfkMlpGather(m, w, X, yc, yr, idx + r0, rows);
		MfkMlpForward(m, w, rows, o->dropout, drop);
		s += (double) rows * MfkMlpBatchLoss(m, w->Z[m->n_layers - 1], w->yb_c,
											 w->yb_r, rows, w->dZ);
		MfkMlpBackward(m, w, rows, o->dropout);
		mfk_optim_step(&w->opt, m->params, w->grad, lr, w->decay);
		rc = mfk_tick(env, MFK_PHASE, epoch, o->epochs,
					  ((double) (epoch - 1) + (double) (r0 + rows) / (double) n_train) /
					  (double) (o->epochs > 0 ? o->epochs : 1));
		if (rc != MF_KOK)
			return rc;
	}
	*loss_out = s / (double) n_train;
	return MF_KOK;
}

/* Train the network. */
int
mfk_mlp_train(const MfEnv *env, MfMlp *m, const double *X, size_t n,
			  const int *y_class, const double *y_reg,
			  const MfMlpTrainOpts *o, MfHistory *hist, MfMlpInfo *info)
{
	MfkMlpWork	w;
	MfRng		master,
				r_init,
				r_split,
				r_shuf,
				r_drop;
	MfLrSchedule sched;
	MfProgress	pr;
	MfMlpInfo	inf;
	size_t		n_val = 0,
				n_train,
				B;
	double		best = INFINITY;
	int			rc,
				epoch,
				since_best = 0;
	const int  *yc = NULL;
	const double *yr = NULL;

	memset(&w, 0, sizeof(w));
	if ((rc = MfkMlpCheck(env, m, X, n, y_class, y_reg, o)) != MF_KOK)
		return rc;
	if (m->cfg.task == MF_TASK_CLASSIFICATION)
		yc = y_class;
	else
		yr = y_reg;
	if (o->validation_fraction > 0.0)
	{
		n_val = (size_t) floor(o->validation_fraction * (double) n);
		if (n_val >= n)
			n_val = n - 1;
	}
	n_train = n - n_val;
	B = o->batch_size < n_train ? o->batch_size : n_train;
	if ((rc = MfkMlpWorkAlloc(env, m, n, B, o, &w)) != MF_KOK)
		goto done;

	mfk_rng_seed(&master, o->seed);
	mfk_rng_split(&master, &r_init);
	mfk_rng_split(&master, &r_split);
	mfk_rng_split(&master, &r_shuf);
	mfk_rng_split(&master, &r_drop);
	if (o->init_params)
		mfk_mlp_init_params(m, &r_init);
	mfk_rng_permutation(&r_split, w.idx, n);
	sched = o->schedule;
	if (sched.kind == MF_LR_COSINE && sched.total_steps <= 0)
		sched.total_steps = o->epochs;

	memset(&inf, 0, sizeof(inf));
	inf.n_train = n_train;
	inf.n_val = n_val;
	inf.best_loss = NAN;
	memcpy(w.best, m->params, m->n_params * sizeof(double));
	for (epoch = 1; epoch <= o->epochs; epoch++)
	{
		double		tr = 0.0,
					va = NAN,
					monitored;

		rc = MfkMlpEpoch(env, m, &w, X, yc, yr, w.idx + n_val, n_train, o,
						 mfk_lr_at(&sched, epoch - 1), epoch, &r_shuf, &r_drop,
						 &tr);
		if (rc != MF_KOK)
			goto done;
		if (!isfinite(tr) || !mfk_all_finite(m->params, m->n_params))
		{
			rc = MF_KERR_NOT_FINITE;
			goto done;
		}
		if (n_val > 0)
			va = MfkMlpSetLoss(m, &w, X, yc, yr, w.idx, n_val);
		inf.n_epochs = epoch;
		inf.final_train_loss = tr;
		mfk_history_push(hist, tr, va);
		monitored = n_val > 0 ? va : tr;
		if (monitored < best - o->min_delta || epoch == 1)
		{
			best = monitored;
			inf.best_epoch = epoch;
			inf.best_loss = monitored;
			since_best = 0;
			memcpy(w.best, m->params, m->n_params * sizeof(double));
		}
		else
			since_best++;
		pr.kind = MF_PROGRESS_ITERATION;
		pr.phase = MFK_PHASE;
		pr.iteration = epoch;
		pr.total = o->epochs;
		pr.loss = tr;
		pr.val_loss = va;
		pr.fraction = (double) epoch / (double) o->epochs;
		if ((rc = mfk_report(env, &pr)) != MF_KOK)
			goto done;
		if (o->early_stopping && since_best >= (o->patience > 0 ? o->patience : 1))
		{
			inf.stopped_early = 1;
			break;
		}
	}
	if (o->early_stopping && inf.n_epochs > 0)
		memcpy(m->params, w.best, m->n_params * sizeof(double));
	if (info != NULL)
		*info = inf;
done:
	MfkMlpWorkFree(env, &w);
	return rc;
}
