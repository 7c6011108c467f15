/*
 * test_oci.c - the OCI image builder (image/oci*.c): the same version
 * builds the same digests twice; every blob's sha256 and size, every
 * layer's diff_id (sha256 of the gunzipped tar) and the gzip header's
 * mtime read back; the tar members of both layers (sorted, owner 0:0,
 * modes, mtime = trained_at, the program's loader and libraries, the dpkg
 * records, the user); config, manifest and index JSON member by member;
 * the layer limit and bad inputs refused; the base layer cache (a miss
 * keeps the blob, a hit gives the same digests and a valid blob, a damaged
 * or foreign cache entry is not used and is replaced).  The "mf-serve" packed is this
 * test program itself (a dynamically linked ELF with jansson, libarchive,
 * OpenSSL), so the test needs nothing installed.  The image's server run
 * and its answers are test/integration/oci_image.sh's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <zlib.h>

#include "mf_test.h"
#include "oci.h"
#include "oci_int.h"

#define TRAINED_AT_US 1764936000123456LL	/* 2025-12-05T12:00:00.123456Z */

static char tmpdir[256];
static char self[PATH_MAX];
static const char *layer_cache;	/* build()'s spec.layer_cache */

/* Write a served model directory <tmp>/models/churn/7 with these artifact bytes. */
static void
write_model(const char *base, const char *artifact, const char *claimed_sha)
{
	static const char *const labels[] = {"production", "champion"};
	char		sha[MF_OCI_DIGEST_LEN],
				path[512],
				json[4096];
	MfServedVersion v = {.name = "churn", .version = "1.2.0", .version_number = 7, .family = "logistic",
	.labels = labels, .n_labels = 2, .trained_at_us = TRAINED_AT_US};
	MfImageError err = {0};
	size_t		len;
	FILE	   *f;

	mf_oci_sha256(artifact, strlen(artifact), sha);
	v.artifact_sha256 = claimed_sha ? claimed_sha : sha + 7;
	snprintf(path, sizeof(path), "mkdir -p %s/churn/7", base);
	if (system(path) != 0)
		exit(1);
	mf_serving_json(&v, json, sizeof(json), &len, &err);
	snprintf(path, sizeof(path), "%s/churn/7/serving.json", base);
	f = fopen(path, "w");
	fwrite(json, 1, len, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/churn/7/model.mfa", base);
	f = fopen(path, "w");
	fputs(artifact, f);
	fclose(f);
}

/* Build the test image into <tmp>/<out>. */
static MfImageStatus
build(const char *out, const char *model_base, uint64_t max, MfOciResult *res, MfImageError *err)
{
	char		dir[512];
	MfOciSpec	spec = {.model_base = model_base, .name = "churn", .version_number = 7, .mf_serve = self,
		.out_dir = dir, .tag = "1.2.0", .config_hash = "abc123", .metrics_json = "{\"accuracy\":0.9}",
	.max_layer_bytes = max, .layer_cache = layer_cache};

	snprintf(dir, sizeof(dir), "%s/%s", tmpdir, out);
	return mf_oci_build(&spec, res, err);
}

/* A blob's bytes (malloc'd). */
static char *
blob(const char *out, const char *digest, size_t *len)
{
	char		layout[512],
				path[1024];
	MfImageError err;

	snprintf(layout, sizeof(layout), "%s/%s", tmpdir, out);
	mf_oci_blob_path(layout, digest, path, sizeof(path));
	return mf_oci_read_file(path, (size_t) 1 << 30, len, &err);
}

/* The gunzipped bytes of a gzip buffer (malloc'd). */
static unsigned char *
gunzip(const char *gz, size_t len, size_t *out_len)
{
	z_stream	z = {0};
	size_t		cap = len * 8 + 65536;
	unsigned char *out = malloc(cap);

	inflateInit2(&z, 15 + 16);
	z.next_in = (Bytef *) gz;
	z.avail_in = (uInt) len;
	while (1)
	{
		int			rc;

		z.next_out = out + z.total_out;
		z.avail_out = (uInt) (cap - z.total_out);
		rc = inflate(&z, Z_NO_FLUSH);
		if (rc == Z_STREAM_END)
			break;
		if (rc != Z_OK && rc != Z_BUF_ERROR)
		{
			free(out);
			return NULL;
		}
		cap *= 2;
		out = realloc(out, cap);
	}
	*out_len = z.total_out;
	inflateEnd(&z);
	return out;
}

/* Check one layer blob: digest, size, diff_id, gzip header; return its tar. */
static unsigned char *
check_layer(const char *out, const MfOciBlob *b, size_t *tar_len, const char *what)
{
	size_t		len;
	char	   *gz = blob(out, b->digest, &len);
	char		got[MF_OCI_DIGEST_LEN],
				name[128];
	unsigned char *tar = NULL;

	snprintf(name, sizeof(name), "%s: blob read", what);
	if (!MF_OK(gz != NULL, name))
		return NULL;
	mf_oci_sha256(gz, len, got);
	snprintf(name, sizeof(name), "%s: digest = sha256 of the gzip bytes, size matches", what);
	MF_OK(strcmp(got, b->digest) == 0 && len == b->size, name);
	snprintf(name, sizeof(name), "%s: gzip header has mtime 0 and no name", what);
	MF_OK(len > 10 && (unsigned char) gz[0] == 0x1f && (unsigned char) gz[1] == 0x8b && gz[3] == 0 &&
		  gz[4] == 0 && gz[5] == 0 && gz[6] == 0 && gz[7] == 0, name);
	tar = gunzip(gz, len, tar_len);
	free(gz);
	if (tar != NULL)
		mf_oci_sha256(tar, *tar_len, got);
	snprintf(name, sizeof(name), "%s: diff_id = sha256 of the tar", what);
	MF_OK(tar != NULL && strcmp(got, b->diff_id) == 0, name);
	return tar;
}

/* Members of a tar: paths, checking order, owner, mtime; the contents of `want` into *data. */
static int
tar_members(const unsigned char *tar, size_t len, char paths[][256], int max, const char *want, char **data,
			int *want_mode, int *bad_owner, long long mtime)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	int			n = 0;

	*bad_owner = 0;
	archive_read_support_format_tar(a);
	archive_read_open_memory(a, tar, len);
	while (n < max && archive_read_next_header(a, &ae) == ARCHIVE_OK)
	{
		snprintf(paths[n], 256, "%s", archive_entry_pathname(ae));
		if (archive_entry_uid(ae) != 0 || archive_entry_gid(ae) != 0 ||
			archive_entry_mtime(ae) != mtime || strcmp(archive_entry_uname(ae), "root") != 0)
			(*bad_owner)++;
		if (want && strcmp(paths[n], want) == 0)
		{
			size_t		sz = (size_t) archive_entry_size(ae);

			*data = calloc(1, sz + 1);
			archive_read_data(a, *data, sz);
			*want_mode = (int) archive_entry_perm(ae);
		}
		n++;
	}
	archive_read_free(a);
	return n;
}

