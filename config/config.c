/*
 * config.c - mf_config_normalize: forms, family inference, meta keys.
 *
 * Design: the input is first flattened into one view of model-level keys,
 * each remembering its input path:
 *   - flat form: the top-level keys ($.key);
 *   - sectioned / YAML form: the keys of "model" ($.model.key) plus the
 *     other top-level keys ($.key); a key given in both places is a
 *     problem.  Top-level "datasets" and (only with a "model" section)
 *     "global_config" belong to the data section.
 * "training" and "data" become views of their own.  The family is then
 * inferred (family, template, architecture, model_type, in that order); a
 * template is merge-patched under the user's keys (RFC 7386).  Meta keys,
 * training, data and the family's own keys are validated independently,
 * so every problem is reported in one pass; problems end up sorted by
 * path.
 *
 * Output: {"name", "family", <family keys, defaults filled>, "training"
 * (complete), "data" (what was given, possibly {})} plus "version",
 * "description" and "tags" when given.  "template", "architecture",
 * "global_config", "layers" and "config" do not survive normalisation.
 */
#include <string.h>

#include "config_int.h"
#include "model_ref.h"

static const char *const FamilyNames[] = {
	"linear_regression", "logistic_regression", "mlp", "kmeans", "transformer", NULL
};

#define KNOWN_FAMILIES "linear_regression, logistic_regression, mlp, kmeans, transformer"

/* Architecture names and the family each means. */
static const char *const ArchNames[] = {
	"transformer", "bert", "mlp", "linear_regression", "logistic_regression",
	"kmeans", NULL
};
static const MfFamily ArchFamilies[] = {
	MF_FAMILY_TRANSFORMER, MF_FAMILY_TRANSFORMER, MF_FAMILY_MLP,
	MF_FAMILY_LINEAR_REGRESSION, MF_FAMILY_LOGISTIC_REGRESSION, MF_FAMILY_KMEANS
};

/* Sections of a normalisation in progress. */
typedef struct Sections
{
	MfView		model;			/* model-level keys */
	MfView		training;
	MfView		data;
} Sections;

/* Flatten the sectioned form: model keys plus the other top-level keys. */
static void
FlattenSectioned(MfCtx *ctx, const json_t *config, const json_t *model, Sections *s)
{
	const char *key;
	json_t	   *val;
	char		path[MF_PATH_LEN];
	char		other[MF_PATH_LEN];

	MfViewFromObject(ctx, &s->model, model, "$.model");
	json_object_foreach((json_t *) config, key, val)
	{
		if (strcmp(key, "model") == 0 || strcmp(key, "datasets") == 0 ||
			strcmp(key, "global_config") == 0)
			continue;
		MfPathKey(path, "$", key);
		if (MfViewGet(&s->model, key) != NULL)
		{
			MfViewPath(&s->model, key, other);
			MfProblem(ctx, path, "key is also given at %s; give it once", other);
			continue;
		}
		MfViewSet(ctx, &s->model, key, val, path);
	}
}

/* A section view ("training" / "data") out of the model view. */
static void
SectionView(MfCtx *ctx, const MfView *model, const char *key, MfView *out)
{
	json_t	   *val = MfViewGet(model, key);
	char		path[MF_PATH_LEN];

	MfViewPath(model, key, path);
	MfViewInit(out, path);
	if (val == NULL)
		return;
	if (!json_is_object(val))
		MfProblem(ctx, path, "expected an object, got %s", MfTypeName(val));
	else
		MfViewAddObject(ctx, out, val, path);
}

/* Top-level keys that belong to the data section. */
static void
MoveToData(MfCtx *ctx, const json_t *config, const char *key, MfView *data)
{
	json_t	   *val = json_object_get(config, key);
	char		path[MF_PATH_LEN];
	char		other[MF_PATH_LEN];

	if (val == NULL)
		return;
	MfPathKey(path, "$", key);
	if (MfViewGet(data, key) != NULL)
	{
		MfViewPath(data, key, other);
		MfProblem(ctx, path, "key is also given at %s; give it once", other);
		return;
	}
	MfViewSet(ctx, data, key, val, path);
}

