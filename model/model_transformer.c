/*
 * model_transformer.c - write, read and check the artifact of a transformer
 * model; build the model back (the design note is atop
 * model_transformer.h).
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model_transformer.h"

#define TF_FORMAT "mf-transformer/1"

static const char *const TaskNames[] = {"classification", "embedding", "language_model", "seq2seq"};
static const char *const KindNames[] = {"encoder", "decoder", "encoder_decoder"};
static const char *const AttnNames[] = {"softmax", "linear", "causal_linear"};
static const char *const NormNames[] = {"layer_norm", "scalenorm", "rezero"};
static const char *const PoolNames[] = {"mean", "first"};
static const char *const ActNames[] = {"gelu", "relu", "silu", "geglu", "reglu", "swiglu"};
static const char *const TokKinds[] = {"unigram", "bpe", "char"};

#define NELEM(a) ((int) (sizeof(a) / sizeof((a)[0])))

/* Name of a task. */
const char *
mf_tf_task_name(MfTfTask t)
{
	return (int) t >= 0 && (int) t < NELEM(TaskNames) ? TaskNames[t] : "?";
}

/* Index of name in names[0..n), or -1. */
static int
TfIndex(const char *const *names, int n, const char *name)
{
	for (int i = 0; name != NULL && i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/* A task from its name, or -1. */
int
mf_tf_task_from_name(const char *name)
{
	return TfIndex(TaskNames, NELEM(TaskNames), name);
}

/* printf into err; returns -1. */
static int	TfErr(char *err, size_t errlen, const char *fmt,...) __attribute__((format(printf, 3, 4)));
static int
TfErr(char *err, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* ------------------------------------------------------------ base64 */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 of n bytes into a malloc'd NUL-terminated string (NULL: no memory). */
static char *
TfB64Encode(const unsigned char *p, size_t n)
{
	char	   *out = malloc((n + 2) / 3 * 4 + 1),
			   *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i += 3)
	{
		uint32_t	v = (uint32_t) p[i] << 16 | (i + 1 < n ? (uint32_t) p[i + 1] << 8 : 0) |
			(i + 2 < n ? p[i + 2] : 0);

		*o++ = B64[v >> 18];
		*o++ = B64[(v >> 12) & 63];
		*o++ = i + 1 < n ? B64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? B64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* Value of a base64 digit, or -1. */
static int
TfB64Digit(char c)
{
	const char *p = c != '\0' ? strchr(B64, c) : NULL;

	return p != NULL ? (int) (p - B64) : -1;
}

/* Strict base64 (padded, no blanks) into out (alloc); false when not base64. */
static bool
TfB64Decode(const char *s, size_t len, const MfArtAllocator *alloc,
			unsigned char **out, size_t *n)
{
	size_t		pad = 0;
	unsigned char *o;

	if (len == 0 || len % 4 != 0)
		return false;
	pad = s[len - 1] == '=' ? (s[len - 2] == '=' ? 2 : 1) : 0;
	*n = len / 4 * 3 - pad;
	o = alloc->alloc(alloc->ctx, *n + 1);
	if (o == NULL)
		return false;
	for (size_t i = 0, k = 0; i < len; i += 4)
	{
		int			d[4];
		uint32_t	v;

		for (int j = 0; j < 4; j++)
		{
			bool		padded = i + j >= len - pad;

			d[j] = padded ? 0 : TfB64Digit(s[i + j]);
			if (d[j] < 0 || (padded && s[i + j] != '='))
				return false;
		}
		v = (uint32_t) d[0] << 18 | (uint32_t) d[1] << 12 | (uint32_t) d[2] << 6 | (uint32_t) d[3];
		for (int j = 0; j < 3 && k < *n; j++)
			o[k++] = (unsigned char) (v >> (16 - 8 * j));
	}
	*out = o;
	return true;
}

/* ------------------------------------------------------------ writing */

/* One stack spec as JSON. */
static json_t *
TfStackJson(const MfTfStackSpec *s)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:f,s:s,s:s,s:s,s:I,s:b,s:I,s:b}",
					 "d_model", (json_int_t) s->d_model, "num_layers", (json_int_t) s->num_layers,
					 "num_heads", (json_int_t) s->num_heads, "d_ff", (json_int_t) s->d_ff,
					 "dropout", s->dropout, "attention", AttnNames[s->attention],
					 "activation", s->activation, "norm", NormNames[s->norm],
					 "nb_features", (json_int_t) s->nb_features, "cross_attention", s->cross_attention,
					 "feature_redraw_interval", (json_int_t) s->feature_redraw_interval,
					 "auto_check_redraw", s->auto_check_redraw);
}

/* The metadata object of an artifact (NULL when out of memory). */
static json_t *
TfMetaJson(const MfTfArtifact *a)
{
	const MfTfSpec *s = &a->spec;
	json_t	   *spec = json_pack("{s:s,s:I,s:I,s:I,s:s,s:b}", "kind", KindNames[s->kind],
								 "vocab_size", (json_int_t) s->vocab_size,
								 "max_length", (json_int_t) s->max_length,
								 "num_classes", (json_int_t) s->num_classes,
								 "pool", PoolNames[s->pool], "tie_lm_head", s->tie_lm_head);
	json_t	   *labels = json_array(),
			   *cols = json_pack("{}");
	char	   *tok = TfB64Encode(a->tokenizer, a->tokenizer_len);
	json_t	   *meta;

	if (spec == NULL || labels == NULL || cols == NULL || tok == NULL)
		return NULL;
	if (s->encoder.present)
		json_object_set_new(spec, "encoder", TfStackJson(&s->encoder));
	if (s->decoder.present)
		json_object_set_new(spec, "decoder", TfStackJson(&s->decoder));
	for (int i = 0; i < a->n_labels; i++)
		json_array_append_new(labels, json_string(a->labels[i]));
	if (a->text_column != NULL)
		json_object_set_new(cols, "text", json_string(a->text_column));
	if (a->source_column != NULL)
		json_object_set_new(cols, "source", json_string(a->source_column));
	if (a->target_column != NULL)
		json_object_set_new(cols, "target", json_string(a->target_column));
	meta = json_pack("{s:s,s:s,s:s,s:o,s:I,s:o,s:o,s:{s:s,s:i,s:s}}", "format", TF_FORMAT,
					 "family", "transformer", "task", mf_tf_task_name(a->task), "spec", spec,
					 "seed", (json_int_t) (a->seed & INT64_MAX), "labels", labels, "columns", cols,
					 "tokenizer", "kind", a->tokenizer_kind, "size", a->tokenizer_size,
					 "model", tok);
	free(tok);
	return meta;
}

/* Free what jansson allocated (its allocator may not be malloc's). */
static void
TfJsonFree(void *p)
{
	json_malloc_t m;
	json_free_t f;

	json_get_alloc_funcs(&m, &f);
	if (p != NULL)
		f(p);
}

/* Write the artifact of a trained model. */
int
mf_tf_artifact_write(const MfTfModel *m, const MfTfArtifact *a, const MfArtAllocator *alloc,
					 void **out, size_t *out_len, char *err, size_t errlen)
{
	MfArtifactWriter w;
	json_t	   *meta = TfMetaJson(a);
	char	   *text = meta != NULL ? json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	uint64_t	dims[1] = {m->n_floats};
	MfArtErr	rc;

	*out = NULL;
	json_decref(meta);
	if (text == NULL)
		return TfErr(err, errlen, "out of memory");
	/* the model's floats are referenced, not copied, until finish */
	mf_artifact_writer_begin(&w, MF_ART_FAMILY_TRANSFORMER, alloc);
	mf_artifact_writer_add_f32(&w, "params", 1, dims, m->params);
	mf_artifact_writer_set_meta(&w, text, strlen(text));
	rc = mf_artifact_writer_finish(&w, out, out_len);
	TfJsonFree(text);
	if (rc != MF_ART_OK)
		return TfErr(err, errlen, "%s", w.errmsg);
	return 0;
}

/* ------------------------------------------------------------ reading */

/* Reading state: where a member was refused. */
typedef struct TfRead TfRead;
struct TfRead
{
	char	   *err;
	size_t		errlen;
	bool		bad;
};

/* Refuse member path with a detail (first problem wins). */
static void TfBad(TfRead *r, const char *path, const char *fmt,...) __attribute__((format(printf, 3, 4)));
static void
TfBad(TfRead *r, const char *path, const char *fmt,...)
{
	va_list		ap;
	int			n;

	if (r->bad)
		return;
	r->bad = true;
	n = snprintf(r->err, r->errlen, "%s: ", path);
	if (n < 0 || (size_t) n >= r->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(r->err + n, r->errlen - (size_t) n, fmt, ap);
	va_end(ap);
}

/* Integer member key of o in [lo, hi] (0 when refused). */
static int64_t
TfInt(TfRead *r, const json_t *o, const char *path, const char *key, int64_t lo, int64_t hi)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
	{
		TfBad(r, path, "\"%s\" must be an integer in [%" PRId64 ", %" PRId64 "]", key, lo, hi);
		return 0;
	}
	return json_integer_value(v);
}

/* Boolean member key of o. */
static bool
TfBool(TfRead *r, const json_t *o, const char *path, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_boolean(v))
		TfBad(r, path, "\"%s\" must be true or false", key);
	return json_is_true(v);
}

