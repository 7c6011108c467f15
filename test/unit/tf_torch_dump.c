/*
 * tf_torch_dump.c - a seeded transformer model, one batch and what the C
 * kernels compute on it, as JSON, for the PyTorch differential test
 * (test/integration/transformer_torch.sh runs test/integration/tf_torch.py
 * on this output).
 *
 *   tf_torch_dump KIND ACT TIED SEED
 *
 * KIND is encoder (classifier, mean pooling), decoder (causal LM) or
 * encdec (encoder-decoder with cross-attention); ACT an FFN activation name
 * (gelu, relu, geglu, ...); TIED 1 ties lm_head to the decoder's token
 * embedding.  The model is built by mfk_tf_model_init from SEED, then every
 * float is moved by U(-0.1, 0.1) so biases and norms are not the trivial
 * 0/1 of the initialisation.  Printed: the dimensions, the batch (ids,
 * padding masks, labels), every stored tensor in state_dict order ("name",
 * "shape", "data"), then the evaluation outputs (the last stack's normed
 * output "out" and "logits"), the training forward's mean loss "loss"
 * (dropout 0) and every parameter's gradient "grads" (same order).  Floats
 * are printed with %.9g, which reads back as the same float32.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transformer_model.h"

#define D_MODEL 32
#define N_HEADS 4
#define N_LAYERS 2
#define D_FF 48
#define VOCAB 23
#define MAX_LEN 12
#define N_CLASSES 3
#define BATCH 3
#define SRC_LEN 9
#define TGT_LEN 7

/* A stack spec of the test's shape. */
static MfTfStackSpec
stack_spec(const char *act)
{
	MfTfStackSpec st;

	memset(&st, 0, sizeof(st));
	st.present = 1;
	st.d_model = D_MODEL;
	st.num_layers = N_LAYERS;
	st.num_heads = N_HEADS;
	st.d_ff = D_FF;
	st.dropout = 0.0;
	st.attention = MF_TF_ATTN_SOFTMAX;
	snprintf(st.activation, sizeof(st.activation), "%s", act);
	st.norm = MF_TF_LAYERNORM;
	return st;
}

/* Print n floats as a JSON array. */
static void
print_floats(const float *x, size_t n)
{
	size_t		i;

	putchar('[');
	for (i = 0; i < n; i++)
		printf("%s%.9g", i ? "," : "", (double) x[i]);
	putchar(']');
}