/* Split the input into model, training and data views. */
static void
Flatten(MfCtx *ctx, const json_t *config, Sections *s)
{
	json_t	   *model = json_object_get(config, "model");
	bool		sectioned = json_is_object(model);

	if (sectioned)
		FlattenSectioned(ctx, config, model, s);
	else
	{
		MfViewFromObject(ctx, &s->model, config, "$");
		if (model != NULL)
			MfProblem(ctx, "$.model", "expected an object, got %s", MfTypeName(model));
		if (s->model.vals != NULL)
		{
			json_object_del(s->model.vals, "model");
			json_object_del(s->model.vals, "datasets");
		}
	}
	SectionView(ctx, &s->model, "training", &s->training);
	SectionView(ctx, &s->model, "data", &s->data);
	MoveToData(ctx, config, "datasets", &s->data);
	if (sectioned)
		MoveToData(ctx, config, "global_config", &s->data);
}

/* Report an unknown name with a suggestion and the known names. */
static void
UnknownName(MfCtx *ctx, const char *path, const char *what, const char *name,
			const char *const *known, const char *known_text)
{
	char		q[128];
	const char *hint = MfSuggest(name, known);

	MfQuote(q, sizeof(q), name);
	if (hint != NULL)
		MfProblem(ctx, path, "unknown %s %s; did you mean \"%s\"? (known: %s)",
				  what, q, hint, known_text);
	else
		MfProblem(ctx, path, "unknown %s %s (known: %s)", what, q, known_text);
}

/* A string inference key; NULL when absent or (reported) not a string. */
static const char *
InferenceKey(MfCtx *ctx, const MfView *v, const char *key, bool *bad)
{
	const char *s = NULL;
	MfGot		got = MfGetString(ctx, v, key, 0, &s);

	if (got == MF_GOT_BAD || got == MF_GOT_NULL)
	{
		if (got == MF_GOT_NULL)
		{
			char		path[MF_PATH_LEN];

			MfViewPath(v, key, path);
			MfProblem(ctx, path, "expected a string, got null");
		}
		*bad = true;
	}
	return s;
}

/* Names of all templates, comma separated, into buf. */
static void
TemplateNames(char *buf, size_t len, const char **names, int max)
{
	int			n;
	int			i;
	const MfTemplate *t = mf_builtin_templates(&n);

	buf[0] = '\0';
	for (i = 0; i < n && i < max - 1; i++)
	{
		names[i] = t[i].name;
		if (strlen(buf) + strlen(t[i].name) + 3 < len)
		{
			if (i > 0)
				strcat(buf, ", ");
			strcat(buf, t[i].name);
		}
	}
	names[i] = NULL;
}

/* Merge a template under the user's keys (RFC 7386 on the view). */
static void
ApplyTemplate(MfCtx *ctx, MfView *v, const MfTemplate *t)
{
	json_t	   *tj = json_loads(t->config_json, 0, NULL);
	const char *key;
	json_t	   *val;
	void	   *tmp;
	char		path[MF_PATH_LEN];

	if (tj == NULL || v->vals == NULL)
	{
		ctx->oom = true;
		json_decref(tj);
		return;
	}
	json_object_foreach_safe(v->vals, tmp, key, val)
	{
		MfViewPath(v, key, path);
		if (json_is_null(val))
			json_object_del(v->vals, key);
		else if (json_is_object(val))
			MfViewSetNew(ctx, v, key, mf_json_merge_patch(json_object_get(tj, key), val), path);
	}
	json_object_foreach(tj, key, val)
	{
		if (json_object_get(v->vals, key) != NULL || json_object_get(v->paths, key) != NULL)
			continue;
		MfPathKey(path, v->base, key);
		MfViewSet(ctx, v, key, val, path);
	}
	json_decref(tj);
}

/* The "template" key: look it up and merge it; its family or UNKNOWN. */
static MfFamily
TemplateFamily(MfCtx *ctx, MfView *v, const char *name, MfFamily fam)
{
	const MfTemplate *t = mf_builtin_template(name);
	char		path[MF_PATH_LEN];
	char		known[1024];
	const char *names[64];
	MfFamily	tf;

	MfViewPath(v, "template", path);
	if (t == NULL)
	{
		TemplateNames(known, sizeof(known), names, 64);
		UnknownName(ctx, path, "template", name, names, known);
		return MF_FAMILY_UNKNOWN;
	}
	tf = mf_family_from_name(t->family);
	if (fam != MF_FAMILY_UNKNOWN && fam != tf)
	{
		MfProblem(ctx, path, "template \"%s\" is a %s template, but family is \"%s\"",
				  t->name, t->family, mf_family_name(fam));
		return MF_FAMILY_UNKNOWN;
	}
	ApplyTemplate(ctx, v, t);
	return tf;
}

