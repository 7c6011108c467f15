/*
 * text_run.h - running a transformer text model: its artifact, the kernels'
 * model and the tokenizer joined, and the one copy of the token layout of
 * prediction (classify, embed, generate) and of the generation options.
 * Pure C11 (+ jansson, the kernels, the tokenizer's C interface); no
 * PostgreSQL.  The SQL functions (src/text_model.c, errors raised there)
 * and the HTTP servers (serve/text.c) call it, so both give the same
 * answers bit for bit.
 *
 * Design note
 * -----------
 * Token layout (used by training too, through src/text_model.c):
 *   - an encoder reads the text's ids cut to max_length (an empty text is
 *     one eos token);
 *   - a decoder continues bos + the prompt's ids (the last max_length);
 *   - an encoder-decoder reads the source as an encoder does.
 * Memory: every call takes an MfEnv; its allocator gives the ids, the
 * arena of the call (sized from that call's sequences, never from the
 * stored max_length alone) and the answer.  A model is read-only once
 * opened: calls may run on many threads at once, each with its own env.
 * Errors: an MfTextStatus and a lowercase message in err.
 */
#ifndef MF_TEXT_RUN_H
#define MF_TEXT_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model_transformer.h"
#include "tokenizer.h"

/* Outcome of the text functions. */
typedef enum MfTextStatus
{
	MF_TEXT_OK = 0,
	MF_TEXT_BAD_ARTIFACT,		/* artifact members or floats refused */
	MF_TEXT_BAD_TOKENIZER,		/* the tokenizer's bytes do not load */
	MF_TEXT_TOKENIZER_MISMATCH, /* more pieces than vocab_size, or no bos/eos */
	MF_TEXT_BAD_TEXT,			/* the tokenizer refused the text */
	MF_TEXT_NOMEM,
	MF_TEXT_KERNEL,				/* a kernel status (cancel included) */
	MF_TEXT_DECODE,				/* generated ids that do not decode */
	MF_TEXT_BAD_OPTION			/* a generation option */
} MfTextStatus;

/* A loaded text model (src/text_model.h calls it MfTextModel). */
typedef struct MfTextRun
{
	MfTfArtifact art;
	MfTfModel	model;
	MfTokenizer *tok;
	int32_t		bos;
	int32_t		eos;
	bool		labels_numeric; /* classifiers: every label reads as a number */
	double	   *label_values;	/* n_labels (at least one element) */
	uint8_t    *never;			/* one per tokenizer piece: 1 when generation
								 * skips it (unknown, control but eos) */
} MfTextRun;

/*
 * Open a transformer artifact (an open, checked view): members from alloc,
 * the model's floats from kalloc, the tokenizer loaded (free it with
 * mf_text_run_close, or the caller's own way).  MF_TEXT_OK, or a status
 * with the message in err (BAD_ARTIFACT: "member: detail").
 */
extern MfTextStatus mf_text_run_open(MfTextRun *tr, const MfArtifactView *view,
									 const MfArtAllocator *alloc, const MfAllocator *kalloc,
									 char *err, size_t errlen);
/* Free the tokenizer of an open model (memory from the allocators is the caller's). */
extern void mf_text_run_close(MfTextRun *tr);

/* Token ids of len bytes of text (*ids from env->alloc, *n of them, at most cap). */
extern MfTextStatus mf_text_run_ids(const MfTokenizer *tok, const MfAllocator *alloc,
									const char *text, size_t len, size_t cap,
									int32_t **ids, size_t *n, char *err, size_t errlen);

/*
 * Class probabilities (n_labels doubles) of one text and its class index
 * (classifiers); emb: NULL, or d_model floats for the pooled output of the
 * same forward (what mf_text_run_embed gives).
 */
extern MfTextStatus mf_text_run_classify(const MfEnv *env, MfTextRun *tr, const char *text,
										 size_t len, double *proba, int *k, float *emb,
										 char *err, size_t errlen);
/* The pooled encoder output (d_model floats into out) of one text. */
extern MfTextStatus mf_text_run_embed(const MfEnv *env, MfTextRun *tr, const char *text,
									  size_t len, float *out, char *err, size_t errlen);

/* The value mf_predict gives for class k (the label's number, else k). */
extern double mf_text_run_value(const MfTextRun *tr, int k);

/* Default generation options of a model. */
extern void mf_text_gen_defaults(const MfTextRun *tr, MfTfGenOpts *o);
/*
 * Apply one generation option (greedy, temperature, top_k, max_tokens,
 * seed) given as JSON; BAD_OPTION with *must set to what it must be
 * (NULL: the option is unknown).  Apply "greedy": true last
 * (mf_text_gen_finish).
 */
struct json_t;
extern MfTextStatus mf_text_gen_option(MfTfGenOpts *o, const char *key, const struct json_t *v,
									   const char **must);
/* After every option: greedy true wins over a temperature. */
extern void mf_text_gen_finish(MfTfGenOpts *o, bool greedy_true);

/*
 * Generate from a prompt: *out malloc'd UTF-8 text (free()) (decoders,
 * encoder-decoders).  Only the tokenizer's ids are chosen: a tokenizer
 * trained on little text has fewer pieces than vocab_size.
 */
extern MfTextStatus mf_text_run_generate(const MfEnv *env, MfTextRun *tr, const char *prompt,
										 size_t len, const MfTfGenOpts *o, char **out,
										 char *err, size_t errlen);

#endif							/* MF_TEXT_RUN_H */
