/*
 * monitor_series.c - the monitor worker's per-minute series: what it drains
 * from shared memory and scrapes from remote servers, until it is written
 * into mf.serving_metrics.
 *
 * Design note
 * -----------
 * A series is (deployment, kind, name, version, minute).  The in-database
 * server's counts arrive drained from shared memory (names are served
 * names; SQL finds their deployment), mf_predict* counts likewise
 * (deployment NULL), a remote server's as the difference between two
 * scrapes of its /metrics (cumulative counters; a counter that went down
 * means the server restarted, and its value is the difference).  The first
 * scrape of a server only sets the baseline.  Each series keeps the
 * latency histogram of its whole minute (for the percentiles) and the
 * counts not yet written ("pending").  A write adds every pending count to
 * its minute's row in one transaction; only once that transaction has
 * committed are the pending counts cleared (MfMonSeriesWritten), so a
 * failed write loses nothing: it is retried in the next cycle.  Series of
 * past minutes go once written.  What the worker holds is lost if the
 * worker itself dies (at most one cycle, a second, of counts).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "monitor.h"
#include "prom_text.h"

/* Key of a series. */
typedef struct MfMonKey
{
	int64		deployment_id;	/* 0: found by served name, or none (predict) */
	int			kind;			/* MF_COUNTERS_SERVED or MF_COUNTERS_PREDICT */
	char		name[MF_COUNTERS_MODEL_LEN];
	char		version[MF_COUNTERS_VERSION_LEN];
	TimestampTz minute;
} MfMonKey;

/* A series of one minute. */
typedef struct MfMonSeries
{
	MfMonKey	key;
	uint64		hist[MF_COUNTERS_NB + 1];	/* the whole minute */
	uint64		requests;		/* pending from here on */
	uint64		errors;
	uint64		bytes_in;
	uint64		bytes_out;
	uint64		rows;
} MfMonSeries;

/* Key of a remote server's series. */
typedef struct MfMonRemoteKey
{
	int64		deployment_id;
	char		name[MF_COUNTERS_MODEL_LEN];
	char		version[MF_COUNTERS_VERSION_LEN];
} MfMonRemoteKey;

/* A remote series' cumulative values at the last scrape. */
typedef struct MfMonRemote
{
	MfMonRemoteKey key;
	double		requests;
	double		errors;
	double		bytes_in;
	double		bytes_out;
	double		cum[MF_COUNTERS_NB + 1];	/* cumulative buckets; the last is +Inf */
	bool		seen;			/* in the scrape being read */
} MfMonRemote;

static HTAB *MfMonSeriesTab = NULL;
static HTAB *MfMonRemoteTab = NULL;
static List *MfMonBaselined = NIL;	/* deployments scraped once (int64 in a list of ints) */

/* Create the tables (in TopMemoryContext). */
void
MfMonSeriesInit(void)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(MfMonKey);
	ctl.entrysize = sizeof(MfMonSeries);
	MfMonSeriesTab = hash_create("mf_ext monitor series", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(MfMonRemoteKey);
	ctl.entrysize = sizeof(MfMonRemote);
	MfMonRemoteTab = hash_create("mf_ext monitor remote series", 64, &ctl, HASH_ELEM | HASH_BLOBS);
}

/* The minute of a time. */
static TimestampTz
MfMonMinute(TimestampTz t)
{
	TimestampTz m = t - (t % USECS_PER_MINUTE);

	return t < 0 && m != t ? m - USECS_PER_MINUTE : m;
}

/* The series of a key in the current minute (created empty). */
static MfMonSeries *
MfMonSeriesFor(int64 deployment_id, int kind, const char *name, const char *version, TimestampTz now)
{
	MfMonKey	key;
	bool		found;
	MfMonSeries *s;

	memset(&key, 0, sizeof(key));
	key.deployment_id = deployment_id;
	key.kind = kind;
	strlcpy(key.name, name, sizeof(key.name));
	strlcpy(key.version, version, sizeof(key.version));
	key.minute = MfMonMinute(now);
	s = hash_search(MfMonSeriesTab, &key, HASH_ENTER, &found);
	if (!found)
	{
		memset(((char *) s) + sizeof(MfMonKey), 0, sizeof(MfMonSeries) - sizeof(MfMonKey));
	}
	return s;
}

