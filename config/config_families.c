/*
 * config_families.c - the tabular families: typed structs, defaults,
 * validation and parameter counts.
 *
 * linear_regression
 *   fit_intercept  true        boolean
 *   alpha          0.0         >= 0 (L2 penalty; ridge_regression sets 1.0)
 *   solver         "auto"      auto | cholesky | qr
 *   n_features     null        null or integer in [1, 10000000]
 *   parameters     n_features + (fit_intercept ? 1 : 0)
 *
 * logistic_regression
 *   num_classes    2           integer >= 2 (2 = binary, else softmax)
 *   C              1.0         > 0 (inverse L2 strength, as scikit-learn)
 *   fit_intercept  true        boolean
 *   solver         "auto"      auto | lbfgs | newton (auto: newton for two classes
 *                              and at most 64 features, else lbfgs)
 *   max_iter       100         integer in [1, 10000000]
 *   tol            1e-6        > 0
 *   n_features     null        null or integer in [1, 10000000]
 *   parameters     K = 2: n_features + b;  K > 2: K * (n_features + b),
 *                  b = fit_intercept ? 1 : 0
 *
 * mlp
 *   task           "classification"  classification | regression
 *   hidden_layers  [64, 64]    array (at most 64) of integers in [1, 1000000]
 *   activation     "relu"      relu | gelu | silu | tanh | sigmoid (any case,
 *                              stored lower case)
 *   dropout        0.0         [0, 1)
 *   num_classes    2           classification only; integer >= 2
 *   n_outputs      1           regression only; integer in [1, 1000000]
 *   n_features     null        null or integer in [1, 10000000]
 *   parameters     sum over consecutive widths (in, out) of in * out + out,
 *                  widths n_features, hidden..., num_classes | n_outputs
 *
 * kmeans
 *   k              8           integer in [1, 1000000]
 *   max_iter       300         integer in [1, 10000000]
 *   tol            1e-4        >= 0
 *   n_init         1           integer in [1, 1000]
 *   init           "k-means++" k-means++ | random
 *   n_features     null        null or integer in [1, 10000000]
 *   parameters     k * n_features (the centroids)
 *
 * Every parameter count is -1 while n_features is null.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config_int.h"

#define MAX_FEATURES 10000000

/* Keys every family accepts at model level (meta, inference, sections). */
const char *const MfCommonKeys[] = {
	"name", "version", "description", "tags", "family", "template",
	"architecture", "training", "data", NULL
};

static const char *const LinearKeys[] = {
	"fit_intercept", "alpha", "solver", "n_features", NULL
};
static const char *const LinearSolvers[] = {"auto", "cholesky", "qr", NULL};

static const char *const LogisticKeys[] = {
	"num_classes", "C", "fit_intercept", "solver", "max_iter", "tol",
	"n_features", NULL
};
static const char *const LogisticSolvers[] = {"auto", "lbfgs", "newton", NULL};

static const char *const MlpKeys[] = {
	"task", "hidden_layers", "activation", "dropout", "num_classes",
	"n_outputs", "n_features", NULL
};
static const char *const MlpTasks[] = {"classification", "regression", NULL};
static const char *const MlpActivations[] = {
	"relu", "gelu", "silu", "tanh", "sigmoid", NULL
};

static const char *const KmeansKeys[] = {
	"k", "max_iter", "tol", "n_init", "init", "n_features", NULL
};
static const char *const KmeansInits[] = {"k-means++", "random", NULL};

/* n_features: null (unknown until training) or a positive integer. */
static void
GetNFeatures(MfCtx *ctx, const MfView *v, int64_t *out)
{
	MfGetInt(ctx, v, "n_features", -1, 1, MAX_FEATURES, MF_NULLABLE, out);
}

