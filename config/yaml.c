/*
 * yaml.c - mf_yaml_parse: YAML text to JSON.
 *
 * Design: libyaml's event parser drives an explicit stack of open
 * containers (no recursion), at most MF_JSON_MAX_DEPTH deep.  Each new
 * container is attached to its parent at once, so freeing the root frees
 * everything on every error path; the parser and each event are always
 * deleted.
 *
 * Typing follows the YAML 1.2 core schema for plain (unquoted) scalars:
 *   null   "", ~, null, Null, NULL
 *   bool   true, True, TRUE, false, False, FALSE
 *   int    [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+ (out of int64 range: error)
 *   float  [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)?
 *          .inf / .nan and overflowing floats: error (JSON has no such values)
 *   string everything else; quoted scalars are always strings.
 * Explicit core tags (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq)
 * are honoured; other tags are errors.  Refused: aliases (no "billion
 * laughs"; anchors alone are harmless and ignored), duplicate mapping keys,
 * non-scalar keys, more than one document, documents over 8 MiB.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config_int.h"

#define YAML_MAX_BYTES ((size_t) 8 * 1024 * 1024)
#define TAG_PREFIX "tag:yaml.org,2002:"

/* One open container; key is the pending mapping key (NULL: expect a key). */
typedef struct YamlFrame
{
	json_t	   *node;
	json_t	   *key;
} YamlFrame;

/* Parse state. */
typedef struct YamlState
{
	YamlFrame	stack[MF_JSON_MAX_DEPTH + 1];
	int			depth;
	json_t	   *root;
	int			documents;
	bool		done;
	char	   *err;
	size_t		errlen;
} YamlState;

static bool YamlError(YamlState *st, yaml_mark_t mark, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* Write "yaml error at line L, column C: <message>" into the state. */
static bool
YamlError(YamlState *st, yaml_mark_t mark, const char *fmt,...)
{
	char		msg[512];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st->err != NULL && st->errlen > 0)
		snprintf(st->err, st->errlen, "yaml error at line %zu, column %zu: %s",
				 (size_t) mark.line + 1, (size_t) mark.column + 1, msg);
	return false;
}

/* The libyaml error of a failed yaml_parser_parse. */
static void
ParserError(YamlState *st, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "invalid yaml";

	if (st->err == NULL || st->errlen == 0)
		return;
	if (p->error == YAML_MEMORY_ERROR)
		snprintf(st->err, st->errlen, "yaml error: out of memory");
	else if (p->error == YAML_READER_ERROR)
		snprintf(st->err, st->errlen, "yaml error at byte %zu: %s",
				 (size_t) p->problem_offset, problem);
	else if (p->context != NULL)
		YamlError(st, p->problem_mark, "%s (%s)", problem, p->context);
	else
		YamlError(st, p->problem_mark, "%s", problem);
}

/* True when s (length n) is made only of chars from set, and n > 0. */
static bool
AllOf(const char *s, size_t n, const char *set)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(set, s[i]) == NULL)
			return false;
	return n > 0;
}

/* True when s is one of the NULL-terminated words. */
static bool
IsWord(const char *s, const char *const *words)
{
	int			i;

	for (i = 0; words[i] != NULL; i++)
		if (strcmp(s, words[i]) == 0)
			return true;
	return false;
}

/* Core-schema float syntax (not .inf/.nan). */
static bool
IsFloatSyntax(const char *s)
{
	size_t		ip;
	size_t		fp = 0;

	if (*s == '+' || *s == '-')
		s++;
	ip = strspn(s, "0123456789");
	s += ip;
	if (*s == '.')
	{
		s++;
		fp = strspn(s, "0123456789");
		s += fp;
	}
	if (ip == 0 && fp == 0)
		return false;
	if (*s == 'e' || *s == 'E')
	{
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (strspn(s, "0123456789") == 0)
			return false;
		s += strspn(s, "0123456789");
	}
	return *s == '\0';
}

/* An integer scalar (decimal, 0o, 0x) or NULL with *range set on overflow. */
static json_t *
ParseInt(const char *s, size_t n, bool *range)
{
	const char *digits = s;
	int			base = 10;
	long long	v;
	char	   *end;

	*range = false;
	if (n > 2 && s[0] == '0' && s[1] == 'o' && AllOf(s + 2, n - 2, "01234567"))
	{
		digits = s + 2;
		base = 8;
	}
	else if (n > 2 && s[0] == '0' && s[1] == 'x' && AllOf(s + 2, n - 2, "0123456789abcdefABCDEF"))
	{
		digits = s + 2;
		base = 16;
	}
	else if (!AllOf((s[0] == '-' || s[0] == '+') ? s + 1 : s,
					(s[0] == '-' || s[0] == '+') ? n - 1 : n, "0123456789"))
		return NULL;
	errno = 0;
	v = strtoll(digits, &end, base);
	if (errno == ERANGE)
	{
		*range = true;
		return NULL;
	}
	return json_integer((json_int_t) v);
}

