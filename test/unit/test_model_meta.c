/*
 * test_model_meta.c - mf_model_meta_read(), the one check of an artifact's
 * metadata against its tensors.
 *
 * Design note.  Six models are made by the kernels on a small data set with
 * a numeric, a boolean and a two-category column (p = 4): linear
 * regression, binary and 3-class logistic regression, an MLP classifier,
 * an MLP regressor and k-means with 3 centres.  Their metadata is built as
 * mf_train writes it (src/features.c MfSchemaToJson + family + model), and
 * every case rewrites one member (a path such as "columns[2].categories"
 * set to a JSON text, or removed) before the artifact is written again by
 * the real writer: the reader must refuse it and name that member.  Then a
 * bounded random mutation of the metadata text checks that whatever the
 * reader accepts is self-consistent (the shapes every loader relies on),
 * and an allocator that fails at each step checks the out-of-memory path.
 */
#include "artifact.h"
#include "mf_kernels.h"
#include "model_meta.h"
#include "mf_test.h"

#include <jansson.h>
#include <stdlib.h>
#include <time.h>

#define N	40
#define P	4

/* ------------------------------------------------------------ allocator */

/* Every block handed out since the last arena_reset (freed together). */
typedef struct Block
{
	struct Block *next;
	double		data[];
} Block;

static Block *arena = NULL;
static long fail_after = -1;	/* >= 0: that many allocations succeed */

/* malloc that records the block (and fails on demand). */
static void *
arena_alloc(void *ctx, size_t size)
{
	Block	   *b;

	(void) ctx;
	if (fail_after == 0)
		return NULL;
	if (fail_after > 0)
		fail_after--;
	b = malloc(sizeof(Block) + size);
	if (b == NULL)
		return NULL;
	b->next = arena;
	arena = b;
	return b->data;
}

/* Free every recorded block. */
static void
arena_reset(void)
{
	while (arena)
	{
		Block	   *n = arena->next;

		free(arena);
		arena = n;
	}
}

static const MfArtAllocator talloc = {arena_alloc, NULL, NULL};

/* ------------------------------------------------------------ models */

/* The tensors and metadata of one trained model. */
typedef struct Model
{
	const char *name;
	uint32_t	family;
	json_t	   *meta;
	int			n_tensors;
	const char *tnames[2];
	uint32_t	ndim[2];
	uint64_t	dims[2][2];
	double	   *data[2];
} Model;

static double X[N * P];
static double y_reg[N];
static int	y2[N];
static int	y3[N];
static Model models[6];

/* Fill the encoded rows: x1, flag, colour=blue, colour=red. */
static void
make_data(void)
{
	for (int i = 0; i < N; i++)
	{
		double		x1 = (i % 13) / 13.0;
		int			flag = i % 3 == 0;
		int			red = i % 2;

		X[i * P + 0] = x1;
		X[i * P + 1] = flag;
		X[i * P + 2] = !red;
		X[i * P + 3] = red;
		y_reg[i] = 2.0 * x1 - flag + 0.5 * red + 0.01 * (i % 5);
		y2[i] = x1 + 0.3 * red > 0.6;
		y3[i] = i % 3 == 0 ? 0 : (x1 > 0.5 ? 1 : 2);
	}
}

/* Metadata as mf_train writes it: schema, task, labels, family, model. */
static json_t *
base_meta(const char *family, const char *task, int n_labels, json_t *model)
{
	json_t	   *labels = json_array();

	for (int k = 0; k < n_labels; k++)
	{
		char		s[8];

		snprintf(s, sizeof(s), "%d", k);
		json_array_append_new(labels, json_string(s));
	}
	return json_pack("{s:[{s:s,s:s,s:s,s:s,s:f},{s:s,s:s,s:s,s:s,s:f},"
					 "{s:s,s:s,s:s,s:s,s:[s,s],s:s}],"
					 "s:[s,s,s,s],s:i,s:b,s:[f,f,f,f],s:[f,f,f,f],s:s,s:s,s:s,s:o,s:s,s:o}",
					 "columns",
					 "name", "x1", "type", "double precision", "encoding", "value", "kind", "numeric", "impute", 0.5,
					 "name", "flag", "type", "boolean", "encoding", "value", "kind", "boolean", "impute", 0.25,
					 "name", "colour", "type", "text", "encoding", "one_hot", "kind", "categorical",
					 "categories", "blue", "red", "impute", "red",
					 "features", "x1", "flag", "colour=blue", "colour=red",
					 "n_features", P, "standardize", 1,
					 "means", 0.5, 0.3, 0.5, 0.5, "stds", 0.3, 0.45, 0.5, 0.5,
					 "task", task, "target", "y", "target_type", "integer",
					 "labels", n_labels ? labels : (json_decref(labels), json_null()),
					 "family", family, "model", model);
}

