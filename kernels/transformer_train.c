/*
 * transformer_train.c - one training step of a whole transformer model:
 * feature redraw, forward, backward, gradient clipping, optimiser.
 *
 * Design note: the update rules are mf_kernels.h's (mfk_optim_step_f runs
 * the same per-weight code as the float64 optimisers of the other
 * families, with double moments); this file only orders a step.  The
 * gradient norm is summed in double over the trained floats; clipping
 * scales by clip / (norm + 1e-6) as torch.nn.utils.clip_grad_norm_.  A
 * non-finite loss or gradient stops the step before the weights change,
 * so the caller can report it with the weights of the last good step.
 * Buffers (FAVOR+ features) get no gradient and no weight decay, so the
 * optimiser leaves them exactly as they are (a zero gradient with zero
 * moments moves nothing).
 */
#include "transformer_model.h"

#include <math.h>
#include <string.h>

/* AdamW, lr 1e-3, weight decay 0.01, constant schedule, clip 1.0. */
void
mfk_tf_train_defaults(MfTfTrainOpts *o)
{
	memset(o, 0, sizeof(*o));
	mfk_optim_defaults(&o->optim, MF_OPT_ADAMW);
	o->lr.kind = MF_LR_CONSTANT;
	o->lr.base_lr = 1e-3;
	o->lr.gamma = 0.1;
	o->clip_norm = 1.0;
}

/* Optimiser state over every float of the model. */
int
mfk_tf_train_begin(MfTfModel *m, const MfTfTrainOpts *o)
{
	int			err;

	if (m->opt_ready)
		mfk_optim_free(&m->opt, &m->alloc);
	m->opt_ready = 0;
	if (!(o->clip_norm >= 0.0) || !(o->lr.base_lr > 0.0) || m->grads == NULL)
		return MF_KERR_BADARG;
	err = mfk_optim_init(&m->opt, &o->optim, m->n_floats, &m->alloc);
	if (err == MF_KOK)
		m->opt_ready = 1;
	return err;
}

/* L2 norm of the gradient (double sums). */
static double
MfTfGradNorm(const MfTfModel *m)
{
	double		s = 0.0;
	size_t		i;

	for (i = 0; i < m->n_floats; i++)
		s += (double) m->grads[i] * m->grads[i];
	return sqrt(s);
}

/* Scale the gradient to norm clip when it is longer. */
static void
MfTfClip(MfTfModel *m, double norm, double clip)
{
	float		k;
	size_t		i;

	if (clip <= 0.0 || norm <= clip)
		return;
	k = (float) (clip / (norm + 1e-6));
	for (i = 0; i < m->n_floats; i++)
		m->grads[i] *= k;
}

/* One training step. */
int
mfk_tf_train_step(const MfEnv *env, MfTfModel *m, const MfTfTrainOpts *o,
				  const MfTfInput *in, MfRng *rng, MfArena *arena,
				  MfTfStepInfo *info)
{
	MfTfFwd		f;
	int			err;

	memset(info, 0, sizeof(*info));
	if (!m->opt_ready || in->labels == NULL || rng == NULL)
		return MF_KERR_BADARG;
	info->redrawn = mfk_tf_model_redraw_due(m, m->step);
	mfk_arena_release(arena, 0);
	arena->peak = 0;
	memset(m->grads, 0, m->n_floats * sizeof(float));
	err = mfk_tf_model_forward(env, m, in, rng, arena, &f);
	if (err == MF_KOK)
		err = mfk_tf_model_backward(env, m, in, &f, arena);
	info->peak_bytes = arena->peak;
	if (err != MF_KOK)
		return err;
	info->loss = f.loss;
	info->grad_norm = MfTfGradNorm(m);
	if (!isfinite(info->loss) || !isfinite(info->grad_norm))
		return MF_KERR_NOT_FINITE;
	MfTfClip(m, info->grad_norm, o->clip_norm);
	info->lr = mfk_lr_at(&o->lr, m->step);
	mfk_optim_step_f(&m->opt, m->params, m->grads, info->lr, m->decay);
	m->step++;
	return mfk_tick(env, "transformer step", m->step, 0, 0.0);
}
