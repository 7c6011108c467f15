/*
 * oci.h - OCI images of a served model, built in C (no Docker engine), and
 * their verification before a push.
 *
 * Pure C11 (libarchive, zlib, jansson, OpenSSL libcrypto; the verifier
 * also the serving core serve/), no PostgreSQL headers: the deploy job of
 * the extension (src/deploy_job.c) and the unit tests call it alike.
 *
 * Design note
 * -----------
 * What is built.  An OCI image layout directory (image-spec 1.x: the file
 * oci-layout, index.json, blobs/sha256/<hex>) holding one manifest, one
 * config and two layers:
 *   1. the base layer: /usr/bin/mf-serve (the installed program), exactly
 *      the shared libraries it loads (its ELF DT_NEEDED entries resolved
 *      through the loader's search paths, recursively; oci_elf.c), the
 *      dynamic loader named by its PT_INTERP, /etc/passwd and /etc/group
 *      with the non-root user, /tmp, and the Debian package of every file
 *      under /var/lib/dpkg/status.d/<package> (its stanza of
 *      /var/lib/dpkg/status, found through the dpkg info lists;
 *      oci_dpkg.c), as distroless images record them;
 *   2. the model layer: /models/<name>/<n>/{model.mfa,serving.json}, the
 *      served model directory mf_export_model writes.
 * A new version of a model thus changes the small second layer only.
 *
 * Reproducible.  Every entry is sorted by path, owned 0:0 (root/root),
 * with a fixed mode (0755 directories and programs, 0644 data, 1777 /tmp)
 * and a fixed mtime: the version's trained_at in the model layer (and the
 * config's created), MF_OCI_BASE_MTIME in the base layer, so that every
 * version of every model shares one base layer digest for one installed
 * mf-serve and set of libraries (a registry that has it skips it); the gzip stream has no name and no timestamp (zlib's own header:
 * mtime 0); the JSON documents are written with sorted keys.  The same
 * version and the same installed files give the same digests.
 *
 * Base layer cache (oci_cache.c).  With spec->layer_cache set, the base
 * layer's tar is hashed alone first; a gzip blob an earlier build kept
 * there for that diff_id (checked by inflating it) is hard-linked into the
 * layout instead of deflating the same bytes again, and a new one is kept.
 * A new version then costs the model layer, the documents and one hashing
 * pass over the base layer's files.
 *
 * Digests.  A layer is streamed once: the tar bytes go through sha256
 * (its diff_id) and deflate, the gzip bytes through sha256 (its digest)
 * into the blob file.  A layer whose tar exceeds the limit (1 GiB unless
 * the spec says otherwise) is refused with MF_IMAGE_TOO_LARGE.
 *
 * Verification (oci_verify.c).  The layers of the layout (their digests
 * and diff_ids checked again) are unpacked into a private directory, and
 * the image's own mf-serve is started from those bytes through the
 * layer's own dynamic loader (`<root>/lib64/ld-linux-x86-64.so.2
 * --library-path <root dirs> <root>/usr/bin/mf-serve --model-base-path
 * <root>/models`), no root needed, on a loopback port.  The test rows go to
 * it as one OIP v2 infer request; the same request goes to the in-process
 * serving handler over the database's artifact bytes; every output must be
 * equal bit for bit, else the verification fails naming the first row that
 * differs.
 */
#ifndef MF_OCI_H
#define MF_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serving_json.h"
#include "tar.h"

#define MF_OCI_DIGEST_LEN	(7 + 64 + 1)	/* "sha256:" + hex + NUL */
/* mtime of the base layer's members: 2000-01-01T00:00:00Z (as Bazel's image rules) */
#define MF_OCI_BASE_MTIME	946684800
#define MF_OCI_MAX_LAYER_DEFAULT ((uint64_t) 1 << 30)	/* 1 GiB of tar per layer */
#define MF_OCI_DEFAULT_PORT 8501
#define MF_OCI_UID			65532	/* the non-root user (distroless "nonroot") */
#define MF_OCI_USER_NAME	"mf"
#define MF_OCI_MODEL_BASE	"models"	/* /models/<name>/<n>/ in the image */
#define MF_OCI_MAX_FILES	256 /* programs and libraries of the base layer */