/* Fit the six models with the kernels. */
static void
make_models(void)
{
	MfEnv		env = {0};
	MfLinregOpts lo;
	MfLogregOpts go;
	MfKmeansOpts ko;
	MfMlpShape cfg;
	MfMlp		net;
	MfRng		rng;
	Model	   *m;

	env.alloc = mfk_malloc_allocator;
	make_data();

	m = &models[0];
	*m = (Model) {"linear", MF_ART_FAMILY_LINEAR_REGRESSION, NULL, 2, {"coef", "intercept"}, {1, 0}, {{P}, {0}}, {NULL, NULL}};
	m->data[0] = calloc(P, sizeof(double));
	m->data[1] = calloc(1, sizeof(double));
	mfk_linreg_defaults(&lo);
	lo.alpha = 0.1;				/* the one-hot pair is collinear with the intercept */
	MF_OK(mfk_linreg_fit(&env, X, y_reg, N, P, &lo, m->data[0], m->data[1], NULL) == MF_KOK, "linear fit");
	m->meta = base_meta("linear_regression", "regression", 0, json_pack("{}"));

	m = &models[1];
	*m = (Model) {"logistic", MF_ART_FAMILY_LOGISTIC_REGRESSION, NULL, 2, {"coef", "intercept"}, {1, 1}, {{P}, {1}}, {NULL, NULL}};
	m->data[0] = calloc(P, sizeof(double));
	m->data[1] = calloc(1, sizeof(double));
	mfk_logreg_defaults(&go);
	MF_OK(mfk_logreg_fit(&env, X, y2, N, P, 2, &go, m->data[0], m->data[1], NULL, NULL) == MF_KOK, "binary logistic fit");
	m->meta = base_meta("logistic_regression", "classification", 2, json_pack("{s:b}", "multinomial", 0));

	m = &models[2];
	*m = (Model) {"logistic3", MF_ART_FAMILY_LOGISTIC_REGRESSION, NULL, 2, {"coef", "intercept"}, {2, 1}, {{P, 3}, {3}}, {NULL, NULL}};
	m->data[0] = calloc(P * 3, sizeof(double));
	m->data[1] = calloc(3, sizeof(double));
	go.multinomial = 1;
	go.solver = MF_LOGREG_LBFGS;
	MF_OK(mfk_logreg_fit(&env, X, y3, N, P, 3, &go, m->data[0], m->data[1], NULL, NULL) == MF_KOK, "3-class logistic fit");
	m->meta = base_meta("logistic_regression", "classification", 3, json_pack("{s:b}", "multinomial", 1));

	for (int task = 0; task < 2; task++)
	{
		m = &models[3 + task];
		memset(&cfg, 0, sizeof(cfg));
		cfg.n_inputs = P;
		cfg.n_outputs = task == 0 ? 2 : 1;
		cfg.task = task == 0 ? MF_TASK_CLASSIFICATION : MF_TASK_REGRESSION;
		cfg.n_hidden = 1;
		cfg.hidden[0] = 3;
		cfg.activation = MF_ACT_RELU;
		mfk_mlp_layout(&net, &cfg);
		*m = (Model) {task == 0 ? "mlp" : "mlp_reg", MF_ART_FAMILY_MLP, NULL, 1, {"params"}, {1}, {{net.n_params}}, {NULL, NULL}};
		m->data[0] = calloc(net.n_params, sizeof(double));
		net.params = m->data[0];
		mfk_rng_seed(&rng, 7);
		mfk_mlp_init_params(&net, &rng);
		m->meta = base_meta("mlp", task == 0 ? "classification" : "regression", task == 0 ? 2 : 0,
							json_pack("{s:[i],s:s,s:s,s:i,s:i}", "hidden_layers", 3, "activation", "relu",
									  "task", task == 0 ? "classification" : "regression",
									  "num_classes", task == 0 ? 2 : 0, "n_outputs", 1));
	}

	m = &models[5];
	*m = (Model) {"kmeans", MF_ART_FAMILY_KMEANS, NULL, 1, {"centers"}, {2}, {{3, P}}, {NULL, NULL}};
	m->data[0] = calloc(3 * P, sizeof(double));
	mfk_kmeans_defaults(&ko);
	ko.k = 3;
	ko.n_init = 1;
	MF_OK(mfk_kmeans_fit(&env, X, N, P, &ko, m->data[0], NULL, NULL, NULL) == MF_KOK, "kmeans fit");
	m->meta = base_meta("kmeans", "clustering", 0, json_pack("{s:i}", "k", 3));
	json_object_del(m->meta, "target");
	json_object_del(m->meta, "target_type");
}

