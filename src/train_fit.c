/*
 * train_fit.c - training per family and artifacts.
 *
 * Design note
 * -----------
 * MfTrainFamily() splits the encoded rows (seeded, stratified for
 * classifiers), fits the family's kernel on the training rows, writes the
 * artifact (tensors + metadata = feature schema and family shapes) and
 * computes the metrics on the test rows (on the training rows, flagged,
 * when test_size is 0).  The metrics are those of the artifact written,
 * opened and scored by the model module exactly as mf_evaluate() opens and
 * scores a stored one (evaluate.c), so evaluating exactly the test rows
 * reproduces the stored metrics.
 *
 * Kernels get an MfEnv whose allocator is palloc (huge, in the run's memory
 * context) and whose progress callback runs CHECK_FOR_INTERRUPTS(): a
 * cancel longjmps out of the kernel, which holds nothing but palloc'd
 * memory.  Test rows are always processed in ascending source order.
 */
#include "postgres.h"

#include "mf_core.h"

#include <math.h>

#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "artifact.h"
#include "evaluate.h"
#include "mf_kernels.h"
#include "model_pg.h"
#include "train.h"

/* An empty JSON object (never jansson's json_object(): see mf_config.h). */
static json_t *
MfJsonObject(void)
{
	return json_pack("{}");
}

/* ------------------------------------------------------------ environment */

MfTrainProgressHookType MfTrainProgressHook = NULL;

/* Progress: honour cancels (may longjmp; kernels hold only palloc'd memory). */
static int
MfEnvProgress(void *ctx, const MfProgress *p)
{
	CHECK_FOR_INTERRUPTS();
	if (MfTrainProgressHook != NULL)
		MfTrainProgressHook(MF_PHASE_TRAINING, p->kind == MF_PROGRESS_ITERATION ? p->iteration : 0,
							p->total, p->loss, p->fraction);
	return 0;
}

/* Tell a background job (if any) that the run entered a phase. */
void
MfTrainPhase(MfJobPhase phase)
{
	if (MfTrainProgressHook != NULL)
		MfTrainProgressHook(phase, 0, 0, get_float8_nan(), 0.0);
}

/* An MfEnv over the current memory context that reports training progress. */
MfEnv
MfMakeEnv(void)
{
	MfEnv		env = MfKernelEnv();

	env.progress = MfEnvProgress;
	return env;
}

/* Raise an ERROR for a kernel failure. */
void
MfKernelError(int err, const char *what)
{
	if (err == MF_KERR_NOMEM)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory while %s", what)));
	if (err == MF_KERR_INPUT_NOT_FINITE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("non-finite value in the training data while %s", what)));
	ereport(ERROR,
			(errcode(err == MF_KERR_BADARG ? ERRCODE_INVALID_PARAMETER_VALUE : ERRCODE_DATA_EXCEPTION),
			 errmsg("%s failed: %s", what, mfk_strerror(err)),
			 err == MF_KERR_NOT_FINITE ?
			 errhint("Lower the learning rate or standardize the features.") : 0));
}

/* ---------------------------------------------------------- JSON helpers */

