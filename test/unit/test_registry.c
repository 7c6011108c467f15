/*
 * test_registry.c - the registry client's parsers and checks
 * (image/registry.h): WWW-Authenticate challenges, token replies, error
 * bodies, upload URLs, secret scrubbing, names and base URLs.  The
 * protocol itself is tested against real registries by
 * test/integration/registry_push.sh.
 */
#include <stdlib.h>
#include <string.h>

#include "mf_test.h"
#include "registry.h"

/* Challenges: quoted commas, escapes, several challenges, unknown schemes. */
static void
test_challenges(void)
{
	MfRegistryChallenge c;

	MF_OK(mf_registry_parse_challenge("Bearer realm=\"https://auth.example.io/token\",service=\"registry.example.io\","
									  "scope=\"repository:samalba/my-app:pull,push\"", &c), "bearer challenge parsed");
	MF_STR_EQ(c.scheme, "Bearer", "scheme");
	MF_STR_EQ(c.realm, "https://auth.example.io/token", "realm");
	MF_STR_EQ(c.service, "registry.example.io", "service");
	MF_STR_EQ(c.scope, "repository:samalba/my-app:pull,push", "scope keeps the comma inside quotes");
	mf_registry_challenge_free(&c);

	MF_OK(mf_registry_parse_challenge("bearer  realm = \"https://x/oauth2/token\" , scope=\"a:b:pull repository:c:pull\","
									  " service=x.azurecr.io", &c), "spaces around = and unquoted value");
	MF_STR_EQ(c.service, "x.azurecr.io", "unquoted service");
	MF_STR_EQ(c.scope, "a:b:pull repository:c:pull", "space-separated scopes stay one value");
	mf_registry_challenge_free(&c);

	MF_OK(mf_registry_parse_challenge("Bearer realm=\"https://x/t?a=\\\"q\\\"\",error=\"invalid_token\"", &c),
		  "escaped quotes inside a quoted value");
	MF_STR_EQ(c.realm, "https://x/t?a=\"q\"", "escapes resolved");
	MF_OK(c.service == NULL && c.scope == NULL, "absent parameters stay NULL");
	mf_registry_challenge_free(&c);

	MF_OK(mf_registry_parse_challenge("Basic realm=\"basic-realm\"", &c), "basic challenge parsed");
	MF_STR_EQ(c.scheme, "Basic", "basic scheme");
	mf_registry_challenge_free(&c);

	MF_OK(mf_registry_parse_challenge("Basic realm=\"r\", Bearer realm=\"https://t/x\",service=\"s\"", &c),
		  "two challenges in one header");
	MF_STR_EQ(c.scheme, "Bearer", "bearer wins over basic");
	MF_STR_EQ(c.service, "s", "the bearer challenge's own parameters");
	mf_registry_challenge_free(&c);

	MF_OK(!mf_registry_parse_challenge("Negotiate abc==", &c), "unknown scheme refused");
	mf_registry_challenge_free(&c);
	MF_OK(!mf_registry_parse_challenge("Bearer service=\"s\"", &c), "bearer without realm refused");
	mf_registry_challenge_free(&c);
	MF_OK(!mf_registry_parse_challenge("", &c), "empty header refused");
	MF_OK(!mf_registry_parse_challenge("Bearer realm=\"unterminated", &c) || (c.realm && strcmp(c.realm, "unterminated") == 0),
		  "unterminated quote does not read past the end");
	mf_registry_challenge_free(&c);
}

/* Token replies: token, access_token, expires_in, garbage. */
static void
test_token_replies(void)
{
	char	   *tok;
	long		exp;
	const char *a = "{\"token\":\"abc.def\",\"expires_in\":300}";
	const char *b = "{\"access_token\":\"xyz\"}";
	const char *c = "{\"token\":\"\",\"access_token\":\"second\",\"expires_in\":-5}";
	const char *d = "{\"token\":\"bad\\nline\"}";

	MF_OK(mf_registry_parse_token_reply(a, strlen(a), &tok, &exp) && strcmp(tok, "abc.def") == 0 && exp == 300,
		  "token with expires_in");
	free(tok);
	MF_OK(mf_registry_parse_token_reply(b, strlen(b), &tok, &exp) && strcmp(tok, "xyz") == 0 && exp == 60,
		  "access_token, default expiry 60 s");
	free(tok);
	MF_OK(mf_registry_parse_token_reply(c, strlen(c), &tok, &exp) && strcmp(tok, "second") == 0 && exp == 60,
		  "empty token falls back to access_token; a negative expiry is ignored");
	free(tok);
	MF_OK(!mf_registry_parse_token_reply(d, strlen(d), &tok, &exp) && tok == NULL, "a token with a newline is refused");
	MF_OK(!mf_registry_parse_token_reply("{}", 2, &tok, &exp), "no token refused");
	MF_OK(!mf_registry_parse_token_reply("not json", 8, &tok, &exp), "garbage refused");
}

/* Error bodies of the distribution spec. */
static void
test_error_bodies(void)
{
	char		code[64],
				msg[128];
	const char *e = "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"requested access to the resource is denied\","
		"\"detail\":null},{\"code\":\"OTHER\"}]}";

	mf_registry_parse_error_body(e, strlen(e), code, sizeof(code), msg, sizeof(msg));
	MF_STR_EQ(code, "DENIED", "first error code");
	MF_STR_EQ(msg, "requested access to the resource is denied", "first error message");
	mf_registry_parse_error_body("<html>", 6, code, sizeof(code), msg, sizeof(msg));
	MF_OK(code[0] == '\0' && msg[0] == '\0', "non-JSON body: empty code and message");
	e = "{\"errors\":[{\"code\":\"X\\u0007Y\",\"message\":\"a\\nb\"}]}";
	mf_registry_parse_error_body(e, strlen(e), code, sizeof(code), msg, sizeof(msg));
	MF_STR_EQ(code, "X?Y", "control bytes replaced in the code");
	MF_STR_EQ(msg, "a?b", "and in the message");
}

