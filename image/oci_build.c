/*
 * oci_build.c - the image of one served model version (see oci.h's design
 * note): the base layer (mf-serve, its loader and libraries, their dpkg
 * records, the user), the model layer, the config, the manifest, the index
 * and the oci-layout file of an OCI image layout directory.
 */
#include "oci_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#define MF_OCI_PASSWD "root:x:0:0:root:/root:/usr/sbin/nologin\n" \
	MF_OCI_USER_NAME ":x:65532:65532:mf-serve:/nonexistent:/usr/sbin/nologin\n"
#define MF_OCI_GROUP "root:x:0:\n" MF_OCI_USER_NAME ":x:65532:\n"
#define MF_OCI_MAX_MODEL_FILE ((size_t) 1 << 31)

/* What the build reads of the model directory. */
typedef struct MfOciModel
{
	MfServingRead r;
	char		dir[1024];		/* <base>/<name>/<n> */
	char		rel[512];		/* models/<name>/<n> */
	int64_t		mtime;
} MfOciModel;

/* A malloc'd copy of text (or NULL). */
static char *
MfOciDup(const char *text)
{
	return text ? strdup(text) : NULL;
}

/* Read and check serving.json and the artifact's digest. */
static MfImageStatus
MfOciReadModel(const MfOciSpec *spec, MfOciModel *m, MfImageError *err)
{
	char		path[1200];
	char	   *text,
			   *art;
	size_t		len;
	char		digest[MF_OCI_DIGEST_LEN];
	MfImageStatus st;

	snprintf(m->dir, sizeof(m->dir), "%s/%s/%lld", spec->model_base, spec->name, (long long) spec->version_number);
	snprintf(m->rel, sizeof(m->rel), MF_OCI_MODEL_BASE "/%s/%lld", spec->name, (long long) spec->version_number);
	snprintf(path, sizeof(path), "%s/" MF_SERVING_JSON, m->dir);
	if ((text = mf_oci_read_file(path, MF_SERVING_JSON_MAX, &len, err)) == NULL)
		return err->status;
	st = mf_serving_json_read(text, len, &m->r, err);
	free(text);
	if (st != MF_IMAGE_OK)
		return st;
	if (strcmp(m->r.v.name, spec->name) != 0 || m->r.v.version_number != spec->version_number)
		st = mf_image_fail(err, MF_IMAGE_BAD_ARG, "%s names model \"%s\" version %lld", path, m->r.v.name,
						   (long long) m->r.v.version_number);
	snprintf(path, sizeof(path), "%s/%s", m->dir, m->r.artifact);
	if (st == MF_IMAGE_OK && (art = mf_oci_read_file(path, MF_OCI_MAX_MODEL_FILE, &len, err)) == NULL)
		st = err->status;
	else if (st == MF_IMAGE_OK)
	{
		mf_oci_sha256(art, len, digest);
		free(art);
		if (strcmp(digest + 7, m->r.v.artifact_sha256) != 0)
			st = mf_image_fail(err, MF_IMAGE_BAD_ARG, "%s has sha256 %s; serving.json says %s", path, digest + 7,
							   m->r.v.artifact_sha256);
	}
	m->mtime = m->r.v.trained_at_us >= 0 ? m->r.v.trained_at_us / 1000000 : 0;
	if (st != MF_IMAGE_OK)
		mf_serving_read_free(&m->r);
	return st;
}

/* The model layer: models/<name>/<n>/{serving.json, the artifact}. */
static MfImageStatus
MfOciModelLayer(const MfOciSpec *spec, const MfOciModel *m, uint64_t max, MfOciBlob *blob, MfImageError *err)
{
	MfOciMembers l = {0};
	char		src[1200],
				dst[1200];
	bool		ok;
	MfImageStatus st;

	snprintf(src, sizeof(src), "%s/" MF_SERVING_JSON, m->dir);
	snprintf(dst, sizeof(dst), "%s/" MF_SERVING_JSON, m->rel);
	ok = mf_oci_members_add(&l, dst, MF_OCI_FILE, 0644, src, NULL, 0);
	snprintf(src, sizeof(src), "%s/%s", m->dir, m->r.artifact);
	snprintf(dst, sizeof(dst), "%s/%s", m->rel, m->r.artifact);
	ok = ok && mf_oci_members_add(&l, dst, MF_OCI_FILE, 0644, src, NULL, 0);
	st = ok ? mf_oci_write_layer(&l, spec->out_dir, m->mtime, max, blob, err)
		: mf_image_fail(err, MF_IMAGE_NOMEM, "out of memory");
	mf_oci_members_free(&l);
	return st;
}

