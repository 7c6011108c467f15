/*
 * serve.h - the HTTP serving core of mf_ext: a snapshot of served models,
 * a socket-free request handler speaking TensorFlow Serving REST, the Open
 * Inference Protocol v2 and the generated one-model API, and the
 * libmicrohttpd glue that puts it on a port.
 *
 * Pure C11 (+ libmicrohttpd, jansson, OpenSSL libcrypto and the model
 * module kernels/model.h); includes no PostgreSQL header.  Two homes use
 * it: the standalone server mf-serve (serve/mf_serve.c: threads, a model
 * directory) and the HTTP background worker of the extension (no threads,
 * libmicrohttpd on the worker's main thread beside its latch).
 *
 * Design note
 * -----------
 * Snapshot.  What is served is one immutable, reference-counted
 * MfServeCatalog: served names, each with its versions (an MfTrainedModel
 * opened from a private copy of the artifact bytes, the semver, the
 * TF-Serving integer number, the labels = stage and aliases) and its
 * policy (bearer-token hash, requests per minute, traffic split, max
 * batch).  An embedder builds a new catalog with an MfServeCatalogBuilder,
 * from plain in-memory fields (mf_serve_builder_add_version: artifact bytes
 * plus metadata; the PostgreSQL worker reads them from its catalog tables)
 * or from a served model directory (mf_serve_model_dir_load), and installs
 * it with mf_serve_set_catalog.  The swap is one pointer exchange under a
 * mutex; a request takes a reference to the catalog it started with and
 * keeps it to the end, so no request ever sees a half-loaded model and an
 * old catalog is freed by whoever drops its last reference.
 *
 * Which version answers.  A URL may name a version (TF: integer number;
 * OIP: semver, or the number) or a label (TF /labels/{l}).  A bare name
 * means the policy's traffic split when it has one (a weighted draw per
 * request), else the policy's default number, else the version labelled
 * "production" (the highest such), else the highest number.  Every answer
 * that a version produced carries X-Model-Version (its semver) and
 * X-Model-Version-Number; OIP bodies also say model_version.
 *
 * Handler.  mf_serve_handle() is a function of (catalog, request) ->
 * response plus two state objects owned by the MfServe: the metrics
 * (counters per model, version and status code, a latency histogram) and
 * the rate limiter (a token bucket per served name and client).  Both are
 * behind mutexes, so the handler may run on many threads at once (the
 * scoring buffers are per request).  It never touches a socket: the unit
 * tests call it directly, and both homes call it from their MHD callback.
 *
 * Bounds.  Bodies are limited in size by the daemon (413), then checked
 * before parsing for nesting depth (MF_SERVE_MAX_DEPTH) and string length
 * (MF_SERVE_MAX_STRING), parsed by jansson (which refuses NaN, Infinity,
 * overflowing numbers, NUL in strings and, with our flag, duplicate keys),
 * and limited in rows (the policy's max_batch).  Every refusal is the
 * protocol's error object {"error": "..."} with its status code.
 *
 * Numbers.  Predictions come from mf_trained_model_score (the per-row
 * path of mf_predict) and are printed with the fewest digits that read
 * back as the same double (json_out.c; every printed double is checked by
 * the unit tests against strtod), so a client parsing them gets the
 * database's doubles bit for bit.  The scoring answers are written
 * straight into one buffer, without a JSON tree per row.
 */
