/*
 * test_model_transformer.c - the transformer artifact (model/model_transformer.c):
 *   - round trip: every kind written from a model, read back and rebuilt
 *     gives bit-identical floats, the same spec, labels, columns and
 *     tokenizer bytes, and the same logits;
 *   - format 1: the same floats stored as a float64 tensor (what mf_ext up
 *     to 0.5.0 wrote) load into the same model, bit for bit, with the same
 *     logits as the float32 artifact (format 2) the writer makes now;
 *   - refusals: hand-made metadata (wrong types, out-of-range sizes, heads
 *     not dividing d_model, a task that does not fit the kind, too few
 *     floats, non-float32 values, bad base64, duplicate labels) is refused
 *     with a message naming the member;
 *   - fuzz: seeded random mutations of the metadata text (bytes, numbers
 *     replaced by extremes, keys deleted) and of the whole artifact are fed
 *     to mf_artifact_open, mf_tf_artifact_read and mf_tf_model_from_artifact
 *     (as float64 and as float32 artifacts):
 *     every input is refused with a message or accepted as a model whose
 *     floats match its tensor; nothing crashes (run it under valgrind or
 *     ASan for reads out of bounds).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mf_test.h"
#include "model_transformer.h"

/* malloc as an artifact allocator. */
static void *
t_alloc(void *ctx, size_t n)
{
	(void) ctx;
	return malloc(n ? n : 1);
}

/* Its free. */
static void
t_free(void *ctx, void *p)
{
	(void) ctx;
	free(p);
}

static const MfArtAllocator talloc = {t_alloc, t_free, NULL};

/* A small spec of a kind. */
static MfTfSpec
small_spec(MfTfKind kind)
{
	MfTfSpec	s;
	MfTfStackSpec st;

	memset(&s, 0, sizeof(s));
	memset(&st, 0, sizeof(st));
	st.present = 1;
	st.d_model = 8;
	st.num_layers = 1;
	st.num_heads = 2;
	st.d_ff = 16;
	snprintf(st.activation, sizeof(st.activation), "gelu");
	st.feature_redraw_interval = 1000;
	s.kind = kind;
	s.vocab_size = 12;
	s.max_length = 6;
	if (kind != MF_TF_KIND_DECODER)
		s.encoder = st;
	if (kind != MF_TF_KIND_ENCODER)
	{
		s.decoder = st;
		s.decoder.cross_attention = kind == MF_TF_KIND_ENCODER_DECODER;
	}
	if (kind == MF_TF_KIND_ENCODER)
		s.num_classes = 3;
	return s;
}

static char *labels3[] = {"a", "b", "c"};
static unsigned char tokbytes[] = {0x0a, 0x05, 0x00, 0xff, 0x41, 0x42, 0x43};

/* The artifact contents that go with a spec. */
static MfTfArtifact
contents_of(const MfTfSpec *s)
{
	MfTfArtifact a;

	memset(&a, 0, sizeof(a));
	a.spec = *s;
	a.task = s->kind == MF_TF_KIND_DECODER ? MF_TF_TASK_LANGUAGE_MODEL :
		s->kind == MF_TF_KIND_ENCODER_DECODER ? MF_TF_TASK_SEQ2SEQ : MF_TF_TASK_CLASSIFICATION;
	a.seed = 5;
	if (a.task == MF_TF_TASK_CLASSIFICATION)
	{
		a.n_labels = 3;
		a.labels = labels3;
	}
	if (a.task == MF_TF_TASK_SEQ2SEQ)
	{
		a.source_column = "src";
		a.target_column = "tgt";
	}
	else
		a.text_column = "body";
	snprintf(a.tokenizer_kind, sizeof(a.tokenizer_kind), "char");
	a.tokenizer_size = 9;
	a.tokenizer = tokbytes;
	a.tokenizer_len = sizeof(tokbytes);
	return a;
}

