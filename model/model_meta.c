/*
 * model_meta.c - reading and checking the metadata of a model artifact
 * against its tensors (see model_meta.h for the rules).
 *
 * Each Meta* step reads one part and returns false after filling the
 * error; the steps run in the order of model_meta.h, so the schema is
 * known before the labels and both before the tensors that depend on them.
 * Counts are bounded by INT_MAX before they are used as int, and sizes
 * are multiplied with overflow checks.
 */
#include "model_meta.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mf_kernels.h"

/* Reading state: the artifact, the allocator, the result, the error. */
typedef struct MetaCtx
{
	const MfArtifactView *view;
	const MfArtAllocator *alloc;
	MfModelMeta *out;
	MfMetaError *err;
	MfMetaStatus status;
	json_t	   *root;
} MetaCtx;

#if defined(__GNUC__)
#define META_PRINTF __attribute__((format(printf, 3, 4)))
#else
#define META_PRINTF
#endif

static bool MetaFail(MetaCtx *c, const char *member, const char *fmt,...) META_PRINTF;

/* Record that member is at fault (detail printf-style); returns false. */
static bool
MetaFail(MetaCtx *c, const char *member, const char *fmt,...)
{
	va_list		ap;

	if (c->status != MF_META_OK)
		return false;
	c->status = MF_META_INVALID;
	snprintf(c->err->member, sizeof(c->err->member), "%s", member);
	va_start(ap, fmt);
	vsnprintf(c->err->detail, sizeof(c->err->detail), fmt, ap);
	va_end(ap);
	return false;
}

/* Record an allocation failure; returns false. */
static bool
MetaNoMem(MetaCtx *c)
{
	if (c->status == MF_META_OK)
	{
		c->status = MF_META_NOMEM;
		snprintf(c->err->detail, sizeof(c->err->detail), "out of memory");
	}
	return false;
}

/* n objects of size bytes from the caller's allocator (NULL: error set). */
static void *
MetaAlloc(MetaCtx *c, size_t n, size_t size)
{
	void	   *p;

	if (n == 0)
		n = 1;
	if (n > SIZE_MAX / size)
	{
		MetaNoMem(c);
		return NULL;
	}
	p = c->alloc->alloc(c->alloc->ctx, n * size);
	if (p == NULL)
		MetaNoMem(c);
	return p;
}

/* A copy of s from the caller's allocator (NULL: error set). */
static char *
MetaStrdup(MetaCtx *c, const char *s)
{
	size_t		len = strlen(s);
	char	   *d = MetaAlloc(c, len + 1, 1);

	if (d != NULL)
		memcpy(d, s, len + 1);
	return d;
}

/* Name of a JSON value's type, for messages. */
static const char *
MetaTypeName(const json_t *v)
{
	if (v == NULL)
		return "missing";
	switch (json_typeof(v))
	{
		case JSON_OBJECT:
			return "an object";
		case JSON_ARRAY:
			return "an array";
		case JSON_STRING:
			return "a string";
		case JSON_INTEGER:
			return "an integer";
		case JSON_REAL:
			return "a real number";
		case JSON_TRUE:
		case JSON_FALSE:
			return "a boolean";
		default:
			return "null";
	}
}

/* The string member key of o, or NULL after an error. */
static const char *
MetaString(MetaCtx *c, json_t *o, const char *key, const char *member)
{
	json_t	   *v = json_object_get(o, key);

	if (!json_is_string(v))
	{
		MetaFail(c, member, "must be a string, but is %s", MetaTypeName(v));
		return NULL;
	}
	return json_string_value(v);
}

/* An integer member key of o in lo..hi into *out; false after an error. */
static bool
MetaInteger(MetaCtx *c, json_t *o, const char *key, const char *member,
			json_int_t lo, json_int_t hi, json_int_t *out)
{
	json_t	   *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return MetaFail(c, member, "must be an integer, but is %s", MetaTypeName(v));
	*out = json_integer_value(v);
	if (*out < lo || *out > hi)
		return MetaFail(c, member, "is %lld, outside %lld..%lld", (long long) *out,
						(long long) lo, (long long) hi);
	return true;
}