#ifndef MF_SERVE_H
#define MF_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MF_SERVE_SERVER_NAME		"mf-serve"
#define MF_SERVE_SERVER_VERSION		"0.3.0"
#define MF_SERVE_DEFAULT_MAX_BODY	(1024 * 1024)	/* bytes of one request body */
#define MF_SERVE_DEFAULT_MAX_BATCH	10000	/* rows of one request */
#define MF_SERVE_DEFAULT_MAX_CONNECTIONS 512
#define MF_SERVE_DEFAULT_TIMEOUT	10	/* seconds a connection may idle */
#define MF_SERVE_MAX_DEPTH			32	/* nesting of a JSON body */
#define MF_SERVE_MAX_STRING			65536	/* bytes of one JSON string */
#define MF_SERVE_MAX_LABELS			32	/* labels of one version */
#define MF_SERVE_MAX_SPLIT			16	/* versions of one traffic split */
#define MF_SERVE_NAME_LEN			128 /* served names, labels: bytes + NUL */
#define MF_SERVE_SEMVER_LEN			64
#define MF_SERVE_PROBE_HEADER		"X-Mf-Probe"	/* a monitor's request, not logged (predlog.c) */
#define MF_SERVE_PROBE_TOKEN_LEN	32	/* hex characters of a probe token */

/* ------------------------------------------------------------ snapshot */

/* One version as an embedder hands it over (every field is copied). */
typedef struct MfServeVersionSpec
{
	const char *semver;			/* "1.2.0" */
	int64_t		number;			/* TF-Serving integer version, >= 1 */
	const char *const *labels;	/* stage and aliases, n_labels of them */
	int			n_labels;
	const char *trained_at;		/* ISO 8601, or NULL */
	const void *artifact;		/* the bytes of mf.artifacts.bytes */
	size_t		artifact_len;
} MfServeVersionSpec;

/* One version of a traffic split and its weight (> 0). */
typedef struct MfServeSplit
{
	int64_t		number;
	double		weight;
} MfServeSplit;

/* What a served name requires and allows (all zero: no limits). */
typedef struct MfServePolicy
{
	const char *bearer_hash;	/* "sha256$<salt hex 32>$<hex 64>", or NULL */
	int			requests_per_minute;	/* per client; 0 = unlimited */
	int			max_batch;		/* rows per request; 0 = the default */
	int64_t		default_number; /* the bare name's version; 0 = the rule */
	int			n_split;		/* 0 = no split */
	MfServeSplit split[MF_SERVE_MAX_SPLIT];
	/* prediction log (predlog.c): each scored row to the options' sink */
	bool		log_predictions;
	int64_t		deployment_id;	/* written into each logged row */
	char		log_id_field[MF_SERVE_NAME_LEN];	/* the row object's id member */
} MfServePolicy;

typedef struct MfServeCatalog MfServeCatalog;
typedef struct MfServeCatalogBuilder MfServeCatalogBuilder;

/* A new, empty builder (NULL when out of memory). */
extern MfServeCatalogBuilder *mf_serve_builder_new(void);

/*
 * Add a version of served name `name`: the artifact is copied and opened
 * through the model module, every field is checked.  False with a
 * lowercase message in err when refused (the builder stays usable).
 */
extern bool mf_serve_builder_add_version(MfServeCatalogBuilder *b, const char *name,
										 const MfServeVersionSpec *v,
										 char *err, size_t errlen);

/* Set the policy of served name `name` (copied; checked at finish). */
extern bool mf_serve_builder_set_policy(MfServeCatalogBuilder *b, const char *name,
										const MfServePolicy *p, char *err, size_t errlen);

/*
 * Freeze the builder into a catalog with one reference (the builder is
 * consumed either way).  NULL with err set when a policy names a version
 * its name lacks, or a bearer hash is malformed.
 */
extern MfServeCatalog *mf_serve_builder_finish(MfServeCatalogBuilder *b,
											   char *err, size_t errlen);

/* Free a builder that will not be finished. */
extern void mf_serve_builder_discard(MfServeCatalogBuilder *b);

/* Take one more reference to a catalog (thread-safe). */
extern MfServeCatalog *mf_serve_catalog_ref(MfServeCatalog *c);

/* Drop a reference; the last one frees the catalog and its models. */
extern void mf_serve_catalog_unref(MfServeCatalog *c);

/* Served names in a catalog. */
extern int	mf_serve_catalog_size(const MfServeCatalog *c);

/* Versions in a catalog, all names together. */
extern int	mf_serve_catalog_versions(const MfServeCatalog *c);

