/*
 * train_args.c - the arguments of a training call, checked once.
 *
 * Design note
 * -----------
 * mf_train() checks its arguments just before it trains; mf_train_async()
 * and mf_retrain() check the same arguments when they queue a job (the job
 * then runs mf_train(), which checks them again on the data of that
 * moment); mf_evaluate() and the promotion decision read a target and a
 * split.  All of them go through this file, so the same call fails with the
 * same SQLSTATE, message, detail and hint wherever it is made:
 *   - the family (trained in the database or not), the target (none for
 *     kmeans only), whether the target is read as labels;
 *   - the run options (features, max_rows, test_size, seed, stratify,
 *     impute, max_categories, standardize) and their defaults;
 *   - the family's hyperparameters, read from the normalised config as
 *     typed structs by config/config_*.c, the one owner of their defaults
 *     and ranges (no default is invented here).
 * Which option keys exist, and which are hyperparameters, is decided in
 * PL/pgSQL (mf._train_options in sql/training.sql) before this code runs.
 */
#include "postgres.h"

#include "mf_core.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "train.h"

/*
 * The run options: every key of a training call's options that is not a
 * hyperparameter (mf._train_options sorts the keys with this list).
 */
static const char *const MfRunOptionKeys[] = {
	"features", "test_size", "seed", "stratify", "max_rows", "max_categories", "impute", "standardize",
	"text_column", "source_column", "target_column", "tokenizer"
};

/* Run options only text (transformer) models read (mf._train_options offers them to no other family). */
static const char *const MfTextOptionKeys[] = {"text_column", "source_column", "target_column", "tokenizer"};

/* Defaults of the run options (a split is made as training makes it). */
#define MF_DEFAULT_TEST_SIZE 0.2
#define MF_DEFAULT_SEED 42
#define MF_DEFAULT_MAX_CATEGORIES 50
#define MF_MAX_CATEGORIES_LIMIT 100000

/* The JSON text of a value, for a detail. */
static const char *
MfJsonText(const json_t *v)
{
	char	   *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

	return text != NULL ? text : "?";
}

/* The value at key of obj, or NULL when absent or null. */
static json_t *
MfOptValue(json_t *obj, const char *key)
{
	json_t	   *v = json_object_get(obj, key);

	return v == NULL || json_is_null(v) ? NULL : v;
}

/* 22023 unless option key's value v is of the type it must be. */
static void
MfOptRequire(bool ok, const char *key, const char *must, const json_t *v)
{
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be %s", key, must),
				 errdetail("Got %s.", MfJsonText(v))));
}

/* Number at key of obj, or dflt when absent or null. */
static double
MfOptNum(json_t *obj, const char *key, double dflt)
{
	json_t	   *v = MfOptValue(obj, key);

	if (v == NULL)
		return dflt;
	MfOptRequire(json_is_number(v), key, "a number", v);
	return json_number_value(v);
}

/* Boolean at key of obj, or dflt. */
static bool
MfOptBool(json_t *obj, const char *key, bool dflt)
{
	json_t	   *v = MfOptValue(obj, key);

	if (v == NULL)
		return dflt;
	MfOptRequire(json_is_boolean(v), key, "true or false", v);
	return json_is_true(v);
}

/* String at key of obj, or dflt. */
static const char *
MfOptStr(json_t *obj, const char *key, const char *dflt)
{
	json_t	   *v = MfOptValue(obj, key);

	if (v == NULL)
		return dflt;
	MfOptRequire(json_is_string(v), key, "a string", v);
	return json_string_value(v);
}

/*
 * A target where the family needs one, none for kmeans: 22023 otherwise,
 * for training and evaluation alike.
 */
void
MfCheckTarget(const char *family, const char *target)
{
	bool		kmeans = strcmp(family, "kmeans") == 0;

	if (target == NULL && !kmeans)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target must not be NULL for a %s model", family),
				 errhint("Name the column that holds the true values; only kmeans models have none.")));
	if (target != NULL && kmeans)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans takes no target"),
				 errdetail("target is \"%s\".", target),
				 errhint("Pass NULL as target; list the columns to cluster in option \"features\".")));
}