/* Parse a linear_regression view. */
static void
LinearParse(MfCtx *ctx, const MfView *v, void *out)
{
	MfLinearConfig *c = out;
	int			e;

	MfCheckKeys(ctx, v, LinearKeys, MfCommonKeys);
	MfGetBool(ctx, v, "fit_intercept", true, 0, &c->fit_intercept);
	MfGetNum(ctx, v, "alpha", 0.0, MF_RANGE_NONNEG, 0, &c->alpha);
	MfGetEnum(ctx, v, "solver", LinearSolvers, MF_LINEAR_SOLVER_AUTO, MF_FOLD_CASE, &e);
	c->solver = (MfLinearSolver) e;
	GetNFeatures(ctx, v, &c->n_features);
}

/* Validate linear_regression and write its keys into out. */
void
MfLinearNormalize(MfCtx *ctx, const MfView *v, json_t *out)
{
	MfLinearConfig c;

	LinearParse(ctx, v, &c);
	MfPut(ctx, out, "fit_intercept", json_boolean(c.fit_intercept));
	MfPut(ctx, out, "alpha", json_real(c.alpha));
	MfPut(ctx, out, "solver", json_string(LinearSolvers[c.solver]));
	MfPutNullableInt(ctx, out, "n_features", c.n_features);
}

/* Parse a logistic_regression view. */
static void
LogisticParse(MfCtx *ctx, const MfView *v, void *out)
{
	MfLogisticConfig *c = out;
	int			e;

	MfCheckKeys(ctx, v, LogisticKeys, MfCommonKeys);
	MfGetNumClasses(ctx, v, 2, 0, &c->num_classes);
	MfGetNum(ctx, v, "C", 1.0, MF_RANGE_POSITIVE, 0, &c->C);
	MfGetBool(ctx, v, "fit_intercept", true, 0, &c->fit_intercept);
	MfGetEnum(ctx, v, "solver", LogisticSolvers, MF_LOGISTIC_SOLVER_AUTO, MF_FOLD_CASE, &e);
	c->solver = (MfLogisticSolver) e;
	MfGetInt(ctx, v, "max_iter", 100, 1, 10000000, 0, &c->max_iter);
	MfGetNum(ctx, v, "tol", 1e-6, MF_RANGE_POSITIVE, 0, &c->tol);
	GetNFeatures(ctx, v, &c->n_features);
}

/* Validate logistic_regression and write its keys into out. */
void
MfLogisticNormalize(MfCtx *ctx, const MfView *v, json_t *out)
{
	MfLogisticConfig c;

	LogisticParse(ctx, v, &c);
	MfPutInt(ctx, out, "num_classes", c.num_classes);
	MfPut(ctx, out, "C", json_real(c.C));
	MfPut(ctx, out, "fit_intercept", json_boolean(c.fit_intercept));
	MfPut(ctx, out, "solver", json_string(LogisticSolvers[c.solver]));
	MfPutInt(ctx, out, "max_iter", c.max_iter);
	MfPut(ctx, out, "tol", json_real(c.tol));
	MfPutNullableInt(ctx, out, "n_features", c.n_features);
}

/* hidden_layers: an array of at most MF_MLP_MAX_HIDDEN_LAYERS positive widths. */
static void
MlpHiddenLayers(MfCtx *ctx, const MfView *v, MfMlpConfig *c)
{
	json_t	   *arr = MfViewGet(v, "hidden_layers");
	char		path[MF_PATH_LEN];
	char		elem[MF_PATH_LEN];
	char		label[64];
	size_t		i;

	c->n_hidden = 2;
	c->hidden_layers[0] = 64;
	c->hidden_layers[1] = 64;
	if (arr == NULL)
		return;
	MfViewPath(v, "hidden_layers", path);
	if (!json_is_array(arr))
	{
		MfProblem(ctx, path, "expected an array of integers, got %s", MfTypeName(arr));
		return;
	}
	if (json_array_size(arr) > MF_MLP_MAX_HIDDEN_LAYERS)
	{
		MfProblem(ctx, path, "at most %d hidden layers are allowed, got %zu",
				  MF_MLP_MAX_HIDDEN_LAYERS, json_array_size(arr));
		return;
	}
	c->n_hidden = (int) json_array_size(arr);
	for (i = 0; i < json_array_size(arr); i++)
	{
		MfPathIndex(elem, path, i);
		snprintf(label, sizeof(label), "hidden_layers[%zu]", i);
		c->hidden_layers[i] = 64;
		MfCheckIntValue(ctx, json_array_get(arr, i), elem, label, 1, 1000000,
						&c->hidden_layers[i]);
	}
}