#define MF_OCI_MT_MANIFEST	"application/vnd.oci.image.manifest.v1+json"
#define MF_OCI_MT_INDEX		"application/vnd.oci.image.index.v1+json"
#define MF_OCI_MT_CONFIG	"application/vnd.oci.image.config.v1+json"
#define MF_OCI_MT_LAYER		"application/vnd.oci.image.layer.v1.tar+gzip"

/* What to build. */
typedef struct MfOciSpec
{
	const char *model_base;		/* served model directory: <base>/<name>/<n>/ */
	const char *name;			/* model name */
	int64_t		version_number; /* <n> */
	const char *mf_serve;		/* the installed mf-serve program */
	const char *out_dir;		/* the layout directory (created; must not exist) */
	const char *tag;			/* index.json's ref name, or NULL */
	const char *config_hash;	/* label: the version's config hash, or NULL */
	const char *metrics_json;	/* label: the version's metrics (JSON text), or NULL */
	const char *const *lib_dirs;	/* loader search path; NULL = the system's */
	size_t		n_lib_dirs;
	const char *dpkg_dir;		/* NULL = /var/lib/dpkg */
	int			port;			/* exposed port; 0 = MF_OCI_DEFAULT_PORT */
	uint64_t	max_layer_bytes;	/* 0 = MF_OCI_MAX_LAYER_DEFAULT */
	const char *layer_cache;	/* base layer cache directory (created), or NULL */
} MfOciSpec;

/* One blob of the image. */
typedef struct MfOciBlob
{
	char		digest[MF_OCI_DIGEST_LEN];
	uint64_t	size;
	char		diff_id[MF_OCI_DIGEST_LEN]; /* layers: sha256 of the tar */
} MfOciBlob;

/* What was built. */
typedef struct MfOciResult
{
	MfOciBlob	manifest;
	MfOciBlob	config;
	MfOciBlob	layers[2];		/* base, model */
	int			n_layers;
	int			n_libraries;	/* shared objects in the base layer, loader included */
	int			n_packages;		/* Debian packages recorded */
	bool		base_cached;	/* the base layer came from spec->layer_cache */
} MfOciResult;

/* Build the image of spec into spec->out_dir (see the design note). */
extern MfImageStatus mf_oci_build(const MfOciSpec *spec, MfOciResult *res, MfImageError *err);

/* What to verify. */
typedef struct MfOciVerifySpec
{
	const char *layout;			/* an image layout mf_oci_build wrote */
	const char *work_dir;		/* a directory to unpack into (created, then removed) */
	const MfServedVersion *expected;	/* the database's version: name, version,
										 * version_number, artifact bytes */
	const char *rows_json;		/* JSON array of objects of named raw features */
	int			timeout_seconds;	/* start and answer; 0 = 30 */
	bool		keep_work_dir;	/* leave the unpacked root (tests) */
} MfOciVerifySpec;

/* The outcome of a verification. */
typedef struct MfOciVerifyResult
{
	int			rows;			/* rows sent */
	int			mismatches;		/* output values that differ */
	char		log[1024];		/* the first mismatch, or how the server failed */
} MfOciVerifyResult;

/*
 * Verify a layout (see the design note): MF_IMAGE_OK when every answer of
 * the image equals the in-process answer; MF_IMAGE_MISMATCH with res->log
 * when one differs; another status when the image cannot be checked.
 */
extern MfImageStatus mf_oci_verify(const MfOciVerifySpec *spec, MfOciVerifyResult *res,
								   MfImageError *err);

/* "sha256:<hex>" of len bytes. */
extern void mf_oci_sha256(const void *data, size_t len, char out[MF_OCI_DIGEST_LEN]);

#endif							/* MF_OCI_H */
