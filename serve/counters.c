/*
 * counters.c - request counters shared between processes (see counters.h
 * for the design: claim-once slots, fetch-add writers, exchange drains).
 */
#include "counters.h"

#include <string.h>

const double mf_counters_bounds[MF_COUNTERS_NB] = {
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0
};

/* The latency bucket of a duration in seconds. */
int
mf_counters_bucket(double seconds)
{
	int			b = 0;

	while (b < MF_COUNTERS_NB && !(seconds <= mf_counters_bounds[b]))
		b++;
	return b;
}

/* FNV-1a of the key. */
static uint32_t
MfCountersHash(int kind, const char *model, const char *version)
{
	uint32_t	h = 2166136261u ^ (uint32_t) kind;

	for (const char *p = model; *p; p++)
		h = (h ^ (unsigned char) *p) * 16777619u;
	h = (h ^ 0xffu) * 16777619u;
	for (const char *p = version; *p; p++)
		h = (h ^ (unsigned char) *p) * 16777619u;
	return h;
}

/* Does a ready slot hold this key? */
static bool
MfCountersSame(const MfCounterSlot *s, int kind, const char *model, const char *version)
{
	return s->kind == kind && strncmp(s->model, model, MF_COUNTERS_MODEL_LEN - 1) == 0 &&
		strncmp(s->version, version, MF_COUNTERS_VERSION_LEN - 1) == 0;
}

/* The slot of a key, claimed when absent; NULL when the table is full. */
static MfCounterSlot *
MfCountersSlot(MfCounters *c, int kind, const char *model, const char *version)
{
	uint32_t	h = MfCountersHash(kind, model, version);

	for (int probe = 0; probe < MF_COUNTERS_SLOTS; probe++)
	{
		MfCounterSlot *s = &c->slots[(h + probe) % MF_COUNTERS_SLOTS];
		unsigned	st = atomic_load_explicit(&s->state, memory_order_acquire);

		if (st == 0)
		{
			unsigned	expected = 0;

			if (atomic_compare_exchange_strong(&s->state, &expected, 1))
			{
				s->kind = kind;
				strncpy(s->model, model, MF_COUNTERS_MODEL_LEN - 1);
				strncpy(s->version, version, MF_COUNTERS_VERSION_LEN - 1);
				atomic_store_explicit(&s->state, 2, memory_order_release);
				return s;
			}
			st = expected;
		}
		/* another process is writing this slot's key: it is ready within instructions
		 * (unless that process died right there: then the slot is skipped) */
		for (long spin = 0; st == 1 && spin < 10000000L; spin++)
			st = atomic_load_explicit(&s->state, memory_order_acquire);
		if (st == 2 && MfCountersSame(s, kind, model, version))
			return s;
	}
	return NULL;
}

