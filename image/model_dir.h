/*
 * model_dir.h - one version of a model as a served model directory, in
 * TensorFlow Serving's layout, and as a tar of it.
 *
 *   <name>/<n>/model.mfa       the artifact: exactly mf.artifacts.bytes
 *   <name>/<n>/serving.json    what mf-serve needs to know about it
 *
 * <n> is the version's TF-Serving integer version: its version_id, stable,
 * unique and increasing in creation order.  serving.json (its format, the
 * writer and the reader) is serving_json.h's.
 *
 * Pure C11, no PostgreSQL headers: mf_export_model (src/deploy.c) and the
 * image builder write it, mf-serve reads it.  Every string is checked
 * against the registry's formats, so a path can never leave <name>/<n>/.
 */
#ifndef MF_MODEL_DIR_H
#define MF_MODEL_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "serving_json.h"
#include "tar.h"

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
