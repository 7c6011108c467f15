/*
 * transformer_linear_attention.c - linear attention with positive random
 * features (FAVOR+, Performer), non-causal and causal (prefix sums),
 * forward and backward.
 *
 * Design note: softmax(q.k / sqrt(dh)) is approximated by phi(q).phi(k)
 * with m positive random features
 *     phi(x)_f = m^-1/2 exp(s w_f.x - s^2 |x|^2 / 2 - c),  s = dh^-1/4,
 * w_f the rows of an m x dh feature matrix W (orthogonal Gaussian blocks,
 * redrawn every feature_redraw_interval steps by the caller; not trained).
 * Then O_i = phi(q_i) KV / phi(q_i) ksum with KV = sum_j phi(k_j) v_j' and
 * ksum = sum_j phi(k_j): O(T m dh) instead of O(T^2 dh).  Causal attention
 * works in blocks of up to 64 rows: the prefix sums KV and ksum of the
 * earlier blocks serve a block through one sgemm, the block itself through
 * its masked C x C scores tril(Qp Kp') (a small quadratic part), then the
 * block joins the prefix sums; backward does the same with prefix sums
 * (for dQp) and suffix sums of phi(q_i) dO_i (for dKp, dV), so no
 * T x m x dh state is stored and every product is an sgemm (the row-by-row
 * rank-one updates this replaced took 4x the time of softmax attention at
 * T 64).
 *
 * Stabilisers: c is the row maximum for a query and the maximum over all
 * unmasked keys of a sequence-head for keys.  O is invariant to a positive
 * factor per query row and to one common factor over the keys, so the
 * stabilisers (and PyTorch's detach of them) change nothing, forward or
 * backward: they are treated as constants.  Padded keys get phi = 0; a row
 * with no visible key gets O = 0.  The gradient through phi is
 * dx = s (g W) - s^2 x rowsum(g), g = dphi o phi.
 */
#include "transformer.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Rows of one block of the causal kernels (a block's scores are C x C). */
#define MF_LIN_CHUNK 64

/* The block size for T rows. */
static size_t
MfLinChunk(size_t T)
{
	return T < MF_LIN_CHUNK ? T : MF_LIN_CHUNK;
}

/* Floats of the work space before the causal blocks' two C x C matrices. */
static size_t
MfLinWorkHead(const MfTfAttnShape *s, size_t m)
{
	return 2 * m * s->dh + 2 * m + s->Tq * s->dh + s->Tq + s->Tq * m + s->Tk * m;
}

/* Floats of work space for one call of forward or backward. */
size_t
mfk_tf_linear_attn_work(const MfTfAttnShape *s, size_t m)
{
	size_t		c = MfLinChunk(s->Tq);

	return MfLinWorkHead(s, m) + 2 * c * c;
}

/* Draw W (m x dh): blocks of dh orthonormal rows scaled by Gaussian norms. */
void
mfk_tf_favor_draw(MfRng *r, float *W, size_t m, size_t dh)
{
	size_t		i,
				j,
				k;

	for (i = 0; i < m; i++)
	{
		float	   *w = W + i * dh;
		double		nrm = 0.0,
					chi = 0.0;

		for (j = 0; j < dh; j++)
		{
			double		z = mfk_rng_normal(r);

			w[j] = (float) mfk_rng_normal(r);
			chi += z * z;
		}
		/* Gram-Schmidt against the earlier rows of the same block */
		for (k = i - i % dh; k < i; k++)
		{
			const float *u = W + k * dh;
			double		dot = 0.0,
						uu = 0.0;

			for (j = 0; j < dh; j++)
				dot += (double) w[j] * u[j], uu += (double) u[j] * u[j];
			for (j = 0; j < dh; j++)
				w[j] -= (float) (dot / uu * u[j]);
		}
		for (j = 0; j < dh; j++)
			nrm += (double) w[j] * w[j];
		nrm = sqrt(nrm);
		for (j = 0; j < dh; j++)
			w[j] = (float) (w[j] / nrm * sqrt(chi));
	}
}

