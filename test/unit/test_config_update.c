/*
 * test_config_update.c - config updates (mf_config_merge_patch): a
 * shorthand key in an update reaches every stack where creation put the
 * key, in every form and for every stack key; bad values are reported at
 * the path the update wrote.
 */
#include <stdlib.h>

#include "mf_config.h"
#include "mf_test.h"

/* Creation configs: bert (template), YAML encoder-decoder, decoder LM. */
static const char *const Bases[] = {
	"{\"template\": \"bert_classifier\", \"name\": \"s\", \"num_classes\": 3, \"dropout\": 0.1}",
	"{\"model\": {\"model_type\": \"encoder_decoder\", \"name\": \"translator\","
	" \"global_config\": {\"dropout\": 0.1, \"batch_size\": 32, \"d_ff\": 4, \"device\": \"cpu\"},"
	" \"encoder\": {\"d_model\": 512, \"num_layers\": 6, \"num_heads\": 8, \"attention_type\": \"linear\","
	" \"activation\": \"GEGLU\"},"
	" \"decoder\": {\"d_model\": 512, \"num_layers\": 6, \"num_heads\": 8, \"attention_type\": \"causal_linear\","
	" \"activation\": \"SWIGLU\", \"nb_features\": 256, \"use_cross_attention\": true}}}",
	"{\"template\": \"transformer_decoder_lm\", \"name\": \"lm\"}",
	NULL
};

/* Forms of an update of one stack key: %s is "\"key\": value". */
static const char *const Forms[] = {
	"{%s}",
	"{\"global_config\": {%s}}",
	"{\"model\": {%s}}",
	"{\"model\": {\"global_config\": {%s}}}",
	"{\"config\": {%s}}",
	"{\"layers\": {\"transformer\": {%s}}}",
	NULL
};

/* Every stack key with a new value valid for every base ("key": value). */
static const char *const Updates[][2] = {
	{"d_model", "384"},
	{"num_layers", "3"},
	{"num_heads", "4"},
	{"d_ff", "2"},
	{"dropout", "0.05"},
	{"batch_size", "16"},
	{"device", "\"cpu\""},
	{"attention_type", "\"linear\""},
	{"activation", "\"RELU\""},
	{"nb_features", "128"},
	{"use_cross_attention", "false"},
	{"use_rezero", "true"},
	{"use_scalenorm", "true"},
	{"feature_redraw_interval", "500"},
	{"auto_check_redraw", "false"},
	{NULL, NULL}
};

/* Normalise JSON text; the normalised object or NULL (problems kept). */
static json_t *
Norm(const json_t *in, json_t *problems)
{
	return in ? mf_config_normalize(in, problems) : NULL;
}

/* Normalised base i updated by the patch text; NULL with problems when invalid. */
static json_t *
Update(int base, const char *patch_text, json_t *problems)
{
	json_t	   *in = json_loads(Bases[base], 0, NULL);
	json_t	   *b = Norm(in, problems);
	json_t	   *patch = json_loads(patch_text, 0, NULL);
	json_t	   *merged = b && patch ? mf_config_merge_patch(b, patch) : NULL;
	json_t	   *out = Norm(merged, problems);

	json_decref(in);
	json_decref(b);
	json_decref(patch);
	json_decref(merged);
	return out;
}

/* Canonical text of stack.key of a normalised config (caller frees), or NULL. */
static char *
StackValue(const json_t *cfg, const char *stack, const char *key)
{
	json_t	   *v = json_object_get(json_object_get(cfg, stack), key);

	return v ? mf_json_canonical(v) : NULL;
}

