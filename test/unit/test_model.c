/*
 * test_model.c - model/model.c: a trained model opened from artifact
 * bytes, its encoding of raw rows and its scores.
 *
 * Design note.  Seven models are fitted by the kernels inside the test on
 * a small data set with a numeric column (x), a boolean (flag), a
 * three-category column whose vocabulary holds non-ASCII bytes (colour:
 * blue, gr\xc3\xbcn, red; NULL imputes "red") and a two-category column
 * stored without an impute value (shape: NULL gives zeros); p = 7, with
 * standardisation (and one linear model without).  Their metadata is
 * written as mf_train writes it and the artifacts by the real writer.
 * Encoding is checked against hand-written vectors (NULL in every kind of
 * column, an unseen category, the non-ASCII category, numbers in texts,
 * NaN and infinity refused); scores against a scalar reference written
 * here (naive sums, exp, tanh), to 1e-12; the row-by-row batch against the
 * single-row scorer bit for bit, and the BLAS batch to rounding.  The
 * bit-for-bit comparison with the SQL functions is the integration test
 * test/integration/model_module.sh.
 */
#include "artifact.h"
#include "mf_kernels.h"
#include "model.h"
#include "mf_test.h"

#include <jansson.h>
#include <stdlib.h>

#define N	48
#define P	7
#define NM	7

static const char *const COLOURS[3] = {"blue", "gr\xc3\xbcn", "red"};
static const char *const SHAPES[2] = {"round", "square"};

static double Xenc[N * P];		/* unscaled encoded rows */
static double Zs[N * P];		/* scaled */
static double means[P],
			stds[P];
static double y_reg[N];
static int	y2[N],
			y3[N];

/* malloc and free, as the artifact writer and the models take them. */
static MfArtAllocator heap;


/* One model: family, tensors and metadata, and its artifact. */
typedef struct TModel
{
	const char *name;
	uint32_t	family;
	int			n_t;
	const char *tname[2];
	uint32_t	ndim[2];
	uint64_t	dims[2][2];
	double	   *data[2];
	json_t	   *meta;
	void	   *bytes;
	size_t		len;
	MfMlp		net;
} TModel;

static TModel tm[NM];

/* Fill the raw data and its encoding (x, flag, colour x3, shape x2). */
static void
make_data(void)
{
	for (int i = 0; i < N; i++)
	{
		double		x = (i % 11) / 5.0 - 1.0;
		int			flag = i % 4 == 1;
		int			colour = i % 3;
		int			shape = (i / 3) % 2;
		double	   *r = Xenc + i * P;

		r[0] = x;
		r[1] = flag;
		for (int k = 0; k < 3; k++)
			r[2 + k] = colour == k;
		for (int k = 0; k < 2; k++)
			r[5 + k] = shape == k;
		y_reg[i] = 1.5 * x - 0.7 * flag + 0.3 * colour + 0.2 * shape;
		y2[i] = x + 0.5 * (colour == 1) > 0.1;
		y3[i] = colour == 2 ? 2 : (x > 0 ? 1 : 0);
	}
	for (int j = 0; j < P; j++)
	{
		double		s = 0.0,
					ss = 0.0;

		for (int i = 0; i < N; i++)
			s += Xenc[i * P + j];
		means[j] = s / N;
		for (int i = 0; i < N; i++)
			ss += (Xenc[i * P + j] - means[j]) * (Xenc[i * P + j] - means[j]);
		stds[j] = sqrt(ss / N);
	}
	for (int i = 0; i < N * P; i++)
		Zs[i] = (Xenc[i] - means[i % P]) / stds[i % P];
}

/* A JSON array of n doubles. */
static json_t *
jdoubles(const double *v, int n)
{
	json_t	   *a = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	return a;
}

