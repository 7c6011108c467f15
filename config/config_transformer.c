/*
 * config_transformer.c - the transformer family.
 *
 * Design: a transformer has one or two stacks (encoder, decoder).  Each
 * stack's keys are resolved in layers, later layers winning:
 *
 *   1. custom-architecture defaults (d_ff 4, dropout 0.1, batch_size 32,
 *      device cpu) - only in the {"architecture", "layers"} form (every
 *      form defaults dropout, batch_size and device the same way);
 *   2. global_config (inherited by every stack);
 *   3. stack keys written at model level (flat and template forms);
 *   4. custom form: "config" (activation, normalization, ...), then
 *      layers.transformer, then layers.embedding.embed_dim as d_model;
 *   5. the stack's own object ("encoder" / "decoder").
 *
 * Every key keeps the input path it came from, so a problem points at the
 * line the user must change.  The normalised output has no global_config:
 * every stack is complete.
 *
 * Stack keys              default                 allowed
 *   d_model               required                integer in [1, 65536]
 *   num_layers            required                integer in [1, 1024]
 *   num_heads             required                integer in [1, 1024], divides d_model
 *   d_ff                  required                integer in [1, 64] (FFN = d_model * d_ff)
 *   dropout               0.1                     [0, 1)
 *   batch_size            32                      integer in [1, 1000000]
 *   device                "cpu"                   "cpu"
 *   attention_type        "softmax"               softmax | linear | causal_linear
 *   activation            "GELU"                  GELU RELU SILU GEGLU REGLU SWIGLU (any case)
 *   nb_features           256 (linear), null      integer in [1, 65536]; linear kinds only
 *   use_cross_attention   false (decoder only)    boolean; needs encoder_decoder
 *   use_rezero            false                   boolean
 *   use_scalenorm         false                   boolean; not with use_rezero
 *   feature_redraw_interval 1000                  integer >= 1
 *   auto_check_redraw     true                    boolean
 * Model keys: model_type (encoder | decoder | encoder_decoder; inferred from
 * the stacks given, else encoder), vocab_size (null or [1, 10000000]),
 * max_length (512, [1, 1000000]), num_classes (null or >= 2; encoder head).
 *
 * Parameter count, d = d_model, h = d * d_ff, per stack and layer:
 *   self-attention     4*d*d + 4*d          (Q, K, V, output projections)
 *   cross-attention    4*d*d + 4*d          (decoder with use_cross_attention)
 *   FFN                d*h + h + h*d + d    (GELU, RELU, SILU)
 *                      d*2h + 2h + h*d + d  (gated GEGLU, REGLU, SWIGLU)
 *   norms              per residual branch (2, or 3 with cross-attention):
 *                      layer_norm 2*d, scalenorm 1, rezero 1 (its alpha)
 * plus per stack a final norm (2*d layer_norm, 1 scalenorm, none rezero),
 * and with vocab_size a token embedding vocab_size*d and learned positions
 * max_length*d.  Heads: encoder classifier d*num_classes + num_classes when
 * num_classes is set; decoder LM head d*vocab_size + vocab_size when
 * vocab_size is set.  Linear-attention random features are not trained (0).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config_int.h"

/* Stack defaults (d_ff only in the custom-architecture form). */
#define STACK_DEFAULT_D_FF 4
#define STACK_DEFAULT_DROPOUT 0.1
#define STACK_DEFAULT_BATCH_SIZE 32

#define STACK_KEY_LIST \
	"d_model", "num_layers", "num_heads", "d_ff", "dropout", "batch_size", \
	"device", "attention_type", "activation", "nb_features", \
	"use_cross_attention", "use_rezero", "use_scalenorm", \
	"feature_redraw_interval", "auto_check_redraw"

static const char *const StackKeys[] = {STACK_KEY_LIST, NULL};
const char *const *const MfStackKeys = StackKeys;
static const char *const TopKeys[] = {
	"model_type", "vocab_size", "max_length", "num_classes", "global_config",
	"encoder", "decoder", "layers", "config", STACK_KEY_LIST, NULL
};
static const char *const ConfigKeys[] = {"normalization", STACK_KEY_LIST, NULL};
static const char *const LayerKeys[] = {"embedding", "transformer", "classifier", NULL};
static const char *const EmbeddingKeys[] = {"vocab_size", "embed_dim", "max_length", NULL};
static const char *const ClassifierKeys[] = {"num_classes", NULL};

