/*
 * test_config.c - unit tests of mf_config_normalize and n_parameters.
 *
 * Every input form is normalised and compared, as canonical text, with the
 * expected output written out by hand; invalid configs must produce an
 * exact (path, problem) pair; parameter counts are checked against
 * arithmetic shown in the comments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_config.h"
#include "mf_test.h"

/* The complete default training section, canonical. */
#define TRAIN_DEFAULT \
	"{\"batch_size\":32,\"early_stopping\":true,\"epochs\":100,\"learning_rate\":0.001," \
	"\"lr_gamma\":0.1,\"lr_schedule\":\"constant\",\"lr_step_size\":10,\"momentum\":0.9," \
	"\"nesterov\":false,\"optimizer\":\"adam\",\"patience\":10,\"seed\":42," \
	"\"validation_fraction\":0.1,\"weight_decay\":0.0}"

/* Stack keys after d_ff/d_model/... for a softmax stack with defaults. */
#define STACK_TAIL_SOFTMAX \
	"\"feature_redraw_interval\":1000,\"nb_features\":null"

static const char *YamlExample =
"model:\n"
"  model_type: encoder_decoder\n"
"  name: translator\n"
"  global_config:            # inherited by encoder and decoder unless they set the key\n"
"    dropout: 0.1\n"
"    batch_size: 32\n"
"    d_ff: 4\n"
"    device: cpu\n"
"  encoder: {d_model: 512, num_layers: 6, num_heads: 8, attention_type: linear, activation: GEGLU}\n"
"  decoder: {d_model: 512, num_layers: 6, num_heads: 8, attention_type: causal_linear, activation: SWIGLU,\n"
"            nb_features: 256, use_cross_attention: true}\n";

static const char *YamlExampleJson =
"{\"model\": {\"model_type\": \"encoder_decoder\", \"name\": \"translator\","
" \"global_config\": {\"dropout\": 0.1, \"batch_size\": 32, \"d_ff\": 4, \"device\": \"cpu\"},"
" \"encoder\": {\"d_model\": 512, \"num_layers\": 6, \"num_heads\": 8, \"attention_type\": \"linear\", \"activation\": \"GEGLU\"},"
" \"decoder\": {\"d_model\": 512, \"num_layers\": 6, \"num_heads\": 8, \"attention_type\": \"causal_linear\","
" \"activation\": \"SWIGLU\", \"nb_features\": 256, \"use_cross_attention\": true}}}";

static const char *YamlExpected =
"{\"data\":{},"
"\"decoder\":{\"activation\":\"SWIGLU\",\"attention_type\":\"causal_linear\",\"auto_check_redraw\":true,"
"\"batch_size\":32,\"d_ff\":4,\"d_model\":512,\"device\":\"cpu\",\"dropout\":0.1,"
"\"feature_redraw_interval\":1000,\"nb_features\":256,\"num_heads\":8,\"num_layers\":6,"
"\"use_cross_attention\":true,\"use_rezero\":false,\"use_scalenorm\":false},"
"\"encoder\":{\"activation\":\"GEGLU\",\"attention_type\":\"linear\",\"auto_check_redraw\":true,"
"\"batch_size\":32,\"d_ff\":4,\"d_model\":512,\"device\":\"cpu\",\"dropout\":0.1,"
"\"feature_redraw_interval\":1000,\"nb_features\":256,\"num_heads\":8,\"num_layers\":6,"
"\"use_rezero\":false,\"use_scalenorm\":false},"
"\"family\":\"transformer\",\"max_length\":512,\"model_type\":\"encoder_decoder\","
"\"name\":\"translator\",\"num_classes\":null,\"training\":" TRAIN_DEFAULT ",\"vocab_size\":null}";

/* Parse JSON text (any value); NULL on syntax error. */
static json_t *
Load(const char *text)
{
	return json_loads(text, JSON_DECODE_ANY, NULL);
}

/* Normalise JSON text; canonical output (caller frees) or NULL. */
static char *
NormText(const char *text, json_t **problems_out)
{
	json_t	   *in = Load(text);
	json_t	   *problems = json_array();
	json_t	   *out = in ? mf_config_normalize(in, problems) : NULL;
	char	   *c = out ? mf_json_canonical(out) : NULL;

	if (problems_out != NULL)
		*problems_out = problems;
	else
		json_decref(problems);
	json_decref(out);
	json_decref(in);
	return c;
}

/* A form normalises to exactly the expected canonical JSON. */
static void
ExpectForm(const char *name, const char *input, const char *expected)
{
	json_t	   *problems;
	char	   *got = NormText(input, &problems);

	MF_STR_EQ(got, expected, name);
	if (got == NULL && json_array_size(problems) > 0)
	{
		char	   *p = json_dumps(problems, JSON_COMPACT);

		MF_DIAG("  problems: %s", p);
		free(p);
	}
	free(got);
	json_decref(problems);
}

