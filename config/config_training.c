/*
 * config_training.c - the "training" and "data" sections.
 *
 * training (every family; always complete in the output):
 *
 *   key                  default     allowed
 *   optimizer            "adam"      sgd | adam | adamw
 *   learning_rate        0.001       > 0
 *   batch_size           32          integer in [1, 1000000]
 *   epochs               100         integer in [1, 1000000]
 *   momentum             0.9         [0, 1)   (sgd)
 *   nesterov             false       boolean  (sgd)
 *   weight_decay         0.0         >= 0
 *   lr_schedule          "constant"  constant | step | cosine
 *   lr_step_size         10          integer >= 1 (epochs per step)
 *   lr_gamma             0.1         > 0 (factor per step)
 *   seed                 42          integer >= 0
 *   early_stopping       true        boolean
 *   validation_fraction  0.1         (0, 1)
 *   patience             10          integer >= 0 (epochs without progress)
 *
 * data (optional; only what was given is kept, no defaults invented):
 *   source (string), target (string), features (array of strings),
 *   test_size ((0, 1)), max_rows (integer >= 1), max_length (integer >= 1),
 *   tokenizer (string or object), preprocessing (object, array or string),
 *   global_config (object), datasets (array).
 */
#include <string.h>

#include "config_int.h"

static const char *const TrainingKeys[] = {
	"optimizer", "learning_rate", "batch_size", "epochs", "momentum",
	"nesterov", "weight_decay", "lr_schedule", "lr_step_size", "lr_gamma",
	"seed", "early_stopping", "validation_fraction", "patience", NULL
};

static const char *const Optimizers[] = {"sgd", "adam", "adamw", NULL};
static const char *const Schedules[] = {"constant", "step", "cosine", NULL};

static const char *const DataKeys[] = {
	"source", "target", "features", "test_size", "max_rows", "max_length",
	"tokenizer", "preprocessing", "global_config", "datasets", NULL
};

/* Read the training view into a struct, reporting problems. */
void
MfTrainingParse(MfCtx *ctx, const MfView *v, MfTrainingConfig *c)
{
	int			e;

	MfCheckKeys(ctx, v, TrainingKeys, NULL);
	MfGetEnum(ctx, v, "optimizer", Optimizers, MF_OPTIMIZER_ADAM, MF_FOLD_CASE, &e);
	c->optimizer = (MfOptimizer) e;
	MfGetNum(ctx, v, "learning_rate", 0.001, MF_RANGE_POSITIVE, 0, &c->learning_rate);
	MfGetInt(ctx, v, "batch_size", 32, 1, 1000000, 0, &c->batch_size);
	MfGetInt(ctx, v, "epochs", 100, 1, 1000000, 0, &c->epochs);
	MfGetNum(ctx, v, "momentum", 0.9, MF_RANGE_UNIT_CO, 0, &c->momentum);
	MfGetBool(ctx, v, "nesterov", false, 0, &c->nesterov);
	MfGetNum(ctx, v, "weight_decay", 0.0, MF_RANGE_NONNEG, 0, &c->weight_decay);
	MfGetEnum(ctx, v, "lr_schedule", Schedules, MF_LR_SCHEDULE_CONSTANT, MF_FOLD_CASE, &e);
	c->lr_schedule = (MfLrScheduleKind) e;
	MfGetInt(ctx, v, "lr_step_size", 10, 1, 1000000, 0, &c->lr_step_size);
	MfGetNum(ctx, v, "lr_gamma", 0.1, MF_RANGE_POSITIVE, 0, &c->lr_gamma);
	MfGetInt(ctx, v, "seed", 42, 0, INT64_MAX, 0, &c->seed);
	MfGetBool(ctx, v, "early_stopping", true, 0, &c->early_stopping);
	MfGetNum(ctx, v, "validation_fraction", 0.1, MF_RANGE_UNIT_OO, 0,
			 &c->validation_fraction);
	MfGetInt(ctx, v, "patience", 10, 0, 1000000, 0, &c->patience);
}