/* The array member key of o, or NULL after an error. */
static json_t *
MetaArray(MetaCtx *c, json_t *o, const char *key, const char *member)
{
	json_t	   *v = json_object_get(o, key);

	if (!json_is_array(v))
	{
		MetaFail(c, member, "must be an array, but is %s", MetaTypeName(v));
		return NULL;
	}
	if (json_array_size(v) > INT_MAX)
	{
		MetaFail(c, member, "has more than %d entries", INT_MAX);
		return NULL;
	}
	return v;
}

/* True for a member that is absent or null. */
static bool
MetaAbsent(json_t *o, const char *key)
{
	json_t	   *v = json_object_get(o, key);

	return v == NULL || json_is_null(v);
}

/* qsort order of pointers to strings: by bytes, then by position. */
static int
MetaStrRefCmp(const void *a, const void *b)
{
	char	  **x = *(char **const *) a;
	char	  **y = *(char **const *) b;
	int			r = strcmp(*x, *y);

	return r != 0 ? r : (x < y ? -1 : x > y);
}

/* The n strings s[] are distinct (O(n log n)); else the error names two. */
static bool
MetaDistinct(MetaCtx *c, char **s, size_t n, const char *member)
{
	char	 ***refs = MetaAlloc(c, n, sizeof(char **));
	bool		ok = true;

	if (refs == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		refs[i] = &s[i];
	qsort(refs, n, sizeof(char **), MetaStrRefCmp);
	for (size_t i = 1; ok && i < n; i++)
		if (strcmp(*refs[i - 1], *refs[i]) == 0)
			ok = MetaFail(c, member, "entries %zu and %zu are both \"%s\"",
						  (size_t) (refs[i - 1] - s), (size_t) (refs[i] - s), *refs[i]);
	if (c->alloc->free)
		c->alloc->free(c->alloc->ctx, refs);
	return ok;
}

/*
 * Copies of the strings of array a (member names it) into *out, which
 * must be distinct; with ascending, in strictly ascending byte order too.
 * lens (may be NULL) gets their lengths.
 */
static bool
MetaStrings(MetaCtx *c, json_t *a, const char *member, bool ascending, char ***out,
			int **lens)
{
	size_t		n = json_array_size(a);
	char	  **s = MetaAlloc(c, n, sizeof(char *));

	if (s == NULL || (lens != NULL && (*lens = MetaAlloc(c, n, sizeof(int))) == NULL))
		return false;
	for (size_t i = 0; i < n; i++)
	{
		json_t	   *v = json_array_get(a, i);

		if (!json_is_string(v))
			return MetaFail(c, member, "entry %zu must be a string, but is %s", i, MetaTypeName(v));
		if ((s[i] = MetaStrdup(c, json_string_value(v))) == NULL)
			return false;
		if (lens != NULL)
			(*lens)[i] = (int) strlen(s[i]);
		if (ascending && i > 0 && strcmp(s[i - 1], s[i]) >= 0)
			return MetaFail(c, member, "entry %zu (\"%s\") is not after \"%s\" in byte order",
							i, s[i], s[i - 1]);
	}
	*out = s;
	return ascending || MetaDistinct(c, s, n, member);
}

/* The task fits the family; sets out->classify. */
static bool
MetaTask(MetaCtx *c)
{
	static const char *const tasks[] = {NULL, "regression", "classification", NULL, "clustering"};
	uint32_t	family = c->view->family;
	const char *name = mf_artifact_family_name(family);
	const char *fam = MetaString(c, c->root, "family", "family");
	const char *task;

	if (fam == NULL)
		return false;
	if (strcmp(fam, name) != 0)
		return MetaFail(c, "family", "is \"%s\", but the artifact holds a %s model", fam, name);
	if ((task = MetaString(c, c->root, "task", "task")) == NULL)
		return false;
	if (family == MF_ART_FAMILY_MLP ?
		strcmp(task, "regression") != 0 && strcmp(task, "classification") != 0 :
		strcmp(task, tasks[family]) != 0)
		return MetaFail(c, "task", "is \"%s\", but a %s model is for %s", task, name,
						family == MF_ART_FAMILY_MLP ? "regression or classification" : tasks[family]);
	c->out->classify = strcmp(task, "classification") == 0;
	return true;
}

/* Column i of the schema (object o) into col; adds its width to *p. */
static bool
MetaColumn(MetaCtx *c, json_t *o, int i, MfMetaColumn *col, size_t *p)
{
	char		member[96];
	const char *name;
	const char *kind;
	json_t	   *imp = json_object_get(o, "impute");

	snprintf(member, sizeof(member), "columns[%d]", i);
	if (!json_is_object(o))
		return MetaFail(c, member, "must be an object, but is %s", MetaTypeName(o));
	snprintf(member, sizeof(member), "columns[%d].name", i);
	if ((name = MetaString(c, o, "name", member)) == NULL || (col->name = MetaStrdup(c, name)) == NULL)
		return false;
	snprintf(member, sizeof(member), "columns[%d].kind", i);
	if ((kind = MetaString(c, o, "kind", member)) == NULL)
		return false;
	if (strcmp(kind, "numeric") != 0 && strcmp(kind, "boolean") != 0 && strcmp(kind, "categorical") != 0)
		return MetaFail(c, member, "is \"%s\", not \"numeric\", \"boolean\" or \"categorical\"", kind);
	col->kind = strcmp(kind, "categorical") == 0 ? MF_COL_CATEGORICAL :
		strcmp(kind, "boolean") == 0 ? MF_COL_BOOLEAN : MF_COL_NUMERIC;
	col->offset = (int) *p;
	snprintf(member, sizeof(member), "columns[%d].impute", i);
	if (col->kind != MF_COL_CATEGORICAL)
	{
		if (!json_is_number(imp) || !isfinite(json_number_value(imp)))
			return MetaFail(c, member, "must be a finite number, but is %s",
							json_is_number(imp) ? "not finite" : MetaTypeName(imp));
		col->impute_num = json_number_value(imp);
		*p += 1;
	}
	else
	{
		json_t	   *cats;

		if (imp != NULL && !json_is_null(imp) && !json_is_string(imp))
			return MetaFail(c, member, "must be a string or null, but is %s", MetaTypeName(imp));
		if (json_is_string(imp) && (col->impute_str = MetaStrdup(c, json_string_value(imp))) == NULL)
			return false;
		snprintf(member, sizeof(member), "columns[%d].categories", i);
		if ((cats = MetaArray(c, o, "categories", member)) == NULL ||
			!MetaStrings(c, cats, member, true, &col->cats, &col->cat_lens))
			return false;
		col->n_cats = (int) json_array_size(cats);
		*p += (size_t) col->n_cats;
	}
	if (*p > INT_MAX)
		return MetaFail(c, "columns", "expand to more than %d features", INT_MAX);
	return true;
}

/* "columns", "features", "n_features": the schema and its width p. */
static bool
MetaColumns(MetaCtx *c)
{
	MfModelMeta *m = c->out;
	json_t	   *cols = MetaArray(c, c->root, "columns", "columns");
	json_t	   *names;
	json_int_t	nf;
	size_t		p = 0;

	if (cols == NULL)
		return false;
	if (json_array_size(cols) == 0)
		return MetaFail(c, "columns", "is empty");
	m->ncols = (int) json_array_size(cols);
	if ((m->cols = MetaAlloc(c, (size_t) m->ncols, sizeof(MfMetaColumn))) == NULL)
		return false;
	memset(m->cols, 0, sizeof(MfMetaColumn) * (size_t) m->ncols);
	for (int i = 0; i < m->ncols; i++)
		if (!MetaColumn(c, json_array_get(cols, i), i, &m->cols[i], &p))
			return false;
	if (p == 0)
		return MetaFail(c, "columns", "expand to no feature (every categorical column is empty)");
	m->p = p;
	if ((names = MetaArray(c, c->root, "features", "features")) == NULL)
		return false;
	if (json_array_size(names) != p)
		return MetaFail(c, "features", "has %zu entries, but the columns expand to %zu features",
						json_array_size(names), p);
	if (!MetaStrings(c, names, "features", false, &m->feature_names, NULL))
		return false;
	if (!MetaInteger(c, c->root, "n_features", "n_features", 0, INT_MAX, &nf))
		return false;
	if ((size_t) nf != p)
		return MetaFail(c, "n_features", "is %lld, but the columns expand to %zu features",
						(long long) nf, p);
	return true;
}

/* p finite numbers (all > 0 with positive) of array member key into *out. */
static bool
MetaNumbers(MetaCtx *c, const char *key, bool positive, double **out)
{
	json_t	   *a = MetaArray(c, c->root, key, key);
	size_t		p = c->out->p;

	if (a == NULL)
		return false;
	if (json_array_size(a) != p)
		return MetaFail(c, key, "has %zu entries, but there are %zu features", json_array_size(a), p);
	if ((*out = MetaAlloc(c, p, sizeof(double))) == NULL)
		return false;
	for (size_t j = 0; j < p; j++)
	{
		json_t	   *v = json_array_get(a, j);
		double		x = json_number_value(v);

		if (!json_is_number(v) || !isfinite(x) || (positive && !(x > 0)))
			return MetaFail(c, key, "entry %zu must be a finite%s number, but is %s", j,
							positive ? " positive" : "",
							json_is_number(v) ? (isfinite(x) ? "not positive" : "not finite") : MetaTypeName(v));
		(*out)[j] = x;
	}
	return true;
}

/* "standardize", "means", "stds". */
static bool
MetaScaling(MetaCtx *c)
{
	json_t	   *s = json_object_get(c->root, "standardize");

	if (!json_is_boolean(s))
		return MetaFail(c, "standardize", "must be a boolean, but is %s", MetaTypeName(s));
	c->out->standardize = json_is_true(s);
	if (!c->out->standardize)
		return true;
	return MetaNumbers(c, "means", false, &c->out->means) &&
		MetaNumbers(c, "stds", true, &c->out->stds);
}

/* "labels" (classifiers: two or more distinct strings; others: none), "target_type". */
static bool
MetaLabels(MetaCtx *c)
{
	MfModelMeta *m = c->out;
	json_t	   *labels;
	json_t	   *tt = json_object_get(c->root, "target_type");

	if (tt != NULL && !json_is_null(tt))
	{
		if (!json_is_string(tt))
			return MetaFail(c, "target_type", "must be a string, but is %s", MetaTypeName(tt));
		if ((m->target_type = MetaStrdup(c, json_string_value(tt))) == NULL)
			return false;
	}
	m->n_out = 1;
	if (!m->classify)
	{
		if (!MetaAbsent(c->root, "labels"))
			return MetaFail(c, "labels", "is set, but a %s model has no classes",
							mf_artifact_family_name(m->family));
		return true;
	}
	if ((labels = MetaArray(c, c->root, "labels", "labels")) == NULL)
		return false;
	if (json_array_size(labels) < 2)
		return MetaFail(c, "labels", "has %zu entries, but a classifier needs at least 2",
						json_array_size(labels));
	m->n_labels = (int) json_array_size(labels);
	m->n_out = m->n_labels;
	return MetaStrings(c, labels, "labels", false, &m->labels, NULL);
}

/*
 * Tensor name, which must have shape dims[0..ndim) (ndim 0: one value, as
 * a scalar or a vector of one); member names what decides the shape.
 */
static const double *
MetaTensor(MetaCtx *c, const char *name, int ndim, const uint64_t *dims, const char *member)
{
	MfArtifactTensor t;
	char		want[64],
				got[64];
	bool		ok;
	MfArtErr	rc = mf_artifact_tensor(c->view, name, -1, NULL, &t, NULL, 0);

	if (rc == MF_ART_ERR_WRONG_DTYPE)
	{
		MfArtifactTensor any;

		(void) mf_artifact_tensor_typed(c->view, name, 0, -1, NULL, &any, NULL, 0);
		MetaFail(c, member, "needs tensor \"%s\" as float64, the artifact holds %s", name,
				 mf_artifact_dtype_name(any.dtype));
		return NULL;
	}
	if (rc != MF_ART_OK)
	{
		MetaFail(c, member, "needs tensor \"%s\", which the artifact lacks", name);
		return NULL;
	}
	if (ndim == 0)
		ok = t.n_elems == 1 && t.ndim <= 1;
	else
	{
		ok = t.ndim == (uint32_t) ndim;
		for (int d = 0; ok && d < ndim; d++)
			ok = t.dims[d] == dims[d];
	}
	if (ok)
		return t.data;
	want[0] = got[0] = '\0';
	for (int d = 0; d < ndim; d++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%llu", d ? ", " : "",
				 (unsigned long long) dims[d]);
	for (uint32_t d = 0; d < t.ndim; d++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%llu", d ? ", " : "",
				 (unsigned long long) t.dims[d]);
	MetaFail(c, member, "implies tensor \"%s\" of shape [%s], but it has shape [%s]",
			 name, ndim == 0 ? "1" : want, got);
	return NULL;
}

/* Linear regression: coef [p], intercept [1]. */
static bool
MetaLinear(MetaCtx *c)
{
	uint64_t	p = c->out->p;

	return (c->out->coef = MetaTensor(c, "coef", 1, &p, "features")) != NULL &&
		(c->out->intercept = MetaTensor(c, "intercept", 0, NULL, "family")) != NULL;
}

/* Logistic regression: binary coef [p] + intercept [1], or [p, K] + [K]. */
static bool
MetaLogistic(MetaCtx *c, json_t *model)
{
	MfModelMeta *m = c->out;
	json_t	   *mn = json_object_get(model, "multinomial");
	uint64_t	dims[2] = {m->p, (uint64_t) m->n_labels};

	if (!json_is_boolean(mn))
		return MetaFail(c, "model.multinomial", "must be a boolean, but is %s", MetaTypeName(mn));
	m->multinomial = json_is_true(mn);
	if (m->multinomial != (m->n_labels > 2))
		return MetaFail(c, "model.multinomial", "is %s, but the model has %d labels",
						m->multinomial ? "true" : "false", m->n_labels);
	if (!m->multinomial)
		return (m->coef = MetaTensor(c, "coef", 1, dims, "features")) != NULL &&
			(m->intercept = MetaTensor(c, "intercept", 0, NULL, "labels")) != NULL;
	return (m->coef = MetaTensor(c, "coef", 2, dims, "labels")) != NULL &&
		(m->intercept = MetaTensor(c, "intercept", 1, &dims[1], "labels")) != NULL;
}

/* The mlp's configuration (kernel form) from the checked metadata. */
static bool
MetaMlpConfig(const MfModelMeta *mm, MfMlpShape *cfg)
{
	if (mm->family != MF_ART_FAMILY_MLP || mm->n_hidden < 0 || mm->n_hidden >= MF_MLP_MAX_LAYERS)
		return false;
	memset(cfg, 0, sizeof(*cfg));
	cfg->n_inputs = mm->p;
	cfg->task = mm->classify ? MF_TASK_CLASSIFICATION : MF_TASK_REGRESSION;
	cfg->n_outputs = (size_t) mm->n_out;
	cfg->n_hidden = mm->n_hidden;
	for (int i = 0; i < mm->n_hidden; i++)
		cfg->hidden[i] = mm->hidden[i];
	cfg->activation = (MfAct) mm->activation;
	cfg->init = MF_INIT_AUTO;
	return true;
}

/* The network of an mlp's metadata, params set. */
bool
mf_model_meta_mlp(const MfModelMeta *mm, struct MfMlp *out)
{
	MfMlpShape cfg;

	if (!MetaMlpConfig(mm, &cfg) || mfk_mlp_layout(out, &cfg) != MF_KOK)
		return false;
	out->params = (double *) mm->params;
	return true;
}

/* The mlp's "model" members that repeat the task and the labels. */
static bool
MetaMlpRepeats(MetaCtx *c, json_t *model)
{
	MfModelMeta *m = c->out;
	json_t	   *task = json_object_get(model, "task");
	json_int_t	n;

	if (task != NULL && !(json_is_string(task) &&
						  strcmp(json_string_value(task), m->classify ? "classification" : "regression") == 0))
		return MetaFail(c, "model.task", "does not repeat the task \"%s\"",
						m->classify ? "classification" : "regression");
	if (m->classify && json_object_get(model, "num_classes") != NULL)
	{
		if (!MetaInteger(c, model, "num_classes", "model.num_classes", 0, INT_MAX, &n))
			return false;
		if (n != m->n_labels)
			return MetaFail(c, "model.num_classes", "is %lld, but the model has %d labels",
							(long long) n, m->n_labels);
	}
	if (!m->classify && json_object_get(model, "n_outputs") != NULL)
	{
		if (!MetaInteger(c, model, "n_outputs", "model.n_outputs", 0, INT_MAX, &n))
			return false;
		if (n != 1)
			return MetaFail(c, "model.n_outputs", "is %lld, but a regression model here has 1 output",
							(long long) n);
	}
	return true;
}

/* MLP: "model.hidden_layers", "model.activation"; params [n_params]. */
static bool
MetaMlp(MetaCtx *c, json_t *model)
{
	MfModelMeta *m = c->out;
	json_t	   *hidden = MetaArray(c, model, "hidden_layers", "model.hidden_layers");
	const char *act;
	MfMlp		net;
	uint64_t	n;

	if (hidden == NULL || !MetaMlpRepeats(c, model))
		return false;
	if (json_array_size(hidden) >= MF_MLP_MAX_LAYERS)
		return MetaFail(c, "model.hidden_layers", "has %zu entries, at most %d are supported",
						json_array_size(hidden), MF_MLP_MAX_LAYERS - 1);
	m->n_hidden = (int) json_array_size(hidden);
	if ((m->hidden = MetaAlloc(c, (size_t) m->n_hidden, sizeof(size_t))) == NULL)
		return false;
	for (int i = 0; i < m->n_hidden; i++)
	{
		json_t	   *v = json_array_get(hidden, i);

		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > (1 << 24))
			return MetaFail(c, "model.hidden_layers", "entry %d must be an integer in 1..%d", i, 1 << 24);
		m->hidden[i] = (size_t) json_integer_value(v);
	}
	if ((act = MetaString(c, model, "activation", "model.activation")) == NULL)
		return false;
	if ((m->activation = mfk_act_from_name(act)) < 0)
		return MetaFail(c, "model.activation", "is \"%s\", not an activation this build knows", act);
	if (!mf_model_meta_mlp(m, &net))
		return MetaFail(c, "model.hidden_layers", "is not a valid architecture for %zu inputs and %d outputs",
						m->p, m->n_out);
	n = net.n_params;
	m->n_params = net.n_params;
	return (m->params = MetaTensor(c, "params", 1, &n, "model.hidden_layers")) != NULL;
}

