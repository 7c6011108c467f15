/*
 * registry_internal.h - what the files of the registry client share
 * (registry_http.c: requests, retries and auth; registry_auth.c: challenges,
 * tokens and scrubbing; registry_push.c: layouts, blobs and manifests).
 * Not for callers: they use registry.h.
 */
#ifndef MF_REGISTRY_INTERNAL_H
#define MF_REGISTRY_INTERNAL_H

#include <stdio.h>
#include <time.h>

#include <curl/curl.h>

#include "registry.h"

#define MF_REG_TOKENS 8

/* A bearer token for one scope key. */
typedef struct MfRegToken
{
	char	   *scope;			/* our key: the scope we asked for */
	char	   *token;
	time_t		expires;
} MfRegToken;

/* How requests authenticate once the registry said so. */
typedef enum MfRegAuthMode
{
	MF_REG_AUTH_NONE = 0,		/* anonymous so far */
	MF_REG_AUTH_BASIC,
	MF_REG_AUTH_BEARER
} MfRegAuthMode;

struct MfRegistry
{
	MfRegistryConfig cfg;		/* strings below are our copies */
	char	   *base;			/* the URL without a trailing slash */
	char	   *origin;			/* scheme://host[:port], lowercased */
	CURL	   *curl;
	MfRegAuthMode mode;
	char	   *basic;			/* "Basic <base64>" or NULL */
	char	   *basic_b64;		/* its base64 part: scrubbed from messages */
	MfRegistryChallenge challenge;	/* the last bearer challenge (realm, service) */
	MfRegToken	tokens[MF_REG_TOKENS];
	int			next_token;
};

/* One request. */
typedef struct MfRegRequest
{
	const char *method;			/* GET, HEAD, POST, PUT, PATCH */
	const char *url;
	const char *what;			/* for messages: "HEAD blob sha256:..." */
	const char *scope;			/* bearer scope key, e.g. repository:x:pull,push */
	const char *accept;
	const char *content_type;
	const char *content_range;	/* PATCH */
	const unsigned char *body;	/* memory body, or */
	FILE	   *body_file;		/* a file body: body_len bytes from body_off */
	uint64_t	body_off;
	uint64_t	body_len;
	FILE	   *sink;			/* response body to a file (else memory, capped) */
	bool		follow;			/* follow redirects (blob GET) */
	bool		no_retry;		/* one attempt (the caller retries a whole sequence) */
	bool		no_auth;		/* a 401 is the answer (token requests) */
} MfRegRequest;

/* One response. */
typedef struct MfRegResponse
{
	long		status;
	char	   *body;			/* NUL-terminated, NULL when none */
	size_t		body_len;
	uint64_t	sink_bytes;
	char	   *location;
	char	   *digest;			/* Docker-Content-Digest */
	char	   *www_authenticate;
	char	   *content_type;
	long		retry_after;	/* seconds, -1 when absent */
	uint64_t	content_length; /* of a HEAD, else 0 */
} MfRegResponse;

/* registry_http.c */
extern MfRegistryStatus mf_reg_request(MfRegistry *reg, const MfRegRequest *req, MfRegResponse *resp,
									   MfRegistryError *err);
extern void mf_reg_response_free(MfRegResponse *resp);
extern MfRegistryStatus mf_reg_fail(MfRegistry *reg, MfRegistryError *err, MfRegistryStatus status,
									long http_status, const char *code, const char *fmt,...)
			__attribute__((format(printf, 6, 7)));
extern MfRegistryStatus mf_reg_fail_response(MfRegistry *reg, MfRegistryError *err, const char *what,
											 const MfRegResponse *resp);
extern bool mf_reg_cancelled(MfRegistry *reg);
extern bool mf_reg_sleep(MfRegistry *reg, long ms);
extern char *mf_reg_strdup(const char *s);
extern char *mf_reg_printf(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern void mf_reg_url_for_message(const char *url, char *out, size_t size);

/* registry_auth.c */
extern MfRegistryStatus mf_reg_authenticate(MfRegistry *reg, const MfRegRequest *req,
											const char *www_authenticate, MfRegistryError *err);
extern const char *mf_reg_cached_token(MfRegistry *reg, const char *scope);
extern void mf_reg_forget_token(MfRegistry *reg, const char *scope);
extern void mf_reg_scrub_secrets(MfRegistry *reg, char *buf, size_t size);
extern char *mf_reg_base64(const unsigned char *data, size_t len);

#endif							/* MF_REGISTRY_INTERNAL_H */
