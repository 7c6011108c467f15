/*
 * drift.c - reference distributions stored at training, and mf_drift's
 * comparison of current rows with them (the statistics: kernels/drift.c).
 *
 * Design note
 * -----------
 * Training (train.c) calls MfReferenceDistributions() once, on the raw
 * rows read from the source (every row read, before the split: the
 * population the version was built from), before the encoding may reuse
 * them.  Per feature column, in schema order:
 *   numeric      {"edges": [decile edges], "counts": [per bin], "sample": [sorted]}
 *                edges and counts of every row, or of a seeded simple random
 *                sample of MF_DRIFT_EDGE_SAMPLE rows when there are more (a
 *                bin's share is then within about 0.4 percentage points,
 *                and a training run is not slowed by passes over all its
 *                rows); the sample:
 *                MF_DRIFT_SAMPLE_MAX of those values at most (every one when
 *                fewer), seeded (MF_DRIFT_SAMPLE_SEED), for the KS statistic
 *   boolean      {"counts": [false, true]}
 *   categorical  {"values": [...], "counts": [...], "other": n}: the
 *                MF_DRIFT_MAX_CATEGORIES most frequent values of at most
 *                MF_DRIFT_MAX_VALUE bytes, the rest in other
 * plus n_rows and n_nulls.  sql/drift.sql stores one row per feature in
 * mf.reference_distributions.
 *
 * mf._drift_run(reference, source, author, search_path) reads the source
 * as source.c reads an evaluation source (the author's rights and
 * search_path, the reference's columns, the types checked against the
 * kinds), bins every current value over the reference's bins (NULLs in a
 * bin of their own; a category the reference does not list goes to
 * "other") and returns [{feature, psi, ks, status, n_rows}] in schema
 * order.  A stored reference is checked before use (XX001 when damaged).
 */
#include "postgres.h"

#include "mf_core.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "common/hashfn.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "drift.h"
#include "train.h"

/* Ascending doubles. */
static int
MfDriftDoubleCmp(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* Doubles as a JSON array. */
static json_t *
MfDriftArray(const double *v, size_t n)
{
	json_t	   *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	return a;
}

/* Counts as a JSON array of integers. */
static json_t *
MfDriftCounts(const double *v, size_t n)
{
	json_t	   *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer((json_int_t) v[i]));
	return a;
}

/* The non-NULL values of a numeric column, sorted; *nn gets how many. */
static double *
MfDriftSortedValues(const MfDataset *ds, const MfColumn *c, size_t *nn)
{
	double	   *v = MfHugeAlloc(mul_size(Max(ds->n, 1), sizeof(double)));
	size_t		k = 0;

	for (size_t r = 0; r < ds->n; r++)
		if (!MfColIsNull(c, r))
			v[k++] = MfNum(ds, c, r);
	qsort(v, k, sizeof(double), MfDriftDoubleCmp);
	*nn = k;
	return v;
}

/* The numeric columns of a data set, worked on together (row by row). */
typedef struct MfDriftNumeric
{
	int			n;				/* columns */
	int		   *col;			/* [n] index in ds->cols */
	size_t	   *pos;			/* [n] num_pos */
	const bool **skip;			/* [n] isnull arrays (NULL: none) */
	double	  **vals;			/* [n] values of the sampled rows, non-NULL */
	size_t	   *nv;
	double	   *edges;			/* [n * MF_DRIFT_BINS] */
	size_t	   *ne;
	int64_t    *counts;			/* [n * MF_DRIFT_BINS], of the sampled rows */
} MfDriftNumeric;

/*
 * The values of the numeric columns in every row, or in a seeded simple
 * random sample of MF_DRIFT_EDGE_SAMPLE rows when there are more (selection
 * sampling, one pass over the rows for all columns).
 */