/* A model by name. */
static Model *
model(const char *name)
{
	for (int i = 0; i < 6; i++)
		if (strcmp(models[i].name, name) == 0)
			return &models[i];
	abort();
}

/* Write m's tensors with metadata text (len bytes); malloc'd, 8-aligned. */
static void *
write_artifact(const Model *m, uint32_t family, const char *meta, size_t len, size_t *out_len)
{
	static const MfArtAllocator heap = {arena_alloc, NULL, NULL};
	MfArtifactWriter w;
	void	   *buf = NULL;

	mf_artifact_writer_begin(&w, family, &heap);
	for (int t = 0; t < m->n_tensors; t++)
		mf_artifact_writer_add(&w, m->tnames[t], m->ndim[t], m->ndim[t] ? m->dims[t] : NULL, m->data[t]);
	mf_artifact_writer_set_meta(&w, meta, len);
	if (mf_artifact_writer_finish(&w, &buf, out_len) != MF_ART_OK)
		MF_DIAG("writer: %s", w.errmsg);
	return buf;
}

/* Read an artifact of m's tensors with metadata text meta (family as given). */
static MfMetaStatus
read_text(const Model *m, uint32_t family, const char *meta, MfModelMeta *mm, MfMetaError *err)
{
	size_t		len;
	void	   *buf = write_artifact(m, family, meta, strlen(meta), &len);
	MfArtifactView v;
	char		e[256];

	if (buf == NULL || mf_artifact_open(buf, len, &v, e, sizeof(e)) != MF_ART_OK)
	{
		MF_DIAG("artifact did not open: %s", buf ? e : "no buffer");
		return MF_META_NOMEM;
	}
	return mf_model_meta_read(&v, &talloc, mm, err);
}

/* Read an artifact of m's tensors and metadata meta. */
static MfMetaStatus
read_meta(const Model *m, json_t *meta, MfModelMeta *mm, MfMetaError *err)
{
	char	   *text = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
	MfMetaStatus st = read_text(m, m->family, text, mm, err);

	free(text);
	return st;
}

/* Set (value != NULL) or remove the member at path ("a.b[2].c") of root. */
static void
set_path(json_t *root, const char *path, json_t *value)
{
	json_t	   *parent = root;
	char		key[64];
	long		index = -1;
	const char *s = path;

	for (;;)
	{
		size_t		n = strcspn(s, ".[");
		json_t	   *child;

		memcpy(key, s, n);
		key[n] = '\0';
		s += n;
		index = -1;
		child = n ? json_object_get(parent, key) : parent;
		if (*s == '[')
		{
			index = strtol(s + 1, (char **) &s, 10);
			s++;				/* ']' */
			if (*s == '\0')
			{
				if (value)
					json_array_set_new(child, (size_t) index, value);
				else
					json_array_remove(child, (size_t) index);
				return;
			}
			child = json_array_get(child, (size_t) index);
		}
		if (*s == '\0')
		{
			if (value)
				json_object_set_new(parent, key, value);
			else
				json_object_del(parent, key);
			return;
		}
		if (*s == '.')
			s++;
		parent = child;
	}
}

/* ------------------------------------------------------------ cases */

/* One edit: model, path, new JSON text (NULL removes), and a second edit. */
typedef struct Case
{
	const char *model;
	const char *path;
	const char *value;
	const char *path2;
	const char *value2;
	const char *member;			/* expected member at fault */
} Case;

