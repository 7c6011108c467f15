/*
 * mf_core.h - shared declarations of the mf_core library (SQL functions).
 */
#ifndef MF_CORE_H
#define MF_CORE_H

#include "postgres.h"

/*
 * PostgreSQL's fmgrprotos.h declares the SQL function json_object(), which
 * collides with jansson's json_object().  Include the PostgreSQL side under
 * another name first; include this header before any other in src/.
 */
#define json_object mf_pg_json_object
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#undef json_object

#include <jansson.h>

#include "utils/jsonb.h"

#include "session_gucs.h"

/* json_bridge.c: jsonb <-> jansson */
extern json_t *MfJsonbToJansson(Jsonb *jb, const char *what);
extern Jsonb *MfJanssonToJsonb(const json_t *value);
extern text *MfJanssonToText(const json_t *value);

/* source.c: huge allocations (prefaulted), a number of any numeric type */
extern void *MfHugeAlloc(Size size);
extern void MfPrefault(void *ptr, Size size);
extern double MfDatumToDouble(Datum d, Oid typid);

/* blas_loader.c: load OpenBLAS now (false, with a WARNING, when it cannot be) */
extern bool MfBlasPreload(void);

/* config_sql.c: lowercase hex sha256, palloc'd */
extern char *MfSha256Hex(const char *data, size_t len);

/* mf_core.c */
extern void MfInstallJanssonAllocator(void);
extern MfSessionGucs *MfGucs;	/* session_gucs.c */
extern bool MfLauncherIs(pid_t pid);

#endif							/* MF_CORE_H */