static const char *const ModelTypes[] = {"encoder", "decoder", "encoder_decoder", NULL};
static const char *const Attentions[] = {"softmax", "linear", "causal_linear", NULL};
static const char *const Activations[] = {
	"GELU", "RELU", "SILU", "GEGLU", "REGLU", "SWIGLU", NULL
};
static const char *const Normalizations[] = {"layer_norm", "scale_norm", "rezero", NULL};

/* The parts of the custom-architecture form (NULL when absent). */
typedef struct CustomForm
{
	const json_t *embedding;
	const json_t *transformer;
	const json_t *classifier;
	const json_t *config;
	char		emb_path[MF_PATH_LEN];
	char		tr_path[MF_PATH_LEN];
	char		cls_path[MF_PATH_LEN];
	char		cfg_path[MF_PATH_LEN];
} CustomForm;

/* An optional object at base.key: NULL if absent or (reported) not an object. */
static const json_t *
SubObject(MfCtx *ctx, const json_t *parent, const char *key, const char *base,
		  const char *const *allowed, char *path)
{
	json_t	   *o = json_object_get(parent, key);

	MfPathKey(path, base, key);
	if (o == NULL)
		return NULL;
	if (!json_is_object(o))
	{
		MfProblem(ctx, path, "expected an object, got %s", MfTypeName(o));
		return NULL;
	}
	MfCheckObjectKeys(ctx, o, path, allowed);
	return o;
}

/* A view object at key of the view, checked against allowed keys. */
static const json_t *
ViewObject(MfCtx *ctx, const MfView *v, const char *key,
		   const char *const *allowed, char *path)
{
	json_t	   *o = MfViewGet(v, key);

	MfViewPath(v, key, path);
	if (o == NULL)
		return NULL;
	if (!json_is_object(o))
	{
		MfProblem(ctx, path, "expected an object, got %s", MfTypeName(o));
		return NULL;
	}
	if (allowed != NULL)
		MfCheckObjectKeys(ctx, o, path, allowed);
	return o;
}

/* Find and check the custom-architecture parts ("layers", "config"). */
static bool
CustomFind(MfCtx *ctx, const MfView *v, CustomForm *cf)
{
	char		lpath[MF_PATH_LEN];
	const json_t *layers = ViewObject(ctx, v, "layers", LayerKeys, lpath);

	memset(cf, 0, sizeof(*cf));
	cf->config = ViewObject(ctx, v, "config", ConfigKeys, cf->cfg_path);
	if (layers != NULL)
	{
		cf->embedding = SubObject(ctx, layers, "embedding", lpath, EmbeddingKeys, cf->emb_path);
		cf->transformer = SubObject(ctx, layers, "transformer", lpath, StackKeys, cf->tr_path);
		cf->classifier = SubObject(ctx, layers, "classifier", lpath, ClassifierKeys, cf->cls_path);
	}
	return layers != NULL || cf->config != NULL;
}

/* Add the keys of obj (at path base) that are stack keys. */
static void
AddStackKeys(MfCtx *ctx, MfView *g, const json_t *obj, const char *base)
{
	const char *key;
	json_t	   *val;
	char		path[MF_PATH_LEN];

	json_object_foreach((json_t *) obj, key, val)
	{
		if (!MfInList(key, StackKeys))
			continue;
		MfPathKey(path, base, key);
		MfViewSet(ctx, g, key, val, path);
	}
}

/* Stack keys written at model level, with their input paths. */
static void
AddTopStackKeys(MfCtx *ctx, MfView *g, const MfView *v)
{
	char		path[MF_PATH_LEN];
	int			i;

	for (i = 0; StackKeys[i] != NULL; i++)
	{
		json_t	   *val = MfViewGet(v, StackKeys[i]);

		if (val == NULL)
			continue;
		MfViewPath(v, StackKeys[i], path);
		MfViewSet(ctx, g, StackKeys[i], val, path);
	}
}

