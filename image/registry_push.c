/*
 * registry_push.c - pushing an OCI image layout and copying an image by
 * digest: layouts, blobs (HEAD, mount, upload) and manifests.
 *
 * Design note
 * -----------
 * Everything read from a layout is checked before it is sent: oci-layout
 * names a layout version, index.json picks one image manifest (by the
 * ref.name annotation or as the only one), every digest is sha256:<64 hex>
 * (so a blob path can never leave blobs/sha256/), the manifest's bytes hash
 * to its digest, every blob has its descriptor's size, is at most
 * max_blob_bytes, and hashes to its digest (checked while it is read once
 * before uploading).  Blobs go in the manifest's order (config, then layers
 * base first); the manifest goes last, so an interrupted push leaves at most
 * blobs, never a tag.  An upload is POST, then either one PUT with the body
 * (up to chunk_bytes) or PATCHes of chunk_bytes with Content-Range followed
 * by an empty PUT; the Location of each answer is the next URL (absolute
 * with ?_state= on docker-registry 2.8, or a path); the PUT carries
 * digest=.  When the registry forgets an upload session (404
 * BLOB_UPLOAD_UNKNOWN or 400 BLOB_UPLOAD_INVALID after a restart), the
 * upload starts over once.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "registry_internal.h"

#define MF_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MF_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MF_ACCEPT_MANIFESTS "Accept: " MF_MT_OCI_MANIFEST ", " MF_MT_DOCKER_MANIFEST
#define MF_MAX_LAYERS 256

/* A content descriptor. */
typedef struct MfRegBlob
{
	char		digest[MF_REGISTRY_DIGEST_LEN];
	uint64_t	size;
} MfRegBlob;

/* An image manifest: its bytes, media type and blobs (config first). */
typedef struct MfRegManifest
{
	unsigned char *bytes;
	size_t		len;
	char		media_type[128];
	char		digest[MF_REGISTRY_DIGEST_LEN];
	MfRegBlob	blobs[MF_MAX_LAYERS + 1];
	int			nblobs;
} MfRegManifest;

/* A repository name of the distribution spec: path components of [a-z0-9] joined by separators. */
bool
mf_registry_valid_repository(const char *r)
{
	size_t		n = r ? strlen(r) : 0;
	bool		need_alnum = true;

	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		char		c = r[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			need_alnum = false;
		else if (need_alnum)
			return false;
		else if (c == '/' || c == '.')
			need_alnum = true;
		else if (c == '_' || c == '-')
		{
			/* separators: "_", "__", "-"+ */
			if (c == '_' && r[i + 1] == '_')
				i++;
			else if (c == '-')
				while (r[i + 1] == '-')
					i++;
			need_alnum = true;
		}
		else
			return false;
	}
	return !need_alnum;
}

/* A tag: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. */
bool
mf_registry_valid_tag(const char *t)
{
	size_t		n = t ? strlen(t) : 0;

	if (n == 0 || n > 128 || t[0] == '.' || t[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= '0' && t[i] <= '9') ||
			  t[i] == '_' || t[i] == '.' || t[i] == '-'))
			return false;
	return true;
}

