/*
 * test_text_run.c - generation through the text runner (text/text_run.h)
 * when the tokenizer has fewer pieces than the model's vocabulary, as a
 * tokenizer trained on a small corpus has (SentencePiece, char kind): the
 * runner never picks an id the tokenizer lacks, so every seed decodes,
 * for a decoder and an encoder-decoder whose LM head favours those ids;
 * and a model whose tokenizer fills its vocabulary generates exactly what
 * the kernels give with only the tokenizer's unknown and control pieces
 * (but eos) skipped, and a model whose LM head favours those pieces never
 * generates them (no unknown sign in its text, no bos mid-sequence),
 * where the kernels without a mask do.  SQL (mf_generate), the HTTP worker and mf-serve all
 * generate through this runner; test/sql/transformer.sql checks
 * mf_generate on a trained model.
 */
#include "text_run.h"
#include "mf_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void openblas_set_num_threads(int);

enum
{
	MAXLEN = 16, N_SEEDS = 20,
	UNK_ID = 0, BOS_ID = 1			/* SentencePiece's defaults (checked below) */
};

static unsigned char *tok;
static size_t tok_len;
static int	tok_size;

/* Train the char tokenizer of the test on a few lines; its size in tok_size. */
static bool
train_tokenizer(void)
{
	static const char *const lines[] = {"abc cab", "bca", "ccc aaa", "acb bac"};
	size_t		lens[4];
	char		err[256] = "";
	MfTokenizer *t;

	for (int i = 0; i < 4; i++)
		lens[i] = strlen(lines[i]);
	if (mf_tokenizer_train(lines, lens, 4, 40, MF_TOKENIZER_CHAR, 1, &tok, &tok_len, err, sizeof(err)) != 0 ||
		(t = mf_tokenizer_load(tok, tok_len, err, sizeof(err))) == NULL)
	{
		MF_DIAG("tokenizer: %s", err);
		return false;
	}
	tok_size = mf_tokenizer_size(t);
	mf_tokenizer_free(t);
	return true;
}

/*
 * Open, with the runner, a model of kind with vocabulary V whose LM head
 * adds bias to the logits of the ids the tokenizer lacks, and special to
 * those of the unknown piece and bos.
 */
static bool
open_model(MfTextRun *tr, MfTfKind kind, size_t V, float bias, float special, void **bytes)
{
	MfArtAllocator heap = {mfk_malloc_allocator.alloc, mfk_malloc_allocator.free, NULL};
	MfTfStackSpec st = {.present = 1, .d_model = 8, .num_layers = 1, .num_heads = 2, .d_ff = 16,
	.activation = "gelu", .feature_redraw_interval = 1000};
	MfTfArtifact a = {.spec = {.kind = kind, .vocab_size = V, .max_length = MAXLEN, .decoder = st},
	.seed = 5, .tokenizer_size = tok_size, .tokenizer = tok, .tokenizer_len = tok_len};
	MfTfModel	m;
	MfArtifactView view;
	size_t		len = 0;
	char		err[256] = "";
	bool		ok;

	if (kind == MF_TF_KIND_ENCODER_DECODER)
	{
		a.spec.encoder = st;
		a.spec.decoder.cross_attention = 1;
		a.task = MF_TF_TASK_SEQ2SEQ;
		a.source_column = "source";
		a.target_column = "target";
	}
	else
	{
		a.task = MF_TF_TASK_LANGUAGE_MODEL;
		a.text_column = "prompt";
	}
	snprintf(a.tokenizer_kind, sizeof(a.tokenizer_kind), "char");
	*bytes = NULL;
	if (mfk_tf_model_init(&m, &a.spec, 7, &mfk_malloc_allocator) != MF_KOK)
		return false;
	for (size_t i = (size_t) tok_size; i < V; i++)
		m.p.lm_b[i] += bias;
	m.p.lm_b[UNK_ID] += special;
	m.p.lm_b[BOS_ID] += special;
	ok = mf_tf_artifact_write(&m, &a, &heap, bytes, &len, err, sizeof(err)) == 0 &&
		mf_artifact_open(*bytes, len, &view, err, sizeof(err)) == MF_ART_OK &&
		mf_text_run_open(tr, &view, &heap, &mfk_malloc_allocator, err, sizeof(err)) == MF_TEXT_OK;
	mfk_tf_model_free(&m);
	if (!ok)
		MF_DIAG("  model: %s", err);
	return ok;
}

/* Options: greedy for seed 0, else sampled at a temperature between 1 and 2. */
static MfTfGenOpts
options(const MfTextRun *tr, uint64_t seed)
{
	MfTfGenOpts o;

	mf_text_gen_defaults(tr, &o);
	o.max_tokens = 8;
	o.seed = seed;
	o.temperature = seed == 0 ? 0.0 : 1.0 + (double) (seed % 5) / 4.0;
	return o;
}

/* The kernels' generation with options o alone (bos + the prompt's ids); its ids in out. */
static size_t
kernel_generate(MfTextRun *tr, const char *prompt, const MfTfGenOpts *o, int32_t *out)
{
	MfEnv		env = {mfk_malloc_allocator, NULL, NULL};
	int32_t		in[MAXLEN];
	size_t		n = 0,
				got = 0;
	MfArena		arena;
	char		err[256];

	memset(&arena, 0, sizeof(arena));
	in[0] = tr->bos;
	if (mf_tokenizer_encode(tr->tok, prompt, strlen(prompt), in + 1, MAXLEN - 1, &n, err, sizeof(err)) != 0 ||
		mfk_arena_init(&arena, &mfk_malloc_allocator, mfk_tf_model_step_bytes(&tr->model, 1, 0, MAXLEN, 0)) != MF_KOK ||
		mfk_tf_generate(&env, &tr->model, in, n + 1, o, &arena, out, &got) != MF_KOK)
		got = (size_t) -1;
	mfk_arena_free(&arena, &mfk_malloc_allocator);
	return got;
}

