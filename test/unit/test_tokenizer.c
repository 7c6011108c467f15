/*
 * test_tokenizer.c - the SentencePiece shim (text/tokenizer.h): training
 * on lines this test generates with a seed, determinism of the serialized
 * model (same lines and seed, same bytes, also after another training in
 * between), encode/decode round trips on held-out lines, special ids, and
 * refusal of bad model bytes and bad ids.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_test.h"
#include "tokenizer.h"

enum
{
	N_LINES = 3000, N_HELD = 200, LINE_MAX = 160
};

/* A tiny deterministic generator (xorshift64*). */
static uint64_t
next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* A line of 3..10 words made of 1..3 syllables. */
static void
make_line(uint64_t *s, char *buf)
{
	static const char *const syl[] = {"ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "zen",
	"pra", "dul", "qua", "ber", "fin", "gos", "hal"};
	int			words = 3 + (int) (next_rand(s) % 8),
				w,
				k,
				n;

	buf[0] = '\0';
	for (w = 0; w < words; w++)
	{
		n = 1 + (int) (next_rand(s) % 3);
		if (w > 0)
			strcat(buf, " ");
		for (k = 0; k < n; k++)
			strcat(buf, syl[next_rand(s) % 16]);
	}
}

/* Train on the first n lines; the model bytes. */
static unsigned char *
train(char **lines, size_t n, int vocab, uint64_t seed, size_t *len)
{
	size_t	   *lens = malloc(n * sizeof(size_t)),
				i;
	unsigned char *model = NULL;
	char		err[256] = "";

	for (i = 0; i < n; i++)
		lens[i] = strlen(lines[i]);
	if (mf_tokenizer_train((const char *const *) lines, lens, n, vocab, MF_TOKENIZER_UNIGRAM,
						   seed, &model, len, err, sizeof(err)) != 0)
		MF_DIAG("training failed: %s", err);
	free(lens);
	return model;
}

int
main(void)
{
	char	  **lines = malloc((N_LINES + N_HELD) * sizeof(char *));
	uint64_t	s = 20261206;
	unsigned char *m1,
			   *m2,
			   *m3;
	size_t		l1 = 0,
				l2 = 0,
				l3 = 0,
				i,
				n,
				tokens = 0,
				bytes = 0;
	MfTokenizer *tok;
	char		err[256] = "";
	int32_t		ids[LINE_MAX];
	int			round = 1,
				enc_ok = 1;

	for (i = 0; i < N_LINES + N_HELD; i++)
	{
		lines[i] = malloc(LINE_MAX);
		make_line(&s, lines[i]);
	}
	m1 = train(lines, N_LINES, 200, 7, &l1);
	MF_OK(m1 != NULL && l1 > 0, "a unigram tokenizer trains on 3000 lines, vocab_size 200");
	m3 = train(lines, N_LINES / 2, 120, 8, &l3);
	m2 = train(lines, N_LINES, 200, 7, &l2);
	MF_OK(m2 != NULL && l1 == l2 && memcmp(m1, m2, l1) == 0,
		  "same lines and seed: the same serialized model bytes (another training in between)");
	MF_OK(m3 != NULL && (l3 != l1 || memcmp(m1, m3, l1) != 0), "other lines: another model");
	tok = mf_tokenizer_load(m1, l1, err, sizeof(err));
	MF_OK(tok != NULL, "the serialized model loads");
	if (tok == NULL)
		return mf_test_done();
	MF_OK(mf_tokenizer_size(tok) > 50 && mf_tokenizer_size(tok) <= 200,
		  "piece count within vocab_size");
	MF_OK(mf_tokenizer_bos(tok) == 1 && mf_tokenizer_eos(tok) == 2, "bos 1, eos 2");
	for (i = N_LINES; i < N_LINES + N_HELD; i++)
	{
		char	   *back;
		size_t		j;

		enc_ok &= mf_tokenizer_encode(tok, lines[i], strlen(lines[i]), ids, LINE_MAX, &n,
									  err, sizeof(err)) == 0 && n <= LINE_MAX;
		for (j = 0; j < n && j < LINE_MAX; j++)
			enc_ok &= ids[j] > 2 && ids[j] < mf_tokenizer_size(tok);
		back = mf_tokenizer_decode(tok, ids, n, err, sizeof(err));
		round &= back != NULL && strcmp(back, lines[i]) == 0;
		tokens += n;
		bytes += strlen(lines[i]);
		free(back);
	}
	MF_OK(enc_ok, "held-out lines encode to known pieces (no unk)");
	MF_OK(round, "decode(encode(line)) == line on 200 held-out lines");
	{
		uint64_t	h = 1469598103934665603ULL;	/* FNV-1a: compare across runs */

		for (i = 0; i < l1; i++)
			h = (h ^ m1[i]) * 1099511628211ULL;
		MF_DIAG("%zu pieces, %.2f bytes per token on held-out lines, model %zu bytes, FNV-1a %016llx",
				(size_t) mf_tokenizer_size(tok), (double) bytes / tokens, l1,
				(unsigned long long) h);
	}
	MF_OK(mf_tokenizer_encode(tok, "kaxyz", 5, ids, 1, &n, err, sizeof(err)) == 0 && n > 1,
		  "encode reports the id count beyond cap");
	ids[0] = 5, ids[1] = mf_tokenizer_size(tok);
	MF_OK(mf_tokenizer_decode(tok, ids, 2, err, sizeof(err)) == NULL &&
		  strcmp(err, "tokenizer decode: id out of range") == 0, "an id out of range is refused");
	MF_OK(mf_tokenizer_load("not a model", 11, err, sizeof(err)) == NULL &&
		  strncmp(err, "invalid tokenizer model", 23) == 0, "bad model bytes are refused");
	MF_OK(train(lines, 0, 200, 7, &l3) == NULL, "no lines: refused");
	mf_tokenizer_free(tok);
	free(m1), free(m2), free(m3);
	for (i = 0; i < N_LINES + N_HELD; i++)
		free(lines[i]);
	free(lines);
	return mf_test_done();
}
