/*
 * registry.h - an OCI distribution client (pure C11 on libcurl, jansson and
 * libcrypto; no PostgreSQL headers).
 *
 * Design note
 * -----------
 * One MfRegistry is one registry (a base URL such as https://x.azurecr.io
 * or http://127.0.0.1:5000) with its credentials; it owns one curl handle,
 * so requests reuse connections, and a small cache of bearer tokens.  Two
 * operations:
 *   mf_registry_push_layout()  an OCI image layout directory (oci-layout,
 *       index.json, blobs/sha256/...) -> <repository>:<tag>.  For each blob
 *       (config, then layers): HEAD; if absent, a cross-repository mount
 *       when the caller names a repository of the same registry that holds
 *       it (mount_from), else an upload (POST, then one PUT ?digest= for a
 *       small blob, or PATCHes of chunk_bytes then the PUT).  The manifest is
 *       PUT last, by tag, with its own media type: a failure at any step
 *       leaves no manifest, so no tag ever names a partial image.
 *   mf_registry_copy()  an image by digest from one registry/repository to
 *       another (blobs, then the manifest, byte for byte: the digest stays).
 *       Within one registry blobs are mounted; across registries each blob
 *       is streamed into an unlinked temporary file, checked against its
 *       digest, and uploaded.
 * Auth follows the registry's challenges: a request goes out anonymous (or
 * with what worked before); a 401 with `WWW-Authenticate: Basic` is
 * answered with username/password, one with `Bearer realm=,service=,scope=`
 * by a token from the realm (registry_auth.c: GET with Basic credentials as
 * the docker token spec; with refresh_token, or a username of all zeros,
 * the ACR exchange POST grant_type=refresh_token; a password grant POST when
 * the GET form is refused).  Tokens are cached per scope until expires_in.
 * Retries: connection errors, 429 and 5xx are retried with exponential
 * backoff (Retry-After honoured, capped); an upload whose session the
 * registry forgot (a restart) starts over once.
 * Limits: every blob at most max_blob_bytes (1 GiB by default), manifests
 * and token replies at most 4 MiB.
 * Cancel: the cancelled() callback is polled during transfers (libcurl's
 * progress callback) and between requests and backoff sleeps; it must not
 * longjmp: a caller inside PostgreSQL returns true when an interrupt is
 * pending, then calls CHECK_FOR_INTERRUPTS() after the client returned.
 * Errors name the registry, the operation, the HTTP status and the
 * registry's error code; every message is scrubbed of the configured
 * secrets (and of their Basic encoding) before it is returned, and URLs in
 * messages lose their query strings.  Nothing here logs.
 * Memory: malloc/free only; nothing is left allocated after close, on
 * success or error.  Not thread-safe per handle; curl_global_init() is the
 * caller's (a worker's main) or happens on the first mf_registry_open().
 */
#ifndef MF_REGISTRY_H
#define MF_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default limit of one blob (a layer): 1 GiB. */
#define MF_REGISTRY_MAX_BLOB_BYTES ((uint64_t) 1 << 30)
/* Default size of one PATCH of a chunked upload, and the threshold for it. */
#define MF_REGISTRY_CHUNK_BYTES ((size_t) 32 << 20)
/* Largest manifest or token reply accepted. */
#define MF_REGISTRY_MAX_DOC_BYTES ((size_t) 4 << 20)
/* "sha256:" + 64 hex + NUL */
#define MF_REGISTRY_DIGEST_LEN 72

/* What went wrong, by kind (the caller maps it to an SQLSTATE). */
typedef enum MfRegistryStatus
{
	MF_REGISTRY_OK = 0,
	MF_REGISTRY_BAD_ARG,		/* an invalid URL, repository, tag or digest */
	MF_REGISTRY_BAD_LAYOUT,		/* the layout directory is missing or invalid */
	MF_REGISTRY_TOO_LARGE,		/* a blob exceeds max_blob_bytes */
	MF_REGISTRY_AUTH,			/* credentials missing or refused (401/403) */
	MF_REGISTRY_NOT_FOUND,		/* the source manifest or blob does not exist */
	MF_REGISTRY_HTTP,			/* the registry refused a request (another 4xx) */
	MF_REGISTRY_UNAVAILABLE,	/* connection errors, 429 or 5xx after every retry */
	MF_REGISTRY_PROTOCOL,		/* an answer that breaks the protocol or a digest mismatch */
	MF_REGISTRY_CANCELLED,		/* cancelled() returned true */
	MF_REGISTRY_NOMEM,			/* out of memory, or a local I/O error */
} MfRegistryStatus;

/* The outcome of an operation, in words (never a secret). */
typedef struct MfRegistryError
{
	MfRegistryStatus status;
	long		http_status;	/* the last HTTP status, 0 if none */
	char		code[64];		/* the registry's error code (e.g. UNAUTHORIZED, DENIED), or "" */
	char		message[768];	/* lowercase, no trailing period */
} MfRegistryError;