static const Case cases[] = {
	/* the two cases of the security review */
	{"kmeans", "task", "\"classification\"", "labels", "[\"0\",\"1\"]", "task"},
	{"linear", "task", "\"classification\"", "labels", "[\"0\",\"1\"]", "task"},
	/* family and task */
	{"kmeans", "labels", "[\"0\",\"1\"]", NULL, NULL, "labels"},
	{"linear", "family", "\"kmeans\"", NULL, NULL, "family"},
	{"linear", "family", NULL, NULL, NULL, "family"},
	{"mlp", "family", "3", NULL, NULL, "family"},
	{"linear", "task", NULL, NULL, NULL, "task"},
	{"linear", "task", "7", NULL, NULL, "task"},
	{"logistic", "task", "\"regression\"", "labels", "null", "task"},
	{"mlp", "task", "\"clustering\"", NULL, NULL, "task"},
	{"kmeans", "task", "\"regression\"", NULL, NULL, "task"},
	{"mlp_reg", "task", "\"classification\"", NULL, NULL, "labels"},
	{"mlp_reg", "labels", "[\"a\",\"b\"]", NULL, NULL, "labels"},
	/* columns */
	{"linear", "columns", NULL, NULL, NULL, "columns"},
	{"linear", "columns", "{}", NULL, NULL, "columns"},
	{"linear", "columns", "[]", NULL, NULL, "columns"},
	{"linear", "columns[0]", "5", NULL, NULL, "columns[0]"},
	{"linear", "columns[0].name", NULL, NULL, NULL, "columns[0].name"},
	{"linear", "columns[1].name", "[]", NULL, NULL, "columns[1].name"},
	{"linear", "columns[0].kind", "\"numerix\"", NULL, NULL, "columns[0].kind"},
	{"logistic", "columns[1].kind", NULL, NULL, NULL, "columns[1].kind"},
	{"linear", "columns[0].impute", "\"x\"", NULL, NULL, "columns[0].impute"},
	{"linear", "columns[0].impute", "null", NULL, NULL, "columns[0].impute"},
	{"mlp", "columns[1].impute", NULL, NULL, NULL, "columns[1].impute"},
	{"linear", "columns[2].categories", NULL, NULL, NULL, "columns[2].categories"},
	{"linear", "columns[2].categories", "\"blue\"", NULL, NULL, "columns[2].categories"},
	{"linear", "columns[2].categories", "[\"red\",\"blue\"]", NULL, NULL, "columns[2].categories"},
	{"linear", "columns[2].categories", "[\"blue\",\"blue\"]", NULL, NULL, "columns[2].categories"},
	{"linear", "columns[2].categories", "[1,2]", NULL, NULL, "columns[2].categories"},
	{"kmeans", "columns[2].categories", "[\"blue\",\"green\",\"red\"]", NULL, NULL, "features"},
	{"logistic", "columns[2].categories", "[\"blue\"]", NULL, NULL, "features"},
	{"linear", "columns[2].impute", "3", NULL, NULL, "columns[2].impute"},
	{"linear", "columns[2].kind", "\"numeric\"", NULL, NULL, "columns[2].impute"},
	{"linear", "columns[2].kind", "\"numeric\"", "columns[2].impute", "1.0", "features"},
	{"linear", "columns[0].kind", "\"categorical\"", NULL, NULL, "columns[0].impute"},
	{"linear", "columns[0]", "{\"name\":\"x1\",\"kind\":\"categorical\",\"categories\":[]}",
	"columns[1]", "{\"name\":\"f\",\"kind\":\"categorical\",\"categories\":[]}", "features"},
	/* features and n_features */
	{"linear", "features", NULL, NULL, NULL, "features"},
	{"linear", "features[3]", NULL, NULL, NULL, "features"},
	{"linear", "features[0]", "1", NULL, NULL, "features"},
	{"logistic", "features[1]", "\"x1\"", NULL, NULL, "features"},
	{"linear", "n_features", "5", NULL, NULL, "n_features"},
	{"linear", "n_features", "\"4\"", NULL, NULL, "n_features"},
	{"linear", "n_features", NULL, NULL, NULL, "n_features"},
	/* scaling */
	{"linear", "standardize", "\"yes\"", NULL, NULL, "standardize"},
	{"linear", "standardize", NULL, NULL, NULL, "standardize"},
	{"linear", "means", "[0.5,0.3,0.5]", NULL, NULL, "means"},
	{"linear", "means", NULL, NULL, NULL, "means"},
	{"linear", "means[2]", "\"0.5\"", NULL, NULL, "means"},
	{"mlp", "stds[1]", "0.0", NULL, NULL, "stds"},
	{"kmeans", "stds[3]", "-1.0", NULL, NULL, "stds"},
	{"linear", "stds", "[0.3,0.45,0.5,0.5,1.0]", NULL, NULL, "stds"},
	/* labels */
	{"logistic", "labels", "[\"0\"]", NULL, NULL, "labels"},
	{"logistic", "labels", "[\"0\",\"0\"]", NULL, NULL, "labels"},
	{"logistic", "labels", "[0,1]", NULL, NULL, "labels"},
	{"logistic", "labels", NULL, NULL, NULL, "labels"},
	{"logistic", "labels", "{\"0\":1}", NULL, NULL, "labels"},
	{"logistic", "target_type", "1", NULL, NULL, "target_type"},
	{"linear", "labels", "[\"a\",\"b\"]", NULL, NULL, "labels"},
	/* logistic shapes */
	{"logistic", "labels", "[\"0\",\"1\",\"2\"]", NULL, NULL, "model.multinomial"},
	{"logistic", "model.multinomial", "true", NULL, NULL, "model.multinomial"},
	{"logistic", "model.multinomial", NULL, NULL, NULL, "model.multinomial"},
	{"logistic3", "labels", "[\"0\",\"1\",\"2\",\"3\"]", NULL, NULL, "labels"},
	{"logistic3", "labels", "[\"0\",\"1\"]", NULL, NULL, "model.multinomial"},
	{"logistic3", "model.multinomial", "false", NULL, NULL, "model.multinomial"},
	{"logistic3", "columns[2].categories", "[\"blue\",\"green\",\"red\"]", "features", "[\"a\",\"b\",\"c\",\"d\",\"e\"]", "n_features"},
	/* mlp shapes */
	{"mlp", "model.num_classes", "5", NULL, NULL, "model.num_classes"},
	{"mlp", "model.num_classes", "\"2\"", NULL, NULL, "model.num_classes"},
	{"mlp", "labels", "[\"0\",\"1\",\"2\"]", NULL, NULL, "model.num_classes"},
	{"mlp", "labels", "[\"0\",\"1\",\"2\"]", "model.num_classes", NULL, "model.hidden_layers"},
	{"mlp", "model.hidden_layers", "[9]", NULL, NULL, "model.hidden_layers"},
	{"mlp", "model.hidden_layers", "[0]", NULL, NULL, "model.hidden_layers"},
	{"mlp", "model.hidden_layers", "[3.0]", NULL, NULL, "model.hidden_layers"},
	{"mlp", "model.hidden_layers", "[-3]", NULL, NULL, "model.hidden_layers"},
	{"mlp", "model.hidden_layers", "[]", NULL, NULL, "model.hidden_layers"},
	{"mlp", "model.hidden_layers", "3", NULL, NULL, "model.hidden_layers"},
	{"mlp", "model.hidden_layers", "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]", NULL, NULL, "model.hidden_layers"},
	{"mlp", "model.hidden_layers", "[99999999999]", NULL, NULL, "model.hidden_layers"},
	{"mlp", "model.activation", "\"relx\"", NULL, NULL, "model.activation"},
	{"mlp", "model.activation", NULL, NULL, NULL, "model.activation"},
	{"mlp", "model.activation", "\"swiglu\"", NULL, NULL, "model.hidden_layers"},
	{"mlp", "model.task", "\"regression\"", NULL, NULL, "model.task"},
	{"mlp_reg", "model.n_outputs", "2", NULL, NULL, "model.n_outputs"},
	{"mlp_reg", "model.task", "null", NULL, NULL, "model.task"},
	{"mlp", "model", NULL, NULL, NULL, "model"},
	{"mlp", "model", "[]", NULL, NULL, "model"},
	/* kmeans shapes: 3 centres */
	{"kmeans", "model.k", "2", NULL, NULL, "model.k"},
	{"kmeans", "model.k", "4", NULL, NULL, "model.k"},
	{"kmeans", "model.k", "0", NULL, NULL, "model.k"},
	{"kmeans", "model.k", "-3", NULL, NULL, "model.k"},
	{"kmeans", "model.k", "3.0", NULL, NULL, "model.k"},
	{"kmeans", "model.k", "\"3\"", NULL, NULL, "model.k"},
	{"kmeans", "model.k", "4294967299", NULL, NULL, "model.k"},
	{"kmeans", "model.k", NULL, NULL, NULL, "model.k"},
	{"kmeans", "columns[1]", NULL, "features[1]", NULL, "n_features"},
};