/* Metadata as mf_train writes it (labels: n strings or none). */
static json_t *
meta_for(const char *family, const char *task, bool standardize, const char *const *labels,
		 int n_labels, const char *target_type, json_t *model)
{
	json_t	   *cols = json_pack("[{s:s,s:s,s:s,s:s,s:f},{s:s,s:s,s:s,s:s,s:f},"
								 "{s:s,s:s,s:s,s:s,s:[s,s,s],s:s},{s:s,s:s,s:s,s:s,s:[s,s],s:n}]",
								 "name", "x", "type", "double precision", "encoding", "value", "kind", "numeric", "impute", 0.25,
								 "name", "flag", "type", "boolean", "encoding", "value", "kind", "boolean", "impute", 0.5,
								 "name", "colour", "type", "text", "encoding", "one_hot", "kind", "categorical",
								 "categories", COLOURS[0], COLOURS[1], COLOURS[2], "impute", "red",
								 "name", "shape", "type", "text", "encoding", "one_hot", "kind", "categorical",
								 "categories", SHAPES[0], SHAPES[1], "impute");
	json_t	   *o = json_pack("{s:o,s:[s,s,s,s,s,s,s],s:i,s:b,s:s,s:s,s:s,s:o}",
							  "columns", cols, "features", "x", "flag", "colour=blue", "colour=gr\xc3\xbcn",
							  "colour=red", "shape=round", "shape=square", "n_features", P,
							  "standardize", standardize, "task", task, "target", "y",
							  "family", family, "model", model);

	if (standardize)
	{
		json_object_set_new(o, "means", jdoubles(means, P));
		json_object_set_new(o, "stds", jdoubles(stds, P));
	}
	if (target_type)
		json_object_set_new(o, "target_type", json_string(target_type));
	if (n_labels)
	{
		json_t	   *l = json_array();

		for (int k = 0; k < n_labels; k++)
			json_array_append_new(l, json_string(labels[k]));
		json_object_set_new(o, "labels", l);
	}
	return o;
}

/* Write the artifact of t. */
static void
write_model(TModel *t)
{
	MfArtifactWriter w;
	char	   *text = json_dumps(t->meta, JSON_COMPACT | JSON_SORT_KEYS);

	mf_artifact_writer_begin(&w, t->family, &heap);
	for (int k = 0; k < t->n_t; k++)
		mf_artifact_writer_add(&w, t->tname[k], t->ndim[k], t->dims[k], t->data[k]);
	mf_artifact_writer_set_meta(&w, text, strlen(text));
	if (mf_artifact_writer_finish(&w, &t->bytes, &t->len) != MF_ART_OK)
		MF_DIAG("writer: %s", w.errmsg);
	free(text);
}

/* Set the name, family and tensor shapes of t (two tensors at most). */
static void
shape_model(TModel *t, const char *name, uint32_t family, int n_t, uint32_t ndim0, uint64_t d00,
			uint64_t d01, uint32_t ndim1, uint64_t d10)
{
	static const char *const names[2][2] = {{"centers", NULL}, {"coef", "intercept"}};

	memset(t, 0, sizeof(*t));
	t->name = name;
	t->family = family;
	t->n_t = n_t;
	t->tname[0] = names[n_t - 1][0];
	t->tname[1] = names[n_t - 1][1];
	t->ndim[0] = ndim0;
	t->dims[0][0] = d00;
	t->dims[0][1] = d01;
	t->ndim[1] = ndim1;
	t->dims[1][0] = d10;
}

/* An MLP of one hidden layer of 5 (act), trained briefly. */
static void
fit_mlp(TModel *t, MfTask task, MfAct act, const char *actname)
{
	MfEnv		env = {0};
	MfMlpShape cfg = {0};
	MfMlpTrainOpts o;
	MfRng		rng;
	static const char *const yn[2] = {"no", "yes"};

	env.alloc = mfk_malloc_allocator;
	cfg.n_inputs = P;
	cfg.n_outputs = task == MF_TASK_CLASSIFICATION ? 2 : 1;
	cfg.task = task;
	cfg.n_hidden = 1;
	cfg.hidden[0] = 5;
	cfg.activation = act;
	mfk_mlp_layout(&t->net, &cfg);
	t->n_t = 1;
	t->tname[0] = "params";
	t->ndim[0] = 1;
	t->dims[0][0] = t->net.n_params;
	t->data[0] = calloc(t->net.n_params, sizeof(double));
	t->net.params = t->data[0];
	mfk_rng_seed(&rng, 11);
	mfk_mlp_init_params(&t->net, &rng);
	mfk_mlp_train_defaults(&o);
	o.epochs = 30;
	o.seed = 3;
	o.init_params = 0;
	MF_OK(mfk_mlp_train(&env, &t->net, Zs, N, task == MF_TASK_CLASSIFICATION ? y2 : NULL,
						task == MF_TASK_CLASSIFICATION ? NULL : y_reg, &o, NULL, NULL) == MF_KOK, "mlp fit");
	t->meta = meta_for("mlp", task == MF_TASK_CLASSIFICATION ? "classification" : "regression", true,
					   yn, task == MF_TASK_CLASSIFICATION ? 2 : 0, "text",
					   json_pack("{s:[i],s:s}", "hidden_layers", 5, "activation", actname));
}