/* num_classes / n_outputs, each allowed for one task only. */
static void
MlpOutputs(MfCtx *ctx, const MfView *v, MfMlpConfig *c)
{
	char		path[MF_PATH_LEN];

	c->num_classes = -1;
	c->n_outputs = -1;
	if (c->classification)
	{
		MfGetNumClasses(ctx, v, 2, 0, &c->num_classes);
		if (MfViewGet(v, "n_outputs") != NULL)
		{
			MfViewPath(v, "n_outputs", path);
			MfProblem(ctx, path, "n_outputs is only allowed with task regression; "
					  "use num_classes for a classifier");
		}
		return;
	}
	MfGetInt(ctx, v, "n_outputs", 1, 1, 1000000, 0, &c->n_outputs);
	if (MfViewGet(v, "num_classes") != NULL)
	{
		MfViewPath(v, "num_classes", path);
		MfProblem(ctx, path, "num_classes is only allowed with task classification; "
				  "use n_outputs for a regressor");
	}
}

/* Parse an mlp view. */
static void
MlpParse(MfCtx *ctx, const MfView *v, void *out)
{
	MfMlpConfig *c = out;
	int			e;

	memset(c, 0, sizeof(*c));
	MfCheckKeys(ctx, v, MlpKeys, MfCommonKeys);
	MfGetEnum(ctx, v, "task", MlpTasks, 0, MF_FOLD_CASE, &e);
	c->classification = (e == 0);
	MlpHiddenLayers(ctx, v, c);
	MfGetEnum(ctx, v, "activation", MlpActivations, MF_MLP_RELU, MF_FOLD_CASE, &e);
	c->activation = (MfMlpActivation) e;
	MfGetNum(ctx, v, "dropout", 0.0, MF_RANGE_UNIT_CO, 0, &c->dropout);
	MlpOutputs(ctx, v, c);
	GetNFeatures(ctx, v, &c->n_features);
}

/* Validate mlp and write its keys into out. */
void
MfMlpNormalize(MfCtx *ctx, const MfView *v, json_t *out)
{
	MfMlpConfig c;
	json_t	   *layers = json_array();
	int			i;

	MlpParse(ctx, v, &c);
	MfPut(ctx, out, "task", json_string(MlpTasks[c.classification ? 0 : 1]));
	for (i = 0; i < c.n_hidden && layers != NULL; i++)
		if (json_array_append_new(layers, json_integer(c.hidden_layers[i])) != 0)
			ctx->oom = true;
	MfPut(ctx, out, "hidden_layers", layers);
	MfPut(ctx, out, "activation", json_string(MlpActivations[c.activation]));
	MfPut(ctx, out, "dropout", json_real(c.dropout));
	if (c.classification)
		MfPutInt(ctx, out, "num_classes", c.num_classes);
	else
		MfPutInt(ctx, out, "n_outputs", c.n_outputs);
	MfPutNullableInt(ctx, out, "n_features", c.n_features);
}

/* Parse a kmeans view. */
static void
KmeansParse(MfCtx *ctx, const MfView *v, void *out)
{
	MfKmeansConfig *c = out;
	int			e;

	MfCheckKeys(ctx, v, KmeansKeys, MfCommonKeys);
	MfGetInt(ctx, v, "k", 8, 1, 1000000, 0, &c->k);
	MfGetInt(ctx, v, "max_iter", 300, 1, 10000000, 0, &c->max_iter);
	MfGetNum(ctx, v, "tol", 1e-4, MF_RANGE_NONNEG, 0, &c->tol);
	MfGetInt(ctx, v, "n_init", 1, 1, 1000, 0, &c->n_init);
	MfGetEnum(ctx, v, "init", KmeansInits, MF_KMEANS_INIT_PLUSPLUS, MF_FOLD_CASE, &e);
	c->init = (MfKmeansInitKind) e;
	GetNFeatures(ctx, v, &c->n_features);
}