/* The "architecture" key: its family or UNKNOWN (reported). */
static MfFamily
ArchitectureFamily(MfCtx *ctx, const MfView *v, const char *name, MfFamily fam)
{
	char		path[MF_PATH_LEN];
	int			i;

	MfViewPath(v, "architecture", path);
	for (i = 0; ArchNames[i] != NULL; i++)
		if (strcmp(ArchNames[i], name) == 0)
			break;
	if (ArchNames[i] == NULL)
	{
		UnknownName(ctx, path, "architecture", name, ArchNames,
					"transformer, bert, mlp, linear_regression, logistic_regression, kmeans");
		return MF_FAMILY_UNKNOWN;
	}
	if (fam != MF_FAMILY_UNKNOWN && fam != ArchFamilies[i])
	{
		MfProblem(ctx, path, "architecture \"%s\" does not match family \"%s\"",
				  ArchNames[i], mf_family_name(fam));
		return MF_FAMILY_UNKNOWN;
	}
	return ArchFamilies[i];
}

/* Infer the family: family, template, architecture, model_type. */
static MfFamily
InferFamily(MfCtx *ctx, MfView *v)
{
	bool		bad = false;
	const char *fname = InferenceKey(ctx, v, "family", &bad);
	const char *tname = InferenceKey(ctx, v, "template", &bad);
	const char *aname = InferenceKey(ctx, v, "architecture", &bad);
	MfFamily	fam = MF_FAMILY_UNKNOWN;
	char		path[MF_PATH_LEN];

	if (bad)
		return MF_FAMILY_UNKNOWN;
	if (fname != NULL)
	{
		fam = mf_family_from_name(fname);
		if (fam == MF_FAMILY_UNKNOWN)
		{
			MfViewPath(v, "family", path);
			UnknownName(ctx, path, "family", fname, FamilyNames, KNOWN_FAMILIES);
			return MF_FAMILY_UNKNOWN;
		}
	}
	if (tname != NULL && (fam = TemplateFamily(ctx, v, tname, fam)) == MF_FAMILY_UNKNOWN)
		return MF_FAMILY_UNKNOWN;
	if (aname != NULL && (fam = ArchitectureFamily(ctx, v, aname, fam)) == MF_FAMILY_UNKNOWN)
		return MF_FAMILY_UNKNOWN;
	/* "architecture": "bert" alone means the BERT-base shaped template */
	if (aname != NULL && tname == NULL && strcmp(aname, "bert") == 0 && MfViewGet(v, "layers") == NULL)
		ApplyTemplate(ctx, v, mf_builtin_template("bert_classifier"));
	if (fam == MF_FAMILY_UNKNOWN && MfViewGet(v, "model_type") != NULL)
		fam = MF_FAMILY_TRANSFORMER;
	if (fam == MF_FAMILY_UNKNOWN)
		MfProblem(ctx, "$", "cannot infer the model family; set \"family\" (one of "
				  KNOWN_FAMILIES "), \"template\", \"architecture\" or \"model_type\"");
	return fam;
}

/* True for a model name (model_ref.c owns the rule). */
static bool
ValidName(const char *s)
{
	return mf_model_name_valid(s, strlen(s));
}

/* True for a semantic version X.Y.Z (no leading zeros, at most 9 digits each). */
static bool
ValidVersion(const char *s)
{
	int			part;

	for (part = 0; part < 3; part++)
	{
		size_t		n = strspn(s, "0123456789");

		if (n == 0 || n > 9 || (n > 1 && s[0] == '0'))
			return false;
		s += n;
		if (part < 2 && *s++ != '.')
			return false;
	}
	return *s == '\0';
}

/* A string meta key that must satisfy a check; copied to out. */
static void
MetaString(MfCtx *ctx, const MfView *v, const char *key, int flags,
		   bool (*check) (const char *), const char *rule, json_t *out)
{
	const char *s;
	char		path[MF_PATH_LEN];
	char		q[128];

	if (MfGetString(ctx, v, key, flags, &s) != MF_GOT_VALUE)
		return;
	if (check != NULL && !check(s))
	{
		MfViewPath(v, key, path);
		MfQuote(q, sizeof(q), s);
		MfProblem(ctx, path, "%s, got %s", rule, q);
		return;
	}
	MfPut(ctx, out, key, json_string(s));
}

