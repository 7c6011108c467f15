/*
 * registry_http.c - one registry client: its curl handle, requests with
 * retries, backoff and cancel, authentication on 401, and error messages.
 *
 * Design note
 * -----------
 * mf_reg_request() is the only place that performs HTTP.  One call: attach
 * what authenticated before (Basic, or the cached bearer token of the
 * request's scope), perform, and then
 *   401 with a challenge  -> mf_reg_authenticate() (registry_auth.c) and one
 *                            more attempt; a second 401 is MF_REGISTRY_AUTH;
 *   connection error, 429, 5xx -> sleep (backoff doubling from backoff_ms,
 *                            at most 8 s, or Retry-After up to 30 s) and try
 *                            again, max_retries times, unless no_retry;
 *   anything else         -> returned to the caller, who decides.
 * Bodies are sent from memory or from a file region (re-read from its
 * offset on every attempt); responses go to memory (capped at
 * MF_REGISTRY_MAX_DOC_BYTES) or to a sink file (truncated per attempt).
 * Authorization is sent only to the registry's own origin: an upload
 * Location or a redirect elsewhere gets none (curl also drops it on a
 * redirect to another host).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "registry_internal.h"

/* strdup that tolerates NULL. */
char *
mf_reg_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* A malloc'd formatted string, NULL when out of memory. */
char *
mf_reg_printf(const char *fmt,...)
{
	va_list		ap;
	char	   *out = NULL;

	va_start(ap, fmt);
	if (vasprintf(&out, fmt, ap) < 0)
		out = NULL;
	va_end(ap);
	return out;
}

/* A URL for a message: without its query string or fragment. */
void
mf_reg_url_for_message(const char *url, char *out, size_t size)
{
	size_t		n = strcspn(url ? url : "", "?#");

	if (n >= size)
		n = size - 1;
	memcpy(out, url ? url : "", n);
	out[n] = '\0';
}

/* Fill err (scrubbed of secrets) and return status. */
MfRegistryStatus
mf_reg_fail(MfRegistry *reg, MfRegistryError *err, MfRegistryStatus status, long http_status,
			const char *code, const char *fmt,...)
{
	va_list		ap;
	char		msg[sizeof(err->message)];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err->status = status;
	err->http_status = http_status;
	snprintf(err->code, sizeof(err->code), "%s", code ? code : "");
	/* a message cut at sizeof(err->message) is still a message */
	if (snprintf(err->message, sizeof(err->message), "%s%s%s%s", reg ? "registry " : "", reg ? reg->base : "",
				 reg ? ": " : "", msg) >= (int) sizeof(err->message))
		err->message[sizeof(err->message) - 1] = '\0';
	if (reg)
	{
		mf_reg_scrub_secrets(reg, err->message, sizeof(err->message));
		mf_reg_scrub_secrets(reg, err->code, sizeof(err->code));
	}
	return status;
}

/* The status of an HTTP answer the caller did not expect. */
static MfRegistryStatus
mf_reg_status_of(long http)
{
	if (http == 401 || http == 403)
		return MF_REGISTRY_AUTH;
	if (http == 404)
		return MF_REGISTRY_NOT_FOUND;
	if (http == 429 || http >= 500)
		return MF_REGISTRY_UNAVAILABLE;
	if (http >= 400)
		return MF_REGISTRY_HTTP;
	return MF_REGISTRY_PROTOCOL;
}

/* Fail with what the registry answered: status, its error code and message. */
MfRegistryStatus
mf_reg_fail_response(MfRegistry *reg, MfRegistryError *err, const char *what, const MfRegResponse *resp)
{
	char		code[64] = "",
				message[256] = "";

	if (resp->body)
		mf_registry_parse_error_body(resp->body, resp->body_len, code, sizeof(code), message, sizeof(message));
	return mf_reg_fail(reg, err, mf_reg_status_of(resp->status), resp->status, code,
					   "%s failed: HTTP %ld%s%s%s%s", what, resp->status, code[0] ? " " : "", code,
					   message[0] ? ": " : "", message);
}

