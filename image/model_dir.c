/*
 * model_dir.c - a version as a served model directory and its tar (see
 * model_dir.h for the layout; serving.json is serving_json.c's).
 */
#include "model_dir.h"

#include <inttypes.h>
#include <stdio.h>

/* The four members of the directory: paths in dir, the entries in e. */
static void
mf_dir_entries(const MfServedVersion *v, const char *json, size_t json_len, char paths[4][128],
			   MfTarEntry e[4])
{
	snprintf(paths[0], 128, "%s/", v->name);
	snprintf(paths[1], 128, "%s/%" PRId64 "/", v->name, v->version_number);
	snprintf(paths[2], 128, "%s/%" PRId64 "/%s", v->name, v->version_number, MF_SERVING_ARTIFACT);
	snprintf(paths[3], 128, "%s/%" PRId64 "/%s", v->name, v->version_number, MF_SERVING_JSON);
	e[0] = (MfTarEntry) {paths[0], true, NULL, 0};
	e[1] = (MfTarEntry) {paths[1], true, NULL, 0};
	e[2] = (MfTarEntry) {paths[2], false, v->artifact, v->artifact_len};
	e[3] = (MfTarEntry) {paths[3], false, json, json_len};
}

/* Exact size of the tar of a version's directory (0 when it cannot be written). */
size_t
mf_model_dir_tar_size(const MfServedVersion *v)
{
	char		paths[4][128];
	MfTarEntry	e[4];
	size_t		json_len;

	if (mf_serving_json(v, NULL, 0, &json_len, NULL) != MF_IMAGE_NOMEM)
		return 0;
	mf_dir_entries(v, NULL, json_len, paths, e);
	return mf_tar_size(e, 4);
}

/* The tar of a version's directory (see model_dir.h). */
MfImageStatus
mf_model_dir_tar(const MfServedVersion *v, void *buf, size_t cap, size_t *len, MfImageError *err)
{
	char		json[MF_SERVING_JSON_MAX];
	char		paths[4][128];
	MfTarEntry	e[4];
	size_t		json_len;
	MfImageStatus st;

	*len = 0;
	st = mf_serving_json(v, json, sizeof(json), &json_len, err);
	if (st != MF_IMAGE_OK)
		return st;
	mf_dir_entries(v, json, json_len, paths, e);
	return mf_tar_write(e, 4, v->trained_at_us / 1000000, buf, cap, len, err);
}
