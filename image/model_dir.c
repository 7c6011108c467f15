/*
 * model_dir.c - a version as a served model directory and its tar (see
 * model_dir.h for the layout and serving.json).
 */
#include "model_dir.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Most labels a version may carry (its stage and aliases). */
#define MF_SERVING_MAX_LABELS 256
/* serving.json never exceeds this (fixed keys, checked field lengths). */
#define MF_SERVING_JSON_MAX (1024 + MF_SERVING_MAX_LABELS * 68)
/* Latest trained_at: 9999-12-31T23:59:59.999999Z. */
#define MF_MAX_TRAINED_AT_US INT64_C(253402300799999999)

/* A name of the registry: ^[a-z][a-z0-9_]{0,62}$. */
static bool
mf_dir_is_name(const char *s)
{
	size_t		n = s ? strlen(s) : 0;

	if (n < 1 || n > 63 || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* A semantic version: three dot-separated numbers of 1 to 9 digits, no leading zero. */
static bool
mf_dir_is_semver(const char *s)
{
	int			parts = 0;

	if (s == NULL)
		return false;
	for (;;)
	{
		size_t		d = strspn(s, "0123456789");

		if (d < 1 || d > 9 || (d > 1 && s[0] == '0'))
			return false;
		s += d;
		parts++;
		if (*s == '\0')
			return parts == 3;
		if (*s != '.' || parts == 3)
			return false;
		s++;
	}
}

/* 64 lowercase hex digits. */
static bool
mf_dir_is_sha256(const char *s)
{
	return s != NULL && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* Check every field of a version; MF_IMAGE_OK or the first problem. */
static MfImageStatus
mf_dir_check(const MfServedVersion *v, MfImageError *err)
{
	if (!mf_dir_is_name(v->name))
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "model name must match ^[a-z][a-z0-9_]{0,62}$");
	if (!mf_dir_is_semver(v->version))
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "version must be a semantic version MAJOR.MINOR.PATCH");
	if (v->version_number < 1)
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "version_number must be >= 1, got %" PRId64, v->version_number);
	if (!mf_dir_is_name(v->family))
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "family must match ^[a-z][a-z0-9_]{0,62}$");
	if (v->n_labels > MF_SERVING_MAX_LABELS || (v->n_labels > 0 && v->labels == NULL))
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "a version has at most %d labels, got %zu",
							 MF_SERVING_MAX_LABELS, v->n_labels);
	for (size_t i = 0; i < v->n_labels; i++)
		if (!mf_dir_is_name(v->labels[i]))
			return mf_image_fail(err, MF_IMAGE_BAD_ARG, "label %zu must match ^[a-z][a-z0-9_]{0,62}$", i + 1);
	if (!mf_dir_is_sha256(v->artifact_sha256))
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "artifact_sha256 must be 64 lowercase hex digits");
	if (v->trained_at_us < 0 || v->trained_at_us > MF_MAX_TRAINED_AT_US)
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "trained_at must lie between 1970 and 9999");
	if (v->artifact == NULL && v->artifact_len > 0)
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "the artifact has no bytes");
	return MF_IMAGE_OK;
}

/* A bounded text under construction: what fits in buf, and the full length. */
typedef struct MfDirText
{
	char	   *buf;
	size_t		cap;
	size_t		len;
} MfDirText;

/* Append printf-style text (counted even when it does not fit). */
static void
mf_dir_append(MfDirText *t, const char *fmt,...) __attribute__((format(printf, 2, 3)));
static void
mf_dir_append(MfDirText *t, const char *fmt,...)
{
	va_list		ap;
	char		tmp[160];
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* every field is checked short, so a piece always fits tmp */
	if (t->len < t->cap)
		memcpy(t->buf + t->len, tmp, (size_t) n <= t->cap - t->len ? (size_t) n : t->cap - t->len);
	t->len += (size_t) n;
}

/* Civil date of a day count since 1970-01-01 (proleptic Gregorian). */
static void
mf_dir_civil(int64_t days, int64_t *y, int *m, int *d)
{
	int64_t		z = days + 719468;
	int64_t		era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t		doe = z - era * 146097;
	int64_t		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t		mp = (5 * doy + 2) / 153;

	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* serving.json of a version (see model_dir.h). */
MfImageStatus
mf_serving_json(const MfServedVersion *v, char *buf, size_t cap, size_t *len, MfImageError *err)
{
	MfDirText	t = {buf, buf ? cap : 0, 0};
	MfImageStatus st = mf_dir_check(v, err);
	int64_t		secs = v->trained_at_us / 1000000;
	int64_t		year;
	int			month,
				day;

	*len = 0;
	if (st != MF_IMAGE_OK)
		return st;
	mf_dir_civil(secs / 86400, &year, &month, &day);
	mf_dir_append(&t, "{\n  \"format\": \"%s\",\n  \"name\": \"%s\",\n", MF_SERVING_FORMAT, v->name);
	mf_dir_append(&t, "  \"version\": \"%s\",\n  \"version_number\": %" PRId64 ",\n", v->version, v->version_number);
	mf_dir_append(&t, "  \"family\": \"%s\",\n  \"labels\": [", v->family);
	for (size_t i = 0; i < v->n_labels; i++)
		mf_dir_append(&t, "%s\"%s\"", i > 0 ? ", " : "", v->labels[i]);
	mf_dir_append(&t, "],\n  \"artifact\": \"%s\",\n  \"artifact_sha256\": \"%s\",\n",
				  MF_SERVING_ARTIFACT, v->artifact_sha256);
	mf_dir_append(&t, "  \"trained_at\": \"%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%06dZ\"\n}\n",
				  year, month, day, (int) (secs % 86400 / 3600), (int) (secs % 3600 / 60), (int) (secs % 60),
				  (int) (v->trained_at_us % 1000000));
	*len = t.len;
	if (t.len > t.cap)
		return mf_image_fail(err, MF_IMAGE_NOMEM, "serving.json needs %zu bytes, the buffer has %zu", t.len, t.cap);
	return MF_IMAGE_OK;
}

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
