/*
 * json_util.c - canonical JSON text, RFC 7386 merge patch, "did you mean".
 *
 * Canonical form (mf_json_canonical): object keys sorted by byte value, no
 * whitespace, strings escaped as JSON requires (", \ and control
 * characters; everything else, including non-ASCII UTF-8, verbatim),
 * integers in decimal.  A real is printed with the first of %.15g, %.16g,
 * %.17g that reads back to the same double, the exponent is cleaned up
 * ("1e-05" -> "1e-5", "1e+300" -> "1e300") and ".0" is appended when the
 * text would otherwise look like an integer, so a real always stays a real:
 * 3.0 -> "3.0", 0.1 -> "0.1", 1e-5 -> "1e-5", 1e300 -> "1e300".
 * (The backend runs with LC_NUMERIC=C, so printf/strtod use '.'.)
 *
 * Every recursive walk here stops at MF_JSON_MAX_DEPTH levels and then
 * fails (returns NULL) instead of risking the stack.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

/* Growable output buffer on jansson's allocator. */
typedef struct JsonBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		failed;
} JsonBuf;

static bool CanonWrite(JsonBuf *b, const json_t *v, int depth);

/* Allocate with jansson's allocator. */
static void *
MfAlloc(size_t n)
{
	json_malloc_t m;
	json_free_t f;

	json_get_alloc_funcs(&m, &f);
	return m(n);
}

/* Free memory from MfAlloc / MfStrdup / mf_json_canonical. */
void
MfFree(void *p)
{
	json_malloc_t m;
	json_free_t f;

	if (p == NULL)
		return;
	json_get_alloc_funcs(&m, &f);
	f(p);
}