/* "tags": an array of strings. */
static void
MetaTags(MfCtx *ctx, const MfView *v, json_t *out)
{
	json_t	   *tags = MfViewGet(v, "tags");
	char		path[MF_PATH_LEN];
	char		elem[MF_PATH_LEN];
	size_t		i;
	bool		ok = true;

	if (tags == NULL)
		return;
	MfViewPath(v, "tags", path);
	if (!json_is_array(tags))
	{
		MfProblem(ctx, path, "expected an array of strings, got %s", MfTypeName(tags));
		return;
	}
	for (i = 0; i < json_array_size(tags); i++)
	{
		if (!json_is_string(json_array_get(tags, i)))
		{
			MfPathIndex(elem, path, i);
			MfProblem(ctx, elem, "expected a string, got %s", MfTypeName(json_array_get(tags, i)));
			ok = false;
		}
	}
	if (ok)
		MfPut(ctx, out, "tags", MfJsonCopy(tags, 0));
}

/* name, version, description, tags. */
static void
MetaNormalize(MfCtx *ctx, const MfView *v, json_t *out)
{
	MetaString(ctx, v, "name", MF_REQUIRED, ValidName,
			   "must match ^[a-z][a-z0-9_]{0,62}$ (a lowercase letter, then lowercase "
			   "letters, digits or _; at most 63 characters)", out);
	MetaString(ctx, v, "version", 0, ValidVersion,
			   "must be a semantic version major.minor.patch such as 1.0.0", out);
	MetaString(ctx, v, "description", 0, NULL, NULL, out);
	MetaTags(ctx, v, out);
}

/* The family's own keys. */
static void
FamilyNormalize(MfCtx *ctx, MfFamily fam, const MfView *v, json_t *out)
{
	MfPut(ctx, out, "family", json_string(mf_family_name(fam)));
	switch (fam)
	{
		case MF_FAMILY_LINEAR_REGRESSION:
			MfLinearNormalize(ctx, v, out);
			break;
		case MF_FAMILY_LOGISTIC_REGRESSION:
			MfLogisticNormalize(ctx, v, out);
			break;
		case MF_FAMILY_MLP:
			MfMlpNormalize(ctx, v, out);
			break;
		case MF_FAMILY_KMEANS:
			MfKmeansNormalize(ctx, v, out);
			break;
		case MF_FAMILY_TRANSFORMER:
			MfTransformerNormalize(ctx, v, out);
			break;
		case MF_FAMILY_UNKNOWN:
			break;
	}
}

/* Validate and normalise a config (see the file header). */
json_t *
mf_config_normalize(const json_t *config, json_t *problems)
{
	MfCtx		ctx;
	Sections	s;
	MfFamily	fam;
	json_t	   *out;
	bool		failed;

	MfCtxInit(&ctx);
	if (!json_is_object(config))
	{
		MfProblem(&ctx, "$", "config must be a json object, got %s",
				  config ? MfTypeName(config) : "nothing");
		MfFinishProblems(&ctx, problems);
		return NULL;
	}
	if (MfJsonTooDeep(config, 1))
	{
		MfProblem(&ctx, "$", "config is nested more than %d levels deep", MF_JSON_MAX_DEPTH);
		MfFinishProblems(&ctx, problems);
		return NULL;
	}
	Flatten(&ctx, config, &s);
	fam = InferFamily(&ctx, &s.model);
	out = mf_json_object_new();
	MetaNormalize(&ctx, &s.model, out);
	if (fam != MF_FAMILY_UNKNOWN)
		FamilyNormalize(&ctx, fam, &s.model, out);
	MfPut(&ctx, out, "training", MfTrainingNormalize(&ctx, &s.training));
	MfPut(&ctx, out, "data", MfDataNormalize(&ctx, &s.data));
	MfViewFree(&s.model);
	MfViewFree(&s.training);
	MfViewFree(&s.data);
	failed = ctx.oom || fam == MF_FAMILY_UNKNOWN || ctx.problems == NULL ||
		json_array_size(ctx.problems) > 0;
	MfFinishProblems(&ctx, problems);
	if (failed)
	{
		json_decref(out);
		return NULL;
	}
	return out;
}

/* Family of a normalised config. */
MfFamily
mf_config_family(const json_t *normalized)
{
	return mf_family_from_name(json_string_value(json_object_get(normalized, "family")));
}

/* Trainable parameters of a normalised config; -1 when not known. */
int64_t
mf_config_n_parameters(const json_t *normalized)
{
	MfFamily	fam = mf_config_family(normalized);
	MfTransformerConfig tc;

	if (fam == MF_FAMILY_TRANSFORMER)
	{
		if (!mf_config_get_transformer(normalized, &tc))
			return -1;
		return MfTransformerParameters(&tc);
	}
	return MfTabularParameters(normalized, fam);
}
