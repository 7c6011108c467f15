/*
 * policy.c - what a served name requires of a request: a bearer token
 * checked against its stored hash, a per-client rate limit, and the
 * traffic split that picks the version of a bare name.
 *
 * Bearer tokens are stored only as sha256$<salt hex>$<hex of
 * sha256(salt || token)> (16 salt bytes), the format the SQL side writes
 * with sha256(); the digest is computed with OpenSSL EVP and compared with
 * CRYPTO_memcmp, so the time taken does not depend on how much matched.
 *
 * The rate limit is a token bucket per (served name, client): capacity
 * requests_per_minute, refilled at requests_per_minute / 60 per second.
 * An empty bucket answers 429 with Retry-After = the seconds until one
 * request is available again.  Buckets live in a hash table behind a
 * mutex; when it grows past MF_LIMITER_MAX keys, full buckets (idle for a
 * minute or more: indistinguishable from new ones) are swept.
 */
#include "serve_int.h"

#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MF_LIMITER_BUCKETS	4096
#define MF_LIMITER_MAX		65536

/* ------------------------------------------------------------ bearer */

/* Value of one hex digit, or -1. */
static int
MfHexDigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode exactly n bytes of hex from s (2n digits); false when not hex. */
static bool
MfHexDecode(const char *s, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < n; i++)
	{
		int			hi = MfHexDigit(s[2 * i]);
		int			lo = hi < 0 ? -1 : MfHexDigit(s[2 * i + 1]);

		if (lo < 0)
			return false;
		out[i] = (unsigned char) (hi * 16 + lo);
	}
	return true;
}

/* Parse "sha256$<salt hex 32>$<digest hex 64>" into b. */
bool
mf_serve_bearer_parse(const char *hash, MfServeBearer *b)
{
	if (hash == NULL || strlen(hash) != MF_SERVE_BEARER_HASH_LEN - 1 ||
		strncmp(hash, "sha256$", 7) != 0 || hash[7 + 32] != '$')
		return false;
	return MfHexDecode(hash + 7, 16, b->salt) && MfHexDecode(hash + 7 + 33, 32, b->digest);
}

