/*
 * registry_auth.c - answering a registry's 401: WWW-Authenticate parsing,
 * Basic credentials, bearer tokens (docker token spec GET, ACR refresh-token
 * exchange, OAuth2 password grant) and their cache; scrubbing secrets from
 * messages; the small parsers the unit test checks.
 *
 * Design note
 * -----------
 * A challenge is `scheme param=value, ...` where a value is a token or a
 * quoted string (commas and \" allowed inside); several challenges may share
 * one header.  Basic: username/password become "Basic base64(user:pass)"
 * and every later request sends it.  Bearer: the token request goes to the
 * realm with service and each space-separated scope of the challenge (the
 * registry names every repository a mount needs), then:
 *   refresh_token set, or username 00000000-0000-0000-0000-000000000000
 *     (the password is then an ACR refresh token):
 *       POST grant_type=refresh_token&service=&scope=&refresh_token=
 *   username/password: GET ?service=&scope= with Basic credentials; when
 *     the realm refuses GET (400, 404, 405), POST grant_type=password
 *   neither: GET anonymous (public repositories).
 * The reply's token (or access_token) is cached under the request's scope
 * key until issued time + expires_in - 10 s (expires_in defaults to 60 s).
 * A token server's error body is never quoted (it may echo what it was
 * sent): messages carry its HTTP status and error code only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "registry_internal.h"

#define MF_ACR_NULL_USER "00000000-0000-0000-0000-000000000000"

/* Free the strings of a challenge. */
void
mf_registry_challenge_free(MfRegistryChallenge *c)
{
	free(c->realm);
	free(c->service);
	free(c->scope);
	memset(c, 0, sizeof(*c));
}

/* Skip spaces, tabs and (when commas) commas. */
static const char *
mf_reg_skip(const char *p, bool commas)
{
	while (*p == ' ' || *p == '\t' || (commas && *p == ','))
		p++;
	return p;
}

/* A token (RFC 7230 tchar run) at p; its length. */
static size_t
mf_reg_token_len(const char *p)
{
	size_t		n = 0;

	while (p[n] && (isalnum((unsigned char) p[n]) || strchr("!#$%&'*+-.^_`|~/", p[n])))
		n++;
	return n;
}

/* Parse a value at *pp (quoted string or token) into a malloc'd string. */
static char *
mf_reg_parse_value(const char **pp)
{
	const char *p = *pp;
	char	   *out,
			   *o;

	if (*p != '"')
	{
		size_t		n = mf_reg_token_len(p);

		/* tolerate '=' in unquoted values (base64 padding) */
		while (p[n] == '=')
			n++;
		*pp = p + n;
		return strndup(p, n);
	}
	p++;
	out = o = malloc(strlen(p) + 1);
	if (out == NULL)
		return NULL;
	while (*p && *p != '"')
	{
		if (*p == '\\' && p[1])
			p++;
		*o++ = *p++;
	}
	*o = '\0';
	if (*p == '"')
		p++;
	*pp = p;
	return out;
}

/* Parse a WWW-Authenticate value (see registry.h). */
bool
mf_registry_parse_challenge(const char *value, MfRegistryChallenge *out)
{
	const char *p = value ? value : "";
	bool		found = false;

	memset(out, 0, sizeof(*out));
	while (*(p = mf_reg_skip(p, true)))
	{
		size_t		n = mf_reg_token_len(p);
		MfRegistryChallenge c;

		if (n == 0)
			break;
		memset(&c, 0, sizeof(c));
		snprintf(c.scheme, sizeof(c.scheme), "%.*s", (int) (n < 15 ? n : 15), p);
		p += n;
		/* its parameters: name=value, until the next scheme (a token not followed by '=') */
		for (;;)
		{
			const char *q = mf_reg_skip(p, true);
			size_t		k = mf_reg_token_len(q);
			const char *eq = mf_reg_skip(q + k, false);
			char	   *v;

			if (k == 0 || *eq != '=')
			{
				p = q;
				break;
			}
			eq = mf_reg_skip(eq + 1, false);
			v = mf_reg_parse_value(&eq);
			if (k == 5 && strncasecmp(q, "realm", 5) == 0)
				free(c.realm), c.realm = v;
			else if (k == 7 && strncasecmp(q, "service", 7) == 0)
				free(c.service), c.service = v;
			else if (k == 5 && strncasecmp(q, "scope", 5) == 0)
				free(c.scope), c.scope = v;
			else
				free(v);
			p = eq;
		}
		if (strcasecmp(c.scheme, "bearer") == 0 && c.realm)
		{
			mf_registry_challenge_free(out);
			*out = c;
			return true;
		}
		if (strcasecmp(c.scheme, "basic") == 0 && !found)
		{
			*out = c;
			found = true;
			continue;
		}
		mf_registry_challenge_free(&c);
	}
	return found;
}