/* An invalid config fails and reports exactly this path + problem. */
static void
ExpectProblem(const char *input, const char *path, const char *problem)
{
	json_t	   *problems;
	char	   *got = NormText(input, &problems);
	size_t		i;
	bool		found = false;
	char		name[512];

	for (i = 0; i < json_array_size(problems); i++)
	{
		json_t	   *p = json_array_get(problems, i);

		if (strcmp(json_string_value(json_object_get(p, "path")), path) == 0 &&
			strcmp(json_string_value(json_object_get(p, "problem")), problem) == 0)
			found = true;
	}
	snprintf(name, sizeof(name), "problem at %s: %.200s", path, problem);
	if (!MF_OK(got == NULL && found, name))
	{
		char	   *p = json_dumps(problems, JSON_COMPACT);

		MF_DIAG("  input: %s", input);
		MF_DIAG("  problems: %s", p ? p : "(none)");
		free(p);
	}
	free(got);
	json_decref(problems);
}

/* n_parameters of a valid config. */
static int64_t
Params(const char *text)
{
	json_t	   *in = Load(text);
	json_t	   *problems = json_array();
	json_t	   *out = in ? mf_config_normalize(in, problems) : NULL;
	int64_t		n = out ? mf_config_n_parameters(out) : -2;

	json_decref(out);
	json_decref(problems);
	json_decref(in);
	return n;
}

/* Form 1: flat. */
static void
TestFlat(void)
{
	ExpectForm("flat mlp",
			   "{\"name\": \"churn\", \"family\": \"mlp\", \"task\": \"classification\","
			   " \"hidden_layers\": [64, 64], \"num_classes\": 10, \"dropout\": 0.1,"
			   " \"training\": {\"epochs\": 5}, \"data\": {\"source\": \"public.churn\", \"target\": \"churned\"}}",
			   "{\"activation\":\"relu\",\"data\":{\"source\":\"public.churn\",\"target\":\"churned\"},"
			   "\"dropout\":0.1,\"family\":\"mlp\",\"hidden_layers\":[64,64],\"n_features\":null,"
			   "\"name\":\"churn\",\"num_classes\":10,\"task\":\"classification\",\"training\":"
			   "{\"batch_size\":32,\"early_stopping\":true,\"epochs\":5,\"learning_rate\":0.001,"
			   "\"lr_gamma\":0.1,\"lr_schedule\":\"constant\",\"lr_step_size\":10,\"momentum\":0.9,"
			   "\"nesterov\":false,\"optimizer\":\"adam\",\"patience\":10,\"seed\":42,"
			   "\"validation_fraction\":0.1,\"weight_decay\":0.0}}");
	ExpectForm("flat linear_regression with meta keys kept",
			   "{\"name\": \"price\", \"family\": \"linear_regression\", \"version\": \"1.2.3\","
			   " \"description\": \"house prices\", \"tags\": [\"a\", \"b\"], \"solver\": \"QR\"}",
			   "{\"alpha\":0.0,\"data\":{},\"description\":\"house prices\",\"family\":\"linear_regression\","
			   "\"fit_intercept\":true,\"n_features\":null,\"name\":\"price\",\"solver\":\"qr\","
			   "\"tags\":[\"a\",\"b\"],\"training\":" TRAIN_DEFAULT ",\"version\":\"1.2.3\"}");
	ExpectForm("flat mlp regression, activation folded to lower case",
			   "{\"name\": \"r\", \"family\": \"mlp\", \"task\": \"regression\", \"activation\": \"TanH\","
			   " \"hidden_layers\": [8], \"n_features\": 3}",
			   "{\"activation\":\"tanh\",\"data\":{},\"dropout\":0.0,\"family\":\"mlp\",\"hidden_layers\":[8],"
			   "\"n_features\":3,\"n_outputs\":1,\"name\":\"r\",\"task\":\"regression\",\"training\":"
			   TRAIN_DEFAULT "}");
	ExpectForm("flat kmeans defaults",
			   "{\"name\": \"seg\", \"family\": \"kmeans\"}",
			   "{\"data\":{},\"family\":\"kmeans\",\"init\":\"k-means++\",\"k\":8,\"max_iter\":300,"
			   "\"n_features\":null,\"n_init\":1,\"name\":\"seg\",\"tol\":0.0001,\"training\":"
			   TRAIN_DEFAULT "}");
}

/* Form 2: sectioned. */
static void
TestSectioned(void)
{
	ExpectForm("sectioned logistic_regression",
			   "{\"model\": {\"name\": \"churn\", \"family\": \"logistic_regression\", \"n_features\": 10},"
			   " \"training\": {\"batch_size\": 32, \"learning_rate\": 2e-5, \"epochs\": 10, \"optimizer\": \"adamw\"},"
			   " \"data\": {\"source\": \"t\", \"features\": [\"x\", \"y\"], \"test_size\": 0.2}}",
			   "{\"C\":1.0,\"data\":{\"features\":[\"x\",\"y\"],\"source\":\"t\",\"test_size\":0.2},"
			   "\"family\":\"logistic_regression\",\"fit_intercept\":true,\"max_iter\":100,\"n_features\":10,"
			   "\"name\":\"churn\",\"num_classes\":2,\"solver\":\"auto\",\"tol\":1e-6,\"training\":"
			   "{\"batch_size\":32,\"early_stopping\":true,\"epochs\":10,\"learning_rate\":2e-5,"
			   "\"lr_gamma\":0.1,\"lr_schedule\":\"constant\",\"lr_step_size\":10,\"momentum\":0.9,"
			   "\"nesterov\":false,\"optimizer\":\"adamw\",\"patience\":10,\"seed\":42,"
			   "\"validation_fraction\":0.1,\"weight_decay\":0.0}}");
}