/* 1 when features are due for a redraw before step (0-based). */
int
mfk_tf_favor_redraw_due(int64_t step, int64_t interval, int auto_redraw)
{
	return auto_redraw && interval > 0 && step > 0 && step % interval == 0;
}

/*
 * phi of T rows of X (stride ld) into F (T x m); keys use one stabiliser
 * over the unmasked rows (mask may be NULL), queries one per row.
 */
static void
MfFavorPhi(const float *X, size_t ld, size_t T, size_t dh, const float *W,
		   size_t m, int is_query, const unsigned char *mask, float *F)
{
	float		s = (float) pow((double) dh, -0.25);
	float		ratio = (float) (1.0 / sqrt((double) m));
	float		cmax = -INFINITY;
	size_t		t,
				f,
				j;

	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) T, (int) m,
				(int) dh, s, X, (int) ld, W, (int) dh, 0.0f, F, (int) m);
	for (t = 0; t < T; t++)
	{
		float	   *row = F + t * m;
		double		n2 = 0.0;
		float		diag,
					c = -INFINITY;

		for (j = 0; j < dh; j++)
			n2 += (double) X[t * ld + j] * X[t * ld + j];
		diag = (float) (n2 * s * s / 2.0);
		for (f = 0; f < m; f++)
		{
			row[f] -= diag;
			if (row[f] > c)
				c = row[f];
		}
		if (is_query)
			for (f = 0; f < m; f++)
				row[f] = ratio * expf(row[f] - c);
		else if ((mask == NULL || !mask[t]) && c > cmax)
			cmax = c;
	}
	if (is_query)
		return;
	for (t = 0; t < T; t++)
		for (f = 0; f < m; f++)
			F[t * m + f] = (mask != NULL && mask[t]) ? 0.0f
				: ratio * expf(F[t * m + f] - cmax);
}

/* dX += s (G W) - s^2 X rowsum(G), G = dF o F (overwritten into dF). */
static void
MfFavorPhiBackward(const float *X, size_t ld, size_t T, size_t dh,
				   const float *W, size_t m, const float *F, float *dF,
				   float *dX, size_t ldd)
{
	float		s = (float) pow((double) dh, -0.25);
	size_t		t,
				f,
				j;

	for (t = 0; t < T; t++)
	{
		double		rs = 0.0;

		for (f = 0; f < m; f++)
		{
			dF[t * m + f] *= F[t * m + f];
			rs += dF[t * m + f];
		}
		for (j = 0; j < dh; j++)
			dX[t * ldd + j] -= (float) (s * s * rs) * X[t * ld + j];
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) T, (int) dh,
				(int) m, s, dF, (int) m, W, (int) dh, 1.0f, dX, (int) ldd);
}

/* KV = Kp' V (m x dh) and ksum = column sums of Kp (m). */
static void
MfLinKV(const float *Kp, const float *V, size_t ldv, size_t Tk, size_t dh,
		size_t m, float *KV, float *ksum)
{
	size_t		i,
				f;

	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) m, (int) dh,
				(int) Tk, 1.0f, Kp, (int) m, V, (int) ldv, 0.0f, KV, (int) dh);
	memset(ksum, 0, m * sizeof(float));
	for (i = 0; i < Tk; i++)
		for (f = 0; f < m; f++)
			ksum[f] += Kp[i * m + f];
}

/* Non-causal: O = (Qp KV) / (Qp ksum) for one sequence-head. */
static void
MfLinAttnFwd(const float *Qp, const float *Kp, const float *V, size_t ldv,
			 size_t Tq, size_t Tk, size_t dh, size_t m, float *den, float *O,
			 size_t ldo, float *KV, float *ksum)
{
	size_t		i,
				f,
				c;

	MfLinKV(Kp, V, ldv, Tk, dh, m, KV, ksum);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) Tq, (int) dh,
				(int) m, 1.0f, Qp, (int) m, KV, (int) dh, 0.0f, O, (int) ldo);
	for (i = 0; i < Tq; i++)
	{
		double		dn = 0.0;
		float		inv;

		for (f = 0; f < m; f++)
			dn += (double) Qp[i * m + f] * ksum[f];
		den[i] = (float) dn;
		inv = dn > 0.0 ? (float) (1.0 / dn) : 0.0f;
		for (c = 0; c < dh; c++)
			O[i * ldo + c] *= inv;
	}
}

