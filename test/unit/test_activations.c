/*
 * test_activations.c - activation values, finite-difference derivatives
 * (elementwise, gated, softmax, log-softmax), stability, float variants,
 * and vecmath.h's exp and row loops (accuracy, masks, the vectorised loops
 * giving the scalar forms' bits).
 */
#include "mf_kernels.h"
#include "mf_test.h"
#include "vecmath.h"

#include <stdlib.h>

/* Relative error used by the gradient checks. */
static double
relerr(double a, double b)
{
	return fabs(a - b) / fmax(fabs(a) + fabs(b), 1e-8);
}

int
main(void)
{
	MfRng		r;
	MfAct		el[] = {MF_ACT_IDENTITY, MF_ACT_RELU, MF_ACT_GELU, MF_ACT_SILU,
	MF_ACT_TANH, MF_ACT_SIGMOID};
	MfAct		gated[] = {MF_ACT_GEGLU, MF_ACT_REGLU, MF_ACT_SWIGLU};
	int			a,
				i,
				j;
	char		name[128];
	double		h = 1e-6;

	mfk_rng_seed(&r, 31);

	/* known values */
	MF_CLOSE(mfk_act_scalar(MF_ACT_GELU, 1.0), 0.8413447460685429, 1e-15, "gelu(1) exact erf form");
	MF_CLOSE(mfk_act_scalar(MF_ACT_GELU, -2.0), -0.04550026389635842, 1e-15, "gelu(-2)");
	MF_CLOSE(mfk_act_scalar(MF_ACT_SILU, 1.0), 0.7310585786300049, 1e-15, "silu(1)");
	MF_CLOSE(mfk_act_scalar(MF_ACT_SIGMOID, 0.0), 0.5, 0, "sigmoid(0)");
	MF_OK(mfk_sigmoid(-1000) == 0.0 && mfk_sigmoid(1000) == 1.0, "sigmoid saturates without nan");
	MF_OK(mfk_act_scalar(MF_ACT_RELU, -3) == 0 && mfk_act_scalar(MF_ACT_RELU, 3) == 3, "relu values");
	MF_CLOSE(mfk_act_scalar(MF_ACT_TANH, 0.5), tanh(0.5), 0, "tanh value");
	MF_OK(isfinite(mfk_act_scalar(MF_ACT_SILU, -800)) && isfinite(mfk_act_deriv(MF_ACT_SILU, -800)),
		  "silu stable for large negative input");

	/* elementwise derivative by central differences */
	for (a = 0; a < 6; a++)
	{
		double		worst = 0;

		for (i = 0; i < 200; i++)
		{
			double		x = mfk_rng_uniform_range(&r, -4, 4),
						fd;

			if (el[a] == MF_ACT_RELU && fabs(x) < 1e-3)
				continue;		/* avoid the kink */
			fd = (mfk_act_scalar(el[a], x + h) - mfk_act_scalar(el[a], x - h)) / (2 * h);
			worst = fmax(worst, relerr(fd, mfk_act_deriv(el[a], x)));
		}
		snprintf(name, sizeof(name), "%s derivative matches finite differences", mfk_act_name(el[a]));
		if (!MF_OK(worst < 1e-4, name))
			MF_DIAG("worst %.3g", worst);
	}

	/* vector forward/backward equal the scalar versions */
	{
		double		z[64],
					y[64],
					dy[64],
					dz[64];
		int			ok = 1;

		for (i = 0; i < 64; i++)
		{
			z[i] = mfk_rng_normal(&r) * 2;
			dy[i] = mfk_rng_normal(&r);
		}
		for (a = 0; a < 6; a++)
		{
			mfk_act_forward(el[a], z, y, 64);
			mfk_act_backward(el[a], z, dy, dz, 64);
			for (i = 0; i < 64; i++)
				if (y[i] != mfk_act_scalar(el[a], z[i]) ||
					fabs(dz[i] - dy[i] * mfk_act_deriv(el[a], z[i])) > 1e-15)
					ok = 0;
		}
		MF_OK(ok, "vector forward/backward agree with scalar versions");
	}

	/* gated: forward convention and gradient through L = sum(c * y) */
	for (a = 0; a < 3; a++)
	{
		size_t		rows = 3,
					hh = 4;
		double		z[24],
					y[12],
					c[12],
					dz[24],
					worst = 0;
		MfAct		base = mfk_act_gate_base(gated[a]);
		int			conv = 1;

		for (i = 0; i < 24; i++)
		{
			z[i] = mfk_rng_uniform_range(&r, -3, 3);
			if (base == MF_ACT_RELU && fabs(z[i]) < 1e-2)
				z[i] = 0.5;
		}
		for (i = 0; i < 12; i++)
			c[i] = mfk_rng_normal(&r);
		mfk_glu_forward(gated[a], z, y, rows, hh);
		for (i = 0; i < 3; i++)
			for (j = 0; j < 4; j++)
				if (y[i * 4 + j] != z[i * 8 + j] * mfk_act_scalar(base, z[i * 8 + 4 + j]))
					conv = 0;
		snprintf(name, sizeof(name), "%s forward is a * act(b) with [a | b] halves", mfk_act_name(gated[a]));
		MF_OK(conv, name);
		mfk_glu_backward(gated[a], z, c, dz, rows, hh);
		for (i = 0; i < 24; i++)
		{
			double		fp = 0,
						fm = 0,
						keep = z[i];

			z[i] = keep + h;
			mfk_glu_forward(gated[a], z, y, rows, hh);
			for (j = 0; j < 12; j++)
				fp += c[j] * y[j];
			z[i] = keep - h;
			mfk_glu_forward(gated[a], z, y, rows, hh);
			for (j = 0; j < 12; j++)
				fm += c[j] * y[j];
			z[i] = keep;
			worst = fmax(worst, relerr((fp - fm) / (2 * h), dz[i]));
		}
		snprintf(name, sizeof(name), "%s backward matches finite differences", mfk_act_name(gated[a]));
		if (!MF_OK(worst < 1e-4, name))
			MF_DIAG("worst %.3g", worst);
		/* in-place forward */
		{
			double		zc[24];

			mfk_glu_forward(gated[a], z, y, rows, hh);
			memcpy(zc, z, sizeof(zc));
			mfk_glu_forward(gated[a], zc, zc, rows, hh);
			snprintf(name, sizeof(name), "%s forward in place", mfk_act_name(gated[a]));
			MF_OK(memcmp(zc, y, sizeof(y)) == 0, name);
		}
	}

	/* softmax / log-softmax */
	{
		double		z[6] = {1000, 1001, 1002, -5, 0, 5},
					p[6],
					lp[6],
					ref[3];
		double		zs[12],
					c[12],
					o[12],
					d[12],
					worst = 0,
					worst2 = 0;
		int			k;

		mfk_softmax_rows(z, p, 2, 3);
		mfk_log_softmax_rows(z, lp, 2, 3);
		ref[0] = 1 / (1 + exp(1) + exp(2));
		ref[1] = exp(1) * ref[0];
		ref[2] = exp(2) * ref[0];
		MF_OK(mfk_all_finite(p, 6) && mfk_all_finite(lp, 6), "softmax stable for logits near 1000");
		MF_CLOSE(p[0], ref[0], 1e-14, "softmax value 0");
		MF_CLOSE(p[2], ref[2], 1e-14, "softmax value 2");
		MF_CLOSE(p[3] + p[4] + p[5], 1.0, 1e-15, "softmax row sums to one");
		MF_CLOSE(lp[0], log(ref[0]), 1e-13, "log-softmax value");
		for (i = 0; i < 12; i++)
		{
			zs[i] = mfk_rng_normal(&r) * 2;
			c[i] = mfk_rng_normal(&r);
		}
		mfk_softmax_rows(zs, o, 3, 4);
		mfk_softmax_backward(o, c, d, 3, 4);
		for (i = 0; i < 12; i++)
		{
			double		keep = zs[i],
						fp = 0,
						fm = 0;

			zs[i] = keep + h;
			mfk_softmax_rows(zs, o, 3, 4);
			for (k = 0; k < 12; k++)
				fp += c[k] * o[k];
			zs[i] = keep - h;
			mfk_softmax_rows(zs, o, 3, 4);
			for (k = 0; k < 12; k++)
				fm += c[k] * o[k];
			zs[i] = keep;
			worst = fmax(worst, relerr((fp - fm) / (2 * h), d[i]));
		}
		MF_OK(worst < 1e-4, "softmax backward matches finite differences");
		mfk_log_softmax_rows(zs, o, 3, 4);
		mfk_log_softmax_backward(o, c, d, 3, 4);
		for (i = 0; i < 12; i++)
		{
			double		keep = zs[i],
						fp = 0,
						fm = 0;

			zs[i] = keep + h;
			mfk_log_softmax_rows(zs, o, 3, 4);
			for (k = 0; k < 12; k++)
				fp += c[k] * o[k];
			zs[i] = keep - h;
			mfk_log_softmax_rows(zs, o, 3, 4);
			for (k = 0; k < 12; k++)
				fm += c[k] * o[k];
			zs[i] = keep;
			worst2 = fmax(worst2, relerr((fp - fm) / (2 * h), d[i]));
		}
		MF_OK(worst2 < 1e-4, "log-softmax backward matches finite differences");
	}

	/* float variants */
	{
		float		zf[16],
					yf[16],
					dyf[16],
					dzf[16];
		double		worst = 0;

		for (i = 0; i < 16; i++)
		{
			zf[i] = (float) mfk_rng_normal(&r);
			dyf[i] = (float) mfk_rng_normal(&r);
		}
		for (a = 0; a < 6; a++)
		{
			mfk_act_forward_f(el[a], zf, yf, 16);
			mfk_act_backward_f(el[a], zf, dyf, dzf, 16);
			for (i = 0; i < 16; i++)
			{
				worst = fmax(worst, fabs(yf[i] - mfk_act_scalar(el[a], zf[i])));
				worst = fmax(worst, fabs(dzf[i] - dyf[i] * mfk_act_deriv(el[a], zf[i])));
			}
		}
		MF_OK(worst < 1e-6, "float activations agree with double");
		worst = 0;
		for (a = 0; a < 6; a++)
		{
			float		acc[16];

			for (i = 0; i < 16; i++)
				acc[i] = 1.0f;
			mfk_act_backward_add_f(el[a], zf, dyf, acc, 16);
			for (i = 0; i < 16; i++)
				worst = fmax(worst, fabs(acc[i] - 1.0 - dyf[i] * mfk_act_deriv(el[a], zf[i])));
		}
		MF_OK(worst < 1e-6, "float backward_add adds dy * f'(z)");
		worst = 0;
		for (i = 0; i <= 16000; i++)
		{
			float		x = -8.0f + i * 0.001f;

			worst = fmax(worst, fabs(mfk_act_scalar_f(MF_ACT_GELU, x) - mfk_act_scalar(MF_ACT_GELU, x)));
			worst = fmax(worst, fabs(mfk_act_deriv_f(MF_ACT_GELU, x) - mfk_act_deriv(MF_ACT_GELU, x)));
		}
		MF_DIAG("float GELU on [-8, 8]: max abs error %.3g", worst);
		MF_OK(worst < 2e-6, "float GELU and its derivative within 2e-6 of double on [-8, 8]");
	}

	/* vecmath.h: exp accuracy, the row loops, vector = scalar bits */
	{
		double		worst = 0;
		float		row[37],
					ref[37],
					y[37];
		unsigned char skip[37];
		double		sum = 0,
					got;
		int			ok = 1,
					b;

		for (i = 0; i <= 175300; i++)
		{
			float		x = -87.0f + i * 0.001f;

			worst = fmax(worst, fabs((double) mfk_expf_v(x) / exp((double) x) - 1.0));
		}
		MF_DIAG("mfk_expf_v on [-87, 88.3]: max relative error %.3g", worst);
		MF_OK(worst < 2e-7, "mfk_expf_v within 2e-7 relative (2 ulp) of exp on [-87, 88.3]");
		MF_OK(mfk_expf_v(-90.0f) == 0.0f && mfk_expf_v(-1000.0f) == 0.0f && isfinite(mfk_expf_v(1000.0f)),
			  "mfk_expf_v: 0 below -87.34, finite above 88.38");
		for (i = 0; i < 37; i++)
		{
			row[i] = (float) (3 * mfk_rng_normal(&r));
			skip[i] = i % 5 == 2;
		}
		{
			float		m = -INFINITY;

			for (i = 0; i < 37; i++)
				if (!skip[i] && row[i] > m)
					m = row[i];
			ok &= mfk_vec_max(row, 37, skip) == m;
			memcpy(ref, row, sizeof(row));
			got = mfk_vec_exp_shift(row, 37, m, skip);
			for (i = 0; i < 37; i++)
			{
				double		e = exp((double) (ref[i] - m));	/* of the float difference */

				ok &= skip[i] ? row[i] == 0.0f : fabs(row[i] - e) <= 2e-7 * e;
				sum += row[i];
			}
			ok &= fabs(got - sum) <= 1e-12 * sum;
		}
		MF_OK(ok, "masked max, shifted exp (masked entries exactly 0) and their sum");
		{
			float		tie[6] = {1.0f, 4.0f, -2.0f, 4.0f, 9.0f, 4.0f};
			unsigned char mask[6] = {0, 0, 0, 0, 1, 0},
						all[6] = {1, 1, 1, 1, 1, 1};
			size_t		want = 37;

			for (i = 0; i < 37; i++)
				if (!skip[i] && (want == 37 || ref[i] > ref[want]))
					want = (size_t) i;
			MF_OK(mfk_vec_argmax(ref, 37, skip) == want && mfk_vec_argmax(tie, 6, NULL) == 4 &&
				  mfk_vec_argmax(tie, 6, mask) == 1 && mfk_vec_argmax(tie, 6, all) == 6 &&
				  mfk_vec_argmax(tie, 0, NULL) == 0,
				  "argmax: the scalar reference's index under a mask, the lowest on ties, n when nothing is left");
		}
		ok = 1;
		for (b = 0; b < 3; b++)
		{
			MfAct		acts[3] = {MF_ACT_GELU, MF_ACT_RELU, MF_ACT_SILU};

			mfk_act_forward_f(acts[b], ref, y, 37);
			for (i = 0; i < 37; i++)
				ok &= y[i] == mfk_act_scalar_f(acts[b], ref[i]);
		}
		MF_OK(ok, "vectorised GELU, ReLU, SiLU loops give the scalar forms' bits");
	}

	/* names */
	{
		int			ok = 1;

		for (a = MF_ACT_IDENTITY; a <= MF_ACT_SWIGLU; a++)
			if (mfk_act_from_name(mfk_act_name((MfAct) a)) != a)
				ok = 0;
		MF_OK(ok && mfk_act_from_name("nope") == -1, "activation names round-trip");
		MF_OK(mfk_act_is_gated(MF_ACT_SWIGLU) && !mfk_act_is_gated(MF_ACT_SILU), "is_gated");
	}
	return mf_test_done();
}
