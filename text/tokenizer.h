/*
 * tokenizer.h - the text tokenizer of transformer models: a C interface
 * over SentencePiece (Debian libsentencepiece-dev, C++), kept outside the
 * pure-C kernels so they never link C++.
 *
 * Design note: a tokenizer is trained on lines of text (the training
 * column), stored as SentencePiece's serialized model bytes (a protobuf,
 * the artifact keeps them verbatim) and loaded from those bytes by the
 * model module and mf-serve alike.  Training is deterministic: one thread,
 * SentencePiece's random generator seeded from the seed, so the same lines
 * and seed give the same model bytes.  vocab_size is an upper bound
 * (hard_vocab_limit off): small corpora get fewer pieces, and the model's
 * embedding keeps the configured size.  Ids 0, 1, 2 are unk, bos, eos
 * (SentencePiece's defaults); there is no pad piece (models mask padding).
 * Memory: mf_tokenizer_train and mf_tokenizer_decode return malloc'd
 * buffers the caller frees with free(); no C++ exception crosses this
 * interface (every entry point catches and reports).
 */
#ifndef MF_TOKENIZER_H
#define MF_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C"
{
#endif

typedef struct MfTokenizer MfTokenizer;

/* Model kinds SentencePiece trains. */
typedef enum MfTokenizerKind
{
	MF_TOKENIZER_UNIGRAM = 0,
	MF_TOKENIZER_BPE,
	MF_TOKENIZER_CHAR			/* one piece per character */
} MfTokenizerKind;

/*
 * Train on n lines (lens[i] bytes each, UTF-8).  On success 0 and
 * *model / *model_len, the serialized model (malloc'd); else -1 with a
 * lowercase message in err.  Defined in tokenizer_train.cc: a program that
 * calls it links that object and -lsentencepiece_train (mf-serve does not).
 */
extern int	mf_tokenizer_train(const char *const *lines, const size_t *lens,
							   size_t n, int vocab_size, MfTokenizerKind kind,
							   uint64_t seed, unsigned char **model,
							   size_t *model_len, char *err, size_t errlen);
/* Load serialized model bytes; NULL with a message in err. */
extern MfTokenizer *mf_tokenizer_load(const void *model, size_t len, char *err,
									  size_t errlen);
extern void mf_tokenizer_free(MfTokenizer *tok);
/* Pieces of the loaded model (ids are 0 .. size - 1). */
extern int	mf_tokenizer_size(const MfTokenizer *tok);
extern int	mf_tokenizer_bos(const MfTokenizer *tok);
extern int	mf_tokenizer_eos(const MfTokenizer *tok);
/* 1 when generation never emits id: unknown, unused, or control but eos. */
extern int	mf_tokenizer_never_generated(const MfTokenizer *tok, int id);
/*
 * Encode len bytes of text: *n gets the id count; at most cap ids are
 * written (call again with a larger buffer when *n > cap).  0, or -1
 * with a message in err.
 */
extern int	mf_tokenizer_encode(const MfTokenizer *tok, const char *text,
								size_t len, int32_t *ids, size_t cap,
								size_t *n, char *err, size_t errlen);
/* Decode n ids into malloc'd UTF-8 text (NUL-terminated); NULL + err on failure. */
extern char *mf_tokenizer_decode(const MfTokenizer *tok, const int32_t *ids,
								 size_t n, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif							/* MF_TOKENIZER_H */
