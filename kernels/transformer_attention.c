/*
 * transformer_attention.c - multi-head softmax attention, forward and
 * backward, with key-padding and causal masks.
 *
 * Design note: for each sequence b and head h the kernel works on strided
 * views (Q, K, V rows of one sequence, columns h*dh..): S = Q K' scale is
 * one sgemm, the masked, max-subtracted softmax is a row loop, O = P V one
 * sgemm.  Backward, with dP = dO V' and dS = P o (dP - rowsum(dP o P)):
 * dV += P' dO, dQ += dS K scale, dK += dS' Q scale, four sgemms.  Masked
 * probabilities are exactly 0, so their dS is 0 too and masked keys get no
 * gradient.  Probability dropout (training) multiplies P by a kept/(1-p)
 * mask before O = Pd V; backward rebuilds Pd for dV and scales dP by the
 * same mask before the softmax backward, which uses the undropped P.  A row whose keys are all masked gets P = 0 and O = 0 (PyTorch
 * returns NaN).  P (B*H*Tq*Tk floats) is the largest activation of a layer
 * for long sequences; the progress callback is called between sequences.
 */
#include "transformer.h"
#include "vecmath.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/*
 * Masked, stable softmax of one row of scores in place: the causal mask
 * cuts the row at the last visible key, padding is skipped; the loops
 * are vecmath.h's (vectorised).
 */
static void
MfAttnSoftmaxRow(const MfTfAttnShape *s, size_t b, size_t i, float *row)
{
	size_t		n = s->Tk;
	const unsigned char *pad = s->key_pad != NULL ? s->key_pad + b * s->Tk : NULL;
	float		m;
	double		sum;

	if (s->causal && i + (s->Tk - s->Tq) + 1 < n)
		n = i + (s->Tk - s->Tq) + 1;
	memset(row + n, 0, (s->Tk - n) * sizeof(float));
	m = mfk_vec_max(row, n, pad);
	if (m == -INFINITY)
	{
		memset(row, 0, n * sizeof(float));
		return;
	}
	sum = mfk_vec_exp_shift(row, n, m, pad);
	mfk_vec_scale(row, n, (float) (1.0 / sum));
}

/* A between-sequences progress report (MF_KERR_CANCELLED stops). */
static int
MfAttnTick(const MfEnv *env, const char *phase, size_t b, size_t B)
{
	return mfk_tick(env, phase, (int64_t) b, (int64_t) B, (double) b / (double) B);
}

/* 1 when probability dropout is on. */
static inline int
MfAttnDropping(const MfTfAttnShape *s)
{
	return s->drop != NULL && s->drop->p > 0.0f && s->drop->mask != NULL;
}

/*
 * The probabilities O is computed from: p itself, or (dropout) a dropped
 * copy in the work space, drawing this sequence-head's mask.
 */
static const float *
MfAttnDropFwd(const MfTfAttnShape *s, size_t b, size_t h, const float *p)
{
	size_t		n = s->Tq * s->Tk;
	unsigned char *mask;

	if (!MfAttnDropping(s))
		return p;
	mask = s->drop->mask + (b * s->H + h) * n;
	memcpy(s->drop->work, p, n * sizeof(float));
	mfk_tf_dropout_forward(s->drop->rng, s->drop->p, s->drop->work, mask, n);
	return s->drop->work;
}

/* Forward of every sequence and head. */
int
mfk_tf_attn_forward(const MfEnv *env, const MfTfAttnShape *s, const float *Q,
					size_t ldq, const float *K, size_t ldk, const float *V,
					size_t ldv, float *P, float *O, size_t ldo)
{
	size_t		b,
				h,
				i;
	float		scale = (float) (1.0 / sqrt((double) s->dh));
	int			tq = (int) s->Tq,
				tk = (int) s->Tk,
				dh = (int) s->dh;

	for (b = 0; b < s->B; b++)
	{
		if (MfAttnTick(env, "attention", b, s->B) != MF_KOK)
			return MF_KERR_CANCELLED;
		for (h = 0; h < s->H; h++)
		{
			const float *q = Q + b * s->Tq * ldq + h * s->dh;
			const float *k = K + b * s->Tk * ldk + h * s->dh;
			const float *v = V + b * s->Tk * ldv + h * s->dh;
			float	   *p = P + (b * s->H + h) * s->Tq * s->Tk;

			if (tq == 1)		/* one query (decoding): two sgemv, no packing */
			{
				cblas_sgemv(CblasRowMajor, CblasNoTrans, tk, dh, scale, k, (int) ldk,
							q, 1, 0.0f, p, 1);
				MfAttnSoftmaxRow(s, b, 0, p);
				cblas_sgemv(CblasRowMajor, CblasTrans, tk, dh, 1.0f, v, (int) ldv,
							MfAttnDropFwd(s, b, h, p), 1, 0.0f, O + b * ldo + h * s->dh, 1);
				continue;
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, tq, tk, dh,
						scale, q, (int) ldq, k, (int) ldk, 0.0f, p, tk);
			for (i = 0; i < s->Tq; i++)
				MfAttnSoftmaxRow(s, b, i, p + i * s->Tk);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, tq, dh, tk,
						1.0f, MfAttnDropFwd(s, b, h, p), tk, v, (int) ldv, 0.0f,
						O + b * s->Tq * ldo + h * s->dh, (int) ldo);
		}
	}
	return MF_KOK;
}