/* Fit the seven models. */
static void
make_models(void)
{
	MfEnv		env = {0};
	MfLinregOpts lo;
	MfLogregOpts go;
	MfKmeansOpts ko;
	static const char *const yn[2] = {"no", "yes"};
	static const char *const l3[3] = {"1", "2.5", "7"};

	env.alloc = mfk_malloc_allocator;
	for (int v = 0; v < 2; v++)
	{
		TModel	   *t = &tm[v];

		shape_model(t, v ? "linear_raw" : "linear", MF_ART_FAMILY_LINEAR_REGRESSION, 2, 1, P, 0, 0, 0);
		t->data[0] = calloc(P, sizeof(double));
		t->data[1] = calloc(1, sizeof(double));
		mfk_linreg_defaults(&lo);
		lo.alpha = 0.1;
		MF_OK(mfk_linreg_fit(&env, v ? Xenc : Zs, y_reg, N, P, &lo, t->data[0], t->data[1], NULL) == MF_KOK,
			  "linear fit");
		t->meta = meta_for("linear_regression", "regression", v == 0, NULL, 0, "double precision", json_pack("{}"));
	}
	shape_model(&tm[2], "logistic", MF_ART_FAMILY_LOGISTIC_REGRESSION, 2, 1, P, 0, 1, 1);
	tm[2].data[0] = calloc(P, sizeof(double));
	tm[2].data[1] = calloc(1, sizeof(double));
	mfk_logreg_defaults(&go);
	MF_OK(mfk_logreg_fit(&env, Zs, y2, N, P, 2, &go, tm[2].data[0], tm[2].data[1], NULL, NULL) == MF_KOK,
		  "binary logistic fit");
	tm[2].meta = meta_for("logistic_regression", "classification", true, yn, 2, "text",
						  json_pack("{s:b}", "multinomial", 0));

	shape_model(&tm[3], "logistic3", MF_ART_FAMILY_LOGISTIC_REGRESSION, 2, 2, P, 3, 1, 3);
	tm[3].data[0] = calloc(P * 3, sizeof(double));
	tm[3].data[1] = calloc(3, sizeof(double));
	go.multinomial = 1;
	go.solver = MF_LOGREG_LBFGS;
	MF_OK(mfk_logreg_fit(&env, Zs, y3, N, P, 3, &go, tm[3].data[0], tm[3].data[1], NULL, NULL) == MF_KOK,
		  "3-class logistic fit");
	tm[3].meta = meta_for("logistic_regression", "classification", true, l3, 3, "numeric",
						  json_pack("{s:b}", "multinomial", 1));

	tm[4].name = "mlp";
	tm[4].family = MF_ART_FAMILY_MLP;
	fit_mlp(&tm[4], MF_TASK_CLASSIFICATION, MF_ACT_TANH, "tanh");
	tm[5].name = "mlp_reg";
	tm[5].family = MF_ART_FAMILY_MLP;
	fit_mlp(&tm[5], MF_TASK_REGRESSION, MF_ACT_RELU, "relu");

	shape_model(&tm[6], "kmeans", MF_ART_FAMILY_KMEANS, 1, 2, 3, P, 0, 0);
	tm[6].data[0] = calloc(3 * P, sizeof(double));
	mfk_kmeans_defaults(&ko);
	ko.k = 3;
	ko.n_init = 2;
	MF_OK(mfk_kmeans_fit(&env, Zs, N, P, &ko, tm[6].data[0], NULL, NULL, NULL) == MF_KOK, "kmeans fit");
	tm[6].meta = meta_for("kmeans", "clustering", true, NULL, 0, NULL, json_pack("{s:i}", "k", 3));
	for (int i = 0; i < NM; i++)
		write_model(&tm[i]);
}

/* ------------------------------------------------------------ reference */

