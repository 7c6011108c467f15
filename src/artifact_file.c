/*
 * artifact_file.c - artifact files: a copy of a stored artifact in the
 * server's temporary-file directory, which a new backend reads instead of
 * the artifact's TOAST chunks (model_cache.c).
 *
 * Design note
 * -----------
 * A backend touching a shared-buffer page for the first time takes a page
 * fault, and on the 2-vCPU VMs of bench/RESULTS.md that costs ~10 us a
 * page: a 1 MB artifact's 542 TOAST chunks (136 heap pages and their
 * index) cost a new connection ~3 ms, plus ~1 ms to zero the huge page it
 * was copied into.  A file of the same bytes is copied from the page cache
 * into that huge page by one pread(): the kernel's copy touches none of
 * the backend's 4 kB pages.  (Mapping the file instead costs the same
 * first touch per 4 kB page as shared buffers: measured, no gain.)
 *
 * - Name: base/pgsql_tmp/pgsql_tmp_mf_<database oid>_<sha256>.mfa.
 *   PostgreSQL removes every base/pgsql_tmp/pgsql_tmp* file at server
 *   start, so files of dropped versions or databases live until the next
 *   restart; pg_ls_tmpdir() lists them, base backups skip them, and only
 *   the cluster's owner can read them (0600, inside the data directory).
 * - Content-addressed, per database: a file is written only when the bytes
 *   a backend read from mf.artifacts hash to the sha256 of its name (an
 *   artifacts row whose sha256 disagrees with its bytes never gets one),
 *   under a temporary name renamed into place, so a reader sees a whole
 *   file or none; the database oid keeps a row of another database that
 *   claims the same sha256 from reading this database's weights.
 * - Read only after MfPredResolve: the caller holds mf_reader, and the
 *   sha256 and size come from the artifacts row its snapshot sees, so the
 *   bytes are those the TOAST read would return.  The artifact format's
 *   own checks (magic, lengths, crc32) run on them as on a stored artifact.
 * - A cache only: when anything fails on the file side (no space, no
 *   directory, another size), prediction reads the TOAST chunks as before.
 *   Files are replaced only by rename, never rewritten in place.
 */
#include "postgres.h"

#include "mf_core.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "miscadmin.h"
#include "storage/fd.h"

#include "predict.h"

#define MF_ARTIFACT_DIR "base/" PG_TEMP_FILES_DIR

/* The file name of an artifact of this database. */
static void
MfArtifactFilePath(char *path, Size size, const char *sha256)
{
	snprintf(path, size, "%s/%s_mf_%u_%s.mfa", MF_ARTIFACT_DIR, PG_TEMP_FILE_PREFIX,
			 MyDatabaseId, sha256);
}

/* An open descriptor of the artifact file of sha256 when it has len bytes, else -1. */
int
MfArtifactFileOpen(const char *sha256, Size len)
{
	char		path[MAXPGPATH];
	struct stat st;
	int			fd;

	MfArtifactFilePath(path, sizeof(path), sha256);
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd >= 0 && (fstat(fd, &st) != 0 || (Size) st.st_size != len))
	{
		CloseTransientFile(fd);
		fd = -1;
	}
	return fd;
}

/* Read len bytes of an artifact file into buf and close it; false on a short read. */
bool
MfArtifactFileRead(int fd, char *buf, Size len)
{
	Size		done = 0;

	while (done < len)
	{
		ssize_t		n = pg_pread(fd, buf + done, Min(len - done, (Size) 1 << 30), done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += n;
	}
	CloseTransientFile(fd);
	return done == len;
}

/* Remove the artifact file of sha256 (a damaged one). */
void
MfArtifactFileDrop(const char *sha256)
{
	char		path[MAXPGPATH];

	MfArtifactFilePath(path, sizeof(path), sha256);
	if (unlink(path) != 0 && errno != ENOENT)
		elog(LOG, "mf artifact file: could not remove \"%s\": %m", path);
}

/* Write all of buf to fd; false on any error. */
static bool
MfWriteAll(int fd, const char *buf, Size len)
{
	while (len > 0)
	{
		ssize_t		n = write(fd, buf, Min(len, (Size) 1 << 30));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= n;
	}
	return true;
}

/*
 * Leave the artifact bytes read from mf.artifacts in its file when they
 * hash to sha256 (nothing otherwise; failures are logged at DEBUG1).
 */
void
MfArtifactFileWrite(const char *sha256, const char *bytes, Size len)
{
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	char	   *actual = MfSha256Hex(bytes, len);
	int			fd;
	bool		ok;

	if (strcmp(actual, sha256) != 0)
	{
		elog(DEBUG1, "mf artifact file: stored sha256 %s, bytes hash to %s: no file", sha256, actual);
		return;
	}
	MfArtifactFilePath(path, sizeof(path), sha256);
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, MyProcPid);
	if (MakePGDirectory(MF_ARTIFACT_DIR) < 0 && errno != EEXIST)
	{
		elog(DEBUG1, "mf artifact file: could not create directory \"%s\": %m", MF_ARTIFACT_DIR);
		return;
	}
	fd = OpenTransientFilePerm(tmp, O_CREAT | O_TRUNC | O_WRONLY | PG_BINARY, pg_file_create_mode);
	if (fd < 0)
	{
		elog(DEBUG1, "mf artifact file: could not create \"%s\": %m", tmp);
		return;
	}
	ok = MfWriteAll(fd, bytes, len);
	if (CloseTransientFile(fd) != 0)
		ok = false;
	if (!ok || rename(tmp, path) != 0)
	{
		elog(DEBUG1, "mf artifact file: could not write \"%s\": %m", path);
		unlink(tmp);
	}
}