/* Write a model of a kind; its bytes. */
static void *
write_kind(MfTfKind kind, MfTfModel *m, size_t *len)
{
	MfTfSpec	s = small_spec(kind);
	MfTfArtifact a = contents_of(&s);
	void	   *buf = NULL;
	char		err[256] = "";

	if (mfk_tf_model_init(m, &s, 77, &mfk_malloc_allocator) != MF_KOK)
		return NULL;
	if (mf_tf_artifact_write(m, &a, &talloc, &buf, len, err, sizeof(err)) != 0)
		MF_DIAG("write failed: %s", err);
	return buf;
}

/* Read bytes fully: 0 when accepted (model built into *m). */
static int
read_all(const void *buf, size_t len, MfTfArtifact *a, MfTfModel *m, char *err, size_t errlen)
{
	MfArtifactView v;

	if (mf_artifact_open(buf, len, &v, err, errlen) != MF_ART_OK)
		return -1;
	if (mf_tf_artifact_read(&v, &talloc, a, err, errlen) != 0)
		return -2;
	if (mf_tf_model_from_artifact(a, m, &mfk_malloc_allocator, err, errlen) != 0)
		return -3;
	return 0;
}

/* Free what mf_tf_artifact_read allocated (labels, columns, tokenizer). */
static void
free_contents(MfTfArtifact *a)
{
	for (int i = 0; i < a->n_labels; i++)
		free(a->labels[i]);
	free(a->labels);
	free(a->text_column);
	free(a->source_column);
	free(a->target_column);
	free(a->tokenizer);
	memset(a, 0, sizeof(*a));
}

/* Logits of a tiny batch (encoder: classes; decoders: next tokens). */
static int
logits_of(MfTfModel *m, float *out, size_t cap)
{
	int32_t		src[3] = {1, 2, 3},
				tgt[3] = {0, 4, 5};
	MfTfInput	in = {.B = 1};
	MfArena		ar;
	MfTfFwd		f;
	int			rc;

	if (m->spec.kind != MF_TF_KIND_DECODER)
		in.S = 3, in.src = src;
	if (m->spec.kind != MF_TF_KIND_ENCODER)
		in.T = 3, in.tgt = tgt;
	mfk_arena_init(&ar, &mfk_malloc_allocator, mfk_tf_model_step_bytes(m, 1, in.S, in.T, 0));
	rc = mfk_tf_model_forward(NULL, m, &in, NULL, &ar, &f);
	if (rc == MF_KOK)
		memcpy(out, f.logits, sizeof(float) * (f.rows * f.k < cap ? f.rows * f.k : cap));
	mfk_arena_free(&ar, &mfk_malloc_allocator);
	return rc;
}

/* Round trip of every kind. */
static void
test_round_trip(void)
{
	for (int kind = 0; kind <= MF_TF_KIND_ENCODER_DECODER; kind++)
	{
		MfTfModel	m,
					back;
		MfTfArtifact a;
		size_t		len;
		void	   *buf = write_kind((MfTfKind) kind, &m, &len);
		char		err[256] = "",
					name[128];
		float		l1[64],
					l2[64];

		snprintf(name, sizeof(name), "kind %d: written, read back and rebuilt", kind);
		MF_OK(buf != NULL && read_all(buf, len, &a, &back, err, sizeof(err)) == 0, name);
		if (err[0])
			MF_DIAG("%s", err);
		snprintf(name, sizeof(name), "kind %d: floats bit-identical, same spec and contents", kind);
		MF_OK(back.n_floats == m.n_floats &&
			  memcmp(back.params, m.params, m.n_floats * sizeof(float)) == 0 &&
			  a.spec.kind == m.spec.kind && a.spec.vocab_size == 12 && a.spec.max_length == 6 &&
			  a.seed == 5 && a.tokenizer_len == sizeof(tokbytes) &&
			  memcmp(a.tokenizer, tokbytes, sizeof(tokbytes)) == 0 &&
			  strcmp(a.tokenizer_kind, "char") == 0 && a.tokenizer_size == 9 &&
			  (kind != MF_TF_KIND_ENCODER || (a.n_labels == 3 && strcmp(a.labels[2], "c") == 0)) &&
			  (kind == MF_TF_KIND_ENCODER_DECODER ? strcmp(a.target_column, "tgt") == 0 :
			   strcmp(a.text_column, "body") == 0), name);
		memset(l1, 0, sizeof(l1));
		memset(l2, 0, sizeof(l2));
		snprintf(name, sizeof(name), "kind %d: the rebuilt model gives the same logits", kind);
		MF_OK(logits_of(&m, l1, 64) == MF_KOK && logits_of(&back, l2, 64) == MF_KOK &&
			  memcmp(l1, l2, sizeof(l1)) == 0, name);
		free_contents(&a);
		mfk_tf_model_free(&back);
		mfk_tf_model_free(&m);
		free(buf);
	}
}