/* ------------------------------------------------------------ model directory */

/* Called with one lowercase line per version directory that was skipped. */
typedef void (*MfServeWarnFn) (void *arg, const char *msg);

/*
 * Build a catalog from a served model directory (TF-Serving layout:
 * base/<name>/<n>/{model.mfa, serving.json}).  serving.json is checked
 * (format, version, version_number = <n>, family, labels, artifact name,
 * artifact_sha256 against the file); a bad version directory is skipped
 * with a warning, a missing or unreadable base is an error (NULL, err).
 * Every name gets policy *defaults (may be NULL).
 */
extern MfServeCatalog *mf_serve_model_dir_load(const char *base,
											   const MfServePolicy *defaults,
											   MfServeWarnFn warn, void *warn_arg,
											   char *err, size_t errlen);

/*
 * A malloc'd text that changes whenever a file of the layout changes
 * (names, sizes, modification times); NULL when base cannot be read.
 */
extern char *mf_serve_model_dir_fingerprint(const char *base);

/* ------------------------------------------------------------ server state and handler */

typedef struct MfServe MfServe;

/*
 * Where logged predictions go: the JSON lines of one request's rows (one
 * object per line, see predlog.c), handed over in one call after its answer
 * is made; the sink must not block (the in-database server appends them to
 * a file of its serving process).
 */
typedef void (*MfServeLogSink) (void *arg, const char *lines, size_t len);

/* Options of a server (zero: defaults). */
typedef struct MfServeOptions
{
	int			default_max_batch;	/* 0 = MF_SERVE_DEFAULT_MAX_BATCH */
	size_t		max_body;		/* 0 = MF_SERVE_DEFAULT_MAX_BODY (for messages) */
	bool		no_generated_api;	/* true: no /predict, /batch_predict */
	MfServeLogSink log_sink;	/* NULL: predictions are not logged */
	void	   *log_arg;
	/* a request whose MF_SERVE_PROBE_HEADER equals this token is not logged; "" = none */
	char		probe_token[MF_SERVE_PROBE_TOKEN_LEN + 1];
} MfServeOptions;

/* A request as the handler sees it (the daemon fills it). */
typedef struct MfServeRequest
{
	const char *method;			/* "GET", "POST", ... */
	const char *path;			/* decoded path, without the query */
	const char *authorization;	/* the Authorization header, or NULL */
	const char *client;			/* the peer's address text, or NULL */
	const char *body;			/* body_len bytes (need not end in NUL) */
	size_t		body_len;
	bool		body_too_large; /* the daemon stopped reading: 413 */
	double		now;			/* monotonic seconds; 0 = read the clock */
	const char *request_id;		/* the X-Request-Id header, or NULL */
	const char *probe;			/* the MF_SERVE_PROBE_HEADER header, or NULL (last: positional initialisers) */
} MfServeRequest;

/* An answer (body malloc'd; free with mf_serve_response_free). */
typedef struct MfServeResponse
{
	int			status;
	char	   *body;
	size_t		body_len;
	const char *content_type;	/* static text */
	char		model_name[MF_SERVE_NAME_LEN];	/* "" when no model answered */
	char		model_version[MF_SERVE_SEMVER_LEN]; /* semver, or "" */
	int64_t		version_number; /* 0 when none */
	int			retry_after;	/* seconds; 0 = no Retry-After */
	bool		www_authenticate;	/* add WWW-Authenticate: Bearer */
	const char *allow;			/* methods of a 405, or NULL */
} MfServeResponse;

/* A new server state without a catalog (NULL when out of memory). */
extern MfServe *mf_serve_new(const MfServeOptions *opt);

/* Free a server state (no request may be running). */
extern void mf_serve_free(MfServe *s);

/* Install a catalog (the server takes over the caller's reference; NULL
 * uninstalls); the previous one is released once its requests finish. */
extern void mf_serve_set_catalog(MfServe *s, MfServeCatalog *c);