/* Index of string member key of o in names (0 when refused). */
static int
TfEnum(TfRead *r, const json_t *o, const char *path, const char *key,
	   const char *const *names, int n)
{
	int			i = TfIndex(names, n, json_string_value(json_object_get(o, key)));

	if (i < 0)
	{
		TfBad(r, path, "\"%s\" must be one of the known names (\"%s\", ...)", key, names[0]);
		return 0;
	}
	return i;
}

/* One stack of the spec. */
static void
TfReadStack(TfRead *r, const json_t *o, const char *path, MfTfStackSpec *s)
{
	double		drop;

	memset(s, 0, sizeof(*s));
	if (!json_is_object(o))
	{
		TfBad(r, path, "the stack must be an object");
		return;
	}
	s->present = 1;
	s->d_model = (size_t) TfInt(r, o, path, "d_model", 1, MF_TF_ART_MAX_D_MODEL);
	s->num_layers = (size_t) TfInt(r, o, path, "num_layers", 1, MF_TF_ART_MAX_LAYERS);
	s->num_heads = (size_t) TfInt(r, o, path, "num_heads", 1, MF_TF_ART_MAX_D_MODEL);
	s->d_ff = (size_t) TfInt(r, o, path, "d_ff", 1, MF_TF_ART_MAX_D_FF);
	drop = json_real_value(json_object_get(o, "dropout"));
	if (!json_is_real(json_object_get(o, "dropout")) || !(drop >= 0.0 && drop < 1.0))
		TfBad(r, path, "\"dropout\" must be a number in [0, 1)");
	s->dropout = drop;
	s->attention = (MfTfAttnKind) TfEnum(r, o, path, "attention", AttnNames, NELEM(AttnNames));
	snprintf(s->activation, sizeof(s->activation), "%s",
			 ActNames[TfEnum(r, o, path, "activation", ActNames, NELEM(ActNames))]);
	s->norm = (MfTfNorm) TfEnum(r, o, path, "norm", NormNames, NELEM(NormNames));
	s->nb_features = (size_t) TfInt(r, o, path, "nb_features", 0, MF_TF_ART_MAX_FEATURES);
	s->cross_attention = TfBool(r, o, path, "cross_attention");
	s->feature_redraw_interval = TfInt(r, o, path, "feature_redraw_interval", 0, INT64_MAX);
	s->auto_check_redraw = TfBool(r, o, path, "auto_check_redraw");
	if (!r->bad && s->d_model % s->num_heads != 0)
		TfBad(r, path, "num_heads %zu does not divide d_model %zu", s->num_heads, s->d_model);
	if (!r->bad && (s->attention == MF_TF_ATTN_SOFTMAX) != (s->nb_features == 0))
		TfBad(r, path, "\"nb_features\" must be set for linear attention only");
}