/* The base layer's blob: from the cache when it holds this very tar, else written (and kept there). */
static MfImageStatus
MfOciBaseBlob(const MfOciSpec *spec, MfOciMembers *l, uint64_t max, MfOciResult *res, MfImageError *err)
{
	char		diff_id[MF_OCI_DIGEST_LEN];
	MfImageStatus st;

	res->base_cached = false;
	if (spec->layer_cache == NULL)
		return mf_oci_write_layer(l, spec->out_dir, MF_OCI_BASE_MTIME, max, &res->layers[0], err);
	st = mf_oci_layer_diff_id(l, MF_OCI_BASE_MTIME, max, diff_id, err);
	if (st != MF_IMAGE_OK)
		return st;
	if (mf_oci_cache_take(spec->layer_cache, diff_id, spec->out_dir, &res->layers[0]))
	{
		res->base_cached = true;
		return MF_IMAGE_OK;
	}
	st = mf_oci_write_layer(l, spec->out_dir, MF_OCI_BASE_MTIME, max, &res->layers[0], err);
	if (st == MF_IMAGE_OK)
		mf_oci_cache_put(spec->layer_cache, spec->out_dir, &res->layers[0]);
	return st;
}

/* The base layer: mf-serve, loader, libraries, dpkg records, user, /tmp. */
static MfImageStatus
MfOciBaseLayer(const MfOciSpec *spec, uint64_t max, MfOciResult *res, MfImageError *err)
{
	char		defaults[64][256];
	const char *dirs[64];
	const char *const *use = spec->lib_dirs;
	size_t		n_dirs = spec->n_lib_dirs;
	MfOciLibs  *libs = malloc(sizeof(MfOciLibs));
	const char *reals[MF_OCI_MAX_FILES];
	MfOciMembers l = {0};
	MfImageStatus st;
	bool		ok;

	if (libs == NULL)
		return mf_image_fail(err, MF_IMAGE_NOMEM, "out of memory");
	if (use == NULL)
	{
		n_dirs = mf_oci_default_lib_dirs(defaults, 64);
		for (size_t i = 0; i < n_dirs; i++)
			dirs[i] = defaults[i];
		use = dirs;
	}
	st = mf_oci_resolve_libs(spec->mf_serve, use, n_dirs, libs, err);
	ok = st == MF_IMAGE_OK &&
		mf_oci_members_add(&l, "usr/bin/mf-serve", MF_OCI_FILE, 0755, spec->mf_serve, NULL, 0) &&
		mf_oci_members_add(&l, "etc/passwd", MF_OCI_FILE, 0644, NULL, MfOciDup(MF_OCI_PASSWD), strlen(MF_OCI_PASSWD)) &&
		mf_oci_members_add(&l, "etc/group", MF_OCI_FILE, 0644, NULL, MfOciDup(MF_OCI_GROUP), strlen(MF_OCI_GROUP)) &&
		mf_oci_members_add(&l, "tmp/", MF_OCI_DIR, 01777, NULL, NULL, 0);
	for (int i = 0; ok && i < libs->n; i++)
	{
		ok = mf_oci_members_add(&l, libs->libs[i].found + 1, MF_OCI_FILE, i == 0 ? 0755 : 0644,
								libs->libs[i].real, NULL, 0);
		reals[i] = libs->libs[i].real;
	}
	if (st == MF_IMAGE_OK && !ok)
		st = mf_image_fail(err, MF_IMAGE_NOMEM, "out of memory");
	if (st == MF_IMAGE_OK)
		st = mf_oci_dpkg_record(spec->dpkg_dir ? spec->dpkg_dir : "/var/lib/dpkg", reals, (size_t) libs->n, &l,
								&res->n_packages, err);
	if (st == MF_IMAGE_OK)
		st = MfOciBaseBlob(spec, &l, max, res, err);
	res->n_libraries = libs->n;
	mf_oci_members_free(&l);
	free(libs);
	return st;
}

