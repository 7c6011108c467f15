/*
 * tar.h - deterministic ustar archives in memory (libarchive).
 *
 * Pure C11, no PostgreSQL headers: mf_export_model (src/deploy.c) writes
 * the served model directory with it, and the image builder reuses it for
 * image layers.  The caller gives the entries in the order they are to
 * appear and one buffer of mf_tar_size() bytes; the writer allocates
 * nothing itself (libarchive's own state aside), so a caller inside
 * PostgreSQL hands it palloc'd memory.
 *
 * Determinism: every header field comes from the caller or is fixed: the
 * one mtime given for all entries, uid and gid 0, uname and gname "root",
 * modes 0755 (directories) and 0644 (files); the ustar format has no
 * access or change times and libarchive writes no pax or GNU extension
 * headers for it.  The archive ends with the two zero blocks and is padded
 * to a 10240-byte record, as GNU tar pads.  The same entries and mtime give
 * the same bytes.
 */
#ifndef MF_TAR_H
#define MF_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Outcome of the image functions. */
typedef enum MfImageStatus
{
	MF_IMAGE_OK = 0,
	MF_IMAGE_BAD_ARG,			/* an invalid name, value or size */
	MF_IMAGE_TOO_LARGE,			/* a member or the archive exceeds a limit */
	MF_IMAGE_NOMEM,				/* the buffer is too small or libarchive ran out of memory */
	MF_IMAGE_ARCHIVE,			/* libarchive refused (its message in the error) */
	MF_IMAGE_IO,				/* a file could not be read or written (oci*.c) */
	MF_IMAGE_MISMATCH,			/* the image answered otherwise than the database */
	MF_IMAGE_RUN				/* the image's server did not start or answer */
} MfImageStatus;

/* What failed, in words (lowercase, no trailing period). */
typedef struct MfImageError
{
	MfImageStatus status;
	char		detail[256];
} MfImageError;

/* One member of an archive: a directory (path ends with '/') or a file. */
typedef struct MfTarEntry
{
	const char *path;			/* relative, '/'-separated, at most 99 bytes */
	bool		is_dir;
	const void *data;			/* file contents (NULL for a directory) */
	size_t		size;			/* file size in bytes (0 for a directory) */
} MfTarEntry;

/* Largest member size ustar can record (11 octal digits). */
#define MF_TAR_MAX_MEMBER ((uint64_t) 077777777777)
/* Record size the archive is padded to. */
#define MF_TAR_RECORD 10240

/* Exact size in bytes of the archive of these entries; 0 when too large for size_t. */
extern size_t mf_tar_size(const MfTarEntry *entries, size_t n);

/*
 * Write the archive of n entries into buf (cap bytes, at least mf_tar_size),
 * every entry with modification time mtime (seconds since the Unix epoch);
 * *len gets the bytes written.  MF_IMAGE_OK or an error with its detail.
 */
extern MfImageStatus mf_tar_write(const MfTarEntry *entries, size_t n, int64_t mtime,
								  void *buf, size_t cap, size_t *len, MfImageError *err);

struct archive;
struct archive_entry;

/* Set up a libarchive writer for the deterministic ustar format; ARCHIVE_OK or its error. */
extern int	mf_tar_set_format(struct archive *a);

/*
 * Write one member's header with the fixed owner (0:0, root/root) and mtime
 * (the image builder's layers share it): a directory or a regular file of
 * size bytes with permission bits mode.
 */
extern MfImageStatus mf_tar_header(struct archive *a, struct archive_entry *ae, const char *path, bool is_dir,
								   int mode, uint64_t size, int64_t mtime, MfImageError *err);

/* Set an error: status and a printf-style detail; returns the status. */
extern MfImageStatus mf_image_fail(MfImageError *err, MfImageStatus status, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

#endif							/* MF_TAR_H */
