/*
 * test_yaml.c - unit tests of mf_yaml_parse: core-schema typing, errors,
 * limits, and a deterministic mutation run that must never crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_config.h"
#include "mf_test.h"

/* YAML text to canonical JSON (caller frees), or NULL with err filled. */
static char *
YamlCanon(const char *text, char *err, size_t errlen)
{
	json_t	   *j = mf_yaml_parse(text, strlen(text), err, errlen);
	char	   *c = j ? mf_json_canonical(j) : NULL;

	json_decref(j);
	return c;
}

/* YAML parses to exactly this canonical JSON. */
static void
ExpectYaml(const char *name, const char *text, const char *expected)
{
	char		err[256] = "";
	char	   *c = YamlCanon(text, err, sizeof(err));

	MF_STR_EQ(c, expected, name);
	if (c == NULL)
		MF_DIAG("  error: %s", err);
	free(c);
}

/* YAML fails with exactly this message. */
static void
ExpectYamlError(const char *name, const char *text, const char *expected)
{
	char		err[256] = "";
	char	   *c = YamlCanon(text, err, sizeof(err));

	MF_OK(c == NULL, name);
	MF_STR_EQ(err, expected, name);
	free(c);
}

/* Core-schema typing of plain and quoted scalars. */
static void
TestTyping(void)
{
	ExpectYaml("core schema scalars",
			   "a: 1\nb: 0x1F\nc: 0o17\nd: 1.5\ne: .5\nf: 1e3\ng: true\nh: True\ni: FALSE\n"
			   "j: ~\nk: null\nl:\nm: '1'\nn: \"true\"\no: yes\np: 1_000\nq: -7\nr: +3\n"
			   "s: hello world\nt: [1, two, 3.0]\nu: {x: 1}\nv: !!str 12\nw: !!float 3\n"
			   "x: 2e-5\ny: \"\"\nz: NULL\n",
			   "{\"a\":1,\"b\":31,\"c\":15,\"d\":1.5,\"e\":0.5,\"f\":1000.0,\"g\":true,\"h\":true,"
			   "\"i\":false,\"j\":null,\"k\":null,\"l\":null,\"m\":\"1\",\"n\":\"true\",\"o\":\"yes\","
			   "\"p\":\"1_000\",\"q\":-7,\"r\":3,\"s\":\"hello world\",\"t\":[1,\"two\",3.0],"
			   "\"u\":{\"x\":1},\"v\":\"12\",\"w\":3.0,\"x\":2e-5,\"y\":\"\",\"z\":null}");
	ExpectYaml("numeric-looking keys stay text", "1: a\ntrue: b\n", "{\"1\":\"a\",\"true\":\"b\"}");
	ExpectYaml("top-level sequence", "- 1\n- [2, {a: b}]\n", "[1,[2,{\"a\":\"b\"}]]");
	ExpectYaml("explicit empty document is null", "---\n", "null");
	ExpectYaml("anchor without alias is harmless", "a: &x 1\n", "{\"a\":1}");
	ExpectYaml("block scalar is a string", "a: |\n  line1\n  line2\n", "{\"a\":\"line1\\nline2\\n\"}");
	ExpectYaml("int64 limits", "a: 9223372036854775807\nb: -9223372036854775808\n",
			   "{\"a\":9223372036854775807,\"b\":-9223372036854775808}");
}