/* Parse a token reply (see registry.h). */
bool
mf_registry_parse_token_reply(const char *body, size_t len, char **token, long *expires_in)
{
	json_error_t jerr;
	json_t	   *root = json_loadb(body, len, 0, &jerr);
	json_t	   *t,
			   *e;
	bool		ok = false;

	*token = NULL;
	*expires_in = 60;
	if (root == NULL)
		return false;
	t = json_object_get(root, "token");
	if (!json_is_string(t) || json_string_length(t) == 0)
		t = json_object_get(root, "access_token");
	if (json_is_string(t) && json_string_length(t) > 0 && json_string_length(t) < 65536)
	{
		const char *s = json_string_value(t);

		/* a header value: no control characters */
		ok = true;
		for (const char *c = s; *c; c++)
			if ((unsigned char) *c < 0x20 || *c == 0x7f)
				ok = false;
		if (ok)
			*token = strdup(s);
		ok = *token != NULL;
	}
	e = json_object_get(root, "expires_in");
	if (json_is_integer(e) && json_integer_value(e) > 0)
		*expires_in = (long) (json_integer_value(e) > 86400 ? 86400 : json_integer_value(e));
	json_decref(root);
	return ok;
}

/* First error code and message of a registry error body. */
void
mf_registry_parse_error_body(const char *body, size_t len, char *code, size_t code_size,
							 char *message, size_t message_size)
{
	json_error_t jerr;
	json_t	   *root = body ? json_loadb(body, len, 0, &jerr) : NULL;
	json_t	   *first;

	code[0] = message[0] = '\0';
	if (root == NULL)
		return;
	first = json_array_get(json_object_get(root, "errors"), 0);
	if (json_is_string(json_object_get(first, "code")))
		snprintf(code, code_size, "%s", json_string_value(json_object_get(first, "code")));
	if (json_is_string(json_object_get(first, "message")))
		snprintf(message, message_size, "%s", json_string_value(json_object_get(first, "message")));
	/* printable ASCII only: an error text is not a place for control bytes */
	for (char *c = code; *c; c++)
		if ((unsigned char) *c < 0x20 || (unsigned char) *c > 0x7e)
			*c = '?';
	for (char *c = message; *c; c++)
		if ((unsigned char) *c < 0x20 || (unsigned char) *c > 0x7e)
			*c = '?';
	json_decref(root);
}

/* Resolve an upload Location against base and append digest (see registry.h). */
char *
mf_registry_upload_url(const char *base, const char *location, const char *digest)
{
	const char *sep = strchr(location, '?') ? "&digest=" : "?digest=";
	char	   *enc = NULL;
	char	   *out;

	if (digest)
	{
		/* sha256:hex -> sha256%3Ahex */
		const char *colon = strchr(digest, ':');

		enc = colon ? mf_reg_printf("%.*s%%3A%s", (int) (colon - digest), digest, colon + 1) : strdup(digest);
		if (enc == NULL)
			return NULL;
	}
	if (strncasecmp(location, "http://", 7) == 0 || strncasecmp(location, "https://", 8) == 0)
		out = mf_reg_printf("%s%s%s", location, enc ? sep : "", enc ? enc : "");
	else
	{
		/* the origin of base: scheme://host[:port] */
		const char *host = strstr(base, "://");
		size_t		n = host ? (size_t) (host + 3 - base) + strcspn(host + 3, "/") : strlen(base);

		out = mf_reg_printf("%.*s%s%s%s%s", (int) n, base, location[0] == '/' ? "" : "/", location,
							enc ? sep : "", enc ? enc : "");
	}
	free(enc);
	return out;
}