/* Whether the caller asked to stop. */
bool
mf_reg_cancelled(MfRegistry *reg)
{
	return reg->cfg.cancelled && reg->cfg.cancelled(reg->cfg.cancel_arg);
}

/* Sleep ms in slices, polling cancel; false when cancelled. */
bool
mf_reg_sleep(MfRegistry *reg, long ms)
{
	while (ms > 0)
	{
		long		step = ms < 100 ? ms : 100;

		if (mf_reg_cancelled(reg))
			return false;
		usleep((useconds_t) step * 1000);
		ms -= step;
	}
	return !mf_reg_cancelled(reg);
}

/* Check a base URL; NULL when valid, else the problem. */
const char *
mf_registry_url_problem(const char *url, bool insecure)
{
	const char *host;
	size_t		n;

	if (url == NULL || url[0] == '\0')
		return "is empty";
	if (strlen(url) > 2000)
		return "is longer than 2000 characters";
	if (strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
	{
		if (!insecure)
			return "uses plain http, which needs the option insecure (for a registry on loopback)";
		host = url + 7;
	}
	else
		return "must start with https:// (or http:// with the option insecure)";
	n = strcspn(host, "/?#");
	if (n == 0)
		return "has no host";
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) host[i];

		if (c == '@')
			return "must not hold credentials (user@host): give them as options username and password";
		if (!(isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_'))
			return "has an invalid character in its host";
	}
	if (host[n] == '?' || host[n] == '#')
		return "must not have a query or fragment";
	if (host[n] == '/' && host[n + 1] != '\0')
		return "must be the registry's base URL (scheme://host[:port]), without a path";
	return NULL;
}

/* Open a client: check the URL, copy the config, create the curl handle. */
MfRegistry *
mf_registry_open(const MfRegistryConfig *config, MfRegistryError *err)
{
	static bool curl_ready = false;
	const char *problem = mf_registry_url_problem(config->url, config->insecure);
	MfRegistry *reg;
	size_t		n;

	memset(err, 0, sizeof(*err));
	if (problem)
	{
		mf_reg_fail(NULL, err, MF_REGISTRY_BAD_ARG, 0, NULL, "registry url %s", problem);
		return NULL;
	}
	if (!curl_ready)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		{
			mf_reg_fail(NULL, err, MF_REGISTRY_NOMEM, 0, NULL, "libcurl could not be initialised");
			return NULL;
		}
		curl_ready = true;
	}
	reg = calloc(1, sizeof(*reg));
	if (reg == NULL)
		goto nomem;
	reg->cfg = *config;
	reg->cfg.url = NULL;
	reg->cfg.username = mf_reg_strdup(config->username);
	reg->cfg.password = mf_reg_strdup(config->password);
	reg->cfg.refresh_token = mf_reg_strdup(config->refresh_token);
	if (reg->cfg.max_blob_bytes == 0)
		reg->cfg.max_blob_bytes = MF_REGISTRY_MAX_BLOB_BYTES;
	if (reg->cfg.chunk_bytes == 0)
		reg->cfg.chunk_bytes = MF_REGISTRY_CHUNK_BYTES;
	if (reg->cfg.max_retries == 0)
		reg->cfg.max_retries = 4;
	if (reg->cfg.max_retries < 0)
		reg->cfg.max_retries = 0;
	if (reg->cfg.connect_timeout_ms <= 0)
		reg->cfg.connect_timeout_ms = 10000;
	if (reg->cfg.backoff_ms <= 0)
		reg->cfg.backoff_ms = 250;
	reg->base = strdup(config->url);
	if (reg->base == NULL)
		goto nomem;
	n = strlen(reg->base);
	while (n > 0 && reg->base[n - 1] == '/')
		reg->base[--n] = '\0';
	reg->origin = strdup(reg->base);
	if (reg->origin == NULL)
		goto nomem;
	for (char *p = reg->origin; *p; p++)
		*p = (char) tolower((unsigned char) *p);
	reg->curl = curl_easy_init();
	if (reg->curl == NULL)
		goto nomem;
	return reg;
nomem:
	mf_registry_close(reg);
	mf_reg_fail(NULL, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory opening registry client");
	return NULL;
}

/* Free a secret after overwriting it. */
static void
mf_reg_free_secret(char *s)
{
	if (s)
	{
		volatile char *p = s;

		while (*p)
			*p++ = 0;
		free(s);
	}
}

/* Free a client. */
void
mf_registry_close(MfRegistry *reg)
{
	if (reg == NULL)
		return;
	if (reg->curl)
		curl_easy_cleanup(reg->curl);
	mf_reg_free_secret((char *) reg->cfg.username);
	mf_reg_free_secret((char *) reg->cfg.password);
	mf_reg_free_secret((char *) reg->cfg.refresh_token);
	mf_reg_free_secret(reg->basic);
	mf_reg_free_secret(reg->basic_b64);
	for (int i = 0; i < MF_REG_TOKENS; i++)
	{
		free(reg->tokens[i].scope);
		mf_reg_free_secret(reg->tokens[i].token);
	}
	mf_registry_challenge_free(&reg->challenge);
	free(reg->base);
	free(reg->origin);
	free(reg);
}

/* Free what a response holds. */
void
mf_reg_response_free(MfRegResponse *resp)
{
	free(resp->body);
	free(resp->location);
	free(resp->digest);
	free(resp->www_authenticate);
	free(resp->content_type);
	memset(resp, 0, sizeof(*resp));
	resp->retry_after = -1;
}

/* State of one transfer, shared with curl's callbacks. */
typedef struct MfRegTransfer
{
	MfRegistry *reg;
	const MfRegRequest *req;
	MfRegResponse *resp;
	uint64_t	sent;
	bool		too_large;
	bool		io_error;
} MfRegTransfer;

/* curl read callback: the request body from memory or its file region. */
static size_t
mf_reg_read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	MfRegTransfer *t = arg;
	size_t		want = size * nitems;
	uint64_t	left = t->req->body_len - t->sent;
	size_t		n = want < left ? want : (size_t) left;

	if (n == 0)
		return 0;
	if (t->req->body_file)
	{
		size_t		got = fread(buf, 1, n, t->req->body_file);

		if (got != n)
		{
			t->io_error = true;
			return CURL_READFUNC_ABORT;
		}
	}
	else
		memcpy(buf, t->req->body + t->sent, n);
	t->sent += n;
	return n;
}