/* An artifact of metadata text meta and floats params[n]. */
static void *
artifact_of(const char *meta, const double *params, size_t n, size_t *len)
{
	MfArtifactWriter w;
	uint64_t	dims[1] = {n};
	void	   *buf = NULL;

	mf_artifact_writer_begin(&w, MF_ART_FAMILY_TRANSFORMER, &talloc);
	mf_artifact_writer_add(&w, "params", 1, dims, params);
	mf_artifact_writer_set_meta(&w, meta, strlen(meta));
	if (mf_artifact_writer_finish(&w, &buf, len) != MF_ART_OK)
		return NULL;
	return buf;
}

/* An artifact of metadata text meta and float32 params[n] (format 2). */
static void *
artifact_of_f32(const char *meta, const double *params, size_t n, size_t *len)
{
	MfArtifactWriter w;
	uint64_t	dims[1] = {n};
	float	   *f = malloc((n ? n : 1) * sizeof(float));
	void	   *buf = NULL;

	for (size_t i = 0; i < n; i++)
		f[i] = (float) params[i];
	mf_artifact_writer_begin(&w, MF_ART_FAMILY_TRANSFORMER, &talloc);
	mf_artifact_writer_add_f32(&w, "params", 1, dims, f);
	mf_artifact_writer_set_meta(&w, meta, strlen(meta));
	if (mf_artifact_writer_finish(&w, &buf, len) != MF_ART_OK)
		buf = NULL;
	free(f);
	return buf;
}

/* The metadata and floats of a written encoder. */
static char *
encoder_meta(double **params, size_t *n)
{
	MfTfModel	m;
	size_t		len;
	void	   *buf = write_kind(MF_TF_KIND_ENCODER, &m, &len);
	MfArtifactView v;
	char	   *meta;

	mf_artifact_open(buf, len, &v, NULL, 0);
	meta = malloc(v.meta_len + 1);
	memcpy(meta, v.meta, v.meta_len);
	meta[v.meta_len] = '\0';
	*n = m.n_floats;
	*params = malloc(m.n_floats * sizeof(double));
	for (size_t i = 0; i < m.n_floats; i++)
		(*params)[i] = m.params[i];
	mfk_tf_model_free(&m);
	free(buf);
	return meta;
}

/* The metadata with one member (a JSON path a.b) set to a JSON value (NULL: deleted). */
static char *
meta_with(const char *meta, const char *obj, const char *key, const char *value)
{
	json_t	   *j = json_loads(meta, 0, NULL),
			   *o = obj ? json_object_get(j, obj) : j;
	char	   *out;

	if (value == NULL)
		json_object_del(o, key);
	else
		json_object_set_new(o, key, json_loads(value, JSON_DECODE_ANY, NULL));
	out = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return out;
}

/*
 * A format-1 artifact (the floats as float64, as mf_ext 0.5.0 wrote) and the
 * float32 artifact of the same model load into the same model and logits.
 */