/* "normalization" of the custom form as use_rezero / use_scalenorm. */
static void
AddNormalization(MfCtx *ctx, MfView *g, const CustomForm *cf)
{
	MfView		cv;
	int			e;
	char		path[MF_PATH_LEN];

	MfViewFromObject(ctx, &cv, cf->config, cf->cfg_path);
	if (MfGetEnum(ctx, &cv, "normalization", Normalizations, 0, MF_FOLD_CASE, &e) == MF_GOT_VALUE)
	{
		MfViewPath(&cv, "normalization", path);
		MfViewSetNew(ctx, g, "use_scalenorm", json_boolean(e == 1), path);
		MfViewSetNew(ctx, g, "use_rezero", json_boolean(e == 2), path);
	}
	MfViewFree(&cv);
}

/* Layers 1 and 4 of the design note: the custom form's contributions. */
static void
AddCustom(MfCtx *ctx, MfView *g, const CustomForm *cf, bool defaults)
{
	char		path[MF_PATH_LEN];
	json_t	   *dim;

	if (defaults)
	{
		MfViewSetNew(ctx, g, "d_ff", json_integer(STACK_DEFAULT_D_FF), "$.d_ff");
		MfViewSetNew(ctx, g, "dropout", json_real(STACK_DEFAULT_DROPOUT), "$.dropout");
		MfViewSetNew(ctx, g, "batch_size", json_integer(STACK_DEFAULT_BATCH_SIZE), "$.batch_size");
		MfViewSetNew(ctx, g, "device", json_string("cpu"), "$.device");
		return;
	}
	if (cf->config != NULL)
	{
		AddStackKeys(ctx, g, cf->config, cf->cfg_path);
		AddNormalization(ctx, g, cf);
	}
	if (cf->transformer != NULL)
	{
		AddStackKeys(ctx, g, cf->transformer, cf->tr_path);
		snprintf(g->base, sizeof(g->base), "%s", cf->tr_path);
	}
	dim = cf->embedding ? json_object_get(cf->embedding, "embed_dim") : NULL;
	MfPathKey(path, cf->emb_path[0] ? cf->emb_path : "$.layers.embedding", "embed_dim");
	if (dim != NULL)
		MfViewSet(ctx, g, "d_model", dim, path);
	else if (MfViewGet(g, "d_model") == NULL)
		MfViewSetMissingPath(ctx, g, "d_model", path);
}

/* The view every stack inherits from (layers 1 to 4). */
static void
BuildGlobal(MfCtx *ctx, const MfView *v, const CustomForm *cf, bool custom, MfView *g)
{
	char		path[MF_PATH_LEN];
	const json_t *gc = ViewObject(ctx, v, "global_config", StackKeys, path);

	MfViewInit(g, v->base);
	if (custom)
		AddCustom(ctx, g, cf, true);
	if (gc != NULL)
		MfViewAddObject(ctx, g, gc, path);
	AddTopStackKeys(ctx, g, v);
	if (custom)
		AddCustom(ctx, g, cf, false);
}

/* Device: only the cpu exists here (and is the default). */
static void
CheckDevice(MfCtx *ctx, const MfView *sv)
{
	const char *dev;
	char		path[MF_PATH_LEN];
	char		q[128];

	if (MfGetString(ctx, sv, "device", 0, &dev) != MF_GOT_VALUE)
		return;
	if (strcmp(dev, "cpu") == 0 || strcmp(dev, "CPU") == 0)
		return;
	MfViewPath(sv, "device", path);
	MfQuote(q, sizeof(q), dev);
	MfProblem(ctx, path, "device %s is not available; available devices: cpu", q);
}

/* Required sizes of a stack, and d_model divisible by num_heads. */
static void
StackSizes(MfCtx *ctx, const MfView *sv, MfStackConfig *s)
{
	char		path[MF_PATH_LEN];
	MfGot		gd = MfGetInt(ctx, sv, "d_model", 512, 1, 65536, MF_REQUIRED, &s->d_model);
	MfGot		gh;

	MfGetInt(ctx, sv, "num_layers", 6, 1, 1024, MF_REQUIRED, &s->num_layers);
	gh = MfGetInt(ctx, sv, "num_heads", 8, 1, 1024, MF_REQUIRED, &s->num_heads);
	MfGetInt(ctx, sv, "d_ff", STACK_DEFAULT_D_FF, 1, 64, MF_REQUIRED, &s->d_ff);
	MfGetNum(ctx, sv, "dropout", STACK_DEFAULT_DROPOUT, MF_RANGE_UNIT_CO, 0, &s->dropout);
	MfGetInt(ctx, sv, "batch_size", STACK_DEFAULT_BATCH_SIZE, 1, 1000000, 0, &s->batch_size);
	if (gd == MF_GOT_VALUE && gh == MF_GOT_VALUE && s->d_model % s->num_heads != 0)
	{
		MfViewPath(sv, "num_heads", path);
		MfProblem(ctx, path, "d_model %" PRId64 " is not divisible by num_heads %" PRId64,
				  s->d_model, s->num_heads);
	}
}

