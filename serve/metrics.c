/*
 * metrics.c - request counters and latency histograms of a server, and
 * their Prometheus text exposition (format 0.0.4).
 *
 * One series per (model, version): a count per HTTP status code, and a
 * latency histogram with fixed buckets from 50 us to 10 s.  Requests that
 * no model answered (health, metrics, unknown names) count under model=""
 * and version="", so URLs cannot grow the number of series.  Exposed as
 *   mf_serve_requests_total{model,version,code}        counter
 *   mf_serve_errors_total{model,version,code}          counter (code >= 400)
 *   mf_serve_request_duration_seconds{model,version}   histogram
 *   mf_serve_request_bytes_total{model,version}        counter (bodies received)
 *   mf_serve_response_bytes_total{model,version}       counter (bodies sent)
 *   process_resident_memory_bytes                      gauge (this process; the
 *                                                       health checks' memory_usage)
 * Everything is behind one mutex: a record is a hash lookup and a few
 * increments.
 */
#include "serve_int.h"
#include "counters.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MF_METRICS_HASH		256
#define MF_METRICS_NB		MF_COUNTERS_NB
#define MfLatencyBounds		mf_counters_bounds	/* one set of buckets (counters.c) */

/* The count of one status code. */
typedef struct MfCodeCount
{
	int			code;
	uint64_t	n;
} MfCodeCount;

/* Counters of one (model, version). */
typedef struct MfSeries
{
	struct MfSeries *next;		/* hash chain */
	struct MfSeries *order;		/* creation order, for the exposition */
	char	   *model;
	char	   *version;
	int			n_codes;
	MfCodeCount codes[24];
	uint64_t	buckets[MF_METRICS_NB];	/* not cumulative */
	uint64_t	count;
	double		sum;
	uint64_t	bytes_in;
	uint64_t	bytes_out;
} MfSeries;

struct MfServeMetrics
{
	pthread_mutex_t lock;
	MfSeries   *hash[MF_METRICS_HASH];
	MfSeries   *first;
	MfSeries  **last;
};

/* A new, empty set of metrics. */
MfServeMetrics *
mf_serve_metrics_new(void)
{
	MfServeMetrics *m = calloc(1, sizeof(MfServeMetrics));

	if (m != NULL && pthread_mutex_init(&m->lock, NULL) != 0)
	{
		free(m);
		return NULL;
	}
	if (m != NULL)
		m->last = &m->first;
	return m;
}