/* Replace every occurrence of secret in buf by "***". */
void
mf_registry_scrub(char *buf, size_t size, const char *secret)
{
	size_t		n;
	char	   *hit;

	if (secret == NULL || (n = strlen(secret)) < 4)
		return;
	while ((hit = strstr(buf, secret)) != NULL)
	{
		size_t		tail = strlen(hit + n);

		memcpy(hit, "***", 3);
		memmove(hit + 3, hit + n, tail + 1);
	}
	(void) size;
}

/* Scrub every secret this client knows from buf. */
void
mf_reg_scrub_secrets(MfRegistry *reg, char *buf, size_t size)
{
	mf_registry_scrub(buf, size, reg->cfg.password);
	mf_registry_scrub(buf, size, reg->cfg.refresh_token);
	mf_registry_scrub(buf, size, reg->basic_b64);
	for (int i = 0; i < MF_REG_TOKENS; i++)
		mf_registry_scrub(buf, size, reg->tokens[i].token);
}

/* Base64 of data (malloc'd). */
char *
mf_reg_base64(const unsigned char *data, size_t len)
{
	char	   *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *) out, data, (int) len);
	return out;
}

/* The cached token of a scope key, if still valid. */
const char *
mf_reg_cached_token(MfRegistry *reg, const char *scope)
{
	time_t		now = time(NULL);

	for (int i = 0; i < MF_REG_TOKENS; i++)
	{
		MfRegToken *t = &reg->tokens[i];

		if (t->token && strcmp(t->scope, scope ? scope : "") == 0)
			return t->expires > now ? t->token : NULL;
	}
	return NULL;
}

/* Drop the cached token of a scope key. */
void
mf_reg_forget_token(MfRegistry *reg, const char *scope)
{
	for (int i = 0; i < MF_REG_TOKENS; i++)
	{
		MfRegToken *t = &reg->tokens[i];

		if (t->token && strcmp(t->scope, scope ? scope : "") == 0)
		{
			memset(t->token, 0, strlen(t->token));
			free(t->token);
			free(t->scope);
			t->token = t->scope = NULL;
		}
	}
}

/* Keep a token for a scope key. */
static bool
mf_reg_store_token(MfRegistry *reg, const char *scope, char *token, long expires_in)
{
	MfRegToken *t;

	mf_reg_forget_token(reg, scope);
	t = &reg->tokens[reg->next_token];
	reg->next_token = (reg->next_token + 1) % MF_REG_TOKENS;
	if (t->token)
	{
		memset(t->token, 0, strlen(t->token));
		free(t->token);
		free(t->scope);
	}
	t->scope = strdup(scope ? scope : "");
	t->token = token;
	t->expires = time(NULL) + (expires_in > 20 ? expires_in - 10 : expires_in / 2);
	return t->scope != NULL;
}

/* Set up Basic credentials from username/password (or ACR's null user + refresh token). */
static MfRegistryStatus
mf_reg_set_basic(MfRegistry *reg, MfRegistryError *err)
{
	const char *user = reg->cfg.username;
	const char *pass = reg->cfg.password;
	char	   *pair;

	if (reg->cfg.refresh_token && user == NULL)
		user = MF_ACR_NULL_USER, pass = reg->cfg.refresh_token;
	if (user == NULL || pass == NULL)
		return mf_reg_fail(reg, err, MF_REGISTRY_AUTH, 401, "UNAUTHORIZED",
						   "the registry requires credentials (Basic auth) and none are configured");
	if (reg->basic)
		return MF_REGISTRY_OK;
	pair = mf_reg_printf("%s:%s", user, pass);
	if (pair == NULL)
		return mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory");
	reg->basic_b64 = mf_reg_base64((unsigned char *) pair, strlen(pair));
	memset(pair, 0, strlen(pair));
	free(pair);
	reg->basic = reg->basic_b64 ? mf_reg_printf("Basic %s", reg->basic_b64) : NULL;
	if (reg->basic == NULL)
		return mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory");
	return MF_REGISTRY_OK;
}

/* URL-encode s (malloc'd). */
static char *
mf_reg_urlencode(MfRegistry *reg, const char *s)
{
	char	   *e = curl_easy_escape(reg->curl, s ? s : "", 0);
	char	   *out = e ? strdup(e) : NULL;

	curl_free(e);
	return out;
}

