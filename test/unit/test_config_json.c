/*
 * test_config_json.c - unit tests of mf_json_canonical, mf_json_merge_patch
 * (the RFC 7386 appendix A examples) and the "did you mean" helper.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "mf_test.h"

/* Canonical text of JSON text (caller frees). */
static char *
Canon(const char *text)
{
	json_t	   *j = json_loads(text, JSON_DECODE_ANY, NULL);
	char	   *c = j ? mf_json_canonical(j) : NULL;

	json_decref(j);
	return c;
}

/* Canonical text of one real. */
static void
ExpectReal(double v, const char *expected)
{
	json_t	   *j = json_real(v);
	char	   *c = mf_json_canonical(j);
	char		name[64];

	snprintf(name, sizeof(name), "canonical real %s", expected);
	MF_STR_EQ(c, expected, name);
	free(c);
	json_decref(j);
}

/* Canonical text checks. */
static void
TestCanonical(void)
{
	char	   *c;
	json_t	   *deep;
	json_t	   *cur;
	int			i;

	ExpectReal(0.1, "0.1");
	ExpectReal(1e-5, "1e-5");
	ExpectReal(1e300, "1e300");
	ExpectReal(3.0, "3.0");
	ExpectReal(-0.0, "-0.0");
	ExpectReal(1.0 / 3.0, "0.3333333333333333");
	ExpectReal(2e-5, "2e-5");
	ExpectReal(123456789012345680000.0, "1.2345678901234568e20");
	ExpectReal(0.30000000000000004, "0.30000000000000004");
	c = Canon("{\"b\": 1, \"a\": {\"d\": [1, 2.5, true, null], \"c\": \"x\"}}");
	MF_STR_EQ(c, "{\"a\":{\"c\":\"x\",\"d\":[1,2.5,true,null]},\"b\":1}", "keys sorted, no whitespace");
	free(c);
	c = Canon("[\"q\\\"b\\\\s\\n\\u0001\\u00e9/\"]");
	MF_STR_EQ(c, "[\"q\\\"b\\\\s\\n\\u0001\u00e9/\"]", "string escapes");
	free(c);
	c = Canon("{\"\": -42, \"B\": {}, \"a\": []}");
	MF_STR_EQ(c, "{\"\":-42,\"B\":{},\"a\":[]}", "byte order of keys, empty containers");
	free(c);
	deep = json_array();
	cur = deep;
	for (i = 0; i < 80; i++)
	{
		json_t	   *next = json_array();

		json_array_append_new(cur, next);
		cur = next;
	}
	c = mf_json_canonical(deep);
	MF_OK(c == NULL, "too deep for canonical text");
	free(c);
	json_decref(deep);
}

/* One RFC 7386 example: target + patch = result. */
static void
ExpectPatch(const char *target, const char *patch, const char *result)
{
	json_t	   *t = json_loads(target, JSON_DECODE_ANY, NULL);
	json_t	   *p = json_loads(patch, JSON_DECODE_ANY, NULL);
	char	   *before = mf_json_canonical(t);
	json_t	   *r = mf_json_merge_patch(t, p);
	char	   *c = r ? mf_json_canonical(r) : NULL;
	char	   *after = mf_json_canonical(t);
	char	   *want = Canon(result);
	char		name[200];

	snprintf(name, sizeof(name), "merge %s with %s", target, patch);
	MF_STR_EQ(c, want, name);
	MF_STR_EQ(after, before, "target untouched");
	free(c);
	free(want);
	free(before);
	free(after);
	json_decref(r);
	json_decref(t);
	json_decref(p);
}

/* RFC 7386 appendix A. */
static void
TestMergePatch(void)
{
	ExpectPatch("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
	ExpectPatch("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
	ExpectPatch("{\"a\":\"b\"}", "{\"a\":null}", "{}");
	ExpectPatch("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
	ExpectPatch("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
	ExpectPatch("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
	ExpectPatch("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}");
	ExpectPatch("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
	ExpectPatch("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
	ExpectPatch("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
	ExpectPatch("{\"a\":\"foo\"}", "null", "null");
	ExpectPatch("{\"a\":\"foo\"}", "\"bar\"", "\"bar\"");
	ExpectPatch("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
	ExpectPatch("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
	ExpectPatch("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
	MF_OK(mf_json_merge_patch(NULL, NULL) == NULL, "NULL patch gives NULL");
}

/* Edit distance and suggestions. */
static void
TestSuggest(void)
{
	static const char *const keys[] = {"dropout", "d_model", "num_heads", NULL};
	static const char *const fams[] = {"linear_regression", "mlp", "kmeans", NULL};

	MF_OK(MfEditDistance("dropuot", "dropout") == 1, "transposition costs 1");
	MF_OK(MfEditDistance("kitten", "sitting") == 3, "kitten/sitting = 3");
	MF_OK(MfEditDistance("", "abc") == 3, "empty string distance");
	MF_STR_EQ(MfSuggest("dropuot", keys), "dropout", "suggest dropout");
	MF_STR_EQ(MfSuggest("num_head", keys), "num_heads", "suggest num_heads");
	MF_STR_EQ(MfSuggest("mpl", fams), "mlp", "suggest mlp");
	MF_OK(MfSuggest("zzzzzz", keys) == NULL, "no suggestion when far");
	MF_OK(MfSuggest("x", fams) == NULL, "no suggestion for one letter");
}

/* Run all tests. */
int
main(void)
{
	TestCanonical();
	TestMergePatch();
	TestSuggest();
	return mf_test_done();
}