/* Number at key of obj, or dflt when absent/null. */
static double
MfGetNum(json_t *obj, const char *key, double dflt)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return dflt;
	if (!json_is_number(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a number", key)));
	return json_number_value(v);
}

/* Boolean at key of obj, or dflt. */
static bool
MfGetBool(json_t *obj, const char *key, bool dflt)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return dflt;
	if (!json_is_boolean(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be true or false", key)));
	return json_is_true(v);
}

/* String at key of obj, or dflt. */
static const char *
MfGetStr(json_t *obj, const char *key, const char *dflt)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return dflt;
	if (!json_is_string(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a string", key)));
	return json_string_value(v);
}

/* Doubles as JSON, NaN as null. */
static json_t *
MfArrayJson(const double *v, size_t n)
{
	json_t	   *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, isfinite(v[i]) ? json_real(v[i]) : json_null());
	return a;
}

/* ----------------------------------------------------------------- split */

/* Split rows into sorted train/test index lists (mfk_split_rows). */
void
MfSplit(const MfDataset *ds, double test_size, uint64 seed, bool stratify,
		size_t **train, size_t *n_train, size_t **test, size_t *n_test)
{
	size_t		n = ds->n;
	const int  *y = stratify ? ds->y_class : NULL;
	int			k = y != NULL ? ds->n_labels : 0;
	size_t	   *count = palloc(sizeof(size_t) * Max(k, 1));
	uint64	   *bits;
	MfRng		rng;

	*train = MfHugeAlloc(mul_size(Max(n, 1), sizeof(size_t)));
	if (test_size <= 0.0)
	{
		*test = MfHugeAlloc(mul_size(Max(n, 1), sizeof(size_t)));
		for (size_t i = 0; i < n; i++)
			(*train)[i] = (*test)[i] = i;
		*n_train = *n_test = n;
		return;
	}
	*n_test = mfk_split_test_rows(y, k, n, test_size, count);
	*n_train = n - *n_test;
	*test = MfHugeAlloc(mul_size(Max(*n_test, 1), sizeof(size_t)));
	bits = palloc(sizeof(uint64) * (n / 64 + 1));
	mfk_rng_seed(&rng, seed);
	mfk_split_rows(&rng, y, k, count, n, test_size, *train, *test, (uint64_t *) bits);
	pfree(bits);
	pfree(count);
}

/*
 * Raise for a split that left no test (or no training) rows: too many
 * classes for a stratified split of these rows, or too few rows.
 */
static void
MfSplitTooSmall(const MfDataset *ds, double test_size, bool stratify)
{
	size_t		per_class = 2;	/* rows a class needs to reach the test set */

	while (floor(per_class * test_size + 0.5) < 1.0)
		per_class++;
	if (stratify && ds->n_labels >= 2 && ds->n >= per_class)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too many classes for the rows to split: %d classes in %zu rows",
						ds->n_labels, ds->n),
				 errdetail("A stratified split with \"test_size\" %g puts a class into the test set "
						   "only when it has at least %zu rows, and no class of target \"%s\" has that many: "
						   "at most %zu classes fit %zu rows.",
						   test_size, per_class, ds->target, ds->n / per_class, ds->n),
				 errhint("Use more rows per class, option \"stratify\": false, "
						 "or option \"test_size\": 0.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("too few rows to split: %zu", ds->n),
			 errdetail("A split with \"test_size\" %g needs at least %zu rows.",
					   test_size, per_class),
			 errhint("Use option \"test_size\": 0 to train and measure on every row.")));
}

/* -------------------------------------------------------------- families */

/* Check trained weights. */
static void
MfCheckFinite(const double *w, size_t n, const char *what)
{
	if (!mfk_all_finite(w, n))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("training produced non-finite %s", what),
				 errhint("Standardize the features, add regularisation or lower the learning rate.")));
}

/* Kernel MLP layout from the (normalised) config. */
static void
MfMlpFromJson(MfMlp *mlp, json_t *model, size_t p)
{
	MfMlpConfig cfg;
	json_t	   *hidden = json_object_get(model, "hidden_layers");
	const char *act = MfGetStr(model, "activation", "relu");
	int			a = mfk_act_from_name(act);

	memset(&cfg, 0, sizeof(cfg));
	cfg.n_inputs = p;
	cfg.task = strcmp(MfGetStr(model, "task", "classification"), "regression") == 0 ?
		MF_TASK_REGRESSION : MF_TASK_CLASSIFICATION;
	cfg.n_outputs = cfg.task == MF_TASK_REGRESSION ? (size_t) MfGetNum(model, "n_outputs", 1) :
		(size_t) MfGetNum(model, "num_classes", 2);
	cfg.n_hidden = (int) json_array_size(hidden);
	if (cfg.n_hidden >= MF_MLP_MAX_LAYERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an mlp may have at most %d hidden layers here", MF_MLP_MAX_LAYERS - 1),
				 errdetail("model.hidden_layers has %d entries.", cfg.n_hidden)));
	for (int i = 0; i < cfg.n_hidden; i++)
		cfg.hidden[i] = (size_t) json_integer_value(json_array_get(hidden, i));
	if (a < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown activation \"%s\"", act),
				 errdetail("model.activation is \"%s\".", act)));
	cfg.activation = (MfAct) a;
	cfg.init = MF_INIT_AUTO;
	if (mfk_mlp_layout(mlp, &cfg) != MF_KOK)
	{
		char	   *h = json_dumps(hidden ? hidden : json_null(), JSON_COMPACT);

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid mlp architecture"),
				 errdetail("model.hidden_layers is %s for %zu inputs and %zu outputs.",
						   h ? h : "?", cfg.n_inputs, cfg.n_outputs)));
	}
}

