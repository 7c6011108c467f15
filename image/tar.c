/*
 * tar.c - deterministic ustar archives in memory (see tar.h for the
 * contract: fixed owner, modes and mtime, no extension headers).
 */
#include "tar.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

/* a + b, or false when it overflows size_t. */
static bool
mf_tar_add(size_t *a, size_t b)
{
	if (*a > SIZE_MAX - b)
		return false;
	*a += b;
	return true;
}

/* Exact size in bytes of the archive of these entries; 0 when too large. */
size_t
mf_tar_size(const MfTarEntry *entries, size_t n)
{
	size_t		total = 0;

	for (size_t i = 0; i < n; i++)
	{
		size_t		data = entries[i].is_dir ? 0 : entries[i].size;

		if (data > SIZE_MAX - 511)
			return 0;
		if (!mf_tar_add(&total, 512) || !mf_tar_add(&total, (data + 511) / 512 * 512))
			return 0;
	}
	if (!mf_tar_add(&total, 1024) || total > SIZE_MAX - (MF_TAR_RECORD - 1))
		return 0;
	return (total + MF_TAR_RECORD - 1) / MF_TAR_RECORD * MF_TAR_RECORD;
}

/* Check one entry: a short relative path without "..", a size ustar can hold. */
static MfImageStatus
mf_tar_check_entry(const MfTarEntry *e, MfImageError *err)
{
	size_t		len = e->path ? strlen(e->path) : 0;

	if (len == 0 || len > 99)
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "member path must have 1 to 99 bytes, got %zu", len);
	if (e->path[0] == '/' || strstr(e->path, "..") != NULL || strstr(e->path, "//") != NULL)
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "member path \"%s\" must be relative, without \"..\"", e->path);
	if (e->is_dir != (e->path[len - 1] == '/'))
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "member \"%s\": a directory path, and only one, ends with '/'",
							 e->path);
	if (!e->is_dir && (uint64_t) e->size > MF_TAR_MAX_MEMBER)
		return mf_image_fail(err, MF_IMAGE_TOO_LARGE, "member \"%s\" has %zu bytes; ustar holds at most %llu",
							 e->path, e->size, (unsigned long long) MF_TAR_MAX_MEMBER);
	if (!e->is_dir && e->size > 0 && e->data == NULL)
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "member \"%s\" has no data", e->path);
	return MF_IMAGE_OK;
}

/* ustar, no compression, 10240-byte records with the last one padded. */
int
mf_tar_set_format(struct archive *a)
{
	int			rc = archive_write_set_format_ustar(a);

	if (rc == ARCHIVE_OK)
		rc = archive_write_add_filter_none(a);
	if (rc == ARCHIVE_OK)
		rc = archive_write_set_bytes_per_block(a, MF_TAR_RECORD);
	if (rc == ARCHIVE_OK)
		rc = archive_write_set_bytes_in_last_block(a, MF_TAR_RECORD);
	return rc;
}

/* One member's header with the fixed owner and mtime (see tar.h). */
MfImageStatus
mf_tar_header(struct archive *a, struct archive_entry *ae, const char *path, bool is_dir, int mode,
			  uint64_t size, int64_t mtime, MfImageError *err)
{
	archive_entry_clear(ae);
	archive_entry_set_pathname(ae, path);
	archive_entry_set_filetype(ae, is_dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(ae, (mode_t) mode);
	archive_entry_set_size(ae, is_dir ? 0 : (la_int64_t) size);
	archive_entry_set_mtime(ae, (time_t) mtime, 0);
	archive_entry_set_uid(ae, 0);
	archive_entry_set_gid(ae, 0);
	archive_entry_set_uname(ae, "root");
	archive_entry_set_gname(ae, "root");
	if (archive_write_header(a, ae) != ARCHIVE_OK)
		return mf_image_fail(err, MF_IMAGE_ARCHIVE, "member \"%s\": %s", path, archive_error_string(a));
	return MF_IMAGE_OK;
}

/* Append one entry with the fixed owner, mode and mtime. */
static MfImageStatus
mf_tar_put(struct archive *a, struct archive_entry *ae, const MfTarEntry *e, int64_t mtime,
		   MfImageError *err)
{
	MfImageStatus st = mf_tar_header(a, ae, e->path, e->is_dir, e->is_dir ? 0755 : 0644, e->size, mtime, err);

	if (st != MF_IMAGE_OK)
		return st;
	if (!e->is_dir && e->size > 0 &&
		archive_write_data(a, e->data, e->size) != (la_ssize_t) e->size)
		return mf_image_fail(err, MF_IMAGE_ARCHIVE, "member \"%s\": %s", e->path, archive_error_string(a));
	return MF_IMAGE_OK;
}

/* Write the archive of n entries into buf (see tar.h). */
MfImageStatus
mf_tar_write(const MfTarEntry *entries, size_t n, int64_t mtime, void *buf, size_t cap, size_t *len,
			 MfImageError *err)
{
	size_t		need = mf_tar_size(entries, n);
	struct archive *a;
	struct archive_entry *ae;
	size_t		used = 0;
	MfImageStatus st = MF_IMAGE_OK;

	*len = 0;
	if (need == 0)
		return mf_image_fail(err, MF_IMAGE_TOO_LARGE, "the archive does not fit in memory");
	if (cap < need || buf == NULL)
		return mf_image_fail(err, MF_IMAGE_NOMEM, "the buffer has %zu bytes; the archive needs %zu", cap, need);
	if (mtime < 0 || mtime > 077777777777LL)
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "mtime %lld is outside what ustar records", (long long) mtime);
	for (size_t i = 0; i < n; i++)
		if ((st = mf_tar_check_entry(&entries[i], err)) != MF_IMAGE_OK)
			return st;

	a = archive_write_new();
	ae = archive_entry_new();
	if (a == NULL || ae == NULL)
		st = mf_image_fail(err, MF_IMAGE_NOMEM, "libarchive is out of memory");
	else if (mf_tar_set_format(a) != ARCHIVE_OK || archive_write_open_memory(a, buf, cap, &used) != ARCHIVE_OK)
		st = mf_image_fail(err, MF_IMAGE_ARCHIVE, "cannot start the archive: %s", archive_error_string(a));
	for (size_t i = 0; st == MF_IMAGE_OK && i < n; i++)
		st = mf_tar_put(a, ae, &entries[i], mtime, err);
	if (st == MF_IMAGE_OK && archive_write_close(a) != ARCHIVE_OK)
		st = mf_image_fail(err, MF_IMAGE_ARCHIVE, "cannot finish the archive: %s", archive_error_string(a));
	if (ae != NULL)
		archive_entry_free(ae);
	if (a != NULL)
		archive_write_free(a);
	if (st == MF_IMAGE_OK && used != need)
		st = mf_image_fail(err, MF_IMAGE_ARCHIVE, "libarchive wrote %zu bytes, %zu expected", used, need);
	if (st == MF_IMAGE_OK)
		*len = used;
	return st;
}