/* sha256(salt || token) into out; false on an OpenSSL failure. */
static bool
MfBearerDigest(const unsigned char *salt, const char *token, size_t len, unsigned char *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	bool		ok;

	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		EVP_DigestUpdate(ctx, salt, 16) == 1 &&
		EVP_DigestUpdate(ctx, token, len) == 1 &&
		EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* True when token hashes to b (constant time). */
bool
mf_serve_bearer_verify(const MfServeBearer *b, const char *token, size_t len)
{
	unsigned char d[32];

	if (token == NULL || !MfBearerDigest(b->salt, token, len, d))
		return false;
	return CRYPTO_memcmp(d, b->digest, 32) == 0;
}

/* True when token matches a stored hash. */
bool
mf_serve_bearer_check(const char *hash, const char *token, size_t len)
{
	MfServeBearer b;

	return mf_serve_bearer_parse(hash, &b) && mf_serve_bearer_verify(&b, token, len);
}

/* Hash a token with a fresh random salt into out (the stored format). */
bool
mf_serve_bearer_hash(const char *token, size_t len, char *out, size_t outlen)
{
	unsigned char salt[16],
				d[32];
	size_t		o;

	if (outlen < MF_SERVE_BEARER_HASH_LEN || RAND_bytes(salt, sizeof(salt)) != 1 ||
		!MfBearerDigest(salt, token, len, d))
		return false;
	o = (size_t) snprintf(out, outlen, "sha256$");
	for (int i = 0; i < 16; i++)
		o += (size_t) snprintf(out + o, outlen - o, "%02x", salt[i]);
	out[o++] = '$';
	for (int i = 0; i < 32; i++)
		o += (size_t) snprintf(out + o, outlen - o, "%02x", d[i]);
	return true;
}

/* ------------------------------------------------------------ rate limit */

/* One client's bucket. */
typedef struct MfBucket
{
	struct MfBucket *next;
	double		tokens;
	double		last;			/* seconds of the last refill */
	double		rpm;
	char		key[];			/* name NUL client NUL */
} MfBucket;

struct MfServeLimiter
{
	pthread_mutex_t lock;
	size_t		n_keys;
	MfBucket   *buckets[MF_LIMITER_BUCKETS];
};

/* A new rate limiter. */
MfServeLimiter *
mf_serve_limiter_new(void)
{
	MfServeLimiter *l = calloc(1, sizeof(MfServeLimiter));

	if (l != NULL && pthread_mutex_init(&l->lock, NULL) != 0)
	{
		free(l);
		return NULL;
	}
	return l;
}

/* Free a rate limiter. */
void
mf_serve_limiter_free(MfServeLimiter *l)
{
	if (l == NULL)
		return;
	for (int i = 0; i < MF_LIMITER_BUCKETS; i++)
		while (l->buckets[i] != NULL)
		{
			MfBucket   *b = l->buckets[i];

			l->buckets[i] = b->next;
			free(b);
		}
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* FNV-1a of name and client. */
static uint32_t
MfLimiterHash(const char *name, const char *client)
{
	uint32_t	h = 2166136261u;

	for (const char *s = name; *s; s++)
		h = (h ^ (unsigned char) *s) * 16777619u;
	h = (h ^ 0xffu) * 16777619u;
	for (const char *s = client; *s; s++)
		h = (h ^ (unsigned char) *s) * 16777619u;
	return h;
}

/* Refill a bucket to time now. */
static void
MfBucketRefill(MfBucket *b, double now, double rpm)
{
	if (b->rpm != rpm)
	{
		b->tokens = fmin(b->tokens, rpm);
		b->rpm = rpm;
	}
	if (now > b->last)
		b->tokens = fmin(rpm, b->tokens + (now - b->last) * rpm / 60.0);
	b->last = now;
}

/* Remove the buckets that are full at time now (caller holds the lock). */
static void
MfLimiterSweep(MfServeLimiter *l, double now)
{
	for (int i = 0; i < MF_LIMITER_BUCKETS; i++)
	{
		MfBucket  **pp = &l->buckets[i];

		while (*pp != NULL)
		{
			MfBucket   *b = *pp;

			if (b->tokens + (now - b->last) * b->rpm / 60.0 >= b->rpm)
			{
				*pp = b->next;
				free(b);
				l->n_keys--;
			}
			else
				pp = &b->next;
		}
	}
}

/* The bucket of (name, client), created full; NULL when out of memory. */
static MfBucket *
MfLimiterBucket(MfServeLimiter *l, const char *name, const char *client, double now, double rpm)
{
	uint32_t	h = MfLimiterHash(name, client) % MF_LIMITER_BUCKETS;
	size_t		nl = strlen(name),
				cl = strlen(client);
	MfBucket   *b;

	for (b = l->buckets[h]; b != NULL; b = b->next)
		if (strcmp(b->key, name) == 0 && strcmp(b->key + nl + 1, client) == 0)
			return b;
	if (l->n_keys >= MF_LIMITER_MAX)
		MfLimiterSweep(l, now);
	b = malloc(sizeof(MfBucket) + nl + cl + 2);
	if (b == NULL)
		return NULL;
	memcpy(b->key, name, nl + 1);
	memcpy(b->key + nl + 1, client, cl + 1);
	b->tokens = rpm;
	b->rpm = rpm;
	b->last = now;
	b->next = l->buckets[h];
	l->buckets[h] = b;
	l->n_keys++;
	return b;
}

/* Take one request of client under name; false with *retry_after when over. */
bool
mf_serve_limiter_take(MfServeLimiter *l, const char *name, const char *client, int rpm,
					  double now, int *retry_after)
{
	MfBucket   *b;
	bool		ok = true;

	if (rpm <= 0)
		return true;
	pthread_mutex_lock(&l->lock);
	b = MfLimiterBucket(l, name, client ? client : "", now, (double) rpm);
	if (b != NULL)
	{
		MfBucketRefill(b, now, (double) rpm);
		if (b->tokens >= 1.0)
			b->tokens -= 1.0;
		else
		{
			ok = false;
			*retry_after = (int) ceil((1.0 - b->tokens) * 60.0 / rpm);
			if (*retry_after < 1)
				*retry_after = 1;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return ok;
}

/* ------------------------------------------------------------ traffic split */

/* The split's version for a uniform draw u in [0, 1). */
const MfServeVersion *
mf_serve_split_pick(const MfServeEntry *e, double u)
{
	int			n = e->policy.n_split;

	for (int s = 0; s < n; s++)
		if (u < e->split_cum[s])
			return e->versions[e->split_idx[s]];
	return e->versions[e->split_idx[n - 1]];
}