/* The reference score of a scaled row z: value, class/cluster, probabilities. */
static double
reference(const TModel *t, const double *z, int *cls, double *proba)
{
	double		logit[3];
	int			K = t->family == MF_ART_FAMILY_LOGISTIC_REGRESSION ? (int) (t->dims[1][0] == 3 ? 3 : 2) : 2;

	*cls = -1;
	if (t->family == MF_ART_FAMILY_LINEAR_REGRESSION)
	{
		double		s = t->data[1][0];

		for (int j = 0; j < P; j++)
			s += t->data[0][j] * z[j];
		return s;
	}
	if (t->family == MF_ART_FAMILY_KMEANS)
	{
		double		best = INFINITY;

		for (int c = 0; c < 3; c++)
		{
			double		d = 0.0;

			for (int j = 0; j < P; j++)
				d += (z[j] - t->data[0][c * P + j]) * (z[j] - t->data[0][c * P + j]);
			if (d < best)
			{
				best = d;
				*cls = c;
			}
		}
		return *cls;
	}
	if (t->family == MF_ART_FAMILY_LOGISTIC_REGRESSION && K == 2)
	{
		double		s = t->data[1][0];

		for (int j = 0; j < P; j++)
			s += t->data[0][j] * z[j];
		proba[1] = 1.0 / (1.0 + exp(-s));
		proba[0] = 1.0 - proba[1];
	}
	else if (t->family == MF_ART_FAMILY_LOGISTIC_REGRESSION)
	{
		for (int k = 0; k < 3; k++)
		{
			logit[k] = t->data[1][k];
			for (int j = 0; j < P; j++)
				logit[k] += z[j] * t->data[0][j * 3 + k];
		}
	}
	else
	{
		/* mlp: params W1 (P x 5), b1 (5), W2 (5 x out), b2 (out) */
		const double *w = t->data[0];
		int			o = (int) t->net.cfg.n_outputs;
		double		h[5];

		for (int u = 0; u < 5; u++)
		{
			h[u] = w[P * 5 + u];
			for (int j = 0; j < P; j++)
				h[u] += z[j] * w[j * 5 + u];
			h[u] = t->net.cfg.activation == MF_ACT_TANH ? tanh(h[u]) : fmax(h[u], 0.0);
		}
		for (int k = 0; k < o; k++)
		{
			logit[k] = w[P * 5 + 5 + 5 * o + k];
			for (int u = 0; u < 5; u++)
				logit[k] += h[u] * w[P * 5 + 5 + u * o + k];
		}
		if (o == 1)
			return logit[0];
	}
	if (!(t->family == MF_ART_FAMILY_LOGISTIC_REGRESSION && K == 2))
	{
		double		mx = fmax(logit[0], logit[1]),
					sum = 0.0;

		if (K == 3)
			mx = fmax(mx, logit[2]);
		for (int k = 0; k < K; k++)
			sum += (proba[k] = exp(logit[k] - mx));
		for (int k = 0; k < K; k++)
			proba[k] /= sum;
	}
	*cls = 0;
	for (int k = 1; k < K; k++)
		if (proba[k] > proba[*cls])
			*cls = k;
	return *cls;
}

/* ------------------------------------------------------------ cases */

/* A number, boolean, text and NULL raw value. */
static MfRawValue
num(double v)
{
	return (MfRawValue) {MF_RAW_NUMBER, v, false, NULL, 0};
}

/* A boolean raw value. */
static MfRawValue
boolean(bool b)
{
	return (MfRawValue) {MF_RAW_BOOL, 0.0, b, NULL, 0};
}

/* A text raw value. */
static MfRawValue
txt(const char *s)
{
	return (MfRawValue) {MF_RAW_TEXT, 0.0, false, s, strlen(s)};
}

/* A NULL raw value. */
static MfRawValue
null(void)
{
	return (MfRawValue) {MF_RAW_NULL, 0.0, false, NULL, 0};
}

/* True when two p-vectors are equal bit for bit. */
static bool
same(const double *a, const double *b, size_t n)
{
	return memcmp(a, b, sizeof(double) * n) == 0;
}