/* dS = P o (dP - rowsum(dP o P)) in place over dP, one sequence-head. */
static void
MfAttnSoftmaxBackward(const float *p, float *dp, size_t tq, size_t tk)
{
	size_t		i,
				j;

	for (i = 0; i < tq; i++)
	{
		const float *pr = p + i * tk;
		float	   *dr = dp + i * tk;
		double		dot = 0.0;
		float		df;

		for (j = 0; j < tk; j++)
			dot += (double) pr[j] * dr[j];
		df = (float) dot;
		for (j = 0; j < tk; j++)
			dr[j] = pr[j] * (dr[j] - df);
	}
}

/* Backward's view of the forward's Pd: p, or p dropped again into buf. */
static const float *
MfAttnDropReplay(const MfTfAttnShape *s, size_t b, size_t h, const float *p,
				 float *buf)
{
	size_t		n = s->Tq * s->Tk;

	if (!MfAttnDropping(s))
		return p;
	memcpy(buf, p, n * sizeof(float));
	mfk_tf_dropout_backward(s->drop->p, s->drop->mask + (b * s->H + h) * n, buf, n);
	return buf;
}

/* Backward of every sequence and head (adds to dQ, dK, dV). */
int
mfk_tf_attn_backward(const MfEnv *env, const MfTfAttnShape *s, const float *Q,
					 size_t ldq, const float *K, size_t ldk, const float *V,
					 size_t ldv, const float *P, const float *dO, size_t ldo,
					 float *dQ, float *dK, float *dV, float *dS)
{
	size_t		b,
				h;
	float		scale = (float) (1.0 / sqrt((double) s->dh));
	int			tq = (int) s->Tq,
				tk = (int) s->Tk,
				dh = (int) s->dh;

	for (b = 0; b < s->B; b++)
	{
		if (MfAttnTick(env, "attention backward", b, s->B) != MF_KOK)
			return MF_KERR_CANCELLED;
		for (h = 0; h < s->H; h++)
		{
			size_t		qo = b * s->Tq * ldq + h * s->dh;
			size_t		ko = b * s->Tk * ldk + h * s->dh;
			size_t		vo = b * s->Tk * ldv + h * s->dh;
			const float *p = P + (b * s->H + h) * s->Tq * s->Tk;
			const float *dout = dO + b * s->Tq * ldo + h * s->dh;

			/* dV += Pd' dO (Pd: the dropped P, or P); dP = dO V' */
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, tk, dh, tq,
						1.0f, MfAttnDropReplay(s, b, h, p, dS), tk, dout, (int) ldo,
						1.0f, dV + vo, (int) ldv);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, tq, tk, dh,
						1.0f, dout, (int) ldo, V + vo, (int) ldv, 0.0f, dS, tk);
			if (MfAttnDropping(s))
				mfk_tf_dropout_backward(s->drop->p, s->drop->mask + (b * s->H + h) * s->Tq * s->Tk,
										dS, s->Tq * s->Tk);
			MfAttnSoftmaxBackward(p, dS, s->Tq, s->Tk);
			/* dQ += scale dS K; dK += scale dS' Q */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, tq, dh, tk,
						scale, dS, tk, K + ko, (int) ldk, 1.0f, dQ + qo, (int) ldq);
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, tk, dh, tq,
						scale, dS, tk, Q + qo, (int) ldq, 1.0f, dK + ko, (int) ldk);
		}
	}
	return MF_KOK;
}
