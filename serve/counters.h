/*
 * counters.h - request counters shared between processes: a fixed table of
 * series in memory the caller provides (an anonymous MAP_SHARED mapping
 * inherited across fork, or PostgreSQL shared memory), written and drained
 * with lock-free atomics (counters.c).
 *
 * Design note
 * -----------
 * A series is (kind, model, version): kind MF_COUNTERS_SERVED for requests
 * a server answered, MF_COUNTERS_PREDICT for in-database mf_predict* calls.
 * A slot is claimed once (compare-and-swap on its state: empty -> claiming
 * -> ready) and never freed, so a writer finds its series by probing from
 * the key's hash and then only adds (atomic fetch-add, relaxed).  A reader
 * drains: it swaps every counter of a ready slot to zero (atomic exchange)
 * and gets what was counted since the last drain; an increment that races
 * with the swap lands before it (drained now) or after it (drained next
 * time), so no count is lost or counted twice.  A drained amount that could
 * not be stored is added back (mf_counters_put_back).  The latency
 * histogram uses the buckets of serve/metrics.c (upper bounds in seconds;
 * the last bucket is everything slower).  When the table is full, counts of
 * new series go to `dropped` (a count of requests, reported by the reader).
 * Pure C11 (stdatomic); no PostgreSQL header.
 */
#ifndef MF_COUNTERS_H
#define MF_COUNTERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MF_COUNTERS_SLOTS		512 /* series of one table */
#define MF_COUNTERS_NB			16	/* latency buckets with a finite bound */
#define MF_COUNTERS_MODEL_LEN	128
#define MF_COUNTERS_VERSION_LEN 64
#define MF_COUNTERS_CODES		16	/* status codes of one series' totals */

#define MF_COUNTERS_SERVED		1	/* answered by a server */
#define MF_COUNTERS_PREDICT		2	/* in-database mf_predict* calls */

/* Upper bounds (seconds) of the finite latency buckets. */
extern const double mf_counters_bounds[MF_COUNTERS_NB];

/* One series (a slot of the table). */
typedef struct MfCounterSlot
{
	atomic_uint state;			/* 0 empty, 1 being claimed, 2 ready */
	int			kind;
	char		model[MF_COUNTERS_MODEL_LEN];
	char		version[MF_COUNTERS_VERSION_LEN];
	atomic_uint_fast64_t requests;	/* answers, or prediction calls */
	atomic_uint_fast64_t errors;	/* answers with status >= 400 */
	atomic_uint_fast64_t bytes_in;
	atomic_uint_fast64_t bytes_out;
	atomic_uint_fast64_t rows;	/* rows scored (predict) */
	atomic_uint_fast64_t buckets[MF_COUNTERS_NB + 1];
	/* cumulative totals, never drained (the /metrics of all processes) */
	atomic_int	code[MF_COUNTERS_CODES];	/* 0: free */
	atomic_uint_fast64_t code_n[MF_COUNTERS_CODES];
	atomic_uint_fast64_t t_buckets[MF_COUNTERS_NB + 1];
	atomic_uint_fast64_t t_sum_ns;
	atomic_uint_fast64_t t_bytes_in;
	atomic_uint_fast64_t t_bytes_out;
} MfCounterSlot;

/* A table; zeroed memory is an empty table. */
typedef struct MfCounters
{
	atomic_uint_fast64_t dropped;	/* requests of series that found no slot */
	MfCounterSlot slots[MF_COUNTERS_SLOTS];
} MfCounters;

/* What one drain took from one series. */
typedef struct MfCounterTake
{
	int			kind;
	const char *model;
	const char *version;
	uint64_t	requests;
	uint64_t	errors;
	uint64_t	bytes_in;
	uint64_t	bytes_out;
	uint64_t	rows;
	uint64_t	buckets[MF_COUNTERS_NB + 1];
} MfCounterTake;

/* The latency bucket of a duration in seconds. */
extern int	mf_counters_bucket(double seconds);

/* Count one request (rows: rows scored, 0 when unknown). */
extern void mf_counters_add(MfCounters *c, int kind, const char *model, const char *version,
							int status, double seconds, uint64_t bytes_in, uint64_t bytes_out,
							uint64_t rows);

/* Add a whole take (from another table, or one that could not be stored). */
extern void mf_counters_put_back(MfCounters *c, const MfCounterTake *t);

/*
 * Drain every series that counted something: fn is called once per such
 * series with what was taken.  Returns the number of series taken.
 */
extern int	mf_counters_drain(MfCounters *c, void (*fn) (void *arg, const MfCounterTake *t), void *arg);

/* The cumulative totals of one series (mf_counters_totals). */
typedef struct MfCounterTotals
{
	const char *model;
	const char *version;
	int			n_codes;
	int			codes[MF_COUNTERS_CODES];
	uint64_t	code_n[MF_COUNTERS_CODES];
	uint64_t	buckets[MF_COUNTERS_NB + 1];	/* not cumulative */
	uint64_t	count;
	double		sum_seconds;
	uint64_t	bytes_in;
	uint64_t	bytes_out;
} MfCounterTotals;

/* Call fn with the totals of every served series (kind MF_COUNTERS_SERVED). */
extern void mf_counters_totals(MfCounters *c, void (*fn) (void *arg, const MfCounterTotals *t), void *arg);

/* The q-quantile (0..1) in milliseconds of a bucket histogram, linear within
 * a bucket (the slowest bucket reports its lower bound); 0 when empty. */
extern double mf_counters_quantile_ms(const uint64_t *buckets, double q);

#endif							/* MF_COUNTERS_H */
