/*
 * config_fields.c - problems, paths, views and typed getters.
 *
 * Every getter reads one key of a view, checks its type and range, reports
 * any problem at the key's input path and always leaves a usable value
 * (the default) in *out, so validation can go on and report everything.
 * Problems are finally sorted by path (digit runs compared as numbers, so
 * [2] comes before [10]; equal paths keep their order) and de-duplicated.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

/* Start collecting problems. */
void
MfCtxInit(MfCtx *ctx)
{
	ctx->problems = json_array();
	ctx->oom = (ctx->problems == NULL);
}

/* Replace bytes that could make invalid UTF-8 with '?', in place. */
static void
AsciiOnly(char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s >= 0x80)
			*s = '?';
}

/* A JSON string of s, falling back to an ASCII-only copy. */
static json_t *
SafeString(char *s)
{
	json_t	   *j = json_string(s);

	if (j == NULL)
	{
		AsciiOnly(s);
		j = json_string(s);
	}
	return j;
}

/* Record one problem at a path. */
void
MfProblem(MfCtx *ctx, const char *path, const char *fmt,...)
{
	char		msg[MF_MSG_LEN];
	char		p[MF_PATH_LEN];
	va_list		ap;
	json_t	   *item;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p, sizeof(p), "%s", path);
	item = mf_json_object_new();
	if (item == NULL || ctx->problems == NULL ||
		json_object_set_new(item, "path", SafeString(p)) != 0 ||
		json_object_set_new(item, "problem", SafeString(msg)) != 0)
	{
		ctx->oom = true;
		json_decref(item);
		return;
	}
	/* append_new releases item on failure */
	if (json_array_append_new(ctx->problems, item) != 0)
		ctx->oom = true;
}