/* The spec member. */
static void
TfReadSpec(TfRead *r, const json_t *o, MfTfSpec *s)
{
	memset(s, 0, sizeof(*s));
	if (!json_is_object(o))
	{
		TfBad(r, "spec", "must be an object");
		return;
	}
	s->kind = (MfTfKind) TfEnum(r, o, "spec", "kind", KindNames, NELEM(KindNames));
	s->vocab_size = (size_t) TfInt(r, o, "spec", "vocab_size", 4, MF_TF_ART_MAX_VOCAB);
	s->max_length = (size_t) TfInt(r, o, "spec", "max_length", 2, MF_TF_ART_MAX_LENGTH);
	s->num_classes = (size_t) TfInt(r, o, "spec", "num_classes", 0, MF_TF_ART_MAX_CLASSES);
	s->pool = (MfTfPool) TfEnum(r, o, "spec", "pool", PoolNames, NELEM(PoolNames));
	s->tie_lm_head = TfBool(r, o, "spec", "tie_lm_head");
	if (r->bad)
		return;
	if (s->kind != MF_TF_KIND_DECODER)
		TfReadStack(r, json_object_get(o, "encoder"), "spec.encoder", &s->encoder);
	else if (json_object_get(o, "encoder") != NULL)
		TfBad(r, "spec.encoder", "a decoder has no encoder");
	if (s->kind != MF_TF_KIND_ENCODER)
		TfReadStack(r, json_object_get(o, "decoder"), "spec.decoder", &s->decoder);
	else if (json_object_get(o, "decoder") != NULL)
		TfBad(r, "spec.decoder", "an encoder has no decoder");
	if (!r->bad && mf_tf_spec_n_params(s) < 0)
		TfBad(r, "spec", "the kernels refuse this model (stack sizes or kinds disagree)");
}