/* Add what a drain of shared memory took. */
void
MfMonSeriesAddTake(const MfCounterTake *t, TimestampTz now)
{
	MfMonSeries *s = MfMonSeriesFor(0, t->kind, t->model, t->version, now);

	for (int b = 0; b <= MF_COUNTERS_NB; b++)
		s->hist[b] += t->buckets[b];
	s->requests += t->requests;
	s->errors += t->errors;
	s->bytes_in += t->bytes_in;
	s->bytes_out += t->bytes_out;
	s->rows += t->rows;
}

/* The bucket of a histogram's le label; -1 when it is none of ours. */
static int
MfMonBucketOf(const char *le)
{
	double		v;
	char	   *end;

	if (strcmp(le, "+Inf") == 0)
		return MF_COUNTERS_NB;
	v = strtod(le, &end);
	if (end == le || *end != '\0')
		return -1;
	for (int b = 0; b < MF_COUNTERS_NB; b++)
		if (fabs(v - mf_counters_bounds[b]) <= 1e-9 * mf_counters_bounds[b])
			return b;
	return -1;
}

/* Sample callback of a scrape: current cumulative values per (model, version). */
static void
MfMonScrapeSample(void *arg, const char *name, const char *labels, double value)
{
	HTAB	   *cur = (HTAB *) arg;
	MfMonRemoteKey key;
	MfMonRemote *r;
	char		le[32];
	bool		found;
	int			b = -1;

	if (strncmp(name, "mf_serve_", 9) != 0 || !isfinite(value) || value < 0)
		return;
	memset(&key, 0, sizeof(key));
	if (!mf_prom_label(labels, "model", key.name, sizeof(key.name)) || key.name[0] == '\0' ||
		!mf_prom_label(labels, "version", key.version, sizeof(key.version)))
		return;
	if (strcmp(name, "mf_serve_request_duration_seconds_bucket") == 0 &&
		(!mf_prom_label(labels, "le", le, sizeof(le)) || (b = MfMonBucketOf(le)) < 0))
		return;
	r = hash_search(cur, &key, HASH_ENTER, &found);
	if (!found)
		memset(((char *) r) + sizeof(key), 0, sizeof(MfMonRemote) - sizeof(key));
	if (strcmp(name, "mf_serve_requests_total") == 0)
		r->requests += value;
	else if (strcmp(name, "mf_serve_errors_total") == 0)
		r->errors += value;
	else if (strcmp(name, "mf_serve_request_bytes_total") == 0)
		r->bytes_in += value;
	else if (strcmp(name, "mf_serve_response_bytes_total") == 0)
		r->bytes_out += value;
	else if (b >= 0)
		r->cum[b] = value;
}

/* The increase of a cumulative counter (a decrease: the server restarted). */
static uint64
MfMonDelta(double now, double before)
{
	return (uint64) (now >= before ? now - before : now);
}

/* Add the difference of one remote series to the current minute. */
static void
MfMonRemoteDelta(int64 deployment_id, MfMonRemote *cur, MfMonRemote *prev, bool baseline, TimestampTz now)
{
	MfMonSeries *s;
	uint64		requests = MfMonDelta(cur->requests, prev->requests);

	if (!baseline && requests > 0)
	{
		s = MfMonSeriesFor(deployment_id, MF_COUNTERS_SERVED, cur->key.name, cur->key.version, now);
		s->requests += requests;
		s->errors += MfMonDelta(cur->errors, prev->errors);
		s->bytes_in += MfMonDelta(cur->bytes_in, prev->bytes_in);
		s->bytes_out += MfMonDelta(cur->bytes_out, prev->bytes_out);
		for (int b = 0; b <= MF_COUNTERS_NB; b++)
		{
			double		c = cur->cum[b] - (b > 0 ? cur->cum[b - 1] : 0);
			double		p = prev->cum[b] - (b > 0 ? prev->cum[b - 1] : 0);

			s->hist[b] += MfMonDelta(Max(c, 0), cur->requests >= prev->requests ? Max(p, 0) : 0);
		}
	}
	memcpy(((char *) prev) + sizeof(prev->key), ((char *) cur) + sizeof(cur->key),
		   sizeof(MfMonRemote) - sizeof(cur->key));
}

