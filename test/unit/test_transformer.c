/*
 * test_transformer.c - the float32 transformer blocks against a float64
 * reference path written as plain loops (transformer_ref.h): forward
 * agreement and finite-difference gradients (taken in float64 on the
 * reference) of the linear layer, embeddings, norms, activations, masked
 * softmax attention and FAVOR+ linear attention; the arena.
 * test_transformer_layer.c checks the layers and whole small models.
 */
#include "transformer_ref.h"

/* ------------------------------------------------------ block checks */

/* Context of the linear-layer check. */
typedef struct LinCtx
{
	double	   *X,
			   *W,
			   *b,
			   *C,
			   *Y;
	size_t		n,
				in,
				out;
} LinCtx;

/* sum(C * (X W' + b)). */
static double
lin_loss(void *p)
{
	LinCtx	   *c = p;

	ref_linear(c->X, c->n, c->in, c->W, c->b, c->out, c->Y);
	return dotc(c->C, c->Y, c->n * c->out);
}

/* Linear layer in PyTorch's layout. */
static void
test_linear(void)
{
	LinCtx		c = {0};
	float	   *Xf,
			   *Wf,
			   *bf,
			   *Yf,
			   *Cf,
			   *dX,
			   *dW,
			   *db;

	c.n = 6, c.in = 5, c.out = 4;
	c.X = dalloc(c.n * c.in), c.W = dalloc(c.out * c.in), c.b = dalloc(c.out);
	c.C = dalloc(c.n * c.out), c.Y = dalloc(c.n * c.out);
	randn(c.X, c.n * c.in, 1), randn(c.W, c.out * c.in, 1), randn(c.b, c.out, 1);
	randn(c.C, c.n * c.out, 1);
	Xf = falloc(c.n * c.in), Wf = falloc(c.out * c.in), bf = falloc(c.out);
	Yf = falloc(c.n * c.out), Cf = falloc(c.n * c.out);
	dX = falloc(c.n * c.in), dW = falloc(c.out * c.in), db = falloc(c.out);
	tof(c.X, Xf, c.n * c.in), tof(c.W, Wf, c.out * c.in), tof(c.b, bf, c.out);
	tof(c.C, Cf, c.n * c.out);
	mfk_tf_linear_forward(Xf, c.n, c.in, Wf, bf, c.out, Yf);
	lin_loss(&c);
	check_fwd("linear", Yf, c.Y, c.n * c.out, 1e-5);
	mfk_tf_linear_backward(Xf, c.n, c.in, Wf, c.out, Cf, dW, db, dX);
	{
		GVar		v[] = {{"X", c.X, dX, c.n * c.in}, {"weight", c.W, dW, c.out * c.in},
		{"bias", c.b, db, c.out}};

		check_grad("linear", lin_loss, &c, v, 3, 1e-4);
	}
	free(c.X), free(c.W), free(c.b), free(c.C), free(c.Y);
	free(Xf), free(Wf), free(bf), free(Yf), free(Cf), free(dX), free(dW), free(db);
}

/* Context of the embedding check. */
typedef struct EmbCtx
{
	int32_t    *ids;
	double	   *tok,
			   *pos,
			   *C,
			   *Y;
	size_t		B,
				T,
				d;
} EmbCtx;

/* sum(C * embed). */
static double
emb_loss(void *p)
{
	EmbCtx	   *c = p;

	ref_embed(c->ids, c->B, c->T, c->d, c->tok, c->pos, c->Y);
	return dotc(c->C, c->Y, c->B * c->T * c->d);
}