/* Attention kind and its random features. */
static void
StackAttention(MfCtx *ctx, const MfView *sv, MfStackConfig *s)
{
	char		path[MF_PATH_LEN];
	int			e;
	MfGot		gn;

	MfGetEnum(ctx, sv, "attention_type", Attentions, MF_ATTENTION_SOFTMAX, MF_FOLD_CASE, &e);
	s->attention_type = (MfAttention) e;
	gn = MfGetInt(ctx, sv, "nb_features", -1, 1, 65536, MF_NULLABLE, &s->nb_features);
	if (s->attention_type == MF_ATTENTION_SOFTMAX)
	{
		if (gn == MF_GOT_VALUE)
		{
			MfViewPath(sv, "nb_features", path);
			MfProblem(ctx, path, "nb_features requires attention_type linear or causal_linear");
		}
		s->nb_features = -1;
	}
	else if (s->nb_features < 0)
		s->nb_features = 256;
	MfGetInt(ctx, sv, "feature_redraw_interval", 1000, 1, INT32_MAX, 0,
			 &s->feature_redraw_interval);
	MfGetBool(ctx, sv, "auto_check_redraw", true, 0, &s->auto_check_redraw);
}

/* Normalisation flags and cross-attention. */
static void
StackFlags(MfCtx *ctx, const MfView *sv, MfStackConfig *s, bool decoder,
		   MfModelType model_type)
{
	char		path[MF_PATH_LEN];

	MfGetBool(ctx, sv, "use_rezero", false, 0, &s->use_rezero);
	MfGetBool(ctx, sv, "use_scalenorm", false, 0, &s->use_scalenorm);
	if (s->use_rezero && s->use_scalenorm)
	{
		MfViewPath(sv, "use_scalenorm", path);
		MfProblem(ctx, path, "use_rezero and use_scalenorm cannot both be true");
	}
	MfGetBool(ctx, sv, "use_cross_attention", false, 0, &s->use_cross_attention);
	if (!s->use_cross_attention)
		return;
	MfViewPath(sv, "use_cross_attention", path);
	if (!decoder)
		MfProblem(ctx, path, "use_cross_attention is only allowed on a decoder");
	else if (model_type != MF_MODEL_ENCODER_DECODER)
		MfProblem(ctx, path, "use_cross_attention requires model_type encoder_decoder");
	if (!decoder || model_type != MF_MODEL_ENCODER_DECODER)
		s->use_cross_attention = false;
}

/* Parse one resolved stack view. */
static void
StackParse(MfCtx *ctx, const MfView *sv, MfStackConfig *s, bool decoder,
		   MfModelType model_type)
{
	int			e;

	memset(s, 0, sizeof(*s));
	s->present = true;
	StackSizes(ctx, sv, s);
	CheckDevice(ctx, sv);
	MfGetEnum(ctx, sv, "activation", Activations, MF_FFN_GELU, MF_FOLD_CASE, &e);
	s->activation = (MfFfnActivation) e;
	StackAttention(ctx, sv, s);
	StackFlags(ctx, sv, s, decoder, model_type);
}

/* model_type: given, or inferred from the stacks present. */
static MfModelType
ModelType(MfCtx *ctx, const MfView *v)
{
	bool		enc = MfViewGet(v, "encoder") != NULL;
	bool		dec = MfViewGet(v, "decoder") != NULL;
	int			def = (enc && dec) ? MF_MODEL_ENCODER_DECODER :
		(dec ? MF_MODEL_DECODER : MF_MODEL_ENCODER);
	int			e;

	MfGetEnum(ctx, v, "model_type", ModelTypes, def, MF_FOLD_CASE, &e);
	return (MfModelType) e;
}

