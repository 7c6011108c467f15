/*
 * activations.c - elementwise and gated activations, softmax, log-softmax.
 *
 * GELU is the exact erf form.  Gated activations split each row of 2h
 * values into a value half a = z[0..h) and a gate half b = z[h..2h) and
 * return a * act(b) (see the design note in mf_kernels.h).  Softmax and
 * log-softmax subtract the row maximum so no exp overflows.
 */
#include "mf_kernels.h"
#include "vecmath.h"

#include <math.h>
#include <string.h>

#define MFK_INV_SQRT2 0.70710678118654752440084436210485
#define MFK_INV_SQRT_2PI 0.39894228040143267793994605993438

static const char *const mfk_act_names[] = {
	"identity", "relu", "gelu", "silu", "tanh", "sigmoid",
	"geglu", "reglu", "swiglu"
};

/* Activation from its lowercase name, -1 when unknown. */
int
mfk_act_from_name(const char *name)
{
	int			i;

	if (name == NULL)
		return -1;
	for (i = 0; i < (int) (sizeof(mfk_act_names) / sizeof(mfk_act_names[0])); i++)
		if (strcmp(name, mfk_act_names[i]) == 0)
			return i;
	if (strcmp(name, "linear") == 0)
		return MF_ACT_IDENTITY;
	if (strcmp(name, "logistic") == 0)
		return MF_ACT_SIGMOID;
	return -1;
}

/* Lowercase name of an activation. */
const char *
mfk_act_name(MfAct act)
{
	if ((int) act < 0 || (int) act >= (int) (sizeof(mfk_act_names) / sizeof(mfk_act_names[0])))
		return "unknown";
	return mfk_act_names[act];
}

/* 1 for the gated activations. */
int
mfk_act_is_gated(MfAct act)
{
	return act == MF_ACT_GEGLU || act == MF_ACT_REGLU || act == MF_ACT_SWIGLU;
}

/* The elementwise activation applied to the gate half. */
MfAct
mfk_act_gate_base(MfAct act)
{
	switch (act)
	{
		case MF_ACT_GEGLU:
			return MF_ACT_GELU;
		case MF_ACT_REGLU:
			return MF_ACT_RELU;
		case MF_ACT_SWIGLU:
			return MF_ACT_SILU;
		default:
			return act;
	}
}

/* Logistic function without overflow for large |x|. */
double
mfk_sigmoid(double x)
{
	if (x >= 0)
		return 1.0 / (1.0 + exp(-x));
	else
	{
		double		e = exp(x);

		return e / (1.0 + e);
	}
}

/* f(x) of an elementwise activation (gated ones map to their gate base). */
double
mfk_act_scalar(MfAct act, double x)
{
	switch (mfk_act_gate_base(act))
	{
		case MF_ACT_RELU:
			return x > 0 ? x : 0.0;
		case MF_ACT_GELU:
			return 0.5 * x * (1.0 + erf(x * MFK_INV_SQRT2));
		case MF_ACT_SILU:
			return x * mfk_sigmoid(x);
		case MF_ACT_TANH:
			return tanh(x);
		case MF_ACT_SIGMOID:
			return mfk_sigmoid(x);
		default:
			return x;
	}
}

/* f'(x) of an elementwise activation (ReLU'(0) = 0). */
double
mfk_act_deriv(MfAct act, double x)
{
	double		s,
				t;

	switch (mfk_act_gate_base(act))
	{
		case MF_ACT_RELU:
			return x > 0 ? 1.0 : 0.0;
		case MF_ACT_GELU:
			return 0.5 * (1.0 + erf(x * MFK_INV_SQRT2)) +
				x * MFK_INV_SQRT_2PI * exp(-0.5 * x * x);
		case MF_ACT_SILU:
			s = mfk_sigmoid(x);
			return s * (1.0 + x * (1.0 - s));
		case MF_ACT_TANH:
			t = tanh(x);
			return 1.0 - t * t;
		case MF_ACT_SIGMOID:
			s = mfk_sigmoid(x);
			return s * (1.0 - s);
		default:
			return 1.0;
	}
}

/*
 * z > 0 ? v : +0.0 without a branch: ReLU's sign pattern is random, and a
 * mispredicted branch per element cost more than the whole dgemm.
 */
static inline double
MfkPosSelect(double z, double v)
{
	uint64_t	bits;
	uint64_t	mask = (uint64_t) 0 - (uint64_t) (z > 0);

	memcpy(&bits, &v, sizeof(bits));
	bits &= mask;
	memcpy(&v, &bits, sizeof(v));
	return v;
}