/* Form 3: YAML model_type form, via YAML and as JSON. */
static void
TestYamlForm(void)
{
	char		err[256];
	json_t	   *y = mf_yaml_parse(YamlExample, strlen(YamlExample), err, sizeof(err));
	json_t	   *problems = json_array();
	json_t	   *out = y ? mf_config_normalize(y, problems) : NULL;
	char	   *c = out ? mf_json_canonical(out) : NULL;

	MF_STR_EQ(c, YamlExpected, "yaml model_type example normalises");
	ExpectForm("yaml example as jsonb normalises the same", YamlExampleJson, YamlExpected);
	/* encoder: 6 * (1050624 + 3150336 + 2048) + 1024 = 25219072
	 * decoder: 6 * (2 * 1050624 + 3150336 + 3072) + 1024 = 31528960 */
	MF_OK(out && mf_config_n_parameters(out) == 25219072 + 31528960,
		  "yaml example n_parameters = 56748032");
	free(c);
	json_decref(out);
	json_decref(y);
	json_decref(problems);

	ExpectForm("combined model + dataset file keeps datasets and global_config under data",
			   "{\"model\": {\"model_type\": \"encoder\", \"name\": \"t\", \"global_config\":"
			   " {\"dropout\": 0.0, \"batch_size\": 8, \"d_ff\": 2, \"device\": \"cpu\"},"
			   " \"encoder\": {\"d_model\": 16, \"num_layers\": 1, \"num_heads\": 2}},"
			   " \"datasets\": [{\"name\": \"wmt\"}], \"global_config\": {\"corpus_dir\": \"/data\"}}",
			   "{\"data\":{\"datasets\":[{\"name\":\"wmt\"}],\"global_config\":{\"corpus_dir\":\"/data\"}},"
			   "\"encoder\":{\"activation\":\"GELU\",\"attention_type\":\"softmax\",\"auto_check_redraw\":true,"
			   "\"batch_size\":8,\"d_ff\":2,\"d_model\":16,\"device\":\"cpu\",\"dropout\":0.0,"
			   STACK_TAIL_SOFTMAX ",\"num_heads\":2,\"num_layers\":1,\"use_rezero\":false,\"use_scalenorm\":false},"
			   "\"family\":\"transformer\",\"max_length\":512,\"model_type\":\"encoder\",\"name\":\"t\","
			   "\"num_classes\":null,\"training\":" TRAIN_DEFAULT ",\"vocab_size\":null}");
}

#define BERT_ENCODER \
	"\"encoder\":{\"activation\":\"GELU\",\"attention_type\":\"softmax\",\"auto_check_redraw\":true," \
	"\"batch_size\":32,\"d_ff\":4,\"d_model\":768,\"device\":\"cpu\",\"dropout\":0.1," \
	STACK_TAIL_SOFTMAX ",\"num_heads\":12,\"num_layers\":12,\"use_rezero\":false,\"use_scalenorm\":false}"

/* Form 4: custom architecture. */
static void
TestCustom(void)
{
	ExpectForm("custom architecture",
			   "{\"name\": \"ticket_router\", \"architecture\": \"transformer\", \"layers\":"
			   " {\"embedding\": {\"vocab_size\": 30000, \"embed_dim\": 768}, \"transformer\":"
			   " {\"num_layers\": 12, \"num_heads\": 12}, \"classifier\": {\"num_classes\": 5}},"
			   " \"config\": {\"activation\": \"gelu\", \"normalization\": \"layer_norm\"}}",
			   "{\"data\":{}," BERT_ENCODER ",\"family\":\"transformer\",\"max_length\":512,"
			   "\"model_type\":\"encoder\",\"name\":\"ticket_router\",\"num_classes\":5,"
			   "\"training\":" TRAIN_DEFAULT ",\"vocab_size\":30000}");
	ExpectForm("custom architecture, normalization rezero",
			   "{\"name\": \"r\", \"architecture\": \"bert\", \"layers\": {\"embedding\": {\"embed_dim\": 8},"
			   " \"transformer\": {\"num_layers\": 1, \"num_heads\": 2, \"dropout\": 0.0}},"
			   " \"config\": {\"normalization\": \"rezero\"}}",
			   "{\"data\":{},\"encoder\":{\"activation\":\"GELU\",\"attention_type\":\"softmax\","
			   "\"auto_check_redraw\":true,\"batch_size\":32,\"d_ff\":4,\"d_model\":8,\"device\":\"cpu\","
			   "\"dropout\":0.0," STACK_TAIL_SOFTMAX ",\"num_heads\":2,\"num_layers\":1,"
			   "\"use_rezero\":true,\"use_scalenorm\":false},\"family\":\"transformer\",\"max_length\":512,"
			   "\"model_type\":\"encoder\",\"name\":\"r\",\"num_classes\":null,\"training\":" TRAIN_DEFAULT
			   ",\"vocab_size\":null}");
}