/* Token embeddings plus learned positions (repeated ids accumulate). */
static void
test_embedding(void)
{
	EmbCtx		c = {0};
	size_t		V = 7,
				n,
				i;
	float	   *tokf,
			   *posf,
			   *Yf,
			   *Cf,
			   *dtok,
			   *dpos;

	c.B = 3, c.T = 4, c.d = 5, n = c.B * c.T;
	c.ids = malloc(n * sizeof(int32_t));
	for (i = 0; i < n; i++)
		c.ids[i] = (int32_t) mfk_rng_below(&rng, 4);	/* repeats, unused rows */
	c.tok = dalloc(V * c.d), c.pos = dalloc(c.T * c.d), c.C = dalloc(n * c.d), c.Y = dalloc(n * c.d);
	randn(c.tok, V * c.d, 1), randn(c.pos, c.T * c.d, 1), randn(c.C, n * c.d, 1);
	tokf = falloc(V * c.d), posf = falloc(c.T * c.d), Yf = falloc(n * c.d), Cf = falloc(n * c.d);
	dtok = falloc(V * c.d), dpos = falloc(c.T * c.d);
	tof(c.tok, tokf, V * c.d), tof(c.pos, posf, c.T * c.d), tof(c.C, Cf, n * c.d);
	mfk_tf_embed_forward(c.ids, c.B, c.T, c.d, tokf, posf, Yf);
	emb_loss(&c);
	check_fwd("embedding", Yf, c.Y, n * c.d, 1e-6);
	mfk_tf_embed_backward(c.ids, c.B, c.T, c.d, Cf, dtok, dpos);
	{
		GVar		v[] = {{"token_emb", c.tok, dtok, V * c.d}, {"pos_emb", c.pos, dpos, c.T * c.d}};

		check_grad("embedding", emb_loss, &c, v, 2, 1e-5);
	}
	free(c.ids), free(c.tok), free(c.pos), free(c.C), free(c.Y);
	free(tokf), free(posf), free(Yf), free(Cf), free(dtok), free(dpos);
}

/* Context of the norm checks (w, b for LayerNorm; w[0] = g for ScaleNorm). */
typedef struct NormCtx
{
	int			scalenorm;
	double	   *X,
			   *w,
			   *b,
			   *C,
			   *Y;
	size_t		n,
				d;
	double		eps;
} NormCtx;

/* sum(C * norm(X)). */
static double
norm_loss(void *p)
{
	NormCtx    *c = p;

	if (c->scalenorm)
		ref_scalenorm(c->X, c->n, c->d, c->w[0], c->eps, c->Y);
	else
		ref_layernorm(c->X, c->n, c->d, c->w, c->b, c->eps, c->Y);
	return dotc(c->C, c->Y, c->n * c->d);
}

/* LayerNorm or ScaleNorm: forward and gradients. */
static void
test_norm(int scalenorm)
{
	NormCtx		c = {0};
	size_t		nd;
	float	   *Xf,
			   *wf,
			   *bf,
			   *Yf,
			   *Cf,
			   *dX,
			   *dw,
			   *db,
			   *s1,
			   *s2;
	const char *name = scalenorm ? "scalenorm" : "layernorm";

	c.scalenorm = scalenorm, c.n = 6, c.d = 8, c.eps = 1e-5, nd = c.n * c.d;
	c.X = dalloc(nd), c.w = dalloc(c.d), c.b = dalloc(c.d), c.C = dalloc(nd), c.Y = dalloc(nd);
	randn(c.X, nd, 1.5), randn(c.w, c.d, 1), randn(c.b, c.d, 1), randn(c.C, nd, 1);
	if (scalenorm)
		c.w[0] = 2.0;
	Xf = falloc(nd), wf = falloc(c.d), bf = falloc(c.d), Yf = falloc(nd), Cf = falloc(nd);
	dX = falloc(nd), dw = falloc(c.d), db = falloc(c.d), s1 = falloc(c.n), s2 = falloc(c.n);
	tof(c.X, Xf, nd), tof(c.w, wf, c.d), tof(c.b, bf, c.d), tof(c.C, Cf, nd);
	if (scalenorm)
	{
		mfk_tf_scalenorm_forward(Xf, c.n, c.d, wf, (float) c.eps, Yf, s1);
		mfk_tf_scalenorm_backward(Xf, c.n, c.d, wf, (float) c.eps, s1, Cf, dX, dw);
	}
	else
	{
		mfk_tf_layernorm_forward(Xf, c.n, c.d, wf, bf, (float) c.eps, Yf, s1, s2);
		mfk_tf_layernorm_backward(Xf, c.n, c.d, wf, s1, s2, Cf, dX, dw, db);
	}
	norm_loss(&c);
	check_fwd(name, Yf, c.Y, nd, 1e-5);
	{
		GVar		v[] = {{"X", c.X, dX, nd}, {"weight", c.w, dw, scalenorm ? 1 : c.d},
		{"bias", c.b, db, c.d}};

		check_grad(name, norm_loss, &c, v, scalenorm ? 2 : 3, 1e-4);
	}
	free(c.X), free(c.w), free(c.b), free(c.C), free(c.Y);
	free(Xf), free(wf), free(bf), free(Yf), free(Cf), free(dX), free(dw), free(db), free(s1), free(s2);
}