static void
test_format1(void)
{
	for (int kind = 0; kind <= MF_TF_KIND_ENCODER_DECODER; kind++)
	{
		MfTfModel	m,
					m1,
					m2;
		MfTfArtifact a1,
					a2;
		MfArtifactView v2;
		MfArtifactTensor t;
		size_t		len2,
					len1 = 0;
		void	   *buf2 = write_kind((MfTfKind) kind, &m, &len2),
				   *buf1 = NULL;
		double	   *wide = malloc(m.n_floats * sizeof(double));
		char	   *meta,
					err[256] = "",
					name[160];
		float		l0[64],
					l1[64],
					l2[64];
		int			ok;

		snprintf(name, sizeof(name), "kind %d: written as format 2 with the model's float32 bits in place", kind);
		MF_OK(buf2 != NULL && mf_artifact_open(buf2, len2, &v2, err, sizeof(err)) == MF_ART_OK &&
			  v2.version == 2 &&
			  mf_artifact_tensor_typed(&v2, "params", MF_ARTIFACT_DTYPE_FLOAT32, 1, NULL, &t, err,
									   sizeof(err)) == MF_ART_OK &&
			  t.n_elems == m.n_floats && t.data == NULL &&
			  memcmp(t.data_f32, m.params, m.n_floats * sizeof(float)) == 0, name);
		meta = strndup(v2.meta, v2.meta_len);
		for (size_t i = 0; i < m.n_floats; i++)
			wide[i] = m.params[i];
		buf1 = artifact_of(meta, wide, m.n_floats, &len1);
		snprintf(name, sizeof(name), "kind %d: the format-1 artifact is %zu bytes, the float32 one %zu (%zu floats)",
				 kind, len1, len2, m.n_floats);
		MF_OK(buf1 != NULL && mf_artifact_format_version(buf1, len1) == 1 &&
			  len1 - len2 >= 4 * m.n_floats - 4 && len1 - len2 <= 4 * m.n_floats + 4, name);
		memset(&a1, 0, sizeof(a1));
		memset(&a2, 0, sizeof(a2));
		ok = read_all(buf1, len1, &a1, &m1, err, sizeof(err)) == 0;
		ok = ok && read_all(buf2, len2, &a2, &m2, err, sizeof(err)) == 0;
		snprintf(name, sizeof(name), "kind %d: both formats load into the model's floats bit for bit", kind);
		MF_OK(ok && a1.params_dtype == MF_ARTIFACT_DTYPE_FLOAT64 &&
			  a2.params_dtype == MF_ARTIFACT_DTYPE_FLOAT32 &&
			  m1.n_floats == m.n_floats && m2.n_floats == m.n_floats &&
			  memcmp(m1.params, m.params, m.n_floats * sizeof(float)) == 0 &&
			  memcmp(m2.params, m.params, m.n_floats * sizeof(float)) == 0, name);
		if (!ok)
			MF_DIAG("%s", err);
		memset(l0, 0, sizeof(l0));
		memset(l1, 0, sizeof(l1));
		memset(l2, 0, sizeof(l2));
		snprintf(name, sizeof(name), "kind %d: format 1 and format 2 give the same logits, bit for bit", kind);
		MF_OK(ok && logits_of(&m, l0, 64) == MF_KOK && logits_of(&m1, l1, 64) == MF_KOK &&
			  logits_of(&m2, l2, 64) == MF_KOK && memcmp(l0, l1, sizeof(l0)) == 0 &&
			  memcmp(l1, l2, sizeof(l1)) == 0, name);
		if (ok)
		{
			mfk_tf_model_free(&m1);
			mfk_tf_model_free(&m2);
		}
		free_contents(&a1);
		free_contents(&a2);
		mfk_tf_model_free(&m);
		free(meta);
		free(wide);
		free(buf1);
		free(buf2);
	}
}

