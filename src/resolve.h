/*
 * resolve.h - model references resolved against the catalog (resolve.c):
 * the one implementation behind mf._resolve() and prediction.
 */
#ifndef MF_RESOLVE_H
#define MF_RESOLVE_H

#include "postgres.h"

#include "access/skey.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

/* The version a reference names. */
typedef struct MfResolved
{
	int64		version_id;
	int64		model_id;
	char	   *model_name;
	char	   *version;
	char	   *status;			/* created, training, trained or failed */
} MfResolved;

extern void MfResolve(text *ref, MfResolved *out);

/* Direct reads of the catalog tables (no SQL, no ACL check: callers check). */
extern Relation MfCatalogOpen(const char *table);
extern Oid	MfCatalogRelid(const char *index);
extern AttrNumber MfCatalogAttnum(Relation rel, const char *column);
extern Snapshot MfCatalogSnapshot(void);
extern void MfCatalogKey(ScanKey key, Relation rel, const char *column, RegProcedure eq, Datum value);

#endif							/* MF_RESOLVE_H */