/* Form 5: templates. */
static void
TestTemplates(void)
{
	int			n;
	int			i;
	const MfTemplate *t = mf_builtin_templates(&n);
	const MfFamilyInfo *f;

	ExpectForm("template bert_classifier merged with user keys",
			   "{\"template\": \"bert_classifier\", \"name\": \"x\", \"num_classes\": 10,"
			   " \"max_length\": 512, \"dropout\": 0.1}",
			   "{\"data\":{}," BERT_ENCODER ",\"family\":\"transformer\",\"max_length\":512,"
			   "\"model_type\":\"encoder\",\"name\":\"x\",\"num_classes\":10,"
			   "\"training\":" TRAIN_DEFAULT ",\"vocab_size\":30522}");
	ExpectForm("template ridge_regression, user null removes a template key",
			   "{\"template\": \"ridge_regression\", \"name\": \"r\", \"fit_intercept\": null}",
			   "{\"alpha\":1.0,\"data\":{},\"family\":\"linear_regression\",\"fit_intercept\":true,"
			   "\"n_features\":null,\"name\":\"r\",\"solver\":\"auto\",\"training\":" TRAIN_DEFAULT "}");
	ExpectForm("template softmax_classifier",
			   "{\"template\": \"softmax_classifier\", \"name\": \"s\", \"n_features\": 4}",
			   "{\"C\":1.0,\"data\":{},\"family\":\"logistic_regression\",\"fit_intercept\":true,"
			   "\"max_iter\":100,\"n_features\":4,\"name\":\"s\",\"num_classes\":3,\"solver\":\"auto\","
			   "\"tol\":1e-6,\"training\":" TRAIN_DEFAULT "}");
	MF_OK(n == 11, "eleven built-in templates");
	for (i = 0; i < n; i++)
	{
		char		text[128];
		char		name[128];
		char	   *c;

		snprintf(text, sizeof(text), "{\"template\": \"%s\", \"name\": \"t\"}", t[i].name);
		c = NormText(text, NULL);
		snprintf(name, sizeof(name), "template %s normalises", t[i].name);
		MF_OK(c != NULL && strstr(c, t[i].family) != NULL, name);
		free(c);
	}
	MF_OK(mf_builtin_template("bert_classifier") != NULL &&
		  mf_builtin_template("nope") == NULL, "template lookup");
	f = mf_model_families(&n);
	MF_OK(n == 5 && strcmp(f[2].family, "mlp") == 0, "five families");
	MF_OK(mf_family_from_name("kmeans") == MF_FAMILY_KMEANS &&
		  strcmp(mf_family_name(MF_FAMILY_TRANSFORMER), "transformer") == 0 &&
		  mf_family_from_name("x") == MF_FAMILY_UNKNOWN, "family names");
}

