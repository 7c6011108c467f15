/*
 * test_serve_numbody.c - the numeric bodies read without a JSON tree
 * (numjson/ over simdjson, serve/numbody.c) against the JSON path
 * (jansson), which stays the judge of every body.
 *
 * 1. Numbers: for number texts (signed zeros, 1e308, overflow, underflow,
 *    subnormals, 17-digit and longer mantissas, integers above 2^53 and
 *    beyond int64, malformed tokens) and thousands of random ones, the
 *    shim gives exactly jansson's double (memcmp), and accepts nothing
 *    jansson refuses.
 * 2. Bodies: for hand-written malformed and odd bodies and for random
 *    mutations of valid ones, whatever the shim accepts jansson accepts,
 *    with the same values.
 * 3. Answers: two servers over the same catalog, one with the fast path
 *    and one without (no_fast_bodies), answer every body of 1 and 2 on
 *    every route with the same status and the same bytes.
 */
#include "model.h"
#include "numjson.h"
#include "serve_int.h"
#include "serve_fixtures.h"
#include "mf_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NUM_COLS 3

static const char *const num_cols[NUM_COLS] = {"a", "b", "c"};
static SfModel num_model;		/* three numeric/boolean columns: every column form */
static MfServe *fast_srv,
		   *json_srv;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static int	answers_compared,
			answers_differ,
			fast_accepted;