/* Add one request to a slot's cumulative totals. */
static void
MfCountersTotal(MfCounterSlot *s, int status, double seconds, uint64_t bytes_in, uint64_t bytes_out)
{
	for (int i = 0; i < MF_COUNTERS_CODES; i++)
	{
		int			code = atomic_load_explicit(&s->code[i], memory_order_acquire);

		if (code == 0)
		{
			int			expected = 0;

			if (!atomic_compare_exchange_strong(&s->code[i], &expected, status))
				code = expected;
			else
				code = status;
		}
		if (code == status)
		{
			atomic_fetch_add_explicit(&s->code_n[i], 1, memory_order_relaxed);
			break;
		}
		/* more codes than MF_COUNTERS_CODES: the histogram still counts the request */
	}
	atomic_fetch_add_explicit(&s->t_buckets[mf_counters_bucket(seconds)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->t_sum_ns, (uint64_t) (seconds > 0 ? seconds * 1e9 : 0), memory_order_relaxed);
	atomic_fetch_add_explicit(&s->t_bytes_in, bytes_in, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->t_bytes_out, bytes_out, memory_order_relaxed);
}

/* Count one request. */
void
mf_counters_add(MfCounters *c, int kind, const char *model, const char *version,
				int status, double seconds, uint64_t bytes_in, uint64_t bytes_out, uint64_t rows)
{
	MfCounterSlot *s;

	if (c == NULL)
		return;
	s = MfCountersSlot(c, kind, model ? model : "", version ? version : "");
	if (s == NULL)
	{
		atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&s->buckets[mf_counters_bucket(seconds)], 1, memory_order_relaxed);
	if (status >= 400)
		atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
	if (bytes_in)
		atomic_fetch_add_explicit(&s->bytes_in, bytes_in, memory_order_relaxed);
	if (bytes_out)
		atomic_fetch_add_explicit(&s->bytes_out, bytes_out, memory_order_relaxed);
	if (rows)
		atomic_fetch_add_explicit(&s->rows, rows, memory_order_relaxed);
	MfCountersTotal(s, status, seconds, bytes_in, bytes_out);
	/* last: a drain that sees the request sees most of its details too */
	atomic_fetch_add_explicit(&s->requests, 1, memory_order_release);
}

/* Add a whole take. */
void
mf_counters_put_back(MfCounters *c, const MfCounterTake *t)
{
	MfCounterSlot *s = MfCountersSlot(c, t->kind, t->model, t->version);

	if (s == NULL)
	{
		atomic_fetch_add_explicit(&c->dropped, t->requests, memory_order_relaxed);
		return;
	}
	for (int b = 0; b <= MF_COUNTERS_NB; b++)
		atomic_fetch_add_explicit(&s->buckets[b], t->buckets[b], memory_order_relaxed);
	atomic_fetch_add_explicit(&s->errors, t->errors, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->bytes_in, t->bytes_in, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->bytes_out, t->bytes_out, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->rows, t->rows, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->requests, t->requests, memory_order_release);
}

/* Drain every series that counted something. */
int
mf_counters_drain(MfCounters *c, void (*fn) (void *arg, const MfCounterTake *t), void *arg)
{
	int			n = 0;

	for (int i = 0; i < MF_COUNTERS_SLOTS; i++)
	{
		MfCounterSlot *s = &c->slots[i];
		MfCounterTake t;

		if (atomic_load_explicit(&s->state, memory_order_acquire) != 2 ||
			atomic_load_explicit(&s->requests, memory_order_relaxed) == 0)
			continue;
		memset(&t, 0, sizeof(t));
		t.kind = s->kind;
		t.model = s->model;
		t.version = s->version;
		t.requests = atomic_exchange_explicit(&s->requests, 0, memory_order_acquire);
		t.errors = atomic_exchange_explicit(&s->errors, 0, memory_order_relaxed);
		t.bytes_in = atomic_exchange_explicit(&s->bytes_in, 0, memory_order_relaxed);
		t.bytes_out = atomic_exchange_explicit(&s->bytes_out, 0, memory_order_relaxed);
		t.rows = atomic_exchange_explicit(&s->rows, 0, memory_order_relaxed);
		for (int b = 0; b <= MF_COUNTERS_NB; b++)
			t.buckets[b] = atomic_exchange_explicit(&s->buckets[b], 0, memory_order_relaxed);
		fn(arg, &t);
		n++;
	}
	return n;
}

/* Call fn with the totals of every served series. */
void
mf_counters_totals(MfCounters *c, void (*fn) (void *arg, const MfCounterTotals *t), void *arg)
{
	for (int i = 0; i < MF_COUNTERS_SLOTS; i++)
	{
		MfCounterSlot *s = &c->slots[i];
		MfCounterTotals t;

		if (atomic_load_explicit(&s->state, memory_order_acquire) != 2 || s->kind != MF_COUNTERS_SERVED)
			continue;
		memset(&t, 0, sizeof(t));
		t.model = s->model;
		t.version = s->version;
		for (int b = 0; b <= MF_COUNTERS_NB; b++)
		{
			t.buckets[b] = atomic_load_explicit(&s->t_buckets[b], memory_order_relaxed);
			t.count += t.buckets[b];
		}
		for (int k = 0; k < MF_COUNTERS_CODES; k++)
		{
			int			code = atomic_load_explicit(&s->code[k], memory_order_acquire);

			if (code == 0)
				break;
			t.codes[t.n_codes] = code;
			t.code_n[t.n_codes++] = atomic_load_explicit(&s->code_n[k], memory_order_relaxed);
		}
		t.sum_seconds = (double) atomic_load_explicit(&s->t_sum_ns, memory_order_relaxed) / 1e9;
		t.bytes_in = atomic_load_explicit(&s->t_bytes_in, memory_order_relaxed);
		t.bytes_out = atomic_load_explicit(&s->t_bytes_out, memory_order_relaxed);
		fn(arg, &t);
	}
}

/* The q-quantile in milliseconds of a bucket histogram. */
double
mf_counters_quantile_ms(const uint64_t *buckets, double q)
{
	uint64_t	total = 0,
				cum = 0;
	double		rank;

	for (int b = 0; b <= MF_COUNTERS_NB; b++)
		total += buckets[b];
	if (total == 0)
		return 0;
	rank = q * (double) total;
	for (int b = 0; b <= MF_COUNTERS_NB; b++)
	{
		double		lo = b == 0 ? 0 : mf_counters_bounds[b - 1];

		if (buckets[b] == 0 || (double) (cum + buckets[b]) < rank)
		{
			cum += buckets[b];
			continue;
		}
		if (b == MF_COUNTERS_NB)
			return lo * 1000.0;
		return (lo + (mf_counters_bounds[b] - lo) * ((rank - (double) cum) / (double) buckets[b])) * 1000.0;
	}
	return mf_counters_bounds[MF_COUNTERS_NB - 1] * 1000.0;
}