/* Encoding: every kind of NULL, unseen and non-ASCII categories, refusals. */
static void
test_encoding(const MfTrainedModel *m)
{
	double		x[P];
	MfModelError err;
	MfRawValue	row[4];

	row[0] = num(1.5);
	row[1] = boolean(true);
	row[2] = txt("gr\xc3\xbcn");
	row[3] = txt("square");
	MF_OK(mf_trained_model_encode(m, row, x, NULL) == MF_MODEL_OK &&
		  same(x, (double[P]) {1.5, 1, 0, 1, 0, 0, 1}, P), "encode: non-ASCII category");
	row[0] = null();
	row[1] = null();
	row[2] = null();
	row[3] = null();
	MF_OK(mf_trained_model_encode(m, row, x, NULL) == MF_MODEL_OK &&
		  same(x, (double[P]) {0.25, 0.5, 0, 0, 1, 0, 0}, P), "encode: NULL in every kind of column");
	row[0] = txt(" -2e1");
	row[1] = num(0);
	row[2] = txt("purple");
	row[3] = txt("gr\xc3\xbc");	/* a prefix of a category */
	MF_OK(mf_trained_model_encode(m, row, x, NULL) == MF_MODEL_OK &&
		  same(x, (double[P]) {-20, 0, 0, 0, 0, 0, 0}, P), "encode: number in a text, unseen categories");
	row[2] = txt("grun");
	MF_OK(mf_trained_model_encode(m, row, x, NULL) == MF_MODEL_OK && x[3] == 0.0,
		  "encode: an ASCII look-alike is unseen");
	row[2] = (MfRawValue) {MF_RAW_NUMBER, 3.0, false, "red", 3};
	MF_OK(mf_trained_model_encode(m, row, x, NULL) == MF_MODEL_OK && x[4] == 1.0,
		  "encode: a number matches a category by the caller's text");
	row[2] = boolean(true);
	MF_OK(mf_trained_model_encode(m, row, x, NULL) == MF_MODEL_OK && x[2] + x[3] + x[4] == 0.0,
		  "encode: a boolean as category text \"true\" is unseen");
	row[2] = null();
	row[0] = num(NAN);
	MF_OK(mf_trained_model_encode(m, row, x, &err) == MF_MODEL_NOT_FINITE && err.column == 0 &&
		  err.feature == 0 && isnan(err.value), "encode: NaN refused");
	row[0] = num(0);
	row[1] = num(-INFINITY);
	MF_OK(mf_trained_model_encode(m, row, x, &err) == MF_MODEL_NOT_FINITE && err.column == 1 &&
		  err.feature == 1, "encode: -infinity refused");
	row[1] = txt("nan");
	MF_OK(mf_trained_model_encode(m, row, x, &err) == MF_MODEL_NOT_FINITE, "encode: \"nan\" text refused");
	row[1] = txt("1x");
	MF_OK(mf_trained_model_encode(m, row, x, &err) == MF_MODEL_BAD_VALUE && err.column == 1,
		  "encode: a text that is not a number refused");
	row[1] = txt("");
	MF_OK(mf_trained_model_encode(m, row, x, &err) == MF_MODEL_BAD_VALUE, "encode: an empty text refused");
	{
		MfNamedValue nv[4] = {{"shape", txt("round")}, {"other", num(9)}, {"x", num(2)}, {"flag", boolean(false)}};

		MF_OK(mf_trained_model_encode_named(m, nv, 4, x, &err) == MF_MODEL_MISSING && err.column == 2,
			  "encode named: a missing column named");
		nv[1].name = "colour";
		nv[1].value = txt("blue");
		MF_OK(mf_trained_model_encode_named(m, nv, 4, x, &err) == MF_MODEL_OK &&
			  same(x, (double[P]) {2, 0, 1, 0, 0, 1, 0}, P), "encode named: any order");
	}
	{
		MfRawValue	rows[8] = {num(1), boolean(false), txt("red"), null(), null(), num(1), null(), txt("round")};
		double		X2[2 * P];

		MF_OK(mf_trained_model_encode_rows(m, rows, 2, X2, NULL) == MF_MODEL_OK &&
			  same(X2, (double[2 * P]) {1, 0, 0, 0, 1, 0, 0, 0.25, 1, 0, 0, 1, 1, 0}, 2 * P),
			  "encode rows: a batch of two");
		rows[4] = num(INFINITY);
		MF_OK(mf_trained_model_encode_rows(m, rows, 2, X2, &err) == MF_MODEL_NOT_FINITE && err.column == 0,
			  "encode rows: infinity in the second row refused");
	}
}

/* Encode a JSON text with the jsonb form's rules. */
static MfModelStatus
encode_json(const MfTrainedModel *m, const char *text, double *x, MfModelError *err)
{
	json_t	   *o = json_loads(text, JSON_DECODE_ANY, NULL);
	MfModelStatus s = mf_trained_model_encode_json(m, o, x, err);

	json_decref(o);
	return s;
}