/* Free the metrics. */
void
mf_serve_metrics_free(MfServeMetrics *m)
{
	if (m == NULL)
		return;
	while (m->first != NULL)
	{
		MfSeries   *s = m->first;

		m->first = s->order;
		free(s->model);
		free(s->version);
		free(s);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* The series of (model, version), created when absent (lock held). */
static MfSeries *
MfSeriesFor(MfServeMetrics *m, const char *model, const char *version)
{
	uint32_t	h = 2166136261u;
	MfSeries   *s;

	for (const char *p = model; *p; p++)
		h = (h ^ (unsigned char) *p) * 16777619u;
	for (const char *p = version; *p; p++)
		h = (h ^ (unsigned char) *p) * 16777619u;
	h %= MF_METRICS_HASH;
	for (s = m->hash[h]; s != NULL; s = s->next)
		if (strcmp(s->model, model) == 0 && strcmp(s->version, version) == 0)
			return s;
	s = calloc(1, sizeof(MfSeries));
	if (s == NULL || (s->model = strdup(model)) == NULL || (s->version = strdup(version)) == NULL)
	{
		if (s != NULL)
			free(s->model);
		free(s);
		return NULL;
	}
	s->next = m->hash[h];
	m->hash[h] = s;
	*m->last = s;
	m->last = &s->order;
	return s;
}

/* Count one answer of model/version with its latency and body sizes. */
void
mf_serve_metrics_record(MfServeMetrics *m, const char *model, const char *version,
						int status, double seconds, size_t bytes_in, size_t bytes_out)
{
	MfSeries   *s;
	int			b = 0;

	if (m == NULL)
		return;
	while (b < MF_METRICS_NB && seconds > MfLatencyBounds[b])
		b++;
	pthread_mutex_lock(&m->lock);
	s = MfSeriesFor(m, model ? model : "", version ? version : "");
	if (s != NULL)
	{
		int			i = 0;

		while (i < s->n_codes && s->codes[i].code != status)
			i++;
		if (i == s->n_codes && i < (int) (sizeof(s->codes) / sizeof(s->codes[0])))
			s->codes[s->n_codes++].code = status;
		if (i < s->n_codes)
			s->codes[i].n++;
		if (b < MF_METRICS_NB)
			s->buckets[b]++;
		s->count++;
		s->sum += seconds;
		s->bytes_in += bytes_in;
		s->bytes_out += bytes_out;
	}
	pthread_mutex_unlock(&m->lock);
}

/* A growing text buffer. */
typedef struct MfText
{
	char	   *s;
	size_t		len;
	size_t		cap;
	bool		failed;
} MfText;

/* Append printf output to t. */
static void
__attribute__((format(printf, 2, 3)))
MfTextPrintf(MfText *t, const char *fmt,...)
{
	va_list		ap;
	int			n;

	if (t->failed)
		return;
	for (;;)
	{
		va_start(ap, fmt);
		n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
		{
			t->failed = true;
			return;
		}
		if (t->s != NULL && t->len + (size_t) n < t->cap)
		{
			t->len += (size_t) n;
			return;
		}
		t->cap = (t->cap + (size_t) n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		if (t->s == NULL)
		{
			t->failed = true;
			return;
		}
	}
}

/* A label value escaped as the text format wants (\\, \", \n). */
static void
MfTextLabel(MfText *t, const char *v)
{
	for (; *v; v++)
	{
		if (*v == '\\')
			MfTextPrintf(t, "\\\\");
		else if (*v == '"')
			MfTextPrintf(t, "\\\"");
		else if (*v == '\n')
			MfTextPrintf(t, "\\n");
		else
			MfTextPrintf(t, "%c", *v);
	}
}

/* model="..",version=".." of a series. */
static void
MfTextSeriesLabels(MfText *t, const MfSeries *s)
{
	MfTextPrintf(t, "model=\"");
	MfTextLabel(t, s->model);
	MfTextPrintf(t, "\",version=\"");
	MfTextLabel(t, s->version);
	MfTextPrintf(t, "\"");
}

/* The counters of every series with codes matching errors_only. */
static void
MfTextCounters(MfText *t, const MfServeMetrics *m, const char *name, bool errors_only)
{
	for (const MfSeries *s = m->first; s != NULL; s = s->order)
		for (int i = 0; i < s->n_codes; i++)
		{
			if (errors_only && s->codes[i].code < 400)
				continue;
			MfTextPrintf(t, "%s{", name);
			MfTextSeriesLabels(t, s);
			MfTextPrintf(t, ",code=\"%d\"} %llu\n", s->codes[i].code,
						 (unsigned long long) s->codes[i].n);
		}
}

/* The histogram of every series. */
static void
MfTextHistograms(MfText *t, const MfServeMetrics *m)
{
	const char *name = "mf_serve_request_duration_seconds";

	for (const MfSeries *s = m->first; s != NULL; s = s->order)
	{
		uint64_t	cum = 0;

		for (int b = 0; b < MF_METRICS_NB; b++)
		{
			cum += s->buckets[b];
			MfTextPrintf(t, "%s_bucket{", name);
			MfTextSeriesLabels(t, s);
			MfTextPrintf(t, ",le=\"%g\"} %llu\n", MfLatencyBounds[b], (unsigned long long) cum);
		}
		MfTextPrintf(t, "%s_bucket{", name);
		MfTextSeriesLabels(t, s);
		MfTextPrintf(t, ",le=\"+Inf\"} %llu\n%s_sum{", (unsigned long long) s->count, name);
		MfTextSeriesLabels(t, s);
		MfTextPrintf(t, "} %.9g\n%s_count{", s->sum, name);
		MfTextSeriesLabels(t, s);
		MfTextPrintf(t, "} %llu\n", (unsigned long long) s->count);
	}
}

/* The byte counters of every series (in: bodies received, else sent). */
static void
MfTextBytes(MfText *t, const MfServeMetrics *m, const char *name, bool in)
{
	for (const MfSeries *s = m->first; s != NULL; s = s->order)
	{
		MfTextPrintf(t, "%s{", name);
		MfTextSeriesLabels(t, s);
		MfTextPrintf(t, "} %llu\n", (unsigned long long) (in ? s->bytes_in : s->bytes_out));
	}
}

/* Resident memory of this process in bytes (Linux /proc), 0 when unknown. */
static unsigned long long
MfResidentBytes(void)
{
	FILE	   *f = fopen("/proc/self/statm", "r");
	unsigned long long size = 0,
				resident = 0;
	long		page = sysconf(_SC_PAGESIZE);

	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (unsigned long long) (page > 0 ? page : 4096);
}

/* The Prometheus text of m, malloc'd (NULL when out of memory). */
char *
mf_serve_metrics_text(MfServeMetrics *m, size_t *len)
{
	MfText		t = {0};

	pthread_mutex_lock(&m->lock);
	MfTextPrintf(&t, "# HELP mf_serve_requests_total Requests answered, by model, version and status code.\n"
				 "# TYPE mf_serve_requests_total counter\n");
	MfTextCounters(&t, m, "mf_serve_requests_total", false);
	MfTextPrintf(&t, "# HELP mf_serve_errors_total Requests answered with a status code of 400 or more.\n"
				 "# TYPE mf_serve_errors_total counter\n");
	MfTextCounters(&t, m, "mf_serve_errors_total", true);
	MfTextPrintf(&t, "# HELP mf_serve_request_duration_seconds Time to answer a request, by model and version.\n"
				 "# TYPE mf_serve_request_duration_seconds histogram\n");
	MfTextHistograms(&t, m);
	MfTextPrintf(&t, "# HELP mf_serve_request_bytes_total Bytes of request bodies received, by model and version.\n"
				 "# TYPE mf_serve_request_bytes_total counter\n");
	MfTextBytes(&t, m, "mf_serve_request_bytes_total", true);
	MfTextPrintf(&t, "# HELP mf_serve_response_bytes_total Bytes of response bodies sent, by model and version.\n"
				 "# TYPE mf_serve_response_bytes_total counter\n");
	MfTextBytes(&t, m, "mf_serve_response_bytes_total", false);
	pthread_mutex_unlock(&m->lock);
	MfTextPrintf(&t, "# HELP process_resident_memory_bytes Resident memory size of the answering process in bytes.\n"
				 "# TYPE process_resident_memory_bytes gauge\n"
				 "process_resident_memory_bytes %llu\n", MfResidentBytes());
	if (t.failed)
	{
		free(t.s);
		return NULL;
	}
	*len = t.len;
	return t.s;
}

/* Totals callback: one series of the shared table into a private set of metrics. */
static void
MfMetricsFromTotals(void *arg, const MfCounterTotals *t)
{
	MfServeMetrics *m = (MfServeMetrics *) arg;
	MfSeries   *s = MfSeriesFor(m, t->model, t->version);

	if (s == NULL)
		return;
	for (int i = 0; i < t->n_codes && s->n_codes < (int) (sizeof(s->codes) / sizeof(s->codes[0])); i++)
	{
		s->codes[s->n_codes].code = t->codes[i];
		s->codes[s->n_codes++].n = t->code_n[i];
	}
	memcpy(s->buckets, t->buckets, sizeof(s->buckets));
	s->count = t->count;
	s->sum = t->sum_seconds;
	s->bytes_in = t->bytes_in;
	s->bytes_out = t->bytes_out;
}

/*
 * The Prometheus text of a table shared between processes (counters.h):
 * the totals of every process that counts into it, rendered as
 * mf_serve_metrics_text renders one process's (NULL when out of memory).
 */
char *
mf_serve_metrics_text_shared(MfCounters *c, size_t *len)
{
	MfServeMetrics *m = mf_serve_metrics_new();
	char	   *text;

	if (m == NULL)
		return NULL;
	mf_counters_totals(c, MfMetricsFromTotals, m);
	text = mf_serve_metrics_text(m, len);
	mf_serve_metrics_free(m);
	return text;
}