/* Run one case: the edited artifact is refused, naming the member. */
static void
run_case(const Case *c)
{
	Model	   *m = model(c->model);
	json_t	   *meta = json_deep_copy(m->meta);
	MfModelMeta mm;
	MfMetaError err;
	MfMetaStatus st;
	char		name[256];

	set_path(meta, c->path, c->value ? json_loads(c->value, JSON_DECODE_ANY, NULL) : NULL);
	if (c->path2)
		set_path(meta, c->path2, c->value2 ? json_loads(c->value2, JSON_DECODE_ANY, NULL) : NULL);
	st = read_meta(m, meta, &mm, &err);
	snprintf(name, sizeof(name), "%s: %s = %s%s%s%s is refused at \"%s\"", c->model, c->path,
			 c->value ? c->value : "(removed)", c->path2 ? ", " : "", c->path2 ? c->path2 : "",
			 c->path2 ? (c->value2 ? c->value2 : " (removed)") : "", c->member);
	if (!MF_OK(st == MF_META_INVALID && strcmp(err.member, c->member) == 0 && err.detail[0], name))
		MF_DIAG("  status %d, member \"%s\": %s", (int) st, err.member, err.detail);
	json_decref(meta);
	arena_reset();
}

/* What every loader relies on, checked independently of the reader. */
static bool
consistent(const MfModelMeta *mm, const Model *m)
{
	size_t		p = 0;
	int			want_out = mm->classify ? mm->n_labels : 1;

	for (int i = 0; i < mm->ncols; i++)
	{
		if (mm->cols[i].offset != (int) p)
			return false;
		p += mm->cols[i].kind == MF_COL_CATEGORICAL ? (size_t) mm->cols[i].n_cats : 1;
	}
	if (p != mm->p || p != P || mm->n_out != want_out || (mm->classify && mm->n_labels < 2))
		return false;
	if (mm->classify != (m->family == MF_ART_FAMILY_LOGISTIC_REGRESSION ||
						 (m->family == MF_ART_FAMILY_MLP && strcmp(m->name, "mlp") == 0)))
		return false;
	switch (m->family)
	{
		case MF_ART_FAMILY_LINEAR_REGRESSION:
			return mm->coef == NULL ? false : !mm->classify;
		case MF_ART_FAMILY_LOGISTIC_REGRESSION:
			return mm->n_labels == (int) (m->ndim[0] == 2 ? m->dims[0][1] : 2);
		case MF_ART_FAMILY_MLP:
			{
				MfMlp		net;

				return mf_model_meta_mlp(mm, &net) && net.n_params == m->dims[0][0] &&
					net.out[net.n_layers - 1] == (size_t) want_out;
			}
		default:
			return mm->k == 3 && !mm->classify && mm->n_labels == 0;
	}
}