/* Keep the lower triangle (j <= i) of a c x c block, zero the rest. */
static void
MfLinTril(float *A, size_t c)
{
	size_t		i;

	for (i = 0; i + 1 < c; i++)
		memset(A + i * c + i + 1, 0, (c - i - 1) * sizeof(float));
}

/* z += column sums of c rows of Kp (m wide). */
static void
MfLinColsum(const float *Kp, size_t c, size_t m, float *z)
{
	size_t		i,
				f;

	for (i = 0; i < c; i++)
		for (f = 0; f < m; f++)
			z[f] += Kp[i * m + f];
}

/*
 * Causal, in blocks of C rows: with S = sum_{j<before} kp_j v_j' and
 * z = sum kp_j over earlier blocks, a block's O = (Qp S + tril(Qp Kp') V)
 * / den, den = Qp z + rowsum(tril(Qp Kp')); then S, z take the block.
 * All sgemms; A (C x C) is the block's masked scores.
 */
static void
MfLinAttnCausalFwd(const float *Qp, const float *Kp, const float *V,
				   size_t ldv, size_t T, size_t dh, size_t m, float *den,
				   float *O, size_t ldo, float *S, float *z, float *A)
{
	size_t		s0,
				i,
				j,
				f,
				C = MfLinChunk(T);

	memset(S, 0, m * dh * sizeof(float));
	memset(z, 0, m * sizeof(float));
	for (s0 = 0; s0 < T; s0 += C)
	{
		size_t		c = T - s0 < C ? T - s0 : C;
		const float *qp = Qp + s0 * m,
				   *kp = Kp + s0 * m,
				   *v = V + s0 * ldv;
		float	   *o = O + s0 * ldo;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) c, (int) c, (int) m,
					1.0f, qp, (int) m, kp, (int) m, 0.0f, A, (int) c);
		MfLinTril(A, c);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) c, (int) dh, (int) m,
					1.0f, qp, (int) m, S, (int) dh, 0.0f, o, (int) ldo);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) c, (int) dh, (int) c,
					1.0f, A, (int) c, v, (int) ldv, 1.0f, o, (int) ldo);
		for (i = 0; i < c; i++)
		{
			double		dn = 0.0;
			float		inv;

			for (f = 0; f < m; f++)
				dn += (double) qp[i * m + f] * z[f];
			for (j = 0; j <= i; j++)
				dn += A[i * c + j];
			den[s0 + i] = (float) dn;
			inv = dn > 0.0 ? (float) (1.0 / dn) : 0.0f;
			for (j = 0; j < dh; j++)
				o[i * ldo + j] *= inv;
		}
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) m, (int) dh, (int) c,
					1.0f, kp, (int) m, v, (int) ldv, 1.0f, S, (int) dh);
		MfLinColsum(kp, c, m, z);
	}
}

/* Offsets of one sequence-head's rows and feature blocks. */
typedef struct MfLinView
{
	size_t		qo,
				ko,
				vo,
				oo,
				fq,
				fk,
				dn;
} MfLinView;

/* Where sequence b, head h lives in the inputs and the saved features. */
static MfLinView
MfLinAt(const MfTfAttnShape *s, size_t m, size_t b, size_t h, size_t ldq,
		size_t ldk, size_t ldv, size_t ldo)
{
	MfLinView	v;

	v.qo = b * s->Tq * ldq + h * s->dh;
	v.ko = b * s->Tk * ldk + h * s->dh;
	v.vo = b * s->Tk * ldv + h * s->dh;
	v.oo = b * s->Tq * ldo + h * s->dh;
	v.fq = (b * s->H + h) * s->Tq * m;
	v.fk = (b * s->H + h) * s->Tk * m;
	v.dn = (b * s->H + h) * s->Tq;
	return v;
}