/* A sha256 digest: sha256:<64 lowercase hex>. */
bool
mf_registry_valid_digest(const char *d)
{
	if (d == NULL || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
		return false;
	for (int i = 7; i < 71; i++)
		if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
			return false;
	return true;
}

/* "sha256:<hex>" of a memory buffer. */
static void
mf_reg_sha256(const unsigned char *data, size_t len, char out[MF_REGISTRY_DIGEST_LEN])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* Hash a whole file into out, counting its bytes; false on I/O error or cancel. */
static bool
mf_reg_sha256_file(MfRegistry *reg, FILE *f, uint64_t *size, char out[MF_REGISTRY_DIGEST_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char buf[1 << 16];
	unsigned char md[32];
	unsigned int mdlen = 0;
	size_t		n;
	uint64_t	since_poll = 0;
	bool		ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;

	*size = 0;
	rewind(f);
	while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
	{
		ok = EVP_DigestUpdate(ctx, buf, n) == 1;
		*size += n;
		if ((since_poll += n) >= (1 << 22))
		{
			since_poll = 0;
			if (mf_reg_cancelled(reg))
				ok = false;
		}
	}
	ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
	EVP_MD_CTX_free(ctx);
	if (ok)
	{
		memcpy(out, "sha256:", 7);
		for (int i = 0; i < 32; i++)
			snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
	}
	rewind(f);
	return ok;
}

/* Read a small file (at most max bytes) into a malloc'd NUL-terminated buffer. */
static unsigned char *
mf_reg_read_small(const char *path, size_t max, size_t *len, int *err_no)
{
	FILE	   *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	struct stat st;

	*err_no = 0;
	if (f == NULL || fstat(fileno(f), &st) != 0)
		*err_no = errno;
	else if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size > max)
		*err_no = EFBIG;
	else if ((buf = malloc((size_t) st.st_size + 1)) == NULL)
		*err_no = ENOMEM;
	else if (fread(buf, 1, (size_t) st.st_size, f) != (size_t) st.st_size)
	{
		*err_no = EIO;
		free(buf);
		buf = NULL;
	}
	else
	{
		buf[st.st_size] = '\0';
		*len = (size_t) st.st_size;
	}
	if (f)
		fclose(f);
	return buf;
}

/* Parse a descriptor (digest, size) into b; NULL when valid, else the problem. */
static const char *
mf_reg_descriptor(json_t *d, MfRegBlob *b)
{
	json_t	   *dg = json_object_get(d, "digest");
	json_t	   *sz = json_object_get(d, "size");

	if (!json_is_object(d))
		return "a descriptor is not an object";
	if (!json_is_string(dg) || !mf_registry_valid_digest(json_string_value(dg)))
		return "a descriptor's digest is not sha256:<64 lowercase hex>";
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return "a descriptor's size is not a non-negative integer";
	snprintf(b->digest, sizeof(b->digest), "%s", json_string_value(dg));
	b->size = (uint64_t) json_integer_value(sz);
	return NULL;
}

/* Check manifest bytes and list their blobs (config first); NULL when valid. */
static const char *
mf_reg_parse_manifest(MfRegManifest *m)
{
	json_error_t jerr;
	json_t	   *root = json_loadb((const char *) m->bytes, m->len, 0, &jerr);
	json_t	   *layers,
			   *mt;
	const char *problem = NULL;
	size_t		i;
	json_t	   *l;

	if (root == NULL || !json_is_object(root))
		problem = "the manifest is not a JSON object";
	else if ((mt = json_object_get(root, "mediaType")) != NULL && json_is_string(mt) &&
			 strcmp(json_string_value(mt), MF_MT_OCI_MANIFEST) != 0 &&
			 strcmp(json_string_value(mt), MF_MT_DOCKER_MANIFEST) != 0)
		problem = "the manifest is not an image manifest (an image index or another type is not supported)";
	else if (json_integer_value(json_object_get(root, "schemaVersion")) != 2)
		problem = "the manifest's schemaVersion is not 2";
	else if ((problem = mf_reg_descriptor(json_object_get(root, "config"), &m->blobs[0])) != NULL)
		;
	else if (!json_is_array(layers = json_object_get(root, "layers")) || json_array_size(layers) > MF_MAX_LAYERS)
		problem = "the manifest's layers are not an array of at most 256 descriptors";
	else
	{
		if (m->media_type[0] == '\0')
			snprintf(m->media_type, sizeof(m->media_type), "%s",
					 json_is_string(mt) ? json_string_value(mt) : MF_MT_OCI_MANIFEST);
		m->nblobs = 1;
		json_array_foreach(layers, i, l)
		{
			if ((problem = mf_reg_descriptor(l, &m->blobs[m->nblobs])) != NULL)
				break;
			m->nblobs++;
		}
	}
	json_decref(root);
	return problem;
}

/* Read the manifest of a layout (see the design note). */
static MfRegistryStatus
mf_reg_read_layout(MfRegistry *reg, const char *dir, const char *tag, MfRegManifest *m, MfRegistryError *err)
{
	char	   *path = mf_reg_printf("%s/oci-layout", dir);
	unsigned char *buf;
	size_t		len = 0;
	int			e;
	json_error_t jerr;
	json_t	   *root,
			   *chosen = NULL,
			   *d;
	size_t		i,
				n;
	const char *problem = NULL;
	MfRegBlob	desc;

	if (path == NULL)
		return mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory");
	buf = mf_reg_read_small(path, 4096, &len, &e);
	free(path);
	root = buf ? json_loadb((char *) buf, len, 0, &jerr) : NULL;
	free(buf);
	if (!json_is_string(json_object_get(root, "imageLayoutVersion")))
	{
		json_decref(root);
		return mf_reg_fail(reg, err, MF_REGISTRY_BAD_LAYOUT, 0, NULL,
						   "%s is not an OCI image layout: %s/oci-layout: %s", dir, dir,
						   e ? strerror(e) : "has no imageLayoutVersion");
	}
	json_decref(root);
	path = mf_reg_printf("%s/index.json", dir);
	buf = path ? mf_reg_read_small(path, MF_REGISTRY_MAX_DOC_BYTES, &len, &e) : NULL;
	free(path);
	root = buf ? json_loadb((char *) buf, len, 0, &jerr) : NULL;
	free(buf);
	n = json_array_size(json_object_get(root, "manifests"));
	json_array_foreach(json_object_get(root, "manifests"), i, d)
	{
		json_t	   *name = json_object_get(json_object_get(d, "annotations"), "org.opencontainers.image.ref.name");

		if (n == 1 || (json_is_string(name) && tag && strcmp(json_string_value(name), tag) == 0))
			chosen = d;
	}
	if (chosen == NULL)
		problem = n == 0 ? "index.json lists no manifest" : "index.json lists several manifests and none is annotated with the tag";
	else if ((problem = mf_reg_descriptor(chosen, &desc)) == NULL)
	{
		json_t	   *mt = json_object_get(chosen, "mediaType");

		snprintf(m->media_type, sizeof(m->media_type), "%s", json_is_string(mt) ? json_string_value(mt) : "");
		snprintf(m->digest, sizeof(m->digest), "%s", desc.digest);
		if (desc.size > MF_REGISTRY_MAX_DOC_BYTES)
			problem = "the manifest is larger than 4 MiB";
	}
	json_decref(root);
	if (problem)
		return mf_reg_fail(reg, err, MF_REGISTRY_BAD_LAYOUT, 0, NULL, "layout %s: %s", dir,
						   e ? strerror(e) : problem);
	path = mf_reg_printf("%s/blobs/sha256/%s", dir, m->digest + 7);
	m->bytes = path ? mf_reg_read_small(path, MF_REGISTRY_MAX_DOC_BYTES, &m->len, &e) : NULL;
	free(path);
	if (m->bytes == NULL)
		return mf_reg_fail(reg, err, MF_REGISTRY_BAD_LAYOUT, 0, NULL, "layout %s: manifest blob %s: %s", dir,
						   m->digest, strerror(e ? e : ENOMEM));
	{
		char		got[MF_REGISTRY_DIGEST_LEN];

		mf_reg_sha256(m->bytes, m->len, got);
		if (strcmp(got, m->digest) != 0 || m->len != desc.size)
			return mf_reg_fail(reg, err, MF_REGISTRY_BAD_LAYOUT, 0, NULL,
							   "layout %s: the manifest blob does not match its descriptor (digest %s, %zu bytes)",
							   dir, got, m->len);
	}
	if ((problem = mf_reg_parse_manifest(m)) != NULL)
		return mf_reg_fail(reg, err, MF_REGISTRY_BAD_LAYOUT, 0, NULL, "layout %s: %s", dir, problem);
	return MF_REGISTRY_OK;
}

/* The scope key of a repository: repository:<name>:pull,push. */
static char *
mf_reg_scope(const char *repository, const char *mount_from)
{
	if (mount_from)
		return mf_reg_printf("repository:%s:pull,push repository:%s:pull", repository, mount_from);
	return mf_reg_printf("repository:%s:pull,push", repository);
}

/* Report progress, when the caller asked for it. */
static void
mf_reg_progress(MfRegistry *reg, const char *what, const MfRegBlob *b, uint64_t done)
{
	if (reg->cfg.progress)
		reg->cfg.progress(reg->cfg.progress_arg, what, b->digest, done, b->size);
}

/* HEAD a blob: 1 present, 0 absent, -1 error. */
static int
mf_reg_blob_exists(MfRegistry *reg, const char *repo, const MfRegBlob *b, MfRegistryError *err)
{
	char	   *url = mf_reg_printf("%s/v2/%s/blobs/%s", reg->base, repo, b->digest);
	char	   *scope = mf_reg_scope(repo, NULL);
	char		what[128];
	MfRegRequest req = {.method = "HEAD", .url = url, .what = what, .scope = scope};
	MfRegResponse resp;
	int			out = -1;

	snprintf(what, sizeof(what), "HEAD blob %.19s", b->digest);
	if (url && scope && mf_reg_request(reg, &req, &resp, err) == MF_REGISTRY_OK)
	{
		if (resp.status == 200)
			out = 1;
		else if (resp.status == 404)
			out = 0;
		else
			mf_reg_fail_response(reg, err, what, &resp);
		mf_reg_response_free(&resp);
	}
	else if (!url || !scope)
		mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory");
	free(url);
	free(scope);
	return out;
}

/* Whether a failed upload answer means the registry forgot the session. */
static bool
mf_reg_session_lost(const MfRegistryError *err)
{
	return (err->http_status == 404 && strcmp(err->code, "BLOB_UPLOAD_UNKNOWN") == 0) ||
		(err->http_status == 400 && strcmp(err->code, "BLOB_UPLOAD_INVALID") == 0);
}

/* Take the Location of an upload answer as the next URL (resolved); false if none. */
static bool
mf_reg_next_location(MfRegistry *reg, const MfRegResponse *resp, char **next)
{
	free(*next);
	*next = resp->location ? mf_registry_upload_url(reg->base, resp->location, NULL) : NULL;
	return *next != NULL;
}

/* PATCH the chunks of f, then PUT ?digest= ; *loc is the session URL on entry. */
static MfRegistryStatus
mf_reg_upload_body(MfRegistry *reg, const char *scope, const MfRegBlob *b, FILE *f, char **loc,
				   MfRegistryError *err)
{
	MfRegResponse resp;
	MfRegistryStatus s = MF_REGISTRY_OK;
	uint64_t	off = 0;
	char		what[160];
	char	   *put;

	if (b->size > reg->cfg.chunk_bytes)
	{
		while (off < b->size && s == MF_REGISTRY_OK)
		{
			uint64_t	n = b->size - off < reg->cfg.chunk_bytes ? b->size - off : reg->cfg.chunk_bytes;
			char		range[80];
			MfRegRequest req = {.method = "PATCH", .url = *loc, .what = what, .scope = scope,
			.content_range = range, .body_file = f, .body_off = off, .body_len = n};

			snprintf(what, sizeof(what), "PATCH blob %.19s (bytes %llu-%llu)", b->digest,
					 (unsigned long long) off, (unsigned long long) (off + n - 1));
			snprintf(range, sizeof(range), "Content-Range: %llu-%llu", (unsigned long long) off,
					 (unsigned long long) (off + n - 1));
			if ((s = mf_reg_request(reg, &req, &resp, err)) != MF_REGISTRY_OK)
				break;
			if (resp.status != 202)
				s = mf_reg_fail_response(reg, err, what, &resp);
			else if (!mf_reg_next_location(reg, &resp, loc))
				s = mf_reg_fail(reg, err, MF_REGISTRY_PROTOCOL, 202, NULL, "%s: the answer has no Location", what);
			mf_reg_response_free(&resp);
			off += n;
			if (off < b->size)
				mf_reg_progress(reg, "upload", b, off);
		}
		if (s != MF_REGISTRY_OK)
			return s;
	}
	put = mf_registry_upload_url(reg->base, *loc, b->digest);
	if (put == NULL)
		return mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory");
	{
		bool		whole = off == 0;
		MfRegRequest req = {.method = "PUT", .url = put, .what = what, .scope = scope,
			.body_file = whole ? f : NULL, .body_len = whole ? b->size : 0,
		.body = (whole || b->size > 0) ? NULL : (const unsigned char *) ""};

		snprintf(what, sizeof(what), "PUT blob %.19s", b->digest);
		s = mf_reg_request(reg, &req, &resp, err);
		if (s == MF_REGISTRY_OK && resp.status != 201)
			s = mf_reg_fail_response(reg, err, what, &resp);
		else if (s == MF_REGISTRY_OK && resp.digest && strcmp(resp.digest, b->digest) != 0)
			s = mf_reg_fail(reg, err, MF_REGISTRY_PROTOCOL, 201, NULL, "%s: the registry stored digest %.80s",
							what, resp.digest);
		if (s == MF_REGISTRY_OK)
			mf_reg_progress(reg, "upload", b, b->size);
		mf_reg_response_free(&resp);
	}
	free(put);
	return s;
}

/*
 * Make sure repo holds blob b, which a HEAD found absent: mount (from
 * mount_from), or upload of f (NULL: mount only; then an absent blob is an
 * error).
 */
static MfRegistryStatus
mf_reg_ensure_blob(MfRegistry *reg, const char *repo, const MfRegBlob *b, FILE *f, const char *mount_from,
				   MfRegistryError *err)
{
	int			exists = 0;
	MfRegistryStatus s = MF_REGISTRY_OK;
	char	   *scope = NULL,
			   *url = NULL,
			   *loc = NULL;
	char		what[160];

	if (exists != 0)
	{
		if (exists == 1)
			mf_reg_progress(reg, "exists", b, b->size);
		return exists == 1 ? MF_REGISTRY_OK : err->status;
	}
	if (mount_from && strcmp(mount_from, repo) == 0)
		mount_from = NULL;
	for (int attempt = 0; attempt < 2; attempt++)
	{
		MfRegResponse resp;
		MfRegRequest req = {.method = "POST", .what = what};

		free(scope);
		free(url);
		scope = mf_reg_scope(repo, mount_from);
		url = mount_from ? mf_reg_printf("%s/v2/%s/blobs/uploads/?mount=%s&from=%s", reg->base, repo,
										 b->digest, mount_from)
			: mf_reg_printf("%s/v2/%s/blobs/uploads/", reg->base, repo);
		if (!scope || !url)
		{
			s = mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory");
			break;
		}
		req.url = url;
		req.scope = scope;
		snprintf(what, sizeof(what), mount_from ? "mount blob %.19s from %.60s" : "start upload of blob %.19s%.0s",
				 b->digest, mount_from ? mount_from : "");
		if ((s = mf_reg_request(reg, &req, &resp, err)) != MF_REGISTRY_OK)
			break;
		if (mount_from && resp.status == 201)
		{
			mf_reg_response_free(&resp);
			mf_reg_progress(reg, "mount", b, b->size);
			break;
		}
		if (resp.status != 202)
			s = mf_reg_fail_response(reg, err, what, &resp);
		else if (!mf_reg_next_location(reg, &resp, &loc))
			s = mf_reg_fail(reg, err, MF_REGISTRY_PROTOCOL, 202, NULL, "%s: the answer has no Location", what);
		else if (f == NULL)
			s = mf_reg_fail(reg, err, MF_REGISTRY_NOT_FOUND, 202, NULL,
							"%s: the blob could not be mounted and there is nothing to upload", what);
		mf_reg_response_free(&resp);
		if (s != MF_REGISTRY_OK)
			break;
		s = mf_reg_upload_body(reg, scope, b, f, &loc, err);
		if (s == MF_REGISTRY_OK || !mf_reg_session_lost(err))
			break;
		mount_from = NULL;		/* start over with a plain upload */
	}
	free(scope);
	free(url);
	free(loc);
	return s;
}

/* Open a blob file of the layout and check its size and digest. */
static MfRegistryStatus
mf_reg_open_blob(MfRegistry *reg, const char *dir, const MfRegBlob *b, FILE **out, MfRegistryError *err)
{
	char	   *path = mf_reg_printf("%s/blobs/sha256/%s", dir, b->digest + 7);
	FILE	   *f = path ? fopen(path, "rb") : NULL;
	char		got[MF_REGISTRY_DIGEST_LEN];
	uint64_t	size = 0;
	int			e = errno;

	free(path);
	*out = NULL;
	if (b->size > reg->cfg.max_blob_bytes)
		return mf_reg_fail(reg, err, MF_REGISTRY_TOO_LARGE, 0, NULL,
						   "blob %s has %llu bytes, more than the limit of %llu bytes (1 GiB by default)",
						   b->digest, (unsigned long long) b->size, (unsigned long long) reg->cfg.max_blob_bytes);
	if (f == NULL)
		return mf_reg_fail(reg, err, MF_REGISTRY_BAD_LAYOUT, 0, NULL, "layout %s: blob %s: %s", dir, b->digest,
						   strerror(e));
	if (!mf_reg_sha256_file(reg, f, &size, got))
	{
		fclose(f);
		return mf_reg_cancelled(reg) ? mf_reg_fail(reg, err, MF_REGISTRY_CANCELLED, 0, NULL, "push cancelled")
			: mf_reg_fail(reg, err, MF_REGISTRY_BAD_LAYOUT, 0, NULL, "layout %s: blob %s: read error", dir, b->digest);
	}
	if (size != b->size || strcmp(got, b->digest) != 0)
	{
		fclose(f);
		return mf_reg_fail(reg, err, MF_REGISTRY_BAD_LAYOUT, 0, NULL,
						   "layout %s: blob %s does not match its descriptor (%llu bytes, digest %s)", dir,
						   b->digest, (unsigned long long) size, got);
	}
	*out = f;
	return MF_REGISTRY_OK;
}

/* PUT a manifest by reference (a tag or its digest). */
static MfRegistryStatus
mf_reg_put_manifest(MfRegistry *reg, const char *repo, const char *reference, const MfRegManifest *m,
					MfRegistryError *err)
{
	char	   *url = mf_reg_printf("%s/v2/%s/manifests/%s", reg->base, repo, reference);
	char	   *scope = mf_reg_scope(repo, NULL);
	char	   *ctype = mf_reg_printf("Content-Type: %s", m->media_type);
	char		what[160];
	MfRegRequest req = {.method = "PUT", .url = url, .what = what, .scope = scope, .content_type = ctype,
	.body = m->bytes, .body_len = m->len};
	MfRegResponse resp;
	MfRegistryStatus s;

	if (snprintf(what, sizeof(what), "PUT manifest %.60s:%.80s", repo, reference) >= (int) sizeof(what))
		what[sizeof(what) - 1] = '\0';
	if (!url || !scope || !ctype)
		s = mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory");
	else if ((s = mf_reg_request(reg, &req, &resp, err)) == MF_REGISTRY_OK)
	{
		if (resp.status != 201)
			s = mf_reg_fail_response(reg, err, what, &resp);
		else if (resp.digest && strcmp(resp.digest, m->digest) != 0)
			s = mf_reg_fail(reg, err, MF_REGISTRY_PROTOCOL, 201, NULL,
							"%s: the registry computed digest %.80s, not %s", what, resp.digest, m->digest);
		mf_reg_response_free(&resp);
	}
	free(url);
	free(scope);
	free(ctype);
	if (s == MF_REGISTRY_OK && reg->cfg.progress)
		reg->cfg.progress(reg->cfg.progress_arg, "manifest", m->digest, m->len, m->len);
	return s;
}

/* Push a layout (see registry.h and the design note). */
MfRegistryStatus
mf_registry_push_layout(MfRegistry *reg, const char *layout_dir, const char *repository, const char *tag,
						const char *mount_from, char digest[MF_REGISTRY_DIGEST_LEN], MfRegistryError *err)
{
	MfRegManifest *m;
	MfRegistryStatus s;

	memset(err, 0, sizeof(*err));
	digest[0] = '\0';
	if (!mf_registry_valid_repository(repository))
		return mf_reg_fail(reg, err, MF_REGISTRY_BAD_ARG, 0, NULL, "invalid repository name \"%.100s\"", repository);
	if (!mf_registry_valid_tag(tag))
		return mf_reg_fail(reg, err, MF_REGISTRY_BAD_ARG, 0, NULL, "invalid tag \"%.130s\"", tag ? tag : "");
	if (mount_from && !mf_registry_valid_repository(mount_from))
		return mf_reg_fail(reg, err, MF_REGISTRY_BAD_ARG, 0, NULL, "invalid repository name \"%.100s\"", mount_from);
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory");
	s = mf_reg_read_layout(reg, layout_dir, tag, m, err);
	for (int i = 0; s == MF_REGISTRY_OK && i < m->nblobs; i++)
	{
		FILE	   *f = NULL;
		int			exists;

		if (m->blobs[i].size > reg->cfg.max_blob_bytes)
		{
			s = mf_reg_open_blob(reg, layout_dir, &m->blobs[i], &f, err);	/* the limit's error */
			break;
		}
		/* a blob the registry has is not read at all */
		exists = mf_reg_blob_exists(reg, repository, &m->blobs[i], err);
		if (exists < 0)
			s = err->status;
		else if (exists == 1)
			mf_reg_progress(reg, "exists", &m->blobs[i], m->blobs[i].size);
		else if ((s = mf_reg_open_blob(reg, layout_dir, &m->blobs[i], &f, err)) == MF_REGISTRY_OK)
			s = mf_reg_ensure_blob(reg, repository, &m->blobs[i], f, mount_from, err);
		if (f)
			fclose(f);
	}
	if (s == MF_REGISTRY_OK)
		s = mf_reg_put_manifest(reg, repository, tag, m, err);
	if (s == MF_REGISTRY_OK)
		memcpy(digest, m->digest, MF_REGISTRY_DIGEST_LEN);
	free(m->bytes);
	free(m);
	return s;
}

/* GET a manifest by digest and check its bytes hash to it. */
static MfRegistryStatus
mf_reg_get_manifest(MfRegistry *reg, const char *repo, const char *digest, MfRegManifest *m,
					MfRegistryError *err)
{
	char	   *url = mf_reg_printf("%s/v2/%s/manifests/%s", reg->base, repo, digest);
	char	   *scope = mf_reg_printf("repository:%s:pull", repo);
	char		what[200];
	MfRegRequest req = {.method = "GET", .url = url, .what = what, .scope = scope, .accept = MF_ACCEPT_MANIFESTS};
	MfRegResponse resp;
	MfRegistryStatus s;
	const char *problem;

	snprintf(what, sizeof(what), "GET manifest %.80s@%.19s", repo, digest);
	if (!url || !scope)
		s = mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory");
	else if ((s = mf_reg_request(reg, &req, &resp, err)) == MF_REGISTRY_OK)
	{
		if (resp.status != 200 || resp.body == NULL)
			s = mf_reg_fail_response(reg, err, what, &resp);
		else
		{
			m->bytes = (unsigned char *) resp.body;
			m->len = resp.body_len;
			resp.body = NULL;
			mf_reg_sha256(m->bytes, m->len, m->digest);
			if (resp.content_type)
				snprintf(m->media_type, sizeof(m->media_type), "%.*s",
						 (int) strcspn(resp.content_type, "; "), resp.content_type);
			if (strcmp(m->digest, digest) != 0)
				s = mf_reg_fail(reg, err, MF_REGISTRY_PROTOCOL, 200, NULL, "%s: the bytes hash to %s", what, m->digest);
			else if ((problem = mf_reg_parse_manifest(m)) != NULL)
				s = mf_reg_fail(reg, err, MF_REGISTRY_PROTOCOL, 200, NULL, "%s: %s", what, problem);
		}
		mf_reg_response_free(&resp);
	}
	free(url);
	free(scope);
	return s;
}

/* Download a blob into an unlinked temporary file, checked against its digest. */
static MfRegistryStatus
mf_reg_download_blob(MfRegistry *reg, const char *repo, const MfRegBlob *b, FILE **out, MfRegistryError *err)
{
	char	   *url = mf_reg_printf("%s/v2/%s/blobs/%s", reg->base, repo, b->digest);
	char	   *scope = mf_reg_printf("repository:%s:pull", repo);
	FILE	   *f = tmpfile();
	char		what[160];
	MfRegRequest req = {.method = "GET", .url = url, .what = what, .scope = scope, .sink = f, .follow = true};
	MfRegResponse resp;
	MfRegistryStatus s;
	char		got[MF_REGISTRY_DIGEST_LEN];
	uint64_t	size = 0;

	snprintf(what, sizeof(what), "GET blob %.19s", b->digest);
	*out = NULL;
	if (b->size > reg->cfg.max_blob_bytes)
		s = mf_reg_fail(reg, err, MF_REGISTRY_TOO_LARGE, 0, NULL,
						"blob %s has %llu bytes, more than the limit of %llu bytes (1 GiB by default)",
						b->digest, (unsigned long long) b->size, (unsigned long long) reg->cfg.max_blob_bytes);
	else if (!url || !scope || !f)
		s = mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory or no temporary file");
	else if ((s = mf_reg_request(reg, &req, &resp, err)) == MF_REGISTRY_OK)
	{
		if (resp.status != 200)
			s = mf_reg_fail_response(reg, err, what, &resp);
		else if (fflush(f) != 0 || !mf_reg_sha256_file(reg, f, &size, got))
			s = mf_reg_fail(reg, err, MF_REGISTRY_NOMEM, 0, NULL, "%s: local I/O error", what);
		else if (size != b->size || strcmp(got, b->digest) != 0)
			s = mf_reg_fail(reg, err, MF_REGISTRY_PROTOCOL, 200, NULL, "%s: got %llu bytes hashing to %s", what,
							(unsigned long long) size, got);
		mf_reg_response_free(&resp);
	}
	free(url);
	free(scope);
	if (s == MF_REGISTRY_OK)
		*out = f;
	else if (f)
		fclose(f);
	return s;
}

/* Copy an image by digest (see registry.h and the design note atop registry.h). */
MfRegistryStatus
mf_registry_copy(MfRegistry *src, const char *src_repository, const char *digest,
				 MfRegistry *dst, const char *dst_repository, const char *dst_tag, MfRegistryError *err)
{
	MfRegManifest *m;
	MfRegistryStatus s;
	bool		same = src == dst || strcmp(src->origin, dst->origin) == 0;

	memset(err, 0, sizeof(*err));
	if (!mf_registry_valid_repository(src_repository) || !mf_registry_valid_repository(dst_repository))
		return mf_reg_fail(dst, err, MF_REGISTRY_BAD_ARG, 0, NULL, "invalid repository name \"%.100s\"",
						   mf_registry_valid_repository(src_repository) ? dst_repository : src_repository);
	if (!mf_registry_valid_digest(digest))
		return mf_reg_fail(dst, err, MF_REGISTRY_BAD_ARG, 0, NULL, "invalid digest \"%.80s\" (sha256:<64 hex>)",
						   digest ? digest : "");
	if (dst_tag && !mf_registry_valid_tag(dst_tag))
		return mf_reg_fail(dst, err, MF_REGISTRY_BAD_ARG, 0, NULL, "invalid tag \"%.130s\"", dst_tag);
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return mf_reg_fail(dst, err, MF_REGISTRY_NOMEM, 0, NULL, "out of memory");
	s = mf_reg_get_manifest(src, src_repository, digest, m, err);
	if (s == MF_REGISTRY_OK && m->media_type[0] == '\0')
		snprintf(m->media_type, sizeof(m->media_type), "%s", MF_MT_OCI_MANIFEST);
	for (int i = 0; s == MF_REGISTRY_OK && i < m->nblobs; i++)
	{
		MfRegBlob  *b = &m->blobs[i];
		FILE	   *f = NULL;
		int			exists;

		if (b->size > dst->cfg.max_blob_bytes)
			s = mf_reg_fail(dst, err, MF_REGISTRY_TOO_LARGE, 0, NULL,
							"blob %s has %llu bytes, more than the limit of %llu bytes (1 GiB by default)",
							b->digest, (unsigned long long) b->size, (unsigned long long) dst->cfg.max_blob_bytes);
		else if ((exists = mf_reg_blob_exists(dst, dst_repository, b, err)) < 0)
			s = err->status;
		else if (exists == 1)
			mf_reg_progress(dst, "exists", b, b->size);
		else if (same && strcmp(src_repository, dst_repository) != 0 &&
				 (s = mf_reg_ensure_blob(dst, dst_repository, b, NULL, src_repository, err)) == MF_REGISTRY_OK)
			;					/* mounted */
		else
		{
			if (same && s != MF_REGISTRY_NOT_FOUND && s != MF_REGISTRY_OK)
				break;
			if ((s = mf_reg_download_blob(src, src_repository, b, &f, err)) == MF_REGISTRY_OK)
			{
				mf_reg_progress(src, "download", b, b->size);
				s = mf_reg_ensure_blob(dst, dst_repository, b, f, NULL, err);
			}
			if (f)
				fclose(f);
		}
	}
	if (s == MF_REGISTRY_OK)
		s = mf_reg_put_manifest(dst, dst_repository, dst_tag ? dst_tag : digest, m, err);
	free(m->bytes);
	free(m);
	return s;
}

/* Whether a manifest exists (HEAD by tag or digest). */
int
mf_registry_manifest_exists(MfRegistry *reg, const char *repository, const char *reference, MfRegistryError *err)
{
	char	   *url = mf_reg_printf("%s/v2/%s/manifests/%s", reg->base, repository, reference);
	char	   *scope = mf_reg_printf("repository:%s:pull", repository);
	MfRegRequest req = {.method = "HEAD", .url = url, .what = "HEAD manifest", .scope = scope,
	.accept = MF_ACCEPT_MANIFESTS};
	MfRegResponse resp;
	int			out = -1;

	memset(err, 0, sizeof(*err));
	if (url && scope && mf_reg_request(reg, &req, &resp, err) == MF_REGISTRY_OK)
	{
		out = resp.status == 200 ? 1 : resp.status == 404 ? 0 : -1;
		if (out < 0)
			mf_reg_fail_response(reg, err, "HEAD manifest", &resp);
		mf_reg_response_free(&resp);
	}
	free(url);
	free(scope);
	return out;
}
