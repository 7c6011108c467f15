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
 * - Name: base/pgsql_tmp/pgsql_tmp_mf_<database oid>_<version_id>_<sha256>.mfa.
 *   Writing a version's file removes its other files (a retrained
 *   version's old artifact).  The monitor worker removes, once a minute,
 *   the files of mf.database's versions that no longer have an artifact
 *   row (MfArtifactFileSweep: dropped versions), and every file of a
 *   dropped database.  PostgreSQL removes every base/pgsql_tmp/pgsql_tmp*
 *   file at server start, so files of dropped versions of other databases
 *   live until the next restart; pg_ls_tmpdir() lists them, base backups
 *   skip them, and only the cluster's owner can read them (0600, inside
 *   the data directory).
 * - Checked content: a file is written only when the bytes a backend read
 *   from mf.artifacts hash to the sha256 of its name (mf.artifacts.sha256
 *   is generated from the bytes; this checks the read path that copied
 *   them), under a temporary name renamed into place, so a reader sees a
 *   whole file or none; the database oid keeps a row of another database that claims the
 *   same version_id and sha256 from reading this database's weights.
 * - Read only after MfPredResolve: the caller holds mf_reader, and the
 *   sha256 and size come from the artifacts row its snapshot sees, so the
 *   bytes are those the TOAST read would return.  The artifact format's
 *   own checks (magic, lengths, crc32) run on them as on a stored artifact.
 * - Artifacts over MF_ARTIFACT_FILE_MAX (64 MB) get no file.
 * - A cache only: when anything fails on the file side (no space, no
 *   directory, another size), prediction reads the TOAST chunks as before.
 *   Files are replaced only by rename, never rewritten in place.
 */
#include "postgres.h"

#include "mf_core.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_type.h"
#include "common/file_perm.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/array.h"
#include "utils/syscache.h"

#include "predict.h"

#define MF_ARTIFACT_DIR "base/" PG_TEMP_FILES_DIR

/*
 * Only artifacts up to this size get a file: a large model's load is
 * dominated by its unpacking, and a second on-disk copy of hundreds of
 * megabytes is not worth the page faults it saves.
 */
#define MF_ARTIFACT_FILE_MAX ((Size) 64 * 1024 * 1024)

/* The file name (without directory) of a version's artifact in this database; sha256 NULL: the prefix of them all. */
static void
MfArtifactFileName(char *name, Size size, int64 version_id, const char *sha256)
{
	snprintf(name, size, "%s_mf_%u_" INT64_FORMAT "_%s", PG_TEMP_FILE_PREFIX, MyDatabaseId, version_id,
			 sha256 ? sha256 : "");
	if (sha256 != NULL)
		strlcat(name, ".mfa", size);
}

/* The path of a version's artifact file in this database. */
static void
MfArtifactFilePath(char *path, Size size, int64 version_id, const char *sha256)
{
	char		name[MAXPGPATH];

	MfArtifactFileName(name, sizeof(name), version_id, sha256);
	snprintf(path, size, "%s/%s", MF_ARTIFACT_DIR, name);
}

