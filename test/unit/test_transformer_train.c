/*
 * test_transformer_train.c - quality of whole transformer models trained
 * from scratch in pure C on data this test generates with a seed:
 *   - balanced brackets (length <= 32): an encoder classifier must reach
 *     >= 97 % accuracy on held-out strings; the negatives are half
 *     shuffles of a balanced string (equal counts: only the order tells)
 *     and half one flipped bracket;
 *   - string reversal: an encoder-decoder must reach >= 95 % exact match
 *     on held-out strings, decoded greedily with mfk_tf_generate.
 * Each runs on one thread well under a minute; time per step and the peak
 * arena bytes per step are reported.  No speed is asserted (that is the
 * benchmark's business).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mf_test.h"
#include "transformer_model.h"

extern void openblas_set_num_threads(int);

/* Seconds of the monotonic clock. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A spec with one stack shape for every stack the kind has. */
static MfTfSpec
spec_of(MfTfKind kind, size_t d, size_t layers, size_t heads, size_t vocab,
		size_t max_length, size_t classes)
{
	MfTfSpec	s;
	MfTfStackSpec st;

	memset(&s, 0, sizeof(s));
	memset(&st, 0, sizeof(st));
	st.present = 1;
	st.d_model = d;
	st.num_layers = layers;
	st.num_heads = heads;
	st.d_ff = 2 * d;
	st.dropout = 0.0;
	st.attention = MF_TF_ATTN_SOFTMAX;
	snprintf(st.activation, sizeof(st.activation), "gelu");
	st.norm = MF_TF_LAYERNORM;
	s.kind = kind;
	s.vocab_size = vocab;
	s.max_length = max_length;
	s.num_classes = classes;
	if (kind != MF_TF_KIND_DECODER)
		s.encoder = st;
	if (kind != MF_TF_KIND_ENCODER)
	{
		s.decoder = st;
		s.decoder.cross_attention = kind == MF_TF_KIND_ENCODER_DECODER;
	}
	return s;
}

/* AdamW at 3e-3, 100 warm-up steps, cosine to 1e-4 over steps; state begun. */
static void
begin_cosine(MfTfModel *m, MfTfTrainOpts *o, int steps)
{
	mfk_tf_train_defaults(o);
	o->lr.kind = MF_LR_COSINE;
	o->lr.base_lr = 3e-3;
	o->lr.min_lr = 1e-4;
	o->lr.total_steps = steps;
	o->lr.warmup_steps = 100;
	mfk_tf_train_begin(m, o);
}

/* ------------------------------------------------------------ brackets */

enum
{
	BR_MAX = 32, BR_TRAIN = 6000, BR_TEST = 1000, BR_B = 32
};

/* One example: tokens 0 '(' and 1 ')', length, label 1 = balanced. */
typedef struct Brackets
{
	int32_t		tok[BR_MAX];
	int			len;
	int32_t		label;
} Brackets;

/* 1 when tok[0..len) is balanced. */
static int
balanced(const int32_t *tok, int len)
{
	int			i,
				depth = 0;

	for (i = 0; i < len; i++)
	{
		depth += tok[i] == 0 ? 1 : -1;
		if (depth < 0)
			return 0;
	}
	return depth == 0;
}

/* A random balanced string of 2n brackets. */
static void
random_dyck(MfRng *r, int n, int32_t *tok)
{
	int			i,
				open_left = n,
				depth = 0;

	for (i = 0; i < 2 * n; i++)
	{
		if (open_left > 0 && (depth == 0 || mfk_rng_uniform(r) < 0.5))
			tok[i] = 0, open_left--, depth++;
		else
			tok[i] = 1, depth--;
	}
}