/* Context of the activation checks. */
typedef struct ActCtx
{
	MfAct		act;
	double	   *h,
			   *C,
			   *a;
	size_t		n,
				f;
} ActCtx;

/* sum(C * act(h)). */
static double
act_loss(void *p)
{
	ActCtx	   *c = p;

	ref_act(c->act, c->h, c->a, c->n, c->f);
	return dotc(c->C, c->a, c->n * c->f);
}

/* One FFN activation (plain or gated). */
static void
test_act(MfAct act)
{
	ActCtx		c = {0};
	size_t		f2;
	float	   *hf,
			   *af,
			   *Cf,
			   *dh;
	char		name[64];

	c.act = act, c.n = 5, c.f = 6;
	f2 = mfk_act_is_gated(act) ? 2 * c.f : c.f;
	c.h = dalloc(c.n * f2), c.C = dalloc(c.n * c.f), c.a = dalloc(c.n * c.f);
	randn(c.h, c.n * f2, 1.5), randn(c.C, c.n * c.f, 1);
	hf = falloc(c.n * f2), af = falloc(c.n * c.f), Cf = falloc(c.n * c.f), dh = falloc(c.n * f2);
	tof(c.h, hf, c.n * f2), tof(c.C, Cf, c.n * c.f);
	mfk_tf_act_forward(act, hf, af, c.n, c.f);
	act_loss(&c);
	snprintf(name, sizeof(name), "activation %s", mfk_act_name(act));
	check_fwd(name, af, c.a, c.n * c.f, 1e-5);
	mfk_tf_act_backward(act, hf, Cf, dh, c.n, c.f);
	{
		GVar		v[] = {{"h", c.h, dh, c.n * f2}};

		check_grad(name, act_loss, &c, v, 1, 1e-4);
	}
	free(c.h), free(c.C), free(c.a), free(hf), free(af), free(Cf), free(dh);
}

/* Context of the attention checks. */
typedef struct AttnCtx
{
	MfTfAttnShape s;
	size_t		ld;				/* leading dimension of Q, K, V, O */
	double	   *Q,
			   *K,
			   *V,
			   *C,
			   *O;
} AttnCtx;

/* sum(C * attention(Q, K, V)). */
static double
attn_loss(void *p)
{
	AttnCtx    *c = p;

	ref_attention(&c->s, c->Q, c->ld, c->K, c->ld, c->V, c->ld, c->O, c->ld);
	return dotc(c->C, c->O, c->s.B * c->s.Tq * c->ld);
}