/* An open descriptor of a version's artifact file when it has len bytes, else -1. */
int
MfArtifactFileOpen(int64 version_id, const char *sha256, Size len)
{
	char		path[MAXPGPATH];
	struct stat st;
	int			fd;

	if (len > MF_ARTIFACT_FILE_MAX)
		return -1;
	MfArtifactFilePath(path, sizeof(path), version_id, sha256);
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

/* Remove a version's artifact file (a damaged one). */
void
MfArtifactFileDrop(int64 version_id, const char *sha256)
{
	char		path[MAXPGPATH];

	MfArtifactFilePath(path, sizeof(path), version_id, sha256);
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

/* Remove a version's artifact files other than keep (older artifacts). */
static void
MfArtifactFilePrune(int64 version_id, const char *keep)
{
	char		prefix[MAXPGPATH];
	char		path[MAXPGPATH];
	DIR		   *dir = AllocateDir(MF_ARTIFACT_DIR);
	struct dirent *de;

	MfArtifactFileName(prefix, sizeof(prefix), version_id, NULL);
	while ((de = ReadDirExtended(dir, MF_ARTIFACT_DIR, DEBUG1)) != NULL)
	{
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 || strcmp(de->d_name, keep) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", MF_ARTIFACT_DIR, de->d_name);
		if (unlink(path) != 0 && errno != ENOENT)
			elog(DEBUG1, "mf artifact file: could not remove \"%s\": %m", path);
	}
	FreeDir(dir);
}

/*
 * Leave the artifact bytes of a version read from mf.artifacts in its file
 * when they hash to sha256, and remove its older files (nothing otherwise;
 * failures are logged at DEBUG1).
 */
void
MfArtifactFileWrite(int64 version_id, const char *sha256, const char *bytes, Size len)
{
	char		name[MAXPGPATH];
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	char	   *actual;
	int			fd;
	bool		ok;

	if (len > MF_ARTIFACT_FILE_MAX)
		return;
	MfArtifactFileName(name, sizeof(name), version_id, sha256);
	MfArtifactFilePath(path, sizeof(path), version_id, sha256);
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
	/* hashed only once the file could be created: a read-only directory costs nothing */
	actual = MfSha256Hex(bytes, len);
	ok = strcmp(actual, sha256) == 0;
	if (!ok)
		elog(DEBUG1, "mf artifact file: stored sha256 %s, bytes hash to %s: no file", sha256, actual);
	else if (!MfWriteAll(fd, bytes, len))
		ok = false;
	if (CloseTransientFile(fd) != 0)
		ok = false;
	if (!ok || rename(tmp, path) != 0)
	{
		if (ok)
			elog(DEBUG1, "mf artifact file: could not write \"%s\": %m", path);
		unlink(tmp);
		return;
	}
	MfArtifactFilePrune(version_id, name);
}

/*
 * The database oid and version_id an artifact file's name holds
 * (pgsql_tmp_mf_<oid>_<version_id>_<sha256>.mfa); false for any other name,
 * a file being written (.tmp) among them.
 */
static bool
MfArtifactFileParse(const char *name, Oid *db, int64 *version_id)
{
	char		prefix[64];
	size_t		n = strlen(name);
	const char *p;
	char	   *end;
	unsigned long d;
	long long	v;

	snprintf(prefix, sizeof(prefix), "%s_mf_", PG_TEMP_FILE_PREFIX);
	if (strncmp(name, prefix, strlen(prefix)) != 0 || n < 4 || strcmp(name + n - 4, ".mfa") != 0)
		return false;
	p = name + strlen(prefix);
	errno = 0;
	d = strtoul(p, &end, 10);
	if (errno != 0 || end == p || *p == '-' || *end != '_' || d > PG_UINT32_MAX)
		return false;
	p = end + 1;
	v = strtoll(p, &end, 10);
	if (errno != 0 || end == p || *end != '_' || v < 0)
		return false;
	*db = (Oid) d;
	*version_id = (int64) v;
	return true;
}

/*
 * Remove the artifact files of dropped databases (their oid no longer in
 * pg_database), and this database's files of versions that have no row in
 * mf.artifacts any more (dropped versions); the caller holds a transaction
 * with a snapshot and SPI (the monitor worker).  A file removed while a
 * backend still reads it is only a cache miss: the next load reads the
 * TOAST chunks and writes it again.  Returns how many files went.
 */
int
MfArtifactFileSweep(void)
{
	char		path[MAXPGPATH];
	DIR		   *dir = AllocateDir(MF_ARTIFACT_DIR);
	struct dirent *de;
	List	   *mine = NIL;		/* names of this database's files */
	ListCell   *lc;
	Datum	   *ids;
	int			n = 0,
				removed = 0;
	Oid			db,
				type = INT8ARRAYOID;
	int64		v;
	Datum		arg;

	while ((de = ReadDirExtended(dir, MF_ARTIFACT_DIR, DEBUG1)) != NULL)
	{
		if (!MfArtifactFileParse(de->d_name, &db, &v))
			continue;
		snprintf(path, sizeof(path), "%s/%s", MF_ARTIFACT_DIR, de->d_name);
		if (!SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(db)))
			removed += unlink(path) == 0;
		else if (db == MyDatabaseId)
			mine = lappend(mine, pstrdup(de->d_name));
	}
	FreeDir(dir);
	if (mine == NIL)
		return removed;
	ids = palloc(sizeof(Datum) * list_length(mine));
	foreach(lc, mine)
	{
		(void) MfArtifactFileParse(lfirst(lc), &db, &v);
		ids[n++] = Int64GetDatum(v);
	}
	arg = PointerGetDatum(construct_array(ids, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_with_args("SELECT version_id FROM mf.artifacts WHERE version_id = ANY ($1)",
							  1, &type, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the versions of the artifact files");
	n = 0;
	foreach(lc, mine)
	{
		bool		kept = false;

		for (uint64 r = 0; r < SPI_processed && !kept; r++)
		{
			bool		isnull;

			kept = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull)) ==
				DatumGetInt64(ids[n]);
		}
		n++;
		snprintf(path, sizeof(path), "%s/%s", MF_ARTIFACT_DIR, (char *) lfirst(lc));
		if (!kept)
			removed += unlink(path) == 0;
	}
	return removed;
}
