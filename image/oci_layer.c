/*
 * oci_layer.c - layers and blobs of an OCI image layout.
 *
 * A layer is streamed once: libarchive writes the ustar bytes to a callback
 * that hashes them (the diff_id), deflates them with zlib into a gzip
 * stream whose header has no name and mtime 0, hashes the gzip bytes (the
 * digest) and writes them to a temporary file, renamed to
 * blobs/sha256/<hex> at the end.  Members are sorted by path and written
 * with fixed owner (0:0, root/root), the caller's modes and one mtime; a
 * host file is copied in 64 KiB pieces, so a layer never sits in memory.
 * The same tar can also be hashed alone, without deflate or file (the
 * base layer cache's key, oci_cache.c).
 */
#include "oci_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <zlib.h>

#define MF_OCI_CHUNK 65536

/* The state of one layer being written. */
typedef struct MfOciStream
{
	EVP_MD_CTX *tar_sha;
	EVP_MD_CTX *gz_sha;
	z_stream	z;
	FILE	   *out;
	uint64_t	tar_bytes;
	uint64_t	gz_bytes;
	uint64_t	max_bytes;
	bool		too_large;
	bool		io_error;
	bool		hash_only;		/* the diff_id only: no deflate, no file */
	unsigned char buf[MF_OCI_CHUNK];
} MfOciStream;

/* "sha256:<hex>" of a finished digest. */
void
mf_oci_digest_hex(const unsigned char md[32], char out[MF_OCI_DIGEST_LEN])
{
	static const char hex[] = "0123456789abcdef";

	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++)
	{
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[71] = '\0';
}

/* "sha256:<hex>" of len bytes. */
void
mf_oci_sha256(const void *data, size_t len, char out[MF_OCI_DIGEST_LEN])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	mf_oci_digest_hex(md, out);
}

/* The path of a blob. */
void
mf_oci_blob_path(const char *layout, const char *digest, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/blobs/sha256/%s", layout, digest + 7);
}

/* A JSON value as malloc'd text (see oci_int.h). */
char *
mf_oci_json_text(const json_t *doc, size_t flags)
{
	json_malloc_t jmalloc;
	json_free_t jfree;
	char	   *text = doc ? json_dumps(doc, flags) : NULL;
	char	   *copy = text ? strdup(text) : NULL;

	json_get_alloc_funcs(&jmalloc, &jfree);
	if (text != NULL)
		jfree(text);
	return copy;
}