/* Copy a C string with jansson's allocator; NULL on failure. */
char *
MfStrdup(const char *s)
{
	size_t		n = strlen(s) + 1;
	char	   *p = MfAlloc(n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

/* Append n bytes to the buffer, growing it geometrically. */
static void
BufAppend(JsonBuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;
		char	   *p;

		while (cap < b->len + n + 1)
		{
			if (cap > ((size_t) 1 << 40))
			{
				b->failed = true;
				return;
			}
			cap *= 2;
		}
		p = MfAlloc(cap);
		if (p == NULL)
		{
			b->failed = true;
			return;
		}
		if (b->data != NULL)
		{
			memcpy(p, b->data, b->len);
			MfFree(b->data);
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* Append a NUL-terminated string. */
static void
BufPuts(JsonBuf *b, const char *s)
{
	BufAppend(b, s, strlen(s));
}

/* Remove '+' and leading zeros from the exponent of a %g number, in place. */
static void
CleanExponent(char *buf)
{
	char	   *e = strchr(buf, 'e');
	char	   *src;
	char	   *dst;

	if (e == NULL)
		return;
	dst = e + 1;
	src = e + 1;
	if (*src == '+')
		src++;
	else if (*src == '-')
		*dst++ = *src++;
	while (*src == '0' && src[1] != '\0')
		src++;
	memmove(dst, src, strlen(src) + 1);
}

/* Shortest round-trip text of a finite double (see the file header). */
int
MfFormatReal(double v, char *buf, size_t len)
{
	int			prec;

	if (!isfinite(v) || len < 32)
		return -1;
	for (prec = 15; prec <= 17; prec++)
	{
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	CleanExponent(buf);
	if (strpbrk(buf, ".e") == NULL)
		strcat(buf, ".0");
	return (int) strlen(buf);
}

/* Write a JSON string literal with the minimal escapes. */
static void
CanonString(JsonBuf *b, const char *s, size_t n)
{
	size_t		i;
	size_t		start = 0;
	char		esc[8];

	BufPuts(b, "\"");
	for (i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];
		const char *rep = NULL;

		if (c == '"')
			rep = "\\\"";
		else if (c == '\\')
			rep = "\\\\";
		else if (c == '\n')
			rep = "\\n";
		else if (c == '\r')
			rep = "\\r";
		else if (c == '\t')
			rep = "\\t";
		else if (c == '\b')
			rep = "\\b";
		else if (c == '\f')
			rep = "\\f";
		else if (c < 0x20)
		{
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			rep = esc;
		}
		if (rep != NULL)
		{
			BufAppend(b, s + start, i - start);
			BufPuts(b, rep);
			start = i + 1;
		}
	}
	BufAppend(b, s + start, n - start);
	BufPuts(b, "\"");
}

/* qsort comparator for object keys. */
static int
KeyCompare(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Write an object with its keys sorted. */
static bool
CanonObject(JsonBuf *b, const json_t *v, int depth)
{
	size_t		n = json_object_size(v);
	const char **keys;
	const char *key;
	json_t	   *val;
	size_t		i = 0;
	bool		ok = true;

	if (n == 0)
	{
		BufPuts(b, "{}");
		return true;
	}
	keys = MfAlloc(n * sizeof(char *));
	if (keys == NULL)
		return false;
	json_object_foreach((json_t *) v, key, val)
	{
		if (i < n)
			keys[i++] = key;
	}
	qsort(keys, i, sizeof(char *), KeyCompare);
	BufPuts(b, "{");
	for (n = 0; n < i && ok; n++)
	{
		if (n > 0)
			BufPuts(b, ",");
		CanonString(b, keys[n], strlen(keys[n]));
		BufPuts(b, ":");
		ok = CanonWrite(b, json_object_get(v, keys[n]), depth + 1);
	}
	BufPuts(b, "}");
	MfFree(keys);
	return ok;
}

/* Write any value; false when too deep or not representable. */
static bool
CanonWrite(JsonBuf *b, const json_t *v, int depth)
{
	char		num[64];
	size_t		i;

	if (depth > MF_JSON_MAX_DEPTH || v == NULL)
		return false;
	switch (json_typeof(v))
	{
		case JSON_OBJECT:
			return CanonObject(b, v, depth);
		case JSON_ARRAY:
			BufPuts(b, "[");
			for (i = 0; i < json_array_size(v); i++)
			{
				if (i > 0)
					BufPuts(b, ",");
				if (!CanonWrite(b, json_array_get(v, i), depth + 1))
					return false;
			}
			BufPuts(b, "]");
			return true;
		case JSON_STRING:
			CanonString(b, json_string_value(v), json_string_length(v));
			return true;
		case JSON_INTEGER:
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			BufPuts(b, num);
			return true;
		case JSON_REAL:
			if (MfFormatReal(json_real_value(v), num, sizeof(num)) < 0)
				return false;
			BufPuts(b, num);
			return true;
		case JSON_TRUE:
			BufPuts(b, "true");
			return true;
		case JSON_FALSE:
			BufPuts(b, "false");
			return true;
		case JSON_NULL:
			BufPuts(b, "null");
			return true;
	}
	return false;
}

/* Canonical JSON text (see file header); NULL on failure. */
char *
mf_json_canonical(const json_t *value)
{
	JsonBuf		b = {NULL, 0, 0, false};

	if (!CanonWrite(&b, value, 0) || b.failed)
	{
		MfFree(b.data);
		return NULL;
	}
	return b.data;
}

/* Deep copy with a depth limit; NULL when too deep or out of memory. */
json_t *
MfJsonCopy(const json_t *value, int depth)
{
	json_t	   *out;
	const char *key;
	json_t	   *val;
	size_t		i;

	if (value == NULL || depth > MF_JSON_MAX_DEPTH)
		return NULL;
	if (json_is_object(value))
	{
		out = mf_json_object_new();
		json_object_foreach((json_t *) value, key, val)
		{
			if (out == NULL ||
				json_object_set_new(out, key, MfJsonCopy(val, depth + 1)) != 0)
			{
				json_decref(out);
				return NULL;
			}
		}
		return out;
	}
	if (json_is_array(value))
	{
		out = json_array();
		for (i = 0; out != NULL && i < json_array_size(value); i++)
		{
			if (json_array_append_new(out, MfJsonCopy(json_array_get(value, i), depth + 1)) != 0)
			{
				json_decref(out);
				return NULL;
			}
		}
		return out;
	}
	return json_copy((json_t *) value);
}

/* True when 'value' nests deeper than MF_JSON_MAX_DEPTH (from 'depth'). */
bool
MfJsonTooDeep(const json_t *value, int depth)
{
	const char *key;
	json_t	   *val;
	size_t		i;

	if (depth > MF_JSON_MAX_DEPTH)
		return true;
	if (json_is_object(value))
	{
		json_object_foreach((json_t *) value, key, val)
		{
			if (MfJsonTooDeep(val, depth + 1))
				return true;
		}
	}
	else if (json_is_array(value))
	{
		for (i = 0; i < json_array_size(value); i++)
			if (MfJsonTooDeep(json_array_get(value, i), depth + 1))
				return true;
	}
	return false;
}

/* RFC 7386 MergePatch(target, patch) at a given depth. */
static json_t *
MergePatch(const json_t *target, const json_t *patch, int depth)
{
	json_t	   *out;
	const char *key;
	json_t	   *val;

	if (depth > MF_JSON_MAX_DEPTH)
		return NULL;
	if (!json_is_object(patch))
		return MfJsonCopy(patch, depth);
	out = json_is_object(target) ? MfJsonCopy(target, depth) : mf_json_object_new();
	if (out == NULL)
		return NULL;
	json_object_foreach((json_t *) patch, key, val)
	{
		if (json_is_null(val))
			json_object_del(out, key);
		else if (json_object_set_new(out, key,
									 MergePatch(json_object_get(out, key), val, depth + 1)) != 0)
		{
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* RFC 7386 JSON merge patch; a new value, or NULL on failure. */
json_t *
mf_json_merge_patch(const json_t *target, const json_t *patch)
{
	if (patch == NULL)
		return NULL;
	return MergePatch(target, patch, 0);
}

/* ASCII lower case of one byte. */
static int
LowerByte(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/*
 * Optimal-string-alignment distance (Levenshtein plus adjacent
 * transpositions), ASCII case-insensitive; strings longer than 64 bytes
 * get 1000, so they are never "close" to anything.
 */
int
MfEditDistance(const char *a, const char *b)
{
	int			d[65][65];
	size_t		la = strlen(a);
	size_t		lb = strlen(b);
	size_t		i;
	size_t		j;

	if (la > 64 || lb > 64)
		return 1000;
	for (i = 0; i <= la; i++)
		d[i][0] = (int) i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (int) j;
	for (i = 1; i <= la; i++)
	{
		for (j = 1; j <= lb; j++)
		{
			int			cost = LowerByte((unsigned char) a[i - 1]) != LowerByte((unsigned char) b[j - 1]);
			int			best = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < best)
				best = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 &&
				LowerByte((unsigned char) a[i - 1]) == LowerByte((unsigned char) b[j - 2]) &&
				LowerByte((unsigned char) a[i - 2]) == LowerByte((unsigned char) b[j - 1]) &&
				d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/*
 * The closest candidate (NULL-terminated list) within distance 2 and
 * shorter than the word itself, first one on ties; NULL if none.
 */
const char *
MfSuggest(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	int			best_d = 3;
	int			limit = (int) strlen(word);
	int			i;

	for (i = 0; candidates != NULL && candidates[i] != NULL; i++)
	{
		int			dist = MfEditDistance(word, candidates[i]);

		if (dist < best_d && dist < limit)
		{
			best = candidates[i];
			best_d = dist;
		}
	}
	return best;
}
