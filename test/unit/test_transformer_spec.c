/*
 * test_transformer_spec.c - a normalised transformer config as an MfTfSpec:
 * every template and several custom configs translate, and the model the
 * spec builds has exactly the parameter count the config library states
 * (two owners of one number must agree); configs a text model cannot use
 * are refused with the path at fault.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_config.h"
#include "mf_test.h"
#include "transformer_spec.h"

/* Normalise text; NULL (and a diagnostic) when it has problems. */
static json_t *
Normalize(const char *text)
{
	json_error_t jerr;
	json_t	   *in = json_loads(text, 0, &jerr),
			   *problems = json_array(),
			   *out = in ? mf_config_normalize(in, problems) : NULL;

	if (out == NULL)
	{
		char	   *p = json_dumps(problems, 0);

		MF_DIAG("config problems: %s", p ? p : "?");
		free(p);
	}
	json_decref(problems);
	json_decref(in);
	return out;
}

/* The spec of a config translates and counts what the config counts. */
static void
ExpectCount(const char *label, const char *text, MfTfKind kind)
{
	json_t	   *n = Normalize(text);
	MfTfSpec	spec;
	char		err[256] = "",
				name[256];
	int64_t		want = n ? mf_config_n_parameters(n) : -2,
				got;

	snprintf(name, sizeof(name), "%s: spec from config", label);
	MF_OK(n != NULL && mf_tf_spec_from_config(n, &spec, err, sizeof(err)) == 0 &&
		  spec.kind == kind, name);
	if (err[0])
		MF_DIAG("  %s", err);
	got = mf_tf_spec_n_params(&spec);
	snprintf(name, sizeof(name), "%s: model parameters = config's count (%lld)", label,
			 (long long) want);
	if (!MF_OK(got == want && want > 0, name))
		MF_DIAG("  model %lld, config %lld", (long long) got, (long long) want);
	json_decref(n);
}

/* A config that normalises but cannot become a text model. */
static void
ExpectRefused(const char *label, const char *text, const char *msg)
{
	json_t	   *n = Normalize(text);
	MfTfSpec	spec;
	char		err[256] = "";

	MF_OK(n != NULL && mf_tf_spec_from_config(n, &spec, err, sizeof(err)) == -1, label);
	MF_STR_EQ(err, msg, "  its message");
	json_decref(n);
}

int
main(void)
{
	static const char *const tmpl[] = {"transformer_encoder_classifier", "bert_classifier",
	"transformer_decoder_lm", "transformer_seq2seq"};
	static const MfTfKind tkind[] = {MF_TF_KIND_ENCODER, MF_TF_KIND_ENCODER,
	MF_TF_KIND_DECODER, MF_TF_KIND_ENCODER_DECODER};
	char		text[512];
	size_t		i;

	for (i = 0; i < 4; i++)
	{
		snprintf(text, sizeof(text), "{\"template\": \"%s\", \"name\": \"t\"%s}", tmpl[i],
				 i < 2 ? ", \"num_classes\": 3" : "");
		ExpectCount(tmpl[i], text, tkind[i]);
	}
	ExpectCount("linear attention, scalenorm, geglu encoder",
				"{\"name\": \"a\", \"family\": \"transformer\", \"d_model\": 32, \"num_layers\": 2,"
				" \"num_heads\": 4, \"d_ff\": 2, \"attention_type\": \"linear\", \"nb_features\": 16,"
				" \"use_scalenorm\": true, \"activation\": \"GEGLU\", \"vocab_size\": 50,"
				" \"max_length\": 16, \"num_classes\": 2}", MF_TF_KIND_ENCODER);
	ExpectCount("causal linear, rezero, swiglu decoder",
				"{\"name\": \"a\", \"family\": \"transformer\", \"model_type\": \"decoder\","
				" \"d_model\": 16, \"num_layers\": 3, \"num_heads\": 2, \"d_ff\": 4,"
				" \"attention_type\": \"causal_linear\", \"use_rezero\": true,"
				" \"activation\": \"SWIGLU\", \"vocab_size\": 30, \"max_length\": 8}",
				MF_TF_KIND_DECODER);
	ExpectCount("encoder-decoder with different depths",
				"{\"name\": \"a\", \"family\": \"transformer\", \"model_type\": \"encoder_decoder\","
				" \"d_model\": 16, \"num_heads\": 2, \"d_ff\": 2, \"vocab_size\": 20,"
				" \"max_length\": 12, \"encoder\": {\"num_layers\": 1},"
				" \"decoder\": {\"num_layers\": 2, \"use_cross_attention\": true,"
				" \"activation\": \"REGLU\"}}", MF_TF_KIND_ENCODER_DECODER);
	ExpectRefused("a config without vocab_size is refused",
				  "{\"name\": \"a\", \"family\": \"transformer\", \"d_model\": 16, \"num_layers\": 1,"
				  " \"num_heads\": 2, \"d_ff\": 2}",
				  "$.vocab_size: a text model needs vocab_size (the tokenizer's size)");
	ExpectRefused("an encoder_decoder without cross-attention is refused",
				  "{\"name\": \"a\", \"family\": \"transformer\", \"model_type\": \"encoder_decoder\","
				  " \"d_model\": 16, \"num_layers\": 1, \"num_heads\": 2, \"d_ff\": 2,"
				  " \"vocab_size\": 20}",
				  "$.decoder.use_cross_attention: an encoder_decoder needs cross-attention in its decoder");
	return mf_test_done();
}
