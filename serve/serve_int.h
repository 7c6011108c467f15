/*
 * serve_int.h - what the files of serve/ share among themselves: the
 * catalog's layout, the metrics and rate-limit state, the per-request
 * context of the protocol codecs, and small JSON and row helpers.  Not for
 * embedders (they use serve.h).
 */
#ifndef MF_SERVE_INT_H
#define MF_SERVE_INT_H

#include "serve.h"
#include "model.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* ------------------------------------------------------------ catalog */

/* A transformer version's text model (text.c). */
typedef struct MfServeText MfServeText;

/*
 * One loaded version (immutable once in a catalog).  A transformer version
 * has text set and no tabular model: model.meta and io only present its
 * one text input and its labels (text.c).
 */
typedef struct MfServeVersion
{
	char		semver[MF_SERVE_SEMVER_LEN];
	int64_t		number;
	int			n_labels;
	char	  **labels;
	char	   *trained_at;		/* or NULL */
	MfTrainedModel model;
	MfModelIO	io;				/* the description, from the model */
	MfServeText *text;			/* transformers, else NULL */
} MfServeVersion;

/* A bearer hash taken apart. */
typedef struct MfServeBearer
{
	unsigned char salt[16];
	unsigned char digest[32];
} MfServeBearer;

/* One served name. */
typedef struct MfServeEntry
{
	char	   *name;
	int			n_versions;
	MfServeVersion **versions;	/* ascending number */
	MfServePolicy policy;		/* bearer_hash not kept (see bearer) */
	bool		has_bearer;
	MfServeBearer bearer;
	int			default_idx;	/* the bare name's version without a split */
	int			split_idx[MF_SERVE_MAX_SPLIT];
	double		split_cum[MF_SERVE_MAX_SPLIT];	/* cumulative weights */
} MfServeEntry;

struct MfServeCatalog
{
	atomic_int	refs;
	int			n_entries;
	MfServeEntry *entries;		/* ascending name */
};

/* The entry of a name, or NULL. */
extern const MfServeEntry *mf_serve_catalog_find(const MfServeCatalog *c, const char *name);

/* The version of a number, or NULL. */
extern const MfServeVersion *mf_serve_entry_version(const MfServeEntry *e, int64_t number);

/* The highest version carrying a label, or NULL. */
extern const MfServeVersion *mf_serve_entry_label(const MfServeEntry *e, const char *label);

/* The version of a semver, or NULL. */
extern const MfServeVersion *mf_serve_entry_semver(const MfServeEntry *e, const char *semver);

/* Monotonic seconds (CLOCK_MONOTONIC). */
extern double mf_serve_now(void);

