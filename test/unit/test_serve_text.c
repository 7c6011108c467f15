/*
 * test_serve_text.c - transformer versions in the serving core, without
 * sockets: a tokenizer trained here (SentencePiece, char kind) and small
 * models initialised by the kernels (an encoder classifier, a decoder LM)
 * are written as mf_train writes them, put in a catalog and asked through
 * the handler: TF Serving :predict with strings, objects and columnar
 * inputs, OIP v2 infer with one BYTES tensor, metadata of both protocols,
 * generation through OIP (parameters as mf_generate's options), an
 * embedding version (OIP output "embedding" FP32 [n, d], TF vectors: the
 * runner's floats bit for bit after reading the printed numbers back;
 * floats printed by the serving core read back by strtof), a text
 * classifier's embeddings on request (OIP output "embedding", TF signature
 * "embedding": the runner's floats; not in default answers; not logged),
 * malformed
 * text bodies (400 with the error object), an artifact whose tokenizer does
 * not load (refused by the builder).  Expected answers come from the text
 * runner (text/text_run.h) on the same artifact, compared bit for bit after
 * parsing the JSON.  The comparison with the SQL functions is
 * test/integration/serve_text.sh.  (Under valgrind 3.19 every check
 * passes and it reports no memory error or leak.)
 */
#include "serve_int.h"
#include "text_run.h"
#include "mf_test.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static MfServe *srv;
static MfServeResponse resp;
static json_t *ans;
static MfTextRun cls_run,
			lm_run,
			emb_run;
static size_t log_lines;		/* lines the prediction log got since the last call */

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
	log_lines = 0;
	mf_serve_handle(srv, &req, &resp);
	ans = resp.body != NULL ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
	return resp.status;
}

