/*
 * transformer_model.h - whole transformer models built from an MfTfSpec:
 * encoder classifier, decoder-only LM, encoder-decoder; parameters, one
 * step's forward and backward, loss, training step, decoding.
 *
 * Design note
 * -----------
 * Kinds.  encoder: token + learned position embedding -> encoder layers ->
 * final norm -> pooled (mean / first token) -> classifier (num_classes > 0;
 * without it the model only embeds).  decoder: embedding -> causal layers
 * -> final norm -> lm_head (weight tied to the token embedding when
 * spec.tie_lm_head).  encoder_decoder: the encoder stack's normed output is
 * the memory of decoder layers with cross-attention; then lm_head.  A stack
 * with ReZero has no final norm (the config counts none).  Layer semantics
 * are transformer.h's (PyTorch norm_first, batch_first layers).
 *
 * Parameters.  One flat float buffer in state_dict order, named tensors
 * in m->tensors (the layer names of mfk_tf_layer_bind under the model's
 * prefixes):
 *     encoder.token_emb.weight [V, d]   encoder.pos_emb.weight [L, d]
 *     encoder.layers.<i>.<layer tensor>  encoder.norm.weight/.bias (.g)
 *     classifier.weight [C, d]          classifier.bias [C]
 *     decoder.token_emb.weight ... decoder.norm.*  (same pattern)
 *     lm_head.weight [V, d] (absent when tied)      lm_head.bias [V]
 * i.e. a PyTorch module with submodules encoder/decoder (each holding
 * token_emb, pos_emb = nn.Embedding, layers = nn.ModuleList of
 * TransformerEncoderLayer / TransformerDecoderLayer, norm), classifier and
 * lm_head = nn.Linear.  Linear-attention feature matrices are buffers of
 * their layer (not trained; redrawn).  Gradients share the layout.
 * Initialisation is PyTorch's defaults from one seeded MfRng: embeddings
 * N(0, 1), layers as mfk_tf_layer_init, heads nn.Linear's U(+-1/sqrt(d)),
 * final norms 1/0 (ScaleNorm sqrt(d)).
 *
 * Steps.  Inputs are token ids, padded: the encoder reads src (B x S), the
 * decoder tgt (B x T) (teacher forcing: tgt is the shifted target); pads
 * are masked keys, and padded positions never count in the loss.  One
 * step's activations, the backward buffers and the layers' scratch come
 * from one MfArena: mfk_tf_model_step_bytes is exactly the peak a step of
 * that shape reaches (counted by carving the same layout on a counting
 * arena), so an arena of that size, reset every step, serves a run.
 *
 * Training.  AdamW (or Adam, SGD) through mf_kernels.h's optimiser on
 * float32 weights with double moments (mfk_optim_step_f; one definition of
 * each update rule).  Weight decay applies to linear weights only (not to
 * biases, norms, embeddings: minGPT's grouping); gradients are clipped to
 * a global L2 norm (clip_norm) as torch.nn.utils.clip_grad_norm_; the
 * learning rate is mfk_lr_at (schedules and linear warm-up, in steps).
 * Linear-attention features are redrawn before step s when
 * mfk_tf_favor_redraw_due(s, feature_redraw_interval, auto_check_redraw):
 * redraw k (= s / interval) of a stack draws from an MfRng seeded by
 * (seed, stack, k) alone, so a resumed run redraws the same features.
 *
 * Decoding (transformer_decode.c) of softmax decoders keeps a key/value
 * cache per layer (mfk_tf_layer_step): each position runs through the
 * layers once.  Beyond max_length positions, for linear attention, and
 * with MfTfGenOpts.no_cache, every new token recomputes the window (the
 * training forward in evaluation mode).  The encoder runs once per source.
 */
#ifndef MF_TRANSFORMER_MODEL_H
#define MF_TRANSFORMER_MODEL_H

#include "transformer.h"

#define MF_TF_NAME_LEN 80

/* One named tensor of the model (cols 0 = a vector). */
typedef struct MfTfNamedTensor
{
	char		name[MF_TF_NAME_LEN];
	size_t		rows;
	size_t		cols;
	size_t		offset;			/* floats into m->params */
	int			trained;		/* 0 for buffers (FAVOR+ features) */
} MfTfNamedTensor;