/* Hand-made refusals, each naming its member. */
static void
test_refusals(void)
{
	static const struct
	{
		const char *obj,
				   *key,
				   *value,
				   *want;
	}			cases[] = {
		{NULL, "format", "\"mf-transformer/2\"", "format"},
		{NULL, "task", "\"seq2seq\"", "task"},
		{NULL, "task", "\"language_model\"", "task"},
		{NULL, "seed", "-1", "seed"},
		{NULL, "labels", "[\"a\", \"a\", \"b\"]", "labels"},
		{NULL, "labels", "[\"a\", \"b\"]", "labels"},
		{NULL, "labels", "[\"a\", 2, \"b\"]", "labels"},
		{NULL, "columns", "{}", "columns"},
		{NULL, "columns", "{\"text\": \"\"}", "columns.text"},
		{NULL, "spec", "[]", "spec"},
		{"spec", "vocab_size", "100000000", "spec"},
		{"spec", "vocab_size", "13", "params"},
		{"spec", "max_length", "1e3", "spec"},
		{"spec", "num_classes", "2", "labels"},
		{"spec", "kind", "\"decoder\"", "spec"},
		{"spec", "encoder", NULL, "spec.encoder"},
		{"spec", "decoder", "{}", "spec.decoder"},
		{"spec", "pool", "\"max\"", "spec"},
		{"tokenizer", "model", "\"AAA\"", "tokenizer.model"},
		{"tokenizer", "model", "\"AA=A\"", "tokenizer.model"},
		{"tokenizer", "size", "13", "tokenizer"},
		{"tokenizer", "kind", "\"wordpiece\"", "tokenizer"},
	};
	size_t		n,
				len;
	double	   *params;
	char	   *meta = encoder_meta(&params, &n);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char	   *bad = meta_with(meta, cases[i].obj, cases[i].key, cases[i].value);
		void	   *buf = artifact_of(bad, params, n, &len);
		MfTfArtifact a;
		MfTfModel	m;
		char		err[320] = "",
					name[200];
		int			rc = buf ? read_all(buf, len, &a, &m, err, sizeof(err)) : 1;

		snprintf(name, sizeof(name), "refused: %s%s%s = %s (%s)", cases[i].obj ? cases[i].obj : "",
				 cases[i].obj ? "." : "", cases[i].key, cases[i].value ? cases[i].value : "(deleted)", err);
		MF_OK(rc < 0 && strncmp(err, cases[i].want, strlen(cases[i].want)) == 0, name);
		if (rc == 0)
			mfk_tf_model_free(&m);
		free(buf);
		free(bad);
	}
	/* stack members */
	{
		const char *stack[][2] = {{"num_heads", "3"}, {"d_model", "0"}, {"dropout", "1.0"},
		{"attention", "\"linear\""}, {"activation", "\"tanh\""}, {"d_ff", "17"}};

		for (size_t i = 0; i < sizeof(stack) / sizeof(stack[0]); i++)
		{
			json_t	   *j = json_loads(meta, 0, NULL);
			char	   *bad,
						err[320] = "",
						name[200];
			void	   *buf;
			MfTfArtifact a;
			MfTfModel	m;
			int			rc;

			json_object_set_new(json_object_get(json_object_get(j, "spec"), "encoder"), stack[i][0],
								json_loads(stack[i][1], JSON_DECODE_ANY, NULL));
			bad = json_dumps(j, JSON_COMPACT);
			buf = artifact_of(bad, params, n, &len);
			rc = read_all(buf, len, &a, &m, err, sizeof(err));
			snprintf(name, sizeof(name), "refused: spec.encoder.%s = %s (%s)", stack[i][0], stack[i][1], err);
			MF_OK(rc < 0 && err[0] != '\0', name);
			if (rc == 0)
				mfk_tf_model_free(&m);
			json_decref(j);
			free(bad);
			free(buf);
		}
	}
	/* floats: too few, one not a float32, NaN cannot be written at all */
	{
		MfTfArtifact a;
		MfTfModel	m;
		char		err[320] = "";
		void	   *buf = artifact_of(meta, params, n - 1, &len);

		MF_OK(read_all(buf, len, &a, &m, err, sizeof(err)) < 0 && strncmp(err, "params", 6) == 0,
			  "refused: one float short");
		free(buf);
		params[3] = 0.1;		/* not a float32 */
		buf = artifact_of(meta, params, n, &len);
		err[0] = '\0';
		MF_OK(read_all(buf, len, &a, &m, err, sizeof(err)) == -3 && strstr(err, "float32") != NULL,
			  "refused: a value that is not a float32");
		free_contents(&a);
		free(buf);
	}
	free(meta);
	free(params);
}

/* Next value of a 64-bit LCG. */
static uint64_t
rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 17;
}