/* Copy a string member (NULL when absent; refused when not a short string). */
static char *
TfStr(TfRead *r, const json_t *v, const char *path, const MfArtAllocator *alloc)
{
	const char *s = json_string_value(v);
	size_t		n;
	char	   *out;

	if (v == NULL)
		return NULL;
	if (s == NULL || (n = json_string_length(v)) == 0 || n > MF_TF_ART_MAX_COLUMN || strlen(s) != n)
	{
		TfBad(r, path, "must be a string of 1 to %d bytes without NUL", MF_TF_ART_MAX_COLUMN);
		return NULL;
	}
	out = alloc->alloc(alloc->ctx, n + 1);
	if (out != NULL)
		memcpy(out, s, n + 1);
	else
		TfBad(r, path, "out of memory");
	return out;
}

/* Labels: num_classes distinct strings for a classifier, none otherwise. */
static void
TfReadLabels(TfRead *r, const json_t *v, const MfArtAllocator *alloc, MfTfArtifact *a)
{
	size_t		n = json_array_size(v);

	if (!json_is_array(v) || n != a->spec.num_classes)
	{
		TfBad(r, "labels", "must be an array of num_classes (%zu) strings", a->spec.num_classes);
		return;
	}
	a->n_labels = (int) n;
	a->labels = alloc->alloc(alloc->ctx, (n ? n : 1) * sizeof(char *));
	if (a->labels == NULL)
		{ TfBad(r, "labels", "out of memory"); return; }
	memset(a->labels, 0, (n ? n : 1) * sizeof(char *));
	for (size_t i = 0; i < n && !r->bad; i++)
	{
		const char *s = json_string_value(json_array_get(v, i));

		if (s == NULL || strlen(s) != json_string_length(json_array_get(v, i)))
			{ TfBad(r, "labels", "label %zu is not a string without NUL", i); return; }
		for (size_t j = 0; j < i; j++)
			if (strcmp(a->labels[j], s) == 0)
				{ TfBad(r, "labels", "label \"%s\" appears twice", s); return; }
		a->labels[i] = TfStr(r, json_array_get(v, i), "labels", alloc);
	}
}

