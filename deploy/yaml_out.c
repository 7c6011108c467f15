/*
 * yaml_out.c - JSON trees written as YAML documents by libyaml's emitter.
 * Strings are plain only when every YAML reader (1.1 and 1.2 core schema)
 * reads them back as strings; otherwise double-quoted, which the emitter
 * escapes.  Numbers and booleans are plain.  Pure C.
 */
#include "manifest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

/* Output buffer of the emitter. */
typedef struct MfYamlBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		oom;
} MfYamlBuf;

/* libyaml write handler: append to the buffer. */
static int
MfYamlWrite(void *arg, unsigned char *buf, size_t size)
{
	MfYamlBuf  *b = arg;

	if (b->len + size + 1 > b->cap)
	{
		size_t		cap = (b->cap ? b->cap * 2 : 4096) + size;
		char	   *d = realloc(b->data, cap);

		if (d == NULL)
		{
			b->oom = true;
			return 0;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, buf, size);
	b->len += size;
	b->data[b->len] = '\0';
	return 1;
}

/* May s be written as a plain scalar and still read back as this string? */
static bool
MfPlainSafe(const char *s)
{
	static const char *const words[] = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", NULL};

	if (!isalpha((unsigned char) s[0]) && s[0] != '/')
		return false;
	for (const char *p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char) *p) && strchr("-_./@", *p) == NULL)
			return false;
	for (int i = 0; words[i] != NULL; i++)
		if (strcasecmp(s, words[i]) == 0)
			return false;
	return true;
}

/* Emit one scalar with the given style. */
static bool
MfYamlScalar(yaml_emitter_t *em, const char *text, yaml_scalar_style_t style)
{
	yaml_event_t ev;

	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *) text, (int) strlen(text), 1, 1, style))
		return false;
	return yaml_emitter_emit(em, &ev) != 0;
}

/* Emit a string scalar, plain when safe. */
static bool
MfYamlString(yaml_emitter_t *em, const char *s)
{
	return MfYamlScalar(em, s, MfPlainSafe(s) ? YAML_PLAIN_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

/* Emit a JSON value as a YAML node. */
static bool
MfYamlNode(yaml_emitter_t *em, const json_t *v)
{
	yaml_event_t ev;
	char		num[40];

	switch (json_typeof(v))
	{
		case JSON_OBJECT:
			{
				const char *key;
				json_t	   *child;

				if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) ||
					!yaml_emitter_emit(em, &ev))
					return false;
				json_object_foreach((json_t *) v, key, child)
				{
					if (!MfYamlString(em, key) || !MfYamlNode(em, child))
						return false;
				}
				return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev);
			}
		case JSON_ARRAY:
			{
				size_t		i;
				json_t	   *child;

				if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) ||
					!yaml_emitter_emit(em, &ev))
					return false;
				json_array_foreach((json_t *) v, i, child)
				{
					if (!MfYamlNode(em, child))
						return false;
				}
				return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev);
			}
		case JSON_STRING:
			return MfYamlString(em, json_string_value(v));
		case JSON_INTEGER:
			snprintf(num, sizeof(num), "%lld", (long long) json_integer_value(v));
			return MfYamlScalar(em, num, YAML_PLAIN_SCALAR_STYLE);
		case JSON_REAL:
			snprintf(num, sizeof(num), "%.17g", json_real_value(v));
			return MfYamlScalar(em, num, YAML_PLAIN_SCALAR_STYLE);
		case JSON_TRUE:
			return MfYamlScalar(em, "true", YAML_PLAIN_SCALAR_STYLE);
		case JSON_FALSE:
			return MfYamlScalar(em, "false", YAML_PLAIN_SCALAR_STYLE);
		case JSON_NULL:
			return MfYamlScalar(em, "null", YAML_PLAIN_SCALAR_STYLE);
	}
	return false;
}

/* Emit the stream: one explicit document per element of docs. */
static bool
MfYamlStream(yaml_emitter_t *em, const json_t *docs)
{
	yaml_event_t ev;
	size_t		i;
	json_t	   *doc;

	if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) || !yaml_emitter_emit(em, &ev))
		return false;
	json_array_foreach((json_t *) docs, i, doc)
	{
		if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0) || !yaml_emitter_emit(em, &ev) ||
			!MfYamlNode(em, doc) ||
			!yaml_document_end_event_initialize(&ev, 1) || !yaml_emitter_emit(em, &ev))
			return false;
	}
	return yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(em, &ev) && yaml_emitter_flush(em);
}

/* YAML of documents; malloc'd, or NULL with err. */
char *
mf_yaml_dump_documents(const json_t *docs, char *err, size_t errlen)
{
	yaml_emitter_t em;
	MfYamlBuf	b = {0};
	bool		ok;

	if (!json_is_array(docs) || !yaml_emitter_initialize(&em))
	{
		snprintf(err, errlen, "could not start the YAML emitter");
		return NULL;
	}
	yaml_emitter_set_output(&em, MfYamlWrite, &b);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	yaml_emitter_set_indent(&em, 2);
	ok = MfYamlStream(&em, docs);
	if (!ok)
		snprintf(err, errlen, "YAML emitter failed: %s", b.oom ? "out of memory" : (em.problem ? em.problem : "unknown error"));
	yaml_emitter_delete(&em);
	if (!ok)
	{
		free(b.data);
		return NULL;
	}
	return b.data;
}
