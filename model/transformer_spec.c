/*
 * transformer_spec.c - a normalised transformer config as an MfTfSpec.
 *
 * Design note: the config library (mf_config.h) is the one owner of what a
 * valid transformer config is; this file (in model/, which may include both
 * the config library and the kernels) only translates its typed view,
 * MfTransformerConfig, into the plain MfTfSpec the kernels build a model
 * from (transformer_spec.h says why the two sides meet here).  What the
 * config allows but a trainable text model cannot have (no vocab_size) is
 * reported with the config path at fault.  Choices the config has no key
 * for: mean pooling, an untied LM head with a bias (the config's parameter
 * count), decoder self-attention always causal.
 */
#include <stdio.h>
#include <string.h>

#include "mf_config.h"
#include "transformer_spec.h"

/* The kernels' activation names, in MfActivation order. */
static const char *const ActNames[] = {"gelu", "relu", "silu", "geglu", "reglu", "swiglu"};

/* One stack of the config as a stack spec. */
static void
StackSpec(const MfStackConfig *c, MfTfStackSpec *s)
{
	memset(s, 0, sizeof(*s));
	s->present = c->present;
	if (!c->present)
		return;
	s->d_model = (size_t) c->d_model;
	s->num_layers = (size_t) c->num_layers;
	s->num_heads = (size_t) c->num_heads;
	s->d_ff = (size_t) (c->d_model * c->d_ff);
	s->dropout = c->dropout;
	s->attention = c->attention_type == MF_ATTENTION_LINEAR ? MF_TF_ATTN_LINEAR :
		c->attention_type == MF_ATTENTION_CAUSAL_LINEAR ? MF_TF_ATTN_CAUSAL_LINEAR :
		MF_TF_ATTN_SOFTMAX;
	snprintf(s->activation, sizeof(s->activation), "%s", ActNames[c->activation]);
	s->norm = c->use_rezero ? MF_TF_REZERO : c->use_scalenorm ? MF_TF_SCALENORM :
		MF_TF_LAYERNORM;
	s->nb_features = c->nb_features > 0 ? (size_t) c->nb_features : 0;
	s->cross_attention = c->use_cross_attention;
	s->feature_redraw_interval = c->feature_redraw_interval;
	s->auto_check_redraw = c->auto_check_redraw;
}

/* Fill spec from a normalised config; -1 with a message on failure. */
int
mf_tf_spec_from_config(const void *normalized, MfTfSpec *spec, char *err,
					   size_t errlen)
{
	MfTransformerConfig c;

	memset(spec, 0, sizeof(*spec));
	if (!mf_config_get_transformer((const json_t *) normalized, &c))
	{
		snprintf(err, errlen, "not a valid normalised transformer config");
		return -1;
	}
	if (c.vocab_size <= 0)
	{
		snprintf(err, errlen, "$.vocab_size: a text model needs vocab_size (the tokenizer's size)");
		return -1;
	}
	spec->kind = c.model_type == MF_MODEL_DECODER ? MF_TF_KIND_DECODER :
		c.model_type == MF_MODEL_ENCODER_DECODER ? MF_TF_KIND_ENCODER_DECODER :
		MF_TF_KIND_ENCODER;
	if (spec->kind == MF_TF_KIND_ENCODER_DECODER && !c.decoder.use_cross_attention)
	{
		snprintf(err, errlen, "$.decoder.use_cross_attention: an encoder_decoder needs "
				 "cross-attention in its decoder");
		return -1;
	}
	StackSpec(&c.encoder, &spec->encoder);
	StackSpec(&c.decoder, &spec->decoder);
	spec->vocab_size = (size_t) c.vocab_size;
	spec->max_length = (size_t) c.max_length;
	spec->num_classes = c.num_classes > 0 ? (size_t) c.num_classes : 0;
	spec->pool = MF_TF_POOL_MEAN;
	spec->tie_lm_head = 0;
	return 0;
}