/* At least 25 invalid configs, each with its exact problem. */
static void
TestProblems(void)
{
	ExpectProblem("{\"name\": \"x\", \"family\": \"mlp\", \"dropuot\": 0.1}",
				  "$.dropuot", "unknown key \"dropuot\"; did you mean \"dropout\"?");
	ExpectProblem("{\"name\": \"x\", \"family\": \"mlp\", \"dropout\": 1.5}",
				  "$.dropout", "must be a number in [0, 1), got 1.5");
	ExpectProblem("{\"name\": \"x\", \"family\": \"mlp\", \"hidden_layers\": [64, \"a\"]}",
				  "$.hidden_layers[1]", "expected an integer, got string");
	ExpectProblem("{\"name\": \"x\", \"family\": \"mlp\", \"hidden_layers\": [64, 0]}",
				  "$.hidden_layers[1]", "hidden_layers[1] must be >= 1, got 0");
	ExpectProblem("{\"name\": \"x\", \"family\": \"mlp\", \"num_classes\": 1}",
				  "$.num_classes", "num_classes must be >= 2 for a classifier, got 1");
	ExpectProblem("{\"name\": \"x\", \"family\": \"mlp\", \"task\": \"regression\", \"num_classes\": 3}",
				  "$.num_classes",
				  "num_classes is only allowed with task classification; use n_outputs for a regressor");
	ExpectProblem("{\"name\": \"x\", \"family\": \"mpl\"}", "$.family",
				  "unknown family \"mpl\"; did you mean \"mlp\"? (known: linear_regression, "
				  "logistic_regression, mlp, kmeans, transformer)");
	ExpectProblem("{\"name\": \"x\"}", "$",
				  "cannot infer the model family; set \"family\" (one of linear_regression, "
				  "logistic_regression, mlp, kmeans, transformer), \"template\", \"architecture\" "
				  "or \"model_type\"");
	ExpectProblem("{\"family\": \"kmeans\"}", "$.name", "required key is missing");
	ExpectProblem("{\"model\": {\"family\": \"kmeans\"}}", "$.model.name", "required key is missing");
	ExpectProblem("{\"name\": \"Churn\", \"family\": \"kmeans\"}", "$.name",
				  "must match ^[a-z][a-z0-9_]{0,62}$ (a lowercase letter, then lowercase letters, "
				  "digits or _; at most 63 characters), got \"Churn\"");
	ExpectProblem("{\"name\": \"x\", \"family\": \"kmeans\", \"version\": \"1.0\"}", "$.version",
				  "must be a semantic version major.minor.patch such as 1.0.0, got \"1.0\"");
	ExpectProblem("{\"name\": \"x\", \"family\": \"kmeans\", \"k\": 0}", "$.k", "k must be >= 1, got 0");
	ExpectProblem("{\"name\": \"x\", \"family\": \"kmeans\", \"init\": \"kmeans++\"}", "$.init",
				  "must be one of k-means++, random, got \"kmeans++\"; did you mean \"k-means++\"?");
	ExpectProblem("{\"name\": \"x\", \"family\": \"logistic_regression\", \"C\": 0}", "$.C",
				  "must be a number > 0, got 0");
	ExpectProblem("{\"name\": \"x\", \"family\": \"linear_regression\", \"alpha\": -1.0}", "$.alpha",
				  "must be a number >= 0, got -1.0");
	ExpectProblem("{\"name\": \"x\", \"family\": \"linear_regression\", \"fit_intercept\": \"yes\"}",
				  "$.fit_intercept", "expected a boolean, got string");
	ExpectProblem("{\"name\": \"x\", \"family\": \"mlp\", \"pretrained\": \"bert-base-uncased\"}",
				  "$.pretrained", "pretrained weights cannot be downloaded into the database; "
				  "train the model with mf_train instead");
	ExpectProblem("{\"name\": \"x\", \"family\": \"mlp\", \"training\": {\"lerning_rate\": 0.1}}",
				  "$.training.lerning_rate", "unknown key \"lerning_rate\"; did you mean \"learning_rate\"?");
	ExpectProblem("{\"name\": \"x\", \"family\": \"mlp\", \"training\": {\"optimizer\": \"adma\"}}",
				  "$.training.optimizer", "must be one of sgd, adam, adamw, got \"adma\"; did you mean \"adam\"?");
	ExpectProblem("{\"name\": \"x\", \"family\": \"mlp\", \"training\": {\"validation_fraction\": 1}}",
				  "$.training.validation_fraction", "must be a number in (0, 1), got 1");
	ExpectProblem("{\"name\": \"x\", \"family\": \"mlp\", \"data\": {\"features\": [\"a\", 3]}}",
				  "$.data.features[1]", "expected a string, got integer");
	ExpectProblem("{\"name\": \"x\", \"template\": \"bert_clasifier\"}", "$.template",
				  "unknown template \"bert_clasifier\"; did you mean \"bert_classifier\"? (known: "
				  "linear_regression, ridge_regression, logistic_regression, softmax_classifier, "
				  "mlp_classifier, mlp_regressor, kmeans, transformer_encoder_classifier, "
				  "bert_classifier, transformer_decoder_lm, transformer_seq2seq)");
	ExpectProblem("{\"name\": \"x\", \"family\": \"mlp\", \"template\": \"bert_classifier\"}", "$.template",
				  "template \"bert_classifier\" is a transformer template, but family is \"mlp\"");
	ExpectProblem("[1, 2]", "$", "config must be a json object, got array");
	ExpectProblem("{\"name\": \"x\", \"template\": \"bert_classifier\", \"encoder\": {\"num_heads\": 7}}",
				  "$.encoder.num_heads", "d_model 768 is not divisible by num_heads 7");
	ExpectProblem("{\"name\": \"x\", \"template\": \"bert_classifier\", \"nb_features\": 64}",
				  "$.nb_features", "nb_features requires attention_type linear or causal_linear");
	ExpectProblem("{\"name\": \"x\", \"template\": \"bert_classifier\", \"use_rezero\": true,"
				  " \"use_scalenorm\": true}",
				  "$.use_scalenorm", "use_rezero and use_scalenorm cannot both be true");
	ExpectProblem("{\"name\": \"x\", \"template\": \"bert_classifier\", \"device\": \"cuda\"}",
				  "$.device", "device \"cuda\" is not available; available devices: cpu");
	ExpectProblem("{\"name\": \"x\", \"template\": \"bert_classifier\", \"num_classes\": 1}",
				  "$.num_classes", "num_classes must be >= 2 for a classifier, got 1");
	ExpectProblem("{\"name\": \"x\", \"template\": \"bert_classifier\", \"encoder\": {\"use_cross_attention\": true}}",
				  "$.encoder.use_cross_attention", "use_cross_attention is only allowed on a decoder");
	ExpectProblem("{\"name\": \"x\", \"template\": \"bert_classifier\", \"encoder\": {\"pretrained\": true}}",
				  "$.encoder.pretrained", "pretrained weights cannot be downloaded into the database; "
				  "train the model with mf_train instead");
	ExpectProblem("{\"name\": \"x\", \"template\": \"bert_classifier\", \"activation\": \"swiglue\"}",
				  "$.activation", "must be one of GELU, RELU, SILU, GEGLU, REGLU, SWIGLU, got \"swiglue\"; "
				  "did you mean \"SWIGLU\"?");
	ExpectProblem("{\"name\": \"x\", \"template\": \"bert_classifier\", \"decoder\": {\"d_model\": 8}}",
				  "$.decoder", "decoder is not used with model_type encoder; remove it or set "
				  "model_type encoder_decoder");
	ExpectProblem("{\"name\": \"x\", \"template\": \"bert_classifier\", \"d_ff\": 2.5}",
				  "$.d_ff", "expected an integer, got number");
	ExpectProblem("{\"name\": \"x\", \"family\": \"transformer\", \"d_model\": 64, \"num_layers\": 1,"
				  " \"num_heads\": 2, \"dropout\": 0.1, \"device\": \"cpu\"}",
				  "$.d_ff", "required key is missing");
	ExpectProblem("{\"name\": \"x\", \"architecture\": \"tranformer\"}", "$.architecture",
				  "unknown architecture \"tranformer\"; did you mean \"transformer\"? (known: "
				  "transformer, bert, mlp, linear_regression, logistic_regression, kmeans)");
	ExpectProblem("{\"name\": \"x\", \"architecture\": \"transformer\", \"layers\": {\"embedding\":"
				  " {\"vocab_size\": 10}, \"transformer\": {\"num_layers\": 1, \"num_heads\": 1}}}",
				  "$.layers.embedding.embed_dim", "required key is missing");
	ExpectProblem("{\"model\": {\"name\": \"x\", \"family\": \"kmeans\", \"training\": {}}, \"training\": {}}",
				  "$.training", "key is also given at $.model.training; give it once");
}