/* Random same-length edits of the metadata text: refused or consistent. */
static void
fuzz(int iters)
{
	unsigned	seed = 12345;
	long		accepted = 0,
				refused = 0,
				bad = 0;
	const char	alphabet[] = "0123456789-.eE,:[]{}\" ntruefalsxyzNIa";

	for (int it = 0; it < iters; it++)
	{
		Model	   *m = &models[it % 6];
		char	   *text = json_dumps(m->meta, JSON_COMPACT | JSON_SORT_KEYS);
		size_t		len = strlen(text);
		int			edits = 1 + (int) ((seed = seed * 1103515245u + 12345u) >> 16) % 3;
		MfModelMeta mm;
		MfMetaError err;
		MfMetaStatus st;

		for (int e = 0; e < edits; e++)
		{
			seed = seed * 1103515245u + 12345u;
			text[(seed >> 8) % len] = alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];
		}
		st = read_text(m, m->family, text, &mm, &err);
		if (st == MF_META_OK)
		{
			accepted++;
			if (!consistent(&mm, m) && bad++ < 5)
				MF_DIAG("accepted but inconsistent: %s", text);
		}
		else if (st == MF_META_INVALID && err.detail[0])
			refused++;
		else if (bad++ < 5)
			MF_DIAG("status %d for %s", (int) st, text);
		free(text);
		arena_reset();
	}
	MF_DIAG("fuzz: %ld accepted, %ld refused", accepted, refused);
	MF_OK(bad == 0 && accepted > 0 && refused > 0,
		  "random metadata edits are refused or give a consistent model");
}

/* The unedited models are read back with the right shapes. */
static void
valid_models(void)
{
	MfModelMeta mm;
	MfMetaError err;

	for (int i = 0; i < 6; i++)
	{
		Model	   *m = &models[i];
		char		name[128];
		MfMetaStatus st = read_meta(m, m->meta, &mm, &err);

		snprintf(name, sizeof(name), "%s: metadata as mf_train writes it is read", m->name);
		if (!MF_OK(st == MF_META_OK && consistent(&mm, m), name))
			MF_DIAG("  status %d, member \"%s\": %s", (int) st, err.member, err.detail);
		if (st != MF_META_OK)
			continue;
		snprintf(name, sizeof(name), "%s: tensors and schema", m->name);
		MF_OK(mm.ncols == 3 && mm.cols[2].n_cats == 2 && mm.cols[2].cat_lens[1] == 3 &&
			  strcmp(mm.cols[2].impute_str, "red") == 0 && mm.cols[1].impute_num == 0.25 &&
			  mm.standardize && mm.stds[1] == 0.45 && strcmp(mm.feature_names[3], "colour=red") == 0 &&
			  (m->family == MF_ART_FAMILY_KMEANS ? mm.target_type == NULL : strcmp(mm.target_type, "integer") == 0),
			  name);
		arena_reset();
	}
	read_meta(model("logistic3"), model("logistic3")->meta, &mm, &err);
	MF_OK(mm.multinomial && mm.n_labels == 3 && mm.n_out == 3 && mm.coef != NULL &&
		  mm.coef[5] == model("logistic3")->data[0][5] && mm.intercept[2] == model("logistic3")->data[1][2],
		  "logistic3: coef [p, 3] and intercept [3] point at the tensors");
	arena_reset();
	read_meta(model("kmeans"), model("kmeans")->meta, &mm, &err);
	MF_OK(mm.k == 3 && mm.centers[11] == model("kmeans")->data[0][11] && !mm.classify && mm.n_out == 1,
		  "kmeans: 3 centres, no labels");
	arena_reset();
}

