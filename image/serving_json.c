/*
 * serving_json.c - serving.json of a served model directory: the checks
 * of a version's fields, the writer and the reader (see serving_json.h).
 * mf_image_fail, the error helper of image/, lives here too: this is the
 * file of image/ without libarchive, which mf-serve links alone.
 */
#include "serving_json.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Set an error: status and a printf-style detail; returns the status. */
MfImageStatus
mf_image_fail(MfImageError *err, MfImageStatus status, const char *fmt,...)
{
	va_list		ap;

	if (err != NULL)
	{
		err->status = status;
		va_start(ap, fmt);
		vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
		va_end(ap);
	}
	return status;
}

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
MfImageStatus
mf_served_version_check(const MfServedVersion *v, MfImageError *err)
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
	MfImageStatus st = mf_served_version_check(v, err);
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

/* Days since 1970-01-01 of a civil date (proleptic Gregorian; mf_dir_civil's inverse). */
static int64_t
mf_dir_days(int64_t y, int m, int d)
{
	int64_t		era,
				yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Read n digits at s into *v; false when one is not a digit. */
static bool
mf_dir_digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

/* "YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z" as microseconds since the epoch; false when not one. */
static bool
mf_dir_parse_time(const char *s, int64_t *us)
{
	int			y,
				mo,
				d,
				h,
				mi,
				sec,
				frac = 0,
				nf = 0;
	int64_t		cy,
				days;
	int			cm,
				cd;

	if (strlen(s) < 20 || !mf_dir_digits(s, 4, &y) || s[4] != '-' || !mf_dir_digits(s + 5, 2, &mo) ||
		s[7] != '-' || !mf_dir_digits(s + 8, 2, &d) || s[10] != 'T' || !mf_dir_digits(s + 11, 2, &h) ||
		s[13] != ':' || !mf_dir_digits(s + 14, 2, &mi) || s[16] != ':' || !mf_dir_digits(s + 17, 2, &sec))
		return false;
	s += 19;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9' && nf < 6; s++, nf++)
			frac = frac * 10 + (*s - '0');
	if (strcmp(s, "Z") != 0 || (nf == 0 && s[-1] == '.') || mo < 1 || mo > 12 || d < 1 || h > 23 ||
		mi > 59 || sec > 59)
		return false;
	for (; nf < 6; nf++)
		frac *= 10;
	days = mf_dir_days(y, mo, d);
	mf_dir_civil(days, &cy, &cm, &cd);
	if (cy != y || cm != mo || cd != d)
		return false;			/* no such day (Feb 30) */
	*us = ((days * 86400 + h * 3600 + mi * 60 + sec) * 1000000) + frac;
	return true;
}

/* The string member key of o, or NULL. */
static const char *
mf_dir_member(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Fill r from the parsed document; MF_IMAGE_OK or the member at fault. */
static MfImageStatus
mf_dir_read_members(json_t *o, MfServingRead *r, MfImageError *err)
{
	json_t	   *labels = json_object_get(o, "labels"),
			   *num = json_object_get(o, "version_number");
	const char *fmt = mf_dir_member(o, "format");
	size_t		i;
	json_t	   *l;

	if (!json_is_object(o) || fmt == NULL || strcmp(fmt, MF_SERVING_FORMAT) != 0)
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "\"format\" must be \"%s\"", MF_SERVING_FORMAT);
	r->v.name = mf_dir_member(o, "name");
	r->v.version = mf_dir_member(o, "version");
	r->v.family = mf_dir_member(o, "family");
	r->v.artifact_sha256 = mf_dir_member(o, "artifact_sha256");
	r->artifact = mf_dir_member(o, "artifact");
	r->trained_at = mf_dir_member(o, "trained_at");
	if (r->v.name == NULL || r->v.version == NULL || r->v.family == NULL || r->v.artifact_sha256 == NULL ||
		r->artifact == NULL || r->trained_at == NULL)
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "\"%s\" must be a string",
							 !r->v.name ? "name" : !r->v.version ? "version" : !r->v.family ? "family" :
							 !r->v.artifact_sha256 ? "artifact_sha256" : !r->artifact ? "artifact" : "trained_at");
	if (!json_is_integer(num))
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "\"version_number\" must be an integer");
	r->v.version_number = json_integer_value(num);
	if (!json_is_array(labels) || json_array_size(labels) > MF_SERVING_MAX_LABELS)
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "\"labels\" must be a list of at most %d labels",
							 MF_SERVING_MAX_LABELS);
	json_array_foreach(labels, i, l)
	{
		if ((r->labels[i] = json_string_value(l)) == NULL)
			return mf_image_fail(err, MF_IMAGE_BAD_ARG, "\"labels\"[%zu] must be a string", i);
	}
	r->v.labels = r->labels;
	r->v.n_labels = json_array_size(labels);
	if (r->artifact[0] == '\0' || r->artifact[0] == '.' || strchr(r->artifact, '/') != NULL ||
		strlen(r->artifact) > 255)
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "\"artifact\" must be a file name in the version directory");
	if (!mf_dir_parse_time(r->trained_at, &r->v.trained_at_us))
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "\"trained_at\" must be a UTC time YYYY-MM-DDTHH:MM:SS[.ffffff]Z");
	return mf_served_version_check(&r->v, err);
}

/* Parse and check serving.json (see serving_json.h). */
MfImageStatus
mf_serving_json_read(const char *text, size_t len, MfServingRead *r, MfImageError *err)
{
	json_error_t jerr;
	json_t	   *o;
	MfImageStatus st;

	memset(r, 0, sizeof(*r));
	if (len > MF_SERVING_JSON_MAX)
		return mf_image_fail(err, MF_IMAGE_TOO_LARGE, "serving.json has %zu bytes; at most %d", len,
							 MF_SERVING_JSON_MAX);
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "not JSON: %s", jerr.text);
	st = mf_dir_read_members(o, r, err);
	if (st != MF_IMAGE_OK)
	{
		json_decref(o);
		memset(r, 0, sizeof(*r));
		return st;
	}
	r->doc = o;
	return MF_IMAGE_OK;
}

/* Free what mf_serving_json_read kept. */
void
mf_serving_read_free(MfServingRead *r)
{
	json_decref(r->doc);
	memset(r, 0, sizeof(*r));
}