/* Validate kmeans and write its keys into out. */
void
MfKmeansNormalize(MfCtx *ctx, const MfView *v, json_t *out)
{
	MfKmeansConfig c;

	KmeansParse(ctx, v, &c);
	MfPutInt(ctx, out, "k", c.k);
	MfPutInt(ctx, out, "max_iter", c.max_iter);
	MfPut(ctx, out, "tol", json_real(c.tol));
	MfPutInt(ctx, out, "n_init", c.n_init);
	MfPut(ctx, out, "init", json_string(KmeansInits[c.init]));
	MfPutNullableInt(ctx, out, "n_features", c.n_features);
}

/* Typed linear_regression config of a normalised config. */
bool
mf_config_get_linear(const json_t *normalized, MfLinearConfig *out)
{
	return MfParseNormalized(normalized, MF_FAMILY_LINEAR_REGRESSION, LinearParse, out);
}

/* Typed logistic_regression config of a normalised config. */
bool
mf_config_get_logistic(const json_t *normalized, MfLogisticConfig *out)
{
	return MfParseNormalized(normalized, MF_FAMILY_LOGISTIC_REGRESSION, LogisticParse, out);
}

/* Typed mlp config of a normalised config. */
bool
mf_config_get_mlp(const json_t *normalized, MfMlpConfig *out)
{
	return MfParseNormalized(normalized, MF_FAMILY_MLP, MlpParse, out);
}

/* Typed kmeans config of a normalised config. */
bool
mf_config_get_kmeans(const json_t *normalized, MfKmeansConfig *out)
{
	return MfParseNormalized(normalized, MF_FAMILY_KMEANS, KmeansParse, out);
}

/* Parameters of an mlp: in*out + out over consecutive widths. */
static int64_t
MlpParameters(const MfMlpConfig *c)
{
	int64_t		total = 0;
	int64_t		in = c->n_features;
	int64_t		outw;
	int			i;

	for (i = 0; i <= c->n_hidden && total >= 0; i++)
	{
		if (i < c->n_hidden)
			outw = c->hidden_layers[i];
		else
			outw = c->classification ? c->num_classes : c->n_outputs;
		total = MfMulAdd(in, outw, MfMulAdd(total, 1, outw));
		in = outw;
	}
	return total;
}

/* Parameter count of a normalised tabular config; -1 if unknown. */
int64_t
MfTabularParameters(const json_t *normalized, MfFamily family)
{
	MfLinearConfig lin;
	MfLogisticConfig log;
	MfMlpConfig mlp;
	MfKmeansConfig km;
	int64_t		b;

	switch (family)
	{
		case MF_FAMILY_LINEAR_REGRESSION:
			if (!mf_config_get_linear(normalized, &lin) || lin.n_features < 0)
				return -1;
			return MfMulAdd(lin.n_features, 1, lin.fit_intercept ? 1 : 0);
		case MF_FAMILY_LOGISTIC_REGRESSION:
			if (!mf_config_get_logistic(normalized, &log) || log.n_features < 0)
				return -1;
			b = MfMulAdd(log.n_features, 1, log.fit_intercept ? 1 : 0);
			return log.num_classes == 2 ? b : MfMulAdd(log.num_classes, b, 0);
		case MF_FAMILY_MLP:
			if (!mf_config_get_mlp(normalized, &mlp) || mlp.n_features < 0)
				return -1;
			return MlpParameters(&mlp);
		case MF_FAMILY_KMEANS:
			if (!mf_config_get_kmeans(normalized, &km) || km.n_features < 0)
				return -1;
			return MfMulAdd(km.k, km.n_features, 0);
		default:
			break;
	}
	return -1;
}