/* Attention against the naive reference; masks; gradients. */
static void
test_attention(const char *name, size_t Tq, size_t Tk, int causal, int pad)
{
	AttnCtx		c;
	unsigned char kp[2 * 8] = {0};
	size_t		nq,
				nk,
				b,
				h,
				i,
				j;
	float	   *Qf,
			   *Kf,
			   *Vf,
			   *Of,
			   *Cf,
			   *P,
			   *dQ,
			   *dK,
			   *dV,
			   *dS;
	int			masked_ok = 1,
				rows_ok = 1;
	char		buf[128];

	memset(&c, 0, sizeof(c));
	c.s.B = 2, c.s.Tq = Tq, c.s.Tk = Tk, c.s.H = 2, c.s.dh = 3, c.s.causal = causal;
	c.ld = c.s.H * c.s.dh + 1;	/* a strided view, as in the qkv buffer */
	if (pad)
	{
		kp[1 * Tk + Tk - 1] = kp[1 * Tk + Tk - 2] = 1;	/* sequence 1: 2 pads */
		kp[0 * Tk + 1] = 1;		/* sequence 0: a hole */
		c.s.key_pad = kp;
	}
	nq = c.s.B * Tq * c.ld, nk = c.s.B * Tk * c.ld;
	c.Q = dalloc(nq), c.K = dalloc(nk), c.V = dalloc(nk), c.C = dalloc(nq), c.O = dalloc(nq);
	randn(c.Q, nq, 1.5), randn(c.K, nk, 1.5), randn(c.V, nk, 1), randn(c.C, nq, 1);
	for (i = 0; i < c.s.B * Tq; i++)
		c.C[i * c.ld + c.ld - 1] = 0;	/* the column outside the view */
	Qf = falloc(nq), Kf = falloc(nk), Vf = falloc(nk), Of = falloc(nq), Cf = falloc(nq);
	P = falloc(c.s.B * c.s.H * Tq * Tk), dQ = falloc(nq), dK = falloc(nk), dV = falloc(nk);
	dS = falloc(Tq * Tk);
	tof(c.Q, Qf, nq), tof(c.K, Kf, nk), tof(c.V, Vf, nk), tof(c.C, Cf, nq);
	MF_OK(mfk_tf_attn_forward(NULL, &c.s, Qf, c.ld, Kf, c.ld, Vf, c.ld, P, Of, c.ld) == MF_KOK,
		  "attention forward runs");
	attn_loss(&c);
	for (i = 0; i < c.s.B * Tq; i++)
		Of[i * c.ld + c.ld - 1] = 0;
	snprintf(buf, sizeof(buf), "attention %s vs naive O(n^2) reference", name);
	check_fwd(buf, Of, c.O, nq, 1e-5);
	for (b = 0; b < c.s.B; b++)
		for (h = 0; h < c.s.H; h++)
			for (i = 0; i < Tq; i++)
			{
				double		sum = 0;

				for (j = 0; j < Tk; j++)
				{
					float		p = P[((b * c.s.H + h) * Tq + i) * Tk + j];
					int			hidden = (causal && j > i + Tk - Tq) || (pad && kp[b * Tk + j]);

					if (hidden && p != 0.0f)
						masked_ok = 0;
					sum += p;
				}
				if (fabs(sum - 1.0) > 1e-5)
					rows_ok = 0;
			}
	snprintf(buf, sizeof(buf), "attention %s: masked keys get exactly zero probability", name);
	MF_OK(masked_ok, buf);
	snprintf(buf, sizeof(buf), "attention %s: probability rows sum to 1", name);
	MF_OK(rows_ok, buf);
	MF_OK(mfk_tf_attn_backward(NULL, &c.s, Qf, c.ld, Kf, c.ld, Vf, c.ld, P, Cf, c.ld,
							   dQ, dK, dV, dS) == MF_KOK, "attention backward runs");
	{
		GVar		v[] = {{"Q", c.Q, dQ, nq}, {"K", c.K, dK, nk}, {"V", c.V, dV, nk}};

		snprintf(buf, sizeof(buf), "attention %s", name);
		check_grad(buf, attn_loss, &c, v, 3, 1e-3);
	}
	free(c.Q), free(c.K), free(c.V), free(c.C), free(c.O);
	free(Qf), free(Kf), free(Vf), free(Of), free(Cf), free(P), free(dQ), free(dK), free(dV), free(dS);
}