static const char *const NullWords[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const TrueWords[] = {"true", "True", "TRUE", NULL};
static const char *const FalseWords[] = {"false", "False", "FALSE", NULL};
static const char *const InfWords[] = {
	".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
	".nan", ".NaN", ".NAN", NULL
};

/*
 * Resolve a plain scalar by the core schema.  Returns the value, or NULL
 * with an error written (then *failed is set).
 */
static json_t *
ResolvePlain(YamlState *st, const yaml_event_t *ev, const char *s, size_t n, bool *failed)
{
	bool		range;
	json_t	   *v;
	double		d;

	*failed = false;
	if (IsWord(s, NullWords))
		return json_null();
	if (IsWord(s, TrueWords))
		return json_true();
	if (IsWord(s, FalseWords))
		return json_false();
	v = ParseInt(s, n, &range);
	if (v != NULL || range)
	{
		if (range)
		{
			*failed = true;
			YamlError(st, ev->start_mark, "integer %.40s is out of range", s);
		}
		return v;
	}
	if (IsWord(s, InfWords))
	{
		*failed = true;
		YamlError(st, ev->start_mark, "%s is not allowed: json cannot hold infinity or nan", s);
		return NULL;
	}
	if (IsFloatSyntax(s))
	{
		d = strtod(s, NULL);
		if (d == d && d - d == 0)
			return json_real(d);
		*failed = true;
		YamlError(st, ev->start_mark, "number %.40s is out of range", s);
		return NULL;
	}
	return json_stringn(s, n);
}

/* A scalar with an explicit core tag. */
static json_t *
ResolveTagged(YamlState *st, const yaml_event_t *ev, const char *tag,
			  const char *s, size_t n, bool *failed)
{
	json_t	   *v;

	*failed = false;
	if (strcmp(tag, "!") == 0 || strcmp(tag, TAG_PREFIX "str") == 0)
		return json_stringn(s, n);
	if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0)
	{
		*failed = true;
		YamlError(st, ev->start_mark, "unsupported tag %.60s", tag);
		return NULL;
	}
	v = ResolvePlain(st, ev, s, n, failed);
	if (*failed)
		return NULL;
	tag += strlen(TAG_PREFIX);
	if ((strcmp(tag, "int") == 0 && json_is_integer(v)) ||
		(strcmp(tag, "bool") == 0 && json_is_boolean(v)) ||
		(strcmp(tag, "null") == 0 && json_is_null(v)))
		return v;
	if (strcmp(tag, "float") == 0 && json_is_number(v))
	{
		double		d = json_number_value(v);

		json_decref(v);
		return json_real(d);
	}
	json_decref(v);
	*failed = true;
	YamlError(st, ev->start_mark, "value does not match tag !!%.40s", tag);
	return NULL;
}

/* Attach a new value (reference stolen) to the open container or the root. */
static bool
Attach(YamlState *st, const yaml_event_t *ev, json_t *value)
{
	YamlFrame  *top;

	if (value == NULL)
		return YamlError(st, ev->start_mark, "out of memory or invalid utf-8");
	if (st->depth == 0)
	{
		json_decref(st->root);
		st->root = value;
		return true;
	}
	top = &st->stack[st->depth - 1];
	if (json_is_array(top->node))
	{
		if (json_array_append_new(top->node, value) != 0)
			return YamlError(st, ev->start_mark, "out of memory");
		return true;
	}
	if (top->key == NULL)
	{
		json_decref(value);
		return YamlError(st, ev->start_mark, "mapping keys must be scalars");
	}
	if (json_object_set_new(top->node, json_string_value(top->key), value) != 0)
	{
		json_decref(top->key);
		top->key = NULL;
		return YamlError(st, ev->start_mark, "out of memory");
	}
	json_decref(top->key);
	top->key = NULL;
	return true;
}