/* True when paths are strictly sorted. */
static int
sorted(char paths[][256], int n)
{
	for (int i = 1; i < n; i++)
		if (strcmp(paths[i - 1], paths[i]) >= 0)
			return 0;
	return 1;
}

/* True when path is among paths. */
static int
has(char paths[][256], int n, const char *path)
{
	for (int i = 0; i < n; i++)
		if (strcmp(paths[i], path) == 0)
			return 1;
	return 0;
}

/* The layers of the first build. */
static void
test_layers(const MfOciResult *r)
{
	static char paths[512][256];
	size_t		len;
	unsigned char *tar = check_layer("a", &r->layers[1], &len, "model layer");
	char	   *data = NULL;
	int			mode = 0,
				bad = 0,
				n;

	n = tar ? tar_members(tar, len, paths, 512, "models/churn/7/model.mfa", &data, &mode, &bad, TRAINED_AT_US / 1000000) : 0;
	MF_OK(n == 5 && strcmp(paths[0], "models/") == 0 && strcmp(paths[1], "models/churn/") == 0 &&
		  strcmp(paths[2], "models/churn/7/") == 0 && strcmp(paths[3], "models/churn/7/model.mfa") == 0 &&
		  strcmp(paths[4], "models/churn/7/serving.json") == 0, "model layer: the served model directory, sorted");
	MF_OK(bad == 0, "model layer: owner 0:0 root, mtime = trained_at");
	MF_OK(data && strcmp(data, "ARTIFACT-BYTES") == 0 && mode == 0644, "model layer: the artifact's bytes, mode 0644");
	free(data);
	free(tar);

	tar = check_layer("a", &r->layers[0], &len, "base layer");
	data = NULL;
	n = tar ? tar_members(tar, len, paths, 512, "usr/bin/mf-serve", &data, &mode, &bad, MF_OCI_BASE_MTIME) : 0;
	MF_OK(sorted(paths, n), "base layer: members sorted by path, no repeats");
	MF_OK(bad == 0, "base layer: owner 0:0 root, mtime 2000-01-01 (shared by every version)");
	MF_OK(mode == 0755 && data != NULL, "base layer: usr/bin/mf-serve, mode 0755");
	free(data);
	MF_OK(has(paths, n, "lib64/ld-linux-x86-64.so.2"), "base layer: the dynamic loader of PT_INTERP");
	MF_OK(has(paths, n, "usr/lib/x86_64-linux-gnu/libjansson.so.4") || has(paths, n, "lib/x86_64-linux-gnu/libjansson.so.4"),
		  "base layer: a DT_NEEDED library (libjansson.so.4)");
	MF_OK(has(paths, n, "usr/lib/x86_64-linux-gnu/libc.so.6") || has(paths, n, "lib/x86_64-linux-gnu/libc.so.6"),
		  "base layer: libc.so.6");
	MF_OK(has(paths, n, "tmp/") && has(paths, n, "etc/group"), "base layer: /tmp and /etc/group");
	MF_OK(r->n_libraries >= 4 && r->n_packages >= 2, "base layer: libraries and packages counted");
	data = NULL;
	tar_members(tar, len, paths, 512, "var/lib/dpkg/status.d/libc6", &data, &mode, &bad, MF_OCI_BASE_MTIME);
	MF_OK(data && strncmp(data, "Package: libc6\n", 15) == 0 && strstr(data, "\nVersion: ") != NULL,
		  "base layer: dpkg status.d/libc6 with its version");
	free(data);
	data = NULL;
	tar_members(tar, len, paths, 512, "etc/passwd", &data, &mode, &bad, MF_OCI_BASE_MTIME);
	MF_OK(data && strstr(data, "\nmf:x:65532:65532:") != NULL, "base layer: /etc/passwd names the non-root user");
	free(data);
	free(tar);
}