/* A reference to the installed catalog, or NULL (drop it with _unref). */
extern MfServeCatalog *mf_serve_get_catalog(MfServe *s);

/* Answer one request (never fails: out of memory is a 500 without body). */
extern void mf_serve_handle(MfServe *s, const MfServeRequest *req, MfServeResponse *resp);

/* Free a response's body. */
extern void mf_serve_response_free(MfServeResponse *resp);

/* Also count every answer in a table shared between processes (counters.h);
 * NULL stops.  Set before requests run. */
struct MfCounters;
extern void mf_serve_set_counters(MfServe *s, struct MfCounters *c);

/* The Prometheus text (0.0.4) of the server's metrics; malloc'd. */
extern char *mf_serve_metrics_render(MfServe *s, size_t *len);

/* ------------------------------------------------------------ bearer tokens */

/* Length of a stored token hash including the NUL. */
#define MF_SERVE_BEARER_HASH_LEN (7 + 32 + 1 + 64 + 1)

/* Hash a token with a fresh random salt into out (the stored format). */
extern bool mf_serve_bearer_hash(const char *token, size_t len, char *out, size_t outlen);

/* True when token matches a stored hash (constant time in the token). */
extern bool mf_serve_bearer_check(const char *hash, const char *token, size_t len);

/* ------------------------------------------------------------ daemon */

/* How the daemon runs. */
typedef enum MfServeDaemonMode
{
	MF_SERVE_THREADED = 0,		/* a libmicrohttpd thread pool with epoll */
	MF_SERVE_EXTERNAL			/* no threads: the caller's loop drives it */
} MfServeDaemonMode;

/* Options of a daemon (zero: defaults). */
typedef struct MfServeDaemonOptions
{
	MfServeDaemonMode mode;
	const char *host;			/* address to bind; NULL = all (IPv4) */
	int			port;			/* 0 = any free port (see _port) */
	int			listen_fd;		/* >= 0: an already bound socket; else -1 */
	int			threads;		/* THREADED: pool size; 0 = number of cores */
	size_t		max_body;		/* 0 = MF_SERVE_DEFAULT_MAX_BODY */
	int			max_connections;	/* beyond: 503; 0 = the default */
	int			timeout_seconds;	/* idle timeout, and the deadline for receiving
									 * a whole request (headers and body); 0 =
									 * default */
	bool		reuse_port;		/* SO_REUSEPORT (processes sharing a port) */
	bool		log_requests;	/* one line per request to log (or stderr) */
	void		(*log) (void *arg, const char *line);
	void	   *log_arg;
} MfServeDaemonOptions;

typedef struct MfServeDaemon MfServeDaemon;

/* Start listening; NULL with err set on failure. */
extern MfServeDaemon *mf_serve_daemon_start(MfServe *s, const MfServeDaemonOptions *opt,
											char *err, size_t errlen);

/* The port the daemon listens on. */
extern int	mf_serve_daemon_port(const MfServeDaemon *d);

/*
 * EXTERNAL: the fd to wait on (readable = call _run); -1 on error.  It is
 * MHD's own epoll fd: poll() it or add it to a WaitEventSet as a socket
 * (WL_SOCKET_READABLE); never epoll_wait() on it directly.
 */
extern int	mf_serve_daemon_epoll_fd(const MfServeDaemon *d);

/* EXTERNAL: milliseconds until _run must be called anyway; -1 = no timer. */
extern long mf_serve_daemon_timeout_ms(MfServeDaemon *d);

/* EXTERNAL: do all pending work without blocking; false on a fatal error. */
extern bool mf_serve_daemon_run(MfServeDaemon *d);

/* Stop accepting new connections (requests in flight continue). */
extern void mf_serve_daemon_quiesce(MfServeDaemon *d);

/* Requests received and not yet completed. */
extern unsigned mf_serve_daemon_in_flight(const MfServeDaemon *d);

/* Close every connection and free the daemon. */
extern void mf_serve_daemon_stop(MfServeDaemon *d);

#endif							/* MF_SERVE_H */