/* MLP training options from the config's training section. */
static void
MfMlpTrainOptsFromJson(MfMlpTrainOpts *o, json_t *config)
{
	json_t	   *t = json_object_get(config, "training");
	const char *opt = MfGetStr(t, "optimizer", "adam");
	const char *sched = MfGetStr(t, "lr_schedule", "constant");
	MfOptKind	kind = strcmp(opt, "sgd") == 0 ? MF_OPT_SGD :
		strcmp(opt, "adamw") == 0 ? MF_OPT_ADAMW : MF_OPT_ADAM;

	mfk_mlp_train_defaults(o);
	o->epochs = (int) MfGetNum(t, "epochs", 100);
	o->batch_size = (size_t) MfGetNum(t, "batch_size", 32);
	mfk_optim_defaults(&o->optim, kind);
	o->optim.momentum = MfGetNum(t, "momentum", 0.9);
	o->optim.nesterov = MfGetBool(t, "nesterov", false);
	if (kind == MF_OPT_ADAMW)
		o->optim.weight_decay = MfGetNum(t, "weight_decay", 0.0);
	else
		o->optim.l2 = MfGetNum(t, "weight_decay", 0.0);
	o->schedule.kind = strcmp(sched, "step") == 0 ? MF_LR_STEP :
		strcmp(sched, "cosine") == 0 ? MF_LR_COSINE : MF_LR_CONSTANT;
	o->schedule.base_lr = MfGetNum(t, "learning_rate", 1e-3);
	o->schedule.step_size = (int64) MfGetNum(t, "lr_step_size", 10);
	o->schedule.gamma = MfGetNum(t, "lr_gamma", 0.1);
	o->schedule.total_steps = o->epochs;
	o->dropout = MfGetNum(config, "dropout", 0.0);
	o->early_stopping = MfGetBool(t, "early_stopping", true);
	o->validation_fraction = o->early_stopping ? MfGetNum(t, "validation_fraction", 0.1) : 0.0;
	o->patience = (int) MfGetNum(t, "patience", 10);
	o->seed = (uint64) MfGetNum(t, "seed", 42);
}

/* Labels of the training rows. */
static int *
MfTrainLabels(const MfDataset *ds, const size_t *idx, size_t n)
{
	int		   *y = MfHugeAlloc(n * sizeof(int));

	for (size_t i = 0; i < n; i++)
		y[i] = ds->y_class[idx[i]];
	return y;
}

/* Targets of the training rows. */
static double *
MfTrainTargets(const MfDataset *ds, const size_t *idx, size_t n)
{
	double	   *y = MfHugeAlloc(n * sizeof(double));

	for (size_t i = 0; i < n; i++)
		y[i] = ds->y_num[idx[i]];
	return y;
}

/* History arrays as JSON ("loss", "val_loss"). */
static json_t *
MfHistoryJson(const MfHistory *h)
{
	json_t	   *o = MfJsonObject();

	json_object_set_new(o, "loss", MfArrayJson(h->train_loss, h->n));
	json_object_set_new(o, "val_loss", MfArrayJson(h->val_loss, h->n));
	return o;
}