/*
 * Forward: Qp (B*H*Tq*m), Kp (B*H*Tk*m) and den (B*H*Tq) are kept for
 * backward; work holds mfk_tf_linear_attn_work floats.
 */
int
mfk_tf_linear_attn_forward(const MfEnv *env, const MfTfAttnShape *s,
						   const float *W, size_t m, const float *Q,
						   size_t ldq, const float *K, size_t ldk,
						   const float *V, size_t ldv, float *Qp, float *Kp,
						   float *den, float *O, size_t ldo, float *work)
{
	size_t		b,
				h;
	float	   *KV = work,
			   *ksum = work + m * s->dh,
			   *blk = work + MfLinWorkHead(s, m);

	if (s->causal && s->Tq != s->Tk)
		return MF_KERR_BADARG;
	for (b = 0; b < s->B; b++)
	{
		const unsigned char *kp = s->key_pad ? s->key_pad + b * s->Tk : NULL;

		if (mfk_tick(env, "linear attention", (int64_t) b, (int64_t) s->B,
					 (double) b / (double) s->B) != MF_KOK)
			return MF_KERR_CANCELLED;
		for (h = 0; h < s->H; h++)
		{
			MfLinView	v = MfLinAt(s, m, b, h, ldq, ldk, ldv, ldo);

			MfFavorPhi(Q + v.qo, ldq, s->Tq, s->dh, W, m, 1, NULL, Qp + v.fq);
			MfFavorPhi(K + v.ko, ldk, s->Tk, s->dh, W, m, 0, kp, Kp + v.fk);
			if (s->causal)
				MfLinAttnCausalFwd(Qp + v.fq, Kp + v.fk, V + v.vo, ldv, s->Tq,
								   s->dh, m, den + v.dn, O + v.oo, ldo, KV, ksum, blk);
			else
				MfLinAttnFwd(Qp + v.fq, Kp + v.fk, V + v.vo, ldv, s->Tq, s->Tk,
							 s->dh, m, den + v.dn, O + v.oo, ldo, KV, ksum);
		}
	}
	return MF_KOK;
}

/* dnum = dO / den and dden = -(dO . O) / den for one sequence-head. */
static void
MfLinAttnDnum(const float *dO, size_t ldo, const float *O, const float *den,
			  size_t Tq, size_t dh, float *dnum, float *dden)
{
	size_t		i,
				c;

	for (i = 0; i < Tq; i++)
	{
		double		dot = 0.0;
		float		inv = den[i] > 0.0f ? 1.0f / den[i] : 0.0f;

		for (c = 0; c < dh; c++)
		{
			dnum[i * dh + c] = dO[i * ldo + c] * inv;
			dot += (double) dO[i * ldo + c] * O[i * ldo + c];
		}
		dden[i] = (float) (-dot * inv);
	}
}