/* curl write callback: the response body into memory (capped) or the sink. */
static size_t
mf_reg_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	MfRegTransfer *t = arg;
	size_t		n = size * nmemb;
	MfRegResponse *r = t->resp;

	if (t->req->sink && r->status >= 200 && r->status < 300)
	{
		if (r->sink_bytes + n > t->reg->cfg.max_blob_bytes)
		{
			t->too_large = true;
			return 0;
		}
		if (fwrite(data, 1, n, t->req->sink) != n)
		{
			t->io_error = true;
			return 0;
		}
		r->sink_bytes += n;
		return n;
	}
	if (r->body_len + n > MF_REGISTRY_MAX_DOC_BYTES)
	{
		t->too_large = true;
		return 0;
	}
	{
		char	   *grown = realloc(r->body, r->body_len + n + 1);

		if (grown == NULL)
		{
			t->io_error = true;
			return 0;
		}
		r->body = grown;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return n;
}

/* Store a header's value (trimmed) into *slot, replacing an earlier one. */
static void
mf_reg_keep_header(char **slot, const char *value, size_t len)
{
	while (len > 0 && (value[len - 1] == '\r' || value[len - 1] == '\n' || value[len - 1] == ' '))
		len--;
	while (len > 0 && (*value == ' ' || *value == '\t'))
		value++, len--;
	free(*slot);
	*slot = strndup(value, len);
}