/* Read a whole file (malloc'd, NUL-terminated); NULL with err set. */
char *
mf_oci_read_file(const char *path, size_t max, size_t *len, MfImageError *err)
{
	FILE	   *f = fopen(path, "rb");
	struct stat st;
	char	   *buf;

	if (f == NULL)
	{
		mf_image_fail(err, MF_IMAGE_IO, "cannot open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t) st.st_size > max)
	{
		fclose(f);
		mf_image_fail(err, MF_IMAGE_IO, "\"%s\" is not a regular file of at most %zu bytes", path, max);
		return NULL;
	}
	buf = malloc((size_t) st.st_size + 1);
	if (buf == NULL || fread(buf, 1, (size_t) st.st_size, f) != (size_t) st.st_size)
	{
		free(buf);
		fclose(f);
		mf_image_fail(err, MF_IMAGE_IO, "cannot read \"%s\"", path);
		return NULL;
	}
	fclose(f);
	buf[st.st_size] = '\0';
	*len = (size_t) st.st_size;
	return buf;
}

/* Add one member (no parents). */
static bool
MfOciMembersPush(MfOciMembers *l, const char *path, MfOciKind kind, int mode, const char *src,
				 char *data, size_t size)
{
	MfOciMember *m;

	if (l->n == l->cap)
	{
		size_t		cap = l->cap ? l->cap * 2 : 64;
		MfOciMember *grown = realloc(l->m, cap * sizeof(MfOciMember));

		if (grown == NULL)
			return false;
		l->m = grown;
		l->cap = cap;
	}
	m = &l->m[l->n++];
	memset(m, 0, sizeof(*m));
	snprintf(m->path, sizeof(m->path), "%s", path);
	m->kind = kind;
	m->mode = mode;
	snprintf(m->src, sizeof(m->src), "%s", src ? src : "");
	m->data = data;
	m->size = size;
	return true;
}

/* Add a member and its parent directories (0755). */
bool
mf_oci_members_add(MfOciMembers *l, const char *path, MfOciKind kind, int mode, const char *src,
				   char *data, size_t size)
{
	char		dir[512];
	size_t		len = strlen(path);

	if (len == 0 || len >= sizeof(dir))
		return false;
	for (size_t i = 0; i + 1 < len; i++)
		if (path[i] == '/')
		{
			memcpy(dir, path, i + 1);
			dir[i + 1] = '\0';
			if (!MfOciMembersPush(l, dir, MF_OCI_DIR, 0755, NULL, NULL, 0))
				return false;
		}
	return MfOciMembersPush(l, path, kind, mode, src, data, size);
}

/* Free every member. */
void
mf_oci_members_free(MfOciMembers *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->m[i].data);
	free(l->m);
	memset(l, 0, sizeof(*l));
}

/* Order of members: by path bytes. */
static int
MfOciMemberCmp(const void *a, const void *b)
{
	return strcmp(((const MfOciMember *) a)->path, ((const MfOciMember *) b)->path);
}

/* Sort by path and drop repeats (each child adds its parent directories). */
static void
MfOciMembersSort(MfOciMembers *l)
{
	size_t		w = 0;

	qsort(l->m, l->n, sizeof(MfOciMember), MfOciMemberCmp);
	for (size_t i = 0; i < l->n; i++)
	{
		if (w > 0 && strcmp(l->m[w - 1].path, l->m[i].path) == 0)
		{
			free(l->m[i].data);
			continue;
		}
		l->m[w++] = l->m[i];
	}
	l->n = w;
}

/* Deflate what is in z's input; flush = Z_FINISH at the end. */
static bool
MfOciDeflate(MfOciStream *s, int flush)
{
	int			rc;

	do
	{
		size_t		have;

		s->z.next_out = s->buf;
		s->z.avail_out = sizeof(s->buf);
		rc = deflate(&s->z, flush);
		if (rc == Z_STREAM_ERROR)
			return false;
		have = sizeof(s->buf) - s->z.avail_out;
		if (have > 0)
		{
			EVP_DigestUpdate(s->gz_sha, s->buf, have);
			if (fwrite(s->buf, 1, have, s->out) != have)
				return false;
			s->gz_bytes += have;
		}
	} while (s->z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
	return true;
}

/* libarchive's write callback: hash, limit, deflate. */
static la_ssize_t
MfOciWriteCb(struct archive *a, void *arg, const void *buf, size_t len)
{
	MfOciStream *s = arg;

	s->tar_bytes += len;
	if (s->tar_bytes > s->max_bytes)
	{
		s->too_large = true;
		archive_set_error(a, EFBIG, "layer exceeds %llu bytes", (unsigned long long) s->max_bytes);
		return -1;
	}
	EVP_DigestUpdate(s->tar_sha, buf, len);
	if (s->hash_only)
		return (la_ssize_t) len;
	s->z.next_in = (Bytef *) buf;
	s->z.avail_in = (uInt) len;
	if (!MfOciDeflate(s, Z_NO_FLUSH))
	{
		s->io_error = true;
		archive_set_error(a, EIO, "cannot write the layer: %s", strerror(errno));
		return -1;
	}
	return (la_ssize_t) len;
}

/* Copy one member's contents into the archive. */
static MfImageStatus
MfOciPutData(struct archive *a, const MfOciMember *m, MfImageError *err)
{
	FILE	   *f;
	char		buf[MF_OCI_CHUNK];
	size_t		got;

	if (m->src[0] == '\0')
	{
		if (m->size > 0 && archive_write_data(a, m->data, m->size) != (la_ssize_t) m->size)
			return mf_image_fail(err, MF_IMAGE_ARCHIVE, "member \"%s\": %s", m->path, archive_error_string(a));
		return MF_IMAGE_OK;
	}
	f = fopen(m->src, "rb");
	if (f == NULL)
		return mf_image_fail(err, MF_IMAGE_IO, "cannot open \"%s\": %s", m->src, strerror(errno));
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
		if (archive_write_data(a, buf, got) != (la_ssize_t) got)
		{
			fclose(f);
			return mf_image_fail(err, MF_IMAGE_ARCHIVE, "member \"%s\": %s", m->path, archive_error_string(a));
		}
	fclose(f);
	return MF_IMAGE_OK;
}

/* Append one member: header with fixed owner and mtime, then its data. */
static MfImageStatus
MfOciPut(struct archive *a, struct archive_entry *ae, MfOciMember *m, int64_t mtime, MfImageError *err)
{
	if (m->kind == MF_OCI_FILE && m->src[0] != '\0')
	{
		struct stat st;

		if (stat(m->src, &st) != 0 || !S_ISREG(st.st_mode))
			return mf_image_fail(err, MF_IMAGE_IO, "\"%s\" is not a readable regular file", m->src);
		m->size = (size_t) st.st_size;
	}
	if (mf_tar_header(a, ae, m->path, m->kind == MF_OCI_DIR, m->mode, m->size, mtime, err) != MF_IMAGE_OK)
		return err->status;
	return m->kind == MF_OCI_DIR ? MF_IMAGE_OK : MfOciPutData(a, m, err);
}

/* Write the tar of l through s; the first failure in err. */
static MfImageStatus
MfOciWriteTar(MfOciMembers *l, MfOciStream *s, int64_t mtime, MfImageError *err)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	MfImageStatus st = MF_IMAGE_OK;

	if (a == NULL || ae == NULL)
		st = mf_image_fail(err, MF_IMAGE_NOMEM, "libarchive is out of memory");
	else if (mf_tar_set_format(a) != ARCHIVE_OK || archive_write_open(a, s, NULL, MfOciWriteCb, NULL) != ARCHIVE_OK)
		st = mf_image_fail(err, MF_IMAGE_ARCHIVE, "cannot start the layer: %s", archive_error_string(a));
	for (size_t i = 0; st == MF_IMAGE_OK && i < l->n; i++)
		st = MfOciPut(a, ae, &l->m[i], mtime, err);
	if (st == MF_IMAGE_OK && archive_write_close(a) != ARCHIVE_OK)
		st = mf_image_fail(err, MF_IMAGE_ARCHIVE, "cannot finish the layer: %s", archive_error_string(a));
	if (s->too_large)
		st = mf_image_fail(err, MF_IMAGE_TOO_LARGE,
						   "the layer exceeds the limit of %llu bytes (%llu MiB) of uncompressed tar",
						   (unsigned long long) s->max_bytes, (unsigned long long) (s->max_bytes >> 20));
	if (ae != NULL)
		archive_entry_free(ae);
	if (a != NULL)
		archive_write_free(a);
	return st;
}

/* Finish the hashes into blob and move the temporary file to its digest's name. */
static MfImageStatus
MfOciFinishBlob(MfOciStream *s, const char *layout, const char *tmp, MfOciBlob *blob, MfImageError *err)
{
	unsigned char md[32];
	unsigned int mdlen;
	char		path[1024];

	EVP_DigestFinal_ex(s->tar_sha, md, &mdlen);
	mf_oci_digest_hex(md, blob->diff_id);
	EVP_DigestFinal_ex(s->gz_sha, md, &mdlen);
	mf_oci_digest_hex(md, blob->digest);
	blob->size = s->gz_bytes;
	mf_oci_blob_path(layout, blob->digest, path, sizeof(path));
	if (rename(tmp, path) != 0)
		return mf_image_fail(err, MF_IMAGE_IO, "cannot rename \"%s\": %s", tmp, strerror(errno));
	return MF_IMAGE_OK;
}

/* Write a layer blob of l (see oci_int.h). */
MfImageStatus
mf_oci_write_layer(MfOciMembers *l, const char *layout, int64_t mtime, uint64_t max_bytes,
				   MfOciBlob *blob, MfImageError *err)
{
	MfOciStream *s = calloc(1, sizeof(MfOciStream));
	char		tmp[1024];
	MfImageStatus st = MF_IMAGE_OK;

	if (s == NULL)
		return mf_image_fail(err, MF_IMAGE_NOMEM, "out of memory");
	MfOciMembersSort(l);
	snprintf(tmp, sizeof(tmp), "%s/blobs/sha256/.layer-%d.tmp", layout, (int) getpid());
	s->max_bytes = max_bytes;
	s->tar_sha = EVP_MD_CTX_new();
	s->gz_sha = EVP_MD_CTX_new();
	s->out = fopen(tmp, "wb");
	/* windowBits 15 + 16: a gzip wrapper with zlib's header (no name, mtime 0) */
	if (s->tar_sha == NULL || s->gz_sha == NULL || s->out == NULL ||
		!EVP_DigestInit_ex(s->tar_sha, EVP_sha256(), NULL) || !EVP_DigestInit_ex(s->gz_sha, EVP_sha256(), NULL) ||
		deflateInit2(&s->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		st = mf_image_fail(err, MF_IMAGE_IO, "cannot start the layer file \"%s\": %s", tmp, strerror(errno));
	else
	{
		st = MfOciWriteTar(l, s, mtime, err);
		s->z.avail_in = 0;
		if (st == MF_IMAGE_OK && !MfOciDeflate(s, Z_FINISH))
			st = mf_image_fail(err, MF_IMAGE_IO, "cannot write \"%s\": %s", tmp, strerror(errno));
		deflateEnd(&s->z);
	}
	if (s->out != NULL && fclose(s->out) != 0 && st == MF_IMAGE_OK)
		st = mf_image_fail(err, MF_IMAGE_IO, "cannot write \"%s\": %s", tmp, strerror(errno));
	if (st == MF_IMAGE_OK)
		st = MfOciFinishBlob(s, layout, tmp, blob, err);
	else
		unlink(tmp);
	EVP_MD_CTX_free(s->tar_sha);
	EVP_MD_CTX_free(s->gz_sha);
	free(s);
	return st;
}

/* The diff_id of the layer of l, nothing written (see oci_int.h). */
MfImageStatus
mf_oci_layer_diff_id(MfOciMembers *l, int64_t mtime, uint64_t max_bytes, char diff_id[MF_OCI_DIGEST_LEN],
					 MfImageError *err)
{
	MfOciStream *s = calloc(1, sizeof(MfOciStream));
	unsigned char md[32];
	unsigned int mdlen;
	MfImageStatus st;

	if (s == NULL)
		return mf_image_fail(err, MF_IMAGE_NOMEM, "out of memory");
	MfOciMembersSort(l);
	s->hash_only = true;
	s->max_bytes = max_bytes;
	s->tar_sha = EVP_MD_CTX_new();
	if (s->tar_sha == NULL || !EVP_DigestInit_ex(s->tar_sha, EVP_sha256(), NULL))
		st = mf_image_fail(err, MF_IMAGE_NOMEM, "cannot start a sha256 digest");
	else
		st = MfOciWriteTar(l, s, mtime, err);
	if (st == MF_IMAGE_OK)
	{
		EVP_DigestFinal_ex(s->tar_sha, md, &mdlen);
		mf_oci_digest_hex(md, diff_id);
	}
	EVP_MD_CTX_free(s->tar_sha);
	free(s);
	return st;
}

/* Write len bytes as a blob (see oci_int.h). */
MfImageStatus
mf_oci_write_blob(const char *layout, const void *data, size_t len, MfOciBlob *blob, MfImageError *err)
{
	char		path[1024];
	FILE	   *f;

	mf_oci_sha256(data, len, blob->digest);
	blob->size = len;
	blob->diff_id[0] = '\0';
	mf_oci_blob_path(layout, blob->digest, path, sizeof(path));
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len)
	{
		if (f != NULL)
			fclose(f);
		return mf_image_fail(err, MF_IMAGE_IO, "cannot write \"%s\": %s", path, strerror(errno));
	}
	if (fclose(f) != 0)
		return mf_image_fail(err, MF_IMAGE_IO, "cannot write \"%s\": %s", path, strerror(errno));
	return MF_IMAGE_OK;
}