/* One stack's tensors (or their gradients). */
typedef struct MfTfStack
{
	float	   *tok;			/* [V, d] */
	float	   *pos;			/* [max_length, d] */
	MfTfLayer  *layers;			/* num_layers */
	MfTfNormParams norm;		/* final norm (w NULL with ReZero) */
} MfTfStack;

/* Every tensor of a model (or gradient), pointers into one flat buffer. */
typedef struct MfTfParts
{
	MfTfStack	enc;
	MfTfStack	dec;
	float	   *cls_w,
			   *cls_b;			/* classifier [C, d], [C] */
	float	   *lm_w,
			   *lm_b;			/* lm_head [V, d] (= dec.tok when tied), [V] */
} MfTfParts;

/* A model: spec, dims, parameters, gradients, optimiser state. */
typedef struct MfTfModel
{
	MfTfSpec	spec;
	MfTfLayerDims enc_dims;
	MfTfLayerDims dec_dims;
	MfAllocator alloc;
	uint64_t	seed;
	size_t		n_floats;		/* parameters and buffers */
	size_t		n_trained;		/* trained floats (the config's count) */
	float	   *params;
	float	   *grads;
	MfTfParts	p;
	MfTfParts	g;
	MfTfNamedTensor *tensors;	/* state_dict order */
	int			n_tensors;
	unsigned char *decay;		/* per float: weight decay applies */
	MfOptState	opt;
	int			opt_ready;
	int64_t		step;			/* optimiser steps taken */
} MfTfModel;

/* A padded batch of token ids. */
typedef struct MfTfInput
{
	size_t		B;
	size_t		S;				/* encoder tokens per sequence */
	const int32_t *src;			/* B*S (encoder, encoder_decoder) */
	const unsigned char *src_pad;	/* B*S, non-zero = padding; may be NULL */
	size_t		T;				/* decoder tokens per sequence */
	const int32_t *tgt;			/* B*T (decoder kinds) */
	const unsigned char *tgt_pad;	/* B*T; may be NULL */
	const int32_t *labels;		/* encoder: B classes; decoder kinds: B*T
								 * next tokens; < 0 ignored; NULL: no loss */
} MfTfInput;

/* Activations of one stack for one step. */
typedef struct MfTfStackActs
{
	MfTfBatch	b;
	float	   *x0;				/* embedding output, n x d */
	MfTfLayerActs *layers;
	const float *out;			/* the stack's output (normed) */
	float	   *nout,
			   *st_a,
			   *st_b;			/* final norm output and statistics */
} MfTfStackActs;

/* One step's forward state (carved from the arena). */
typedef struct MfTfFwd
{
	int			training;
	MfTfStackActs enc;
	MfTfStackActs dec;
	float	   *pooled;			/* B x d (encoder) */
	float	   *logits;			/* B x C or B*T x V */
	float	   *dlogits;		/* training */
	int32_t    *labels;			/* labels with padding ignored */
	size_t		rows;			/* logit rows */
	size_t		k;				/* logit columns */
	double		loss;			/* NAN without labels */
} MfTfFwd;

/* Training options (mfk_tf_train_defaults). */
typedef struct MfTfTrainOpts
{
	MfOptimConfig optim;		/* AdamW, betas 0.9/0.999, eps 1e-8, wd 0.01 */
	MfLrSchedule lr;			/* constant 1e-3, no warm-up; steps */
	double		clip_norm;		/* global L2 clip (1.0); 0 = none */
} MfTfTrainOpts;

/* What one training step did. */
typedef struct MfTfStepInfo
{
	double		loss;
	double		grad_norm;		/* before clipping */
	double		lr;
	size_t		peak_bytes;		/* arena peak of this step */
	int			redrawn;		/* features redrawn before the step */
} MfTfStepInfo;

/*
 * Build a model (parameters initialised from seed); MfKErr.
 * mfk_tf_model_alloc builds it for inference, with its parameters left
 * unset, for a caller that writes all n_floats of them (a model read from
 * an artifact), and without gradients: backward and training refuse it
 * (MF_KERR_BADARG).
 */
extern int	mfk_tf_model_alloc(MfTfModel *m, const MfTfSpec *spec, uint64_t seed,
							   const MfAllocator *alloc);
extern int	mfk_tf_model_init(MfTfModel *m, const MfTfSpec *spec, uint64_t seed,
							  const MfAllocator *alloc);
/* Free everything of the model. */
extern void mfk_tf_model_free(MfTfModel *m);
/* A named tensor, or NULL. */
extern const MfTfNamedTensor *mfk_tf_model_tensor(const MfTfModel *m,
												  const char *name);