/* Masks seen from outside: changing hidden tokens changes nothing visible. */
static void
test_attention_masks(void)
{
	enum
	{
		B = 2, T = 6, H = 2, DH = 4, D = H * DH
	};
	unsigned char kp[B * T] = {0};
	MfTfAttnShape s = {B, T, T, H, DH, 0, kp, NULL};
	float		Q[B * T * D],
				K[B * T * D],
				V[B * T * D],
				O1[B * T * D],
				O2[B * T * D],
				P[B * H * T * T];
	size_t		i,
				t;
	int			same = 1,
				zero = 1;

	for (i = 0; i < B * T * D; i++)
		Q[i] = (float) mfk_rng_normal(&rng), K[i] = (float) mfk_rng_normal(&rng),
			V[i] = (float) mfk_rng_normal(&rng);
	kp[4] = kp[5] = 1;			/* sequence 0 ends in two pads */
	for (t = 0; t < T; t++)
		kp[T + t] = 1;			/* sequence 1 is all padding */
	mfk_tf_attn_forward(NULL, &s, Q, D, K, D, V, D, P, O1, D);
	for (i = 4 * D; i < 6 * D; i++)
		K[i] += 3.0f, V[i] -= 5.0f;	/* change the padded tokens of sequence 0 */
	mfk_tf_attn_forward(NULL, &s, Q, D, K, D, V, D, P, O2, D);
	for (i = 0; i < T * D; i++)
		same &= O1[i] == O2[i];
	MF_OK(same, "padded keys and values do not change any output of their sequence");
	for (i = T * D; i < 2 * T * D; i++)
		zero &= O1[i] == 0.0f;
	MF_OK(zero, "a sequence that is all padding attends to nothing (zeros, not NaN)");

	/* causal: changing token t changes no output before t */
	s.causal = 1, s.key_pad = NULL;
	mfk_tf_attn_forward(NULL, &s, Q, D, K, D, V, D, P, O1, D);
	for (i = 3 * D; i < T * D; i++)
		Q[i] += 1.0f, K[i] += 2.0f, V[i] += 3.0f;
	mfk_tf_attn_forward(NULL, &s, Q, D, K, D, V, D, P, O2, D);
	same = 1;
	for (i = 0; i < 3 * D; i++)
		same &= O1[i] == O2[i];
	MF_OK(same, "causal rows see no future token");
	same = 0;
	for (i = 3 * D; i < T * D; i++)
		same |= O1[i] != O2[i];
	MF_OK(same, "causal rows do see the changed present and past");
}

/* ---------------------------------------------------- linear attention */

static double
linattn_loss(void *p)
{
	LinAttnCtx *c = p;

	ref_linear_attention(&c->s, c->W, c->m, c->Q, c->K, c->V, c->ld, c->O);
	return dotc(c->C, c->O, c->s.B * c->s.Tq * c->ld);
}

