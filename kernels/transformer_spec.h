/*
 * transformer_spec.h - what a whole transformer model is, in plain C types.
 *
 * Design note: mf_config.h (configs) and mf_kernels.h (numeric kernels)
 * declare clashing names, so no file includes both.  This header includes
 * neither: the config side fills an MfTfSpec from a validated, normalised
 * config (model/transformer_spec.c, which includes mf_config.h only) and the
 * kernel side builds a model from it (transformer_model.c, which includes
 * mf_kernels.h).  Activations travel by name (mfk_act_from_name), the other
 * choices as the small enums below, which both sides may use.
 */
#ifndef MF_TRANSFORMER_SPEC_H
#define MF_TRANSFORMER_SPEC_H

#include <stddef.h>
#include <stdint.h>

typedef enum MfTfNorm
{
	MF_TF_LAYERNORM = 0,
	MF_TF_SCALENORM,
	MF_TF_REZERO
} MfTfNorm;

typedef enum MfTfPool
{
	MF_TF_POOL_MEAN = 0,		/* mean over non-padding tokens */
	MF_TF_POOL_FIRST			/* the first token (a CLS position) */
} MfTfPool;

/* The three kinds of model. */
typedef enum MfTfKind
{
	MF_TF_KIND_ENCODER = 0,		/* encoder (+ pooled classifier head) */
	MF_TF_KIND_DECODER,			/* decoder-only causal LM */
	MF_TF_KIND_ENCODER_DECODER	/* encoder memory -> decoder with cross-attention */
} MfTfKind;

typedef enum MfTfAttnKind
{
	MF_TF_ATTN_SOFTMAX = 0,
	MF_TF_ATTN_LINEAR,			/* FAVOR+ */
	MF_TF_ATTN_CAUSAL_LINEAR	/* FAVOR+ with prefix sums */
} MfTfAttnKind;

/* One stack (encoder or decoder). */
typedef struct MfTfStackSpec
{
	int			present;
	size_t		d_model;
	size_t		num_layers;
	size_t		num_heads;
	size_t		d_ff;			/* FFN width (the config's d_ff times d_model) */
	double		dropout;
	MfTfAttnKind attention;
	char		activation[8];	/* "gelu" "relu" "silu" "geglu" "reglu" "swiglu" */
	MfTfNorm	norm;
	size_t		nb_features;	/* linear kinds only, else 0 */
	int			cross_attention;	/* decoder of an encoder-decoder */
	int64_t		feature_redraw_interval;
	int			auto_check_redraw;
} MfTfStackSpec;

/* A whole model. */
typedef struct MfTfSpec
{
	MfTfKind	kind;
	MfTfStackSpec encoder;		/* ENCODER, ENCODER_DECODER */
	MfTfStackSpec decoder;		/* DECODER, ENCODER_DECODER */
	size_t		vocab_size;
	size_t		max_length;		/* learned positions */
	size_t		num_classes;	/* encoder classifier head; 0 = none */
	MfTfPool	pool;			/* classifier pooling (mean by default) */
	int			tie_lm_head;	/* lm_head.weight is decoder.token_emb.weight */
} MfTfSpec;

/*
 * Fill spec from a normalised transformer config (json_t *, declared void
 * here so this header needs no jansson); pool mean, untied LM head (the
 * config's parameter count).  0 on success; otherwise -1 with a lowercase
 * message naming the config path in err.
 */
extern int	mf_tf_spec_from_config(const void *normalized, MfTfSpec *spec,
								   char *err, size_t errlen);

/*
 * Trained parameters of the model a spec builds (transformer_model.c; no
 * allocation), -1 when the spec is invalid.  For an untied spec from a
 * config it equals mf_config_n_parameters.
 */
extern int64_t mf_tf_spec_n_params(const MfTfSpec *spec);

#endif							/* MF_TRANSFORMER_SPEC_H */