/* Half balanced, a quarter shuffled (equal counts), a quarter one flip. */
static void
make_brackets(MfRng *r, Brackets *e)
{
	int			n = 1 + (int) mfk_rng_below(r, BR_MAX / 2),
				kind = (int) mfk_rng_below(r, 4),
				i;

	e->len = 2 * n;
	random_dyck(r, n, e->tok);
	if (kind == 2)
	{
		do
		{
			for (i = e->len - 1; i > 0; i--)
			{
				int			j = (int) mfk_rng_below(r, (uint64_t) i + 1);
				int32_t		t = e->tok[i];

				e->tok[i] = e->tok[j], e->tok[j] = t;
			}
		} while (balanced(e->tok, e->len) && n > 1);
		if (n == 1)
			e->tok[0] = 1, e->tok[1] = 0;
	}
	else if (kind == 3)
	{
		i = (int) mfk_rng_below(r, (uint64_t) e->len);
		e->tok[i] = 1 - e->tok[i];
	}
	e->label = balanced(e->tok, e->len);
}

/* Fill a padded batch (token 0 under the padding). */
static void
brackets_batch(const Brackets *ex, const size_t *idx, size_t nb, int32_t *src,
			   unsigned char *pad, int32_t *labels, MfTfInput *in)
{
	size_t		b,
				S = 0;
	int			t;

	for (b = 0; b < nb; b++)
		if ((size_t) ex[idx[b]].len > S)
			S = ex[idx[b]].len;
	for (b = 0; b < nb; b++)
	{
		const Brackets *e = &ex[idx[b]];

		for (t = 0; t < (int) S; t++)
		{
			src[b * S + t] = t < e->len ? e->tok[t] : 0;
			pad[b * S + t] = t >= e->len;
		}
		labels[b] = e->label;
	}
	*in = (MfTfInput) {.B = nb, .S = S, .src = src, .src_pad = pad, .labels = labels};
}

/* Accuracy of the classifier on ex[0..n). */
static double
brackets_accuracy(MfTfModel *m, const Brackets *ex, size_t n, MfArena *a)
{
	int32_t		src[BR_B * BR_MAX],
				labels[BR_B];
	unsigned char pad[BR_B * BR_MAX];
	size_t		idx[BR_B],
				i,
				b,
				right = 0;
	MfTfInput	in;
	MfTfFwd		f;

	for (i = 0; i < n; i += BR_B)
	{
		size_t		nb = n - i < BR_B ? n - i : BR_B;

		for (b = 0; b < nb; b++)
			idx[b] = i + b;
		brackets_batch(ex, idx, nb, src, pad, labels, &in);
		mfk_arena_release(a, 0);
		if (mfk_tf_model_forward(NULL, m, &in, NULL, a, &f) != MF_KOK)
			return -1;
		for (b = 0; b < nb; b++)
			right += (f.logits[2 * b + 1] > f.logits[2 * b]) == (labels[b] == 1);
	}
	return (double) right / (double) n;
}