/* A vocabulary larger than the tokenizer, its extra ids favoured: every seed decodes. */
static void
test_smaller_tokenizer(MfTfKind kind, const char *label)
{
	MfEnv		env = {mfk_malloc_allocator, NULL, NULL};
	MfTextRun	tr;
	void	   *bytes;
	int32_t		ids[8];
	size_t		n;
	int			decoded = 0,
				lacked = 0;
	char		err[256],
				name[200];

	snprintf(name, sizeof(name), "%s: the model (vocab_size 40) opens through the runner", label);
	if (!MF_OK(open_model(&tr, kind, 40, 3.0f, 0.0f, &bytes), name))
		return;
	for (uint64_t s = 0; s < N_SEEDS; s++)
	{
		MfTfGenOpts o = options(&tr, s);
		char	   *text = NULL;

		if (mf_text_run_generate(&env, &tr, "abc", 3, &o, &text, err, sizeof(err)) == MF_TEXT_OK)
			decoded++;
		else
			MF_DIAG("  seed %d: %s", (int) s, err);
		free(text);
		/* the same options without the limit pick ids the tokenizer lacks (decoder only: same layout) */
		n = kind == MF_TF_KIND_DECODER ? kernel_generate(&tr, "abc", &o, ids) : 0;
		for (size_t i = 0; n != (size_t) -1 && i < n; i++)
			lacked |= ids[i] >= tok_size;
	}
	snprintf(name, sizeof(name), "%s, %d pieces for vocab_size 40: %d seeds (greedy, sampled) all decode",
			 label, tok_size, N_SEEDS);
	MF_OK(tok_size < 40 && decoded == N_SEEDS && (kind != MF_TF_KIND_DECODER || lacked), name);
	mf_text_run_close(&tr);
	free(bytes);
}

/*
 * A tokenizer that fills the vocabulary: the runner's text is the kernels'
 * text with the tokenizer's unknown and control pieces but eos skipped;
 * with those pieces favoured (special > 0) the kernels without the mask
 * pick them for some seed, and the runner's text never holds the unknown
 * sign.
 */
static void
test_full_tokenizer(float special, const char *name)
{
	MfEnv		env = {mfk_malloc_allocator, NULL, NULL};
	MfTextRun	tr;
	void	   *bytes;
	int32_t		ids[8];
	uint8_t		skip[64];
	int			same = 0,
				picked = 0,
				sign = 0;
	char		err[256];

	if (!MF_OK(open_model(&tr, MF_TF_KIND_DECODER, (size_t) tok_size, 0.0f, special, &bytes),
			   "a decoder whose vocabulary is the tokenizer's opens through the runner"))
		return;
	for (int i = 0; i < tok_size && i < 64; i++)
		skip[i] = (uint8_t) mf_tokenizer_never_generated(tr.tok, i);
	if (special == 0.0f)
		MF_OK(tok_size <= 64 && skip[UNK_ID] && skip[BOS_ID] && !skip[tr.eos] && !skip[tr.eos + 1],
			  "the tokenizer's unknown piece and bos are never generated, eos and a character are");
	for (uint64_t s = 0; s < N_SEEDS; s++)
	{
		MfTfGenOpts o = options(&tr, s);
		char	   *text = NULL,
				   *want = NULL;
		size_t		n = kernel_generate(&tr, "abc", &o, ids);

		for (size_t i = 0; n != (size_t) -1 && i < n; i++)
			picked |= ids[i] == UNK_ID || ids[i] == BOS_ID;
		o.skip = skip;
		n = kernel_generate(&tr, "abc", &o, ids);
		if (n != (size_t) -1)
			want = mf_tokenizer_decode(tr.tok, ids, n, err, sizeof(err));
		o.skip = NULL;
		if (mf_text_run_generate(&env, &tr, "abc", 3, &o, &text, err, sizeof(err)) == MF_TEXT_OK &&
			want != NULL && strcmp(text, want) == 0)
			same++;
		sign |= text != NULL && strstr(text, "\xe2\x81\x87") != NULL;
		free(text);
		free(want);
	}
	MF_OK(same == N_SEEDS && !sign && (special == 0.0f || picked), name);
	mf_text_run_close(&tr);
	free(bytes);
}

int
main(void)
{
	openblas_set_num_threads(1);
	if (!train_tokenizer())
		return 1;
	test_smaller_tokenizer(MF_TF_KIND_DECODER, "decoder");
	test_smaller_tokenizer(MF_TF_KIND_ENCODER_DECODER, "encoder-decoder");
	test_full_tokenizer(0.0f, "vocab_size = the tokenizer's pieces: the runner's text is the kernels' text "
						"skipping unknown and control pieces, every seed");
	test_full_tokenizer(4.0f, "unknown piece and bos favoured: the kernels pick them, the runner never does "
						"(its text is the masked kernels', every seed)");
	free(tok);
	return mf_test_done();
}