/* Resolve and parse one stack ("encoder" or "decoder"). */
static void
ParseOneStack(MfCtx *ctx, const MfView *v, const MfView *g, MfTransformerConfig *c,
			  bool decoder)
{
	const char *key = decoder ? "decoder" : "encoder";
	bool		used = decoder ? c->model_type != MF_MODEL_ENCODER :
		c->model_type != MF_MODEL_DECODER;
	char		path[MF_PATH_LEN];
	const json_t *own = ViewObject(ctx, v, key, StackKeys, path);
	MfView		sv;

	if (!used)
	{
		if (MfViewGet(v, key) != NULL)
			MfProblem(ctx, path, "%s is not used with model_type %s; remove it or set "
					  "model_type encoder_decoder", key, ModelTypes[c->model_type]);
		return;
	}
	MfViewCopy(ctx, &sv, g);
	if (own != NULL)
	{
		MfViewAddObject(ctx, &sv, own, path);
		snprintf(sv.base, sizeof(sv.base), "%s", path);
	}
	StackParse(ctx, &sv, decoder ? &c->decoder : &c->encoder, decoder, c->model_type);
	if (decoder && c->decoder.use_cross_attention && c->encoder.present &&
		c->decoder.d_model != c->encoder.d_model)
	{
		MfViewPath(&sv, "d_model", path);
		MfProblem(ctx, path, "decoder d_model %" PRId64 " must equal encoder d_model %"
				  PRId64 " for cross-attention", c->decoder.d_model, c->encoder.d_model);
	}
	MfViewFree(&sv);
}

/* Model-level keys (vocab_size, max_length, num_classes), custom form too. */
static void
TopParse(MfCtx *ctx, const MfView *v, const CustomForm *cf, MfTransformerConfig *c)
{
	MfView		tv;
	char		path[MF_PATH_LEN];

	MfViewCopy(ctx, &tv, v);
	if (cf->embedding != NULL)
	{
		MfViewAddObject(ctx, &tv, cf->embedding, cf->emb_path);
		json_object_del(tv.vals, "embed_dim");
	}
	if (cf->classifier != NULL)
		MfViewAddObject(ctx, &tv, cf->classifier, cf->cls_path);
	MfGetInt(ctx, &tv, "vocab_size", -1, 1, 10000000, MF_NULLABLE, &c->vocab_size);
	MfGetInt(ctx, &tv, "max_length", 512, 1, 1000000, 0, &c->max_length);
	MfGetNumClasses(ctx, &tv, -1, MF_NULLABLE, &c->num_classes);
	if (c->num_classes >= 0 && c->model_type == MF_MODEL_DECODER)
	{
		MfViewPath(&tv, "num_classes", path);
		MfProblem(ctx, path, "num_classes needs an encoder (model_type encoder or encoder_decoder)");
	}
	MfViewFree(&tv);
}

/* Parse a transformer view into a MfTransformerConfig. */
static void
TransformerParse(MfCtx *ctx, const MfView *v, void *out)
{
	MfTransformerConfig *c = out;
	CustomForm	cf;
	MfView		g;
	bool		custom;

	memset(c, 0, sizeof(*c));
	MfCheckKeys(ctx, v, TopKeys, MfCommonKeys);
	custom = CustomFind(ctx, v, &cf);
	c->model_type = ModelType(ctx, v);
	TopParse(ctx, v, &cf, c);
	BuildGlobal(ctx, v, &cf, custom, &g);
	ParseOneStack(ctx, v, &g, c, false);
	ParseOneStack(ctx, v, &g, c, true);
	MfViewFree(&g);
}

/* Lower-case copy of an enum name into buf. */
static const char *
Lower(const char *s, char *buf, size_t len)
{
	size_t		i;

	for (i = 0; s[i] && i + 1 < len; i++)
		buf[i] = (s[i] >= 'A' && s[i] <= 'Z') ? s[i] + ('a' - 'A') : s[i];
	buf[i] = '\0';
	return buf;
}