/*
 * The split of a run's options (test_size, seed, stratify; stratify -1 when
 * not given: stratified for classifiers).
 */
void
MfReadSplitOptions(json_t *options, MfEvalSplit *split)
{
	json_t	   *seed = MfOptValue(options, "seed");

	split->test_size = MfOptNum(options, "test_size", MF_DEFAULT_TEST_SIZE);
	if (!(split->test_size >= 0.0 && split->test_size < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"test_size\" must be at least 0 and below 1"),
				 errdetail("Got %g.", split->test_size)));
	split->seed = MF_DEFAULT_SEED;
	if (seed != NULL)
	{
		MfOptRequire(json_is_integer(seed) && json_integer_value(seed) >= 0, "seed", "an integer >= 0", seed);
		split->seed = (uint64) json_integer_value(seed);
	}
	split->stratify = MfOptValue(options, "stratify") == NULL ? -1 :
		MfOptBool(options, "stratify", false);
}

/* 0A000 unless the family is one of those trained in the database. */
static MfFamily
MfTrainedFamily(const char *family)
{
	MfFamily	fam = mf_family_from_name(family);

	if (fam != MF_FAMILY_LINEAR_REGRESSION && fam != MF_FAMILY_LOGISTIC_REGRESSION &&
		fam != MF_FAMILY_MLP && fam != MF_FAMILY_KMEANS && fam != MF_FAMILY_TRANSFORMER)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("in-database training of family \"%s\" is not supported", family),
				 errhint("Families trained here: linear_regression, logistic_regression, mlp, kmeans, transformer.")));
	return fam;
}

/* 22023 when the config of a run is not a valid normalised config of its family. */
static void
MfRequireTyped(bool ok, const char *family, const char *section)
{
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s config", family),
				 errdetail("The %s of the run's config is not a valid normalised %s config.", section, family),
				 errhint("mf_validate_config() lists the problems as rows.")));
}

static json_t *MfReadFeatures(json_t *options);

/* A transformer's model and training sections (a text model needs vocab_size). */
static void
MfReadTransformerConfig(MfTrainArgs *a, json_t *config)
{
	char		err[256];

	if (mf_tf_spec_from_config(config, &a->cfg.tf.spec, err, sizeof(err)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("this transformer config cannot be trained on text"),
				 errdetail("%s.", err),
				 errhint("Set the key in the config or pass it as an option of mf_train().")));
	MfRequireTyped(mf_config_get_training(config, &a->cfg.tf.training), a->family_name,
				   "training section");
	if (a->cfg.tf.spec.kind == MF_TF_KIND_ENCODER && a->cfg.tf.spec.num_classes == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an encoder without a classifier head cannot be trained"),
				 errdetail("$.num_classes is not set."),
				 errhint("Set num_classes (the labels are read from the target column).")));
}

/* A column-name option of a text model, or NULL. */
static const char *
MfTextColumnOption(json_t *options, const char *key)
{
	const char *s = MfOptStr(options, key, NULL);

	if (s != NULL && s[0] == '\0')
		MfOptRequire(false, key, "a column name", json_object_get(options, key));
	return s;
}

/*
 * The run options of a text model: its columns (text_column; source_column
 * and target_column for an encoder_decoder), the tokenizer kind, and the
 * target: labels for a classifier, none for generative models.
 */