/* Train the encoder classifier; check held-out accuracy. */
static void
test_brackets(void)
{
	MfTfSpec	s = spec_of(MF_TF_KIND_ENCODER, 32, 2, 4, 2, BR_MAX, 2);
	MfTfModel	m;
	MfTfTrainOpts o;
	MfTfStepInfo info;
	MfArena		a;
	MfRng		data,
				order,
				drop;
	Brackets   *ex = malloc((BR_TRAIN + BR_TEST) * sizeof(Brackets));
	size_t	   *perm = malloc(BR_TRAIN * sizeof(size_t)),
				i,
				pos = BR_TRAIN,
				positives = 0;
	int32_t		src[BR_B * BR_MAX],
				labels[BR_B];
	unsigned char pad[BR_B * BR_MAX];
	MfTfInput	in;
	int			step,
				steps = 2000,
				ok = 1;
	double		t0,
				secs,
				acc;
	size_t		peak = 0;

	mfk_rng_seed(&data, 1);
	mfk_rng_seed(&order, 2);
	mfk_rng_seed(&drop, 3);
	for (i = 0; i < BR_TRAIN + BR_TEST; i++)
	{
		make_brackets(&data, &ex[i]);
		positives += ex[i].label;
	}
	MF_DIAG("brackets: %d train, %d test strings of length 2..%d, %.1f %% balanced",
			BR_TRAIN, BR_TEST, BR_MAX, 100.0 * positives / (BR_TRAIN + BR_TEST));
	mfk_tf_model_init(&m, &s, 11, &mfk_malloc_allocator);
	begin_cosine(&m, &o, steps);
	mfk_arena_init(&a, &mfk_malloc_allocator, mfk_tf_model_step_bytes(&m, BR_B, BR_MAX, 0, 1));
	t0 = now();
	for (step = 0; step < steps && ok; step++)
	{
		if (pos + BR_B > BR_TRAIN)
		{
			mfk_rng_permutation(&order, perm, BR_TRAIN);
			pos = 0;
		}
		brackets_batch(ex, perm + pos, BR_B, src, pad, labels, &in);
		pos += BR_B;
		ok = mfk_tf_train_step(NULL, &m, &o, &in, &drop, &a, &info) == MF_KOK;
		if (info.peak_bytes > peak)
			peak = info.peak_bytes;
	}
	secs = now() - t0;
	acc = brackets_accuracy(&m, ex + BR_TRAIN, BR_TEST, &a);
	MF_OK(ok, "bracket classifier trains without error");
	MF_DIAG("brackets: %d steps of batch %d in %.1f s (%.2f ms/step), final loss %.4f, "
			"peak arena %zu bytes (%.2f MiB) per step, %zu parameters",
			steps, BR_B, secs, 1e3 * secs / steps, info.loss, peak, peak / 1048576.0, m.n_trained);
	MF_DIAG("brackets: held-out accuracy %.2f %% (train %.2f %%)", 100 * acc,
			100 * brackets_accuracy(&m, ex, 1000, &a));
	MF_OK(acc >= 0.97, "balanced brackets: held-out accuracy >= 97 %");
	mfk_arena_free(&a, &mfk_malloc_allocator);
	mfk_tf_model_free(&m);
	free(ex);
	free(perm);
}

/* ------------------------------------------------------------ reversal */

enum
{
	RV_SYMS = 10, RV_BOS = RV_SYMS, RV_EOS = RV_SYMS + 1, RV_V = RV_SYMS + 2,
	RV_MIN = 3, RV_MAX = 10, RV_B = 32, RV_TEST = 200
};

/* A random string of RV_MIN..RV_MAX symbols; its length. */
static int
random_string(MfRng *r, int32_t *s)
{
	int			n = RV_MIN + (int) mfk_rng_below(r, RV_MAX - RV_MIN + 1),
				i;

	for (i = 0; i < n; i++)
		s[i] = (int32_t) mfk_rng_below(r, RV_SYMS);
	return n;
}

/* A batch: source strings, decoder input BOS + reversed, labels reversed + EOS. */
static void
reversal_batch(MfRng *r, int32_t *src, unsigned char *spad, int32_t *tgt,
			   unsigned char *tpad, int32_t *labels, MfTfInput *in)
{
	int32_t		s[RV_B][RV_MAX];
	int			len[RV_B],
				b,
				t;
	size_t		S = RV_MAX,
				T = RV_MAX + 1;

	for (b = 0; b < RV_B; b++)
		len[b] = random_string(r, s[b]);
	for (b = 0; b < RV_B; b++)
		for (t = 0; t < (int) T; t++)
		{
			if (t < (int) S)
			{
				src[b * S + t] = t < len[b] ? s[b][t] : 0;
				spad[b * S + t] = t >= len[b];
			}
			tgt[b * T + t] = t == 0 ? RV_BOS : t <= len[b] ? s[b][len[b] - t] : 0;
			tpad[b * T + t] = t > len[b];
			labels[b * T + t] = t < len[b] ? s[b][len[b] - 1 - t] : t == len[b] ? RV_EOS : -1;
		}
	*in = (MfTfInput) {.B = RV_B, .S = S, .src = src, .src_pad = spad, .T = T, .tgt = tgt,
	.tgt_pad = tpad, .labels = labels};
}