/* The jsonb form's encoding: JSON values, missing members, refusals. */
static void
test_encoding_json(const MfTrainedModel *m)
{
	double		x[P];
	MfModelError err;

	MF_OK(encode_json(m, "{\"x\": 1, \"flag\": true, \"colour\": \"gr\u00fcn\", \"shape\": null, \"z\": 0}", x,
					  NULL) == MF_MODEL_OK && same(x, (double[P]) {1, 1, 0, 1, 0, 0, 0}, P),
		  "json: values, null, an extra member");
	MF_OK(encode_json(m, "{\"x\": \"2.5\", \"flag\": null, \"colour\": 3, \"shape\": \"round\"}", x,
					  NULL) == MF_MODEL_OK && same(x, (double[P]) {2.5, 0.5, 0, 0, 0, 1, 0}, P),
		  "json: a number in a string, a number as an unseen category");
	MF_OK(encode_json(m, "{\"x\": 1, \"flag\": true, \"colour\": \"red\"}", x, &err) == MF_MODEL_MISSING &&
		  err.column == 3, "json: a missing member named");
	MF_OK(encode_json(m, "{\"x\": [1], \"flag\": true, \"colour\": \"red\", \"shape\": null}", x, &err) ==
		  MF_MODEL_BAD_VALUE && err.column == 0 && strcmp(err.detail, "must be a number") == 0,
		  "json: an array for a number refused");
	MF_OK(encode_json(m, "{\"x\": 1, \"flag\": true, \"colour\": {}, \"shape\": null}", x, &err) ==
		  MF_MODEL_BAD_VALUE && err.column == 2 && strstr(err.detail, "a string, a number or null"),
		  "json: an object for a category refused");
	MF_OK(encode_json(m, "{\"x\": \"-inf\", \"flag\": true, \"colour\": null, \"shape\": null}", x, &err) ==
		  MF_MODEL_NOT_FINITE && err.feature == 0, "json: \"-inf\" refused");
	MF_OK(encode_json(m, "[1]", x, &err) == MF_MODEL_BAD_VALUE && err.column == -1, "json: not an object");
}

/*
 * The batch of rows scaled beforehand (evaluation's path): the batch's bits
 * (bvalues, bproba), and classes or clusters as the per-row scorer's (idx).
 */
static void
test_batch_scaled(const char *tname, const MfTrainedModel *m, MfModelWork *w, const MfEnv *env,
				  const double *bvalues, const double *bproba, const int *idx)
{
	static double Z[N * P];
	double		v[N],
				pr[N * 3];
	int			cls[N];
	int			K = m->meta.n_labels;
	bool		ok = true;
	char		name[96];

	for (int i = 0; i < N; i++)
		memcpy(Z + i * P, mf_trained_model_scale(m, Xenc + i * P, w, NULL), sizeof(double) * P);
	ok = mf_trained_model_score_batch_scaled(m, env, Z, N, v, cls, bproba ? pr : NULL, NULL) == MF_MODEL_OK;
	for (int i = 0; ok && i < N; i++)
		ok = memcmp(&v[i], &bvalues[i], sizeof(double)) == 0 && cls[i] == idx[i] &&
			(bproba == NULL || same(pr + i * K, bproba + i * K, (size_t) K));
	snprintf(name, sizeof(name), "%s: the batch of scaled rows: the batch's bits, the rows' classes",
			 tname);
	MF_OK(ok, name);
}