/* A history with room for cap entries. */
static MfHistory
MfNewHistory(int cap)
{
	MfHistory	h;

	cap = Max(cap, 1);
	h.train_loss = palloc(sizeof(double) * cap);
	h.val_loss = palloc(sizeof(double) * cap);
	h.capacity = cap;
	h.n = 0;
	return h;
}

/* Queue a tensor, raising on error. */
static void
MfAddTensor(MfArtifactWriter *w, const char *name, uint32 ndim, uint64 d0, uint64 d1,
			const double *data)
{
	uint64_t	dims[2] = {d0, d1};

	if (mf_artifact_writer_add(w, name, ndim, ndim ? dims : NULL, data) != MF_ART_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not write the artifact: %s", w->errmsg)));
}

/* What one family's fit function needs and produces. */
typedef struct MfFit
{
	MfDataset  *ds;
	json_t	   *config;
	const double *X;			/* training rows, n x p */
	const size_t *idx;			/* their row numbers in ds */
	size_t		n;
	uint64		seed;
	MfEnv		env;
	MfMlp		mlp;			/* family mlp: the network being trained */
	MfArtifactWriter *w;
	json_t	   *shape;			/* family shapes for the artifact metadata */
	json_t	   *updates;		/* config keys learned from the data */
	json_t	   *history;		/* per-iteration losses, or NULL */
} MfFit;

/* Linear regression: coef [p], intercept (scalar). */
static void
MfFitLinear(MfFit *f)
{
	MfLinregOpts o;
	size_t		p = f->ds->p;
	double	   *coef = palloc(sizeof(double) * p);
	double	   *b = palloc(sizeof(double));
	double	   *y = MfTrainTargets(f->ds, f->idx, f->n);
	int			err;

	mfk_linreg_defaults(&o);
	o.alpha = MfGetNum(f->config, "alpha", 0.0);
	o.fit_intercept = MfGetBool(f->config, "fit_intercept", true);
	o.force_qr = strcmp(MfGetStr(f->config, "solver", "auto"), "qr") == 0;
	err = mfk_linreg_fit(&f->env, f->X, y, f->n, p, &o, coef, b, NULL);
	if (err != MF_KOK)
		MfKernelError(err, "fitting the linear regression");
	MfCheckFinite(coef, p, "coefficients");
	MfCheckFinite(b, 1, "intercept");
	MfAddTensor(f->w, "coef", 1, p, 0, coef);
	MfAddTensor(f->w, "intercept", 0, 0, 0, b);
}

/* The largest feature count for which solver "auto" picks Newton. */
#define MF_NEWTON_AUTO_MAX_FEATURES 64

/* Logistic regression: binary (coef [p]) or multinomial (coef [p, K]). */
static void
MfFitLogistic(MfFit *f)
{
	MfLogregOpts o;
	int			K = f->ds->n_labels;
	size_t		p = f->ds->p;
	const char *solver = MfGetStr(f->config, "solver", "auto");
	int		   *y = MfTrainLabels(f->ds, f->idx, f->n);
	size_t		nc,
				ni;
	double	   *coef,
			   *b;
	MfHistory	h;
	int			err;

	mfk_logreg_defaults(&o);
	o.C = MfGetNum(f->config, "C", 1.0);
	o.fit_intercept = MfGetBool(f->config, "fit_intercept", true);
	o.max_iter = (int) MfGetNum(f->config, "max_iter", 100);
	o.tol = MfGetNum(f->config, "tol", 1e-4);
	o.multinomial = K > 2;
	/* auto: Newton (a p x p Hessian per pass) for small binary problems */
	if (strcmp(solver, "auto") == 0)
		o.solver = K == 2 && p <= MF_NEWTON_AUTO_MAX_FEATURES ? MF_LOGREG_NEWTON : MF_LOGREG_LBFGS;
	else
		o.solver = strcmp(solver, "newton") == 0 ? MF_LOGREG_NEWTON : MF_LOGREG_LBFGS;
	if (o.solver == MF_LOGREG_NEWTON && K > 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("solver \"newton\" handles two classes only"),
				 errdetail("The target has %d classes.", K),
				 errhint("Use \"solver\": \"lbfgs\".")));
	nc = mfk_logreg_n_coef(p, K, o.multinomial);
	ni = mfk_logreg_n_intercept(K, o.multinomial);
	coef = palloc(sizeof(double) * nc);
	b = palloc(sizeof(double) * ni);
	h = MfNewHistory(o.max_iter + 1);
	err = mfk_logreg_fit(&f->env, f->X, y, f->n, p, K, &o, coef, b, &h, NULL);
	if (err != MF_KOK)
		MfKernelError(err, "fitting the logistic regression");
	MfCheckFinite(coef, nc, "coefficients");
	MfCheckFinite(b, ni, "intercepts");
	f->history = MfHistoryJson(&h);
	if (o.multinomial)
		MfAddTensor(f->w, "coef", 2, p, K, coef);
	else
		MfAddTensor(f->w, "coef", 1, p, 0, coef);
	MfAddTensor(f->w, "intercept", 1, ni, 0, b);
	json_object_set_new(f->shape, "multinomial", json_boolean(o.multinomial));
	json_object_set_new(f->updates, "num_classes", json_integer(K));
}