/* Linear attention vs its naive float64 reference and finite differences. */
static void
test_linear_attention(const char *name, size_t Tq, size_t Tk, int causal,
					  int pad)
{
	LinAttnCtx	c;
	unsigned char kp[2 * 130] = {0};
	size_t		nq,
				nk,
				i;
	float	   *Wf,
			   *Qf,
			   *Kf,
			   *Vf,
			   *Of,
			   *Cf,
			   *Qp,
			   *Kp,
			   *den,
			   *dQ,
			   *dK,
			   *dV,
			   *work;
	char		buf[128];

	memset(&c, 0, sizeof(c));
	c.s.B = 2, c.s.Tq = Tq, c.s.Tk = Tk, c.s.H = 2, c.s.dh = 4, c.s.causal = causal;
	c.ld = c.s.H * c.s.dh, c.m = 6;
	if (pad)
	{
		kp[1 * Tk + Tk - 1] = kp[1 * Tk + Tk - 2] = 1;
		kp[0 * Tk + 1] = 1;
		c.s.key_pad = kp;
	}
	nq = c.s.B * Tq * c.ld, nk = c.s.B * Tk * c.ld;
	Wf = falloc(c.m * c.s.dh);
	mfk_tf_favor_draw(&rng, Wf, c.m, c.s.dh);
	c.W = dalloc(c.m * c.s.dh);
	for (i = 0; i < c.m * c.s.dh; i++)
		c.W[i] = Wf[i];
	c.Q = dalloc(nq), c.K = dalloc(nk), c.V = dalloc(nk), c.C = dalloc(nq), c.O = dalloc(nq);
	randn(c.Q, nq, 0.8), randn(c.K, nk, 0.8), randn(c.V, nk, 1), randn(c.C, nq, 1);
	Qf = falloc(nq), Kf = falloc(nk), Vf = falloc(nk), Of = falloc(nq), Cf = falloc(nq);
	Qp = falloc(c.s.B * c.s.H * Tq * c.m), Kp = falloc(c.s.B * c.s.H * Tk * c.m);
	den = falloc(c.s.B * c.s.H * Tq), dQ = falloc(nq), dK = falloc(nk), dV = falloc(nk);
	work = falloc(mfk_tf_linear_attn_work(&c.s, c.m));
	tof(c.Q, Qf, nq), tof(c.K, Kf, nk), tof(c.V, Vf, nk), tof(c.C, Cf, nq);
	MF_OK(mfk_tf_linear_attn_forward(NULL, &c.s, Wf, c.m, Qf, c.ld, Kf, c.ld, Vf, c.ld,
									 Qp, Kp, den, Of, c.ld, work) == MF_KOK,
		  "linear attention forward runs");
	linattn_loss(&c);
	snprintf(buf, sizeof(buf), "linear attention %s vs naive reference", name);
	check_fwd(buf, Of, c.O, nq, 1e-5);
	MF_OK(mfk_tf_linear_attn_backward(NULL, &c.s, Wf, c.m, Qf, c.ld, Kf, c.ld, Vf, c.ld,
									  Qp, Kp, den, Of, Cf, c.ld, dQ, dK, dV, work) == MF_KOK,
		  "linear attention backward runs");
	{
		GVar		v[] = {{"Q", c.Q, dQ, nq}, {"K", c.K, dK, nk}, {"V", c.V, dV, nk}};

		snprintf(buf, sizeof(buf), "linear attention %s", name);
		check_grad(buf, linattn_loss, &c, v, 3, 1e-3);
	}
	free(c.W), free(c.Q), free(c.K), free(c.V), free(c.C), free(c.O), free(Wf), free(Qf), free(Kf);
	free(Vf), free(Of), free(Cf), free(Qp), free(Kp), free(den), free(dQ), free(dK), free(dV), free(work);
}

/*
 * ||linear - softmax|| / ||softmax|| for m features on one random batch;
 * *uniform gets the same error of plain (prefix) averaging of V, the
 * attention that ignores q and k, as a yardstick.
 */
