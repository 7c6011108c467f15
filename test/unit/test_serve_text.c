/*
 * test_serve_text.c - transformer versions in the serving core, without
 * sockets: a tokenizer trained here (SentencePiece, char kind) and small
 * models initialised by the kernels (an encoder classifier, a decoder LM)
 * are written as mf_train writes them, put in a catalog and asked through
 * the handler: TF Serving :predict with strings, objects and columnar
 * inputs, OIP v2 infer with one BYTES tensor, metadata of both protocols,
 * generation through OIP (parameters as mf_generate's options), malformed
 * text bodies (400 with the error object), an artifact whose tokenizer does
 * not load (refused by the builder).  Expected answers come from the text
 * runner (text/text_run.h) on the same artifact, compared bit for bit after
 * parsing the JSON.  The comparison with the SQL functions is
 * test/integration/serve_text.sh.  (Under valgrind the bit-for-bit checks
 * fail: json_out.c prints doubles with long double arithmetic, which
 * valgrind runs at double precision; it reports no memory error or leak.)
 */
#include "serve_int.h"
#include "text_run.h"
#include "mf_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static MfServe *srv;
static MfServeResponse resp;
static json_t *ans;
static MfTextRun cls_run,
			lm_run;

static const char *const texts[] = {"great product, works well", "", "terrible", "ok I guess",
"Küche für 🍳 – très bien", "a fairly long review that goes well beyond the sixteen tokens of max_length"};
#define N_TEXTS 6

/* Send one request; the answer lands in resp and ans. */
static int
call(const char *method, const char *path, const char *body)
{
	MfServeRequest req = {.method = method, .path = path, .body = body,
	.body_len = body ? strlen(body) : 0, .client = "10.0.0.1"};

	json_decref(ans);
	mf_serve_response_free(&resp);
	mf_serve_handle(srv, &req, &resp);
	ans = resp.body != NULL ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
	return resp.status;
}

/* True when the answer is {"error": "..."} with status (message holding part). */
static bool
is_error(int status, const char *part)
{
	const char *e = json_string_value(json_object_get(ans, "error"));
	bool		ok = resp.status == status && e != NULL && (part == NULL || strstr(e, part) != NULL);

	if (!ok)
		MF_DIAG("  status %d, body %.*s", resp.status, (int) resp.body_len, resp.body ? resp.body : "");
	return ok;
}

/* A small transformer spec of a kind (vocabulary 64, max_length 16). */
static MfTfSpec
spec_of(MfTfKind kind)
{
	MfTfStackSpec st = {.present = 1, .d_model = 8, .num_layers = 1, .num_heads = 2, .d_ff = 16,
	.activation = "gelu", .feature_redraw_interval = 1000};
	MfTfSpec	s = {.kind = kind, .vocab_size = 64, .max_length = 16};

	if (kind == MF_TF_KIND_ENCODER)
		s.encoder = st, s.num_classes = 3;
	else
		s.decoder = st;
	return s;
}

/* The artifact of a model of kind with tokenizer bytes tok; malloc'd bytes. */
static void *
write_model(MfTfKind kind, const unsigned char *tok, size_t tok_len, int tok_size, size_t *len)
{
	static char *labels[] = {"neg", "neu", "pos"};
	MfArtAllocator heap = {mfk_malloc_allocator.alloc, mfk_malloc_allocator.free, NULL};
	MfTfSpec	s = spec_of(kind);
	MfTfArtifact a;
	MfTfModel	m;
	void	   *buf = NULL;
	char		err[256] = "";

	memset(&a, 0, sizeof(a));
	a.spec = s;
	a.task = kind == MF_TF_KIND_ENCODER ? MF_TF_TASK_CLASSIFICATION : MF_TF_TASK_LANGUAGE_MODEL;
	a.seed = 3;
	a.n_labels = kind == MF_TF_KIND_ENCODER ? 3 : 0;
	a.labels = kind == MF_TF_KIND_ENCODER ? labels : NULL;
	a.text_column = kind == MF_TF_KIND_ENCODER ? "review" : "prompt";
	snprintf(a.tokenizer_kind, sizeof(a.tokenizer_kind), "char");
	a.tokenizer_size = tok_size;
	a.tokenizer = (unsigned char *) tok;
	a.tokenizer_len = tok_len;
	if (mfk_tf_model_init(&m, &s, kind == MF_TF_KIND_ENCODER ? 11 : 12, &mfk_malloc_allocator) != MF_KOK ||
		mf_tf_artifact_write(&m, &a, &heap, &buf, len, err, sizeof(err)) != 0)
		MF_DIAG("write failed: %s", err);
	mfk_tf_model_free(&m);
	return buf;
}

