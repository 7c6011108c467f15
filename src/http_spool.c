/*
 * http_spool.c - spool files of the prediction log.
 *
 * Design note
 * -----------
 * A serving process never waits for the database: after answering a
 * request whose served name logs predictions, it appends that request's
 * lines (serve/predlog.c) to a file of its own, <dir>/<pid>-<n>.open, with
 * one write() (O_APPEND; the page cache, not the disk, is waited for).
 * When that file is older than MF_HTTP_SPOOL_ROTATE_SECONDS or bigger than
 * MF_HTTP_SPOOL_ROTATE_BYTES - checked at each write and once a second by
 * the process's loop - and at exit, it is renamed <pid>-<n>.ready and the
 * next one is started.  The HTTP worker reads .ready files, and the .open
 * files of processes that died (kill -9, a crash: their last line may be
 * cut, and is dropped), inserts their rows in one transaction and deletes
 * each file after the commit: a row is stored at least once, twice only if
 * the worker dies between the commit and the unlink.
 *
 * Pure C: runs in the serving processes.
 */
#include "http_spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MF_SPOOL_PATH 1024

struct MfHttpSpool
{
	char		dir[MF_SPOOL_PATH];
	pid_t		pid;
	unsigned long seq;			/* number of the current file */
	int			fd;				/* -1: none open */
	size_t		bytes;			/* written into it */
	double		opened;			/* monotonic seconds */
};

/* Monotonic seconds. */
static double
mf_spool_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The path of file seq with suffix. */
static void
mf_spool_path(const MfHttpSpool *s, unsigned long seq, const char *suffix, char *out)
{
	snprintf(out, MF_SPOOL_PATH, "%s/%ld-%lu.%s", s->dir, (long) s->pid, seq, suffix);
}

/* A writer. */
MfHttpSpool *
mf_http_spool_new(const char *dir, pid_t pid)
{
	MfHttpSpool *s = calloc(1, sizeof(MfHttpSpool));

	if (s == NULL || strlen(dir) >= sizeof(s->dir) - 64)
	{
		free(s);
		return NULL;
	}
	strcpy(s->dir, dir);
	s->pid = pid;
	s->fd = -1;
	return s;
}

/* Append whole lines, opening the next file when none is open. */
bool
mf_http_spool_write(MfHttpSpool *s, const char *lines, size_t len)
{
	char		path[MF_SPOOL_PATH];
	ssize_t		n;

	if (s->fd < 0)
	{
		s->seq++;
		mf_spool_path(s, s->seq, "open", path);
		s->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (s->fd < 0)
			return false;
		s->bytes = 0;
		s->opened = mf_spool_now();
	}
	n = write(s->fd, lines, len);
	if (n > 0)
		s->bytes += (size_t) n;
	mf_http_spool_rotate(s, false);
	return n == (ssize_t) len;
}

/* Rename the current file to .ready when due (or forced). */
void
mf_http_spool_rotate(MfHttpSpool *s, bool force)
{
	char		from[MF_SPOOL_PATH],
				to[MF_SPOOL_PATH];

	if (s == NULL || s->fd < 0)
		return;
	if (!force && s->bytes < MF_HTTP_SPOOL_ROTATE_BYTES &&
		mf_spool_now() - s->opened < MF_HTTP_SPOOL_ROTATE_SECONDS)
		return;
	close(s->fd);
	s->fd = -1;
	mf_spool_path(s, s->seq, "open", from);
	mf_spool_path(s, s->seq, "ready", to);
	(void) rename(from, to);
}

/* Close and free. */
void
mf_http_spool_free(MfHttpSpool *s)
{
	if (s == NULL)
		return;
	mf_http_spool_rotate(s, true);
	free(s);
}

/* <pid>-<n>.ready, or <pid>-<n>.open of a dead writer. */
bool
mf_http_spool_ready(const char *name, bool (*alive) (pid_t pid))
{
	char	   *end;
	long		pid = strtol(name, &end, 10);

	if (end == name || pid <= 0 || *end != '-')
		return false;
	(void) strtoul(end + 1, &end, 10);	/* the file's number */
	if (strcmp(end, ".ready") == 0)
		return true;
	return strcmp(end, ".open") == 0 && !alive((pid_t) pid);
}

/* The whole lines of a file. */
char *
mf_http_spool_read(const char *path, size_t *len)
{
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char	   *buf;
	size_t		got = 0;

	*len = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || (buf = malloc((size_t) st.st_size + 1)) == NULL)
	{
		close(fd);
		return NULL;
	}
	while (got < (size_t) st.st_size)
	{
		ssize_t		n = read(fd, buf + got, (size_t) st.st_size - got);

		if (n <= 0)
			break;
		got += (size_t) n;
	}
	close(fd);
	while (got > 0 && buf[got - 1] != '\n')
		got--;					/* a line cut by a crash */
	buf[got] = '\0';
	*len = got;
	return buf;
}