/* curl header callback: status line resets; keep the headers we need. */
static size_t
mf_reg_header_cb(char *line, size_t size, size_t nitems, void *arg)
{
	MfRegTransfer *t = arg;
	MfRegResponse *r = t->resp;
	size_t		n = size * nitems;
	static const struct
	{
		const char *name;
		size_t		off;
	}			keep[] = {
		{"location:", offsetof(MfRegResponse, location)},
		{"docker-content-digest:", offsetof(MfRegResponse, digest)},
		{"www-authenticate:", offsetof(MfRegResponse, www_authenticate)},
		{"content-type:", offsetof(MfRegResponse, content_type)},
	};

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0)
	{
		/* a new response (after a redirect or 100-continue) */
		const char *sp = memchr(line, ' ', n);

		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return n;
	}
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
	{
		size_t		k = strlen(keep[i].name);

		if (n > k && strncasecmp(line, keep[i].name, k) == 0)
		{
			char	  **slot = (char **) ((char *) r + keep[i].off);

			/* several challenges: keep a Bearer one over Basic */
			if (slot == &r->www_authenticate && *slot && strncasecmp(*slot, "bearer", 6) == 0)
				return n;
			mf_reg_keep_header(slot, line + k, n - k);
			return n;
		}
	}
	if (n > 12 && strncasecmp(line, "retry-after:", 12) == 0)
		r->retry_after = strtol(line + 12, NULL, 10);
	else if (n > 15 && strncasecmp(line, "content-length:", 15) == 0)
		r->content_length = strtoull(line + 15, NULL, 10);
	return n;
}

/* curl progress callback: abort when cancelled. */
static int
mf_reg_xfer_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	MfRegTransfer *t = arg;

	(void) dltotal, (void) dlnow, (void) ultotal, (void) ulnow;
	return mf_reg_cancelled(t->reg) ? 1 : 0;
}

/* Whether url is on the registry's own origin (credentials may go there). */
static bool
mf_reg_same_origin(MfRegistry *reg, const char *url)
{
	size_t		n = strlen(reg->origin);

	return strncasecmp(url, reg->origin, n) == 0 && (url[n] == '/' || url[n] == '\0' || url[n] == '?');
}

/* Perform one attempt of a request; the curl result (CURLE_OK when an HTTP answer came). */
static CURLcode
mf_reg_perform(MfRegistry *reg, const MfRegRequest *req, MfRegResponse *resp, MfRegTransfer *t)
{
	CURL	   *c = reg->curl;
	struct curl_slist *hdrs = NULL;
	char	   *auth = NULL;
	CURLcode	rc;
	bool		has_body = req->body || req->body_file;

	curl_easy_reset(c);
	mf_reg_response_free(resp);
	memset(t, 0, sizeof(*t));
	t->reg = reg;
	t->req = req;
	t->resp = resp;
	if (req->body_file && fseeko(req->body_file, (off_t) req->body_off, SEEK_SET) != 0)
		return CURLE_READ_ERROR;
	if (req->sink)
	{
		if (fflush(req->sink) != 0 || ftruncate(fileno(req->sink), 0) != 0)
			return CURLE_WRITE_ERROR;
		rewind(req->sink);
	}
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, reg->cfg.connect_timeout_ms);
	/* no total timeout (a 1 GB layer takes its time); a stalled transfer ends */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, reg->cfg.insecure ? "http,https" : "https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, reg->cfg.insecure ? "http,https" : "https");
	if (reg->cfg.insecure)
	{
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(c, CURLOPT_USERAGENT, "mf_ext-registry/0.4");
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, mf_reg_header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mf_reg_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, mf_reg_xfer_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
	if (req->follow)
	{
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	}
	if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "GET") != 0)
	{
		if (has_body || strcmp(req->method, "POST") != 0)
		{
			curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(c, CURLOPT_READFUNCTION, mf_reg_read_cb);
			curl_easy_setopt(c, CURLOPT_READDATA, t);
			curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t) (has_body ? req->body_len : 0));
		}
		else
		{
			curl_easy_setopt(c, CURLOPT_POST, 1L);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		}
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (req->accept)
		hdrs = curl_slist_append(hdrs, req->accept);
	if (req->content_type)
		hdrs = curl_slist_append(hdrs, req->content_type);
	else if (has_body || strcmp(req->method, "PUT") == 0 || strcmp(req->method, "PATCH") == 0)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
	if (req->content_range)
		hdrs = curl_slist_append(hdrs, req->content_range);
	if (mf_reg_same_origin(reg, req->url))
	{
		const char *tok = reg->mode == MF_REG_AUTH_BEARER ? mf_reg_cached_token(reg, req->scope) : NULL;

		if (tok)
			auth = mf_reg_printf("Authorization: Bearer %s", tok);
		else if (reg->mode == MF_REG_AUTH_BASIC && reg->basic)
			auth = mf_reg_printf("Authorization: %s", reg->basic);
		if (auth)
			hdrs = curl_slist_append(hdrs, auth);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_slist_free_all(hdrs);
	if (auth)
	{
		memset(auth, 0, strlen(auth));
		free(auth);
	}
	return rc;
}

