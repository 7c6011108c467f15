/*
 * oci_int.h - internals of the image builder shared by image/oci*.c:
 * the file list of a layer, the streaming layer writer (oci_layer.c), the
 * ELF resolver (oci_elf.c) and the dpkg lookup (oci_dpkg.c).
 */
#ifndef MF_OCI_INT_H
#define MF_OCI_INT_H

#include "oci.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Kind of a layer member. */
typedef enum MfOciKind
{
	MF_OCI_DIR,
	MF_OCI_FILE
} MfOciKind;

/* One member of a layer: contents from a host file or from memory. */
typedef struct MfOciMember
{
	char		path[512];		/* in the image, relative ("usr/bin/mf-serve"); dirs end with '/' */
	MfOciKind	kind;
	int			mode;			/* permission bits */
	char		src[512];		/* host file to copy ("" when data is set) */
	char	   *data;			/* malloc'd contents, or NULL */
	size_t		size;			/* of data */
} MfOciMember;

/* A growing list of members. */
typedef struct MfOciMembers
{
	MfOciMember *m;
	size_t		n;
	size_t		cap;
} MfOciMembers;

/* Add a member; adds its parent directories first; false when out of memory. */
extern bool mf_oci_members_add(MfOciMembers *l, const char *path, MfOciKind kind, int mode,
							   const char *src, char *data, size_t size);

/* Free every member. */
extern void mf_oci_members_free(MfOciMembers *l);

/*
 * Write the layer of these members (sorted here by path, duplicates
 * dropped) as a gzip'd tar blob under <layout>/blobs/sha256/, every member
 * dated mtime; blob gets digest, size and diff_id.  MF_IMAGE_TOO_LARGE when
 * the tar exceeds max_bytes.
 */
extern MfImageStatus mf_oci_write_layer(MfOciMembers *l, const char *layout, int64_t mtime,
										uint64_t max_bytes, MfOciBlob *blob, MfImageError *err);

/*
 * The diff_id ("sha256:<hex>" of the tar) mf_oci_write_layer would give these
 * members, without compressing or writing anything; MF_IMAGE_TOO_LARGE as there.
 */
extern MfImageStatus mf_oci_layer_diff_id(MfOciMembers *l, int64_t mtime, uint64_t max_bytes,
										  char diff_id[MF_OCI_DIGEST_LEN], MfImageError *err);

/*
 * The base layer cache (oci_cache.c): take puts the cached gzip blob of the
 * tar with this diff_id into the layout (a hard link) and fills blob, after
 * checking that it inflates to exactly that tar; false when there is none or
 * it does not check.  put keeps a layout's freshly written blob as the
 * cache's entry, replacing the others; failures are ignored (a cache).
 */
extern bool mf_oci_cache_take(const char *cache, const char *diff_id, const char *layout, MfOciBlob *blob);
extern void mf_oci_cache_put(const char *cache, const char *layout, const MfOciBlob *blob);

/* Write len bytes as a blob <layout>/blobs/sha256/<hex>; blob gets digest and size. */
extern MfImageStatus mf_oci_write_blob(const char *layout, const void *data, size_t len,
									   MfOciBlob *blob, MfImageError *err);

/* "sha256:<hex>" of a finished 32-byte digest. */
extern void mf_oci_digest_hex(const unsigned char md[32], char out[MF_OCI_DIGEST_LEN]);

/* The path of a blob: <layout>/blobs/sha256/<hex of digest>. */
extern void mf_oci_blob_path(const char *layout, const char *digest, char *out, size_t outlen);

/*
 * A JSON value as malloc'd text (free with free()): json_dumps allocates
 * through jansson's allocator, which mf_core points at palloc.
 */
extern char *mf_oci_json_text(const json_t *doc, size_t flags);

/* Read a whole file (malloc'd, NUL-terminated); NULL with err set. */
extern char *mf_oci_read_file(const char *path, size_t max, size_t *len, MfImageError *err);

/* One shared object the program needs. */
typedef struct MfOciLib
{
	char		soname[256];	/* as DT_NEEDED names it, or the loader's path */
	char		found[512];		/* where the search found it (host path) */
	char		real[512];		/* its realpath (what is copied) */
} MfOciLib;

/* What a program loads. */
typedef struct MfOciLibs
{
	char		interp[256];	/* PT_INTERP, e.g. /lib64/ld-linux-x86-64.so.2 */
	MfOciLib	libs[MF_OCI_MAX_FILES];
	int			n;				/* libs[0] is the loader */
} MfOciLibs;

/* The dynamic loader and every DT_NEEDED of program, recursively, found in dirs. */
extern MfImageStatus mf_oci_resolve_libs(const char *program, const char *const *dirs, size_t n_dirs,
										 MfOciLibs *out, MfImageError *err);

/* PT_INTERP of an ELF file into out ("" when it has none). */
extern MfImageStatus mf_oci_elf_interp(const char *path, char *out, size_t outlen, MfImageError *err);

/* The loader's default search path (ld.so.conf's directories, then the system's). */
extern size_t mf_oci_default_lib_dirs(char dirs[][256], size_t max);

/*
 * For each host path of paths (n of them), the Debian package owning it
 * (found through the list files <dpkg_dir>/info/<package>.list); add each package's stanza of
 * <dpkg_dir>/status as var/lib/dpkg/status.d/<package> to l.  *n_packages
 * gets the number of packages.
 */
extern MfImageStatus mf_oci_dpkg_record(const char *dpkg_dir, const char *const *paths, size_t n,
										MfOciMembers *l, int *n_packages, MfImageError *err);

#endif							/* MF_OCI_INT_H */