/* k-means: "model.k"; centers [k, p]. */
static bool
MetaKmeans(MetaCtx *c, json_t *model)
{
	json_int_t	k;
	uint64_t	dims[2];

	if (!MetaInteger(c, model, "k", "model.k", 1, INT_MAX, &k))
		return false;
	c->out->k = (int) k;
	dims[0] = (uint64_t) k;
	dims[1] = c->out->p;
	return (c->out->centers = MetaTensor(c, "centers", 2, dims, "model.k")) != NULL;
}

/* The family's shapes and tensors. */
static bool
MetaFamily(MetaCtx *c)
{
	json_t	   *model = json_object_get(c->root, "model");

	if (!json_is_object(model))
		return MetaFail(c, "model", "must be an object, but is %s", MetaTypeName(model));
	switch (c->out->family)
	{
		case MF_ART_FAMILY_LINEAR_REGRESSION:
			return MetaLinear(c);
		case MF_ART_FAMILY_LOGISTIC_REGRESSION:
			return MetaLogistic(c, model);
		case MF_ART_FAMILY_MLP:
			return MetaMlp(c, model);
		default:
			return MetaKmeans(c, model);
	}
}

/* Read and check the metadata of an open artifact into *out. */
MfMetaStatus
mf_model_meta_read(const MfArtifactView *view, const MfArtAllocator *alloc,
				   MfModelMeta *out, MfMetaError *err)
{
	MetaCtx		c;
	json_error_t jerr;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	memset(&c, 0, sizeof(c));
	c.view = view;
	c.alloc = alloc;
	c.out = out;
	c.err = err;
	out->family = view->family;
	if (view->family < MF_ART_FAMILY_LINEAR_REGRESSION || view->family > MF_ART_FAMILY_KMEANS)
	{
		snprintf(err->detail, sizeof(err->detail), "a %s model cannot be loaded here",
				 mf_artifact_family_name(view->family) ? mf_artifact_family_name(view->family) : "unknown");
		return MF_META_UNSUPPORTED;
	}
	c.root = json_loadb(view->meta, view->meta_len, JSON_REJECT_DUPLICATES, &jerr);
	if (c.root == NULL)
		MetaFail(&c, "", "is not JSON: %s (character %d)", jerr.text, jerr.position);
	else if (!json_is_object(c.root))
		MetaFail(&c, "", "is %s, not a JSON object", MetaTypeName(c.root));
	else
		(void) (MetaTask(&c) && MetaColumns(&c) && MetaScaling(&c) && MetaLabels(&c) &&
				MetaFamily(&c));
	json_decref(c.root);
	return c.status;
}
