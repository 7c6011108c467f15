/*
 * test_serve_counters.c - the counters shared between processes
 * (serve/counters.c) and the Prometheus text reader (serve/prom_text.c):
 * counts from forked processes add up in a MAP_SHARED table, drains taken
 * while writers run lose and double nothing, put_back restores a take,
 * quantiles interpolate within buckets, the totals render as Prometheus
 * text that the reader parses back, malformed text is refused.
 */
#include "counters.h"
#include "prom_text.h"
#include "serve_int.h"
#include "mf_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROCS 4
#define PER_PROC 50000

/* Drain callback: sum what was taken per kind. */
typedef struct Sums
{
	uint64_t	requests;
	uint64_t	errors;
	uint64_t	bytes_in;
	uint64_t	rows;
	uint64_t	buckets;
	int			series;
} Sums;

static void
add_take(void *arg, const MfCounterTake *t)
{
	Sums	   *s = arg;

	s->requests += t->requests;
	s->errors += t->errors;
	s->bytes_in += t->bytes_in;
	s->rows += t->rows;
	for (int b = 0; b <= MF_COUNTERS_NB; b++)
		s->buckets += t->buckets[b];
	s->series++;
}

/* Prometheus sample callback: sum mf_serve_requests_total of model m1. */
static void
sum_requests(void *arg, const char *name, const char *labels, double value)
{
	char		model[64];

	if (strcmp(name, "mf_serve_requests_total") == 0 && mf_prom_label(labels, "model", model, sizeof(model)) &&
		strcmp(model, "m1") == 0)
		*(double *) arg += value;
}

static void
count_samples(void *arg, const char *name, const char *labels, double value)
{
	(void) name;
	(void) labels;
	(void) value;
	(*(int *) arg)++;
}

int
main(void)
{
	MfCounters *c = mmap(NULL, sizeof(MfCounters), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	Sums		s = {0};
	pid_t		pids[PROCS];
	int			status;

	MF_OK(c != MAP_FAILED, "a MAP_SHARED table");
	/* forked writers on 3 series while this process drains */
	for (int p = 0; p < PROCS; p++)
		if ((pids[p] = fork()) == 0)
		{
			for (int i = 0; i < PER_PROC; i++)
				mf_counters_add(c, MF_COUNTERS_SERVED, i % 2 ? "m1" : "m2", i % 3 ? "1.0.0" : "1.1.0",
								i % 10 == 0 ? 400 : 200, 0.0003, 10, 20, 0);
			_exit(0);
		}
	for (int k = 0; k < 200; k++)
		(void) mf_counters_drain(c, add_take, &s);
	for (int p = 0; p < PROCS; p++)
		waitpid(pids[p], &status, 0);
	(void) mf_counters_drain(c, add_take, &s);
	MF_OK(s.requests == (uint64_t) PROCS * PER_PROC, "drains during concurrent writes lose and double nothing (requests)");
	MF_OK(s.errors == (uint64_t) PROCS * PER_PROC / 10, "errors: status >= 400");
	MF_OK(s.bytes_in == (uint64_t) PROCS * PER_PROC * 10, "bytes in");
	MF_OK(s.buckets == s.requests, "every request is in one bucket");
	memset(&s, 0, sizeof(s));
	MF_OK(mf_counters_drain(c, add_take, &s) == 0 && s.requests == 0, "a second drain finds nothing");

	/* put_back restores a take that could not be stored */
	{
		MfCounterTake t = {.kind = MF_COUNTERS_PREDICT, .model = "p", .version = "2.0.0", .requests = 7, .rows = 700};

		mf_counters_put_back(c, &t);
		mf_counters_put_back(c, &t);
		(void) mf_counters_drain(c, add_take, &s);
		MF_OK(s.requests == 14 && s.rows == 1400 && s.series == 1, "put_back adds a take to its series");
	}

	/* quantiles */
	{
		uint64_t	h[MF_COUNTERS_NB + 1] = {0};

		MF_CLOSE(mf_counters_quantile_ms(h, 0.5), 0.0, 0, "an empty histogram: 0");
		h[mf_counters_bucket(0.0003)] = 100;	/* (0.25 ms, 0.5 ms] */
		MF_CLOSE(mf_counters_quantile_ms(h, 0.5), 0.375, 1e-12, "p50 interpolates in its bucket");
		MF_CLOSE(mf_counters_quantile_ms(h, 0.99), 0.4975, 1e-12, "p99 too");
		h[MF_COUNTERS_NB] = 100;
		MF_CLOSE(mf_counters_quantile_ms(h, 0.99), 10000.0, 1e-9, "beyond the last bound: its lower bound");
		MF_OK(mf_counters_bucket(0.00005) == 0 && mf_counters_bucket(NAN) == MF_COUNTERS_NB, "bucket edges");
	}

	/* totals rendered as Prometheus text, read back */
	{
		size_t		len = 0;
		char	   *text = mf_serve_metrics_text_shared(c, &len);
		double		m1 = 0;
		int			bad = 0;

		MF_OK(text != NULL && len > 0, "the shared table renders");
		MF_OK(mf_prom_parse(text, len, sum_requests, &m1, &bad) > 0, "its text parses");
		MF_CLOSE(m1, (double) PROCS * PER_PROC / 2, 0, "totals survive drains: every request of m1 is in /metrics");
		MF_OK(strstr(text, "mf_serve_request_duration_seconds_count{model=\"m2\",version=\"1.1.0\"}") != NULL,
			  "a histogram per series");
		free(text);
	}

	/* the reader refuses what is not the text format */
	{
		const char *bad_texts[] = {"x{a=\"1\" 2\n", "x 1 2 3\n", "{a=\"1\"} 2\n", "x abc\n", "x{a=\"1\\\"} 2\n"};
		const char *good = "# HELP x y\n\nx{a=\"q\\\"uo\\\\te\",b=\"\"} +Inf\r\ny 3 1700000000\n";
		int			n = 0,
					bad = 0;
		char		v[32];

		for (size_t i = 0; i < sizeof(bad_texts) / sizeof(bad_texts[0]); i++)
			MF_OK(mf_prom_parse(bad_texts[i], strlen(bad_texts[i]), count_samples, &n, &bad) == -1 && bad == 1,
				  "a malformed line is refused with its number");
		MF_OK(mf_prom_parse(good, strlen(good), count_samples, &n, &bad) == 2, "comments, blank lines, CRLF, +Inf, timestamps");
		MF_OK(mf_prom_label("a=\"q\\\"uo\\\\te\",b=\"\"", "a", v, sizeof(v)) && strcmp(v, "q\"uo\\te") == 0,
			  "escaped label values are unescaped");
		MF_OK(mf_prom_label("a=\"1\",b=\"\"", "b", v, sizeof(v)) && v[0] == '\0', "an empty label value");
		MF_OK(!mf_prom_label("a=\"1\"", "c", v, sizeof(v)), "an absent label");
	}
	munmap(c, sizeof(MfCounters));
	return mf_test_done();
}