/* Length of a prefix of s of at most max bytes that ends on a UTF-8 boundary. */
static size_t
Utf8Prefix(const char *s, size_t max)
{
	size_t		n = strlen(s);

	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* Append s to out (size len) escaped for a double-quoted context. */
static void
AppendEscaped(char *out, size_t len, const char *s, size_t n)
{
	size_t		o = strlen(out);
	size_t		i;

	for (i = 0; i < n && o + 8 < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
		{
			out[o++] = '\\';
			out[o++] = (char) c;
		}
		else if (c < 0x20 || c == 0x7f)
			o += snprintf(out + o, len - o, "\\u%04x", c);
		else
			out[o++] = (char) c;
	}
	out[o] = '\0';
}

/* "s" quoted for a message, cut to 64 bytes with "..." when longer. */
void
MfQuote(char *out, size_t len, const char *s)
{
	size_t		n = Utf8Prefix(s, 64);

	if (len < 16)
	{
		out[0] = '\0';
		return;
	}
	snprintf(out, len, "\"");
	AppendEscaped(out, len - 5, s, n);
	strcat(out, n < strlen(s) ? "...\"" : "\"");
}

/* True for keys that can be written as .key in a path. */
static bool
IsIdentifier(const char *key)
{
	const char *c;

	if (!isalpha((unsigned char) key[0]) && key[0] != '_')
		return false;
	for (c = key; *c; c++)
		if (!isalnum((unsigned char) *c) && *c != '_')
			return false;
	return true;
}

/* out = base.key, or base["key"] for keys that are not identifiers. */
void
MfPathKey(char *out, const char *base, const char *key)
{
	char		tmp[MF_PATH_LEN];

	if (IsIdentifier(key))
		snprintf(tmp, sizeof(tmp), "%s.%s", base, key);
	else
	{
		snprintf(tmp, sizeof(tmp), "%s[\"", base);
		AppendEscaped(tmp, sizeof(tmp) - 3, key, Utf8Prefix(key, 64));
		strcat(tmp, "\"]");
	}
	memcpy(out, tmp, MF_PATH_LEN);
}

/* out = base[index]. */
void
MfPathIndex(char *out, const char *base, size_t index)
{
	char		tmp[MF_PATH_LEN];

	snprintf(tmp, sizeof(tmp), "%s[%zu]", base, index);
	memcpy(out, tmp, MF_PATH_LEN);
}

/* Name of a JSON type for "expected X, got Y" messages. */
const char *
MfTypeName(const json_t *v)
{
	switch (json_typeof(v))
	{
		case JSON_OBJECT:
			return "object";
		case JSON_ARRAY:
			return "array";
		case JSON_STRING:
			return "string";
		case JSON_INTEGER:
			return "integer";
		case JSON_REAL:
			return "number";
		case JSON_TRUE:
		case JSON_FALSE:
			return "boolean";
		case JSON_NULL:
			return "null";
	}
	return "unknown";
}

/* Compare paths; digit runs compare as numbers. */
static int
PathCompare(const char *a, const char *b)
{
	while (*a && *b)
	{
		if (isdigit((unsigned char) *a) && isdigit((unsigned char) *b))
		{
			size_t		la = strspn(a, "0123456789");
			size_t		lb = strspn(b, "0123456789");
			int			c;

			if (la != lb)
				return la < lb ? -1 : 1;
			c = strncmp(a, b, la);
			if (c != 0)
				return c;
			a += la;
			b += lb;
			continue;
		}
		if (*a != *b)
			return (unsigned char) *a < (unsigned char) *b ? -1 : 1;
		a++;
		b++;
	}
	return (*a != 0) - (*b != 0);
}

/* A problem with its position, for a stable sort. */
typedef struct ProblemRef
{
	json_t	   *item;
	size_t		pos;
} ProblemRef;

/* qsort comparator: by path, then by order of report. */
static int
ProblemCompare(const void *x, const void *y)
{
	const ProblemRef *a = x;
	const ProblemRef *b = y;
	int			c = PathCompare(json_string_value(json_object_get(a->item, "path")),
								json_string_value(json_object_get(b->item, "path")));

	if (c != 0)
		return c;
	return a->pos < b->pos ? -1 : (a->pos > b->pos ? 1 : 0);
}

/* True when two problems have the same path and text. */
static bool
ProblemEqual(const json_t *a, const json_t *b)
{
	return json_equal(json_object_get(a, "path"), json_object_get(b, "path")) &&
		json_equal(json_object_get(a, "problem"), json_object_get(b, "problem"));
}

/* Sort, de-duplicate and append the collected problems; frees ctx. */
void
MfFinishProblems(MfCtx *ctx, json_t *problems)
{
	size_t		n = ctx->problems ? json_array_size(ctx->problems) : 0;
	ProblemRef *refs = NULL;
	size_t		i;

	if (ctx->oom && n == 0)
		MfProblem(ctx, "$", "out of memory");
	n = ctx->problems ? json_array_size(ctx->problems) : 0;
	if (n > 0)
	{
		json_malloc_t m;
		json_free_t f;

		json_get_alloc_funcs(&m, &f);
		refs = m(n * sizeof(ProblemRef));
	}
	if (refs == NULL)
	{
		/* unsorted is better than nothing */
		for (i = 0; i < n && problems != NULL; i++)
			json_array_append(problems, json_array_get(ctx->problems, i));
	}
	else
	{
		for (i = 0; i < n; i++)
		{
			refs[i].item = json_array_get(ctx->problems, i);
			refs[i].pos = i;
		}
		qsort(refs, n, sizeof(ProblemRef), ProblemCompare);
		for (i = 0; i < n && problems != NULL; i++)
			if (i == 0 || !ProblemEqual(refs[i].item, refs[i - 1].item))
				json_array_append(problems, refs[i].item);
		MfFree(refs);
	}
	json_decref(ctx->problems);
	ctx->problems = NULL;
}

/* obj[key] = val (reference stolen); flags OOM when val is NULL. */
void
MfPut(MfCtx *ctx, json_t *obj, const char *key, json_t *val)
{
	if (obj == NULL || val == NULL || json_object_set_new(obj, key, val) != 0)
		ctx->oom = true;
}

/* obj[key] = integer. */
void
MfPutInt(MfCtx *ctx, json_t *obj, const char *key, int64_t v)
{
	MfPut(ctx, obj, key, json_integer((json_int_t) v));
}

/* obj[key] = integer, or null when v is -1. */
void
MfPutNullableInt(MfCtx *ctx, json_t *obj, const char *key, int64_t v)
{
	MfPut(ctx, obj, key, v < 0 ? json_null() : json_integer((json_int_t) v));
}

/* An empty view whose missing keys are reported under 'base'. */
void
MfViewInit(MfView *v, const char *base)
{
	v->vals = mf_json_object_new();
	v->paths = mf_json_object_new();
	snprintf(v->base, sizeof(v->base), "%s", base);
}

/* Release a view. */
void
MfViewFree(MfView *v)
{
	json_decref(v->vals);
	json_decref(v->paths);
	v->vals = NULL;
	v->paths = NULL;
}

/* Set key to value (borrowed) found at path; later sets win. */
void
MfViewSet(MfCtx *ctx, MfView *v, const char *key, json_t *value, const char *path)
{
	char		p[MF_PATH_LEN];

	if (v->vals == NULL || v->paths == NULL || value == NULL)
	{
		ctx->oom = true;
		return;
	}
	snprintf(p, sizeof(p), "%s", path);
	if (json_object_set(v->vals, key, value) != 0 ||
		json_object_set_new(v->paths, key, SafeString(p)) != 0)
		ctx->oom = true;
}

/* Add every key of obj with path base.key. */
void
MfViewAddObject(MfCtx *ctx, MfView *v, const json_t *obj, const char *base)
{
	const char *key;
	json_t	   *val;
	char		path[MF_PATH_LEN];

	json_object_foreach((json_t *) obj, key, val)
	{
		MfPathKey(path, base, key);
		MfViewSet(ctx, v, key, val, path);
	}
}

/* Where a missing key should be reported, without giving it a value. */
void
MfViewSetMissingPath(MfCtx *ctx, MfView *v, const char *key, const char *path)
{
	char		p[MF_PATH_LEN];

	snprintf(p, sizeof(p), "%s", path);
	if (v->paths == NULL || json_object_set_new(v->paths, key, SafeString(p)) != 0)
		ctx->oom = true;
}

/* A view of one object whose keys sit at base.key. */
void
MfViewFromObject(MfCtx *ctx, MfView *v, const json_t *obj, const char *base)
{
	MfViewInit(v, base);
	if (json_is_object(obj))
		MfViewAddObject(ctx, v, obj, base);
}

/* The value of key, or NULL. */
json_t *
MfViewGet(const MfView *v, const char *key)
{
	return v->vals ? json_object_get(v->vals, key) : NULL;
}

/* The input path of key (or where it would be). */
void
MfViewPath(const MfView *v, const char *key, char *out)
{
	json_t	   *p = v->paths ? json_object_get(v->paths, key) : NULL;

	if (json_is_string(p))
		snprintf(out, MF_PATH_LEN, "%s", json_string_value(p));
	else
		MfPathKey(out, v->base, key);
}

/* Keys that mean "weights from elsewhere", refused everywhere. */
bool
MfIsPretrainedKey(const char *key)
{
	return strcmp(key, "pretrained") == 0 || strncmp(key, "pretrained_", 11) == 0;
}

/* True when key is in the NULL-terminated list. */
bool
MfInList(const char *key, const char *const *list)
{
	int			i;

	for (i = 0; list != NULL && list[i] != NULL; i++)
		if (strcmp(key, list[i]) == 0)
			return true;
	return false;
}

/* Report one unknown key, with a suggestion from the two lists. */
static void
UnknownKey(MfCtx *ctx, const char *key, const char *path,
		   const char *const *allowed, const char *const *also)
{
	char		q[128];
	const char *s1 = MfSuggest(key, allowed);
	const char *s2 = MfSuggest(key, also);
	const char *best = s1;

	if (MfIsPretrainedKey(key))
	{
		MfProblem(ctx, path, "pretrained weights cannot be downloaded into the database; "
				  "train the model with mf_train instead");
		return;
	}
	if (s2 != NULL && (s1 == NULL || MfEditDistance(key, s2) < MfEditDistance(key, s1)))
		best = s2;
	MfQuote(q, sizeof(q), key);
	if (best != NULL)
		MfProblem(ctx, path, "unknown key %s; did you mean \"%s\"?", q, best);
	else
		MfProblem(ctx, path, "unknown key %s", q);
}

/* Report every key of the view that is in neither list. */
void
MfCheckKeys(MfCtx *ctx, const MfView *v, const char *const *allowed,
			const char *const *also)
{
	const char *key;
	json_t	   *val;
	char		path[MF_PATH_LEN];

	if (v->vals == NULL)
		return;
	json_object_foreach(v->vals, key, val)
	{
		if (MfInList(key, allowed) || MfInList(key, also))
			continue;
		MfViewPath(v, key, path);
		UnknownKey(ctx, key, path, allowed, also);
	}
}

/* Report every key of a plain object that is not allowed. */
void
MfCheckObjectKeys(MfCtx *ctx, const json_t *obj, const char *base,
				  const char *const *allowed)
{
	const char *key;
	json_t	   *val;
	char		path[MF_PATH_LEN];

	json_object_foreach((json_t *) obj, key, val)
	{
		if (MfInList(key, allowed))
			continue;
		MfPathKey(path, base, key);
		UnknownKey(ctx, key, path, allowed, NULL);
	}
}

/*
 * Common start of every getter: find the value and its path; report a
 * missing required key or a null where null is not allowed.  Returns the
 * value to check further, or NULL with *got set.
 */
static json_t *
GetStart(MfCtx *ctx, const MfView *v, const char *key, int flags,
		 const char *expected, char *path, MfGot *got)
{
	json_t	   *val = MfViewGet(v, key);

	*got = MF_GOT_VALUE;
	MfViewPath(v, key, path);
	if (val == NULL)
	{
		*got = MF_GOT_DEFAULT;
		if (flags & MF_REQUIRED)
		{
			MfProblem(ctx, path, "required key is missing");
			*got = MF_GOT_BAD;
		}
		return NULL;
	}
	if (json_is_null(val))
	{
		*got = MF_GOT_NULL;
		if (!(flags & MF_NULLABLE))
		{
			MfProblem(ctx, path, "expected %s, got null", expected);
			*got = MF_GOT_BAD;
		}
		return NULL;
	}
	return val;
}

/* Check one value is an integer in [min, max]; label names it in messages. */
MfGot
MfCheckIntValue(MfCtx *ctx, const json_t *val, const char *path,
				const char *label, int64_t min, int64_t max, int64_t *out)
{
	int64_t		x;

	if (json_is_integer(val))
		x = (int64_t) json_integer_value(val);
	else if (json_is_real(val) && json_real_value(val) == (double) (int64_t) json_real_value(val) &&
			 json_real_value(val) > -9007199254740992.0 && json_real_value(val) < 9007199254740992.0)
		x = (int64_t) json_real_value(val);
	else
	{
		MfProblem(ctx, path, "expected an integer, got %s", MfTypeName(val));
		return MF_GOT_BAD;
	}
	if (x < min)
	{
		MfProblem(ctx, path, "%s must be >= %" PRId64 ", got %" PRId64, label, min, x);
		return MF_GOT_BAD;
	}
	if (x > max)
	{
		MfProblem(ctx, path, "%s must be <= %" PRId64 ", got %" PRId64, label, max, x);
		return MF_GOT_BAD;
	}
	*out = x;
	return MF_GOT_VALUE;
}

/* Integer key in [min, max]; -1 for null when MF_NULLABLE. */
MfGot
MfGetInt(MfCtx *ctx, const MfView *v, const char *key, int64_t def,
		 int64_t min, int64_t max, int flags, int64_t *out)
{
	char		path[MF_PATH_LEN];
	MfGot		got;
	json_t	   *val = GetStart(ctx, v, key, flags, "an integer", path, &got);

	*out = (got == MF_GOT_NULL) ? -1 : def;
	if (val == NULL)
		return got;
	return MfCheckIntValue(ctx, val, path, key, min, max, out);
}

/* True when x lies in the range. */
static bool
InRange(double x, MfRange range)
{
	switch (range)
	{
		case MF_RANGE_POSITIVE:
			return x > 0;
		case MF_RANGE_NONNEG:
			return x >= 0;
		case MF_RANGE_UNIT_CO:
			return x >= 0 && x < 1;
		case MF_RANGE_UNIT_OO:
			return x > 0 && x < 1;
		case MF_RANGE_ANY:
			break;
	}
	return true;
}

/* Text of a range for messages. */
static const char *
RangeText(MfRange range)
{
	switch (range)
	{
		case MF_RANGE_POSITIVE:
			return "> 0";
		case MF_RANGE_NONNEG:
			return ">= 0";
		case MF_RANGE_UNIT_CO:
			return "in [0, 1)";
		case MF_RANGE_UNIT_OO:
			return "in (0, 1)";
		case MF_RANGE_ANY:
			break;
	}
	return "finite";
}

/* Number key (integer or real) within a range. */
MfGot
MfGetNum(MfCtx *ctx, const MfView *v, const char *key, double def,
		 MfRange range, int flags, double *out)
{
	char		path[MF_PATH_LEN];
	char		num[64];
	MfGot		got;
	json_t	   *val = GetStart(ctx, v, key, flags, "a number", path, &got);
	double		x;

	*out = def;
	if (val == NULL)
		return got;
	if (!json_is_number(val))
	{
		MfProblem(ctx, path, "expected a number, got %s", MfTypeName(val));
		return MF_GOT_BAD;
	}
	x = json_number_value(val);
	if (!InRange(x, range))
	{
		if (json_is_integer(val))
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(val));
		else if (MfFormatReal(x, num, sizeof(num)) < 0)
			snprintf(num, sizeof(num), "a non-finite value");
		MfProblem(ctx, path, "must be a number %s, got %s", RangeText(range), num);
		return MF_GOT_BAD;
	}
	*out = x;
	return MF_GOT_VALUE;
}