/*
 * Redraw the linear-attention features of every stack whose redraw is due
 * before step (0-based); returns the number of stacks redrawn.
 */
extern int	mfk_tf_model_redraw_due(MfTfModel *m, int64_t step);

/*
 * Bytes of the arena of one step of this shape (training: forward,
 * backward and layer scratch; else forward only); SIZE_MAX on overflow.
 */
extern size_t mfk_tf_model_step_bytes(const MfTfModel *m, size_t B, size_t S,
									  size_t T, int training);
/*
 * Forward of a batch: activations from the arena, logits, and with labels
 * the mean cross-entropy (training: also dlogits).  rng != NULL trains
 * (dropout); NULL evaluates.  Ids are checked (MF_KERR_BADARG).
 */
extern int	mfk_tf_model_forward(const MfEnv *env, MfTfModel *m,
								 const MfTfInput *in, MfRng *rng,
								 MfArena *arena, MfTfFwd *f);
/* Backward of a training forward: ADDS to m->grads. */
extern int	mfk_tf_model_backward(const MfEnv *env, MfTfModel *m,
								  const MfTfInput *in, const MfTfFwd *f,
								  MfArena *arena);
/* The pooled, normed encoder output (B x d) of an eval forward: mf_embed. */
extern const float *mfk_tf_model_embedding(const MfTfFwd *f);

/* Defaults: AdamW lr 1e-3, wd 0.01, constant schedule, clip 1.0. */
extern void mfk_tf_train_defaults(MfTfTrainOpts *o);
/* Optimiser state for a run (once, before the first step). */
extern int	mfk_tf_train_begin(MfTfModel *m, const MfTfTrainOpts *o);
/*
 * One step: redraw features when due, zero the gradients, forward with
 * dropout from rng, backward, clip, optimiser; the arena is reset first.
 * MF_KERR_NOT_FINITE when the loss or the gradient is not finite (the
 * weights are then left as they were).
 */
extern int	mfk_tf_train_step(const MfEnv *env, MfTfModel *m,
							  const MfTfTrainOpts *o, const MfTfInput *in,
							  MfRng *rng, MfArena *arena, MfTfStepInfo *info);

/* Run the encoder stack alone (evaluation); enc->out is the memory. */
extern int	mfk_tf_model_encode(const MfEnv *env, MfTfModel *m,
								const MfTfInput *in, MfArena *arena,
								MfTfStackActs *enc);
/*
 * Run the decoder stack (evaluation; memory from enc for an
 * encoder_decoder) and write each sequence's last-position logits (B x V).
 */
extern int	mfk_tf_model_decode_last(const MfEnv *env, MfTfModel *m,
									 const MfTfInput *in,
									 const MfTfStackActs *enc, MfArena *arena,
									 float *logits);

/* Decoding options. */
typedef struct MfTfGenOpts
{
	size_t		max_tokens;		/* new tokens at most */
	double		temperature;	/* <= 0: greedy (argmax) */
	size_t		top_k;			/* 0: all tokens */
	uint64_t	seed;			/* sampling: same seed, same tokens */
	int32_t		bos;			/* first decoder token (encoder_decoder; and
								 * a decoder with an empty prompt) */
	int32_t		eos;			/* stops generation (< 0: none); not emitted */
	int			no_cache;		/* 1: recompute the window for every token
								 * (the reference of the key/value cache) */
	size_t		n_ids;			/* only ids < n_ids are chosen (a tokenizer
								 * smaller than the vocabulary); 0 or >=
								 * vocab_size: every id */
	const uint8_t *skip;		/* NULL, or skip[i] != 0: id i is never
								 * chosen (the tokenizer's unknown and
								 * control pieces); one entry per id that
								 * can be chosen (n_ids, or vocab_size) */
} MfTfGenOpts;

/*
 * Generate: decoder, continuing prompt; encoder_decoder, translating
 * prompt (the source) from bos.  out gets at most o->max_tokens ids,
 * *n_out how many.  The arena must hold mfk_tf_model_step_bytes(m, 1,
 * prompt length, max_length, 0).
 */
extern int	mfk_tf_generate(const MfEnv *env, MfTfModel *m, const int32_t *prompt,
							size_t n_prompt, const MfTfGenOpts *o,
							MfArena *arena, int32_t *out, size_t *n_out);

#endif							/* MF_TRANSFORMER_MODEL_H */
