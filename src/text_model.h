/*
 * text_model.h - transformer text models inside the server: the tokenizer
 * (text/, SentencePiece) and the model module's transformer artifact
 * (model/model_transformer.h) joined through text/text_run.h (the pure-C
 * runner the HTTP servers share), with SQLSTATEs, palloc and cancels; how a
 * text becomes token ids, for training and prediction alike (text_model.c).
 *
 * Design note
 * -----------
 * One owner of the token layout, used by training (train_transformer.c)
 * and every prediction (predict_text.c), so both see the same ids:
 *   - an encoder reads the text's ids, cut to max_length (an empty text is
 *     one eos token);
 *   - a decoder reads bos + ids + eos; training cuts the sequence to
 *     max_length + 1 tokens (inputs are all but the last, labels all but the
 *     first); generation continues bos + the prompt's ids;
 *   - an encoder-decoder reads the source as an encoder does and the target
 *     as a decoder does (bos + ids, labels ids + eos).
 * The tokenizer is a C++ object outside palloc: its model context frees it
 * through a reset callback, so deleting the context (cache eviction, an
 * ERROR) never leaks it.  Each call's activations come from an arena sized
 * for that call's sequences (never from the stored max_length alone, so an
 * artifact cannot make the loader allocate more than its own size implies),
 * in the caller's memory context.  This header
 * includes mf_kernels.h, so never mf_config.h.
 */
#ifndef MF_TEXT_MODEL_H
#define MF_TEXT_MODEL_H

#include "postgres.h"

#include "model_transformer.h"
#include "text_run.h"
#include "tokenizer.h"

/* A loaded text model (everything in the context it was opened in; text/text_run.h). */
typedef MfTextRun MfTextModel;

/* Tokenizer kinds by option name ("unigram", "bpe", "char"); -1 when none. */
extern int	MfTokenizerKindFromName(const char *name);

/* Open a transformer artifact (view checked) into the current context; XX001 when refused. */
extern MfTextModel *MfTextModelOpen(const MfArtifactView *view, const char *ref);
/* A tokenizer from model bytes, freed with the current memory context. */
extern MfTokenizer *MfTokenizerLoadPg(const void *bytes, size_t len, const char *what);

/* Token ids of len bytes of text (palloc'd, *n ids, at most cap); raises on failure. */
extern int32 *MfTextIds(MfTokenizer *tok, const char *text, size_t len, size_t cap, size_t *n);

/* Decoder inputs bos + ids and labels ids + eos of a text (at most L each); their length. */
extern size_t MfTextDecoderIds(MfTokenizer *tok, int32 bos, int32 eos, size_t L,
							   const char *text, int32 **tgt, int32 **lab);
/* Class probabilities (n_labels) of one text; returns the class index. */
extern int	MfTextClassify(MfTextModel *tm, const char *text, size_t len, double *proba);
/* Summed cross-entropy of a decoder LM on one text (*tokens predicted tokens). */
extern double MfTextTokenLoss(MfTextModel *tm, const char *text, size_t *tokens);
/* The same of an encoder-decoder's target given its source (*right: argmax hits). */
extern double MfTextPairLoss(MfTextModel *tm, const char *source, const char *target,
							 size_t *tokens, size_t *right);
/* The pooled encoder output (d_model floats, palloc'd) of one text. */
extern float *MfTextEmbed(MfTextModel *tm, const char *text, size_t len, size_t *d);
/* Generation options (mf_generate's options object, checked). */
extern void MfTextGenOptions(MfTextModel *tm, Jsonb *options, MfTfGenOpts *o);
/* Generate text from a prompt (decoder: continue it; encoder-decoder: its output). */
extern char *MfTextGenerate(MfTextModel *tm, const char *prompt, size_t len, const MfTfGenOpts *o);

#endif							/* MF_TEXT_MODEL_H */