/* Problems in the YAML form point into $.model...; several at once, sorted. */
static void
TestYamlPaths(void)
{
	const char *bad =
		"model:\n"
		"  model_type: encoder_decoder\n"
		"  name: translator\n"
		"  global_config: {dropout: 0.1, batch_size: 32, d_ff: 4, device: cuda}\n"
		"  encoder: {d_model: 512, num_layers: 6, num_heads: 7, dropuot: 0.2}\n"
		"  decoder: {d_model: 512, num_layers: 6, num_heads: 8, nb_features: 64}\n";
	char		err[256];
	json_t	   *y = mf_yaml_parse(bad, strlen(bad), err, sizeof(err));
	json_t	   *problems = json_array();
	json_t	   *out = y ? mf_config_normalize(y, problems) : NULL;
	char	   *c = mf_json_canonical(problems);

	MF_OK(out == NULL, "bad yaml config rejected");
	/* every problem once (the device problem is shared by both stacks), sorted by path */
	MF_STR_EQ(c,
			  "[{\"path\":\"$.model.decoder.nb_features\",\"problem\":\"nb_features requires "
			  "attention_type linear or causal_linear\"},"
			  "{\"path\":\"$.model.encoder.dropuot\",\"problem\":\"unknown key \\\"dropuot\\\"; "
			  "did you mean \\\"dropout\\\"?\"},"
			  "{\"path\":\"$.model.encoder.num_heads\",\"problem\":\"d_model 512 is not divisible "
			  "by num_heads 7\"},"
			  "{\"path\":\"$.model.global_config.device\",\"problem\":\"device \\\"cuda\\\" is not "
			  "available; available devices: cpu\"}]",
			  "yaml form reports all problems with input paths");
	free(c);
	json_decref(out);
	json_decref(y);
	json_decref(problems);
}

