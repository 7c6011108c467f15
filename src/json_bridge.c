/*
 * json_bridge.c - moving JSON between PostgreSQL's jsonb and jansson.
 *
 * Values cross as text: jsonb's output is parsed by jansson, and jansson
 * values are written in canonical form (mf_json_canonical) and read back by
 * jsonb_in.  Configs are small, so clarity beats a tree walk here.
 */
#include "postgres.h"

#include "mf_core.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

#include "mf_config.h"

/* Parse a jsonb value into a jansson value; 'what' names it in errors. */
json_t *
MfJsonbToJansson(Jsonb *jb, const char *what)
{
	char	   *text;
	json_t	   *value;
	json_error_t jerr;

	text = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	value = json_loads(text, JSON_DECODE_ANY, &jerr);
	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s cannot be read as JSON", what),
				 errdetail("%s (at position %d)", jerr.text, jerr.position),
				 errhint("Numbers must fit a 64-bit integer or a double.")));
	pfree(text);
	return value;
}

/* Canonical text of a jansson value, palloc'd; out-of-memory raises. */
static char *
MfCanonicalText(const json_t *value)
{
	char	   *text = mf_json_canonical(value);

	if (text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory while writing JSON")));
	return text;
}

/* A jansson value as jsonb. */
Jsonb *
MfJanssonToJsonb(const json_t *value)
{
	char	   *text = MfCanonicalText(value);

	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/* A jansson value as canonical JSON text. */
text *
MfJanssonToText(const json_t *value)
{
	return cstring_to_text(MfCanonicalText(value));
}