/* Append "&name=<each space-separated scope>" for every scope to *q. */
static bool
mf_reg_append_scopes(MfRegistry *reg, char **q, const char *scopes)
{
	const char *p = scopes ? scopes : "";

	while (*(p = mf_reg_skip(p, false)))
	{
		size_t		n = strcspn(p, " \t");
		char	   *one = strndup(p, n);
		char	   *enc = one ? mf_reg_urlencode(reg, one) : NULL;
		char	   *grown = enc ? mf_reg_printf("%s&scope=%s", *q, enc) : NULL;

		free(one);
		free(enc);
		if (grown == NULL)
			return false;
		free(*q);
		*q = grown;
		p += n;
	}
	return true;
}

/* The form or query of a token request, starting with '&'-joined fields. */
static char *
mf_reg_token_fields(MfRegistry *reg, const MfRegistryChallenge *c, const char *grant)
{
	char	   *svc = mf_reg_urlencode(reg, c->service);
	char	   *q = svc ? mf_reg_printf("service=%s", svc) : NULL;

	free(svc);
	if (q && grant)
	{
		const char *secret_name = strcmp(grant, "refresh_token") == 0 ? "refresh_token" : "password";
		const char *secret = strcmp(grant, "refresh_token") == 0
			? (reg->cfg.refresh_token ? reg->cfg.refresh_token : reg->cfg.password)
			: reg->cfg.password;
		char	   *s = mf_reg_urlencode(reg, secret);
		char	   *u = mf_reg_urlencode(reg, reg->cfg.username ? reg->cfg.username : MF_ACR_NULL_USER);
		char	   *g = (s && u) ? mf_reg_printf("grant_type=%s&%s&%s=%s%s%s", grant, q, secret_name, s,
												 strcmp(grant, "password") == 0 ? "&username=" : "",
												 strcmp(grant, "password") == 0 ? u : "") : NULL;

		if (s)
			memset(s, 0, strlen(s));
		free(s);
		free(u);
		free(q);
		q = g;
	}
	if (q && !mf_reg_append_scopes(reg, &q, c->scope))
	{
		free(q);
		q = NULL;
	}
	return q;
}

/* One token request: GET (query, optional Basic) or POST (form); the reply in resp. */
static MfRegistryStatus
mf_reg_token_request(MfRegistry *reg, const MfRegistryChallenge *c, const char *grant, bool basic,
					 MfRegResponse *resp, MfRegistryError *err)
{
	char	   *fields = mf_reg_token_fields(reg, c, grant);
	char	   *url = NULL;
	MfRegRequest req = {0};
	MfRegAuthMode saved_mode = reg->mode;
	char	   *saved_origin = reg->origin;
	MfRegistryStatus s;

	if (fields == NULL)
		return mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory");
	req.what = "token request";
	req.no_auth = true;
	req.accept = "Accept: application/json";
	if (grant)
	{
		url = strdup(c->realm);
		req.method = "POST";
		req.body = (const unsigned char *) fields;
		req.body_len = strlen(fields);
		req.content_type = "Content-Type: application/x-www-form-urlencoded";
	}
	else
	{
		url = mf_reg_printf("%s%s%s", c->realm, strchr(c->realm, '?') ? "&" : "?", fields);
		req.method = "GET";
	}
	if (url == NULL)
	{
		free(fields);
		return mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory");
	}
	req.url = url;
	/* Basic credentials go to the realm whatever its origin; nothing else does */
	reg->mode = basic ? MF_REG_AUTH_BASIC : MF_REG_AUTH_NONE;
	reg->origin = basic ? url : saved_origin;
	if (basic)
	{
		char	   *end = strchr(url, '?');

		/* same origin test: compare up to the query */
		reg->origin = end ? strndup(url, (size_t) (end - url)) : strdup(url);
	}
	s = reg->origin ? mf_reg_request(reg, &req, resp, err)
		: mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory");
	if (basic)
		free(reg->origin);
	reg->origin = saved_origin;
	reg->mode = saved_mode;
	memset(fields, 0, strlen(fields));
	free(fields);
	free(url);
	return s;
}