/* Boolean key. */
MfGot
MfGetBool(MfCtx *ctx, const MfView *v, const char *key, bool def,
		  int flags, bool *out)
{
	char		path[MF_PATH_LEN];
	MfGot		got;
	json_t	   *val = GetStart(ctx, v, key, flags, "a boolean", path, &got);

	*out = def;
	if (val == NULL)
		return got;
	if (!json_is_boolean(val))
	{
		MfProblem(ctx, path, "expected a boolean, got %s", MfTypeName(val));
		return MF_GOT_BAD;
	}
	*out = json_is_true(val);
	return MF_GOT_VALUE;
}

/* String key (any content). */
MfGot
MfGetString(MfCtx *ctx, const MfView *v, const char *key, int flags,
			const char **out)
{
	char		path[MF_PATH_LEN];
	MfGot		got;
	json_t	   *val = GetStart(ctx, v, key, flags, "a string", path, &got);

	*out = NULL;
	if (val == NULL)
		return got;
	if (!json_is_string(val))
	{
		MfProblem(ctx, path, "expected a string, got %s", MfTypeName(val));
		return MF_GOT_BAD;
	}
	*out = json_string_value(val);
	return MF_GOT_VALUE;
}

/* Compare two strings, ASCII case-insensitively when fold is set. */
static bool
SameChoice(const char *a, const char *b, bool fold)
{
	if (!fold)
		return strcmp(a, b) == 0;
	for (; *a && *b; a++, b++)
		if (tolower((unsigned char) *a) != tolower((unsigned char) *b))
			return false;
	return *a == *b;
}

