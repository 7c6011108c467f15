/*
 * optim.c - SGD (momentum, Nesterov), Adam, AdamW and learning-rate
 * schedules.
 *
 * Conventions follow PyTorch: SGD momentum keeps v = mu v + g and steps by
 * v (or g + mu v with Nesterov); L2 ("l2") is coupled, added to the
 * gradient; AdamW's weight decay is decoupled, w -= lr wd w before the Adam
 * step.  decay_mask selects the parameters either applies to.
 */
#include "mf_kernels.h"

#include <math.h>
#include <string.h>

#define MFK_PI 3.14159265358979323846264338327950288

/* Defaults for an optimiser kind. */
void
mfk_optim_defaults(MfOptimConfig *cfg, MfOptKind kind)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->kind = kind;
	cfg->momentum = kind == MF_OPT_SGD ? 0.9 : 0.0;
	cfg->nesterov = 0;
	cfg->beta1 = 0.9;
	cfg->beta2 = 0.999;
	cfg->eps = 1e-8;
	cfg->weight_decay = kind == MF_OPT_ADAMW ? 0.01 : 0.0;
	cfg->l2 = 0.0;
}

/* Allocate zeroed moment buffers for n parameters. */
int
mfk_optim_init(MfOptState *s, const MfOptimConfig *cfg, size_t n,
			   const MfAllocator *a)
{
	memset(s, 0, sizeof(*s));
	if (cfg == NULL || (int) cfg->kind < MF_OPT_SGD || cfg->kind > MF_OPT_ADAMW)
		return MF_KERR_BADARG;
	s->cfg = *cfg;
	s->n = n;
	s->m = mfk_alloc_doubles(a, n);
	if (s->m == NULL)
		return MF_KERR_NOMEM;
	memset(s->m, 0, n * sizeof(double));
	if (cfg->kind != MF_OPT_SGD)
	{
		s->v = mfk_alloc_doubles(a, n);
		if (s->v == NULL)
		{
			mfk_free(a, s->m);
			s->m = NULL;
			return MF_KERR_NOMEM;
		}
		memset(s->v, 0, n * sizeof(double));
	}
	return MF_KOK;
}

/* Free the moment buffers. */
void
mfk_optim_free(MfOptState *s, const MfAllocator *a)
{
	mfk_free(a, s->m);
	mfk_free(a, s->v);
	s->m = NULL;
	s->v = NULL;
}

/* SGD with optional momentum / Nesterov. */
static void
MfkSgdStep(MfOptState *s, double *w, const double *g, double lr,
		   const unsigned char *mask)
{
	const MfOptimConfig *c = &s->cfg;
	size_t		i;

	for (i = 0; i < s->n; i++)
	{
		double		gi = g[i];
		double		d;

		if (c->l2 != 0.0 && (mask == NULL || mask[i]))
			gi += c->l2 * w[i];
		if (c->momentum != 0.0)
		{
			s->m[i] = c->momentum * s->m[i] + gi;
			d = c->nesterov ? gi + c->momentum * s->m[i] : s->m[i];
		}
		else
			d = gi;
		w[i] -= lr * d;
	}
}

/* Adam / AdamW with bias correction. */
static void
MfkAdamStep(MfOptState *s, double *w, const double *g, double lr,
			const unsigned char *mask)
{
	const MfOptimConfig *c = &s->cfg;
	double		bc1 = 1.0 - pow(c->beta1, (double) s->t);
	double		bc2 = 1.0 - pow(c->beta2, (double) s->t);
	size_t		i;

	for (i = 0; i < s->n; i++)
	{
		double		gi = g[i];
		int			decay = (mask == NULL || mask[i]);
		double		mhat,
					vhat;

		if (c->l2 != 0.0 && decay)
			gi += c->l2 * w[i];
		if (c->kind == MF_OPT_ADAMW && c->weight_decay != 0.0 && decay)
			w[i] -= lr * c->weight_decay * w[i];
		s->m[i] = c->beta1 * s->m[i] + (1.0 - c->beta1) * gi;
		s->v[i] = c->beta2 * s->v[i] + (1.0 - c->beta2) * gi * gi;
		mhat = s->m[i] / bc1;
		vhat = s->v[i] / bc2;
		w[i] -= lr * mhat / (sqrt(vhat) + c->eps);
	}
}

/* One optimiser step. */
void
mfk_optim_step(MfOptState *s, double *w, const double *g, double lr,
			   const unsigned char *decay_mask)
{
	s->t++;
	if (s->cfg.kind == MF_OPT_SGD)
		MfkSgdStep(s, w, g, lr, decay_mask);
	else
		MfkAdamStep(s, w, g, lr, decay_mask);
}

/* Learning rate at a 0-based step. */
double
mfk_lr_at(const MfLrSchedule *s, int64_t step)
{
	double		lr;

	if (step < 0)
		step = 0;
	switch (s->kind)
	{
		case MF_LR_STEP:
			lr = s->base_lr;
			if (s->step_size > 0)
				lr *= pow(s->gamma, (double) (step / s->step_size));
			break;
		case MF_LR_COSINE:
			{
				double		frac;

				if (s->total_steps <= 0)
					frac = 1.0;
				else
					frac = step >= s->total_steps ? 1.0 :
						(double) step / (double) s->total_steps;
				lr = s->min_lr + 0.5 * (s->base_lr - s->min_lr) *
					(1.0 + cos(MFK_PI * frac));
			}
			break;
		case MF_LR_CONSTANT:
		default:
			lr = s->base_lr;
			break;
	}
	if (s->warmup_steps > 0 && step < s->warmup_steps)
		lr *= (double) (step + 1) / (double) s->warmup_steps;
	return lr;
}