/* Parameter counts against hand arithmetic. */
static void
TestParameters(void)
{
	/* 10 features + intercept */
	MF_OK(Params("{\"name\": \"a\", \"family\": \"linear_regression\", \"n_features\": 10}") == 11,
		  "linear_regression 10 features = 11");
	MF_OK(Params("{\"name\": \"a\", \"family\": \"linear_regression\", \"n_features\": 10,"
				 " \"fit_intercept\": false}") == 10, "linear_regression without intercept = 10");
	MF_OK(Params("{\"name\": \"a\", \"family\": \"linear_regression\"}") == -1,
		  "n_features null gives -1");
	/* binary: 5 + 1 = 6; 4 classes: 4 * (5 + 1) = 24 */
	MF_OK(Params("{\"name\": \"a\", \"family\": \"logistic_regression\", \"n_features\": 5}") == 6,
		  "binary logistic 5 features = 6");
	MF_OK(Params("{\"name\": \"a\", \"family\": \"logistic_regression\", \"n_features\": 5,"
				 " \"num_classes\": 4}") == 24, "4-class logistic 5 features = 24");
	/* 20*64+64 = 1344; 64*64+64 = 4160; 64*10+10 = 650; total 6154 */
	MF_OK(Params("{\"name\": \"a\", \"family\": \"mlp\", \"num_classes\": 10, \"n_features\": 20}") == 6154,
		  "mlp 20-64-64-10 = 6154");
	/* 3*8+8 = 32; 8*1+1 = 9; total 41 */
	MF_OK(Params("{\"name\": \"a\", \"family\": \"mlp\", \"task\": \"regression\", \"hidden_layers\": [8],"
				 " \"n_features\": 3}") == 41, "mlp regressor 3-8-1 = 41");
	/* 2 classes still give 2 outputs: 4*2+2 = 10 with no hidden layer */
	MF_OK(Params("{\"name\": \"a\", \"family\": \"mlp\", \"hidden_layers\": [], \"n_features\": 4}") == 10,
		  "mlp without hidden layers, binary = 10");
	/* 5 * 3 = 15 */
	MF_OK(Params("{\"name\": \"a\", \"family\": \"kmeans\", \"k\": 5, \"n_features\": 3}") == 15,
		  "kmeans k=5, 3 features = 15");
	/*
	 * custom form: d = 768, h = 3072, 12 layers, GELU:
	 *   attention 4*768*768 + 4*768 = 2362368
	 *   ffn 768*3072 + 3072 + 3072*768 + 768 = 4722432
	 *   norms 2 * (2*768) = 3072; layer = 7087872; * 12 = 85054464
	 *   final norm 1536 -> 85056000
	 *   embeddings (30000 + 512) * 768 = 23433216 -> 108489216
	 *   classifier 768*5 + 5 = 3845 -> 108493061
	 */
	MF_OK(Params("{\"name\": \"ticket_router\", \"architecture\": \"transformer\", \"layers\":"
				 " {\"embedding\": {\"vocab_size\": 30000, \"embed_dim\": 768}, \"transformer\":"
				 " {\"num_layers\": 12, \"num_heads\": 12}, \"classifier\": {\"num_classes\": 5}},"
				 " \"config\": {\"activation\": \"gelu\", \"normalization\": \"layer_norm\"}}") == 108493061,
		  "custom bert-like encoder = 108493061");
	/*
	 * tiny decoder LM, d = 4, d_ff 2 -> h = 8, 1 layer, scalenorm, SWIGLU,
	 * vocab 10, max_length 6:
	 *   attention 4*16 + 16 = 80; ffn 4*16 + 16 + 8*4 + 4 = 116
	 *   norms 2 * 1 = 2; layer 198; final norm 1 -> 199
	 *   embeddings (10 + 6) * 4 = 64 -> 263; LM head 4*10 + 10 = 50 -> 313
	 */
	MF_OK(Params("{\"name\": \"lm\", \"family\": \"transformer\", \"model_type\": \"decoder\","
				 " \"d_model\": 4, \"num_layers\": 1, \"num_heads\": 2, \"d_ff\": 2, \"dropout\": 0,"
				 " \"batch_size\": 1, \"device\": \"cpu\", \"activation\": \"swiglu\","
				 " \"use_scalenorm\": true, \"vocab_size\": 10, \"max_length\": 6}") == 313,
		  "tiny decoder LM = 313");
	/*
	 * encoder-decoder, d = 4, d_ff 1 -> h = 4, 1 layer each, rezero, RELU,
	 * no vocabulary:
	 *   encoder: attention 80; ffn 16 + 4 + 16 + 4 = 40; rezero 2 -> 122
	 *   decoder with cross-attention: 80 + 80 + 40 + 3 = 203
	 *   total 325
	 */
	MF_OK(Params("{\"name\": \"s\", \"family\": \"transformer\", \"model_type\": \"encoder_decoder\","
				 " \"d_model\": 4, \"num_layers\": 1, \"num_heads\": 1, \"d_ff\": 1, \"dropout\": 0.5,"
				 " \"batch_size\": 2, \"device\": \"cpu\", \"activation\": \"relu\", \"use_rezero\": true,"
				 " \"decoder\": {\"use_cross_attention\": true}}") == 325,
		  "rezero encoder-decoder = 325");
}

/* Typed getters read back the normalised config. */
static void
TestTyped(void)
{
	json_t	   *in = Load("{\"name\": \"m\", \"family\": \"mlp\", \"hidden_layers\": [5, 6, 7],"
						  " \"activation\": \"GELU\", \"training\": {\"optimizer\": \"SGD\", \"seed\": 7}}");
	json_t	   *problems = json_array();
	json_t	   *out = mf_config_normalize(in, problems);
	MfMlpConfig m;
	MfTrainingConfig t;
	MfTransformerConfig tc;

	MF_OK(out && mf_config_get_mlp(out, &m) && m.n_hidden == 3 && m.hidden_layers[2] == 7 &&
		  m.activation == MF_MLP_GELU && m.num_classes == 2 && m.n_features == -1,
		  "mf_config_get_mlp reads the struct");
	MF_OK(out && mf_config_get_training(out, &t) && t.optimizer == MF_OPTIMIZER_SGD && t.seed == 7 &&
		  t.epochs == 100, "mf_config_get_training reads the struct");
	MF_OK(out && !mf_config_get_transformer(out, &tc), "wrong family refused");
	MF_OK(out && mf_config_family(out) == MF_FAMILY_MLP, "mf_config_family");
	json_decref(out);
	json_decref(in);
	json_decref(problems);
}

/* Deep nesting and odd values never crash and are reported. */
static void
TestRobust(void)
{
	char		deep[400];
	int			i;

	strcpy(deep, "{\"name\": \"x\", \"family\": \"mlp\", \"data\": {\"preprocessing\": ");
	for (i = 0; i < 70; i++)
		strcat(deep, "[");
	for (i = 0; i < 70; i++)
		strcat(deep, "]");
	strcat(deep, "}}");
	ExpectProblem(deep, "$", "config is nested more than 64 levels deep");
	MF_OK(mf_config_normalize(NULL, NULL) == NULL, "NULL config is refused");
	ExpectProblem("{\"name\": \"x\", \"family\": 3}", "$.family", "expected a string, got integer");
	ExpectProblem("{\"name\": \"x\", \"family\": \"mlp\", \"\\u00e9\\\"k\": 1}", "$[\"\u00e9\\\"k\"]",
				  "unknown key \"\u00e9\\\"k\"");
}