/* Scores of every row of the data against the reference, and the batches. */
static void
test_scores(const TModel *t, const MfTrainedModel *m)
{
	MfModelWork w;
	double		values[N],
				bvalues[N],
				proba[N * 3],
				bproba[N * 3];
	int			idx[N];
	int			ok_val = 1,
				ok_cls = 1,
				ok_prob = 1,
				ok_rows = 1;
	double		maxd = 0.0;
	bool		scaled = m->meta.standardize;
	int			K = m->meta.n_labels;
	MfEnv		env = {0};
	char		name[96];

	MF_OK(mf_model_work_init(m, &w, &heap) == MF_MODEL_OK, "work buffers");
	for (int i = 0; i < N; i++)
	{
		MfModelScore sc;
		double		rp[3];
		int			rc;
		double		rv = reference(t, (scaled ? Zs : Xenc) + i * P, &rc, rp);

		if (mf_trained_model_score(m, Xenc + i * P, &w, &sc, NULL) != MF_MODEL_OK)
		{
			ok_val = 0;
			continue;
		}
		if (t->family == MF_ART_FAMILY_LINEAR_REGRESSION || (t->family == MF_ART_FAMILY_MLP && K == 0))
		{
			maxd = fmax(maxd, fabs(sc.value - rv) / fmax(1.0, fabs(rv)));
			ok_cls &= sc.index == -1 && sc.label == NULL && sc.proba == NULL;
			continue;
		}
		ok_cls &= sc.index == rc;
		if (t->family == MF_ART_FAMILY_KMEANS)
		{
			ok_val &= sc.value == rc && sc.label == NULL;
			continue;
		}
		for (int k = 0; k < K; k++)
			maxd = fmax(maxd, fabs(sc.proba[k] - rp[k]));
		ok_val &= strcmp(sc.label, m->meta.labels[rc]) == 0 &&
			sc.value == (m->labels_numeric ? strtod(m->meta.labels[rc], NULL) : rc);
	}
	snprintf(name, sizeof(name), "%s: scores match the reference (max rel diff %.1e)", t->name, maxd);
	MF_OK(ok_val && ok_cls && maxd < 1e-12, name);

	/* rows one by one: the single-row scorer's bits */
	MF_OK(mf_trained_model_score_rows(m, Xenc, N, &w, values, idx, K ? proba : NULL, NULL) == MF_MODEL_OK,
		  "score rows");
	for (int i = 0; i < N; i++)
	{
		MfModelScore sc;

		mf_trained_model_score(m, Xenc + i * P, &w, &sc, NULL);
		ok_rows &= memcmp(&values[i], &sc.value, sizeof(double)) == 0 && idx[i] == sc.index &&
			(!K || same(proba + i * K, sc.proba, (size_t) K));
	}
	snprintf(name, sizeof(name), "%s: score_rows is the single-row scorer bit for bit", t->name);
	MF_OK(ok_rows, name);

	/* the BLAS batch: same classes, values to rounding */
	env.alloc = mfk_malloc_allocator;
	MF_OK(mf_trained_model_score_batch(m, &env, Xenc, N, bvalues, K ? bproba : NULL, NULL) == MF_MODEL_OK,
		  "score batch");
	maxd = 0.0;
	for (int i = 0; i < N; i++)
	{
		maxd = fmax(maxd, fabs(bvalues[i] - values[i]) / fmax(1.0, fabs(values[i])));
		for (int k = 0; k < K; k++)
			maxd = fmax(maxd, fabs(bproba[i * K + k] - proba[i * K + k]));
	}
	snprintf(name, sizeof(name), "%s: the BLAS batch agrees to rounding (%.1e)", t->name, maxd);
	ok_prob = maxd < 1e-12;
	MF_OK(ok_prob, name);
	test_batch_scaled(t->name, m, &w, &env, bvalues, K ? bproba : NULL, idx);
	mf_model_work_free(&w, &heap);
}

/* Scaling refuses an overflow to infinity; a batch refuses NaN. */
static void
test_refusals(const MfTrainedModel *m)
{
	MfModelWork w;
	MfModelScore sc;
	MfModelError err;
	double		x[P] = {1.79e308, 0, 0, 0, 1, 0, 0};
	double		v[2];
	MfEnv		env = {0};
	double		X2[2 * P] = {0};

	mf_model_work_init(m, &w, &heap);
	MF_OK(stds[0] < 0.99 && mf_trained_model_score(m, x, &w, &sc, &err) == MF_MODEL_NOT_FINITE && err.feature == 0,
		  "scaling to infinity refused");
	X2[P + 3] = NAN;
	env.alloc = mfk_malloc_allocator;
	MF_OK(mf_trained_model_score_batch(m, &env, X2, 2, v, NULL, &err) == MF_MODEL_NOT_FINITE &&
		  err.feature == 3 && err.column == 2, "batch: NaN refused with its feature and column");
	MF_OK(mf_trained_model_score(m, X2 + P, &w, &sc, &err) == MF_MODEL_NOT_FINITE && err.feature == 3,
		  "row: NaN refused");
	mf_model_work_free(&w, &heap);
}