/* Get a token for req's scope from the challenge's realm (see the design note). */
static MfRegistryStatus
mf_reg_fetch_token(MfRegistry *reg, const MfRegRequest *req, MfRegistryChallenge *c,
				   MfRegistryError *err)
{
	MfRegResponse resp;
	MfRegistryStatus s;
	bool		acr = reg->cfg.refresh_token ||
		(reg->cfg.username && strcmp(reg->cfg.username, MF_ACR_NULL_USER) == 0 && reg->cfg.password);
	bool		creds = reg->cfg.username && reg->cfg.password;
	char		realm[300];
	char	   *token = NULL;
	long		expires_in;

	mf_reg_url_for_message(c->realm, realm, sizeof(realm));
	if (!reg->cfg.insecure && strncasecmp(c->realm, "https://", 8) != 0)
		return mf_reg_fail(reg, err, MF_REGISTRY_PROTOCOL, 401, NULL,
						   "the token realm %s is not https (credentials are sent over https only, "
						   "unless the registry is insecure)", realm);
	/* ask for what the challenge names and for what this request's repository needs */
	if (req->scope && req->scope[0] && (c->scope == NULL || strcmp(c->scope, req->scope) != 0))
	{
		char	   *both = mf_reg_printf("%s%s%s", c->scope ? c->scope : "", c->scope ? " " : "", req->scope);

		if (both == NULL)
			return mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory");
		free(c->scope);
		c->scope = both;
	}
	if (acr)
		s = mf_reg_token_request(reg, c, "refresh_token", false, &resp, err);
	else
	{
		if (creds)
			(void) mf_reg_set_basic(reg, err);
		s = mf_reg_token_request(reg, c, NULL, creds, &resp, err);
		if (s == MF_REGISTRY_OK && creds && (resp.status == 400 || resp.status == 404 || resp.status == 405))
		{
			mf_reg_response_free(&resp);
			s = mf_reg_token_request(reg, c, "password", false, &resp, err);
		}
	}
	if (s != MF_REGISTRY_OK)
		return s;
	if (resp.status != 200)
	{
		char		code[64] = "",
					ignored[8];

		if (resp.body)
			mf_registry_parse_error_body(resp.body, resp.body_len, code, sizeof(code), ignored, sizeof(ignored));
		s = mf_reg_fail(reg, err, resp.status == 429 || resp.status >= 500 ? MF_REGISTRY_UNAVAILABLE : MF_REGISTRY_AUTH,
						resp.status, code[0] ? code : "UNAUTHORIZED",
						"the token server %s refused %s credentials: HTTP %ld%s%s (for %s)",
						realm, acr ? "the refresh-token" : creds ? "the username/password" : "anonymous",
						resp.status, code[0] ? " " : "", code, req->what);
		mf_reg_response_free(&resp);
		return s;
	}
	if (!resp.body || !mf_registry_parse_token_reply(resp.body, resp.body_len, &token, &expires_in))
	{
		mf_reg_response_free(&resp);
		return mf_reg_fail(reg, err, MF_REGISTRY_PROTOCOL, 200, NULL,
						   "the token server %s answered without a token or access_token", realm);
	}
	mf_reg_response_free(&resp);
	if (!mf_reg_store_token(reg, req->scope, token, expires_in))
		return mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory");
	reg->mode = MF_REG_AUTH_BEARER;
	return MF_REGISTRY_OK;
}

/* Answer a 401's challenge so the request can be tried again. */
MfRegistryStatus
mf_reg_authenticate(MfRegistry *reg, const MfRegRequest *req, const char *www_authenticate,
					MfRegistryError *err)
{
	MfRegistryChallenge c;
	MfRegistryStatus s;

	if (!mf_registry_parse_challenge(www_authenticate, &c))
		return mf_reg_fail(reg, err, MF_REGISTRY_AUTH, 401, NULL,
						   "%s: the registry asks for an authentication scheme this client does not know "
						   "(Basic and Bearer are supported)", req->what);
	if (strcasecmp(c.scheme, "basic") == 0 && reg->cfg.bearer_only)
		s = mf_reg_fail(reg, err, MF_REGISTRY_AUTH, 401, "UNAUTHORIZED",
						"%s: the registry asks for Basic auth, but this registry's credentials are for its token "
						"server only (auth bearer or acr): they are not sent", req->what);
	else if (strcasecmp(c.scheme, "basic") == 0)
	{
		s = mf_reg_set_basic(reg, err);
		if (s == MF_REGISTRY_OK)
			reg->mode = MF_REG_AUTH_BASIC;
	}
	else
		s = mf_reg_fetch_token(reg, req, &c, err);
	mf_registry_challenge_free(&c);
	return s;
}
