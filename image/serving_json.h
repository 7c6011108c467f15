/*
 * serving_json.h - serving.json, what a served model directory says about
 * one version (<base>/<name>/<n>/serving.json beside model.mfa): the one
 * owner of its format, with the writer (mf_export_model, the image
 * builder) and the reader (mf-serve, serve/model_dir.c).
 *
 * Members, in the order written: format ("mf-serving/1"), name (the model
 * name), version (the semver), version_number (<n>, the version_id),
 * family, labels (the stage when not development, then the aliases),
 * artifact ("model.mfa"), artifact_sha256 (of the artifact's bytes),
 * trained_at (ISO 8601, UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ"; the reader also
 * takes fewer or no fraction digits).  Both sides apply the same checks
 * (mf_served_version_check), so every string has the registry's format:
 * the writer needs no escaping and the reader refuses what the writer
 * would not write.
 *
 * Pure C11 and jansson (the reader), no PostgreSQL headers, no libarchive:
 * mf-serve links this file alone of image/.
 */
#ifndef MF_SERVING_JSON_H
#define MF_SERVING_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tar.h"				/* MfImageStatus, MfImageError */

/* The served format. */
#define MF_SERVING_FORMAT "mf-serving/1"
#define MF_SERVING_ARTIFACT "model.mfa"
#define MF_SERVING_JSON "serving.json"
/* Most labels a version may carry (its stage and aliases). */
#define MF_SERVING_MAX_LABELS 256
/* serving.json never exceeds this (fixed keys, checked field lengths). */
#define MF_SERVING_JSON_MAX (1024 + MF_SERVING_MAX_LABELS * 68)

/* One trained version, as the registry knows it. */
typedef struct MfServedVersion
{
	const char *name;			/* model name, ^[a-z][a-z0-9_]{0,62}$ */
	const char *version;		/* semver MAJOR.MINOR.PATCH */
	int64_t		version_number; /* <n>: the version_id, >= 1 */
	const char *family;			/* model family */
	const char *const *labels;	/* stage (unless development) and aliases */
	size_t		n_labels;
	const char *artifact_sha256;	/* 64 lowercase hex digits */
	int64_t		trained_at_us;	/* microseconds since the Unix epoch, UTC */
	const void *artifact;		/* the artifact bytes */
	size_t		artifact_len;
} MfServedVersion;

/* Check every field of a version; MF_IMAGE_OK or the first problem. */
extern MfImageStatus mf_served_version_check(const MfServedVersion *v, MfImageError *err);

/*
 * serving.json of a version into buf (cap bytes; buf may be NULL when cap
 * is 0); *len gets its length (without a terminator), also when it did not
 * fit (then MF_IMAGE_NOMEM), so a first call with cap 0 sizes the buffer.
 */
extern MfImageStatus mf_serving_json(const MfServedVersion *v, char *buf, size_t cap, size_t *len,
									 MfImageError *err);

/* serving.json read back. */
typedef struct MfServingRead
{
	MfServedVersion v;			/* its fields (artifact: NULL, 0) */
	const char *artifact;		/* the artifact's file name in the directory */
	const char *trained_at;		/* trained_at as written */
	const char *labels[MF_SERVING_MAX_LABELS];	/* v.labels points here */
	void	   *doc;			/* the parsed document the texts live in */
} MfServingRead;

/*
 * Parse and check serving.json (len bytes of text); on MF_IMAGE_OK the
 * caller frees r with mf_serving_read_free, else err names the member at
 * fault (and r holds nothing).
 */
extern MfImageStatus mf_serving_json_read(const char *text, size_t len, MfServingRead *r,
										  MfImageError *err);

/* Free what mf_serving_json_read kept. */
extern void mf_serving_read_free(MfServingRead *r);

#endif							/* MF_SERVING_JSON_H */