/* String key that must be one of choices (NULL-terminated); *out = index. */
MfGot
MfGetEnum(MfCtx *ctx, const MfView *v, const char *key,
		  const char *const *choices, int def, int flags, int *out)
{
	char		path[MF_PATH_LEN];
	char		list[256] = "";
	char		q[128];
	const char *s;
	const char *hint;
	MfGot		got = MfGetString(ctx, v, key, flags, &s);
	int			i;

	*out = def;
	if (got != MF_GOT_VALUE)
		return got;
	for (i = 0; choices[i] != NULL; i++)
	{
		if (SameChoice(s, choices[i], (flags & MF_FOLD_CASE) != 0))
		{
			*out = i;
			return MF_GOT_VALUE;
		}
		if (strlen(list) + strlen(choices[i]) + 3 < sizeof(list))
		{
			if (i > 0)
				strcat(list, ", ");
			strcat(list, choices[i]);
		}
	}
	MfViewPath(v, key, path);
	MfQuote(q, sizeof(q), s);
	hint = MfSuggest(s, choices);
	if (hint != NULL)
		MfProblem(ctx, path, "must be one of %s, got %s; did you mean \"%s\"?", list, q, hint);
	else
		MfProblem(ctx, path, "must be one of %s, got %s", list, q);
	return MF_GOT_BAD;
}