/* y = f(z) elementwise. */
void
mfk_act_forward(MfAct act, const double *z, double *y, size_t n)
{
	size_t		i;

	if (act == MF_ACT_RELU)
	{
		for (i = 0; i < n; i++)
			y[i] = MfkPosSelect(z[i], z[i]);
		return;
	}
	if (act == MF_ACT_IDENTITY)
	{
		if (y != z)
			memmove(y, z, n * sizeof(double));
		return;
	}
	for (i = 0; i < n; i++)
		y[i] = mfk_act_scalar(act, z[i]);
}

/* dz = dy * f'(z) elementwise. */
void
mfk_act_backward(MfAct act, const double *z, const double *dy, double *dz,
				 size_t n)
{
	size_t		i;

	if (act == MF_ACT_RELU)
	{
		for (i = 0; i < n; i++)
			dz[i] = MfkPosSelect(z[i], dy[i]);
		return;
	}
	for (i = 0; i < n; i++)
		dz[i] = dy[i] * mfk_act_deriv(act, z[i]);
}

/*
 * f(x) in float32: the same functions as mfk_act_scalar, with vecmath.h's
 * erf and exp for GELU and SiLU (a double erf per element was 8 % of a
 * transformer training step); tanh and sigmoid go through the double forms.
 * The vectorised loops below compute the same expressions.
 */
float
mfk_act_scalar_f(MfAct act, float x)
{
	float		s;

	switch (mfk_act_gate_base(act))
	{
		case MF_ACT_RELU:
			return x > 0.0f ? x : 0.0f;
		case MF_ACT_GELU:
			return 0.5f * x * (1.0f + mfk_erff_v(x * (float) MFK_INV_SQRT2));
		case MF_ACT_SILU:
			s = mfk_expf_v(-fabsf(x));
			return x * (x >= 0.0f ? 1.0f / (1.0f + s) : s / (1.0f + s));
		default:
			return (float) mfk_act_scalar(act, (double) x);
	}
}

/* f'(x) in float32 (as mfk_act_deriv; ReLU'(0) = 0). */
float
mfk_act_deriv_f(MfAct act, float x)
{
	float		s;

	switch (mfk_act_gate_base(act))
	{
		case MF_ACT_RELU:
			return x > 0.0f ? 1.0f : 0.0f;
		case MF_ACT_GELU:
			return 0.5f * (1.0f + mfk_erff_v(x * (float) MFK_INV_SQRT2)) +
				x * (float) MFK_INV_SQRT_2PI * mfk_expf_v(-0.5f * x * x);
		case MF_ACT_SILU:
			s = mfk_expf_v(-fabsf(x));
			s = x >= 0.0f ? 1.0f / (1.0f + s) : s / (1.0f + s);
			return s * (1.0f + x * (1.0f - s));
		default:
			return (float) mfk_act_deriv(act, (double) x);
	}
}

/*
 * float32 forward: switch-free loops for GELU, ReLU and SiLU, which
 * vectorise (with an AVX2 clone; the same bits as mfk_act_scalar_f).
 */
MFK_VEC_CLONES void
mfk_act_forward_f(MfAct act, const float *z, float *y, size_t n)
{
	size_t		i;

	if (act == MF_ACT_GELU)
	{
		for (i = 0; i < n; i++)
			y[i] = 0.5f * z[i] * (1.0f + mfk_erff_v(z[i] * (float) MFK_INV_SQRT2));
		return;
	}
	if (act == MF_ACT_RELU)
	{
		for (i = 0; i < n; i++)
			y[i] = z[i] > 0.0f ? z[i] : 0.0f;
		return;
	}
	if (act == MF_ACT_SILU)
	{
		for (i = 0; i < n; i++)
		{
			float		e = mfk_expf_v(-fabsf(z[i]));

			y[i] = z[i] * (z[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e));
		}
		return;
	}
	for (i = 0; i < n; i++)
		y[i] = mfk_act_scalar_f(act, z[i]);
}

/* dz += dy * f'(z) in float32 (GELU's loop without a switch, vectorised). */
MFK_VEC_CLONES void
mfk_act_backward_add_f(MfAct act, const float *z, const float *dy, float *dz,
					   size_t n)
{
	size_t		i;

	if (act == MF_ACT_GELU)
	{
		for (i = 0; i < n; i++)
			dz[i] += dy[i] * (0.5f * (1.0f + mfk_erff_v(z[i] * (float) MFK_INV_SQRT2)) +
							  z[i] * (float) MFK_INV_SQRT_2PI * mfk_expf_v(-0.5f * z[i] * z[i]));
		return;
	}
	for (i = 0; i < n; i++)
		dz[i] += dy[i] * mfk_act_deriv_f(act, z[i]);
}