/* Config, manifest and index of the first build. */
static void
test_json(const MfOciResult *r)
{
	size_t		len;
	char	   *text = blob("a", r->config.digest, &len);
	json_t	   *cfg = text ? json_loadb(text, len, 0, NULL) : NULL;
	json_t	   *c = json_object_get(cfg, "config"),
			   *labels = json_object_get(c, "Labels"),
			   *man,
			   *idx;
	char		got[MF_OCI_DIGEST_LEN],
				path[512];

	mf_oci_sha256(text, len, got);
	MF_OK(text && strcmp(got, r->config.digest) == 0 && len == r->config.size, "config: digest and size");
	MF_OK(strcmp(json_string_value(json_object_get(cfg, "created")) ?: "", "2025-12-05T12:00:00.123456Z") == 0,
		  "config: created = trained_at");
	MF_OK(strcmp(json_string_value(json_object_get(c, "User")) ?: "", "65532:65532") == 0, "config: numeric non-root user");
	MF_OK(json_object_get(json_object_get(c, "ExposedPorts"), "8501/tcp") != NULL, "config: exposed port 8501/tcp");
	MF_OK(strcmp(json_string_value(json_array_get(json_object_get(c, "Entrypoint"), 0)) ?: "", "/usr/bin/mf-serve") == 0 &&
		  strcmp(json_string_value(json_array_get(json_object_get(c, "Entrypoint"), 2)) ?: "", "/models") == 0,
		  "config: entrypoint mf-serve --model-base-path /models");
	MF_OK(strcmp(json_string_value(json_object_get(labels, "org.opencontainers.image.version")) ?: "", "1.2.0") == 0 &&
		  strcmp(json_string_value(json_object_get(labels, "mf.model")) ?: "", "churn") == 0 &&
		  strcmp(json_string_value(json_object_get(labels, "mf.config_hash")) ?: "", "abc123") == 0 &&
		  strcmp(json_string_value(json_object_get(labels, "mf.metrics")) ?: "", "{\"accuracy\":0.9}") == 0,
		  "config: labels (image version, model, config hash, metrics)");
	MF_OK(strcmp(json_string_value(json_array_get(json_object_get(json_object_get(cfg, "rootfs"), "diff_ids"), 1)) ?: "",
				 r->layers[1].diff_id) == 0, "config: rootfs.diff_ids name the layers' diff_ids");
	free(text);
	json_decref(cfg);

	text = blob("a", r->manifest.digest, &len);
	man = text ? json_loadb(text, len, 0, NULL) : NULL;
	MF_OK(json_integer_value(json_object_get(man, "schemaVersion")) == 2 &&
		  strcmp(json_string_value(json_object_get(man, "mediaType")) ?: "", MF_OCI_MT_MANIFEST) == 0,
		  "manifest: schemaVersion 2, OCI media type");
	MF_OK(strcmp(json_string_value(json_object_get(json_object_get(man, "config"), "digest")) ?: "", r->config.digest) == 0 &&
		  json_integer_value(json_object_get(json_object_get(man, "config"), "size")) == (json_int_t) r->config.size,
		  "manifest: config descriptor");
	MF_OK(json_array_size(json_object_get(man, "layers")) == 2 &&
		  strcmp(json_string_value(json_object_get(json_array_get(json_object_get(man, "layers"), 0), "digest")) ?: "",
				 r->layers[0].digest) == 0, "manifest: layers, base first");
	free(text);
	json_decref(man);

	snprintf(path, sizeof(path), "%s/a/index.json", tmpdir);
	idx = json_load_file(path, 0, NULL);
	MF_OK(strcmp(json_string_value(json_object_get(json_array_get(json_object_get(idx, "manifests"), 0), "digest")) ?: "",
				 r->manifest.digest) == 0 &&
		  strcmp(json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(idx, "manifests"), 0),
																   "annotations"), "org.opencontainers.image.ref.name")) ?: "",
				 "1.2.0") == 0, "index.json: the manifest, tagged");
	json_decref(idx);
	snprintf(path, sizeof(path), "%s/a/oci-layout", tmpdir);
	text = mf_oci_read_file(path, 1024, &len, &(MfImageError) {0});
	MF_OK(text && strcmp(text, "{\"imageLayoutVersion\":\"1.0.0\"}") == 0, "oci-layout file");
	free(text);
}