/* Open artifact bytes with the text runner (the expected answers). */
static bool
open_run(MfTextRun *tr, const void *bytes, size_t len)
{
	MfArtAllocator heap = {mfk_malloc_allocator.alloc, mfk_malloc_allocator.free, NULL};
	MfArtifactView view;
	char		err[256];

	return mf_artifact_open(bytes, len, &view, err, sizeof(err)) == MF_ART_OK &&
		mf_text_run_open(tr, &view, &heap, &mfk_malloc_allocator, err, sizeof(err)) == MF_TEXT_OK;
}

/* True when value, label and probabilities of text i equal the runner's, bit for bit. */
static bool
same_row(int i, json_t *value, json_t *label, json_t *proba)
{
	MfEnv		env = {mfk_malloc_allocator, NULL, NULL};
	double		p[3],
				v,
				got;
	int			k;
	char		err[256];

	if (mf_text_run_classify(&env, &cls_run, texts[i], strlen(texts[i]), p, &k, err, sizeof(err)) != MF_TEXT_OK)
		return false;
	v = mf_text_run_value(&cls_run, k);
	got = json_number_value(value);
	if (memcmp(&got, &v, sizeof(v)) != 0 || strcmp(json_string_value(label), cls_run.art.labels[k]) != 0 ||
		json_array_size(proba) != 3)
	{
		MF_DIAG("  text %d: got %.17g %s, expected %.17g %s", i, got, json_string_value(label), v, cls_run.art.labels[k]);
		return false;
	}
	for (int j = 0; j < 3; j++)
	{
		got = json_number_value(json_array_get(proba, (size_t) j));
		if (memcmp(&got, &p[j], sizeof(double)) != 0)
		{
			MF_DIAG("  text %d: probability %d %.17g, expected %.17g", i, j, got, p[j]);
			return false;
		}
	}
	return true;
}

/* A JSON list of the test texts. */
static char *
texts_json(void)
{
	json_t	   *a = json_array();
	char	   *s;

	for (int i = 0; i < N_TEXTS; i++)
		json_array_append_new(a, json_string(texts[i]));
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

/* TF Serving :predict, row and columnar forms, and metadata. */
static void
test_tfs(void)
{
	char	   *list = texts_json();
	char		body[4096];
	bool		ok;
	json_t	   *p,
			   *o;

	snprintf(body, sizeof(body), "{\"instances\": %s}", list);
	ok = call("POST", "/v1/models/rev:predict", body) == 200;
	p = json_object_get(ans, "predictions");
	for (int i = 0; ok && i < N_TEXTS; i++)
		ok = same_row(i, json_object_get(json_array_get(p, i), "predict"),
					  json_object_get(json_array_get(p, i), "label"),
					  json_object_get(json_array_get(p, i), "probabilities"));
	MF_OK(ok, "TF :predict, instances of strings: the runner's answers bit for bit");
	ok = call("POST", "/v1/models/rev:predict", "{\"instances\": [{\"review\": \"terrible\", \"other\": 1}]}") == 200;
	p = json_array_get(json_object_get(ans, "predictions"), 0);
	MF_OK(ok && same_row(2, json_object_get(p, "predict"), json_object_get(p, "label"),
						 json_object_get(p, "probabilities")), "TF :predict, an object with the text column");
	snprintf(body, sizeof(body), "{\"inputs\": {\"review\": %s}}", list);
	ok = call("POST", "/v1/models/rev:predict", body) == 200;
	o = json_object_get(ans, "outputs");
	for (int i = 0; ok && i < N_TEXTS; i++)
		ok = same_row(i, json_array_get(json_object_get(o, "predict"), i),
					  json_array_get(json_object_get(o, "label"), i),
					  json_array_get(json_object_get(o, "probabilities"), i));
	MF_OK(ok, "TF :predict, columnar inputs: bit for bit");
	call("GET", "/v1/models/rev/metadata", NULL);
	p = json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(ans, "metadata"),
																		"signature_def"), "signature_def"),
										"serving_default"), "inputs");
	MF_OK(resp.status == 200 && json_object_size(p) == 1 &&
		  strcmp(json_string_value(json_object_get(json_object_get(p, "review"), "dtype")), "DT_STRING") == 0,
		  "TF metadata: one DT_STRING input named as the text column");
	free(list);
}