/* Progress of a blob transfer (what: "upload", "mount", "exists", "download", "manifest"). */
typedef void (*MfRegistryProgress) (void *arg, const char *what, const char *digest,
									uint64_t done, uint64_t total);

/* Where and how to reach one registry. */
typedef struct MfRegistryConfig
{
	const char *url;			/* https://host[:port] (http:// only with insecure) */
	bool		insecure;		/* allow plain http and skip TLS verification */
	const char *username;		/* Basic auth / token GET / password grant */
	const char *password;
	const char *refresh_token;	/* ACR: exchanged at the realm (/oauth2/token) */
	bool		bearer_only;	/* credentials go to the token realm only, never as Basic to the registry */
	uint64_t	max_blob_bytes; /* 0: MF_REGISTRY_MAX_BLOB_BYTES */
	size_t		chunk_bytes;	/* 0: MF_REGISTRY_CHUNK_BYTES */
	int			max_retries;	/* retries of one request; <0: none, 0: default 4 */
	long		connect_timeout_ms; /* 0: 10000 */
	long		backoff_ms;		/* first backoff; 0: 250 (doubles, at most 8 s) */
	bool		(*cancelled) (void *arg);	/* polled; true stops the operation */
	void	   *cancel_arg;
	MfRegistryProgress progress;	/* optional */
	void	   *progress_arg;
} MfRegistryConfig;

typedef struct MfRegistry MfRegistry;

/* A client for one registry (the config's strings are copied); NULL and err on failure. */
extern MfRegistry *mf_registry_open(const MfRegistryConfig *config, MfRegistryError *err);

/* Free a client (NULL is fine). */
extern void mf_registry_close(MfRegistry *reg);

/*
 * Push the image of an OCI layout directory to repository:tag; the
 * manifest is the one index.json tags `tag` (annotation
 * org.opencontainers.image.ref.name) or its only one.  mount_from (NULL or
 * a repository of this registry) is tried for blobs the target lacks.
 * On success digest holds the manifest digest "sha256:<hex>".
 */
extern MfRegistryStatus mf_registry_push_layout(MfRegistry *reg, const char *layout_dir,
												const char *repository, const char *tag,
												const char *mount_from,
												char digest[MF_REGISTRY_DIGEST_LEN],
												MfRegistryError *err);

/*
 * Copy the image src/src_repository@digest to dst/dst_repository, tagged
 * dst_tag (NULL: by digest only).  src == dst, or two clients of the same
 * base URL, mount blobs instead of copying them.
 */
extern MfRegistryStatus mf_registry_copy(MfRegistry *src, const char *src_repository, const char *digest,
										 MfRegistry *dst, const char *dst_repository, const char *dst_tag,
										 MfRegistryError *err);

/* Whether a manifest exists: 1 yes, 0 no, -1 error (in err). */
extern int	mf_registry_manifest_exists(MfRegistry *reg, const char *repository, const char *reference,
										MfRegistryError *err);

/* Checks of names (distribution spec grammar); true when valid. */
extern bool mf_registry_valid_repository(const char *repository);
extern bool mf_registry_valid_tag(const char *tag);
extern bool mf_registry_valid_digest(const char *digest);
/* Check a base URL: scheme, host, port, no user info, path, query or fragment; NULL when valid. */
extern const char *mf_registry_url_problem(const char *url, bool insecure);

/* ---- parts exposed for the unit tests (registry_auth.c) ---- */

/* One parsed WWW-Authenticate challenge. */
typedef struct MfRegistryChallenge
{
	char		scheme[16];		/* "Bearer" or "Basic" (as sent) */
	char	   *realm;			/* malloc'd or NULL */
	char	   *service;
	char	   *scope;
} MfRegistryChallenge;

/*
 * Parse a WWW-Authenticate value (quoted strings may hold commas and
 * escaped quotes); the first Bearer challenge wins over Basic.  Returns
 * false when none is understood.  Free with mf_registry_challenge_free().
 */
extern bool mf_registry_parse_challenge(const char *value, MfRegistryChallenge *out);
extern void mf_registry_challenge_free(MfRegistryChallenge *c);

/* A token reply: token or access_token, expires_in (default 60 s); false if neither. */
extern bool mf_registry_parse_token_reply(const char *body, size_t len, char **token, long *expires_in);

/* The first {"errors":[{"code","message"}]} of an error body, into code/message (may be empty). */
extern void mf_registry_parse_error_body(const char *body, size_t len, char *code, size_t code_size,
										 char *message, size_t message_size);

/* An upload Location resolved against base (absolute or path), with digest appended; malloc'd. */
extern char *mf_registry_upload_url(const char *base, const char *location, const char *digest);

/* Replace every occurrence of secret in buf by "***" (in place, buf NUL-terminated). */
extern void mf_registry_scrub(char *buf, size_t size, const char *secret);

#endif							/* MF_REGISTRY_H */
