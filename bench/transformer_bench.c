/*
 * transformer_bench.c - our side of bench/transformer.sh: time per training
 * step and per inference batch of a transformer built by the kernels
 * (kernels/transformer_model.h), and its memory.
 *
 *   transformer_bench KIND B T D LAYERS HEADS DFF VOCAB STEPS THREADS
 *
 * KIND encoder (classifier, 2 classes, mean pooling) or decoder (causal LM,
 * untied head); GELU, LayerNorm, dropout 0.1, AdamW lr 1e-3 wd 0.01, global
 * clip 1.0 (the peer's settings).  Random ids and labels from a fixed seed,
 * no padding.  THREADS goes to openblas_set_num_threads.  Measured:
 *   train_ms  median of STEPS calls of mfk_tf_train_step (forward, backward,
 *             clip, AdamW) after 2 warm-up steps;
 *   infer_ms  median of STEPS evaluation forwards of the same batch, without
 *             labels (logits only: no loss, as the peer's inference);
 *   train_cpu_ms, infer_cpu_ms  the same medians in CPU time of the process
 *             (CLOCK_PROCESS_CPUTIME_ID): on a machine shared with other
 *             work, time spent waiting for a core is not counted;
 *   arena     the arena's peak bytes of a training step (every activation,
 *             backward buffer and layer scratch: mfk_tf_model_step_bytes)
 *             and of an inference batch;
 *   rss_kb    growth of the process's peak RSS (VmHWM, /proc/self/status) from
 *             just before the model is built to the end: parameters,
 *             gradients, optimiser moments and the arena (what the peer's
 *             rss_kb measures the same way);
 *   params    trained floats.
 * One JSON object on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transformer_model.h"

extern void openblas_set_num_threads(int);

/* Seconds of a clock. */
static double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Seconds of the monotonic clock (wall time). */
static double
now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* CPU seconds of this process, every thread (what a loaded machine does not inflate by waiting). */
static double
cpu_now(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

/*
 * Peak RSS of this address space in KiB (VmHWM of /proc/self/status; not
 * getrusage's ru_maxrss, which Linux carries over from the parent across
 * fork and execve, so a child of a large Python process starts at its peak).
 */
static long
maxrss_kb(void)
{
	FILE	   *f = fopen("/proc/self/status", "r");
	char		line[256];
	long		kb = -1;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld", &kb) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return kb;
}

/* Ascending order of doubles for qsort. */
static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Median of n doubles (sorts them). */
static double
median(double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The benchmark's spec. */
static MfTfSpec
bench_spec(int decoder, size_t T, size_t d, size_t layers, size_t heads,
		   size_t dff, size_t vocab)
{
	MfTfSpec	s;
	MfTfStackSpec st;

	memset(&s, 0, sizeof(s));
	memset(&st, 0, sizeof(st));
	st.present = 1;
	st.d_model = d;
	st.num_layers = layers;
	st.num_heads = heads;
	st.d_ff = dff;
	st.dropout = 0.1;
	st.attention = MF_TF_ATTN_SOFTMAX;
	snprintf(st.activation, sizeof(st.activation), "gelu");
	st.norm = MF_TF_LAYERNORM;
	s.vocab_size = vocab;
	s.max_length = T;
	s.pool = MF_TF_POOL_MEAN;
	if (decoder)
		s.kind = MF_TF_KIND_DECODER, s.decoder = st;
	else
		s.kind = MF_TF_KIND_ENCODER, s.encoder = st, s.num_classes = 2;
	return s;
}

int
main(int argc, char **argv)
{
	MfTfSpec	s;
	MfTfModel	m;
	MfTfTrainOpts o;
	MfTfStepInfo info;
	MfTfInput	in,
				infer;
	MfTfFwd		f;
	MfArena		a;
	MfRng		r,
				drop;
	int			decoder,
				steps,
				i;
	size_t		B,
				T,
				k,
				infer_peak;
	int32_t    *ids,
			   *labels;
	double	   *t_train,
			   *t_infer,
			   *c_train,
			   *c_infer,
				t0,
				c0;
	long		rss0;

	if (argc != 11)
	{
		fprintf(stderr, "usage: transformer_bench encoder|decoder B T D LAYERS HEADS DFF VOCAB STEPS THREADS\n");
		return 2;
	}
	decoder = strcmp(argv[1], "decoder") == 0;
	B = strtoul(argv[2], NULL, 10);
	T = strtoul(argv[3], NULL, 10);
	steps = atoi(argv[9]);
	openblas_set_num_threads(atoi(argv[10]));
	s = bench_spec(decoder, T, strtoul(argv[4], NULL, 10), strtoul(argv[5], NULL, 10),
				   strtoul(argv[6], NULL, 10), strtoul(argv[7], NULL, 10),
				   strtoul(argv[8], NULL, 10));
	ids = malloc(B * T * sizeof(int32_t));
	labels = malloc(B * T * sizeof(int32_t));
	t_train = malloc(steps * sizeof(double));
	t_infer = malloc(steps * sizeof(double));
	c_train = malloc(steps * sizeof(double));
	c_infer = malloc(steps * sizeof(double));
	mfk_rng_seed(&r, 1);
	mfk_rng_seed(&drop, 2);
	for (k = 0; k < B * T; k++)
	{
		ids[k] = (int32_t) mfk_rng_below(&r, s.vocab_size);
		labels[k] = (int32_t) mfk_rng_below(&r, decoder ? s.vocab_size : 2);
	}
	memset(&in, 0, sizeof(in));
	in.B = B;
	if (decoder)
		in.T = T, in.tgt = ids;
	else
		in.S = T, in.src = ids;
	in.labels = labels;

	rss0 = maxrss_kb();
	if (mfk_tf_model_init(&m, &s, 3, &mfk_malloc_allocator) != MF_KOK ||
		mfk_arena_init(&a, &mfk_malloc_allocator,
					   mfk_tf_model_step_bytes(&m, B, decoder ? 0 : T, decoder ? T : 0, 1)) != MF_KOK)
	{
		fprintf(stderr, "transformer_bench: cannot build the model\n");
		return 1;
	}
	mfk_tf_train_defaults(&o);
	mfk_tf_train_begin(&m, &o);
	for (i = -2; i < steps; i++)
	{
		t0 = now();
		c0 = cpu_now();
		if (mfk_tf_train_step(NULL, &m, &o, &in, &drop, &a, &info) != MF_KOK)
		{
			fprintf(stderr, "transformer_bench: training step failed\n");
			return 1;
		}
		if (i >= 0)
		{
			t_train[i] = 1e3 * (now() - t0);
			c_train[i] = 1e3 * (cpu_now() - c0);
		}
	}
	infer = in;
	infer.labels = NULL;
	for (i = -1; i < steps; i++)
	{
		t0 = now();
		c0 = cpu_now();
		mfk_arena_release(&a, 0);
		a.peak = 0;
		if (mfk_tf_model_forward(NULL, &m, &infer, NULL, &a, &f) != MF_KOK)
		{
			fprintf(stderr, "transformer_bench: inference failed\n");
			return 1;
		}
		if (i >= 0)
		{
			t_infer[i] = 1e3 * (now() - t0);
			c_infer[i] = 1e3 * (cpu_now() - c0);
		}
	}
	infer_peak = a.peak;
	printf("{\"side\": \"mf_ext\", \"train_ms\": %.3f, \"infer_ms\": %.3f, "
		   "\"train_cpu_ms\": %.3f, \"infer_cpu_ms\": %.3f, "
		   "\"arena_train_bytes\": %zu, \"arena_infer_bytes\": %zu, \"rss_kb\": %ld, "
		   "\"params\": %zu, \"loss\": %.4f}\n",
		   median(t_train, steps), median(t_infer, steps), median(c_train, steps),
		   median(c_infer, steps), info.peak_bytes, infer_peak,
		   maxrss_kb() - rss0, m.n_trained, info.loss);
	mfk_arena_free(&a, &mfk_malloc_allocator);
	mfk_tf_model_free(&m);
	return 0;
}