/* OIP infer with one BYTES tensor, metadata. */
static void
test_oip(void)
{
	char	   *list = texts_json();
	char		body[4096];
	json_t	   *outs,
			   *pr;
	bool		ok;

	snprintf(body, sizeof(body), "{\"inputs\": [{\"name\": \"any\", \"shape\": [%d, 1], \"datatype\": \"BYTES\", "
			 "\"data\": %s}]}", N_TEXTS, list);
	ok = call("POST", "/v2/models/rev/infer", body) == 200;
	outs = json_object_get(ans, "outputs");
	pr = json_object_get(json_array_get(outs, 2), "data");
	for (int i = 0; ok && i < N_TEXTS; i++)
	{
		json_t	   *row = json_pack("[O,O,O]", json_array_get(pr, (size_t) i * 3), json_array_get(pr, (size_t) i * 3 + 1),
									json_array_get(pr, (size_t) i * 3 + 2));

		ok = same_row(i, json_array_get(json_object_get(json_array_get(outs, 0), "data"), i),
					  json_array_get(json_object_get(json_array_get(outs, 1), "data"), i), row);
		json_decref(row);
	}
	MF_OK(ok, "OIP infer, one BYTES tensor [n, 1] of any name: bit for bit");
	call("GET", "/v2/models/rev", NULL);
	MF_OK(resp.status == 200 && json_array_size(json_object_get(ans, "inputs")) == 1 &&
		  strcmp(json_string_value(json_object_get(json_array_get(json_object_get(ans, "inputs"), 0), "datatype")),
				 "BYTES") == 0 &&
		  strcmp(json_string_value(json_object_get(json_object_get(ans, "properties"), "family")), "transformer") == 0,
		  "OIP metadata: one BYTES input, family transformer");
	free(list);
}

/* Malformed text bodies: 400 with the error object. */
static void
test_malformed(void)
{
	call("POST", "/v2/models/rev/infer", "{\"inputs\": [{\"name\": \"t\", \"shape\": [1], \"datatype\": \"FP64\", \"data\": [1]}]}");
	MF_OK(is_error(400, "BYTES"), "OIP FP64 tensor: 400 naming BYTES");
	call("POST", "/v2/models/rev/infer", "{\"inputs\": [{\"name\": \"t\", \"shape\": [2], \"datatype\": \"BYTES\", \"data\": [\"a\", 3]}]}");
	MF_OK(is_error(400, NULL), "OIP BYTES holding a number: 400");
	call("POST", "/v2/models/rev/infer", "{\"inputs\": [{\"name\": \"t\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [null]}]}");
	MF_OK(is_error(400, "string"), "OIP BYTES holding null: 400");
	call("POST", "/v1/models/rev:predict", "{\"instances\": [7]}");
	MF_OK(is_error(400, "must be a string"), "TF instance a number: 400");
	call("POST", "/v1/models/rev:predict", "{\"instances\": [{\"title\": \"x\"}]}");
	MF_OK(is_error(400, "\"review\" is missing"), "TF object without the text column: 400 naming it");
	call("POST", "/v1/models/rev:predict", "{\"instances\": [\"caf\xe9\"]}");
	MF_OK(is_error(400, NULL), "TF invalid UTF-8: 400");
	call("POST", "/v1/models/lm:predict", "{\"instances\": [\"abc\"]}");
	MF_OK(is_error(400, "infer"), "TF :predict of a decoder: 400 pointing to OIP infer");
}