/* Refusals: an existing directory, a wrong artifact digest, a non-ELF program, the layer limit. */
static void
test_refusals(const char *models)
{
	MfOciResult r;
	MfImageError err = {0};
	char		bad[512];
	MfOciSpec	spec = {.model_base = models, .name = "churn", .version_number = 7, .mf_serve = "/etc/passwd",
	.out_dir = bad};

	MF_OK(build("a", models, 0, &r, &err) == MF_IMAGE_IO && strstr(err.detail, "cannot create") != NULL,
		  "refused: the layout directory exists");
	MF_OK(build("small", models, 4096, &r, &err) == MF_IMAGE_TOO_LARGE &&
		  strstr(err.detail, "exceeds the limit of 4096 bytes") != NULL, "refused: a layer over the limit");
	snprintf(bad, sizeof(bad), "%s/notelf", tmpdir);
	MF_OK(mf_oci_build(&spec, &r, &err) == MF_IMAGE_BAD_ARG && strstr(err.detail, "ELF") != NULL,
		  "refused: mf-serve that is no ELF program");
	snprintf(bad, sizeof(bad), "%s/badmodels", tmpdir);
	write_model(bad, "ARTIFACT-BYTES", "0000000000000000000000000000000000000000000000000000000000000000");
	MF_OK(build("badsha", bad, 0, &r, &err) == MF_IMAGE_BAD_ARG && strstr(err.detail, "serving.json says") != NULL,
		  "refused: an artifact whose sha256 is not serving.json's");
}

/* Are two builds' manifest, config and layer digests all equal? */
static bool
same_digests(const MfOciResult *a, const MfOciResult *b)
{
	return strcmp(a->manifest.digest, b->manifest.digest) == 0 && strcmp(a->config.digest, b->config.digest) == 0 &&
		strcmp(a->layers[0].digest, b->layers[0].digest) == 0 && a->layers[0].size == b->layers[0].size &&
		strcmp(a->layers[0].diff_id, b->layers[0].diff_id) == 0 && strcmp(a->layers[1].digest, b->layers[1].digest) == 0;
}

/* Copy file from to file to (a new inode); false on failure. */
static bool
copy_file(const char *from, const char *to)
{
	MfImageError err;
	size_t		len;
	char	   *data = mf_oci_read_file(from, (size_t) 1 << 30, &len, &err);
	FILE	   *f = data != NULL ? fopen(to, "wb") : NULL;
	bool		ok = f != NULL && fwrite(data, 1, len, f) == len;

	if (f != NULL)
		ok = fclose(f) == 0 && ok;
	free(data);
	return ok;
}