/* The prediction log's sink: count the lines. */
static void
count_lines(void *arg, const char *lines, size_t len)
{
	(void) arg;
	for (size_t i = 0; i < len; i++)
		log_lines += lines[i] == '\n';
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

/* d_model of the models write_model writes (8; wider for the bound of one answer's floats). */
static size_t model_width = 8;

/* The artifact of a model of a task with tokenizer bytes tok; malloc'd bytes. */
static void *
write_model(MfTfTask task, const unsigned char *tok, size_t tok_len, int tok_size, size_t *len)
{
	static char *labels[] = {"neg", "neu", "pos"};
	MfArtAllocator heap = {mfk_malloc_allocator.alloc, mfk_malloc_allocator.free, NULL};
	MfTfKind	kind = task == MF_TF_TASK_LANGUAGE_MODEL ? MF_TF_KIND_DECODER : MF_TF_KIND_ENCODER;
	bool		cls = task == MF_TF_TASK_CLASSIFICATION;
	MfTfSpec	s = spec_of(kind);
	MfTfArtifact a;
	MfTfModel	m;
	void	   *buf = NULL;
	char		err[256] = "";

	if (!cls)
		s.num_classes = 0;		/* an embedding model has no head */
	s.encoder.d_model = s.decoder.d_model = model_width;
	memset(&a, 0, sizeof(a));
	a.spec = s;
	a.task = task;
	a.seed = 3;
	a.n_labels = cls ? 3 : 0;
	a.labels = cls ? labels : NULL;
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

	if (mf_text_run_classify(&env, &cls_run, texts[i], strlen(texts[i]), p, &k, NULL, err, sizeof(err)) != MF_TEXT_OK)
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

/* The serving_default signature of a TF metadata answer. */
static json_t *
serving_default(void)
{
	json_t	   *sig = json_object_get(json_object_get(json_object_get(ans, "metadata"), "signature_def"),
									  "signature_def");

	return json_object_get(sig, "serving_default");
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
	p = json_object_get(serving_default(), "inputs");
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

/* True when the n x d floats of data (JSON numbers, read back as floats) are run's embeddings of texts. */
static bool
same_embeddings_of(MfTextRun *run, json_t *data, size_t n, bool nested)
{
	MfEnv		env = {mfk_malloc_allocator, NULL, NULL};
	size_t		d = run->art.spec.encoder.d_model;
	float		want[64];
	char		err[256];

	if (json_array_size(data) != (nested ? n : n * d))
		return false;
	for (size_t i = 0; i < n; i++)
	{
		if (mf_text_run_embed(&env, run, texts[i], strlen(texts[i]), want, err, sizeof(err)) != MF_TEXT_OK ||
			(nested && json_array_size(json_array_get(data, i)) != d))
			return false;
		for (size_t j = 0; j < d; j++)
		{
			json_t	   *x = nested ? json_array_get(json_array_get(data, i), j) : json_array_get(data, i * d + j);
			float		got = (float) json_number_value(x);

			if (!json_is_real(x) || memcmp(&got, &want[j], sizeof(float)) != 0)
			{
				MF_DIAG("  text %zu, value %zu: got %.9g, expected %.9g", i, j, got, want[j]);
				return false;
			}
		}
	}
	return true;
}

/* The same for the embedding version emb. */
static bool
same_embeddings(json_t *data, size_t n, bool nested)
{
	return same_embeddings_of(&emb_run, data, n, nested);
}

/* True when out is the OIP tensor embedding, FP32, of shape [n, 8] (metadata: n = -1). */
static bool
is_embedding_output(json_t *out, json_int_t n)
{
	json_t	   *shape = json_object_get(out, "shape");
	const char *name = json_string_value(json_object_get(out, "name"));
	const char *dt = json_string_value(json_object_get(out, "datatype"));

	return name != NULL && strcmp(name, "embedding") == 0 && dt != NULL && strcmp(dt, "FP32") == 0 &&
		json_array_size(shape) == 2 && json_integer_value(json_array_get(shape, 0)) == n &&
		json_integer_value(json_array_get(shape, 1)) == 8;
}

/* The dtype of a TF metadata output tensor of outputs (an object), "" when absent. */
static const char *
tf_dtype(json_t *outputs, const char *name)
{
	const char *dt = json_string_value(json_object_get(json_object_get(outputs, name), "dtype"));

	return dt != NULL ? dt : "";
}

/* The names of the outputs of an OIP answer, comma-separated (static buffer). */
static const char *
output_names(void)
{
	static char names[256];
	size_t		i;
	json_t	   *o;

	names[0] = '\0';
	json_array_foreach(json_object_get(ans, "outputs"), i, o)
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i > 0 ? "," : "",
				 json_string_value(json_object_get(o, "name")) ? json_string_value(json_object_get(o, "name")) : "?");
	return names;
}

/* The OIP output of an answer named name, or NULL. */
static json_t *
output_named(const char *name)
{
	size_t		i;
	json_t	   *o;

	json_array_foreach(json_object_get(ans, "outputs"), i, o)
		if (json_string_value(json_object_get(o, "name")) != NULL &&
			strcmp(json_string_value(json_object_get(o, "name")), name) == 0)
		return o;
	return NULL;
}

/* Requests for a classifier's embeddings that are refused: path, body, a part of the message, what. */
static const struct
{
	const char *path,
			   *body,
			   *part,
			   *what;
}			cemb_refusals[] = {
	{"/v2/models/rev/infer", "{\"inputs\": [{\"name\": \"t\", \"shape\": [1], \"datatype\": \"BYTES\", "
	"\"data\": [\"a\"]}], \"outputs\": [{\"name\": \"embeddings\"}]}", "embedding",
	"OIP infer of a classifier asking an unknown output"},
	{"/v1/models/rev:predict", "{\"signature_name\": \"embed\", \"instances\": [\"a\"]}", "\"embedding\"",
	"TF unknown signature_name (the answer lists serving_default and embedding)"},
	{"/v1/models/rev:classify", "{\"signature_name\": \"embedding\", \"examples\": [{\"review\": \"a\"}]}",
	":predict", "TF :classify with signature embedding"},
	{"/v1/models/lm:predict", "{\"signature_name\": \"embedding\", \"instances\": [\"a\"]}",
	"unknown signature_name", "TF signature embedding of a decoder (decoders do not embed)"},
};

/* A text classifier's embeddings: OIP output "embedding", TF signature "embedding", metadata, log, refusals. */
static void
test_classifier_embed(void)
{
	char	   *list = texts_json();
	char		body[4096];
	json_t	   *out,
			   *p;
	bool		ok;

	snprintf(body, sizeof(body), "{\"id\": \"c1\", \"inputs\": [{\"name\": \"t\", \"shape\": [%d], "
			 "\"datatype\": \"BYTES\", \"data\": %s}], \"outputs\": [{\"name\": \"embedding\"}]}", N_TEXTS, list);
	call("POST", "/v2/models/rev/infer", body);
	out = output_named("embedding");
	MF_OK(resp.status == 200 && strcmp(output_names(), "embedding") == 0 && is_embedding_output(out, N_TEXTS) &&
		  same_embeddings_of(&cls_run, json_object_get(out, "data"), N_TEXTS, false) && log_lines == 0,
		  "OIP infer of a classifier, outputs [embedding]: one output FP32 [n, 8], the runner's floats, not logged");
	snprintf(body, sizeof(body), "{\"inputs\": [{\"name\": \"t\", \"shape\": [%d], \"datatype\": \"BYTES\", "
			 "\"data\": %s}], \"outputs\": [{\"name\": \"embedding\"}, {\"name\": \"label\"}]}", N_TEXTS, list);
	ok = call("POST", "/v2/models/rev/infer", body) == 200 && strcmp(output_names(), "label,embedding") == 0 &&
		same_embeddings_of(&cls_run, json_object_get(output_named("embedding"), "data"), N_TEXTS, false);
	for (int i = 0; ok && i < N_TEXTS; i++)
	{
		MfEnv		env = {mfk_malloc_allocator, NULL, NULL};
		double		pr[3];
		int			k;
		char		err[256];

		ok = mf_text_run_classify(&env, &cls_run, texts[i], strlen(texts[i]), pr, &k, NULL, err, sizeof(err)) == MF_TEXT_OK &&
			strcmp(json_string_value(json_array_get(json_object_get(output_named("label"), "data"), (size_t) i)),
				   cls_run.art.labels[k]) == 0;
	}
	MF_OK(ok && log_lines == N_TEXTS, "OIP infer of a classifier, outputs [embedding, label]: both, the predictions logged");
	snprintf(body, sizeof(body), "{\"inputs\": [{\"name\": \"t\", \"shape\": [%d], \"datatype\": \"BYTES\", "
			 "\"data\": %s}]}", N_TEXTS, list);
	MF_OK(call("POST", "/v2/models/rev/infer", body) == 200 &&
		  strcmp(output_names(), "predict,label,probabilities") == 0 && log_lines == N_TEXTS,
		  "OIP infer of a classifier without outputs: predict, label, probabilities (no embedding), logged");
	snprintf(body, sizeof(body), "{\"signature_name\": \"embedding\", \"instances\": %s}", list);
	call("POST", "/v1/models/rev:predict", body);
	MF_OK(resp.status == 200 && same_embeddings_of(&cls_run, json_object_get(ans, "predictions"), N_TEXTS, true) &&
		  log_lines == 0, "TF :predict of a classifier, signature embedding: one vector per text, bit for bit, not logged");
	snprintf(body, sizeof(body), "{\"signature_name\": \"embedding\", \"inputs\": {\"review\": %s}}", list);
	call("POST", "/v1/models/rev:predict", body);
	MF_OK(resp.status == 200 && same_embeddings_of(&cls_run, json_object_get(ans, "outputs"), N_TEXTS, true),
		  "TF :predict of a classifier, signature embedding, columnar inputs: outputs, bit for bit");
	call("GET", "/v2/models/rev", NULL);
	MF_OK(resp.status == 200 && strcmp(output_names(), "predict,label,probabilities,embedding") == 0 &&
		  is_embedding_output(output_named("embedding"), -1),
		  "OIP metadata of a classifier: outputs predict, label, probabilities and embedding FP32 [-1, 8]");
	call("GET", "/v1/models/rev/metadata", NULL);
	p = json_object_get(json_object_get(json_object_get(json_object_get(ans, "metadata"), "signature_def"),
										"signature_def"), "embedding");
	MF_OK(resp.status == 200 && json_object_size(json_object_get(serving_default(), "outputs")) == 3 &&
		  json_object_size(json_object_get(p, "outputs")) == 1 &&
		  strcmp(tf_dtype(json_object_get(p, "outputs"), "embedding"), "DT_FLOAT") == 0 &&
		  json_object_get(json_object_get(p, "inputs"), "review") != NULL,
		  "TF metadata of a classifier: serving_default unchanged, signature embedding (review -> DT_FLOAT)");
	for (size_t i = 0; i < sizeof(cemb_refusals) / sizeof(cemb_refusals[0]); i++)
	{
		char		what[256];

		call("POST", cemb_refusals[i].path, cemb_refusals[i].body);
		snprintf(what, sizeof(what), "%s: 400 naming %s", cemb_refusals[i].what, cemb_refusals[i].part);
		MF_OK(is_error(400, cemb_refusals[i].part), what);
	}
	free(list);
}

/* An embedding version over OIP, TF Serving and their metadata; its refusals. */
static void
test_embed(void)
{
	char	   *list = texts_json();
	char		body[4096];
	json_t	   *out,
			   *p;

	snprintf(body, sizeof(body), "{\"id\": \"e1\", \"inputs\": [{\"name\": \"t\", \"shape\": [%d], "
			 "\"datatype\": \"BYTES\", \"data\": %s}]}", N_TEXTS, list);
	call("POST", "/v2/models/emb/infer", body);
	out = json_array_get(json_object_get(ans, "outputs"), 0);
	MF_OK(resp.status == 200 && json_array_size(json_object_get(ans, "outputs")) == 1 &&
		  is_embedding_output(out, N_TEXTS) &&
		  strcmp(json_string_value(json_object_get(ans, "id")), "e1") == 0 &&
		  same_embeddings(json_object_get(out, "data"), N_TEXTS, false),
		  "OIP infer of an embedding version: one output embedding FP32 [n, 8], the runner's floats bit for bit");
	snprintf(body, sizeof(body), "{\"instances\": %s}", list);
	call("POST", "/v1/models/emb:predict", body);
	MF_OK(resp.status == 200 && same_embeddings(json_object_get(ans, "predictions"), N_TEXTS, true),
		  "TF :predict of an embedding version, instances of strings: one vector per text, bit for bit");
	snprintf(body, sizeof(body), "{\"inputs\": {\"review\": %s}}", list);
	call("POST", "/v1/models/emb:predict", body);
	MF_OK(resp.status == 200 && same_embeddings(json_object_get(ans, "outputs"), N_TEXTS, true),
		  "TF :predict of an embedding version, columnar inputs: outputs, bit for bit");
	call("GET", "/v2/models/emb", NULL);
	out = json_array_get(json_object_get(ans, "outputs"), 0);
	MF_OK(resp.status == 200 && json_array_size(json_object_get(ans, "outputs")) == 1 &&
		  is_embedding_output(out, -1) &&
		  strcmp(json_string_value(json_object_get(json_object_get(ans, "properties"), "embedding_dim")), "8") == 0,
		  "OIP metadata of an embedding version: output embedding FP32 [-1, 8]");
	call("GET", "/v1/models/emb/metadata", NULL);
	p = json_object_get(serving_default(), "outputs");
	MF_OK(resp.status == 200 && json_object_size(p) == 1 && strcmp(tf_dtype(p, "embedding"), "DT_FLOAT") == 0,
		  "TF metadata of an embedding version: one DT_FLOAT output embedding");
	call("POST", "/v2/models/emb/infer", "{\"inputs\": [{\"name\": \"t\", \"shape\": [1], \"datatype\": \"BYTES\", "
		 "\"data\": [\"a\"]}], \"outputs\": [{\"name\": \"predict\"}]}");
	MF_OK(is_error(400, "embedding"), "OIP infer asking an embedding version for output predict: 400 naming embedding");
	call("POST", "/v1/models/emb:regress", "{\"examples\": [{\"review\": \"a\"}]}");
	MF_OK(is_error(400, ":predict"), "TF :regress of an embedding version: 400 pointing to :predict");
	call("POST", "/v1/models/emb:predict", "{\"instances\": [null]}");
	MF_OK(is_error(400, "string"), "TF :predict of an embedding version with a null text: 400");
	free(list);
}

/* Significant digits of a printed number (no leading or trailing zeros). */
static int
significant_digits(const char *text)
{
	char		d[40];
	int			n = 0,
				first = -1;

	for (const char *c = text; *c != '\0' && *c != 'e' && n < 39; c++)
		if (*c >= '0' && *c <= '9' && (first >= 0 || *c != '0'))
		{
			first = 0;
			d[n++] = *c;
		}
	while (n > 0 && d[n - 1] == '0')
		n--;
	return n;
}

/* The generated /predict of a server of one embedding version: {"embedding": [...]}. */
static void
test_embed_generated(const void *emb, size_t emb_len)
{
	MfServeCatalogBuilder *b = mf_serve_builder_new();
	MfServeVersionSpec v = {"1.0.0", 1, NULL, 0, NULL, emb, emb_len};
	MfServe    *one = srv;
	char		err[256];
	json_t	   *rows;

	srv = mf_serve_new(NULL);
	MF_OK(mf_serve_builder_add_version(b, "emb", &v, err, sizeof(err)), "a server of the embedding version alone");
	mf_serve_set_catalog(srv, mf_serve_builder_finish(b, err, sizeof(err)));
	call("POST", "/batch_predict", "[{\"review\": \"great product, works well\"}, {\"review\": \"\"}]");
	rows = json_pack("[O,O]", json_object_get(json_array_get(ans, 0), "embedding"),
					 json_object_get(json_array_get(ans, 1), "embedding"));
	MF_OK(resp.status == 200 && same_embeddings(rows, 2, true),
		  "generated /batch_predict of an embedding version: {\"embedding\": [...]} per row, bit for bit");
	json_decref(rows);
	mf_serve_free(srv);
	srv = one;
}

/* More texts x d_model than one answer may hold: 400 before anything is embedded. */
static void
test_embed_bound(const unsigned char *tok, size_t tok_len, int tok_size)
{
	MfServeCatalogBuilder *b = mf_serve_builder_new();
	MfServeVersionSpec v = {"1.0.0", 1, NULL, 0, NULL, NULL, 0};
	MfServe    *one = srv;
	MfServeOptions opt = {.default_max_batch = 20000};
	size_t		n = 8193;		/* x 512 = 4,194,816 floats, over 4,194,304 */
	char	   *body = malloc(n * 4 + 64),
			   *p = body;
	char		err[256];
	void	   *wide;

	model_width = 512;
	wide = write_model(MF_TF_TASK_EMBEDDING, tok, tok_len, tok_size, &v.artifact_len);
	model_width = 8;
	v.artifact = wide;
	srv = mf_serve_new(&opt);
	MF_OK(wide != NULL && body != NULL && mf_serve_builder_add_version(b, "wide", &v, err, sizeof(err)),
		  "an embedding version of d_model 512");
	mf_serve_set_catalog(srv, mf_serve_builder_finish(b, err, sizeof(err)));
	p += sprintf(p, "{\"instances\": [");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, i > 0 ? ",\"a\"" : "\"a\"");
	sprintf(p, "]}");
	call("POST", "/v1/models/wide:predict", body);
	MF_OK(is_error(400, "4194304 values one answer may hold"), "8,193 texts x 512 floats: 400 naming the bound");
	mf_serve_free(srv);
	srv = one;
	free(wide);
	free(body);
}

/* Floats printed by the serving core read back as the same float, by strtof and through a double. */
static void
test_ftoa(void)
{
	static const float fixed[] = {0.1f, -0.0f, 1e-5f, 9.99999e-6f, 1e17f, 1.0e16f, 3.4028235e38f, 1.17549435e-38f,
	1.4e-45f, -2.5f, 16777216.0f, 0.33333334f,
	7.038531e-26f};				/* its shortest digits, read as a double, round to a neighbour */
	uint32_t	x = 12345;
	int			bad = 0,
				longest = 0,
				short9 = 0,
				n = 0;

	for (int i = 0; i < 200000; i++, n++)
	{
		float		f,
					g,
					h;
		char		text[MF_SERVE_DTOA_LEN];
		int			digits = 0;

		if (i < (int) (sizeof(fixed) / sizeof(fixed[0])))
			f = fixed[i];
		else
		{
			x = x * 1664525u + 1013904223u;
			memcpy(&f, &x, sizeof(f));
			if (!isfinite(f))
			{
				n--;
				continue;
			}
		}
		mf_serve_ftoa(f, text);
		g = strtof(text, NULL);
		h = (float) strtod(text, NULL);
		digits = significant_digits(text);
		longest = digits > longest ? digits : longest;
		short9 += digits <= 9;
		if (memcmp(&f, &g, sizeof(f)) != 0 || memcmp(&f, &h, sizeof(f)) != 0 ||
			(strchr(text, '.') == NULL && strchr(text, 'e') == NULL))
		{
			if (bad++ < 3)
				MF_DIAG("  %a printed %s, read back %a (as a double, then float: %a)", f, text, g, h);
		}
	}
	MF_DIAG("%d of %d floats printed with at most 9 significant digits; the longest %d", short9, n, longest);
	MF_OK(bad == 0 && longest <= 17 && short9 >= n - n / 1000,
		  "200,000 floats (random bits and edge values) printed by mf_serve_ftoa read back bit for bit by strtof "
		  "and as a double rounded to float; almost all with at most 9 significant digits");
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
				emb_len = 0,
				bad_len = 0;
	char		err[256] = "";
	void	   *cls,
			   *lm,
			   *emb,
			   *badart;
	MfTokenizer *t;
	int			tok_size;
	MfServeCatalogBuilder *b;
	MfServeVersionSpec v = {"1.0.0", 1, NULL, 0, NULL, NULL, 0};
	MfServePolicy pol = {0};
	MfServeOptions opt = {0};

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
	cls = write_model(MF_TF_TASK_CLASSIFICATION, tok, tok_len, tok_size, &cls_len);
	lm = write_model(MF_TF_TASK_LANGUAGE_MODEL, tok, tok_len, tok_size, &lm_len);
	emb = write_model(MF_TF_TASK_EMBEDDING, tok, tok_len, tok_size, &emb_len);
	bad = malloc(tok_len);
	memset(bad, 0x41, tok_len);
	bad_len = tok_len;
	badart = write_model(MF_TF_TASK_CLASSIFICATION, bad, bad_len, tok_size, &bad_len);
	MF_OK(cls && lm && emb && badart && open_run(&cls_run, cls, cls_len) && open_run(&lm_run, lm, lm_len) &&
		  open_run(&emb_run, emb, emb_len),
		  "an encoder classifier and a decoder written as mf_train writes them, an embedding encoder (no head), opened by the runner");

	b = mf_serve_builder_new();
	v.artifact = cls;
	v.artifact_len = cls_len;
	MF_OK(mf_serve_builder_add_version(b, "rev", &v, err, sizeof(err)), "the builder opens a transformer classifier");
	v.artifact = lm;
	v.artifact_len = lm_len;
	MF_OK(mf_serve_builder_add_version(b, "lm", &v, err, sizeof(err)), "the builder opens a decoder");
	v.artifact = emb;
	v.artifact_len = emb_len;
	MF_OK(mf_serve_builder_add_version(b, "emb", &v, err, sizeof(err)), "the builder opens an embedding encoder");
	v.artifact = badart;
	v.artifact_len = bad_len;
	MF_OK(!mf_serve_builder_add_version(b, "bad", &v, err, sizeof(err)) && strstr(err, "tokenizer") != NULL,
		  "an artifact whose tokenizer does not load is refused, naming the tokenizer");
	pol.log_predictions = true;
	MF_OK(mf_serve_builder_set_policy(b, "rev", &pol, err, sizeof(err)), "the classifier's predictions are logged");
	opt.log_sink = count_lines;
	srv = mf_serve_new(&opt);
	mf_serve_set_catalog(srv, mf_serve_builder_finish(b, err, sizeof(err)));

	test_tfs();
	test_oip();
	test_malformed();
	test_generate();
	test_embed();
	test_classifier_embed();
	test_embed_generated(emb, emb_len);
	test_embed_bound(tok, tok_len, tok_size);
	test_ftoa();

	json_decref(ans);
	mf_serve_response_free(&resp);
	mf_serve_free(srv);
	free(cls);
	free(lm);
	free(emb);
	free(badart);
	free(bad);
	free(tok);
	return mf_test_done();
}