/* num_classes of a classifier: integer >= 2 (or null with MF_NULLABLE). */
MfGot
MfGetNumClasses(MfCtx *ctx, const MfView *v, int64_t def, int flags, int64_t *out)
{
	char		path[MF_PATH_LEN];
	MfGot		got = MfGetInt(ctx, v, "num_classes", def, INT64_MIN, 1000000, flags, out);

	if (got == MF_GOT_VALUE && *out < 2)
	{
		MfViewPath(v, "num_classes", path);
		MfProblem(ctx, path, "num_classes must be >= 2 for a classifier, got %" PRId64, *out);
		*out = def;
		return MF_GOT_BAD;
	}
	return got;
}

/*
 * Run a family parser over a normalised config (keys at $.key); true when
 * it reported no problem.
 */
bool
MfParseNormalized(const json_t *normalized, MfFamily family, MfParseFn fn, void *out)
{
	MfCtx		ctx;
	MfView		v;
	bool		ok;

	if (!json_is_object(normalized) || mf_config_family(normalized) != family)
		return false;
	MfCtxInit(&ctx);
	MfViewFromObject(&ctx, &v, normalized, "$");
	fn(&ctx, &v, out);
	ok = !ctx.oom && ctx.problems != NULL && json_array_size(ctx.problems) == 0;
	MfViewFree(&v);
	json_decref(ctx.problems);
	return ok;
}

/* a * b + c with overflow to -1 (all inputs >= 0). */
int64_t
MfMulAdd(int64_t a, int64_t b, int64_t c)
{
	int64_t		r;

	if (a < 0 || b < 0 || c < 0 ||
		__builtin_mul_overflow(a, b, &r) || __builtin_add_overflow(r, c, &r))
		return -1;
	return r;
}

/* dst = a copy of src (same values, paths and base). */
void
MfViewCopy(MfCtx *ctx, MfView *dst, const MfView *src)
{
	MfViewInit(dst, src->base);
	if (dst->vals == NULL || dst->paths == NULL || src->vals == NULL ||
		json_object_update(dst->vals, src->vals) != 0 ||
		json_object_update(dst->paths, src->paths) != 0)
		ctx->oom = true;
}

/* Set key to a new value (reference stolen) at path. */
void
MfViewSetNew(MfCtx *ctx, MfView *v, const char *key, json_t *value, const char *path)
{
	MfViewSet(ctx, v, key, value, path);
	json_decref(value);
}