/* The base layer cache: miss, hit, a damaged entry, a foreign entry (a is an uncached build). */
static void
test_cache(const char *models, const MfOciResult *a)
{
	MfOciResult r;
	MfImageError err = {0};
	char		cache[512],
				entry[1024],
				path[1100];
	size_t		tar_len;
	unsigned char *tar;
	struct stat st;
	FILE	   *f;

	snprintf(cache, sizeof(cache), "%s/cache", tmpdir);
	snprintf(entry, sizeof(entry), "%s/%s", cache, a->layers[0].diff_id + 7);
	layer_cache = cache;
	MF_OK(build("k1", models, 0, &r, &err) == MF_IMAGE_OK && !r.base_cached && same_digests(a, &r) &&
		  stat(entry, &st) == 0 && st.st_size == (off_t) a->layers[0].size,
		  "cache miss: the same digests as without cache, the base layer kept under its diff_id");
	MF_OK(build("k2", models, 0, &r, &err) == MF_IMAGE_OK && r.base_cached && same_digests(a, &r),
		  "cache hit: the base layer taken from the cache, the same digests");
	free(check_layer("k2", &r.layers[0], &tar_len, "cached base layer"));
	/* a flipped byte in the entry (a copy, so k1's blob stays intact): not used, rebuilt, replaced */
	snprintf(path, sizeof(path), "%s.copy", entry);
	copy_file(entry, path);
	rename(path, entry);
	f = fopen(entry, "r+b");
	fseek(f, 5000, SEEK_SET);
	fputc(fgetc(f) ^ 0x55, f);
	fclose(f);
	MF_OK(build("k3", models, 0, &r, &err) == MF_IMAGE_OK && !r.base_cached && same_digests(a, &r),
		  "a damaged cache entry is not used: rebuilt with the same digests");
	MF_OK(build("k4", models, 0, &r, &err) == MF_IMAGE_OK && r.base_cached && same_digests(a, &r),
		  "the damaged entry was replaced: the next build hits again");
	/* a valid gzip blob of another tar (the model layer) under the base layer's name */
	snprintf(path, sizeof(path), "%s/k1/blobs/sha256/%s", tmpdir, a->layers[1].digest + 7);
	unlink(entry);
	copy_file(path, entry);
	MF_OK(build("k5", models, 0, &r, &err) == MF_IMAGE_OK && !r.base_cached && same_digests(a, &r),
		  "a foreign gzip blob under the base layer's diff_id is not used");
	tar = check_layer("k5", &r.layers[0], &tar_len, "rebuilt base layer");
	free(tar);
	layer_cache = NULL;
}

int
main(void)
{
	MfOciResult a,
				b,
				c;
	MfImageError err = {0};
	char		models[512],
				other[512],
				cmd[600];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_oci.XXXXXX");
	if (mkdtemp(tmpdir) == NULL || realpath("/proc/self/exe", self) == NULL)
		return 1;
	snprintf(models, sizeof(models), "%s/models", tmpdir);
	write_model(models, "ARTIFACT-BYTES", NULL);
	MF_OK(build("a", models, 0, &a, &err) == MF_IMAGE_OK, "build an image");
	if (err.status != MF_IMAGE_OK)
		MF_DIAG("%s", err.detail);
	MF_OK(build("b", models, 0, &b, &err) == MF_IMAGE_OK && strcmp(a.manifest.digest, b.manifest.digest) == 0 &&
		  strcmp(a.layers[0].digest, b.layers[0].digest) == 0 && strcmp(a.config.digest, b.config.digest) == 0,
		  "the same version builds the same digests");
	snprintf(other, sizeof(other), "%s/models2", tmpdir);
	write_model(other, "OTHER-ARTIFACT", NULL);
	MF_OK(build("c", other, 0, &c, &err) == MF_IMAGE_OK && strcmp(a.layers[0].digest, c.layers[0].digest) == 0 &&
		  strcmp(a.layers[1].digest, c.layers[1].digest) != 0 && strcmp(a.manifest.digest, c.manifest.digest) != 0,
		  "another artifact: same base layer, another model layer and manifest");
	test_layers(&a);
	test_json(&a);
	test_refusals(models);
	test_cache(models, &a);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		MF_DIAG("cannot remove %s", tmpdir);
	return mf_test_done();
}