/* float32 backward. */
void
mfk_act_backward_f(MfAct act, const float *z, const float *dy, float *dz,
				   size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		dz[i] = dy[i] * mfk_act_deriv_f(act, z[i]);
}

/* Gated forward: y[r, j] = a[r, j] * g(b[r, j]). */
void
mfk_glu_forward(MfAct act, const double *z, double *y, size_t rows, size_t h)
{
	MfAct		base = mfk_act_gate_base(act);
	size_t		r,
				j;

	for (r = 0; r < rows; r++)
	{
		const double *a = z + r * 2 * h;
		const double *b = a + h;
		double	   *yr = y + r * h;

		for (j = 0; j < h; j++)
			yr[j] = a[j] * mfk_act_scalar(base, b[j]);
	}
}

/* Gated backward: da = dy * g(b), db = dy * a * g'(b). */
void
mfk_glu_backward(MfAct act, const double *z, const double *dy, double *dz,
				 size_t rows, size_t h)
{
	MfAct		base = mfk_act_gate_base(act);
	size_t		r,
				j;

	for (r = 0; r < rows; r++)
	{
		const double *a = z + r * 2 * h;
		const double *b = a + h;
		const double *dyr = dy + r * h;
		double	   *da = dz + r * 2 * h;
		double	   *db = da + h;

		for (j = 0; j < h; j++)
		{
			double		g = mfk_act_scalar(base, b[j]);
			double		gd = mfk_act_deriv(base, b[j]);
			double		d = dyr[j];
			double		av = a[j];

			da[j] = d * g;
			db[j] = d * av * gd;
		}
	}
}

/* Row maximum. */
static double
MfkRowMax(const double *z, size_t k)
{
	double		m = z[0];
	size_t		j;

	for (j = 1; j < k; j++)
		if (z[j] > m)
			m = z[j];
	return m;
}

/* Stable row-wise softmax. */
void
mfk_softmax_rows(const double *z, double *out, size_t rows, size_t k)
{
	size_t		r,
				j;

	for (r = 0; r < rows; r++)
	{
		const double *zr = z + r * k;
		double	   *o = out + r * k;
		double		m = MfkRowMax(zr, k);
		double		s = 0.0;

		for (j = 0; j < k; j++)
		{
			o[j] = exp(zr[j] - m);
			s += o[j];
		}
		for (j = 0; j < k; j++)
			o[j] /= s;
	}
}

/* Stable row-wise log-softmax: z - max - log(sum(exp(z - max))). */
void
mfk_log_softmax_rows(const double *z, double *out, size_t rows, size_t k)
{
	size_t		r,
				j;

	for (r = 0; r < rows; r++)
	{
		const double *zr = z + r * k;
		double	   *o = out + r * k;
		double		m = MfkRowMax(zr, k);
		double		s = 0.0;
		double		lse;

		for (j = 0; j < k; j++)
			s += exp(zr[j] - m);
		lse = m + log(s);
		for (j = 0; j < k; j++)
			o[j] = zr[j] - lse;
	}
}

/* dz = p * (dy - sum(dy * p)) row-wise. */
void
mfk_softmax_backward(const double *p, const double *dy, double *dz,
					 size_t rows, size_t k)
{
	size_t		r,
				j;

	for (r = 0; r < rows; r++)
	{
		const double *pr = p + r * k;
		const double *d = dy + r * k;
		double	   *o = dz + r * k;
		double		s = 0.0;

		for (j = 0; j < k; j++)
			s += d[j] * pr[j];
		for (j = 0; j < k; j++)
			o[j] = pr[j] * (d[j] - s);
	}
}

/* dz = dy - exp(lp) * sum(dy) row-wise. */
void
mfk_log_softmax_backward(const double *lp, const double *dy, double *dz,
						 size_t rows, size_t k)
{
	size_t		r,
				j;

	for (r = 0; r < rows; r++)
	{
		const double *l = lp + r * k;
		const double *d = dy + r * k;
		double	   *o = dz + r * k;
		double		s = 0.0;

		for (j = 0; j < k; j++)
			s += d[j];
		for (j = 0; j < k; j++)
			o[j] = d[j] - exp(l[j]) * s;
	}
}
