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

	env.alloc.alloc = MfArtAlloc;	/* training's kernels: no prefault, as measured */
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

/* Doubles as JSON, NaN as null. */
static json_t *
MfArrayJson(const double *v, size_t n)
{
	json_t	   *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, isfinite(v[i]) ? json_real(v[i]) : json_null());
	return a;
}

/* float32 values as a JSON array of numbers (each widened exactly). */
static json_t *
MfFloatArrayJson(const float *v, size_t n)
{
	json_t	   *a = json_array();

	for (size_t i = 0; i < n; i++)
	{
		if ((i & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		json_array_append_new(a, isfinite(v[i]) ? json_real((double) v[i]) : json_null());
	}
	return a;
}

/* The hidden widths of an mlp config as a JSON array. */
static json_t *
MfMlpHiddenJson(const MfMlpConfig *c)
{
	json_t	   *a = json_array();

	for (int i = 0; i < c->n_hidden; i++)
		json_array_append_new(a, json_integer(c->hidden_layers[i]));
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

/* The kernels' activation of an mlp config's. */
static MfAct
MfMlpActivationKernel(MfMlpActivation a)
{
	switch (a)
	{
		case MF_MLP_RELU:
			return MF_ACT_RELU;
		case MF_MLP_GELU:
			return MF_ACT_GELU;
		case MF_MLP_SILU:
			return MF_ACT_SILU;
		case MF_MLP_TANH:
			return MF_ACT_TANH;
		case MF_MLP_SIGMOID:
			return MF_ACT_SIGMOID;
	}
	elog(ERROR, "unknown mlp activation %d", (int) a);
	return MF_ACT_RELU;
}

/* The network shape of an mlp config for p inputs and n_classes labels. */
static void
MfMlpLayout(MfMlp *mlp, const MfMlpConfig *c, size_t p, int n_classes)
{
	MfMlpShape	shape;

	memset(&shape, 0, sizeof(shape));
	shape.n_inputs = p;
	shape.task = c->classification ? MF_TASK_CLASSIFICATION : MF_TASK_REGRESSION;
	shape.n_outputs = c->classification ? (size_t) n_classes : (size_t) c->n_outputs;
	shape.n_hidden = c->n_hidden;
	if (c->n_hidden >= MF_MLP_MAX_LAYERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an mlp may have at most %d hidden layers here", MF_MLP_MAX_LAYERS - 1),
				 errdetail("model.hidden_layers has %d entries.", c->n_hidden)));
	for (int i = 0; i < c->n_hidden; i++)
		shape.hidden[i] = (size_t) c->hidden_layers[i];
	shape.activation = MfMlpActivationKernel(c->activation);
	shape.init = MF_INIT_AUTO;
	if (mfk_mlp_layout(mlp, &shape) != MF_KOK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid mlp architecture"),
				 errdetail("model.hidden_layers is %s for %zu inputs and %zu outputs.",
						   json_dumps(MfMlpHiddenJson(c), JSON_COMPACT), shape.n_inputs, shape.n_outputs)));
}

/* The kernels' optimiser of a training config's. */
static MfOptKind
MfOptimizerKernel(MfOptimizer o)
{
	return o == MF_OPTIMIZER_SGD ? MF_OPT_SGD : o == MF_OPTIMIZER_ADAMW ? MF_OPT_ADAMW : MF_OPT_ADAM;
}

/* The kernels' learning-rate schedule of a training config's. */
static MfLrKind
MfLrScheduleKernel(MfLrScheduleKind k)
{
	return k == MF_LR_SCHEDULE_STEP ? MF_LR_STEP : k == MF_LR_SCHEDULE_COSINE ? MF_LR_COSINE : MF_LR_CONSTANT;
}

/* The kernels' optimiser of a training section (weight decay decoupled for AdamW, else L2). */
void
MfOptimFromTraining(MfOptimConfig *o, const MfTrainingConfig *t)
{
	MfOptKind	kind = MfOptimizerKernel(t->optimizer);

	mfk_optim_defaults(o, kind);
	o->momentum = t->momentum;
	o->nesterov = t->nesterov;
	if (kind == MF_OPT_ADAMW)
		o->weight_decay = t->weight_decay;
	else
		o->l2 = t->weight_decay;
}

/* The kernels' schedule (an MfLrKind) of a training config's, for train.h users. */
int
MfLrScheduleKernelCode(MfLrScheduleKind k)
{
	return (int) MfLrScheduleKernel(k);
}

/* MLP training options from the training section (and the mlp's dropout). */
static void
MfMlpTrainOptions(MfMlpTrainOpts *o, const MfTrainingConfig *t, const MfMlpConfig *net)
{
	mfk_mlp_train_defaults(o);
	o->epochs = (int) t->epochs;
	o->batch_size = (size_t) t->batch_size;
	MfOptimFromTraining(&o->optim, t);
	o->schedule.kind = MfLrScheduleKernel(t->lr_schedule);
	o->schedule.base_lr = t->learning_rate;
	o->schedule.step_size = t->lr_step_size;
	o->schedule.gamma = t->lr_gamma;
	o->schedule.total_steps = o->epochs;
	o->dropout = net->dropout;
	o->early_stopping = t->early_stopping;
	o->validation_fraction = t->early_stopping ? t->validation_fraction : 0.0;
	o->patience = (int) t->patience;
	o->seed = (uint64) t->seed;
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
	const MfTrainArgs *args;	/* run options and typed hyperparameters */
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
	o.alpha = f->args->cfg.linear.alpha;
	o.fit_intercept = f->args->cfg.linear.fit_intercept;
	o.force_qr = f->args->cfg.linear.solver == MF_LINEAR_SOLVER_QR;
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
	const MfLogisticConfig *c = &f->args->cfg.logistic;
	int		   *y = MfTrainLabels(f->ds, f->idx, f->n);
	size_t		nc,
				ni;
	double	   *coef,
			   *b;
	MfHistory	h;
	int			err;

	mfk_logreg_defaults(&o);
	o.C = c->C;
	o.fit_intercept = c->fit_intercept;
	o.max_iter = (int) c->max_iter;
	o.tol = c->tol;
	o.multinomial = K > 2;
	/* auto: Newton (a p x p Hessian per pass) for small binary problems */
	if (c->solver == MF_LOGISTIC_SOLVER_AUTO)
		o.solver = K == 2 && p <= MF_NEWTON_AUTO_MAX_FEATURES ? MF_LOGREG_NEWTON : MF_LOGREG_LBFGS;
	else
		o.solver = c->solver == MF_LOGISTIC_SOLVER_NEWTON ? MF_LOGREG_NEWTON : MF_LOGREG_LBFGS;
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
	const MfMlpConfig *net = &f->args->cfg.mlp.net;
	MfMlpTrainOpts o;
	MfMlp	   *mlp = &f->mlp;
	bool		classify = f->ds->classify;
	MfHistory	h;
	int		   *yc = NULL;
	double	   *yr = NULL;
	int			err;

	if (classify)
	{
		json_object_set_new(f->updates, "num_classes", json_integer(f->ds->n_labels));
		yc = MfTrainLabels(f->ds, f->idx, f->n);
	}
	else
		yr = MfTrainTargets(f->ds, f->idx, f->n);
	MfMlpLayout(mlp, net, f->ds->p, f->ds->n_labels);
	MfMlpTrainOptions(&o, &f->args->cfg.mlp.training, net);
	mlp->params = MfHugeAlloc(mul_size(mlp->n_params, sizeof(double)));
	h = MfNewHistory(o.epochs + 1);
	err = mfk_mlp_train(&f->env, mlp, f->X, f->n, yc, yr, &o, &h, NULL);
	if (err != MF_KOK)
		MfKernelError(err, "training the mlp");
	MfCheckFinite(mlp->params, mlp->n_params, "weights");
	f->history = MfHistoryJson(&h);
	MfAddTensor(f->w, "params", 1, mlp->n_params, 0, mlp->params);
	json_object_set_new(f->shape, "hidden_layers", MfMlpHiddenJson(net));
	json_object_set_new(f->shape, "activation", json_string(mfk_act_name(mlp->cfg.activation)));
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
	const MfKmeansConfig *c = &f->args->cfg.kmeans;
	double	   *centers;
	MfHistory	h;
	MfKmeansInfo info;
	int			err;

	mfk_kmeans_defaults(&o);
	o.k = (int) c->k;
	o.max_iter = (int) c->max_iter;
	o.tol = c->tol;
	o.n_init = (int) c->n_init;
	o.init = c->init == MF_KMEANS_INIT_RANDOM ? MF_KMEANS_RANDOM : MF_KMEANS_PLUSPLUS;
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
MfTrainFamily(MfDataset *ds, const MfTrainArgs *args, bytea **artifact, json_t **config_updates)
{
	uint32		fam = mf_artifact_family_from_name(args->family_name);
	double		test_size = args->split.test_size;
	bool		stratify = args->split.stratify != 0;
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
	if (ds->classify && ds->n_labels < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target \"%s\" has only one class", ds->target),
				 errdetail("Every row has the label \"%s\".", ds->labels[0]),
				 errhint("A classifier needs at least two distinct target values.")));

	memset(&f, 0, sizeof(f));
	f.seed = args->split.seed;
	MfSplit(ds, test_size, f.seed, stratify, &train, &n_train, &test, &n_test);
	MfPhaseEnd("split");
	if (n_train == 0 || n_test == 0)
		MfSplitTooSmall(ds, test_size, stratify);
	ds->test_rows = MfRawRowsJson(ds, test, Min(n_test, MF_TEST_ROWS_KEPT));
	f.X = MfFitEncodeRows(ds, train, n_train, test, n_test, &args->encode, &X_test);
	MfPhaseEnd("encode");

	if (mf_artifact_writer_begin(&w, fam, &aa) != MF_ART_OK)
		elog(ERROR, "could not start an artifact writer");
	f.ds = ds;
	f.args = args;
	f.idx = train;
	f.n = n_train;
	f.env = MfMakeEnv();
	f.w = &w;
	f.shape = MfJsonObject();
	f.updates = MfJsonObject();
	json_object_set_new(f.updates, "n_features", json_integer(ds->p));
	MfTrainPhase(MF_PHASE_TRAINING);
	switch (args->family)
	{
		case MF_FAMILY_LINEAR_REGRESSION:
			MfFitLinear(&f);
			break;
		case MF_FAMILY_LOGISTIC_REGRESSION:
			MfFitLogistic(&f);
			break;
		case MF_FAMILY_MLP:
			MfFitMlp(&f);
			break;
		case MF_FAMILY_KMEANS:
			MfFitKmeans(&f);
			break;
		default:
			elog(ERROR, "family \"%s\" passed the checks of training arguments", args->family_name);
	}
	MfPhaseEnd("fit");
	*artifact = MfFinishArtifact(&w, ds, args->family_name, fam, f.shape);
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
		json_object_set_new(out, t.name, t.dtype == MF_ARTIFACT_DTYPE_FLOAT32 ?
							MfFloatArrayJson(t.data_f32, t.n_elems) :
							MfArrayJson(t.data, t.n_elems));
	}
	return out;
}