/* Generation through OIP infer: mf_generate's text for the same options. */
static void
test_generate(void)
{
	MfEnv		env = {mfk_malloc_allocator, NULL, NULL};
	MfTfGenOpts o;
	char	   *want = NULL;
	char		err[256];
	const char *got;
	json_t	   *out;

	mf_text_gen_defaults(&lm_run, &o);
	o.temperature = 1.0;
	o.top_k = 5;
	o.seed = 9;
	o.max_tokens = 6;
	if (mf_text_run_generate(&env, &lm_run, "ab", 2, &o, &want, err, sizeof(err)) != MF_TEXT_OK)
		MF_DIAG("generate: %s", err);
	call("POST", "/v2/models/lm/infer", "{\"inputs\": [{\"name\": \"prompt\", \"shape\": [2], \"datatype\": \"BYTES\", "
		 "\"data\": [\"ab\", \"ab\"]}], \"parameters\": {\"temperature\": 1.0, \"top_k\": 5, \"seed\": 9, \"max_tokens\": 6}}");
	out = json_array_get(json_object_get(ans, "outputs"), 0);
	got = json_string_value(json_array_get(json_object_get(out, "data"), 1));
	MF_OK(resp.status == 200 && want != NULL && got != NULL && strcmp(got, want) == 0 &&
		  strcmp(json_string_value(json_object_get(out, "datatype")), "BYTES") == 0,
		  "OIP infer of a decoder: the runner's text for the same seed and options");
	free(want);
	call("POST", "/v2/models/lm/infer", "{\"inputs\": [{\"name\": \"p\", \"shape\": [1], \"datatype\": \"BYTES\", "
		 "\"data\": [\"ab\"]}], \"parameters\": {\"max_tokens\": 0}}");
	MF_OK(is_error(400, "max_tokens"), "a bad generation parameter: 400 naming it");
	call("POST", "/v2/models/lm/infer", "{\"inputs\": [{\"name\": \"p\", \"shape\": [5], \"datatype\": \"BYTES\", "
		 "\"data\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}], \"parameters\": {\"max_tokens\": 4000}}");
	MF_OK(is_error(400, "tokens one request may generate"), "5 prompts x 4000 tokens (over 16384): 400");
	call("GET", "/v2/models/lm", NULL);
	MF_OK(resp.status == 200 && strcmp(json_string_value(json_object_get(json_array_get(json_object_get(ans, "outputs"), 0),
																	  "name")), "text") == 0,
		  "OIP metadata of a decoder: output text");
}

int
main(void)
{
	static const char *const lines[] = {"great product", "terrible", "ok I guess", "works well", "bad bad",
	"Küche für 🍳", "très bien", "a fairly long review", "abcdefghijklmnopqrstuvwxyz", "0123456789 ,.-"};
	size_t		lens[10];
	unsigned char *tok = NULL,
			   *bad;
	size_t		tok_len = 0,
				cls_len = 0,
				lm_len = 0,
				bad_len = 0;
	char		err[256] = "";
	void	   *cls,
			   *lm,
			   *badart;
	MfTokenizer *t;
	int			tok_size;
	MfServeCatalogBuilder *b;
	MfServeVersionSpec v = {"1.0.0", 1, NULL, 0, NULL, NULL, 0};

	for (int i = 0; i < 10; i++)
		lens[i] = strlen(lines[i]);
	if (mf_tokenizer_train(lines, lens, 10, 64, MF_TOKENIZER_CHAR, 1, &tok, &tok_len, err, sizeof(err)) != 0 ||
		(t = mf_tokenizer_load(tok, tok_len, err, sizeof(err))) == NULL)
	{
		MF_DIAG("tokenizer: %s", err);
		return 1;
	}
	tok_size = mf_tokenizer_size(t);
	mf_tokenizer_free(t);
	cls = write_model(MF_TF_KIND_ENCODER, tok, tok_len, tok_size, &cls_len);
	lm = write_model(MF_TF_KIND_DECODER, tok, tok_len, tok_size, &lm_len);
	bad = malloc(tok_len);
	memset(bad, 0x41, tok_len);
	bad_len = tok_len;
	badart = write_model(MF_TF_KIND_ENCODER, bad, bad_len, tok_size, &bad_len);
	MF_OK(cls && lm && badart && open_run(&cls_run, cls, cls_len) && open_run(&lm_run, lm, lm_len),
		  "an encoder classifier and a decoder written as mf_train writes them, opened by the runner");

	b = mf_serve_builder_new();
	v.artifact = cls;
	v.artifact_len = cls_len;
	MF_OK(mf_serve_builder_add_version(b, "rev", &v, err, sizeof(err)), "the builder opens a transformer classifier");
	v.artifact = lm;
	v.artifact_len = lm_len;
	MF_OK(mf_serve_builder_add_version(b, "lm", &v, err, sizeof(err)), "the builder opens a decoder");
	v.artifact = badart;
	v.artifact_len = bad_len;
	MF_OK(!mf_serve_builder_add_version(b, "bad", &v, err, sizeof(err)) && strstr(err, "tokenizer") != NULL,
		  "an artifact whose tokenizer does not load is refused, naming the tokenizer");
	srv = mf_serve_new(NULL);
	mf_serve_set_catalog(srv, mf_serve_builder_finish(b, err, sizeof(err)));

	test_tfs();
	test_oip();
	test_malformed();
	test_generate();

	json_decref(ans);
	mf_serve_response_free(&resp);
	mf_serve_free(srv);
	free(cls);
	free(lm);
	free(badart);
	free(bad);
	free(tok);
	return mf_test_done();
}