/* Non-causal backward to dQp, dKp (set) and dV (added). */
static void
MfLinAttnBwd(const float *Qp, const float *Kp, const float *V, size_t ldv,
			 size_t Tq, size_t Tk, size_t dh, size_t m, const float *dnum,
			 const float *dden, float *dQp, float *dKp, float *dV, float *KV,
			 float *ksum)
{
	size_t		i,
				f;

	/* KV, ksum again (cheap), then dQp = dnum KV' + dden ksum' */
	MfLinKV(Kp, V, ldv, Tk, dh, m, KV, ksum);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) Tq, (int) m,
				(int) dh, 1.0f, dnum, (int) dh, KV, (int) dh, 0.0f, dQp, (int) m);
	for (i = 0; i < Tq; i++)
		for (f = 0; f < m; f++)
			dQp[i * m + f] += dden[i] * ksum[f];
	/* dKV = Qp' dnum (into KV), dksum = Qp' dden (into ksum) */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) m, (int) dh,
				(int) Tq, 1.0f, Qp, (int) m, dnum, (int) dh, 0.0f, KV, (int) dh);
	memset(ksum, 0, m * sizeof(float));
	for (i = 0; i < Tq; i++)
		for (f = 0; f < m; f++)
			ksum[f] += Qp[i * m + f] * dden[i];
	/* dKp = V dKV' + 1 dksum'; dV += Kp dKV */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) Tk, (int) m,
				(int) dh, 1.0f, V, (int) ldv, KV, (int) dh, 0.0f, dKp, (int) m);
	for (i = 0; i < Tk; i++)
		for (f = 0; f < m; f++)
			dKp[i * m + f] += ksum[f];
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) Tk, (int) dh,
				(int) m, 1.0f, Kp, (int) m, KV, (int) dh, 1.0f, dV, (int) ldv);
}

/* G = tril(dnum V' + dden 1') of one block (c x c). */
static void
MfLinBlockG(const float *dnum, const float *dden, const float *v, size_t ldv,
			size_t c, size_t dh, float *G)
{
	size_t		i,
				j;

	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) c, (int) c, (int) dh,
				1.0f, dnum, (int) dh, v, (int) ldv, 0.0f, G, (int) c);
	for (i = 0; i < c; i++)
		for (j = 0; j <= i; j++)
			G[i * c + j] += dden[i];
	MfLinTril(G, c);
}

/*
 * Causal backward in blocks.  A forward sweep with the prefix sums S, z
 * of earlier blocks gives dQp = dnum S' + dden z' + G Kp; a reverse sweep
 * with the suffix sums R = sum qp_i dnum_i', r = sum qp_i dden_i of later
 * blocks gives dKp = V R' + 1 r' + G' Qp and dV += Kp R + A' dnum, with
 * G = tril(dnum V' + dden) and A = tril(Qp Kp') of the block.
 */
static void
MfLinAttnCausalBwd(const float *Qp, const float *Kp, const float *V,
				   size_t ldv, size_t T, size_t dh, size_t m,
				   const float *dnum, const float *dden, float *dQp,
				   float *dKp, float *dV, float *S, float *z, float *A,
				   float *G)
{
	size_t		s0,
				i,
				f,
				C = MfLinChunk(T),
				nb = (T + C - 1) / C,
				bi;

	memset(S, 0, m * dh * sizeof(float));
	memset(z, 0, m * sizeof(float));
	for (s0 = 0; s0 < T; s0 += C)
	{
		size_t		c = T - s0 < C ? T - s0 : C;
		const float *kp = Kp + s0 * m,
				   *v = V + s0 * ldv;
		float	   *dq = dQp + s0 * m;

		MfLinBlockG(dnum + s0 * dh, dden + s0, v, ldv, c, dh, G);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) c, (int) m, (int) dh,
					1.0f, dnum + s0 * dh, (int) dh, S, (int) dh, 0.0f, dq, (int) m);
		for (i = 0; i < c; i++)
			for (f = 0; f < m; f++)
				dq[i * m + f] += dden[s0 + i] * z[f];
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) c, (int) m, (int) c,
					1.0f, G, (int) c, kp, (int) m, 1.0f, dq, (int) m);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) m, (int) dh, (int) c,
					1.0f, kp, (int) m, v, (int) ldv, 1.0f, S, (int) dh);
		MfLinColsum(kp, c, m, z);
	}
	memset(S, 0, m * dh * sizeof(float));
	memset(z, 0, m * sizeof(float));
	for (bi = nb; bi-- > 0;)
	{
		size_t		st = bi * C,
					c = T - st < C ? T - st : C;
		const float *qp = Qp + st * m,
				   *kp = Kp + st * m,
				   *v = V + st * ldv,
				   *dn = dnum + st * dh;
		float	   *dk = dKp + st * m;

		MfLinBlockG(dn, dden + st, v, ldv, c, dh, G);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) c, (int) c, (int) m,
					1.0f, qp, (int) m, kp, (int) m, 0.0f, A, (int) c);
		MfLinTril(A, c);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) c, (int) m, (int) dh,
					1.0f, v, (int) ldv, S, (int) dh, 0.0f, dk, (int) m);
		for (i = 0; i < c; i++)
			for (f = 0; f < m; f++)
				dk[i * m + f] += z[f];
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) c, (int) m, (int) c,
					1.0f, G, (int) c, qp, (int) m, 1.0f, dk, (int) m);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) c, (int) dh, (int) m,
					1.0f, kp, (int) m, S, (int) dh, 1.0f, dV + st * ldv, (int) ldv);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) c, (int) dh, (int) c,
					1.0f, A, (int) c, dn, (int) dh, 1.0f, dV + st * ldv, (int) ldv);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) m, (int) dh, (int) c,
					1.0f, qp, (int) m, dn, (int) dh, 1.0f, S, (int) dh);
		for (i = 0; i < c; i++)
			for (f = 0; f < m; f++)
				z[f] += qp[i * m + f] * dden[st + i];
	}
}