/* The complete JSON object of one stack. */
static json_t *
StackToJson(MfCtx *ctx, const MfStackConfig *s, bool decoder)
{
	json_t	   *o = mf_json_object_new();
	char		buf[32];

	MfPutInt(ctx, o, "d_model", s->d_model);
	MfPutInt(ctx, o, "num_layers", s->num_layers);
	MfPutInt(ctx, o, "num_heads", s->num_heads);
	MfPutInt(ctx, o, "d_ff", s->d_ff);
	MfPut(ctx, o, "dropout", json_real(s->dropout));
	MfPutInt(ctx, o, "batch_size", s->batch_size);
	MfPut(ctx, o, "device", json_string("cpu"));
	MfPut(ctx, o, "attention_type", json_string(Lower(Attentions[s->attention_type], buf, sizeof(buf))));
	MfPut(ctx, o, "activation", json_string(Activations[s->activation]));
	MfPutNullableInt(ctx, o, "nb_features", s->nb_features);
	if (decoder)
		MfPut(ctx, o, "use_cross_attention", json_boolean(s->use_cross_attention));
	MfPut(ctx, o, "use_rezero", json_boolean(s->use_rezero));
	MfPut(ctx, o, "use_scalenorm", json_boolean(s->use_scalenorm));
	MfPutInt(ctx, o, "feature_redraw_interval", s->feature_redraw_interval);
	MfPut(ctx, o, "auto_check_redraw", json_boolean(s->auto_check_redraw));
	return o;
}

/* Validate a transformer view and write its keys into out. */
void
MfTransformerNormalize(MfCtx *ctx, const MfView *v, json_t *out)
{
	MfTransformerConfig c;

	TransformerParse(ctx, v, &c);
	MfPut(ctx, out, "model_type", json_string(ModelTypes[c.model_type]));
	if (c.encoder.present)
		MfPut(ctx, out, "encoder", StackToJson(ctx, &c.encoder, false));
	if (c.decoder.present)
		MfPut(ctx, out, "decoder", StackToJson(ctx, &c.decoder, true));
	MfPutNullableInt(ctx, out, "vocab_size", c.vocab_size);
	MfPutInt(ctx, out, "max_length", c.max_length);
	MfPutNullableInt(ctx, out, "num_classes", c.num_classes);
}

/* Typed transformer config of a normalised config. */
bool
mf_config_get_transformer(const json_t *normalized, MfTransformerConfig *out)
{
	return MfParseNormalized(normalized, MF_FAMILY_TRANSFORMER, TransformerParse, out);
}

/* Norm parameters of one norm (0 with rezero). */
static int64_t
NormSize(const MfStackConfig *s)
{
	if (s->use_rezero)
		return 0;
	return s->use_scalenorm ? 1 : 2 * s->d_model;
}

/* Trainable parameters of one stack (see the file header). */
static int64_t
StackParameters(const MfStackConfig *s, int64_t vocab, int64_t max_length)
{
	int64_t		d = s->d_model;
	int64_t		h = d * s->d_ff;
	bool		gated = s->activation >= MF_FFN_GEGLU;
	int64_t		branches = s->use_cross_attention ? 3 : 2;
	int64_t		attn = MfMulAdd(4 * d, d, 4 * d);
	int64_t		ffn = gated ? MfMulAdd(d, 2 * h, 2 * h + h * d + d) : MfMulAdd(d, h, h + h * d + d);
	int64_t		norms = s->use_rezero ? branches : branches * NormSize(s);
	int64_t		layer = attn + (s->use_cross_attention ? attn : 0) + ffn + norms;
	int64_t		total = MfMulAdd(s->num_layers, layer, NormSize(s));

	if (vocab > 0)
		total = MfMulAdd(vocab + max_length, d, total);
	return total;
}

/* Trainable parameters of a parsed transformer. */
int64_t
MfTransformerParameters(const MfTransformerConfig *c)
{
	int64_t		total = 0;

	if (c->encoder.present)
	{
		total = StackParameters(&c->encoder, c->vocab_size, c->max_length);
		if (c->num_classes > 0)
			total = MfMulAdd(c->encoder.d_model + 1, c->num_classes, total);
	}
	if (c->decoder.present)
	{
		total = MfMulAdd(1, StackParameters(&c->decoder, c->vocab_size, c->max_length), total);
		if (c->vocab_size > 0)
			total = MfMulAdd(c->decoder.d_model + 1, c->vocab_size, total);
	}
	return total;
}