/* Dump a JSON value with sorted keys and write it as a blob; the value is released. */
static MfImageStatus
MfOciJsonBlob(const char *layout, json_t *doc, MfOciBlob *blob, MfImageError *err)
{
	char	   *text = mf_oci_json_text(doc, JSON_COMPACT | JSON_SORT_KEYS);
	MfImageStatus st;

	json_decref(doc);
	if (text == NULL)
		return mf_image_fail(err, MF_IMAGE_NOMEM, "cannot write a JSON document");
	st = mf_oci_write_blob(layout, text, strlen(text), blob, err);
	free(text);
	return st;
}

/* The labels of the config: org.opencontainers.image.* and mf.*. */
static json_t *
MfOciLabels(const MfOciSpec *spec, const MfOciModel *m)
{
	const MfServedVersion *v = &m->r.v;
	char		desc[512],
				num[32];
	json_t	   *labels;

	snprintf(desc, sizeof(desc), "model %s version %s (%s) served by mf-serve (TF Serving REST and OIP v2)",
			 v->name, v->version, v->family);
	snprintf(num, sizeof(num), "%lld", (long long) v->version_number);
	labels = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
					   "org.opencontainers.image.created", m->r.trained_at,
					   "org.opencontainers.image.title", v->name,
					   "org.opencontainers.image.version", v->version,
					   "org.opencontainers.image.revision", v->artifact_sha256,
					   "org.opencontainers.image.description", desc,
					   "mf.model", v->name, "mf.version", v->version, "mf.version_number", num,
					   "mf.family", v->family, "mf.artifact_sha256", v->artifact_sha256);
	if (labels != NULL && spec->config_hash != NULL)
		json_object_set_new(labels, "mf.config_hash", json_string(spec->config_hash));
	if (labels != NULL && spec->metrics_json != NULL)
		json_object_set_new(labels, "mf.metrics", json_string(spec->metrics_json));
	return labels;
}

/*
 * The image config (image-spec config.md).  Objects are made with
 * json_pack("{}"): inside a backend the server's SQL function json_object()
 * would shadow jansson's.
 */
static json_t *
MfOciConfig(const MfOciSpec *spec, const MfOciModel *m, const MfOciResult *res)
{
	char		port[32],
				user[32],
				base[64],
				step[1024];
	json_t	   *ports = json_pack("{}");
	json_t	   *cfg;

	snprintf(port, sizeof(port), "%d/tcp", spec->port > 0 ? spec->port : MF_OCI_DEFAULT_PORT);
	snprintf(user, sizeof(user), "%d:%d", MF_OCI_UID, MF_OCI_UID);
	snprintf(base, sizeof(base), "/" MF_OCI_MODEL_BASE);
	snprintf(step, sizeof(step), "mf_ext: model %s version %s (/%s)", m->r.v.name, m->r.v.version, m->rel);
	json_object_set_new(ports, port, json_pack("{}"));
	snprintf(port, sizeof(port), "%d", spec->port > 0 ? spec->port : MF_OCI_DEFAULT_PORT);
	cfg = json_pack("{s:s,s:s,s:s,s:{s:s,s:o,s:[s],s:[s,s,s,s,s],s:[],s:s,s:o,s:s},"
					"s:{s:s,s:[s,s]},s:[{s:s,s:s},{s:s,s:s}]}",
					"created", m->r.trained_at, "architecture", "amd64", "os", "linux",
					"config", "User", user, "ExposedPorts", ports, "Env", "PATH=/usr/bin",
					"Entrypoint", "/usr/bin/mf-serve", "--model-base-path", base, "--port", port,
					"Cmd", "WorkingDir", "/", "Labels", MfOciLabels(spec, m), "StopSignal", "SIGTERM",
					"rootfs", "type", "layers", "diff_ids", res->layers[0].diff_id, res->layers[1].diff_id,
					"history", "created", m->r.trained_at, "created_by", "mf_ext: mf-serve and the shared objects it loads",
					"created", m->r.trained_at, "created_by", step);
	return cfg;
}

/* The manifest (image-spec manifest.md). */
static json_t *
MfOciManifest(const MfOciModel *m, const MfOciResult *res)
{
	json_t	   *layers = json_array();

	for (int i = 0; i < res->n_layers; i++)
		json_array_append_new(layers, json_pack("{s:s,s:s,s:I}", "mediaType", MF_OCI_MT_LAYER,
												"digest", res->layers[i].digest, "size", (json_int_t) res->layers[i].size));
	return json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:o,s:{s:s,s:s,s:s}}", "schemaVersion", 2,
					 "mediaType", MF_OCI_MT_MANIFEST,
					 "config", "mediaType", MF_OCI_MT_CONFIG, "digest", res->config.digest,
					 "size", (json_int_t) res->config.size,
					 "layers", layers,
					 "annotations", "org.opencontainers.image.created", m->r.trained_at,
					 "org.opencontainers.image.title", m->r.v.name, "org.opencontainers.image.version", m->r.v.version);
}