/* Exact-match rate of greedy decoding on n fresh strings. */
static double
reversal_exact(MfTfModel *m, MfRng *r, int n)
{
	MfTfGenOpts g = {RV_MAX + 2, 0.0, 0, 1, RV_BOS, RV_EOS, 0, 0, NULL};
	MfArena		a;
	int32_t		s[RV_MAX],
				out[RV_MAX + 2];
	size_t		got;
	int			i,
				t,
				len,
				right = 0;

	mfk_arena_init(&a, &mfk_malloc_allocator, mfk_tf_model_step_bytes(m, 1, RV_MAX, RV_MAX + 1, 0));
	for (i = 0; i < n; i++)
	{
		int			same;

		len = random_string(r, s);
		if (mfk_tf_generate(NULL, m, s, (size_t) len, &g, &a, out, &got) != MF_KOK)
			break;
		same = got == (size_t) len;
		for (t = 0; same && t < len; t++)
			same = out[t] == s[len - 1 - t];
		right += same;
	}
	mfk_arena_free(&a, &mfk_malloc_allocator);
	return (double) right / n;
}

/* Train the encoder-decoder on fresh batches; greedy exact match. */
static void
test_reversal(void)
{
	MfTfSpec	s = spec_of(MF_TF_KIND_ENCODER_DECODER, 32, 2, 4, RV_V, RV_MAX + 1, 0);
	MfTfModel	m;
	MfTfTrainOpts o;
	MfTfStepInfo info;
	MfArena		a;
	MfRng		data,
				test,
				drop;
	int32_t		src[RV_B * RV_MAX],
				tgt[RV_B * (RV_MAX + 1)],
				labels[RV_B * (RV_MAX + 1)];
	unsigned char spad[RV_B * RV_MAX],
				tpad[RV_B * (RV_MAX + 1)];
	MfTfInput	in;
	int			step,
				steps = 2000,
				ok = 1;
	double		t0,
				secs,
				exact;

	mfk_rng_seed(&data, 21);
	mfk_rng_seed(&test, 22);
	mfk_rng_seed(&drop, 23);
	mfk_tf_model_init(&m, &s, 12, &mfk_malloc_allocator);
	begin_cosine(&m, &o, steps);
	mfk_arena_init(&a, &mfk_malloc_allocator, mfk_tf_model_step_bytes(&m, RV_B, RV_MAX, RV_MAX + 1, 1));
	t0 = now();
	for (step = 0; step < steps && ok; step++)
	{
		reversal_batch(&data, src, spad, tgt, tpad, labels, &in);
		ok = mfk_tf_train_step(NULL, &m, &o, &in, &drop, &a, &info) == MF_KOK;
	}
	secs = now() - t0;
	MF_OK(ok, "reversal encoder-decoder trains without error");
	MF_DIAG("reversal: %d steps of batch %d (fresh strings of %d..%d symbols over %d) in %.1f s "
			"(%.2f ms/step), final loss %.4f, peak arena %zu bytes (%.2f MiB) per step, %zu parameters",
			steps, RV_B, RV_MIN, RV_MAX, RV_SYMS, secs, 1e3 * secs / steps, info.loss,
			info.peak_bytes, info.peak_bytes / 1048576.0, m.n_trained);
	t0 = now();
	exact = reversal_exact(&m, &test, RV_TEST);
	MF_DIAG("reversal: greedy exact match %.1f %% on %d held-out strings (decoding %.1f ms each)",
			100 * exact, RV_TEST, 1e3 * (now() - t0) / RV_TEST);
	MF_OK(exact >= 0.95, "string reversal: greedy exact match >= 95 %");
	mfk_arena_free(&a, &mfk_malloc_allocator);
	mfk_tf_model_free(&m);
}

int
main(void)
{
	openblas_set_num_threads(1);
	test_brackets();
	test_reversal();
	return mf_test_done();
}