static double
linear_vs_softmax(size_t m, int causal, double *uniform)
{
	enum
	{
		B = 2, T = 64, H = 2, DH = 16, D = H * DH
	};
	MfTfAttnShape s = {B, T, T, H, DH, causal, NULL, NULL};
	size_t		n = B * T * D,
				i;
	float	   *Q = falloc(n),
			   *K = falloc(n),
			   *V = falloc(n),
			   *Os = falloc(n),
			   *Ol = falloc(n),
			   *P = falloc(B * H * T * T),
			   *W = falloc(m * DH),
			   *Qp = falloc(B * H * T * m),
			   *Kp = falloc(B * H * T * m),
			   *den = falloc(B * H * T),
			   *work = falloc(mfk_tf_linear_attn_work(&s, m));
	double		num = 0,
				nrm = 0;
	MfRng		r;

	mfk_rng_seed(&r, 77);
	for (i = 0; i < n; i++)
		Q[i] = (float) (0.7 * mfk_rng_normal(&r)), K[i] = (float) (0.7 * mfk_rng_normal(&r)),
			V[i] = (float) mfk_rng_normal(&r);
	mfk_rng_seed(&r, 1000 + m);
	mfk_tf_favor_draw(&r, W, m, DH);
	mfk_tf_attn_forward(NULL, &s, Q, D, K, D, V, D, P, Os, D);
	mfk_tf_linear_attn_forward(NULL, &s, W, m, Q, D, K, D, V, D, Qp, Kp, den, Ol, D, work);
	for (i = 0; i < n; i++)
		num += (Ol[i] - Os[i]) * (double) (Ol[i] - Os[i]), nrm += Os[i] * (double) Os[i];
	if (uniform != NULL)
	{
		double		un = 0;
		size_t		b,
					t,
					j,
					c;

		for (b = 0; b < B; b++)
			for (t = 0; t < T; t++)
				for (c = 0; c < D; c++)
				{
					double		avg = 0;
					size_t		cnt = causal ? t + 1 : T;

					for (j = 0; j < cnt; j++)
						avg += V[(b * T + j) * D + c] / cnt;
					un += (avg - Os[(b * T + t) * D + c]) * (avg - Os[(b * T + t) * D + c]);
				}
		*uniform = sqrt(un / nrm);
	}
	free(Q), free(K), free(V), free(Os), free(Ol), free(P), free(W), free(Qp), free(Kp), free(den);
	free(work);
	return sqrt(num / nrm);
}

/* Features: orthogonal blocks, redraw schedule, error against softmax. */
static void
test_favor(void)
{
	float		W[12 * 4];
	size_t		i,
				j,
				k;
	double		worst = 0,
				e16,
				e1024;
	int			causal;

	mfk_tf_favor_draw(&rng, W, 12, 4);
	for (i = 0; i < 12; i++)
		for (k = i - i % 4; k < i; k++)
		{
			double		dot = 0;

			for (j = 0; j < 4; j++)
				dot += W[i * 4 + j] * W[k * 4 + j];
			worst = fmax(worst, fabs(dot));
		}
	MF_OK(worst < 1e-4, "FAVOR+ features are orthogonal within each block of dh rows");
	MF_OK(!mfk_tf_favor_redraw_due(0, 1000, 1) && mfk_tf_favor_redraw_due(1000, 1000, 1) &&
		  !mfk_tf_favor_redraw_due(1001, 1000, 1) && !mfk_tf_favor_redraw_due(1000, 1000, 0),
		  "features are redrawn every feature_redraw_interval steps when auto_check_redraw");
	for (causal = 0; causal <= 1; causal++)
	{
		double		uni;

		e16 = linear_vs_softmax(16, causal, &uni);
		e1024 = linear_vs_softmax(1024, causal, NULL);
		MF_DIAG("%s linear attention vs softmax (T 64, dh 16, q,k ~ N(0, 0.49)): relative error "
				"%.3f (16 features), %.3f (64), %.3f (256), %.3f (1024); uniform averaging %.3f",
				causal ? "causal" : "non-causal", e16, linear_vs_softmax(64, causal, NULL),
				linear_vs_softmax(256, causal, NULL), e1024, uni);
		MF_OK(e1024 < e16 && e1024 < uni,
			  causal ? "causal linear attention approaches softmax with more features"
			  : "linear attention approaches softmax with more features");
	}
}

/* ------------------------------------------------ arena, dropout, speed */