/* Text-level cases: not JSON, not an object, duplicate keys; other families. */
static void
text_cases(void)
{
	MfModelMeta mm;
	MfMetaError err;
	Model	   *lin = model("linear");
	char	   *text = json_dumps(lin->meta, JSON_COMPACT | JSON_SORT_KEYS);
	char	   *dup = malloc(strlen(text) + 32);

	MF_OK(read_text(lin, lin->family, "{", &mm, &err) == MF_META_INVALID && err.member[0] == '\0',
		  "metadata that is not JSON is refused");
	MF_OK(read_text(lin, lin->family, "[1,2]", &mm, &err) == MF_META_INVALID && strstr(err.detail, "an array"),
		  "metadata that is an array is refused");
	sprintf(dup, "{\"task\":\"classification\",%s", text + 1);
	MF_OK(read_text(lin, lin->family, dup, &mm, &err) == MF_META_INVALID && err.member[0] == '\0',
		  "metadata with a duplicate key is refused");
	MF_OK(read_text(lin, MF_ART_FAMILY_KMEANS, text, &mm, &err) == MF_META_INVALID &&
		  strcmp(err.member, "family") == 0, "a linear artifact under the kmeans family code is refused");
	MF_OK(read_text(lin, MF_ART_FAMILY_TRANSFORMER, text, &mm, &err) == MF_META_UNSUPPORTED && err.detail[0],
		  "a transformer artifact is not supported");
	MF_OK(read_text(model("kmeans"), MF_ART_FAMILY_LINEAR_REGRESSION, text, &mm, &err) == MF_META_INVALID &&
		  strcmp(err.member, "features") == 0 && strstr(err.detail, "tensor \"coef\""),
		  "linear metadata over k-means tensors is refused at the missing coef");
	free(text);
	free(dup);
	arena_reset();
}

/* A linear model whose coef is a float32 tensor: refused, never read as float64. */
static void
f32_coef_case(void)
{
	static const MfArtAllocator heap = {arena_alloc, NULL, NULL};
	const Model *lin = model("linear");
	char	   *text = json_dumps(lin->meta, JSON_COMPACT | JSON_SORT_KEYS);
	float		coef[4] = {1, 2, 3, 4};
	MfArtifactWriter w;
	MfArtifactView v;
	MfModelMeta mm;
	MfMetaError err;
	void	   *buf = NULL;
	size_t		len;

	mf_artifact_writer_begin(&w, MF_ART_FAMILY_LINEAR_REGRESSION, &heap);
	mf_artifact_writer_add_f32(&w, lin->tnames[0], lin->ndim[0], lin->dims[0], coef);
	for (int t = 1; t < lin->n_tensors; t++)
		mf_artifact_writer_add(&w, lin->tnames[t], lin->ndim[t], lin->ndim[t] ? lin->dims[t] : NULL,
							   lin->data[t]);
	mf_artifact_writer_set_meta(&w, text, strlen(text));
	MF_OK(lin->dims[0][0] == 4 && mf_artifact_writer_finish(&w, &buf, &len) == MF_ART_OK &&
		  mf_artifact_open(buf, len, &v, NULL, 0) == MF_ART_OK &&
		  mf_model_meta_read(&v, &talloc, &mm, &err) == MF_META_INVALID &&
		  strstr(err.detail, "needs tensor \"coef\" as float64, the artifact holds float32") != NULL,
		  "a linear coef stored as float32 is refused as such");
	free(text);
	arena_reset();
}