/* True when every stack of cfg that has key holds the expected value. */
static bool
StacksHold(const json_t *cfg, const char *key, const char *expected, const char *forced)
{
	static const char *const stacks[] = {"encoder", "decoder"};
	bool		ok = cfg != NULL;

	for (int s = 0; s < 2 && ok; s++)
	{
		char	   *got;

		if (json_object_get(cfg, stacks[s]) == NULL)
			continue;
		got = StackValue(cfg, stacks[s], key);
		/* use_cross_attention exists only on a decoder */
		if (got == NULL && strcmp(key, "use_cross_attention") == 0 && s == 0)
			continue;
		ok = got != NULL && strcmp(got, forced ? forced : expected) == 0;
		free(got);
	}
	return ok;
}

/* One stack key through every form of update, on one base. */
static void
CheckKey(int base, const char *key, const char *value)
{
	char		item[256],
				patch[512],
				name[256];
	bool		ok = true;

	if (strcmp(key, "nb_features") == 0)	/* needs a linear kind */
		snprintf(item, sizeof(item), "\"attention_type\": \"linear\", \"%s\": %s", key, value);
	else if (strcmp(key, "use_scalenorm") == 0)	/* not with rezero */
		snprintf(item, sizeof(item), "\"use_rezero\": false, \"%s\": %s", key, value);
	else
		snprintf(item, sizeof(item), "\"%s\": %s", key, value);
	for (int f = 0; Forms[f] != NULL; f++)
	{
		json_t	   *problems = json_array();
		json_t	   *cfg;

		snprintf(patch, sizeof(patch), Forms[f], item);
		cfg = Update(base, patch, problems);
		if (!StacksHold(cfg, key, value, NULL))
		{
			char	   *p = json_dumps(problems, JSON_COMPACT);

			MF_DIAG("  %s did not reach the stacks; problems %s", patch, p ? p : "");
			free(p);
			ok = false;
		}
		json_decref(cfg);
		json_decref(problems);
	}
	snprintf(name, sizeof(name), "base %d: an update of %s reaches every stack in all %d forms",
			 base, key, 6);
	MF_OK(ok, name);
}

/* An update fails with a problem at exactly this path. */
static void
ExpectUpdateProblem(int base, const char *patch, const char *path)
{
	json_t	   *problems = json_array();
	json_t	   *cfg = Update(base, patch, problems);
	bool		found = false;
	char		name[256];

	for (size_t i = 0; i < json_array_size(problems); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(problems, i), "path")), path) == 0)
			found = true;
	snprintf(name, sizeof(name), "update %s fails at %s", patch, path);
	MF_OK(cfg == NULL && found, name);
	json_decref(cfg);
	json_decref(problems);
}

/* The issue: bert_classifier created with dropout 0.1, updated to 0.05. */
static void
TestIssue(void)
{
	json_t	   *problems = json_array();
	json_t	   *in = json_loads(Bases[0], 0, NULL);
	json_t	   *base = mf_config_normalize(in, problems);
	json_t	   *patch = json_loads("{\"dropout\": 0.05}", 0, NULL);
	json_t	   *plain = mf_json_merge_patch(base, patch);
	json_t	   *plain_n = mf_config_normalize(plain, problems);
	json_t	   *merged = mf_config_merge_patch(base, patch);
	json_t	   *updated = mf_config_normalize(merged, problems);
	char	   *cb = mf_json_canonical(base),
			   *cu = mf_json_canonical(updated),
			   *v = StackValue(updated, "encoder", "dropout"),
			   *pv = StackValue(plain_n, "encoder", "dropout");

	MF_STR_EQ(pv, "0.1", "a plain RFC 7386 merge loses the update (the bug)");
	MF_STR_EQ(v, "0.05", "bert_classifier: {\"dropout\": 0.05} sets encoder.dropout");
	MF_OK(cb && cu && strcmp(cb, cu) != 0, "the updated config differs from its parent");
	free(cb);
	free(cu);
	free(v);
	free(pv);
	json_decref(in);
	json_decref(base);
	json_decref(patch);
	json_decref(plain);
	json_decref(plain_n);
	json_decref(merged);
	json_decref(updated);
	json_decref(problems);
}