/* Whether an HTTP status is worth another attempt. */
static bool
mf_reg_retryable_status(long status)
{
	return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

/* Perform a request: auth on 401, retries with backoff (see the design note). */
MfRegistryStatus
mf_reg_request(MfRegistry *reg, const MfRegRequest *req, MfRegResponse *resp, MfRegistryError *err)
{
	MfRegTransfer t;
	int			attempt = 0;
	bool		authed = false;
	long		backoff = reg->cfg.backoff_ms;
	char		where[300];

	memset(resp, 0, sizeof(*resp));
	resp->retry_after = -1;
	mf_reg_url_for_message(req->url, where, sizeof(where));
	for (;;)
	{
		CURLcode	rc;
		long		wait;

		if (mf_reg_cancelled(reg))
			return mf_reg_fail(reg, err, MF_REGISTRY_CANCELLED, 0, NULL, "%s cancelled", req->what);
		rc = mf_reg_perform(reg, req, resp, &t);
		if (rc == CURLE_ABORTED_BY_CALLBACK)
			return mf_reg_fail(reg, err, MF_REGISTRY_CANCELLED, 0, NULL, "%s cancelled", req->what);
		if (t.too_large)
			return mf_reg_fail(reg, err, req->sink ? MF_REGISTRY_TOO_LARGE : MF_REGISTRY_PROTOCOL, resp->status,
							   NULL, "%s: the answer exceeds the limit of %llu bytes", req->what,
							   (unsigned long long) (req->sink ? reg->cfg.max_blob_bytes : MF_REGISTRY_MAX_DOC_BYTES));
		if (t.io_error || rc == CURLE_READ_ERROR || rc == CURLE_WRITE_ERROR)
			return mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "%s: local I/O error or out of memory",
							   req->what);
		if (rc == CURLE_OK && resp->status == 401 && !authed && !req->no_auth && resp->www_authenticate)
		{
			MfRegistryStatus s;

			authed = true;
			mf_reg_forget_token(reg, req->scope);
			s = mf_reg_authenticate(reg, req, resp->www_authenticate, err);
			if (s != MF_REGISTRY_OK)
				return s;
			continue;
		}
		if (rc == CURLE_OK && !mf_reg_retryable_status(resp->status))
			return MF_REGISTRY_OK;
		if (req->no_retry || attempt >= reg->cfg.max_retries)
		{
			if (rc != CURLE_OK)
				return mf_reg_fail(reg, err, MF_REGISTRY_UNAVAILABLE, 0, NULL, "%s: %s (%s), after %d attempts",
								   req->what, curl_easy_strerror(rc), where, attempt + 1);
			return MF_REGISTRY_OK;	/* the caller reports the status */
		}
		attempt++;
		wait = backoff;
		if (rc == CURLE_OK && resp->retry_after >= 0)
			wait = (resp->retry_after > 30 ? 30 : resp->retry_after) * 1000;
		backoff = backoff * 2 > 8000 ? 8000 : backoff * 2;
		if (!mf_reg_sleep(reg, wait))
			return mf_reg_fail(reg, err, MF_REGISTRY_CANCELLED, 0, NULL, "%s cancelled", req->what);
	}
}
