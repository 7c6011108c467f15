/*
 * model_transformer.h - the artifact of a transformer model (family
 * MF_ART_FAMILY_TRANSFORMER): write it from a trained MfTfModel, read and
 * check it, build the model back.  Pure C11 (+ jansson, the kernels); knows
 * nothing of PostgreSQL nor of the tokenizer library (text/ loads the
 * tokenizer bytes this module hands out).
 *
 * Design note
 * -----------
 * Contents.  One tensor "params": every float of the model (parameters and
 * linear-attention buffers, in the state_dict order of transformer_model.h)
 * as a float32 tensor (artifact format 2: 4 bytes a weight, the model's own
 * bits, written and read without conversion).  Artifacts written before
 * float32 tensors existed (format 1, up to mf_ext 0.5.0) hold the same
 * floats as a float64 tensor, every value exactly a float32; they still
 * load: each value is narrowed (exactly, or refused when it is not a
 * float32), so both forms give the same model bit for bit.  The metadata is
 * JSON: "format" "mf-transformer/1", "family" "transformer", "task"
 * (classification | embedding | language_model | seq2seq), "spec" (every
 * field of MfTfSpec, stacks by name), "seed" (redraws of linear-attention
 * features), "labels" (classifiers: the class names in class order),
 * "columns" ({"text"} or {"source", "target"}: the training columns, read
 * by name from a record at prediction time) and "tokenizer" ({"kind",
 * "size", "model": SentencePiece model bytes in base64}).
 *
 * Checks.  The artifact's checksum proves the bytes intact, not that mf_train
 * wrote them, and a crash takes the server down, so mf_tf_artifact_read
 * checks every member before anything is allocated from it: enums in
 * range, sizes within the limits below, heads dividing d_model, the spec
 * accepted by the kernels (mf_tf_spec_n_params), "params" holding at least
 * the trained floats (so no size in the metadata makes the loader allocate
 * more than the artifact's own length implies), labels (num_classes
 * distinct strings), the tokenizer's base64 and its size within vocab_size.
 * mf_tf_model_from_artifact then builds the model and requires "params" to
 * hold exactly its floats, each a finite float32.
 */
#ifndef MF_MODEL_TRANSFORMER_H
#define MF_MODEL_TRANSFORMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "artifact.h"
#include "transformer_model.h"

/* Limits of a stored model (beyond them an artifact is refused). */
#define MF_TF_ART_MAX_VOCAB		1000000
#define MF_TF_ART_MAX_LENGTH	65536
#define MF_TF_ART_MAX_D_MODEL	8192
#define MF_TF_ART_MAX_LAYERS	128
#define MF_TF_ART_MAX_D_FF		(64 * 8192)
#define MF_TF_ART_MAX_FEATURES	65536
#define MF_TF_ART_MAX_CLASSES	100000
#define MF_TF_ART_MAX_COLUMN	256

/* What a text model does. */
typedef enum MfTfTask
{
	MF_TF_TASK_CLASSIFICATION = 0,	/* encoder with a classifier head */
	MF_TF_TASK_EMBEDDING,		/* encoder without a head */
	MF_TF_TASK_LANGUAGE_MODEL,	/* decoder */
	MF_TF_TASK_SEQ2SEQ			/* encoder-decoder */
} MfTfTask;

/* The contents of a transformer artifact (strings and arrays from the allocator). */
typedef struct MfTfArtifact
{
	MfTfSpec	spec;
	MfTfTask	task;
	uint64_t	seed;
	int			n_labels;
	char	  **labels;
	char	   *text_column;	/* classification, embedding, language_model */
	char	   *source_column;	/* seq2seq */
	char	   *target_column;
	char		tokenizer_kind[16];
	int			tokenizer_size;
	unsigned char *tokenizer;	/* SentencePiece model bytes */
	size_t		tokenizer_len;
	uint32_t	params_dtype;	/* MF_ARTIFACT_DTYPE_FLOAT32, or _FLOAT64 (format 1) */
	const float *params_f32;	/* into the artifact (float32 tensor) */
	const double *params_f64;	/* into the artifact (format-1 float64 tensor) */
	size_t		n_params;
} MfTfArtifact;

/* Task names, and a task from its name (-1 when none). */
extern const char *mf_tf_task_name(MfTfTask t);
extern int	mf_tf_task_from_name(const char *name);

/*
 * Write the artifact of a trained model: a->spec, task, seed, labels,
 * columns and tokenizer as given (a->params_* ignored: the model's floats
 * are written, as a float32 tensor).  0 and *out / *out_len from alloc, or -1 with a message.
 */
extern int	mf_tf_artifact_write(const MfTfModel *m, const MfTfArtifact *a,
								 const MfArtAllocator *alloc, void **out,
								 size_t *out_len, char *err, size_t errlen);

/*
 * Read and check the metadata and the tensor of an open transformer
 * artifact.  0, or -1 with "member: detail" in err (the artifact is
 * corrupt or was not written by mf_train).
 */
extern int	mf_tf_artifact_read(const MfArtifactView *view, const MfArtAllocator *alloc,
								MfTfArtifact *out, char *err, size_t errlen);

/*
 * Build the model of a read artifact (memory from alloc) with its stored
 * floats; 0, or -1 with a message (out of memory, or floats that do not
 * fit the model).
 */
extern int	mf_tf_model_from_artifact(const MfTfArtifact *a, MfTfModel *m,
									  const MfAllocator *alloc, char *err, size_t errlen);

#endif							/* MF_MODEL_TRANSFORMER_H */
