/*
 * templates.c - built-in templates and the table of model families.
 *
 * A template's config_json holds the model keys only: no "name" (the user
 * gives one) and no "family" (the template's family field says it).  A
 * config {"template": "x", ...} is this JSON merge-patched (RFC 7386) with
 * the user's other keys, so a user key overrides the template's and a user
 * null removes it.
 */
#include <string.h>

#include "config_int.h"

/* BERT-base shaped encoder with a classifier head. */
#define BERT_CLASSIFIER_JSON \
	"{\"model_type\": \"encoder\", \"d_model\": 768, \"num_layers\": 12, " \
	"\"num_heads\": 12, \"d_ff\": 4, \"activation\": \"GELU\", " \
	"\"attention_type\": \"softmax\", \"dropout\": 0.1, \"batch_size\": 32, " \
	"\"device\": \"cpu\", \"vocab_size\": 30522, \"max_length\": 512, " \
	"\"num_classes\": 2}"

static const MfTemplate Templates[] = {
	{"linear_regression", "linear_regression",
		"ordinary least squares linear regression",
	"{\"fit_intercept\": true, \"alpha\": 0.0}"},
	{"ridge_regression", "linear_regression",
		"linear regression with an L2 penalty (alpha 1.0)",
	"{\"fit_intercept\": true, \"alpha\": 1.0}"},
	{"logistic_regression", "logistic_regression",
		"binary logistic regression",
	"{\"num_classes\": 2}"},
	{"softmax_classifier", "logistic_regression",
		"multinomial (softmax) logistic regression with 3 classes",
	"{\"num_classes\": 3}"},
	{"mlp_classifier", "mlp",
		"multi-layer perceptron classifier, two hidden layers of 64",
	"{\"task\": \"classification\", \"hidden_layers\": [64, 64], \"activation\": \"relu\"}"},
	{"mlp_regressor", "mlp",
		"multi-layer perceptron regressor, two hidden layers of 64",
	"{\"task\": \"regression\", \"hidden_layers\": [64, 64], \"activation\": \"relu\"}"},
	{"kmeans", "kmeans",
		"k-means clustering with k-means++ initialisation",
	"{\"k\": 8, \"init\": \"k-means++\"}"},
	{"transformer_encoder_classifier", "transformer",
		"bert-base shaped transformer encoder with a classification head",
	BERT_CLASSIFIER_JSON},
	{"bert_classifier", "transformer",
		"bert-base shaped text classifier (same as transformer_encoder_classifier)",
	BERT_CLASSIFIER_JSON},
	{"transformer_decoder_lm", "transformer",
		"decoder-only transformer language model",
		"{\"model_type\": \"decoder\", \"d_model\": 512, \"num_layers\": 6, "
		"\"num_heads\": 8, \"d_ff\": 4, \"activation\": \"GELU\", "
		"\"attention_type\": \"softmax\", \"dropout\": 0.1, \"batch_size\": 32, "
	"\"device\": \"cpu\", \"vocab_size\": 32000, \"max_length\": 1024}"},
	{"transformer_seq2seq", "transformer",
		"encoder-decoder transformer for sequence-to-sequence tasks",
		"{\"model_type\": \"encoder_decoder\", \"d_model\": 512, \"num_layers\": 6, "
		"\"num_heads\": 8, \"d_ff\": 4, \"activation\": \"GELU\", "
		"\"attention_type\": \"softmax\", \"dropout\": 0.1, \"batch_size\": 32, "
		"\"device\": \"cpu\", \"vocab_size\": 32000, \"max_length\": 512, "
	"\"decoder\": {\"use_cross_attention\": true}}"},
};

static const MfFamilyInfo Families[] = {
	{"linear_regression", "linear regression by least squares, optionally ridge (L2)"},
	{"logistic_regression", "logistic regression classifier, binary or multinomial"},
	{"mlp", "multi-layer perceptron for classification or regression"},
	{"kmeans", "k-means clustering"},
	{"transformer", "transformer encoder, decoder or encoder-decoder"},
};

/* All built-in templates. */
const MfTemplate *
mf_builtin_templates(int *n)
{
	if (n != NULL)
		*n = (int) (sizeof(Templates) / sizeof(Templates[0]));
	return Templates;
}

/* One built-in template by exact name, or NULL. */
const MfTemplate *
mf_builtin_template(const char *name)
{
	size_t		i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < sizeof(Templates) / sizeof(Templates[0]); i++)
		if (strcmp(Templates[i].name, name) == 0)
			return &Templates[i];
	return NULL;
}

/* All model families. */
const MfFamilyInfo *
mf_model_families(int *n)
{
	if (n != NULL)
		*n = (int) (sizeof(Families) / sizeof(Families[0]));
	return Families;
}

/* Family name of an enum value, or NULL for MF_FAMILY_UNKNOWN. */
const char *
mf_family_name(MfFamily family)
{
	if (family <= MF_FAMILY_UNKNOWN || family > MF_FAMILY_TRANSFORMER)
		return NULL;
	return Families[family - 1].family;
}

/* Family enum of a name; MF_FAMILY_UNKNOWN when not a family. */
MfFamily
mf_family_from_name(const char *name)
{
	size_t		i;

	if (name == NULL)
		return MF_FAMILY_UNKNOWN;
	for (i = 0; i < sizeof(Families) / sizeof(Families[0]); i++)
		if (strcmp(Families[i].family, name) == 0)
			return (MfFamily) (i + 1);
	return MF_FAMILY_UNKNOWN;
}