/* Tensor-level cases: a missing or misshapen tensor under valid metadata. */
static void
tensor_cases(void)
{
	MfModelMeta mm;
	MfMetaError err;
	Model		m = *model("linear");
	double		five[5] = {0};

	m.n_tensors = 1;
	MF_OK(read_meta(&m, m.meta, &mm, &err) == MF_META_INVALID && strcmp(err.member, "family") == 0 &&
		  strstr(err.detail, "\"intercept\""), "linear without an intercept tensor is refused");
	m = *model("linear");
	m.dims[0][0] = 5;
	m.data[0] = five;
	MF_OK(read_meta(&m, m.meta, &mm, &err) == MF_META_INVALID && strcmp(err.member, "features") == 0 &&
		  strstr(err.detail, "[4]") && strstr(err.detail, "[5]"), "linear coef of 5 for 4 features is refused");
	m = *model("kmeans");
	m.dims[0][0] = 2;
	m.dims[0][1] = 6;
	MF_OK(read_meta(&m, m.meta, &mm, &err) == MF_META_INVALID && strcmp(err.member, "model.k") == 0,
		  "kmeans centres of shape [2, 6] for k 3, p 4 are refused (same element count)");
	m = *model("logistic3");
	m.ndim[0] = 1;
	m.dims[0][0] = 12;
	MF_OK(read_meta(&m, m.meta, &mm, &err) == MF_META_INVALID && strcmp(err.member, "labels") == 0,
		  "multinomial coef stored flat is refused");
	arena_reset();
	f32_coef_case();
}

/* A wide schema is read in O(p log p): 200000 one-hot features. */
static void
wide(void)
{
	enum
	{
		W = 200000
	};
	json_t	   *meta = json_deep_copy(model("linear")->meta);
	json_t	   *cats = json_array();
	json_t	   *names = json_array();
	Model		m = *model("linear");
	MfModelMeta mm;
	MfMetaError err;
	struct timespec t0,
				t1;
	MfMetaStatus st;
	double		ms;

	for (int i = 0; i < W; i++)
	{
		char		s[32];

		snprintf(s, sizeof(s), "c%07d", i);
		json_array_append_new(cats, json_string(s));
		snprintf(s, sizeof(s), "colour=c%07d", i);
		json_array_append_new(names, json_string(s));
	}
	json_object_set_new(meta, "columns", json_pack("[{s:s,s:s,s:o,s:n}]", "name", "colour", "kind",
												   "categorical", "categories", cats, "impute"));
	json_object_set_new(meta, "features", names);
	json_object_set_new(meta, "n_features", json_integer(W));
	json_object_set_new(meta, "standardize", json_false());
	m.dims[0][0] = W;
	m.data[0] = calloc(W, sizeof(double));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	st = read_meta(&m, meta, &mm, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	MF_DIAG("200000 features: written and read in %.1f ms", ms);
	/* no time bound here (speed lives in benchmarks): a quadratic check would
	 * take minutes and hit the runner's timeout instead */
	MF_OK(st == MF_META_OK && mm.p == W && mm.cols[0].n_cats == W,
		  "a linear model with 200000 one-hot features is read (distinctness by sorting)");
	free(m.data[0]);
	json_decref(meta);
	arena_reset();
}

/* Every allocation failure is reported as such, never a crash. */
static void
nomem(void)
{
	MfModelMeta mm;
	MfMetaError err;
	int			ok = 1,
				n;

	for (n = 0; n < 200; n++)
	{
		MfMetaStatus st;
		Model	   *m = model(n % 2 ? "mlp" : "logistic3");
		char	   *text = json_dumps(m->meta, JSON_COMPACT | JSON_SORT_KEYS);
		size_t		len;
		void	   *buf = write_artifact(m, m->family, text, strlen(text), &len);
		MfArtifactView v;

		mf_artifact_open(buf, len, &v, NULL, 0);
		fail_after = n / 2;
		st = mf_model_meta_read(&v, &talloc, &mm, &err);
		fail_after = -1;
		if (st != MF_META_OK && st != MF_META_NOMEM)
			ok = 0;
		free(text);
		arena_reset();
		if (st == MF_META_OK && n > 1)
			break;
	}
	MF_OK(ok && n < 200, "allocation failures give MF_META_NOMEM until there is enough");
}

int
main(void)
{
	make_models();
	valid_models();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	text_cases();
	tensor_cases();
	nomem();
	wide();
	fuzz(6000);
	for (int i = 0; i < 6; i++)
	{
		json_decref(models[i].meta);
		for (int t = 0; t < models[i].n_tensors; t++)
			free(models[i].data[t]);
	}
	return mf_test_done();
}