/* Add what a remote server counted since its last scrape. */
void
MfMonSeriesAddScrape(int64 deployment_id, const char *text, size_t len, TimestampTz now)
{
	HASHCTL		ctl;
	HTAB	   *cur;
	HASH_SEQ_STATUS seq;
	MfMonRemote *r;
	int			bad = 0;
	bool		baseline = !list_member_int(MfMonBaselined, (int) deployment_id);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(MfMonRemoteKey);
	ctl.entrysize = sizeof(MfMonRemote);
	ctl.hcxt = CurrentMemoryContext;
	cur = hash_create("mf_ext monitor scrape", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (mf_prom_parse(text, len, MfMonScrapeSample, cur, &bad) < 0)
	{
		ereport(LOG,
				(errmsg("mf_ext monitor: the /metrics of deployment " INT64_FORMAT " is not Prometheus text (line %d)",
						deployment_id, bad)));
		return;
	}
	hash_seq_init(&seq, cur);
	while ((r = hash_seq_search(&seq)) != NULL)
	{
		MfMonRemote *prev;
		bool		found;

		r->key.deployment_id = deployment_id;
		prev = hash_search(MfMonRemoteTab, &r->key, HASH_ENTER, &found);
		if (!found)
			memset(((char *) prev) + sizeof(prev->key), 0, sizeof(MfMonRemote) - sizeof(prev->key));
		MfMonRemoteDelta(deployment_id, r, prev, baseline, now);
	}
	if (baseline)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		MfMonBaselined = lappend_int(MfMonBaselined, (int) deployment_id);
		MemoryContextSwitchTo(old);
	}
}

/* A quantile argument: NULL when the histogram is empty. */
static Datum
MfMonQuantile(const MfMonSeries *s, double q, char *null)
{
	uint64		total = 0;

	for (int b = 0; b <= MF_COUNTERS_NB; b++)
		total += s->hist[b];
	*null = total == 0 ? 'n' : ' ';
	return Float8GetDatum(mf_counters_quantile_ms(s->hist, q));
}

/* Write every pending count (inside the caller's transaction, SPI connected); the series written. */
int
MfMonSeriesWrite(void)
{
	Oid			types[13] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID, INT8OID,
	FLOAT8OID, FLOAT8OID, FLOAT8OID, INT8OID, INT8OID, INT8OID};
	HASH_SEQ_STATUS seq;
	MfMonSeries *s;
	int			n = 0;

	hash_seq_init(&seq, MfMonSeriesTab);
	while ((s = hash_seq_search(&seq)) != NULL)
	{
		Datum		v[13];
		char		nulls[14] = "             ";
		bool		served = s->key.kind == MF_COUNTERS_SERVED;

		if (s->requests == 0)
			continue;
		v[0] = Int64GetDatum(s->key.deployment_id);
		nulls[0] = s->key.deployment_id == 0 ? 'n' : ' ';
		v[1] = CStringGetTextDatum(s->key.name);
		nulls[1] = served && s->key.deployment_id == 0 ? ' ' : 'n';
		v[2] = CStringGetTextDatum(s->key.name);
		nulls[2] = served ? 'n' : ' ';
		v[3] = CStringGetTextDatum(s->key.version);
		v[4] = TimestampTzGetDatum(s->key.minute);
		v[5] = Int64GetDatum((int64) s->requests);
		v[6] = Int64GetDatum((int64) s->errors);
		v[7] = MfMonQuantile(s, 0.50, &nulls[7]);
		v[8] = MfMonQuantile(s, 0.95, &nulls[8]);
		v[9] = MfMonQuantile(s, 0.99, &nulls[9]);
		v[10] = Int64GetDatum((int64) s->bytes_in);
		v[11] = Int64GetDatum((int64) s->bytes_out);
		nulls[10] = nulls[11] = served ? ' ' : 'n';
		v[12] = Int64GetDatum((int64) s->rows);
		nulls[12] = served ? 'n' : ' ';
		if (SPI_execute_with_args("SELECT mf._record_serving_metrics($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
								  13, types, v, nulls, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "mf._record_serving_metrics failed");
		n++;
	}
	return n;
}

/* The write committed: clear the pending counts; forget past minutes. */
void
MfMonSeriesWritten(void)
{
	TimestampTz minute = MfMonMinute(GetCurrentTimestamp());
	HASH_SEQ_STATUS seq;
	MfMonSeries *s;

	hash_seq_init(&seq, MfMonSeriesTab);
	while ((s = hash_seq_search(&seq)) != NULL)
	{
		s->requests = s->errors = s->bytes_in = s->bytes_out = s->rows = 0;
		if (s->key.minute < minute)
			(void) hash_search(MfMonSeriesTab, &s->key, HASH_REMOVE, NULL);
	}
}
