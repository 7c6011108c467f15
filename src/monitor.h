/*
 * monitor.h - the monitor worker's parts (src/monitor_*.c): the worker and
 * its cycle (monitor_worker.c), health checks over libcurl
 * (monitor_health.c), and the per-minute series it writes into
 * mf.serving_metrics (monitor_series.c).
 */
#ifndef MF_MONITOR_H
#define MF_MONITOR_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "counters.h"

#define MF_MON_CHECKS 5			/* ready, model_loaded, canary, response_time, memory_usage */

/* A deployment due for a round of checks (mf._monitor_targets()). */
typedef struct MfMonTarget
{
	int64		deployment_id;
	char	   *name;			/* served name */
	char	   *base_url;		/* http://host:port[/prefix] */
	bool		remote;			/* an endpoint of its own: /metrics scraped into mf.serving_metrics */
	double		timeout_s;
	double		response_time_ms;
	double		memory_mb;		/* 0: no threshold */
	char	   *canary;			/* JSON object of raw features, or NULL */
	const char *probe;			/* the probe token sent with the canary (local only), or NULL */
} MfMonTarget;

/* One check's result (a row of mf.health_checks). */
typedef struct MfMonCheck
{
	const char *check;
	bool		ok;
	double		latency_ms;		/* NaN: none */
	int			http_status;	/* 0: no answer */
	char	   *error;			/* NULL when ok */
} MfMonCheck;

/* monitor_health.c */
extern void MfMonHealthInit(void);
extern int	MfMonRunChecks(const MfMonTarget *t, MfMonCheck *out, char **metrics, size_t *metrics_len);

/* monitor_series.c */
extern void MfMonSeriesInit(void);
extern void MfMonSeriesAddTake(const MfCounterTake *t, TimestampTz now);
extern void MfMonSeriesAddScrape(int64 deployment_id, const char *text, size_t len, TimestampTz now);
extern int	MfMonSeriesWrite(void);
extern void MfMonSeriesWritten(void);

#endif							/* MF_MONITOR_H */