/* MLP: one flat params tensor; the architecture goes to the metadata. */
static void
MfFitMlp(MfFit *f)
{
	MfMlpTrainOpts o;
	json_t	   *cfg = json_deep_copy(f->config);
	MfMlp	   *mlp = &f->mlp;
	bool		classify = f->ds->classify;
	MfHistory	h;
	int		   *yc = NULL;
	double	   *yr = NULL;
	int			err;

	if (classify)
	{
		json_object_set_new(cfg, "num_classes", json_integer(f->ds->n_labels));
		json_object_set_new(f->updates, "num_classes", json_integer(f->ds->n_labels));
		yc = MfTrainLabels(f->ds, f->idx, f->n);
	}
	else
		yr = MfTrainTargets(f->ds, f->idx, f->n);
	MfMlpFromJson(mlp, cfg, f->ds->p);
	MfMlpTrainOptsFromJson(&o, f->config);
	mlp->params = MfHugeAlloc(mul_size(mlp->n_params, sizeof(double)));
	h = MfNewHistory(o.epochs + 1);
	err = mfk_mlp_train(&f->env, mlp, f->X, f->n, yc, yr, &o, &h, NULL);
	if (err != MF_KOK)
		MfKernelError(err, "training the mlp");
	MfCheckFinite(mlp->params, mlp->n_params, "weights");
	f->history = MfHistoryJson(&h);
	MfAddTensor(f->w, "params", 1, mlp->n_params, 0, mlp->params);
	json_object_set(f->shape, "hidden_layers", json_object_get(cfg, "hidden_layers"));
	json_object_set_new(f->shape, "activation", json_string(MfGetStr(cfg, "activation", "relu")));
	json_object_set_new(f->shape, "task", json_string(classify ? "classification" : "regression"));
	json_object_set_new(f->shape, "num_classes", json_integer(f->ds->n_labels));
	json_object_set_new(f->shape, "n_outputs", json_integer(1));
}

/* k-means: centers [k, p]. */
static void
MfFitKmeans(MfFit *f)
{
	MfKmeansOpts o;
	size_t		p = f->ds->p;
	const char *init = MfGetStr(f->config, "init", "k-means++");
	double	   *centers;
	MfHistory	h;
	MfKmeansInfo info;
	int			err;

	mfk_kmeans_defaults(&o);
	o.k = (int) MfGetNum(f->config, "k", 8);
	o.max_iter = (int) MfGetNum(f->config, "max_iter", 300);
	o.tol = MfGetNum(f->config, "tol", 1e-4);
	o.n_init = (int) MfGetNum(f->config, "n_init", 1);
	o.init = strcmp(init, "random") == 0 ? MF_KMEANS_RANDOM : MF_KMEANS_PLUSPLUS;
	o.seed = f->seed;
	if ((size_t) o.k > f->n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k = %d is more than the %zu training rows", o.k, f->n),
				 errhint("Lower option \"k\" or train on more rows.")));
	centers = palloc(sizeof(double) * o.k * p);
	h = MfNewHistory(o.max_iter + 1);
	err = mfk_kmeans_fit(&f->env, f->X, f->n, p, &o, centers, NULL, &h, &info);
	if (err != MF_KOK)
		MfKernelError(err, "clustering");
	MfCheckFinite(centers, o.k * p, "centres");
	f->history = MfHistoryJson(&h);
	MfAddTensor(f->w, "centers", 2, o.k, p, centers);
	json_object_set_new(f->shape, "k", json_integer(o.k));
}

