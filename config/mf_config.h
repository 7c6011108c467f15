/*
 * mf_config.h - model configs: parse, validate, normalise, count parameters.
 *
 * Pure C11 on jansson and libyaml; no PostgreSQL headers, so the same code
 * serves the extension and a standalone server.  Every json_t is allocated
 * through jansson's allocator (the extension points it at palloc).
 *
 * A config arrives in one of several forms (flat, sectioned, YAML
 * model_type, custom architecture, template) and leaves as one normalised
 * flat object with every default filled in.  Problems are collected, not
 * thrown: a JSON array of {"path": "$.a.b", "problem": "..."} objects, so a
 * caller can report all of them at once.
 */
#ifndef MF_CONFIG_H
#define MF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/*
 * The PostgreSQL server exports an SQL-callable C function named
 * json_object(), which shadows jansson's json_object() when the extension is
 * linked into a backend (the executable's symbols win).  Create objects
 * through json_pack(), whose internal call binds inside libjansson.
 */
static inline json_t *
mf_json_object_new(void)
{
	return json_pack("{}");
}

typedef enum MfFamily
{
	MF_FAMILY_UNKNOWN = 0,
	MF_FAMILY_LINEAR_REGRESSION,
	MF_FAMILY_LOGISTIC_REGRESSION,
	MF_FAMILY_MLP,
	MF_FAMILY_KMEANS,
	MF_FAMILY_TRANSFORMER
} MfFamily;

/* One built-in template: name, family, one-line description, JSON text. */
typedef struct MfTemplate
{
	const char *name;
	const char *family;
	const char *description;
	const char *config_json;
} MfTemplate;

/* One model family: name and one-line description. */
typedef struct MfFamilyInfo
{
	const char *family;
	const char *description;
} MfFamilyInfo;

/*
 * Normalise a config.  Returns a new normalised object, or NULL when there
 * were problems; every problem found is appended to 'problems' (a JSON
 * array owned by the caller).  'config' is not modified.
 */
extern json_t *mf_config_normalize(const json_t *config, json_t *problems);

/* Family of a normalised config (its "family" key). */
extern MfFamily mf_config_family(const json_t *normalized);
extern const char *mf_family_name(MfFamily family);
extern MfFamily mf_family_from_name(const char *name);

/*
 * Number of trainable parameters of a normalised config, or -1 when it
 * depends on something not yet known (n_features before training).
 */
extern int64_t mf_config_n_parameters(const json_t *normalized);

/*
 * Parse YAML text into JSON (mappings, sequences, scalars typed as YAML 1.2
 * core schema: null, bool, int, float, string).  NULL on error with a
 * message naming line and column in 'err'.
 */
extern json_t *mf_yaml_parse(const char *text, size_t len, char *err, size_t errlen);

/*
 * Canonical JSON text: keys sorted, no whitespace, reals in the shortest
 * form that reads back exactly.  Allocated with jansson's allocator.
 */
extern char *mf_json_canonical(const json_t *value);

/*
 * "Did you mean": the closest of the NULL-terminated candidates to a
 * mistyped word (at most two edits, case-insensitive), or NULL.
 */
extern const char *MfSuggest(const char *word, const char *const *candidates);

/* RFC 7386 JSON merge patch; returns a new value, inputs untouched. */
extern json_t *mf_json_merge_patch(const json_t *target, const json_t *patch);

/*
 * A config update: RFC 7386, and a transformer shorthand key in the patch
 * (model level, global_config, custom form) also clears that key from the
 * target's stacks, so normalising the result applies it where creation put
 * it (config_update.c).  A new value, inputs untouched; NULL on failure.
 */
extern json_t *mf_config_merge_patch(const json_t *target, const json_t *patch);

/* Built-in templates and families (static tables). */
extern const MfTemplate *mf_builtin_templates(int *n);
extern const MfTemplate *mf_builtin_template(const char *name);
extern const MfFamilyInfo *mf_model_families(int *n);

/*
 * Typed views of a normalised config, for trainers and predictors.  Each
 * mf_config_get_* re-validates 'normalized' (the family's own keys) and
 * returns false when it does not hold a valid config of that family.
 * An int64_t of -1 stands for JSON null ("not known yet" / "none").
 * These are the config's sections and choices (MfMlpConfig is the "mlp"
 * section, MfOptimizer the "optimizer" key, ...), named apart from the
 * kernels' structs (mf_kernels.h: MfMlpShape, MfOptKind, MfLrSchedule, ...),
 * so that a trainer includes both headers and maps one onto the other.
 */
#define MF_JSON_MAX_DEPTH 64	/* deepest nesting any config may have */
#define MF_MLP_MAX_HIDDEN_LAYERS 64	/* most hidden layers an mlp may have */

typedef enum MfLinearSolver
{
	MF_LINEAR_SOLVER_AUTO = 0,
	MF_LINEAR_SOLVER_CHOLESKY,
	MF_LINEAR_SOLVER_QR
} MfLinearSolver;

typedef struct MfLinearConfig
{
	bool		fit_intercept;
	double		alpha;			/* L2 penalty; 0 = ordinary least squares */
	MfLinearSolver solver;
	int64_t		n_features;		/* -1 until known */
} MfLinearConfig;

typedef enum MfLogisticSolver
{
	MF_LOGISTIC_SOLVER_AUTO = 0,
	MF_LOGISTIC_SOLVER_LBFGS,
	MF_LOGISTIC_SOLVER_NEWTON
} MfLogisticSolver;

typedef struct MfLogisticConfig
{
	int64_t		num_classes;	/* 2 = binary (one weight vector) */
	double		C;				/* inverse L2 strength */
	bool		fit_intercept;
	MfLogisticSolver solver;
	int64_t		max_iter;
	double		tol;
	int64_t		n_features;		/* -1 until known */
} MfLogisticConfig;

typedef enum MfMlpActivation
{
	MF_MLP_RELU = 0,
	MF_MLP_GELU,
	MF_MLP_SILU,
	MF_MLP_TANH,
	MF_MLP_SIGMOID
} MfMlpActivation;

typedef struct MfMlpConfig
{
	bool		classification; /* false = regression */
	int			n_hidden;
	int64_t		hidden_layers[MF_MLP_MAX_HIDDEN_LAYERS];
	MfMlpActivation activation;
	double		dropout;
	int64_t		num_classes;	/* classification only, else -1 */
	int64_t		n_outputs;		/* regression only, else -1 */
	int64_t		n_features;		/* -1 until known */
} MfMlpConfig;

typedef enum MfKmeansInitKind
{
	MF_KMEANS_INIT_PLUSPLUS = 0,
	MF_KMEANS_INIT_RANDOM
} MfKmeansInitKind;

typedef struct MfKmeansConfig
{
	int64_t		k;
	int64_t		max_iter;
	double		tol;
	int64_t		n_init;
	MfKmeansInitKind init;
	int64_t		n_features;		/* -1 until known */
} MfKmeansConfig;

typedef enum MfModelType
{
	MF_MODEL_ENCODER = 0,
	MF_MODEL_DECODER,
	MF_MODEL_ENCODER_DECODER
} MfModelType;

typedef enum MfAttention
{
	MF_ATTENTION_SOFTMAX = 0,
	MF_ATTENTION_LINEAR,
	MF_ATTENTION_CAUSAL_LINEAR
} MfAttention;

typedef enum MfFfnActivation
{
	MF_FFN_GELU = 0,
	MF_FFN_RELU,
	MF_FFN_SILU,
	MF_FFN_GEGLU,
	MF_FFN_REGLU,
	MF_FFN_SWIGLU
} MfFfnActivation;

/* One encoder or decoder stack. */
typedef struct MfStackConfig
{
	bool		present;
	int64_t		d_model;
	int64_t		num_layers;
	int64_t		num_heads;
	int64_t		d_ff;			/* FFN width = d_model * d_ff */
	double		dropout;
	int64_t		batch_size;
	MfAttention attention_type;
	MfFfnActivation activation;
	int64_t		nb_features;	/* -1 for softmax attention */
	bool		use_cross_attention;	/* decoder only */
	bool		use_rezero;
	bool		use_scalenorm;
	int64_t		feature_redraw_interval;
	bool		auto_check_redraw;
} MfStackConfig;

typedef struct MfTransformerConfig
{
	MfModelType model_type;
	MfStackConfig encoder;
	MfStackConfig decoder;
	int64_t		vocab_size;		/* -1 = no embeddings */
	int64_t		max_length;
	int64_t		num_classes;	/* -1 = no classifier head */
} MfTransformerConfig;

typedef enum MfOptimizer
{
	MF_OPTIMIZER_SGD = 0,
	MF_OPTIMIZER_ADAM,
	MF_OPTIMIZER_ADAMW
} MfOptimizer;

typedef enum MfLrScheduleKind
{
	MF_LR_SCHEDULE_CONSTANT = 0,
	MF_LR_SCHEDULE_STEP,
	MF_LR_SCHEDULE_COSINE
} MfLrScheduleKind;

typedef struct MfTrainingConfig
{
	MfOptimizer optimizer;
	double		learning_rate;
	int64_t		batch_size;
	int64_t		epochs;
	double		momentum;
	bool		nesterov;
	double		weight_decay;
	MfLrScheduleKind lr_schedule;
	int64_t		lr_step_size;
	double		lr_gamma;
	int64_t		seed;
	bool		early_stopping;
	double		validation_fraction;
	int64_t		patience;
} MfTrainingConfig;

extern bool mf_config_get_linear(const json_t *normalized, MfLinearConfig *out);
extern bool mf_config_get_logistic(const json_t *normalized, MfLogisticConfig *out);
extern bool mf_config_get_mlp(const json_t *normalized, MfMlpConfig *out);
extern bool mf_config_get_kmeans(const json_t *normalized, MfKmeansConfig *out);
extern bool mf_config_get_transformer(const json_t *normalized, MfTransformerConfig *out);
extern bool mf_config_get_training(const json_t *normalized, MfTrainingConfig *out);

#endif							/* MF_CONFIG_H */