/* A 64-bit draw (xorshift64*). */
static uint64_t
draw(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

/* ------------------------------------------------------------ numbers */

/* jansson's double of a number text (as one value in a list); false when it refuses. */
static bool
jansson_number(const char *text, double *x)
{
	char		body[512];
	json_t	   *o,
			   *v;
	bool		ok;

	snprintf(body, sizeof(body), "{\"instances\": [[%s]]}", text);
	o = json_loadb(body, strlen(body), JSON_REJECT_DUPLICATES, NULL);
	v = json_array_get(json_array_get(json_object_get(o, "instances"), 0), 0);
	ok = json_is_number(v);
	if (ok)
		*x = json_number_value(v);
	json_decref(o);
	return ok;
}

/* The shim's double of a number text; false when it declines. */
static bool
shim_number(const char *text, double *x)
{
	char		body[512];
	MfNumBody	b;

	snprintf(body, sizeof(body), "{\"instances\": [[%s]]}", text);
	if (!mf_numjson_tf(body, strlen(body), NULL, 0, &b) || b.n != 1 || b.m != 1)
		return false;
	*x = b.x[0];
	return true;
}

/* One number text: same double as jansson, declined when jansson refuses; false on a mismatch. */
static bool
number_agrees(const char *text, bool must_accept)
{
	double		a = 0.0,
				b = 0.0;
	bool		ja = jansson_number(text, &a),
				sa = shim_number(text, &b);

	if ((sa && !ja) || (sa && memcmp(&a, &b, sizeof(double)) != 0) || (must_accept && ja && !sa))
	{
		MF_DIAG("  %s: jansson %s %.17g, shim %s %.17g", text, ja ? "reads" : "refuses", a,
				sa ? "reads" : "declines", b);
		return false;
	}
	return true;
}

/* Edge cases and random number texts. */
static void
test_numbers(void)
{
	static const char *const edge[] = {
		"0", "-0", "0.0", "-0.0", "-0e0", "1", "-1", "1e308", "-1e308", "1.7976931348623157e308",
		"1.7976931348623158e308", "1.7976931348623159e308", "4.9e-324", "5e-324", "2.4703282292062327e-324",
		"2.4703282292062328e-324", "2.2250738585072011e-308", "2.2250738585072014e-308", "1e-400", "-1e-400",
		"1e-320", "9007199254740992", "9007199254740993", "9007199254740995", "-9007199254740993",
		"9223372036854775807", "-9223372036854775808", "123456789012345678", "0.1", "0.3", "1E5", "1e+5",
		"1E-5", "2.5e-3", "-0.9861248761149654", "0.30000000000000004", "1.00000000000000011102230246251565",
		"1.2345678901234567890123456789", "3.141592653589793238462643383279502884197",
		"0.000000000000000000000000000000000000000000001", "100000000000000000000000000000000.0",
		"7.2057594037927933e16", "9.999999999999999e22", "1e23", "8.98846567431158e307",
		NULL
	};
	static const char *const refused[] = {
		"9223372036854775808", "-9223372036854775809", "18446744073709551616",
		"123456789012345678901234567890", "1e309", "-1e309", "1e400", "01", "-01", "00", "1.", ".5", "+1",
		"1e", "1e+", "--1", "0x10", "NaN", "Infinity", "-Infinity", "1.5.5", "1 2", "tru", "\"1\"", "null",
		"true", "1e5x", "-", "1,", "[1]", "{}", NULL
	};
	bool		ok = true;
	int			n = 0;
	char		text[128];

	for (int i = 0; edge[i]; i++)
		ok = number_agrees(edge[i], true) && ok;
	MF_OK(ok, "edge-case numbers: the shim reads jansson's double bit for bit");
	ok = true;
	for (int i = 0; refused[i]; i++)
	{
		double		x;

		ok = number_agrees(refused[i], false) && ok;
		ok = !shim_number(refused[i], &x) && ok;
	}
	MF_OK(ok, "numbers jansson refuses, and malformed tokens, are declined");
	ok = true;
	for (int i = 0; i < 20000; i++)
	{
		uint64_t	bits = draw();
		double		v;
		int			kind = (int) (draw() % 5);

		memcpy(&v, &bits, sizeof(v));
		if (!isfinite(v))
			continue;
		if (kind == 0)
			snprintf(text, sizeof(text), "%.17g", v);
		else if (kind == 1)
			snprintf(text, sizeof(text), "%.15e", v);
		else if (kind == 2)
			snprintf(text, sizeof(text), "%.*f", (int) (draw() % 20), (double) (int64_t) draw() / 1e6);
		else if (kind == 3)
			snprintf(text, sizeof(text), "%lld", (long long) (int64_t) draw() >> (draw() % 63));
		else
			snprintf(text, sizeof(text), "%llu.%llue%d", (unsigned long long) (draw() % 100000000000ull),
					 (unsigned long long) draw(), (int) (draw() % 640) - 320);
		ok = number_agrees(text, true) && ok;
		n++;
	}
	MF_OK(ok, "20,000 random number texts (17 and 15 digits, fixed, integers, 30-digit mantissas): same doubles");
	MF_DIAG("  %d random texts compared", n);
}

/* ------------------------------------------------------------ bodies */

/* Whatever the shim reads as a TF or OIP body, jansson reads too; false otherwise. */
static bool
body_agrees(const char *body, size_t len)
{
	MfNumBody	b;
	json_t	   *o;
	bool		tf = mf_numjson_tf(body, len, num_cols, NUM_COLS, &b);
	bool		oip = !tf && mf_numjson_oip(body, len, &b);

	if (!tf && !oip)
		return true;
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (o == NULL)
	{
		MF_DIAG("  accepted by the shim, refused by jansson: %.*s", (int) (len < 300 ? len : 300), body);
		return false;
	}
	json_decref(o);
	return true;
}

/* ------------------------------------------------------------ answers */

/* Send body to both servers at path; false when the answers differ. */
static bool
answers_agree(const char *path, const char *body, size_t len)
{
	MfServeRequest req = {0};
	MfServeResponse a,
				b;
	bool		same;
	MfNumBody	nb;

	req.method = "POST";
	req.path = path;
	req.body = body;
	req.body_len = len;
	req.client = "10.0.0.2";
	mf_serve_handle(fast_srv, &req, &a);
	mf_serve_handle(json_srv, &req, &b);
	same = a.status == b.status && a.body_len == b.body_len &&
		(a.body_len == 0 || memcmp(a.body, b.body, a.body_len) == 0);
	answers_compared++;
	if (a.status == 200 && (mf_numjson_tf(body, len, num_cols, NUM_COLS, &nb) || mf_numjson_oip(body, len, &nb)))
		fast_accepted++;
	if (!same)
	{
		answers_differ++;
		if (answers_differ <= 5)
			MF_DIAG("  %s %.*s\n#   fast %d %.*s\n#   json %d %.*s", path, (int) (len < 200 ? len : 200), body,
					a.status, (int) a.body_len, a.body ? a.body : "", b.status, (int) b.body_len,
					b.body ? b.body : "");
	}
	mf_serve_response_free(&a);
	mf_serve_response_free(&b);
	return same;
}

/* The routes every body is sent to: numeric and fixture models, TF and OIP. */
static const char *const routes[] = {
	"/v1/models/num:predict", "/v1/models/logit:predict", "/v1/models/lin:predict", "/v1/models/mlp:predict",
	"/v1/models/km:predict", "/v2/models/num/infer", "/v2/models/logit/infer", "/v2/models/lin/infer",
	"/v2/models/km/infer", "/v1/models/num:regress", NULL
};

/* Bodies: valid numeric forms and their near misses. */
static const char *const bodies[] = {
	/* TF rows of lists: ncols values (per column) and p features */
	"{\"instances\": [[1.5, 0, 2.25]]}",
	"{\"instances\": [[1.5, 1, -2.25], [0.1, 0, 3e2], [-0.0, 1, 1e-300]]}",
	"{\"instances\": [[0.5, 1, 0, 1, 0]]}",
	"{\"instances\": [[0.5, 1, 0, 1, 0], [-1.25, 0, 1, 0, 0]]}",
	"{\"instances\": [[0.5, 1, 0, 1]]}",
	"{\"instances\": [[1.5, 0.5, 2]]}",
	"{\"instances\": [[1.5, 2, 2]]}",
	"{\"instances\": [[1.5, 0, 2.25], [1, 2]]}",
	"{\"instances\": [[1.5, 0, 2.25], {\"a\": 1, \"b\": 0, \"c\": 2}]}",
	"{\"instances\": [[1.5, true, 2.25]]}",
	"{\"instances\": [[1.5, null, 2.25]]}",
	"{\"instances\": [[\"1.5\", 0, 2.25]]}",
	"{\"instances\": [[]]}",
	"{\"instances\": []}",
	"{\"instances\": [1.5, 2.5]}",
	"{\"instances\": [[1e400, 0, 1]]}",
	"{\"instances\": [[9223372036854775808, 0, 1]]}",
	"{\"instances\": [[12345678901234567890123, 0, 1]]}",
	"{\"instances\": [[9007199254740993, 1, -0]]}",
	"{\"instances\": [[NaN, 0, 1]]}",
	"{\"instances\": [[1, 0, 2]], \"signature_name\": \"serving_default\"}",
	"{\"signature_name\": \"\", \"instances\": [[1, 0, 2]]}",
	"{\"signature_name\": \"other\", \"instances\": [[1, 0, 2]]}",
	"{\"signature_name\": 1, \"instances\": [[1, 0, 2]]}",
	"{\"instances\": [[1, 0, 2]], \"instances\": [[1, 0, 2]]}",
	"{\"instances\": [[1, 0, 2]], \"inputs\": [[1, 0, 2]]}",
	"{\"instances\": [[1, 0, 2]], \"extra\": 1}",
	"{\"inst\\u0061nces\": [[1, 0, 2]]}",
	"{\"instances\": [[1, 0, 2]]} ",
	"\n\t {\"instances\" : [ [ 1 , 0 , 2 ] ] }\r\n",
	"{\"instances\": [[1, 0, 2]]} x",
	"{\"instances\": [[1, 0, 2]]}}",
	"{\"instances\": [[1, 0, 2]],}",
	"{\"instances\": [[1, 0, 2],]}",
	"{\"instances\": [[1, 0, 2 ]] ,}",
	"{\"instances\": [[1, 0 2]]}",
	"{\"instances\": [[1, 0, 2]]",
	"{\"instances\": [[1, 0, 2]]}{}",
	"\xef\xbb\xbf{\"instances\": [[1, 0, 2]]}",
	"{\"instances\": [[1, 0, 2]], \"x\": \"\xff\"}",
	"{\"instances\": [[1, 0,\f2]]}",
	"{\"instances\":\v[[1, 0, 2]]}",
	"[[1, 0, 2]]",
	"{}",
	"",
	/* TF objects of named columns */
	"{\"instances\": [{\"a\": 1.5, \"b\": 0, \"c\": 2.25}]}",
	"{\"instances\": [{\"c\": 2.25, \"a\": 1.5, \"b\": 1}, {\"b\": 0, \"c\": -1, \"a\": 1e-5}]}",
	"{\"instances\": [{\"a\": 1.5, \"b\": 0}]}",
	"{\"instances\": [{\"a\": 1.5, \"b\": 0, \"c\": 2.25, \"d\": 1}]}",
	"{\"instances\": [{\"a\": 1.5, \"b\": 0, \"a\": 2.25}]}",
	"{\"instances\": [{\"a\": 1.5, \"b\": 0, \"c\": null}]}",
	"{\"instances\": [{\"a\": 1.5, \"b\": false, \"c\": 2}]}",
	"{\"instances\": [{\"a\": 1.5, \"b\": 0, \"c\": \"2\"}]}",
	"{\"instances\": [{\"a\": 1.5, \"b\": 0, \"c\\u0000\": 2}]}",
	"{\"instances\": [{\"x\": 0.5, \"flag\": 1, \"colour\": \"red\"}]}",
	"{\"instances\": [{\"x\": 0.5, \"flag\": true, \"colour\": \"red\"}]}",
	"{\"instances\": [{\"a\": 1, \"b\": 0, \"c\": 2, \"b64\": \"AA==\"}]}",
	/* TF columnar */
	"{\"inputs\": {\"a\": [1.5, 2], \"b\": [0, 1], \"c\": [2.25, -3]}}",
	"{\"inputs\": {\"a\": [1.5], \"b\": [0], \"c\": [2.25, -3]}}",
	"{\"inputs\": {\"a\": [1.5], \"b\": [0]}}",
	"{\"inputs\": {\"a\": [1.5], \"b\": [0], \"c\": [2], \"d\": [1]}}",
	"{\"inputs\": {\"a\": [], \"b\": [], \"c\": []}}",
	"{\"inputs\": {\"a\": 1.5, \"b\": 0, \"c\": 2}}",
	"{\"inputs\": {}}",
	"{\"inputs\": [[1.5, 0, 2.25], [2, 1, 3]]}",
	"{\"inputs\": [[0.5, 1, 0, 1, 0]]}",
	"{\"inputs\": {\"x\": [0.5], \"flag\": [1], \"colour\": [\"red\"]}}",
	/* OIP one tensor */
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"FP64\", \"data\": [1.5, 0, 2.25]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [2, 3], \"datatype\": \"FP64\", \"data\": [[1.5, 0, 2.25], [1, 1, -1]]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [2, 3], \"datatype\": \"FP32\", \"data\": [0.1, 0, 2.25, 1, 1, -1.1]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"INT64\", \"data\": [1, 0, 2]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"INT64\", \"data\": [1.0, 0, 2]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"INT32\", \"data\": [1, 0, 2]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"FP16\", \"data\": [1, 0, 2]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 5], \"datatype\": \"FP64\", \"data\": [0.5, 1, 0, 1, 0]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"FP64\", \"data\": [1.5, 0]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [3], \"datatype\": \"FP64\", \"data\": [1.5, 0, 2]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 3, 1], \"datatype\": \"FP64\", \"data\": [1.5, 0, 2]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1.0, 3], \"datatype\": \"FP64\", \"data\": [1.5, 0, 2]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [-1, 3], \"datatype\": \"FP64\", \"data\": [1.5, 0, 2]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [0, 3], \"datatype\": \"FP64\", \"data\": []}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"FP64\", \"data\": [[[1.5, 0, 2]]]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"FP64\", \"data\": [1.5, null, 2]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"FP64\", \"data\": [1.5, 0, 2]}], \"id\": \"r-1\"}",
	"{\"id\": \"r\\\"2\", \"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"FP64\", \"data\": [1, 0, 2]}]}",
	"{\"id\": 7, \"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"FP64\", \"data\": [1, 0, 2]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"FP64\", \"data\": [1, 0, 2]}], \"outputs\": [{\"name\": \"predict\"}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"FP64\", \"data\": [1, 0, 2]}], \"parameters\": {}}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"FP64\", \"data\": [1, 0, 2], \"parameters\": {}}]}",
	"{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 3], \"datatype\": \"FP64\", \"data\": [1, 0, 2]}, "
	"{\"name\": \"y\", \"shape\": [1, 3], \"datatype\": \"FP64\", \"data\": [1, 0, 2]}]}",
	"{\"inputs\": [{\"name\": \"a\", \"shape\": [1], \"datatype\": \"FP64\", \"data\": [1]}]}",
	"{\"inputs\": [{\"name\": \"x\", \"name\": \"y\", \"shape\": [1, 3], \"datatype\": \"FP64\", \"data\": [1, 0, 2]}]}",
	"{\"inputs\": [{\"shape\": [1, 3], \"datatype\": \"FP64\", \"data\": [1, 0, 2]}]}",
	"{\"inputs\": []}",
	NULL
};

/* Every body on every route, answered alike by both servers. */
static void
test_answers(void)
{
	bool		ok = true,
				agree = true;

	for (int i = 0; bodies[i]; i++)
	{
		size_t		len = strlen(bodies[i]);

		agree = body_agrees(bodies[i], len) && agree;
		for (int r = 0; routes[r]; r++)
			ok = answers_agree(routes[r], bodies[i], len) && ok;
	}
	/* a NUL byte inside and after the body */
	{
		static const char nul1[] = "{\"instances\": [[1, 0, 2]]}\0";
		static const char nul2[] = "{\"instances\": [[1,\0 0, 2]]}";

		agree = body_agrees(nul1, sizeof(nul1) - 1) && body_agrees(nul2, sizeof(nul2) - 1) && agree;
		ok = answers_agree(routes[0], nul1, sizeof(nul1) - 1) && answers_agree(routes[0], nul2, sizeof(nul2) - 1) && ok;
	}
	MF_OK(agree, "hand-written bodies: nothing the shim reads is refused by jansson");
	MF_OK(ok, "hand-written bodies: the same status and bytes with and without the fast path, on every route");
}

/* Random mutations of the valid bodies: same answers, nothing read that jansson refuses. */
static void
test_mutations(void)
{
	static const char alphabet[] = "[]{},:\"0123456789eE.-+ \t\n\\u\x01\xc3\xa9";
	bool		ok = true,
				agree = true;
	int			before = answers_compared;
	char		buf[1024];

	for (int i = 0; bodies[i]; i++)
	{
		size_t		len0 = strlen(bodies[i]);

		if (len0 == 0 || len0 + 8 >= sizeof(buf))
			continue;
		for (int k = 0; k < 120; k++)
		{
			size_t		len = len0,
						pos;
			int			edits = 1 + (int) (draw() % 3);

			memcpy(buf, bodies[i], len0);
			for (int e = 0; e < edits && len > 1; e++)
			{
				pos = (size_t) (draw() % len);
				switch (draw() % 3)
				{
					case 0:		/* delete */
						memmove(buf + pos, buf + pos + 1, len - pos - 1);
						len--;
						break;
					case 1:		/* insert */
						memmove(buf + pos + 1, buf + pos, len - pos);
						buf[pos] = alphabet[draw() % (sizeof(alphabet) - 1)];
						len++;
						break;
					default:	/* replace */
						buf[pos] = alphabet[draw() % (sizeof(alphabet) - 1)];
				}
			}
			agree = body_agrees(buf, len) && agree;
			ok = answers_agree(k % 2 ? routes[0] : routes[5], buf, len) && ok;
			ok = answers_agree(k % 2 ? routes[1] : routes[6], buf, len) && ok;
		}
	}
	MF_OK(agree, "mutated bodies: nothing the shim reads is refused by jansson");
	MF_OK(ok, "mutated bodies: the same status and bytes with and without the fast path");
	MF_DIAG("  %d answers compared for mutations", answers_compared - before);
}

/* Random numeric bodies of every form: the same answers. */
static void
test_random_bodies(void)
{
	bool		ok = true;
	char	   *buf = malloc(1 << 16);

	for (int k = 0; k < 300; k++)
	{
		int			n = 1 + (int) (draw() % 40),
					form = k % 4;
		size_t		o = 0;
		char		num[40];

		o += (size_t) sprintf(buf + o, form == 0 ? "{\"instances\": [" : form == 1 ? "{\"instances\": [" :
							  form == 2 ? "{\"inputs\": [{\"name\": \"t\", \"shape\": [%d, 3], \"datatype\": \"FP64\", \"data\": [" :
							  "{\"inputs\": {", n);
		for (int c = 0; form == 3 && c < NUM_COLS; c++)
		{
			o += (size_t) sprintf(buf + o, "%s\"%s\": [", c ? ", " : "", num_cols[c]);
			for (int r = 0; r < n; r++)
			{
				snprintf(num, sizeof(num), "%.17g", c == 1 ? (double) (draw() % 2) : ((double) (int64_t) draw()) / 9e18 * 4);
				o += (size_t) sprintf(buf + o, "%s%s", r ? ", " : "", num);
			}
			o += (size_t) sprintf(buf + o, "]");
		}
		for (int r = 0; form != 3 && r < n; r++)
		{
			o += (size_t) sprintf(buf + o, r ? (form == 1 ? ", {" : ", [") : (form == 1 ? "{" : "["));
			for (int c = 0; c < NUM_COLS; c++)
			{
				snprintf(num, sizeof(num), "%.17g", c == 1 ? (double) (draw() % 2) : ((double) (int64_t) draw()) / 9e18 * 4);
				if (form == 1)
					o += (size_t) sprintf(buf + o, "%s\"%s\": %s", c ? ", " : "", num_cols[(c + r) % NUM_COLS], num);
				else
					o += (size_t) sprintf(buf + o, "%s%s", c ? ", " : "", num);
			}
			o += (size_t) sprintf(buf + o, form == 1 ? "}" : "]");
		}
		o += (size_t) sprintf(buf + o, form == 2 ? "]}]}" : form == 3 ? "}}" : "]}");
		ok = answers_agree(form == 2 ? routes[5] : routes[0], buf, o) && ok;
	}
	free(buf);
	MF_OK(ok, "300 random numeric bodies (lists, objects in any key order, OIP, columnar): the same answers");
}

/* ------------------------------------------------------------ set-up */

/* The numeric model: logistic regression over a (numeric), b (boolean), c (numeric). */
static bool
num_fit(void)
{
	static const double coef[NUM_COLS] = {0.75, -1.25, 0.5},
				b[1] = {0.125};
	uint64_t	dp[1] = {NUM_COLS},
				d1[1] = {1};
	json_t	   *o = json_pack("{s:[{s:s,s:s,s:s,s:s,s:f},{s:s,s:s,s:s,s:s,s:f},{s:s,s:s,s:s,s:s,s:f}],"
							  "s:[s,s,s],s:i,s:b,s:s,s:s,s:s,s:{s:b},s:[f,f,f],s:[f,f,f],s:[s,s],s:s}",
							  "columns",
							  "name", "a", "type", "double precision", "encoding", "value", "kind", "numeric", "impute", 0.5,
							  "name", "b", "type", "boolean", "encoding", "value", "kind", "boolean", "impute", 0.0,
							  "name", "c", "type", "double precision", "encoding", "value", "kind", "numeric", "impute", 0.0,
							  "features", "a", "b", "c", "n_features", NUM_COLS, "standardize", 1,
							  "task", "classification", "target", "y", "family", "logistic_regression",
							  "model", "multinomial", 0, "means", 0.25, 0.5, -1.0, "stds", 1.5, 0.5, 2.0,
							  "labels", "no", "yes", "target_type", "text");
	char	   *meta = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(o);
	sf_write(&num_model, MF_ART_FAMILY_LOGISTIC_REGRESSION, meta, "coef", 1, dp, coef, "intercept", 1, d1, b);
	free(meta);
	return num_model.bytes != NULL;
}

/* Add a version of name to a builder. */
static bool
add(MfServeCatalogBuilder *bld, const char *name, const SfModel *m)
{
	MfServeVersionSpec v = {"1.0.0", 1, NULL, 0, NULL, m->bytes, m->len};
	char		err[256];

	if (!mf_serve_builder_add_version(bld, name, &v, err, sizeof(err)))
	{
		MF_DIAG("  %s: %s", name, err);
		return false;
	}
	return true;
}

/* Two servers over one catalog: with and without the fast path. */
static bool
servers(void)
{
	MfServeOptions with = {0},
				without = {0};
	MfServeCatalogBuilder *bld = mf_serve_builder_new();
	MfServeCatalog *cat;
	char		err[256];
	bool		ok;

	without.no_fast_bodies = true;
	ok = add(bld, "num", &num_model) && add(bld, "logit", &sf_models[SF_LOGISTIC]) &&
		add(bld, "lin", &sf_models[SF_LINEAR]) && add(bld, "mlp", &sf_models[SF_MLP]) &&
		add(bld, "km", &sf_models[SF_KMEANS]);
	cat = mf_serve_builder_finish(bld, err, sizeof(err));
	if (!ok || cat == NULL)
		return false;
	fast_srv = mf_serve_new(&with);
	json_srv = mf_serve_new(&without);
	mf_serve_set_catalog(json_srv, mf_serve_catalog_ref(cat));
	mf_serve_set_catalog(fast_srv, cat);
	return fast_srv != NULL && json_srv != NULL;
}

int
main(void)
{
	if (!MF_OK(sf_fit() && num_fit(), "fixture models fitted and written") ||
		!MF_OK(servers(), "two servers over one catalog"))
		return mf_test_done();
	test_numbers();
	test_answers();
	test_random_bodies();
	test_mutations();
	MF_OK(fast_accepted > 300, "the fast path answered the valid numeric bodies");
	MF_DIAG("  %d answers compared, %d differ, %d answered by the fast path", answers_compared,
			answers_differ, fast_accepted);
	mf_serve_free(fast_srv);
	mf_serve_free(json_srv);
	for (int i = 0; i < SF_NMODELS; i++)
		free(sf_models[i].bytes);
	free(num_model.bytes);
	return mf_test_done();
}
