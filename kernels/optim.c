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

/* SGD with optional momentum / Nesterov: the new value of one weight. */
static inline double
MfkSgdElem(const MfOptimConfig *c, double *m, double w, double g, double lr,
		   int decay)
{
	double		d;

	if (c->l2 != 0.0 && decay)
		g += c->l2 * w;
	if (c->momentum != 0.0)
	{
		*m = c->momentum * *m + g;
		d = c->nesterov ? g + c->momentum * *m : *m;
	}
	else
		d = g;
	return w - lr * d;
}

/* Adam / AdamW with bias corrections bc1, bc2: the new value of one weight. */
static inline double
MfkAdamElem(const MfOptimConfig *c, double *m, double *v, double w, double g,
			double lr, double bc1, double bc2, int decay)
{
	if (c->l2 != 0.0 && decay)
		g += c->l2 * w;
	if (c->kind == MF_OPT_ADAMW && c->weight_decay != 0.0 && decay)
		w -= lr * c->weight_decay * w;
	*m = c->beta1 * *m + (1.0 - c->beta1) * g;
	*v = c->beta2 * *v + (1.0 - c->beta2) * g * g;
	return w - lr * (*m / bc1) / (sqrt(*v / bc2) + c->eps);
}

/* One optimiser step. */
void
mfk_optim_step(MfOptState *s, double *w, const double *g, double lr,
			   const unsigned char *decay_mask)
{
	const MfOptimConfig *c = &s->cfg;
	double		bc1,
				bc2;
	size_t		i;

	s->t++;
	bc1 = 1.0 - pow(c->beta1, (double) s->t);
	bc2 = 1.0 - pow(c->beta2, (double) s->t);
	for (i = 0; i < s->n; i++)
		w[i] = c->kind == MF_OPT_SGD
			? MfkSgdElem(c, &s->m[i], w[i], g[i], lr, decay_mask == NULL || decay_mask[i])
			: MfkAdamElem(c, &s->m[i], &s->v[i], w[i], g[i], lr, bc1, bc2,
						  decay_mask == NULL || decay_mask[i]);
}

/* The same step on float32 weights and gradients (moments stay double). */
void
mfk_optim_step_f(MfOptState *s, float *w, const float *g, double lr,
				 const unsigned char *decay_mask)
{
	const MfOptimConfig *c = &s->cfg;
	double		bc1,
				bc2;
	size_t		i;

	s->t++;
	bc1 = 1.0 - pow(c->beta1, (double) s->t);
	bc2 = 1.0 - pow(c->beta2, (double) s->t);
	for (i = 0; i < s->n; i++)
		w[i] = (float) (c->kind == MF_OPT_SGD
						? MfkSgdElem(c, &s->m[i], w[i], g[i], lr,
									 decay_mask == NULL || decay_mask[i])
						: MfkAdamElem(c, &s->m[i], &s->v[i], w[i], g[i], lr, bc1, bc2,
									  decay_mask == NULL || decay_mask[i]));
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