/* A scalar that is a mapping key: raw text, unique, no NUL. */
static bool
MappingKey(YamlState *st, const yaml_event_t *ev)
{
	YamlFrame  *top = &st->stack[st->depth - 1];
	const char *s = (const char *) ev->data.scalar.value;
	size_t		n = ev->data.scalar.length;

	if (strlen(s) != n)
		return YamlError(st, ev->start_mark, "mapping keys must not contain nul characters");
	if (json_object_get(top->node, s) != NULL)
		return YamlError(st, ev->start_mark, "duplicate key \"%.60s\"", s);
	top->key = json_stringn(s, n);
	if (top->key == NULL)
		return YamlError(st, ev->start_mark, "out of memory or invalid utf-8");
	return true;
}

/* A scalar event: a key or a value. */
static bool
OnScalar(YamlState *st, const yaml_event_t *ev)
{
	const char *s = (const char *) ev->data.scalar.value;
	size_t		n = ev->data.scalar.length;
	const char *tag = (const char *) ev->data.scalar.tag;
	json_t	   *v;
	bool		failed;

	if (st->depth > 0 && json_is_object(st->stack[st->depth - 1].node) &&
		st->stack[st->depth - 1].key == NULL)
		return MappingKey(st, ev);
	if (tag != NULL)
		v = ResolveTagged(st, ev, tag, s, n, &failed);
	else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		v = ResolvePlain(st, ev, s, n, &failed);
	else
	{
		failed = false;
		v = json_stringn(s, n);
	}
	if (failed)
		return false;
	return Attach(st, ev, v);
}

/* A mapping or sequence start: check the tag, attach, push. */
static bool
OnOpen(YamlState *st, const yaml_event_t *ev, bool mapping)
{
	const char *tag = (const char *) (mapping ? ev->data.mapping_start.tag :
									  ev->data.sequence_start.tag);
	const char *want = mapping ? TAG_PREFIX "map" : TAG_PREFIX "seq";
	json_t	   *node;

	if (tag != NULL && strcmp(tag, "!") != 0 && strcmp(tag, want) != 0)
		return YamlError(st, ev->start_mark, "unsupported tag %.60s", tag);
	if (st->depth >= MF_JSON_MAX_DEPTH)
		return YamlError(st, ev->start_mark, "nesting is deeper than %d levels",
						 MF_JSON_MAX_DEPTH);
	node = mapping ? mf_json_object_new() : json_array();
	if (!Attach(st, ev, node))
		return false;
	st->stack[st->depth].node = node;
	st->stack[st->depth].key = NULL;
	st->depth++;
	return true;
}

/* Handle one event; false on error. */
static bool
OnEvent(YamlState *st, const yaml_event_t *ev)
{
	switch (ev->type)
	{
		case YAML_DOCUMENT_START_EVENT:
			if (++st->documents > 1)
				return YamlError(st, ev->start_mark, "multiple documents are not supported");
			return true;
		case YAML_ALIAS_EVENT:
			return YamlError(st, ev->start_mark,
							 "aliases (*name) are not supported; write the value out");
		case YAML_SCALAR_EVENT:
			return OnScalar(st, ev);
		case YAML_SEQUENCE_START_EVENT:
			return OnOpen(st, ev, false);
		case YAML_MAPPING_START_EVENT:
			return OnOpen(st, ev, true);
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (st->depth > 0)
				st->depth--;
			return true;
		case YAML_STREAM_END_EVENT:
			st->done = true;
			return true;
		default:
			return true;
	}
}

/* Release pending keys and the partial tree. */
static void
StateFree(YamlState *st)
{
	int			i;

	for (i = 0; i < MF_JSON_MAX_DEPTH + 1; i++)
	{
		json_decref(st->stack[i].key);
		st->stack[i].key = NULL;
	}
	json_decref(st->root);
	st->root = NULL;
}

/* Parse YAML text into JSON; NULL with a message in err on error. */
json_t *
mf_yaml_parse(const char *text, size_t len, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	YamlState	st;
	bool		ok = true;
	json_t	   *root;

	memset(&st, 0, sizeof(st));
	st.err = err;
	st.errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (text == NULL || len > YAML_MAX_BYTES)
	{
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "yaml document is too large (%zu bytes; at most %zu)",
					 len, YAML_MAX_BYTES);
		return NULL;
	}
	if (!yaml_parser_initialize(&parser))
	{
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "yaml error: out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
	while (ok && !st.done)
	{
		if (!yaml_parser_parse(&parser, &ev))
		{
			ParserError(&st, &parser);
			ok = false;
			break;
		}
		ok = OnEvent(&st, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (ok && st.documents == 0)
	{
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "yaml document is empty");
		ok = false;
	}
	if (!ok)
	{
		StateFree(&st);
		return NULL;
	}
	root = st.root;
	st.root = NULL;
	StateFree(&st);
	return root;
}