static void
MfDriftSampleRows(const MfDataset *ds, MfDriftNumeric *nu, MfRng *rng)
{
	size_t		want = Min(ds->n, MF_DRIFT_EDGE_SAMPLE),
				taken = 0;

	for (int k = 0; k < nu->n; k++)
		nu->vals[k] = MfHugeAlloc(mul_size(Max(want, 1), sizeof(double)));
	for (size_t r = 0; r < ds->n && taken < want; r++)
	{
		if ((r & (MF_CHECK_ROWS - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
		if (want < ds->n && (double) (ds->n - r) * mfk_rng_uniform(rng) >= (double) (want - taken))
			continue;
		taken++;
		for (int k = 0; k < nu->n; k++)
			if (nu->skip[k] == NULL || !nu->skip[k][r])
				nu->vals[k][nu->nv[k]++] = ds->num[r * ds->nnum + nu->pos[k]];
	}
}

/*
 * References of every numeric column (design note; no sort of a column,
 * which was most of a training run's time): the values of the sampled
 * rows give the deciles (by selection), the counts and the KS sample
 * (sorted alone).  out[k] gets column nu->col[k]'s data.
 */
static void
MfDriftNumericRefs(const MfDataset *ds, MfDriftNumeric *nu, json_t **out)
{
	MfRng		rng;
	size_t	   *idx = palloc(sizeof(size_t) * MF_DRIFT_SAMPLE_MAX);
	double	   *sample = palloc(sizeof(double) * MF_DRIFT_SAMPLE_MAX);
	size_t		zero = 0;
	const bool *noskip = NULL;

	mfk_rng_seed(&rng, MF_DRIFT_SAMPLE_SEED);
	MfDriftSampleRows(ds, nu, &rng);
	for (int k = 0; k < nu->n; k++)
	{
		size_t		ns = mf_drift_sample(&rng, nu->nv[k], MF_DRIFT_SAMPLE_MAX, idx);

		for (size_t i = 0; i < ns; i++)
			sample[i] = nu->vals[k][idx[i]];
		qsort(sample, ns, sizeof(double), MfDriftDoubleCmp);
		out[k] = mf_json_object_new();
		json_object_set_new(out[k], "sample", MfDriftArray(sample, ns));
		/* permutes the values */
		nu->ne[k] = mf_drift_edges_unsorted(nu->vals[k], nu->nv[k], MF_DRIFT_BINS, nu->edges + k * MF_DRIFT_BINS);
		mf_drift_histograms(nu->vals[k], nu->nv[k], 1, &zero, 1, &noskip, nu->edges + k * MF_DRIFT_BINS,
							&nu->ne[k], nu->counts + k * MF_DRIFT_BINS);
		pfree(nu->vals[k]);
		CHECK_FOR_INTERRUPTS();
	}
	for (int k = 0; k < nu->n; k++)
	{
		double		dcounts[MF_DRIFT_BINS];

		for (size_t i = 0; i <= nu->ne[k]; i++)
			dcounts[i] = (double) nu->counts[k * MF_DRIFT_BINS + i];
		json_object_set_new(out[k], "edges", MfDriftArray(nu->edges + k * MF_DRIFT_BINS, nu->ne[k]));
		json_object_set_new(out[k], "counts", MfDriftCounts(dcounts, nu->ne[k] + 1));
	}
}

/* The numeric columns of ds, with room for their work. */
static MfDriftNumeric *
MfDriftNumericColumns(const MfDataset *ds)
{
	MfDriftNumeric *nu = palloc0(sizeof(MfDriftNumeric));
	int			m = Max(ds->ncols, 1);

	nu->col = palloc(sizeof(int) * m);
	nu->pos = palloc(sizeof(size_t) * m);
	nu->skip = palloc(sizeof(bool *) * m);
	nu->vals = palloc(sizeof(double *) * m);
	nu->nv = palloc0(sizeof(size_t) * m);
	nu->ne = palloc0(sizeof(size_t) * m);
	nu->edges = palloc0(sizeof(double) * m * MF_DRIFT_BINS);
	nu->counts = palloc0(sizeof(int64_t) * m * MF_DRIFT_BINS);
	for (int i = 0; i < ds->ncols; i++)
		if (ds->cols[i].kind == MF_COL_NUMERIC)
		{
			nu->col[nu->n] = i;
			nu->pos[nu->n] = (size_t) ds->cols[i].num_pos;
			nu->skip[nu->n] = ds->cols[i].isnull;
			nu->n++;
		}
	return nu;
}

/* Reference of a boolean column: counts of false and true. */
static json_t *
MfDriftBooleanRef(const MfDataset *ds, const MfColumn *c)
{
	double		counts[2] = {0, 0};
	json_t	   *o = mf_json_object_new();

	for (size_t r = 0; r < ds->n; r++)
		if (!MfColIsNull(c, r))
			counts[MfNum(ds, c, r) != 0.0] += 1.0;
	json_object_set_new(o, "counts", MfDriftCounts(counts, 2));
	return o;
}

typedef struct MfDriftCount
{
	const char *value;
	int64		count;
} MfDriftCount;

/* Most frequent first, then by value. */
static int
MfDriftCountCmp(const void *a, const void *b)
{
	const MfDriftCount *x = a;
	const MfDriftCount *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->value, y->value);
}

/* The slot of value v in an open addressing table of cap slots. */
static size_t
MfDriftSlot(const MfDriftCount *slots, size_t cap, const char *v)
{
	size_t		h = hash_bytes((const unsigned char *) v, strlen(v)) & (cap - 1);

	while (slots[h].value != NULL && strcmp(slots[h].value, v) != 0)
		h = (h + 1) & (cap - 1);
	return h;
}

/* The table twice as large, every entry moved (the old one freed). */
static MfDriftCount *
MfDriftGrow(MfDriftCount *slots, size_t *cap)
{
	size_t		ncap = *cap * 2;
	MfDriftCount *n = MfHugeAlloc(mul_size(ncap, sizeof(MfDriftCount)));

	memset(n, 0, ncap * sizeof(MfDriftCount));
	for (size_t i = 0; i < *cap; i++)
		if (slots[i].value != NULL)
			n[MfDriftSlot(n, ncap, slots[i].value)] = slots[i];
	pfree(slots);
	*cap = ncap;
	return n;
}

/*
 * Reference of a categorical column: the MF_DRIFT_MAX_CATEGORIES most
 * frequent values (of at most MF_DRIFT_MAX_VALUE bytes: longer ones, such
 * as documents, count as "other") and "other".  Counted in an open
 * addressing hash table of the distinct values, not by sorting the rows.
 */
static json_t *
MfDriftCategoricalRef(const MfDataset *ds, const MfColumn *c)
{
	size_t		cap = 1024,
				nc = 0;
	MfDriftCount *slots = palloc0(sizeof(MfDriftCount) * cap);
	MfDriftCount *counts;
	int64		other = 0;
	json_t	   *values = json_array(),
			   *cnt = json_array(),
			   *o = mf_json_object_new();

	for (size_t r = 0; r < ds->n; r++)
	{
		const char *v = c->str[r];
		size_t		h;

		if (MfColIsNull(c, r))
			continue;
		h = MfDriftSlot(slots, cap, v);
		if (slots[h].value != NULL)
			slots[h].count++;
		else
		{
			slots[h].value = v;
			slots[h].count = 1;
			if (++nc * 2 > cap)
				slots = MfDriftGrow(slots, &cap);
		}
		if ((r & (MF_CHECK_ROWS - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	counts = MfHugeAlloc(mul_size(Max(nc, 1), sizeof(MfDriftCount)));
	nc = 0;
	for (size_t i = 0; i < cap; i++)
		if (slots[i].value != NULL)
			counts[nc++] = slots[i];
	qsort(counts, nc, sizeof(MfDriftCount), MfDriftCountCmp);
	for (size_t i = 0; i < nc; i++)
	{
		if (json_array_size(values) >= MF_DRIFT_MAX_CATEGORIES || strlen(counts[i].value) > MF_DRIFT_MAX_VALUE)
		{
			other += counts[i].count;
			continue;
		}
		json_array_append_new(values, json_string(counts[i].value));
		json_array_append_new(cnt, json_integer(counts[i].count));
	}
	json_object_set_new(o, "values", values);
	json_object_set_new(o, "counts", cnt);
	json_object_set_new(o, "other", json_integer(other));
	pfree(slots);
	pfree(counts);
	return o;
}

static const char *const MfDriftKinds[] = {"numeric", "boolean", "categorical"};

/*
 * The reference distribution of every feature column of the rows read
 * (training): [{feature, kind, n_rows, n_nulls, data}] in schema order.
 */
json_t *
MfReferenceDistributions(const MfDataset *ds)
{
	json_t	   *out = json_array();
	MfDriftNumeric *nu = MfDriftNumericColumns(ds);
	json_t	  **numeric = palloc0(sizeof(json_t *) * Max(nu->n, 1));
	int			k = 0;

	if (nu->n > 0)
		MfDriftNumericRefs(ds, nu, numeric);
	for (int i = 0; i < ds->ncols; i++)
	{
		const MfColumn *c = &ds->cols[i];
		json_t	   *f = mf_json_object_new();
		int64		nulls = 0;

		if (c->isnull != NULL)
			for (size_t r = 0; r < ds->n; r++)
				nulls += c->isnull[r];
		json_object_set_new(f, "feature", json_string(c->name));
		json_object_set_new(f, "kind", json_string(MfDriftKinds[c->kind]));
		json_object_set_new(f, "n_rows", json_integer((json_int_t) ds->n));
		json_object_set_new(f, "n_nulls", json_integer(nulls));
		json_object_set_new(f, "data",
							c->kind == MF_COL_NUMERIC ? numeric[k++] :
							c->kind == MF_COL_BOOLEAN ? MfDriftBooleanRef(ds, c) :
							MfDriftCategoricalRef(ds, c));
		json_array_append_new(out, f);
		CHECK_FOR_INTERRUPTS();
	}
	return out;
}

/* ------------------------------------------------------------ mf_drift */

/* A category of a reference and its bin. */
typedef struct MfDriftValue
{
	const char *value;
	int			bin;
} MfDriftValue;

/* Categories by value. */
static int
MfDriftValueCmp(const void *a, const void *b)
{
	return strcmp(((const MfDriftValue *) a)->value, ((const MfDriftValue *) b)->value);
}

/* One feature's stored reference, checked. */
typedef struct MfDriftRef
{
	const char *feature;
	MfColKind	kind;
	double		n_rows;
	double		n_nulls;
	size_t		n_edges;
	double	   *edges;
	size_t		n_bins;			/* counts: bins, or categories + other */
	double	   *counts;
	size_t		n_sample;
	double	   *sample;
	MfDriftValue *values;		/* categorical: sorted by value */
	size_t		n_values;
} MfDriftRef;

/* Raise XX001 for a damaged stored reference. */
static void
MfDriftCorrupt(const char *feature, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("the reference distribution of feature \"%s\" is damaged", feature),
			 errdetail("mf.reference_distributions.data: %s.", what),
			 errhint("Retrain the version to store its reference again.")));
}

/* A JSON array of finite numbers as doubles (ascending when asked). */
static double *
MfDriftNumbers(json_t *a, size_t *n, bool ascending, bool nonneg, const char *feature, const char *key)
{
	double	   *v;

	if (!json_is_array(a))
		MfDriftCorrupt(feature, psprintf("\"%s\" is not an array", key));
	*n = json_array_size(a);
	v = palloc(sizeof(double) * Max(*n, 1));
	for (size_t i = 0; i < *n; i++)
	{
		json_t	   *x = json_array_get(a, i);

		if (!json_is_number(x) || !isfinite(json_number_value(x)) ||
			(nonneg && json_number_value(x) < 0))
			MfDriftCorrupt(feature, psprintf("\"%s\"[%zu] is not a %snumber", key, i,
											 nonneg ? "non-negative " : "finite "));
		v[i] = json_number_value(x);
		if (ascending && i > 0 && v[i] < v[i - 1])
			MfDriftCorrupt(feature, psprintf("\"%s\" is not sorted", key));
	}
	return v;
}

/* Categorical reference: values sorted for lookup, each with its bin. */
static void
MfDriftReadValues(MfDriftRef *r, json_t *data)
{
	json_t	   *values = json_object_get(data, "values");
	json_t	   *other = json_object_get(data, "other");
	size_t		n;
	double	   *cnt = MfDriftNumbers(json_object_get(data, "counts"), &n, false, true, r->feature, "counts");

	if (!json_is_array(values) || json_array_size(values) != n || !json_is_integer(other) ||
		json_integer_value(other) < 0)
		MfDriftCorrupt(r->feature, "\"values\", \"counts\" and \"other\" do not match");
	r->n_values = n;
	r->n_bins = n + 1;
	r->counts = palloc(sizeof(double) * (n + 1));
	memcpy(r->counts, cnt, sizeof(double) * n);
	r->counts[n] = (double) json_integer_value(other);
	r->values = palloc(sizeof(MfDriftValue) * Max(n, 1));
	for (size_t i = 0; i < n; i++)
	{
		r->values[i].value = json_string_value(json_array_get(values, i));
		r->values[i].bin = (int) i;
		if (r->values[i].value == NULL)
			MfDriftCorrupt(r->feature, psprintf("\"values\"[%zu] is not a string", i));
	}
	qsort(r->values, n, sizeof(MfDriftValue), MfDriftValueCmp);
}

/* Check and read one stored feature reference {feature, kind, n_nulls, data}. */
static void
MfDriftReadRef(MfDriftRef *r, json_t *f)
{
	const char *kind = json_string_value(json_object_get(f, "kind"));
	json_t	   *data = json_object_get(f, "data");
	json_t	   *nulls = json_object_get(f, "n_nulls");
	json_t	   *rows = json_object_get(f, "n_rows");

	memset(r, 0, sizeof(*r));
	r->feature = json_string_value(json_object_get(f, "feature"));
	if (r->feature == NULL)
		MfDriftCorrupt("?", "a row has no feature name");
	if (kind == NULL || !json_is_object(data) || !json_is_integer(nulls) || !json_is_integer(rows) ||
		json_integer_value(nulls) < 0 || json_integer_value(rows) < json_integer_value(nulls))
		MfDriftCorrupt(r->feature, "kind, n_rows, n_nulls or data is missing or wrong");
	r->n_nulls = (double) json_integer_value(nulls);
	r->n_rows = (double) json_integer_value(rows);
	if (strcmp(kind, "numeric") == 0)
	{
		r->kind = MF_COL_NUMERIC;
		r->edges = MfDriftNumbers(json_object_get(data, "edges"), &r->n_edges, true, false, r->feature, "edges");
		r->counts = MfDriftNumbers(json_object_get(data, "counts"), &r->n_bins, false, true, r->feature, "counts");
		r->sample = MfDriftNumbers(json_object_get(data, "sample"), &r->n_sample, true, false, r->feature, "sample");
		if (r->n_bins != r->n_edges + 1 || r->n_edges >= MF_DRIFT_BINS)
			MfDriftCorrupt(r->feature, "\"counts\" must have one entry more than \"edges\", at most 10");
	}
	else if (strcmp(kind, "boolean") == 0)
	{
		r->kind = MF_COL_BOOLEAN;
		r->counts = MfDriftNumbers(json_object_get(data, "counts"), &r->n_bins, false, true, r->feature, "counts");
		if (r->n_bins != 2)
			MfDriftCorrupt(r->feature, "\"counts\" of a boolean must have 2 entries");
	}
	else if (strcmp(kind, "categorical") == 0)
	{
		r->kind = MF_COL_CATEGORICAL;
		MfDriftReadValues(r, data);
	}
	else
		MfDriftCorrupt(r->feature, psprintf("unknown kind \"%s\"", kind));
}

/* Bin of current row r of column c under reference ref (NULL: the last). */
static size_t
MfDriftCurrentBin(const MfDriftRef *ref, const MfDataset *ds, const MfColumn *c, size_t r)
{
	MfDriftValue key;
	MfDriftValue *hit;

	if (MfColIsNull(c, r))
		return ref->n_bins;
	if (ref->kind == MF_COL_NUMERIC)
		return mf_drift_bin(ref->edges, ref->n_edges, MfNum(ds, c, r));
	if (ref->kind == MF_COL_BOOLEAN)
		return MfNum(ds, c, r) != 0.0;
	key.value = c->str[r];
	hit = ref->n_values > 0 ?
		bsearch(&key, ref->values, ref->n_values, sizeof(MfDriftValue), MfDriftValueCmp) : NULL;
	return hit != NULL ? (size_t) hit->bin : ref->n_values;
}

/* Compare column c of the current rows with its reference: {feature, psi, ks, status, n_rows}. */
static json_t *
MfDriftFeature(const MfDriftRef *ref, const MfDataset *ds, const MfColumn *c)
{
	size_t		k = ref->n_bins + 1;	/* + NULLs */
	double	   *rc = palloc(sizeof(double) * k);
	double	   *cc = palloc0(sizeof(double) * k);
	double		psi,
				ks = NAN,
				counted = 0.0;
	json_t	   *o = mf_json_object_new();
	const char *status;

	memcpy(rc, ref->counts, sizeof(double) * ref->n_bins);
	/* counts of sampled rows: the NULLs scaled to the same rows (else as they are) */
	for (size_t i = 0; i < ref->n_bins; i++)
		counted += rc[i];
	rc[ref->n_bins] = ref->n_rows > ref->n_nulls ?
		ref->n_nulls * (counted / (ref->n_rows - ref->n_nulls)) : ref->n_nulls;
	for (size_t r = 0; r < ds->n; r++)
		cc[MfDriftCurrentBin(ref, ds, c, r)] += 1.0;
	psi = mf_drift_psi(rc, cc, k, MF_DRIFT_PSI_EPSILON);
	if (ref->kind == MF_COL_NUMERIC && c->kind != MF_COL_CATEGORICAL)
	{
		size_t		nn;
		double	   *v = MfDriftSortedValues(ds, c, &nn);

		ks = mf_drift_ks(ref->sample, ref->n_sample, v, nn);
		pfree(v);
	}
	status = mf_drift_status(psi);
	json_object_set_new(o, "feature", json_string(ref->feature));
	json_object_set_new(o, "psi", isfinite(psi) ? json_real(psi) : json_null());
	json_object_set_new(o, "ks", isfinite(ks) ? json_real(ks) : json_null());
	json_object_set_new(o, "status", status ? json_string(status) : json_null());
	json_object_set_new(o, "n_rows", json_integer((json_int_t) ds->n));
	return o;
}

PG_FUNCTION_INFO_V1(mf_drift_run);

/*
 * mf._drift_run(reference jsonb, source text, author oid, search_path text)
 * RETURNS jsonb: [{feature, psi, ks, status, n_rows}].
 */
Datum
mf_drift_run(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext runctx;
	json_t	   *refs,
			   *out;
	MfDriftRef *ref;
	MfDataset  *ds;
	size_t		nf;
	Jsonb	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("reference and source must not be NULL")));
	runctx = AllocSetContextCreate(caller, "mf drift", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(runctx);
	refs = MfJsonbToJansson(PG_GETARG_JSONB_P(0), "reference distributions");
	nf = json_array_size(refs);
	if (nf == 0)
		MfDriftCorrupt("?", "no feature");
	ref = palloc(sizeof(MfDriftRef) * nf);
	ds = MfNewDataset(fcinfo, 2);
	ds->ncols = (int) nf;
	ds->cols = palloc0(sizeof(MfColumn) * nf);
	for (size_t i = 0; i < nf; i++)
	{
		MfDriftReadRef(&ref[i], json_array_get(refs, i));
		ds->cols[i].name = pstrdup(ref[i].feature);
		ds->cols[i].kind = ref[i].kind;
	}
	MfReadSource(ds, text_to_cstring(PG_GETARG_TEXT_PP(1)), NULL, NULL, 0, false, true);
	out = json_array();
	for (size_t i = 0; i < nf; i++)
	{
		json_array_append_new(out, MfDriftFeature(&ref[i], ds, &ds->cols[i]));
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextSwitchTo(caller);
	result = MfJanssonToJsonb(out);
	MemoryContextDelete(runctx);
	PG_RETURN_JSONB_P(result);
}
