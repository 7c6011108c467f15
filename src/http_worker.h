/*
 * http_worker.h - what the HTTP worker serves, read from the catalog
 * (http_catalog.c), and handed to its serving processes (http_worker.c).
 */
#ifndef MF_HTTP_WORKER_H
#define MF_HTTP_WORKER_H

#include "postgres.h"

#include "nodes/pg_list.h"

#include "http_snapshot.h"

/* One served version. */
typedef struct MfHttpVersion
{
	int64		version_id;		/* its TF-Serving number */
	char	   *semver;
	char		sha256[65];
	int			n_labels;
	char	   *labels[MF_SERVE_MAX_LABELS];	/* stage (unless development), aliases */
	char	   *trained_at;		/* ISO 8601 (UTC), or NULL */
	bytea	   *bytes;			/* the artifact, once loaded */
} MfHttpVersion;

/* One served name: a live http deployment, resolved now. */
typedef struct MfHttpServed
{
	int64		deployment_id;
	char	   *name;
	char	   *bearer_hash;	/* NULL: no authentication */
	int			requests_per_minute;
	int			max_batch;
	char	   *log_id_field;	/* options.log_predictions.id_field; NULL: not logged */
	int64		default_number; /* the version its ref resolves to */
	int			n_split;
	MfServeSplit split[MF_SERVE_MAX_SPLIT];
	List	   *versions;		/* MfHttpVersion * */
} MfHttpServed;

/* http_catalog.c */
extern List *MfHttpReadServed(List **problems);
extern char *MfHttpFingerprint(List *served, List *problems);
extern void MfHttpLoadArtifacts(List *served, List *previous);
extern MfHttpSnap *MfHttpBuildSnap(List *served);

/* http_predlog.c: the prediction log's spool (serving processes -> mf.prediction_log) */
extern const char *MfHttpSpoolDir(void);
extern void MfHttpSpoolInit(void);
extern void MfHttpFlushPredictions(void);

#endif							/* MF_HTTP_WORKER_H */