static void
MfReadTextOptions(MfTrainArgs *a, json_t *options, json_t *config)
{
	const char *tok = MfOptStr(options, "tokenizer",
							   json_string_value(json_object_get(json_object_get(config, "data"), "tokenizer")));
	bool		seq2seq = a->cfg.tf.spec.kind == MF_TF_KIND_ENCODER_DECODER;

	a->cfg.tf.tokenizer = MfTokenizerKindFromName(tok != NULL ? tok : "unigram");
	if (a->cfg.tf.tokenizer < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"tokenizer\" must be \"unigram\", \"bpe\" or \"char\""),
				 errdetail("Got \"%s\".", tok)));
	a->cfg.tf.text_column = MfTextColumnOption(options, "text_column");
	a->cfg.tf.source_column = MfTextColumnOption(options, "source_column");
	a->cfg.tf.target_column = MfTextColumnOption(options, "target_column");
	if (seq2seq && a->cfg.tf.target_column == NULL)
		a->cfg.tf.target_column = a->target;
	if (seq2seq && (a->cfg.tf.source_column == NULL || a->cfg.tf.target_column == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an encoder_decoder model trains on two text columns"),
				 errhint("Name them in options \"source_column\" and \"target_column\".")));
	if (!seq2seq && (a->cfg.tf.source_column != NULL || a->cfg.tf.target_column != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options \"source_column\" and \"target_column\" are for encoder_decoder models"),
				 errhint("Name the text in option \"text_column\".")));
	if (a->cfg.tf.spec.kind == MF_TF_KIND_ENCODER && a->target == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target must not be NULL for a transformer classifier"),
				 errhint("Name the column that holds the labels.")));
	if (a->cfg.tf.spec.kind == MF_TF_KIND_DECODER && a->target != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a decoder language model takes no target"),
				 errdetail("target is \"%s\".", a->target),
				 errhint("Pass NULL as target; name the text in option \"text_column\".")));
	a->classify = a->cfg.tf.spec.kind == MF_TF_KIND_ENCODER;
	if (!a->classify)
		a->target = NULL;
	a->features = json_array();
	if (seq2seq)
	{
		json_array_append_new(a->features, json_string(a->cfg.tf.source_column));
		json_array_append_new(a->features, json_string(a->cfg.tf.target_column));
	}
	else if (a->cfg.tf.text_column != NULL)
		json_array_append_new(a->features, json_string(a->cfg.tf.text_column));
	else
		a->features = MfReadFeatures(options);
}

/* The family's hyperparameters, typed, from the normalised config. */
static void
MfReadFamilyConfig(MfTrainArgs *a, json_t *config)
{
	switch (a->family)
	{
		case MF_FAMILY_LINEAR_REGRESSION:
			MfRequireTyped(mf_config_get_linear(config, &a->cfg.linear), a->family_name, "model");
			break;
		case MF_FAMILY_LOGISTIC_REGRESSION:
			MfRequireTyped(mf_config_get_logistic(config, &a->cfg.logistic), a->family_name, "model");
			break;
		case MF_FAMILY_MLP:
			MfRequireTyped(mf_config_get_mlp(config, &a->cfg.mlp.net), a->family_name, "model");
			MfRequireTyped(mf_config_get_training(config, &a->cfg.mlp.training), a->family_name,
						   "training section");
			break;
		case MF_FAMILY_KMEANS:
			MfRequireTyped(mf_config_get_kmeans(config, &a->cfg.kmeans), a->family_name, "model");
			break;
		case MF_FAMILY_TRANSFORMER:
			MfReadTransformerConfig(a, config);
			break;
		default:
			elog(ERROR, "family %d is not trained here", (int) a->family);
	}
}

/* The encoding options of a run. */
static void
MfReadEncodeOptions(MfTrainArgs *a, json_t *options)
{
	const char *impute = MfOptStr(options, "impute", "mean");
	double		maxcat = MfOptNum(options, "max_categories", MF_DEFAULT_MAX_CATEGORIES);

	if (strcmp(impute, "mean") != 0 && strcmp(impute, "zero") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"impute\" must be \"mean\" or \"zero\""),
				 errdetail("Got \"%s\".", impute)));
	if (!(maxcat >= 1 && maxcat <= MF_MAX_CATEGORIES_LIMIT))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"max_categories\" must be between 1 and %d", MF_MAX_CATEGORIES_LIMIT),
				 errdetail("Got %g.", maxcat)));
	a->encode.max_categories = (int) maxcat;
	a->encode.impute_zero = strcmp(impute, "zero") == 0;
	/* linear models are scale-invariant: the coefficients keep the data's units */
	a->encode.standardize = MfOptBool(options, "standardize", a->family != MF_FAMILY_LINEAR_REGRESSION);
}