/* Print a lowercase message into err (may be NULL); returns false. */
extern bool mf_serve_fail(char *err, size_t errlen, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* True when s is a name or label we accept (1..127 of [A-Za-z0-9_.-]). */
extern bool mf_serve_name_ok(const char *s);

/* True when s is MAJOR.MINOR.PATCH (digits, no leading zeros). */
extern bool mf_serve_semver_ok(const char *s);

/* ------------------------------------------------------------ policy */

/* Parse "sha256$<salt hex>$<digest hex>" into b. */
extern bool mf_serve_bearer_parse(const char *hash, MfServeBearer *b);

/* True when token hashes to b (constant time). */
extern bool mf_serve_bearer_verify(const MfServeBearer *b, const char *token, size_t len);

typedef struct MfServeLimiter MfServeLimiter;

/* A new rate limiter (NULL when out of memory). */
extern MfServeLimiter *mf_serve_limiter_new(void);
extern void mf_serve_limiter_free(MfServeLimiter *l);

/*
 * Take one request of client under name at rpm requests per minute at time
 * now (seconds); false with *retry_after (seconds) when over the limit.
 */
extern bool mf_serve_limiter_take(MfServeLimiter *l, const char *name, const char *client,
								  int rpm, double now, int *retry_after);

/* The split's version for a uniform draw u in [0, 1). */
extern const MfServeVersion *mf_serve_split_pick(const MfServeEntry *e, double u);

/* ------------------------------------------------------------ request deadline (deadline.c) */

typedef struct MfServeDeadlineEntry MfServeDeadlineEntry;

/* Open connections and when their current request began. */
typedef struct MfServeDeadlines
{
	pthread_mutex_t lock;
	MfServeDeadlineEntry *head;
	int			n;
} MfServeDeadlines;

extern MfServeDeadlines *mf_serve_deadlines_new(void);
extern void mf_serve_deadlines_free(MfServeDeadlines *l);

/* Add socket fd, its request beginning at now; NULL when out of memory. */
extern MfServeDeadlineEntry *mf_serve_deadline_add(MfServeDeadlines *l, int fd, double now);

/* Take an entry off the list (before its socket is closed) and free it. */
extern void mf_serve_deadline_remove(MfServeDeadlines *l, MfServeDeadlineEntry *e);

/* Busy: being answered, never cut; not busy: the next request begins at now. */
extern void mf_serve_deadline_mark(MfServeDeadlines *l, MfServeDeadlineEntry *e, bool busy, double now);

/* shutdown() the sockets whose request is older than timeout; the count cut. */
extern int	mf_serve_deadlines_sweep(MfServeDeadlines *l, double now, double timeout, double *next);

extern int	mf_serve_deadlines_count(MfServeDeadlines *l);

/* ------------------------------------------------------------ metrics */

typedef struct MfServeMetrics MfServeMetrics;

extern MfServeMetrics *mf_serve_metrics_new(void);
extern void mf_serve_metrics_free(MfServeMetrics *m);

/* Count one answer of model/version ("" when none) with its latency. */
extern void mf_serve_metrics_record(MfServeMetrics *m, const char *model, const char *version,
									int status, double seconds, size_t bytes_in, size_t bytes_out);

/* The Prometheus text of m, malloc'd (NULL when out of memory). */
extern char *mf_serve_metrics_text(MfServeMetrics *m, size_t *len);

/* The same text from the totals of a table shared between processes (counters.h). */
struct MfCounters;
extern char *mf_serve_metrics_text_shared(struct MfCounters *c, size_t *len);

/* Count one answer: in the server's metrics and, when set, in its shared counters. */
extern void mf_serve_count(MfServe *s, const char *model, const char *version, int status, double seconds,
						   size_t bytes_in, size_t bytes_out);

/* ------------------------------------------------------------ server */

struct MfServe
{
	MfServeOptions opt;
	pthread_mutex_t lock;		/* guards catalog */
	MfServeCatalog *catalog;
	MfServeMetrics *metrics;
	MfServeLimiter *limiter;
	struct MfCounters *counters;	/* shared counters too, or NULL (counters.h) */
	atomic_uint_fast64_t draws; /* traffic split sequence */
	atomic_uint_fast64_t requests;	/* request ids made here (predlog.c) */
};

/* ------------------------------------------------------------ one call */

/* What the protocol codecs share while answering one request. */
typedef struct MfServeCall
{
	MfServe    *srv;
	const MfServeCatalog *cat;
	const MfServeRequest *req;
	MfServeResponse *resp;
	double		now;
} MfServeCall;

/* How a URL names the version. */
typedef enum MfServeSelKind
{
	MF_SEL_DEFAULT = 0,			/* bare name: split or default */
	MF_SEL_NUMBER,
	MF_SEL_LABEL,
	MF_SEL_SEMVER				/* OIP: semver, or a number in digits */
} MfServeSelKind;

/* A model named by a URL. */
typedef struct MfServeTarget
{
	const char *name;
	MfServeSelKind kind;
	const char *sel;			/* the label, number or semver text */
	const MfServeEntry *entry;
	const MfServeVersion *version;
} MfServeTarget;

/*
 * Find the entry and version of t, checking auth and the rate limit;
 * false when an error answer was set (404, 401, 429).
 */
extern bool mf_serve_resolve(MfServeCall *c, MfServeTarget *t, bool count_rate);

/* Set an error answer {"error": msg} with status. */
extern void mf_serve_error(MfServeCall *c, int status, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* Set a JSON answer (steals o; a NULL o is out of memory: 500). */
extern void mf_serve_json(MfServeCall *c, int status, json_t *o);

/* Set an empty answer with status. */
extern void mf_serve_empty(MfServeCall *c, int status);

/* Record which version answered (X-Model-Version). */
extern void mf_serve_answered_by(MfServeCall *c, const MfServeEntry *e, const MfServeVersion *v);

/* True when the request's method is allowed (HEAD for GET); else a 405. */
extern bool mf_serve_method_ok(MfServeCall *c, const char *allowed);

/* Parse a request body as JSON within the bounds; NULL after an error answer. */
extern json_t *mf_serve_parse_body(MfServeCall *c);

/* The row limit of an entry. */
extern int	mf_serve_max_batch(const MfServeCall *c, const MfServeEntry *e);

/* A new empty JSON object (not json_object(): PostgreSQL exports that name). */
static inline json_t *
mf_serve_object(void)
{
	return json_pack("{}");
}

/* ------------------------------------------------------------ rows (rows.c) */

/* Scored rows of one request. */
typedef struct MfServeRows
{
	const MfServeVersion *v;
	size_t		n;
	double	   *X;				/* n x p, encoded, unscaled */
	double	   *values;			/* n */
	int		   *index;			/* n */
	double	   *proba;			/* n x n_labels, classifiers */
	json_t	  **texts;			/* n: text versions, each row's string (a reference) */
	float	   *emb;			/* n x emb_dim: embeddings (text.c) when asked, else NULL */
	size_t		emb_dim;
	bool		embed_only;		/* embeddings only: no values, labels or probabilities */
} MfServeRows;

/* The JSON value of row r, column col of some input; NULL = missing. */
typedef json_t *(*MfServeCellFn) (void *ctx, size_t r, int col);

/* Allocate rows for n rows of v; false when out of memory. */
extern bool mf_serve_rows_init(MfServeRows *rows, const MfServeVersion *v, size_t n);

/*
 * Ask the rows of a text encoder (mf_serve_text_encoder_dim > 0) for
 * embeddings too, or alone when only; false when out of memory.
 */
extern bool mf_serve_rows_embed(MfServeRows *rows, bool only);
extern void mf_serve_rows_free(MfServeRows *rows);

/*
 * Encode row r from raw values given per schema column by get (numbers,
 * booleans, texts, {"b64": ...}, null); false with msg set when refused.
 */
extern bool mf_serve_encode_cells(MfServeRows *rows, size_t r, MfServeCellFn get, void *ctx,
								  char *msg, size_t msglen);

/* Encode row r from a JSON object of named raw features. */
extern bool mf_serve_encode_object(MfServeRows *rows, size_t r, json_t *obj,
								   char *msg, size_t msglen);

/*
 * Encode row r from a JSON list: ncols raw values in schema order, or p
 * numbers (the expanded features of mf_predict(ref, float8[])).
 */
extern bool mf_serve_encode_list(MfServeRows *rows, size_t r, json_t *list,
								 char *msg, size_t msglen);

/* Score every row; false with msg set when a row is refused. */
extern bool mf_serve_rows_score(MfServeRows *rows, char *msg, size_t msglen);

/* Row r's probabilities as a JSON list into b (json_out.c's buffer). */
typedef struct MfServeBuf MfServeBuf;
extern void mf_serve_buf_proba(MfServeBuf *b, const MfServeRows *rows, size_t r);

/* The label of row r (classifiers), else NULL. */
extern const char *mf_serve_label(const MfServeRows *rows, size_t r);

/* True when the version is a classifier. */
extern bool mf_serve_is_classifier(const MfServeVersion *v);

/* ------------------------------------------------------------ text versions (text.c) */

/* True when artifact bytes hold a transformer model. */
extern bool mf_serve_text_is(const void *bytes, size_t len);

/* Open a transformer artifact into v (bytes copied); false with err (free v as usual). */
extern bool mf_serve_text_open(MfServeVersion *v, const void *bytes, size_t len, char *err, size_t errlen);

/* Free a version's text model (NULL: nothing). */
extern void mf_serve_text_free(MfServeText *t);

/* Keep the JSON string of row r of a text version; false with msg. */
extern bool mf_serve_text_cell(MfServeRows *rows, size_t r, json_t *v, char *msg, size_t msglen);

/* Score every row of a text version; false with msg. */
extern bool mf_serve_text_score(MfServeRows *rows, char *msg, size_t msglen);

/* True when a version generates text (decoders, encoder-decoders). */
extern bool mf_serve_text_generates(const MfServeVersion *v);

/* The dimension of an embedding version's vectors (d_model), else 0. */
extern size_t mf_serve_text_embed_dim(const MfServeVersion *v);

/*
 * The dimension of the vectors any text encoder embeds into (classifiers
 * and embedding versions: what mf_embed answers), else 0.
 */
extern size_t mf_serve_text_encoder_dim(const MfServeVersion *v);

/* Row r's embedding as a JSON list of floats into b. */
extern void mf_serve_buf_embedding(MfServeBuf *b, const MfServeRows *rows, size_t r);

/*
 * Generate from the prompt of every row (kept by mf_serve_text_cell) with
 * the options of params (mf_generate's; may be NULL): out[r] malloc'd;
 * false with msg (out[] so far still to free).
 */
extern bool mf_serve_text_generate(const MfServeRows *rows, json_t *params, char **out,
								   char *msg, size_t msglen);

/* The model's description as JSON (any version). */
extern json_t *mf_serve_describe_json(const MfServeVersion *v);

/* The OIP metadata properties of a text version. */
extern json_t *mf_serve_text_properties(const MfServeVersion *v);

/* ------------------------------------------------------------ answers written directly (json_out.c) */

/* Bytes of a printed double, NUL included. */
#define MF_SERVE_DTOA_LEN 32

/* Print a finite double with the fewest digits that read back as the same
 * double (always with '.' or an exponent: a JSON real); the length. */
extern size_t mf_serve_dtoa(double v, char *out);

/* The same for a float: the fewest digits that read back as the same float. */
extern size_t mf_serve_ftoa(float v, char *out);

/* A growing answer text (zero-initialised; failed after out of memory or bad UTF-8). */
struct MfServeBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		failed;
};

extern void mf_serve_buf_raw(MfServeBuf *b, const char *s, size_t n);

/* Append a NUL-terminated text as is (inline: the length of a literal is folded). */
static inline void
mf_serve_buf_text(MfServeBuf *b, const char *s)
{
	mf_serve_buf_raw(b, s, strlen(s));
}

extern void mf_serve_buf_real(MfServeBuf *b, double v);
extern void mf_serve_buf_float(MfServeBuf *b, float v);
/* n floats separated by commas (no brackets). */
extern void mf_serve_buf_floats(MfServeBuf *b, const float *v, size_t n);
extern void mf_serve_buf_int(MfServeBuf *b, long long v);
extern void mf_serve_buf_str(MfServeBuf *b, const char *s);

/* Set the buffer as a JSON answer (taking its memory); 500 when it failed. */
extern void mf_serve_json_buf(MfServeCall *c, int status, MfServeBuf *b);

/* ------------------------------------------------------------ codecs */

/* Answer a /v1/... request (TensorFlow Serving REST). */
extern void mf_serve_tfs(MfServeCall *c, const char *rest);

/* Answer a /v2... request (Open Inference Protocol v2). */
extern void mf_serve_oip(MfServeCall *c, const char *rest);

/* Answer /predict and /batch_predict (the generated one-model API). */
extern void mf_serve_generated(MfServeCall *c, bool batch);

/* ------------------------------------------------------------ numeric bodies without a JSON tree (numbody.c) */

/*
 * The scored rows of a TF :predict body of numbers (rows of lists, objects
 * of the named columns, columnar inputs); *columnar: the rows came as
 * "inputs".  False, with nothing answered and rows empty, for any other
 * body or any refusal: the JSON path then answers.
 */
extern bool mf_serve_fast_tfs(MfServeCall *c, const MfServeTarget *t, MfServeRows *rows, bool *columnar);

/* The scored rows of an OIP infer body of one FP64/FP32/INT64 tensor [n, p];
 * *id the request's id (or NULL); false as above. */
extern bool mf_serve_fast_oip(MfServeCall *c, const MfServeTarget *t, MfServeRows *rows, json_t **id);

/* ------------------------------------------------------------ prediction log (predlog.c) */

/*
 * Log the scored rows of one request when the entry's policy asks for it:
 * rows_json is the request's list of rows (objects carry the id member),
 * columns_json its columnar inputs: an object of arrays (either may be
 * NULL); body_id the request id the body carries (OIP "id"), or NULL.
 */
extern void mf_serve_log_rows(MfServeCall *c, const MfServeEntry *e, const MfServeRows *rows,
							  json_t *rows_json, json_t *columns_json, const char *body_id);

#endif							/* MF_SERVE_INT_H */