/* Arena: alignment, counting, exhaustion, release, peak. */
static void
test_arena(void)
{
	MfArena		c,
				a;
	float	   *p,
			   *q;
	size_t		m;
	MfTfLayerDims dims = {8, 2, 12, MF_ACT_GELU, MF_TF_LAYERNORM, 1e-5f, 0.1f, 0, 0, 0, 0};
	MfTfBatch	b = {2, 5, NULL, 0, NULL};
	MfTfLayerActs acts;
	MfTfLayer pl,
				gl;
	float		x[2 * 5 * 8] = {0},
				dx[2 * 5 * 8] = {0};
	float	   *pf = falloc(mfk_tf_layer_size(&dims, NULL));

	mfk_arena_counting(&c);
	MF_OK(mfk_arena_floats(&c, 10) == NULL && c.used == 64, "counting arena counts aligned bytes");
	MF_OK(mfk_arena_init(&a, &mfk_malloc_allocator, 256) == MF_KOK, "arena of 256 bytes");
	p = mfk_arena_floats(&a, 3);
	m = mfk_arena_mark(&a);
	q = mfk_arena_floats(&a, 20);
	MF_OK(p && q && ((uintptr_t) p % MF_ARENA_ALIGN) == 0 && ((uintptr_t) q % MF_ARENA_ALIGN) == 0,
		  "allocations are 64-byte aligned");
	MF_OK(mfk_arena_floats(&a, 64) == NULL && a.failed, "an allocation that does not fit fails");
	mfk_arena_release(&a, m);
	MF_OK(mfk_arena_floats(&a, 16) == q && a.used == 128 && a.peak == 192,
		  "release reuses the memory, the peak stays");
	mfk_arena_free(&a, &mfk_malloc_allocator);

	/* a layer given a too small arena refuses with NOMEM, no crash */
	mfk_tf_layer_bind(&dims, pf, &pl, NULL);
	mfk_tf_layer_bind(&dims, pf, &gl, NULL);
	mfk_arena_init(&a, &mfk_malloc_allocator, mfk_tf_step_bytes(&dims, &b, 1, 0));
	mfk_tf_layer_acts_carve(&dims, &b, 0, &a, &acts);
	MF_OK(mfk_tf_layer_forward(NULL, &dims, &b, &pl, x, NULL, NULL, &a, &acts) == MF_KOK,
		  "evaluation step fits its arena");
	MF_OK(mfk_tf_layer_backward(NULL, &dims, &b, &pl, &acts, x, &a, &gl, dx, NULL) == MF_KERR_NOMEM,
		  "backward without room for its scratch returns out of memory");
	mfk_arena_free(&a, &mfk_malloc_allocator);
	free(pf);
}


int
main(void)
{
	static const MfAct acts[] = {MF_ACT_GELU, MF_ACT_RELU, MF_ACT_SILU,
	MF_ACT_GEGLU, MF_ACT_REGLU, MF_ACT_SWIGLU};
	size_t		i;

	openblas_set_num_threads(1);
	mfk_rng_seed(&rng, 20261205);
	test_arena();
	test_linear();
	test_embedding();
	test_norm(0);
	test_norm(1);
	for (i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
		test_act(acts[i]);
	test_attention("unmasked", 5, 5, 0, 0);
	test_attention("padded", 5, 5, 0, 1);
	test_attention("causal", 5, 5, 1, 0);
	test_attention("causal+padded", 5, 5, 1, 1);
	test_attention("cross 3x5 padded", 3, 5, 0, 1);
	test_attention_masks();
	test_linear_attention("unmasked", 5, 5, 0, 0);
	test_linear_attention("padded", 5, 5, 0, 1);
	test_linear_attention("causal (prefix sums)", 5, 5, 1, 0);
	test_linear_attention("causal+padded", 5, 5, 1, 1);
	test_linear_attention("cross 3x5 padded", 3, 5, 0, 1);
	test_linear_attention("causal+padded, 3 blocks of rows (T 130)", 130, 130, 1, 1);
	test_favor();
	MF_DIAG("worst float32-vs-float64 forward max abs error: %.3g", worst_fwd);
	MF_DIAG("worst gradient relative error (float32 kernels vs float64 finite differences): %.3g",
			worst_grad);
	return mf_test_done();
}