/* Check the run options that do not depend on the family. */
static void
MfCheckRunOptions(json_t *options, double test_size)
{
	const char *impute = MfGetStr(options, "impute", "mean");
	double		maxcat = MfGetNum(options, "max_categories", 50);

	if (!(test_size >= 0.0 && test_size < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"test_size\" must be at least 0 and below 1"),
				 errdetail("Got %g.", test_size)));
	if (strcmp(impute, "mean") != 0 && strcmp(impute, "zero") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"impute\" must be \"mean\" or \"zero\""),
				 errdetail("Got \"%s\".", impute)));
	if (!(maxcat >= 1 && maxcat <= 100000))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"max_categories\" must be between 1 and 100000"),
				 errdetail("Got %g.", maxcat)));
}

/* The artifact bytes (tensors queued in w, metadata = schema + shapes) as bytea. */
static bytea *
MfFinishArtifact(MfArtifactWriter *w, MfDataset *ds, const char *family, uint32 fam,
				 json_t *shape)
{
	json_t	   *meta = MfSchemaToJson(ds, fam == MF_ART_FAMILY_KMEANS ? "clustering" :
									  ds->classify ? "classification" : "regression");
	char	   *meta_text;
	void	   *buf;
	size_t		len;
	bytea	   *out;

	json_object_set_new(meta, "family", json_string(family));
	json_object_set_new(meta, "model", shape);
	meta_text = mf_json_canonical(meta);
	if (meta_text == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	mf_artifact_writer_set_meta(w, meta_text, strlen(meta_text));
	if (mf_artifact_writer_finish(w, &buf, &len) != MF_ART_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not write the artifact: %s", w->errmsg)));
	out = (bytea *) MfHugeAlloc(add_size(len, VARHDRSZ));
	SET_VARSIZE(out, len + VARHDRSZ);
	memcpy(VARDATA(out), buf, len);
	return out;
}

/*
 * Train a family on ds (rows read, labels mapped).  Returns the metrics;
 * *artifact gets the artifact, *config_updates the config keys learned
 * from the data (n_features, num_classes).
 */
json_t *
MfTrainFamily(MfDataset *ds, const char *family, json_t *config, json_t *options,
			  bytea **artifact, json_t **config_updates)
{
	uint32		fam = mf_artifact_family_from_name(family);
	double		test_size = MfGetNum(options, "test_size", 0.2);
	bool		stratify = MfGetBool(options, "stratify", ds->classify);
	MfEncodeOpts eo;
	size_t	   *train,
			   *test,
				n_train,
				n_test;
	MfTrainedModel tm;
	MfArtifactWriter w;
	MfArtAllocator aa = {MfArtAlloc, MfArtFree, NULL};
	MfFit		f;
	double	   *X_test;
	json_t	   *metrics;
	instr_time	t0,
				t1;

	INSTR_TIME_SET_CURRENT(t0);
	MfCheckRunOptions(options, test_size);
	if (ds->classify && ds->n_labels < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target \"%s\" has only one class", ds->target),
				 errdetail("Every row has the label \"%s\".", ds->labels[0]),
				 errhint("A classifier needs at least two distinct target values.")));

	memset(&f, 0, sizeof(f));
	f.seed = (uint64) MfGetNum(options, "seed", 42);
	MfSplit(ds, test_size, f.seed, stratify, &train, &n_train, &test, &n_test);
	MfPhaseEnd("split");
	if (n_train == 0 || n_test == 0)
		MfSplitTooSmall(ds, test_size, stratify);
	eo.max_categories = (int) MfGetNum(options, "max_categories", 50);
	eo.impute_zero = strcmp(MfGetStr(options, "impute", "mean"), "zero") == 0;
	eo.standardize = MfGetBool(options, "standardize", fam != MF_ART_FAMILY_LINEAR_REGRESSION);
	f.X = MfFitEncodeRows(ds, train, n_train, test, n_test, &eo, &X_test);
	MfPhaseEnd("encode");

	if (mf_artifact_writer_begin(&w, fam, &aa) != MF_ART_OK)
		elog(ERROR, "could not start an artifact writer");
	f.ds = ds;
	f.config = config;
	f.idx = train;
	f.n = n_train;
	f.env = MfMakeEnv();
	f.w = &w;
	f.shape = MfJsonObject();
	f.updates = MfJsonObject();
	json_object_set_new(f.updates, "n_features", json_integer(ds->p));
	MfTrainPhase(MF_PHASE_TRAINING);
	switch (fam)
	{
		case MF_ART_FAMILY_LINEAR_REGRESSION:
			MfFitLinear(&f);
			break;
		case MF_ART_FAMILY_LOGISTIC_REGRESSION:
			MfFitLogistic(&f);
			break;
		case MF_ART_FAMILY_MLP:
			MfFitMlp(&f);
			break;
		case MF_ART_FAMILY_KMEANS:
			MfFitKmeans(&f);
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("in-database training of family \"%s\" is not supported", family),
					 errhint("Families trained here: linear_regression, logistic_regression, mlp, kmeans.")));
	}
	MfPhaseEnd("fit");
	*artifact = MfFinishArtifact(&w, ds, family, fam, f.shape);
	*config_updates = f.updates;
	MfPhaseEnd("artifact");

	MfTrainPhase(MF_PHASE_EVALUATING);
	/* the stored metrics are the evaluation's of the artifact written */
	MfOpenTrainedModel(VARDATA(*artifact), VARSIZE(*artifact) - VARHDRSZ, &tm);
	metrics = MfModelMetrics(&tm, ds, X_test, test, n_test);
	MfPhaseEnd("metrics");
	INSTR_TIME_SET_CURRENT(t1);
	INSTR_TIME_SUBTRACT(t1, t0);
	json_object_set_new(metrics, "train_rows", json_integer(n_train));
	json_object_set_new(metrics, "test_rows", json_integer(test_size > 0 ? n_test : 0));
	json_object_set_new(metrics, "evaluated_rows", json_integer(n_test));
	json_object_set_new(metrics, "metrics_on_training_data", json_boolean(test_size <= 0));
	json_object_set_new(metrics, "training_seconds", json_real(INSTR_TIME_GET_DOUBLE(t1)));
	if (f.history)
		json_object_set_new(metrics, "history", f.history);
	return metrics;
}

/* ------------------------------------------------------------- artifacts */

/* Raise XX001 when an artifact does not match its own schema. */
void
MfArtifactRequire(bool ok, const char *what)
{
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the model artifact is inconsistent"),
				 errdetail("%s", what)));
}

/* Every tensor of an artifact as {name: [values]} (flat, row-major). */
json_t *
MfArtifactTensorsJson(const void *data, size_t len)
{
	MfArtifactView v;
	json_t	   *out = MfJsonObject();

	MfOpenArtifactCopy(data, len, &v);
	for (uint32 i = 0; i < v.n_tensors; i++)
	{
		MfArtifactTensor t;

		if (mf_artifact_tensor_at(&v, i, &t) != MF_ART_OK)
			MfArtifactRequire(false, "tensor directory");
		json_object_set_new(out, t.name, MfArrayJson(t.data, t.n_elems));
	}
	return out;
}
