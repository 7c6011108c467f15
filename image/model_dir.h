/*
 * model_dir.h - one version of a model as a served model directory, in
 * TensorFlow Serving's layout, and as a tar of it.
 *
 *   <name>/<n>/model.mfa       the artifact: exactly mf.artifacts.bytes
 *   <name>/<n>/serving.json    what mf-serve needs to know about it
 *
 * <n> is the version's TF-Serving integer version: its version_id, stable,
 * unique and increasing in creation order.  serving.json holds, in this
 * order: format ("mf-serving/1"), name, version (the semver), version_number
 * (<n>), family, labels (the stage when not development, then the aliases),
 * artifact ("model.mfa"), artifact_sha256, trained_at (ISO 8601, UTC).
 *
 * Pure C11, no PostgreSQL headers: mf_export_model (src/deploy.c) and the
 * image builder write it, mf-serve reads it.  Every string is checked
 * against the registry's formats, so serving.json needs no escaping and a
 * path can never leave <name>/<n>/.
 */
#ifndef MF_MODEL_DIR_H
#define MF_MODEL_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "tar.h"

/* The served format this module writes. */
#define MF_SERVING_FORMAT "mf-serving/1"
#define MF_SERVING_ARTIFACT "model.mfa"
#define MF_SERVING_JSON "serving.json"

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

/*
 * serving.json of a version into buf (cap bytes; buf may be NULL when cap
 * is 0); *len gets its length (without a terminator), also when it did not
 * fit (then MF_IMAGE_NOMEM), so a first call with cap 0 sizes the buffer.
 */
extern MfImageStatus mf_serving_json(const MfServedVersion *v, char *buf, size_t cap, size_t *len,
									 MfImageError *err);

/* Exact size of the tar of a version's directory (0 when it cannot be written). */
extern size_t mf_model_dir_tar_size(const MfServedVersion *v);

/*
 * The tar of <name>/, <name>/<n>/, <name>/<n>/model.mfa and
 * <name>/<n>/serving.json, every member dated trained_at (whole seconds),
 * into buf (cap bytes, at least mf_model_dir_tar_size); *len the bytes written.
 */
extern MfImageStatus mf_model_dir_tar(const MfServedVersion *v, void *buf, size_t cap, size_t *len,
									  MfImageError *err);

#endif							/* MF_MODEL_DIR_H */