/* Columns and task agree: text for one-column tasks, source and target for seq2seq. */
static void
TfReadColumns(TfRead *r, const json_t *v, const MfArtAllocator *alloc, MfTfArtifact *a)
{
	if (!json_is_object(v))
		{ TfBad(r, "columns", "must be an object"); return; }
	a->text_column = TfStr(r, json_object_get(v, "text"), "columns.text", alloc);
	a->source_column = TfStr(r, json_object_get(v, "source"), "columns.source", alloc);
	a->target_column = TfStr(r, json_object_get(v, "target"), "columns.target", alloc);
	if (r->bad)
		return;
	if (a->task == MF_TF_TASK_SEQ2SEQ ? a->source_column == NULL || a->target_column == NULL :
		a->text_column == NULL)
		TfBad(r, "columns", "a %s model needs %s", mf_tf_task_name(a->task),
			  a->task == MF_TF_TASK_SEQ2SEQ ? "\"source\" and \"target\"" : "\"text\"");
}

/* The task fits the spec's kind and head. */
static void
TfCheckTask(TfRead *r, const MfTfArtifact *a)
{
	MfTfKind	want = a->task == MF_TF_TASK_LANGUAGE_MODEL ? MF_TF_KIND_DECODER :
		a->task == MF_TF_TASK_SEQ2SEQ ? MF_TF_KIND_ENCODER_DECODER : MF_TF_KIND_ENCODER;

	if (a->spec.kind != want)
		TfBad(r, "task", "a %s model cannot be a %s", mf_tf_task_name(a->task), KindNames[a->spec.kind]);
	else if ((a->task == MF_TF_TASK_CLASSIFICATION) != (a->spec.num_classes >= 2))
		TfBad(r, "task", "a classifier has 2 or more classes and only a classifier has any");
}

/* The tokenizer member: kind, size within vocab_size, model bytes. */
static void
TfReadTokenizer(TfRead *r, const json_t *v, const MfArtAllocator *alloc, MfTfArtifact *a)
{
	const json_t *model = json_object_get(v, "model");
	int			kind;

	if (!json_is_object(v))
		{ TfBad(r, "tokenizer", "must be an object"); return; }
	kind = TfEnum(r, v, "tokenizer", "kind", TokKinds, NELEM(TokKinds));
	snprintf(a->tokenizer_kind, sizeof(a->tokenizer_kind), "%s", TokKinds[kind]);
	a->tokenizer_size = (int) TfInt(r, v, "tokenizer", "size", 4, (int64_t) a->spec.vocab_size);
	if (r->bad)
		return;
	if (!json_is_string(model) ||
		!TfB64Decode(json_string_value(model), json_string_length(model), alloc,
					 &a->tokenizer, &a->tokenizer_len))
		TfBad(r, "tokenizer.model", "must be the tokenizer's bytes in base64");
}

/* The "params" tensor (float32, or float64 in format 1): at least the trained floats of the spec. */
static void
TfReadParams(TfRead *r, const MfArtifactView *view, MfTfArtifact *a)
{
	MfArtifactTensor t;
	char		msg[160];

	if (view->n_tensors != 1 ||
		mf_artifact_tensor_typed(view, "params", 0, 1, NULL, &t, msg, sizeof(msg)) != MF_ART_OK)
		{ TfBad(r, "params", "a transformer artifact holds one tensor, \"params\", of one dimension"); return; }
	if (t.n_elems < (uint64_t) mf_tf_spec_n_params(&a->spec))
		{ TfBad(r, "params", "%" PRIu64 " floats, fewer than the %" PRId64 " parameters of the spec",
					 t.n_elems, mf_tf_spec_n_params(&a->spec)); return; }
	a->params_dtype = t.dtype;
	a->params_f32 = t.data_f32;
	a->params_f64 = t.data;
	a->n_params = (size_t) t.n_elems;
}