/* Upload URLs: absolute with _state, relative path, digest appended. */
static void
test_upload_urls(void)
{
	char	   *u;
	const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

	u = mf_registry_upload_url("http://127.0.0.1:5000", "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=xy", d);
	MF_STR_EQ(u, "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=xy&digest=sha256%3A0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			  "absolute Location with _state: &digest=");
	free(u);
	u = mf_registry_upload_url("https://r.example.io", "/v2/a/blobs/uploads/u2", d);
	MF_STR_EQ(u, "https://r.example.io/v2/a/blobs/uploads/u2?digest=sha256%3A0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			  "path Location resolved against the origin: ?digest=");
	free(u);
	u = mf_registry_upload_url("https://r.example.io/", "/v2/a/blobs/uploads/u3?_state=1", NULL);
	MF_STR_EQ(u, "https://r.example.io/v2/a/blobs/uploads/u3?_state=1", "no digest: the Location resolved");
	free(u);
}

/* Scrubbing secrets from messages. */
static void
test_scrub(void)
{
	char		buf[128] = "failed with s3cret-pass at s3cret-pass; done";

	mf_registry_scrub(buf, sizeof(buf), "s3cret-pass");
	MF_STR_EQ(buf, "failed with *** at ***; done", "every occurrence replaced");
	mf_registry_scrub(buf, sizeof(buf), NULL);
	mf_registry_scrub(buf, sizeof(buf), "");
	MF_STR_EQ(buf, "failed with *** at ***; done", "NULL and empty secrets change nothing");
}

/* Names and URLs. */
static void
test_names(void)
{
	MF_OK(mf_registry_valid_repository("models/churn"), "repository with a slash");
	MF_OK(mf_registry_valid_repository("a.b/c__d/e--f-g"), "separators . __ --");
	MF_OK(!mf_registry_valid_repository("Models/x"), "uppercase refused");
	MF_OK(!mf_registry_valid_repository("a//b") && !mf_registry_valid_repository("/a") &&
		  !mf_registry_valid_repository("a/") && !mf_registry_valid_repository("a/../b") &&
		  !mf_registry_valid_repository(""), "empty components and traversal refused");
	MF_OK(mf_registry_valid_tag("1.2.0") && mf_registry_valid_tag("latest") && mf_registry_valid_tag("_x-Y.1"), "tags");
	MF_OK(!mf_registry_valid_tag(".x") && !mf_registry_valid_tag("a/b") && !mf_registry_valid_tag("a:b") &&
		  !mf_registry_valid_tag(""), "bad tags refused");
	MF_OK(mf_registry_valid_digest("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), "digest");
	MF_OK(!mf_registry_valid_digest("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef") &&
		  !mf_registry_valid_digest("sha512:00") && !mf_registry_valid_digest("sha256:../../etc/passwd"),
		  "bad digests refused (uppercase, other algorithm, paths)");
	MF_OK(mf_registry_url_problem("https://x.azurecr.io", false) == NULL, "https URL");
	MF_OK(mf_registry_url_problem("https://x.azurecr.io/", false) == NULL, "trailing slash allowed");
	MF_OK(mf_registry_url_problem("http://127.0.0.1:5000", true) == NULL, "http with insecure");
	MF_OK(mf_registry_url_problem("http://127.0.0.1:5000", false) != NULL, "http without insecure refused");
	MF_OK(mf_registry_url_problem("https://u:p@x.io", false) != NULL, "credentials in the URL refused");
	MF_OK(mf_registry_url_problem("https://x.io/v2/repo", false) != NULL, "a path refused");
	MF_OK(mf_registry_url_problem("ftp://x.io", true) != NULL, "another scheme refused");
	MF_OK(mf_registry_url_problem("https://", false) != NULL, "no host refused");
	MF_OK(mf_registry_url_problem("https://x.io?a=b", false) != NULL, "a query refused");
}

/* Opening a client checks its URL; closing frees it. */
static void
test_open(void)
{
	MfRegistryError err;
	MfRegistryConfig cfg = {.url = "http://127.0.0.1:1", .insecure = false, .password = "hunter2-secret"};
	MfRegistry *r = mf_registry_open(&cfg, &err);

	MF_OK(r == NULL && err.status == MF_REGISTRY_BAD_ARG && strstr(err.message, "insecure") != NULL,
		  "open refuses http without insecure, naming the option");
	cfg.insecure = true;
	r = mf_registry_open(&cfg, &err);
	MF_OK(r != NULL, "open with insecure");
	if (r)
	{
		char		digest[MF_REGISTRY_DIGEST_LEN];

		cfg.max_retries = -1;
		MF_OK(mf_registry_push_layout(r, "/nonexistent", "a", "v1", NULL, digest, &err) == MF_REGISTRY_BAD_LAYOUT &&
			  strstr(err.message, "not an OCI image layout") != NULL, "a missing layout is a layout error");
		MF_OK(mf_registry_push_layout(r, "/nonexistent", "A", "v1", NULL, digest, &err) == MF_REGISTRY_BAD_ARG,
			  "an invalid repository is refused before any I/O");
		mf_registry_close(r);
	}
}

int
main(void)
{
	test_challenges();
	test_token_replies();
	test_error_bodies();
	test_upload_urls();
	test_scrub();
	test_names();
	test_open();
	return mf_test_done();
}