/* Error messages name line and column. */
static void
TestErrors(void)
{
	char	   *big;
	char		err[256];
	json_t	   *j;
	char		deep[512];
	int			i;

	ExpectYamlError("mapping value in wrong place", "a: b: c\n",
					"yaml error at line 1, column 5: mapping values are not allowed in this context");
	ExpectYamlError("duplicate key", "a: 1\nb: 2\na: 3\n",
					"yaml error at line 3, column 1: duplicate key \"a\"");
	ExpectYamlError("alias", "a: &x 1\nb: *x\n",
					"yaml error at line 2, column 4: aliases (*name) are not supported; write the value out");
	ExpectYamlError("two documents", "a: 1\n---\nb: 2\n",
					"yaml error at line 2, column 1: multiple documents are not supported");
	ExpectYamlError(".inf", "a: .inf\n",
					"yaml error at line 1, column 4: .inf is not allowed: json cannot hold infinity or nan");
	ExpectYamlError(".nan", "a: [1, .NaN]\n",
					"yaml error at line 1, column 8: .NaN is not allowed: json cannot hold infinity or nan");
	ExpectYamlError("float overflow", "a: 1e999\n",
					"yaml error at line 1, column 4: number 1e999 is out of range");
	ExpectYamlError("integer overflow", "a: 99999999999999999999\n",
					"yaml error at line 1, column 4: integer 99999999999999999999 is out of range");
	ExpectYamlError("complex key", "? [a]\n: 1\n",
					"yaml error at line 1, column 3: mapping keys must be scalars");
	ExpectYamlError("unknown tag", "a: !foo x\n", "yaml error at line 1, column 4: unsupported tag !foo");
	ExpectYamlError("tag mismatch", "a: !!int abc\n",
					"yaml error at line 1, column 4: value does not match tag !!int");
	ExpectYamlError("empty stream", "# only a comment\n", "yaml document is empty");
	ExpectYamlError("unclosed flow mapping", "{a: 1\n",
					"yaml error at line 2, column 1: did not find expected ',' or '}' "
					"(while parsing a flow mapping)");
	ExpectYamlError("tab indentation", "a:\n\tb: 1\n",
					"yaml error at line 2, column 1: found character that cannot start any token "
					"(while scanning for the next token)");

	/* billion laughs is refused at the first alias */
	{
		const char *laughs = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n";

		j = mf_yaml_parse(laughs, strlen(laughs), err, sizeof(err));
	}
	MF_OK(j == NULL && strstr(err, "aliases") != NULL, "billion laughs refused");

	for (i = 0; i < 100; i++)
		deep[i] = '[';
	deep[100] = '\0';
	j = mf_yaml_parse(deep, strlen(deep), err, sizeof(err));
	MF_OK(j == NULL && strstr(err, "nesting is deeper than 64 levels") != NULL, "deep nesting refused");

	big = malloc((size_t) 9 * 1024 * 1024);
	if (big != NULL)
	{
		memset(big, 'a', (size_t) 9 * 1024 * 1024);
		j = mf_yaml_parse(big, (size_t) 9 * 1024 * 1024, err, sizeof(err));
		MF_OK(j == NULL && strstr(err, "too large") != NULL, "9 MiB document refused");
		free(big);
	}
	j = mf_yaml_parse("a: 1\0b", 6, err, sizeof(err));
	MF_OK(j == NULL && strstr(err, "yaml error") != NULL, "NUL byte refused");
	j = mf_yaml_parse("a: b: c", 7, NULL, 0);
	MF_OK(j == NULL, "NULL error buffer is fine");
}

/* Mutated documents never crash (run under valgrind). */
static void
TestMutations(void)
{
	const char *seed =
		"model:\n  model_type: encoder_decoder\n  name: translator\n"
		"  global_config: {dropout: 0.1, batch_size: 32, d_ff: 4, device: cpu}\n"
		"  encoder: {d_model: 512, num_layers: 6, num_heads: 8, attention_type: linear}\n"
		"  decoder: [1, 'x', \"y\", &a z, !!str 3, {k: [v]}]\n";
	const char	alphabet[] = "{}[]:,-?&*!|>'\"#%@` \n\t0.ex~";
	char		buf[512];
	char		err[256];
	size_t		n = strlen(seed);
	unsigned	state = 12345;
	int			iter;
	int			parsed = 0;

	for (iter = 0; iter < 3000; iter++)
	{
		int			k;
		json_t	   *j;
		json_t	   *problems;
		json_t	   *out;

		memcpy(buf, seed, n + 1);
		for (k = 0; k < 1 + iter % 4; k++)
		{
			state = state * 1103515245u + 12345u;
			buf[(state >> 8) % n] = alphabet[(state >> 20) % (sizeof(alphabet) - 1)];
		}
		j = mf_yaml_parse(buf, n, err, sizeof(err));
		if (j == NULL)
			continue;
		parsed++;
		problems = json_array();
		out = mf_config_normalize(j, problems);
		json_decref(out);
		json_decref(problems);
		json_decref(j);
	}
	MF_OK(parsed > 0, "mutation run finished without a crash");
}

/* Run all tests. */
int
main(void)
{
	TestTyping();
	TestErrors();
	TestMutations();
	return mf_test_done();
}
