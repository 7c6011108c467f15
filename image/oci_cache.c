/*
 * oci_cache.c - the base layer cache of the image builder.
 *
 * Every version built against one installed mf-serve has the same base
 * layer (the same tar bytes: its members are dated MF_OCI_BASE_MTIME), yet
 * deflating its ~56 MB is most of a build.  With a cache directory
 * (MfOciSpec.layer_cache) the builder first hashes the base layer's tar
 * alone (its diff_id, no deflate) and looks for <cache>/<hex of diff_id>, a
 * gzip blob an earlier build kept.  That file is trusted only after it
 * inflates to a tar with exactly this diff_id (a damaged or foreign file is
 * ignored, rebuilt and replaced); it then enters the layout as a hard link
 * under its own digest.  After a miss the new blob is linked into the cache
 * under a temporary name and renamed, so concurrent builds only ever see
 * whole files, and the other entries are removed (the base layer changes
 * only when mf-serve or its libraries are reinstalled).  Since the key is
 * the tar itself, a hit gives the digests an uncached build gave.
 */
#include "oci_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#define MF_OCI_CACHE_CHUNK 65536

/* Inflate z's input into out, hashing what comes out; false on a zlib error. */
static bool
MfOciCacheInflate(z_stream *z, unsigned char *out, EVP_MD_CTX *tar, int *rc)
{
	do
	{
		z->next_out = out;
		z->avail_out = MF_OCI_CACHE_CHUNK;
		*rc = inflate(z, Z_NO_FLUSH);
		if (*rc != Z_OK && *rc != Z_STREAM_END && *rc != Z_BUF_ERROR)
			return false;
		EVP_DigestUpdate(tar, out, MF_OCI_CACHE_CHUNK - z->avail_out);
	} while (z->avail_out == 0 && *rc != Z_STREAM_END);
	return *rc != Z_STREAM_END || z->avail_in == 0;	/* nothing after the stream */
}

/* Does the gzip file at path hold exactly the tar diff_id? Then blob gets its digest and size. */
static bool
MfOciCacheCheck(const char *path, const char *diff_id, MfOciBlob *blob)
{
	FILE	   *f = fopen(path, "rb");
	EVP_MD_CTX *gz = EVP_MD_CTX_new();
	EVP_MD_CTX *tar = EVP_MD_CTX_new();
	unsigned char *in = malloc(MF_OCI_CACHE_CHUNK);
	unsigned char *out = malloc(MF_OCI_CACHE_CHUNK);
	z_stream	z = {0};
	unsigned char md[32];
	unsigned int mdlen;
	char		got[MF_OCI_DIGEST_LEN];
	uint64_t	size = 0;
	size_t		n;
	int			rc = Z_OK;
	bool		started = f != NULL && gz != NULL && tar != NULL && in != NULL && out != NULL &&
		EVP_DigestInit_ex(gz, EVP_sha256(), NULL) && EVP_DigestInit_ex(tar, EVP_sha256(), NULL) &&
		inflateInit2(&z, 15 + 16) == Z_OK;
	bool		ok = started;

	while (ok && rc != Z_STREAM_END && (n = fread(in, 1, MF_OCI_CACHE_CHUNK, f)) > 0)
	{
		EVP_DigestUpdate(gz, in, n);
		size += n;
		z.next_in = in;
		z.avail_in = (uInt) n;
		ok = MfOciCacheInflate(&z, out, tar, &rc);
	}
	ok = ok && rc == Z_STREAM_END && fgetc(f) == EOF && !ferror(f);
	if (ok)
	{
		EVP_DigestFinal_ex(tar, md, &mdlen);
		mf_oci_digest_hex(md, got);
		ok = strcmp(got, diff_id) == 0;
	}
	if (ok)
	{
		EVP_DigestFinal_ex(gz, md, &mdlen);
		mf_oci_digest_hex(md, blob->digest);
		blob->size = size;
		memcpy(blob->diff_id, diff_id, MF_OCI_DIGEST_LEN);
	}
	if (started)
		inflateEnd(&z);
	if (f != NULL)
		fclose(f);
	EVP_MD_CTX_free(gz);
	EVP_MD_CTX_free(tar);
	free(in);
	free(out);
	return ok;
}

/* The cached blob of the tar diff_id into the layout (see oci_int.h). */
bool
mf_oci_cache_take(const char *cache, const char *diff_id, const char *layout, MfOciBlob *blob)
{
	char		path[1024];
	char		dst[1024];
	MfOciBlob	b;

	snprintf(path, sizeof(path), "%s/%s", cache, diff_id + 7);
	if (!MfOciCacheCheck(path, diff_id, &b))
		return false;
	mf_oci_blob_path(layout, b.digest, dst, sizeof(dst));
	if (link(path, dst) != 0)
		return false;
	*blob = b;
	return true;
}

/* Keep a freshly written base layer as the cache's entry (see oci_int.h). */
void
mf_oci_cache_put(const char *cache, const char *layout, const MfOciBlob *blob)
{
	char		src[1024];
	char		tmp[1024];
	char		dst[1024];
	DIR		   *d;
	struct dirent *e;

	if (mkdir(cache, 0700) != 0 && errno != EEXIST)
		return;
	mf_oci_blob_path(layout, blob->digest, src, sizeof(src));
	snprintf(tmp, sizeof(tmp), "%s/.new-%d", cache, (int) getpid());
	snprintf(dst, sizeof(dst), "%s/%s", cache, blob->diff_id + 7);
	unlink(tmp);
	if (link(src, tmp) != 0)
		return;
	if (rename(tmp, dst) != 0)
	{
		unlink(tmp);
		return;
	}
	d = opendir(cache);
	while (d != NULL && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && strcmp(e->d_name, blob->diff_id + 7) != 0)
		{
			snprintf(tmp, sizeof(tmp), "%s/%s", cache, e->d_name);
			unlink(tmp);
		}
	if (d != NULL)
		closedir(d);
}