/* Replace a random number in text by an extreme one, or delete a random byte run. */
static void
mutate_text(uint64_t *s, char *t)
{
	static const char *const extremes[] = {"0", "-1", "1e308", "4294967297", "9223372036854775807",
	"65536", "2", "1.5", "null", "\"x\"", "[]", "{}", "true"};
	size_t		n = strlen(t),
				at = n ? rnd(s) % n : 0;

	switch (rnd(s) % 4)
	{
		case 0:					/* a number becomes an extreme */
			while (at < n && !(t[at] >= '0' && t[at] <= '9'))
				at++;
			if (at < n)
			{
				const char *e = extremes[rnd(s) % (sizeof(extremes) / sizeof(extremes[0]))];
				size_t		end = at;

				while (end < n && ((t[end] >= '0' && t[end] <= '9') || t[end] == '.'))
					end++;
				if (strlen(e) <= end - at)
				{
					memcpy(t + at, e, strlen(e));
					memmove(t + at + strlen(e), t + end, n - end + 1);
				}
			}
			break;
		case 1:					/* a byte changes */
			t[at] = (char) (32 + rnd(s) % 95);
			break;
		case 2:					/* a run is deleted */
			memmove(t + at, t + at + (n - at > 8 ? 8 : n - at), n - at - (n - at > 8 ? 8 : n - at) + 1);
			break;
		default:				/* digits flip */
			for (size_t i = at; i < n && i < at + 4; i++)
				if (t[i] >= '0' && t[i] <= '8')
					t[i]++;
			break;
	}
}

/* Seeded mutations of the metadata and of the bytes: refused with a message, or a consistent model. */
static void
test_fuzz(void)
{
	uint64_t	s = 20261205;
	size_t		n,
				len,
				accepted = 0,
				refused = 0,
				silent = 0,
				inconsistent = 0;
	double	   *params;
	char	   *meta = encoder_meta(&params, &n);
	int			iters = 4000;

	for (int it = 0; it < iters; it++)
	{
		char	   *t = strdup(meta);
		void	   *buf;
		unsigned char *copy;
		MfTfArtifact a;
		MfTfModel	m;
		char		err[320] = "";
		int			rc,
					k = 1 + (int) (rnd(&s) % 3);

		for (int j = 0; j < k; j++)
			mutate_text(&s, t);
		/* every other input is a float32 artifact (format 2) */
		buf = it % 2 ? artifact_of_f32(t, params, n, &len) : artifact_of(t, params, n, &len);
		if (buf == NULL)
		{
			free(t);
			continue;
		}
		/* a quarter also get raw byte mutations (most then fail the checksum) */
		copy = malloc(len);
		memcpy(copy, buf, len);
		if (rnd(&s) % 4 == 0)
			copy[rnd(&s) % len] ^= (unsigned char) (1 + rnd(&s) % 255);
		memset(&a, 0, sizeof(a));
		rc = read_all(copy, len, &a, &m, err, sizeof(err));
		if (rc == 0)
		{
			accepted++;
			for (size_t i = 0; i < m.n_floats; i++)
				if (a.params_dtype == MF_ARTIFACT_DTYPE_FLOAT32 ?
					memcmp(&m.params[i], &a.params_f32[i], sizeof(float)) != 0 :
					(double) m.params[i] != a.params_f64[i])
				{
					inconsistent++;
					break;
				}
			mfk_tf_model_free(&m);
		}
		else
		{
			refused++;
			silent += err[0] == '\0';
		}
		if (rc != -1)
			free_contents(&a);
		free(copy);
		free(buf);
		free(t);
	}
	MF_DIAG("fuzz: %d inputs, %zu accepted, %zu refused", iters, accepted, refused);
	MF_OK(silent == 0, "fuzz: every refusal has a message");
	MF_OK(inconsistent == 0, "fuzz: every accepted input gives a model with its stored floats");
	MF_OK(refused > (size_t) iters / 2, "fuzz: most mutations are refused");
	free(meta);
	free(params);
}

int
main(void)
{
	test_round_trip();
	test_format1();
	test_refusals();
	test_fuzz();
	return mf_test_done();
}
