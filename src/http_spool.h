/*
 * http_spool.h - the prediction log's spool files between the serving
 * processes of the in-database HTTP server (writers) and its HTTP worker
 * (reader, src/http_predlog.c), see http_spool.c.
 *
 * Pure C: no PostgreSQL header (the serving processes write).
 */
#ifndef MF_HTTP_SPOOL_H
#define MF_HTTP_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define MF_HTTP_SPOOL_DIR "mf_prediction_log"	/* under the data directory */
#define MF_HTTP_SPOOL_ROTATE_SECONDS 1.0
#define MF_HTTP_SPOOL_ROTATE_BYTES (1024 * 1024)

typedef struct MfHttpSpool MfHttpSpool;

/* A writer for process pid in directory dir (NULL when out of memory). */
extern MfHttpSpool *mf_http_spool_new(const char *dir, pid_t pid);

/* Append whole lines (one write); false with errno when they could not be written. */
extern bool mf_http_spool_write(MfHttpSpool *s, const char *lines, size_t len);

/* Hand the current file to the reader when it is old or big enough (or force). */
extern void mf_http_spool_rotate(MfHttpSpool *s, bool force);

/* Close and free the writer (its file handed over). */
extern void mf_http_spool_free(MfHttpSpool *s);

/*
 * Reader: true when file name (no directory) is one to read: a handed-over
 * file, or an open one whose writer process is gone (alive(pid) false).
 */
extern bool mf_http_spool_ready(const char *name, bool (*alive) (pid_t pid));

/*
 * Reader: the whole lines of a file (malloc'd, *len bytes, up to the last
 * newline: a line a crashed writer left half-written is dropped); NULL with
 * errno on a read error.
 */
extern char *mf_http_spool_read(const char *path, size_t *len);

#endif							/* MF_HTTP_SPOOL_H */