/* The complete training object of a parsed struct. */
static json_t *
TrainingToJson(MfCtx *ctx, const MfTrainingConfig *c)
{
	json_t	   *o = mf_json_object_new();

	MfPut(ctx, o, "optimizer", json_string(Optimizers[c->optimizer]));
	MfPut(ctx, o, "learning_rate", json_real(c->learning_rate));
	MfPutInt(ctx, o, "batch_size", c->batch_size);
	MfPutInt(ctx, o, "epochs", c->epochs);
	MfPut(ctx, o, "momentum", json_real(c->momentum));
	MfPut(ctx, o, "nesterov", json_boolean(c->nesterov));
	MfPut(ctx, o, "weight_decay", json_real(c->weight_decay));
	MfPut(ctx, o, "lr_schedule", json_string(Schedules[c->lr_schedule]));
	MfPutInt(ctx, o, "lr_step_size", c->lr_step_size);
	MfPut(ctx, o, "lr_gamma", json_real(c->lr_gamma));
	MfPutInt(ctx, o, "seed", c->seed);
	MfPut(ctx, o, "early_stopping", json_boolean(c->early_stopping));
	MfPut(ctx, o, "validation_fraction", json_real(c->validation_fraction));
	MfPutInt(ctx, o, "patience", c->patience);
	return o;
}

/* Validate a training view; the complete training object. */
json_t *
MfTrainingNormalize(MfCtx *ctx, const MfView *v)
{
	MfTrainingConfig c;

	MfTrainingParse(ctx, v, &c);
	return TrainingToJson(ctx, &c);
}

/* Check that every element of an array is a string. */
static void
CheckStringArray(MfCtx *ctx, const json_t *arr, const char *base)
{
	size_t		i;
	char		path[MF_PATH_LEN];

	for (i = 0; i < json_array_size(arr); i++)
	{
		if (!json_is_string(json_array_get(arr, i)))
		{
			MfPathIndex(path, base, i);
			MfProblem(ctx, path, "expected a string, got %s",
					  MfTypeName(json_array_get(arr, i)));
		}
	}
}

/* Type check of one data key with a free-form value; true when valid. */
static bool
DataValueOk(MfCtx *ctx, const char *key, const json_t *val, const char *path)
{
	const char *want = NULL;

	if (strcmp(key, "source") == 0 || strcmp(key, "target") == 0)
		want = json_is_string(val) ? NULL : "a string";
	else if (strcmp(key, "features") == 0)
	{
		if (!json_is_array(val))
			want = "an array of strings";
		else
			CheckStringArray(ctx, val, path);
	}
	else if (strcmp(key, "tokenizer") == 0)
		want = (json_is_string(val) || json_is_object(val)) ? NULL : "a string or an object";
	else if (strcmp(key, "preprocessing") == 0)
		want = (json_is_string(val) || json_is_object(val) || json_is_array(val)) ?
			NULL : "an object, an array or a string";
	else if (strcmp(key, "global_config") == 0)
		want = json_is_object(val) ? NULL : "an object";
	else if (strcmp(key, "datasets") == 0)
		want = json_is_array(val) ? NULL : "an array";
	if (want != NULL)
	{
		MfProblem(ctx, path, "expected %s, got %s", want, MfTypeName(val));
		return false;
	}
	return true;
}

/* Validate a data view; an object with the valid keys that were given. */
json_t *
MfDataNormalize(MfCtx *ctx, const MfView *v)
{
	json_t	   *o = mf_json_object_new();
	const char *key;
	json_t	   *val;
	char		path[MF_PATH_LEN];
	double		d;
	int64_t		n;

	MfCheckKeys(ctx, v, DataKeys, NULL);
	if (v->vals == NULL)
		return o;
	json_object_foreach(v->vals, key, val)
	{
		MfViewPath(v, key, path);
		if (strcmp(key, "test_size") == 0)
		{
			if (MfGetNum(ctx, v, key, 0, MF_RANGE_UNIT_OO, 0, &d) == MF_GOT_VALUE)
				MfPut(ctx, o, key, json_real(d));
		}
		else if (strcmp(key, "max_rows") == 0 || strcmp(key, "max_length") == 0)
		{
			if (MfGetInt(ctx, v, key, 0, 1, INT64_MAX, 0, &n) == MF_GOT_VALUE)
				MfPutInt(ctx, o, key, n);
		}
		else if (MfInList(key, DataKeys) && DataValueOk(ctx, key, val, path))
			MfPut(ctx, o, key, MfJsonCopy(val, 0));
	}
	return o;
}

/* Typed training section of a normalised config. */
bool
mf_config_get_training(const json_t *normalized, MfTrainingConfig *out)
{
	MfCtx		ctx;
	MfView		v;
	bool		ok;
	json_t	   *t = json_object_get(normalized, "training");

	if (!json_is_object(t))
		return false;
	MfCtxInit(&ctx);
	MfViewFromObject(&ctx, &v, t, "$.training");
	MfTrainingParse(&ctx, &v, out);
	ok = !ctx.oom && ctx.problems != NULL && json_array_size(ctx.problems) == 0;
	MfViewFree(&v);
	json_decref(ctx.problems);
	return ok;
}