/* Option "features": NULL, or an array of column names. */
static json_t *
MfReadFeatures(json_t *options)
{
	json_t	   *features = MfOptValue(options, "features");
	size_t		i;
	json_t	   *f;

	if (features == NULL)
		return NULL;
	MfOptRequire(json_is_array(features), "features", "an array of column names", features);
	json_array_foreach(features, i, f)
		MfOptRequire(json_is_string(f), "features", "an array of column names", features);
	return features;
}

/* elog when options hold a key that is not a run option (mf._train_options sorted them). */
static void
MfRequireRunOptionKeys(json_t *options)
{
	const char *key;
	json_t	   *v;

	json_object_foreach(options, key, v)
	{
		bool		known = false;

		for (int i = 0; i < lengthof(MfRunOptionKeys) && !known; i++)
			known = strcmp(key, MfRunOptionKeys[i]) == 0;
		if (!known)
			elog(ERROR, "\"%s\" is not a run option", key);
	}
}

/*
 * Check and read the arguments of a training call: family (a name),
 * normalised config, target (NULL: none) and run options (the keys of
 * mf._train_options' runopts).  Raises the errors of every entry point.
 */
void
MfReadTrainArgs(MfTrainArgs *a, const char *family, json_t *config, const char *target,
				json_t *options)
{
	json_t	   *mr = MfOptValue(options, "max_rows");

	memset(a, 0, sizeof(*a));
	MfRequireRunOptionKeys(options);
	a->family = MfTrainedFamily(family);
	a->family_name = family;
	MfReadFamilyConfig(a, config);
	a->classify = a->family == MF_FAMILY_LOGISTIC_REGRESSION ||
		(a->family == MF_FAMILY_MLP && a->cfg.mlp.net.classification);
	a->target = target;
	if (a->family == MF_FAMILY_TRANSFORMER)
		MfReadTextOptions(a, options, config);
	else
	{
		MfCheckTarget(family, target);
		a->features = MfReadFeatures(options);
	}
	if (mr != NULL)
		MfOptRequire(json_is_integer(mr) && json_integer_value(mr) >= 1, "max_rows", "a positive integer", mr);
	a->max_rows = mr != NULL ? json_integer_value(mr) : 0;
	MfReadSplitOptions(options, &a->split);
	if (a->split.stratify < 0)
		a->split.stratify = a->classify ? 1 : 0;
	MfReadEncodeOptions(a, options);
}

/* The task a run's feature schema records. */
const char *
MfTrainTask(const MfTrainArgs *a)
{
	if (a->family == MF_FAMILY_TRANSFORMER)
		return a->cfg.tf.spec.kind == MF_TF_KIND_DECODER ? "language_model" :
			a->cfg.tf.spec.kind == MF_TF_KIND_ENCODER_DECODER ? "seq2seq" : "classification";
	return a->family == MF_FAMILY_KMEANS ? "clustering" :
		a->classify ? "classification" : "regression";
}

/* A text[] of keys. */
static ArrayType *
MfKeyArray(const char *const *keys, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(keys[i]);
	return construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT);
}

PG_FUNCTION_INFO_V1(mf_run_option_keys);

/* mf._run_option_keys() RETURNS text[]: the run options, in the order of MfRunOptionKeys. */
Datum
mf_run_option_keys(PG_FUNCTION_ARGS)
{
	PG_RETURN_ARRAYTYPE_P(MfKeyArray(MfRunOptionKeys, lengthof(MfRunOptionKeys)));
}

PG_FUNCTION_INFO_V1(mf_text_option_keys);

/* mf._text_option_keys() RETURNS text[]: the run options only transformer models take. */
Datum
mf_text_option_keys(PG_FUNCTION_ARGS)
{
	PG_RETURN_ARRAYTYPE_P(MfKeyArray(MfTextOptionKeys, lengthof(MfTextOptionKeys)));
}