/* Read and check a transformer artifact. */
int
mf_tf_artifact_read(const MfArtifactView *view, const MfArtAllocator *alloc,
					MfTfArtifact *out, char *err, size_t errlen)
{
	TfRead		r = {err, errlen, false};
	json_error_t jerr;
	json_t	   *meta;
	int			task;

	memset(out, 0, sizeof(*out));
	if (view->family != MF_ART_FAMILY_TRANSFORMER)
		return TfErr(err, errlen, "family: not a transformer artifact");
	meta = json_loadb(view->meta, view->meta_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(meta))
	{
		json_decref(meta);
		return TfErr(err, errlen, "metadata: not a JSON object");
	}
	if (strcmp(json_string_value(json_object_get(meta, "format")) ?: "", TF_FORMAT) != 0)
		TfBad(&r, "format", "must be \"%s\"", TF_FORMAT);
	task = mf_tf_task_from_name(json_string_value(json_object_get(meta, "task")));
	if (task < 0)
		TfBad(&r, "task", "must be one of classification, embedding, language_model, seq2seq");
	out->task = (MfTfTask) (task < 0 ? 0 : task);
	if (!r.bad)
		TfReadSpec(&r, json_object_get(meta, "spec"), &out->spec);
	if (!r.bad)
		TfCheckTask(&r, out);
	out->seed = (uint64_t) TfInt(&r, meta, "seed", "seed", 0, INT64_MAX);
	if (!r.bad)
		TfReadLabels(&r, json_object_get(meta, "labels"), alloc, out);
	if (!r.bad)
		TfReadColumns(&r, json_object_get(meta, "columns"), alloc, out);
	if (!r.bad)
		TfReadTokenizer(&r, json_object_get(meta, "tokenizer"), alloc, out);
	if (!r.bad)
		TfReadParams(&r, view, out);
	json_decref(meta);
	return r.bad ? -1 : 0;
}

/* Build the model of a read artifact with its stored floats. */
int
mf_tf_model_from_artifact(const MfTfArtifact *a, MfTfModel *m, const MfAllocator *alloc,
						  char *err, size_t errlen)
{
	int			rc = mfk_tf_model_alloc(m, &a->spec, a->seed, alloc);	/* every float set below */

	if (rc == MF_KERR_NOMEM)
		return TfErr(err, errlen, "out of memory building the model");
	if (rc != MF_KOK)
		return TfErr(err, errlen, "spec: the kernels refuse this model");
	if (m->n_floats != a->n_params)
	{
		size_t		want = m->n_floats;

		mfk_tf_model_free(m);
		return TfErr(err, errlen, "params: %zu floats, the model has %zu", a->n_params, want);
	}
	if (a->params_dtype == MF_ARTIFACT_DTYPE_FLOAT32 && (a->n_params == 0 || a->params_f32 != NULL))
	{
		/* the model's own bits, proved finite by mf_artifact_open */
		if (a->n_params > 0)
			memcpy(m->params, a->params_f32, a->n_params * sizeof(float));
		return 0;
	}
	if (a->params_dtype != MF_ARTIFACT_DTYPE_FLOAT64 || (a->n_params > 0 && a->params_f64 == NULL))
	{
		mfk_tf_model_free(m);
		return TfErr(err, errlen, "params: no float32 or float64 tensor was read");
	}
	/* format 1: float64 values, each exactly a float32 */
	for (size_t i = 0; i < a->n_params; i++)
	{
		float		f = (float) a->params_f64[i];

		if (!isfinite(f) || (double) f != a->params_f64[i])
		{
			mfk_tf_model_free(m);
			return TfErr(err, errlen, "params: value %zu is not a finite float32", i);
		}
		m->params[i] = f;
	}
	return 0;
}