/* Backward: adds to dQ, dK, dV (leading dimensions as Q, K, V). */
int
mfk_tf_linear_attn_backward(const MfEnv *env, const MfTfAttnShape *s,
							const float *W, size_t m, const float *Q,
							size_t ldq, const float *K, size_t ldk,
							const float *V, size_t ldv, const float *Qp,
							const float *Kp, const float *den, const float *O,
							const float *dO, size_t ldo, float *dQ, float *dK,
							float *dV, float *work)
{
	size_t		b,
				h,
				i;
	float	   *KV = work,
			   *ksum = KV + m * s->dh,
			   *dnum = ksum + m,
			   *dden = dnum + s->Tq * s->dh,
			   *dQp = dden + s->Tq,
			   *dKp = dQp + s->Tq * m,
			   *blk = work + MfLinWorkHead(s, m);

	if (s->causal && s->Tq != s->Tk)
		return MF_KERR_BADARG;
	for (b = 0; b < s->B; b++)
	{
		const unsigned char *kp = s->key_pad ? s->key_pad + b * s->Tk : NULL;

		if (mfk_tick(env, "linear attention backward", (int64_t) b,
					 (int64_t) s->B, (double) b / (double) s->B) != MF_KOK)
			return MF_KERR_CANCELLED;
		for (h = 0; h < s->H; h++)
		{
			MfLinView	v = MfLinAt(s, m, b, h, ldq, ldk, ldv, ldo);

			MfLinAttnDnum(dO + v.oo, ldo, O + v.oo, den + v.dn, s->Tq, s->dh,
						  dnum, dden);
			if (s->causal)
				MfLinAttnCausalBwd(Qp + v.fq, Kp + v.fk, V + v.vo, ldv, s->Tq,
								   s->dh, m, dnum, dden, dQp, dKp, dV + v.vo,
								   KV, ksum, blk, blk + MfLinChunk(s->Tq) * MfLinChunk(s->Tq));
			else
				MfLinAttnBwd(Qp + v.fq, Kp + v.fk, V + v.vo, ldv, s->Tq, s->Tk,
							 s->dh, m, dnum, dden, dQp, dKp, dV + v.vo, KV, ksum);
			/* padded keys have phi = 0 and get no gradient */
			for (i = 0; kp != NULL && i < s->Tk; i++)
				if (kp[i])
					memset(dKp + i * m, 0, m * sizeof(float));
			MfFavorPhiBackward(Q + v.qo, ldq, s->Tq, s->dh, W, m, Qp + v.fq,
							   dQp, dQ + v.qo, ldq);
			MfFavorPhiBackward(K + v.ko, ldk, s->Tk, s->dh, W, m, Kp + v.fk,
							   dKp, dK + v.ko, ldk);
		}
	}
	return MF_KOK;
}