/* Expand-only shorthands: normalization and embed_dim; explicit stack keys win. */
static void
TestSpecial(void)
{
	json_t	   *problems = json_array();
	json_t	   *c;

	c = Update(1, "{\"config\": {\"normalization\": \"rezero\"}}", problems);
	MF_OK(StacksHold(c, "use_rezero", "true", NULL) && StacksHold(c, "use_scalenorm", "false", NULL),
		  "config.normalization rezero reaches both stacks");
	json_decref(c);
	c = Update(0, "{\"layers\": {\"embedding\": {\"embed_dim\": 384}}}", problems);
	MF_OK(StacksHold(c, "d_model", "384", NULL), "layers.embedding.embed_dim sets d_model");
	json_decref(c);
	c = Update(1, "{\"dropout\": 0.05, \"decoder\": {\"dropout\": 0.3}}", problems);
	MF_OK(c != NULL && StackValue(c, "encoder", "dropout") != NULL &&
		  json_real_value(json_object_get(json_object_get(c, "encoder"), "dropout")) == 0.05 &&
		  json_real_value(json_object_get(json_object_get(c, "decoder"), "dropout")) == 0.3,
		  "a key the update sets in a stack wins over its shorthand there");
	json_decref(c);
	c = Update(1, "{\"encoder\": {\"dropout\": 0.2}}", problems);
	MF_OK(c != NULL &&
		  json_real_value(json_object_get(json_object_get(c, "encoder"), "dropout")) == 0.2 &&
		  json_real_value(json_object_get(json_object_get(c, "decoder"), "dropout")) == 0.1,
		  "a stack-only update changes that stack only");
	json_decref(c);
	json_decref(problems);
}

/* Tabular families and the training section: updates take effect. */
static void
TestTabular(void)
{
	static const char *const cases[][4] = {
		{"{\"family\": \"linear_regression\", \"name\": \"l\"}", "{\"alpha\": 0.5}", "alpha", "0.5"},
		{"{\"family\": \"logistic_regression\", \"name\": \"g\"}", "{\"C\": 2.0}", "C", "2.0"},
		{"{\"template\": \"mlp_classifier\", \"name\": \"m\", \"dropout\": 0.1}", "{\"dropout\": 0.05}", "dropout", "0.05"},
		{"{\"family\": \"kmeans\", \"name\": \"k\"}", "{\"k\": 3}", "k", "3"},
	};

	for (int i = 0; i < 4; i++)
	{
		json_t	   *problems = json_array();
		json_t	   *in = json_loads(cases[i][0], 0, NULL);
		json_t	   *base = mf_config_normalize(in, problems);
		json_t	   *patch = json_loads(cases[i][1], 0, NULL);
		json_t	   *merged = mf_config_merge_patch(base, patch);
		json_t	   *out = mf_config_normalize(merged, problems);
		char	   *v = out ? mf_json_canonical(json_object_get(out, cases[i][2])) : NULL;
		char		name[128];

		snprintf(name, sizeof(name), "%s: update %s takes effect", cases[i][0], cases[i][1]);
		MF_STR_EQ(v, cases[i][3], name);
		free(v);
		json_decref(in);
		json_decref(base);
		json_decref(patch);
		json_decref(merged);
		json_decref(out);
		json_decref(problems);
	}
}

int
main(void)
{
	TestIssue();
	for (int b = 0; Bases[b] != NULL; b++)
		for (int k = 0; Updates[k][0] != NULL; k++)
			CheckKey(b, Updates[k][0], Updates[k][1]);
	TestSpecial();
	TestTabular();
	ExpectUpdateProblem(0, "{\"dropout\": 2}", "$.dropout");
	ExpectUpdateProblem(1, "{\"global_config\": {\"dropout\": 2}}", "$.global_config.dropout");
	ExpectUpdateProblem(1, "{\"model\": {\"global_config\": {\"device\": \"cuda\"}}}",
						"$.model.global_config.device");
	ExpectUpdateProblem(0, "{\"d_model\": null}", "$.encoder.d_model");
	return mf_test_done();
}