/* The description as a struct and as JSON. */
static void
test_describe(void)
{
	MfTrainedModel m;
	MfModelIO	io;
	json_t	   *j;
	char	   *s;

	mf_trained_model_open(&m, tm[3].bytes, tm[3].len, true, &heap, NULL);
	MF_OK(mf_trained_model_describe(&m, &heap, &io) == MF_MODEL_OK && io.n_inputs == 4 &&
		  io.output == MF_OUT_CLASS && io.n_outputs == 3 && io.labels_numeric &&
		  io.inputs[2].width == 3 && io.inputs[3].has_impute == false && io.inputs[2].has_impute &&
		  strcmp(io.inputs[2].categories[1], "gr\xc3\xbcn") == 0 && strcmp(io.task, "classification") == 0,
		  "describe: inputs, outputs and labels");
	free(io.inputs);
	j = mf_trained_model_describe_json(&m);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	MF_OK(s && strstr(s, "\"labels\":[\"1\",\"2.5\",\"7\"]") && strstr(s, "gr\\u00FCn") &&
		  strstr(s, "\"kind\":\"class\"") && strstr(s, "\"impute\":null,\"kind\":\"categorical\",\"name\":\"shape\""),
		  "describe: JSON");
	if (s)
		MF_DIAG("%s", s);
	free(s);
	json_decref(j);
	mf_trained_model_free(&m);
	mf_trained_model_open(&m, tm[6].bytes, tm[6].len, false, &heap, NULL);
	j = mf_trained_model_describe_json(&m);
	MF_OK(json_integer_value(json_object_get(json_object_get(j, "output"), "n_clusters")) == 3 &&
		  strcmp(json_string_value(json_object_get(j, "task")), "clustering") == 0, "describe: k-means");
	json_decref(j);
	mf_trained_model_free(&m);
}

/* Counting allocator that fails after a number of calls. */
static long budget = -1;
static long live = 0;

/* malloc with a budget, counting live blocks. */
static void *
budget_alloc(void *ctx, size_t n)
{
	void	   *p;

	(void) ctx;
	if (budget == 0)
		return NULL;
	if (budget > 0)
		budget--;
	p = malloc(n);
	live += p != NULL;
	return p;
}

/* free counting live blocks. */
static void
budget_free(void *ctx, void *p)
{
	(void) ctx;
	live -= p != NULL;
	free(p);
}

/* Refused bytes, and out of memory at every step, leak nothing. */
static void
test_open_errors(void)
{
	static const MfArtAllocator ba = {budget_alloc, budget_free, NULL};
	MfTrainedModel m;
	MfModelError err;
	unsigned char *bad = malloc(tm[4].len);
	int			ok = 1,
				steps = 0;

	memcpy(bad, tm[4].bytes, tm[4].len);
	bad[tm[4].len - 1] ^= 1;
	MF_OK(mf_trained_model_open(&m, bad, tm[4].len, false, &ba, &err) == MF_MODEL_BAD_ARTIFACT && live == 0,
		  "open: a damaged artifact refused");
	free(bad);
	for (long b = 0;; b++)
	{
		MfModelStatus s;

		budget = b;
		s = mf_trained_model_open(&m, tm[4].bytes, tm[4].len, true, &ba, &err);
		if (s == MF_MODEL_OK)
		{
			mf_trained_model_free(&m);
			ok &= live == 0;
			break;
		}
		ok &= s == MF_MODEL_NOMEM && live == 0;
		steps++;
	}
	budget = -1;
	MF_OK(ok && steps > 5, "open: out of memory at every step frees everything");
}

/* Run every check. */
int
main(void)
{
	heap.alloc = mfk_malloc_allocator.alloc;
	heap.free = mfk_malloc_allocator.free;
	make_data();
	make_models();
	for (int i = 0; i < NM; i++)
	{
		MfTrainedModel m;
		MfModelError err;
		char		name[64];

		snprintf(name, sizeof(name), "%s: opens", tm[i].name);
		if (!MF_OK(mf_trained_model_open(&m, tm[i].bytes, tm[i].len, i % 2 == 0, &heap, &err) == MF_MODEL_OK,
				   name))
		{
			MF_DIAG("%s %s", err.member, err.detail);
			continue;
		}
		if (i == 0)
		{
			test_encoding(&m);
			test_encoding_json(&m);
			test_refusals(&m);
		}
		test_scores(&tm[i], &m);
		mf_trained_model_free(&m);
	}
	test_describe();
	test_open_errors();
	return mf_test_done();
}