/* Print n ints as a JSON array. */
static void
print_ints(const int32_t *x, size_t n)
{
	size_t		i;

	putchar('[');
	for (i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", (int) x[i]);
	putchar(']');
}

/* Print n flags as a JSON array of 0/1. */
static void
print_flags(const unsigned char *x, size_t n)
{
	size_t		i;

	putchar('[');
	for (i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", x[i] ? 1 : 0);
	putchar(']');
}

/* Every tensor (or its gradient) of the model, in state_dict order. */
static void
print_tensors(const MfTfModel *m, const float *base)
{
	int			k;

	putchar('[');
	for (k = 0; k < m->n_tensors; k++)
	{
		const MfTfNamedTensor *t = &m->tensors[k];

		printf("%s{\"name\":\"%s\",\"trained\":%d,\"shape\":", k ? ",\n" : "", t->name,
			   t->trained);
		if (t->cols == 0)
			printf("[%zu],\"data\":", t->rows);
		else
			printf("[%zu,%zu],\"data\":", t->rows, t->cols);
		print_floats(base + t->offset, t->rows * (t->cols == 0 ? 1 : t->cols));
		putchar('}');
	}
	putchar(']');
}

/* Ids and trailing padding: sequence b keeps len - b tokens (at least 2). */
static void
make_batch(MfRng *r, size_t len, int32_t *ids, unsigned char *pad)
{
	size_t		b,
				t;

	for (b = 0; b < BATCH; b++)
		for (t = 0; t < len; t++)
		{
			ids[b * len + t] = (int32_t) mfk_rng_below(r, VOCAB);
			pad[b * len + t] = t >= len - 2 * b;
		}
}

/* Build, perturb, run, print. */
int
main(int argc, char **argv)
{
	MfTfSpec	s;
	MfTfModel	m;
	MfTfInput	in;
	MfTfFwd		f;
	MfArena		a;
	MfRng		r,
				drop;
	MfEnv		env;
	int32_t		src[BATCH * SRC_LEN],
				tgt[BATCH * TGT_LEN],
				labels[BATCH * TGT_LEN];
	unsigned char src_pad[BATCH * SRC_LEN],
				tgt_pad[BATCH * TGT_LEN];
	const float *out;
	size_t		i,
				n_out;
	uint64_t	seed;

	if (argc != 5)
	{
		fprintf(stderr, "usage: tf_torch_dump encoder|decoder|encdec ACT TIED SEED\n");
		return 2;
	}
	seed = strtoull(argv[4], NULL, 10);
	memset(&s, 0, sizeof(s));
	s.vocab_size = VOCAB;
	s.max_length = MAX_LEN;
	s.pool = MF_TF_POOL_MEAN;
	if (strcmp(argv[1], "encoder") == 0)
		s.kind = MF_TF_KIND_ENCODER, s.num_classes = N_CLASSES;
	else if (strcmp(argv[1], "decoder") == 0)
		s.kind = MF_TF_KIND_DECODER;
	else if (strcmp(argv[1], "encdec") == 0)
		s.kind = MF_TF_KIND_ENCODER_DECODER;
	else
	{
		fprintf(stderr, "tf_torch_dump: unknown kind %s\n", argv[1]);
		return 2;
	}
	if (s.kind != MF_TF_KIND_DECODER)
		s.encoder = stack_spec(argv[2]);
	if (s.kind != MF_TF_KIND_ENCODER)
	{
		s.decoder = stack_spec(argv[2]);
		s.decoder.cross_attention = s.kind == MF_TF_KIND_ENCODER_DECODER;
		s.tie_lm_head = atoi(argv[3]) != 0;
	}
	if (mfk_tf_model_init(&m, &s, seed, &mfk_malloc_allocator) != MF_KOK)
	{
		fprintf(stderr, "tf_torch_dump: model init failed\n");
		return 1;
	}
	mfk_rng_seed(&r, seed + 1);
	for (i = 0; i < m.n_floats; i++)
		m.params[i] += (float) mfk_rng_uniform_range(&r, -0.1, 0.1);
	make_batch(&r, SRC_LEN, src, src_pad);
	make_batch(&r, TGT_LEN, tgt, tgt_pad);
	for (i = 0; i < BATCH * TGT_LEN; i++)
		labels[i] = (int32_t) mfk_rng_below(&r, s.kind == MF_TF_KIND_ENCODER ? N_CLASSES : VOCAB);
	memset(&in, 0, sizeof(in));
	in.B = BATCH;
	in.S = SRC_LEN;
	in.src = src;
	in.src_pad = src_pad;
	in.T = TGT_LEN;
	in.tgt = tgt;
	in.tgt_pad = tgt_pad;
	in.labels = labels;
	memset(&env, 0, sizeof(env));
	env.alloc = mfk_malloc_allocator;
	mfk_rng_seed(&drop, seed + 2);

	printf("{\"kind\":\"%s\",\"act\":\"%s\",\"tied\":%d,\"d_model\":%d,\"nhead\":%d,"
		   "\"num_layers\":%d,\"d_ff\":%d,\"vocab\":%d,\"max_length\":%d,\"classes\":%d,"
		   "\"eps\":1e-5,\n\"B\":%d,\"S\":%d,\"T\":%d,\n\"src\":",
		   argv[1], argv[2], s.tie_lm_head, D_MODEL, N_HEADS, N_LAYERS, D_FF, VOCAB,
		   MAX_LEN, s.kind == MF_TF_KIND_ENCODER ? N_CLASSES : 0, BATCH, SRC_LEN, TGT_LEN);
	print_ints(src, BATCH * SRC_LEN);
	printf(",\n\"src_pad\":");
	print_flags(src_pad, BATCH * SRC_LEN);
	printf(",\n\"tgt\":");
	print_ints(tgt, BATCH * TGT_LEN);
	printf(",\n\"tgt_pad\":");
	print_flags(tgt_pad, BATCH * TGT_LEN);
	printf(",\n\"labels\":");
	print_ints(labels, s.kind == MF_TF_KIND_ENCODER ? BATCH : BATCH * TGT_LEN);
	printf(",\n\"tensors\":");
	print_tensors(&m, m.params);

	/* evaluation forward: outputs */
	if (mfk_arena_init(&a, &mfk_malloc_allocator,
					   mfk_tf_model_step_bytes(&m, BATCH, SRC_LEN, TGT_LEN, 1)) != MF_KOK ||
		mfk_tf_model_forward(&env, &m, &in, NULL, &a, &f) != MF_KOK)
	{
		fprintf(stderr, "tf_torch_dump: forward failed\n");
		return 1;
	}
	out = s.kind == MF_TF_KIND_ENCODER ? f.enc.out : f.dec.out;
	n_out = (s.kind == MF_TF_KIND_ENCODER ? BATCH * SRC_LEN : BATCH * TGT_LEN) * D_MODEL;
	printf(",\n\"out\":");
	print_floats(out, n_out);
	printf(",\n\"logits\":");
	print_floats(f.logits, f.rows * f.k);

	/* training forward (dropout 0) and backward: loss and gradients */
	mfk_arena_release(&a, 0);
	memset(m.grads, 0, m.n_floats * sizeof(float));
	if (mfk_tf_model_forward(&env, &m, &in, &drop, &a, &f) != MF_KOK ||
		mfk_tf_model_backward(&env, &m, &in, &f, &a) != MF_KOK)
	{
		fprintf(stderr, "tf_torch_dump: training step failed\n");
		return 1;
	}
	printf(",\n\"loss\":%.9g,\n\"grads\":", f.loss);
	print_tensors(&m, m.grads);
	printf("}\n");
	mfk_arena_free(&a, &mfk_malloc_allocator);
	mfk_tf_model_free(&m);
	return 0;
}
