/*
 * http_snapshot.h - what the HTTP worker hands its serving processes: every
 * served name with its policy and versions, artifacts included, as one
 * flat blob (see http_snapshot.c).
 *
 * Pure C (jansson, serve/serve.h); no PostgreSQL header: the serving
 * processes that decode it never call PostgreSQL.
 */
#ifndef MF_HTTP_SNAPSHOT_H
#define MF_HTTP_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serve.h"

typedef struct MfHttpSnap MfHttpSnap;

/* A new, empty snapshot description (NULL when out of memory). */
extern MfHttpSnap *mf_http_snap_new(void);

/* Free a description (the artifacts it points to stay the caller's). */
extern void mf_http_snap_free(MfHttpSnap *s);

/* Add a served name with its policy (split numbers must be versions added below). */
extern bool mf_http_snap_add_name(MfHttpSnap *s, const char *name, const MfServePolicy *p);

/*
 * Add a version to the name added last; sha256 is the artifact's hex
 * digest.  The artifact bytes are not copied: they must stay valid until
 * mf_http_snap_write().
 */
extern bool mf_http_snap_add_version(MfHttpSnap *s, const MfServeVersionSpec *v, const char *sha256);

/* Served names and versions described. */
extern int	mf_http_snap_names(const MfHttpSnap *s);
extern int	mf_http_snap_versions(const MfHttpSnap *s);

/* Write the blob to fd (a memfd); false with errno set. */
extern bool mf_http_snap_write(const MfHttpSnap *s, int fd);

/*
 * Build a serving catalog from a blob of len bytes (checked: a corrupt blob
 * is refused, never trusted); NULL with a lowercase message in err.
 */
extern MfServeCatalog *mf_http_snap_load(const void *blob, size_t len, char *err, size_t errlen);

#endif							/* MF_HTTP_SNAPSHOT_H */