/* Mutated JSON configs never crash; valid ones count parameters. */
static void
TestMutations(void)
{
	static const char *const seeds[] = {
		"{\"name\": \"a\", \"family\": \"mlp\", \"hidden_layers\": [8, 9], \"n_features\": 3, \"training\": {\"epochs\": 2}}",
		"{\"template\": \"transformer_seq2seq\", \"name\": \"s\", \"decoder\": {\"num_heads\": 4}}",
		"{\"name\": \"t\", \"architecture\": \"bert\", \"layers\": {\"embedding\": {\"embed_dim\": 8}, \"transformer\": {\"num_layers\": 1, \"num_heads\": 2}}, \"config\": {\"normalization\": \"scale_norm\"}}",
		"{\"model\": {\"name\": \"k\", \"family\": \"kmeans\", \"k\": 3, \"n_features\": 2}, \"datasets\": [], \"data\": {\"max_rows\": 10}}",
		NULL
	};
	const char	alphabet[] = "{}[]:,\"0123456789.-eE nultrfas_x";
	char		buf[512];
	unsigned	state = 777;
	int			iter;
	int			valid = 0;
	int			unexplained = 0;

	for (iter = 0; iter < 4000; iter++)
	{
		const char *seed = seeds[iter % 4];
		size_t		n = strlen(seed);
		int			k;
		json_t	   *in;
		json_t	   *problems;
		json_t	   *out;

		memcpy(buf, seed, n + 1);
		for (k = 0; k < 1 + iter % 3; k++)
		{
			state = state * 1103515245u + 12345u;
			buf[(state >> 8) % n] = alphabet[(state >> 20) % (sizeof(alphabet) - 1)];
		}
		in = json_loads(buf, 0, NULL);
		if (in == NULL)
			continue;
		problems = json_array();
		out = mf_config_normalize(in, problems);
		if (out != NULL)
		{
			char	   *c = mf_json_canonical(out);

			valid += (c != NULL);
			(void) mf_config_n_parameters(out);
			free(c);
		}
		else
			unexplained += (json_array_size(problems) == 0);
		json_decref(out);
		json_decref(problems);
		json_decref(in);
	}
	MF_OK(valid > 0, "mutation run finished; some mutants stay valid");
	MF_OK(unexplained == 0, "every rejected mutant has at least one problem");
}

/* Run all tests. */
/* A stack without device, batch_size or dropout gets cpu, 32 and 0.1. */
static void
TestStackDefaults(void)
{
	ExpectForm("flat stack without device, batch_size, dropout: defaults filled",
			   "{\"name\": \"x\", \"family\": \"transformer\", \"d_model\": 64, \"num_layers\": 1,"
			   " \"num_heads\": 2, \"d_ff\": 4}",
			   "{\"data\":{},\"encoder\":{\"activation\":\"GELU\",\"attention_type\":\"softmax\","
			   "\"auto_check_redraw\":true,\"batch_size\":32,\"d_ff\":4,\"d_model\":64,\"device\":\"cpu\","
			   "\"dropout\":0.1," STACK_TAIL_SOFTMAX ",\"num_heads\":2,\"num_layers\":1,"
			   "\"use_rezero\":false,\"use_scalenorm\":false},\"family\":\"transformer\","
			   "\"max_length\":512,\"model_type\":\"encoder\",\"name\":\"x\",\"num_classes\":null,"
			   "\"training\":" TRAIN_DEFAULT ",\"vocab_size\":null}");
	ExpectForm("YAML encoder-decoder stacks without them: the same defaults",
			   "{\"model\": {\"model_type\": \"encoder_decoder\", \"name\": \"translator\","
			   " \"global_config\": {\"d_ff\": 4},"
			   " \"encoder\": {\"d_model\": 512, \"num_layers\": 6, \"num_heads\": 8, \"attention_type\": \"linear\","
			   " \"activation\": \"GEGLU\"},"
			   " \"decoder\": {\"d_model\": 512, \"num_layers\": 6, \"num_heads\": 8, \"attention_type\": \"causal_linear\","
			   " \"activation\": \"SWIGLU\", \"nb_features\": 256, \"use_cross_attention\": true}}}",
			   YamlExpected);
	ExpectProblem("{\"name\": \"x\", \"family\": \"transformer\", \"d_model\": 64, \"num_layers\": 1,"
				  " \"num_heads\": 2, \"d_ff\": 4, \"device\": \"gpu\"}",
				  "$.device", "device \"gpu\" is not available; available devices: cpu");
}

int
main(void)
{
	TestStackDefaults();
	TestFlat();
	TestSectioned();
	TestYamlForm();
	TestCustom();
	TestTemplates();
	TestProblems();
	TestYamlPaths();
	TestParameters();
	TestTyped();
	TestRobust();
	TestMutations();
	return mf_test_done();
}