/* index.json and oci-layout. */
static MfImageStatus
MfOciIndex(const MfOciSpec *spec, const MfOciResult *res, MfImageError *err)
{
	json_t	   *desc = json_pack("{s:s,s:s,s:I}", "mediaType", MF_OCI_MT_MANIFEST, "digest", res->manifest.digest,
								 "size", (json_int_t) res->manifest.size);
	json_t	   *index;
	char		path[1200];
	char	   *text = NULL;
	FILE	   *f;
	bool		ok;

	if (desc != NULL && spec->tag != NULL)
		json_object_set_new(desc, "annotations", json_pack("{s:s}", "org.opencontainers.image.ref.name", spec->tag));
	index = json_pack("{s:i,s:s,s:[o]}", "schemaVersion", 2, "mediaType", MF_OCI_MT_INDEX, "manifests", desc);
	if (index != NULL)
		text = mf_oci_json_text(index, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(index);
	snprintf(path, sizeof(path), "%s/index.json", spec->out_dir);
	ok = text != NULL && (f = fopen(path, "w")) != NULL;
	ok = ok && fputs(text, f) >= 0 && fclose(f) == 0;
	free(text);
	snprintf(path, sizeof(path), "%s/oci-layout", spec->out_dir);
	ok = ok && (f = fopen(path, "w")) != NULL;
	ok = ok && fputs("{\"imageLayoutVersion\":\"1.0.0\"}", f) >= 0 && fclose(f) == 0;
	return ok ? MF_IMAGE_OK : mf_image_fail(err, MF_IMAGE_IO, "cannot write %s: %s", path, strerror(errno));
}

/* Check the spec and create the layout's directories. */
static MfImageStatus
MfOciStart(const MfOciSpec *spec, MfImageError *err)
{
	char		path[1200];

	if (spec->model_base == NULL || spec->name == NULL || spec->mf_serve == NULL || spec->out_dir == NULL ||
		spec->version_number < 1)
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "model_base, name, version_number, mf_serve and out_dir are required");
	if (strlen(spec->out_dir) > 900 || strlen(spec->model_base) > 900)
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "paths must have at most 900 bytes");
	if (mkdir(spec->out_dir, 0700) != 0)
		return mf_image_fail(err, MF_IMAGE_IO, "cannot create the image directory \"%s\": %s", spec->out_dir,
							 strerror(errno));
	snprintf(path, sizeof(path), "%s/blobs", spec->out_dir);
	if (mkdir(path, 0700) != 0)
		return mf_image_fail(err, MF_IMAGE_IO, "cannot create \"%s\": %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/blobs/sha256", spec->out_dir);
	if (mkdir(path, 0700) != 0)
		return mf_image_fail(err, MF_IMAGE_IO, "cannot create \"%s\": %s", path, strerror(errno));
	return MF_IMAGE_OK;
}

/* Build the image of spec (see oci.h). */
MfImageStatus
mf_oci_build(const MfOciSpec *spec, MfOciResult *res, MfImageError *err)
{
	uint64_t	max = spec->max_layer_bytes ? spec->max_layer_bytes : MF_OCI_MAX_LAYER_DEFAULT;
	MfOciModel	m;
	MfImageStatus st;

	memset(res, 0, sizeof(*res));
	if ((st = MfOciStart(spec, err)) != MF_IMAGE_OK)
		return st;
	if ((st = MfOciReadModel(spec, &m, err)) != MF_IMAGE_OK)
		return st;
	st = MfOciBaseLayer(spec, max, res, err);
	if (st == MF_IMAGE_OK)
		st = MfOciModelLayer(spec, &m, max, &res->layers[1], err);
	res->n_layers = 2;
	if (st == MF_IMAGE_OK)
		st = MfOciJsonBlob(spec->out_dir, MfOciConfig(spec, &m, res), &res->config, err);
	if (st == MF_IMAGE_OK)
		st = MfOciJsonBlob(spec->out_dir, MfOciManifest(&m, res), &res->manifest, err);
	if (st == MF_IMAGE_OK)
		st = MfOciIndex(spec, res, err);
	mf_serving_read_free(&m.r);
	return st;
}
