/*
 * source.c - reading a training source into an MfDataset.
 *
 * The source (a table/view name or a query) is its author's SQL: it is
 * resolved, planned and run with the author's rights and search_path
 * (privileges.c), without parallelism and with synchronized scans off, so
 * that its rows come in the same order on every run, into our own
 * DestReceiver: the executor hands every row over as a slot, whose numeric
 * and boolean values are appended to one row-major matrix and whose other
 * values to per-column text arrays, in the caller's memory context (no
 * tuple is copied, nothing accumulates in SPI memory, interrupts are
 * checked every MF_CHECK_ROWS rows).  Classification targets of bool,
 * int2/4 and float4/8 keep only their value; the label text is made once
 * per distinct value.  features.c encodes what is read.
 */
#include "postgres.h"

#include "mf_core.h"

#include <ctype.h>
#include <math.h>
#include <sys/mman.h>

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "tcop/dest.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/regproc.h"
#include "utils/varlena.h"

#include "mf_config.h"
#include "moments.h"
#include "privileges.h"
#include "train.h"

#define MF_PAGE_SIZE 4096
#define MF_PREFAULT_MIN ((Size) 1024 * 1024)

static instr_time mf_phase_t0;

/* Start timing a phase of a run (see MfPhaseEnd). */
void
MfPhaseStart(void)
{
	INSTR_TIME_SET_CURRENT(mf_phase_t0);
}

/* Log (DEBUG1) the seconds since MfPhaseStart or the last MfPhaseEnd. */
void
MfPhaseEnd(const char *phase)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, mf_phase_t0);
	elog(DEBUG1, "mf training phase %s: %.3f s", phase, INSTR_TIME_GET_DOUBLE(now));
	INSTR_TIME_SET_CURRENT(mf_phase_t0);
}

/*
 * Prefault the whole pages of [ptr, ptr + size) with one madvise call
 * (Linux 5.14+) when the range is big: a large array is written in full right
 * away, and faulting it in 4 kB at a time on first touch was a sizeable
 * share of a run.  Only a hint; failures (older kernels) are ignored.
 */
void
MfPrefault(void *ptr, Size size)
{
#ifdef MADV_POPULATE_WRITE
	uintptr_t	pg = MF_PAGE_SIZE;
	uintptr_t	lo = ((uintptr_t) ptr + pg - 1) & ~(pg - 1);
	uintptr_t	hi = ((uintptr_t) ptr + size) & ~(pg - 1);

	if (size >= MF_PREFAULT_MIN && hi > lo)
		(void) madvise((void *) lo, hi - lo, MADV_POPULATE_WRITE);
#endif
}

/* palloc of a possibly huge block in the current context (prefaulted). */
void *
MfHugeAlloc(Size size)
{
	void	   *p = MemoryContextAllocExtended(CurrentMemoryContext, Max(size, 1), MCXT_ALLOC_HUGE);

	MfPrefault(p, size);
	return p;
}

/* A zeroed huge array of n bools in the current context. */
static bool *
MfZeroedBools(size_t n)
{
	bool	   *a = MfHugeAlloc(n * sizeof(bool));

	memset(a, 0, n * sizeof(bool));
	return a;
}

/* Grow a huge array to hold cap elements of elem bytes. */
static void *
MfGrow(void *ptr, size_t cap, size_t elem)
{
	Size		sz = mul_size(cap, elem);

	if (ptr == NULL)
		return MfHugeAlloc(sz);
	ptr = repalloc_huge(ptr, sz);
	MfPrefault((char *) ptr + sz / 2, sz - sz / 2);	/* the new half */
	return ptr;
}

/* True for the types used as numbers. */
static bool
MfIsNumericType(Oid typid)
{
	return typid == INT2OID || typid == INT4OID || typid == INT8OID ||
		typid == FLOAT4OID || typid == FLOAT8OID || typid == NUMERICOID;
}

/* A numeric or boolean Datum as double. */
double
MfDatumToDouble(Datum d, Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return (double) DatumGetInt16(d);
		case INT4OID:
			return (double) DatumGetInt32(d);
		case INT8OID:
			return (double) DatumGetInt64(d);
		case FLOAT4OID:
			return (double) DatumGetFloat4(d);
		case FLOAT8OID:
			return DatumGetFloat8(d);
		case NUMERICOID:
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8, d));
		case BOOLOID:
			return DatumGetBool(d) ? 1.0 : 0.0;
	}
	elog(ERROR, "unexpected type %u", typid);
	return 0.0;
}

/* s starts with keyword w as a whole word (case-insensitive). */
static bool
MfStartsWithWord(const char *s, const char *w)
{
	size_t		n = strlen(w);

	return pg_strncasecmp(s, w, n) == 0 && !(isalnum((unsigned char) s[n]) || s[n] == '_' ||
											 s[n] == '$' || IS_HIGHBIT_SET(s[n]));
}

/* Skip whitespace, opening parentheses and SQL comments. */
static const char *
MfSkipSqlNoise(const char *s)
{
	for (;;)
	{
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '(')
			s++;
		else if (s[0] == '-' && s[1] == '-')
			s += strcspn(s, "\n");
		else if (s[0] == '/' && s[1] == '*' && strstr(s + 2, "*/") != NULL)
			s = strstr(s + 2, "*/") + 2;
		else
			return s;
	}
}

/*
 * The FROM item for a source: a subquery when it is a query (SELECT, WITH,
 * VALUES or TABLE as a whole word, after whitespace, parentheses and
 * comments), else a quoted relation name (42P01 when unknown).
 */
char *
MfSourceFromItem(const char *source)
{
	const char *s = MfSkipSqlNoise(source);
	List	   *names;
	RangeVar   *rv;

	if (MfStartsWithWord(s, "select") || MfStartsWithWord(s, "with") ||
		MfStartsWithWord(s, "values") || MfStartsWithWord(s, "table"))
		return psprintf("(%s\n) AS mf_source", source);

	names = stringToQualifiedNameList(source);
	rv = makeRangeVarFromNameList(names);
	if (!OidIsValid(RangeVarGetRelid(rv, NoLock, true)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("training source \"%s\" does not exist", source),
				 errhint("Give a table or view name, or a query starting with SELECT, WITH or VALUES.")));
	return psprintf("%s AS mf_source", NameListToQuotedString(names));
}

/* A dataset whose source runs as (author_arg oid, author_arg + 1 search_path). */
MfDataset *
MfNewDataset(FunctionCallInfo fcinfo, int author_arg)
{
	MfDataset  *ds = palloc0(sizeof(MfDataset));

	if (PG_NARGS() < author_arg + 2 || PG_ARGISNULL(author_arg) || PG_ARGISNULL(author_arg + 1))
		elog(ERROR, "a training source needs its author and search_path");
	ds->author = PG_GETARG_OID(author_arg);
	ds->author_path = text_to_cstring(PG_GETARG_TEXT_PP(author_arg + 1));
	return ds;
}

/* 0A000 when a planned source reads a temporary table (invisible to a job). */
static void
MfRefuseTemp(SPIPlanPtr plan, const char *source)
{
	ListCell   *lc;
	ListCell   *rc;

	foreach(lc, SPI_plan_get_plan_sources(plan))
	{
		CachedPlanSource *ps = (CachedPlanSource *) lfirst(lc);

		foreach(rc, ps->relationOids)
			if (get_rel_persistence(lfirst_oid(rc)) == RELPERSISTENCE_TEMP)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("training source \"%s\" reads temporary table \"%s\"", source,
								get_rel_name(lfirst_oid(rc))),
						 errdetail("A background job runs in another session, which cannot see this session's temporary tables."),
						 errhint("Copy the rows into a regular table, or train in this session with mf_train().")));
	}
}

/* Attribute number of a column of the source, or 0. */
static int
MfFindColumn(TupleDesc td, const char *name)
{
	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(td, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			return i + 1;
	}
	return 0;
}

/* Raise 42703 for a column the source does not have. */
static void
MfNoSuchColumn(const char *name, const char *source, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("column \"%s\" does not exist in the training source", name),
			 errdetail("The %s names column \"%s\"; the source is %s.", what, name, source)));
}

/* Set up one column from the tuple descriptor. */
static void
MfInitColumn(MfColumn *c, TupleDesc td, int attno, const char *source, bool from_schema)
{
	Oid			typid = TupleDescAttr(td, attno - 1)->atttypid;
	MfColKind	kind;

	c->attno = attno;
	c->typid = typid;
	c->type_name = format_type_be(typid);
	if (typid == BOOLOID)
		kind = MF_COL_BOOLEAN;
	else if (MfIsNumericType(typid))
		kind = MF_COL_NUMERIC;
	else
		kind = MF_COL_CATEGORICAL;
	if (from_schema)
	{
		bool		ok = (c->kind == MF_COL_CATEGORICAL) || (kind != MF_COL_CATEGORICAL);

		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" has type %s, but the model was trained on a number", c->name, c->type_name),
					 errdetail("Source: %s.", source)));
		if (c->kind == MF_COL_CATEGORICAL)
			kind = MF_COL_CATEGORICAL;
	}
	c->kind = kind;
	if (kind == MF_COL_CATEGORICAL)
	{
		Oid			fn;
		bool		varlena;

		getTypeOutputInfo(typid, &fn, &varlena);
		fmgr_info(fn, &c->outfn);
	}
}

/* Raise 42712 when two columns of the source share a name. */
static void
MfCheckDuplicateColumns(TupleDesc td, const char *source)
{
	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(td, i);

		if (a->attisdropped)
			continue;
		for (int j = i + 1; j < td->natts; j++)
		{
			Form_pg_attribute b = TupleDescAttr(td, j);

			if (!b->attisdropped && strcmp(NameStr(a->attname), NameStr(b->attname)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" appears more than once in the training source",
								NameStr(a->attname)),
						 errdetail("Columns %d and %d of %s are both named \"%s\".",
								   i + 1, j + 1, source, NameStr(a->attname)),
						 errhint("Give every column of the source query a distinct name (AS ...).")));
		}
	}
}

/* Resolve the feature and target columns against the source's descriptor. */
static void
MfResolveColumns(MfDataset *ds, TupleDesc td, const char *source, json_t *features,
				 bool from_schema)
{
	MfCheckDuplicateColumns(td, source);
	if (ds->target != NULL)
	{
		ds->target_attno = MfFindColumn(td, ds->target);
		if (ds->target_attno == 0)
			MfNoSuchColumn(ds->target, source, "target");
		ds->target_typid = TupleDescAttr(td, ds->target_attno - 1)->atttypid;
		ds->target_numeric = MfIsNumericType(ds->target_typid) || ds->target_typid == BOOLOID;
		{
			Oid			fn;
			bool		varlena;

			getTypeOutputInfo(ds->target_typid, &fn, &varlena);
			fmgr_info(fn, &ds->target_outfn);
		}
		if (!ds->classify && !ds->target_numeric)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("regression target \"%s\" must be numeric", ds->target),
					 errdetail("Its type is %s.", format_type_be(ds->target_typid))));
	}
	if (from_schema)
	{
		for (int i = 0; i < ds->ncols; i++)
		{
			int			attno = MfFindColumn(td, ds->cols[i].name);

			if (attno == 0)
				MfNoSuchColumn(ds->cols[i].name, source,
							   ds->cols[i].named_by ? ds->cols[i].named_by : "model's feature schema");
			MfInitColumn(&ds->cols[i], td, attno, source, true);
		}
		return;
	}
	if (features != NULL && json_array_size(features) > 0)
	{
		size_t		i;
		json_t	   *f;

		ds->ncols = json_array_size(features);
		ds->cols = palloc0(sizeof(MfColumn) * ds->ncols);
		json_array_foreach(features, i, f)
		{
			const char *name = json_string_value(f);
			int			attno;

			if (name == NULL)	/* checked by MfReadTrainArgs() */
				elog(ERROR, "feature %zu is not a string", i);
			attno = MfFindColumn(td, name);
			if (attno == 0)
				MfNoSuchColumn(name, source, "option \"features\"");
			if (attno == ds->target_attno)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the target \"%s\" cannot also be a feature", name)));
			ds->cols[i].name = pstrdup(name);
			MfInitColumn(&ds->cols[i], td, attno, source, false);
		}
		return;
	}
	ds->cols = palloc0(sizeof(MfColumn) * Max(td->natts, 1));
	ds->ncols = 0;
	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(td, i);

		if (a->attisdropped || i + 1 == ds->target_attno)
			continue;
		ds->cols[ds->ncols].name = pstrdup(NameStr(a->attname));
		MfInitColumn(&ds->cols[ds->ncols], td, i + 1, source, false);
		ds->ncols++;
	}
	if (ds->ncols == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the training source has no feature columns"),
				 errdetail("Source: %s.", source)));
}

/* Make room for one more row. */
static void
MfEnsureRow(MfDataset *ds)
{
	size_t		old = ds->cap;

	if (ds->n < ds->cap)
		return;
	ds->cap = ds->cap == 0 ? 1024 : ds->cap * 2;
	if (ds->nnum > 0)
		ds->num = MfGrow(ds->num, ds->cap, ds->nnum * sizeof(double));
	for (int i = 0; i < ds->ncols; i++)
	{
		MfColumn   *c = &ds->cols[i];

		if (c->isnull != NULL)
		{
			c->isnull = MfGrow(c->isnull, ds->cap, sizeof(bool));
			memset(c->isnull + old, 0, (ds->cap - old) * sizeof(bool));
		}
		if (c->kind == MF_COL_CATEGORICAL)
			c->str = MfGrow(c->str, ds->cap, sizeof(char *));
	}
	if (ds->target != NULL)
	{
		ds->y_num = MfGrow(ds->y_num, ds->cap, sizeof(double));
		if (ds->classify && !ds->target_by_value)
			ds->y_str = MfGrow(ds->y_str, ds->cap, sizeof(char *));
	}
}

/* The state of the receiver that appends the source's rows to a data set. */
typedef struct MfReceiver
{
	DestReceiver pub;
	MfDataset  *ds;
	MemoryContext datactx;
	const char *source;
	json_t	   *features;
	bool		from_schema;
	/* numeric and boolean columns, in the order of a row of ds->num */
	int		   *num_att;		/* 0-based attribute numbers */
	Oid		   *num_typ;
	MfColumn  **num_col;
	bool		all_float8;
	/* categorical columns */
	int			ncat;
	MfColumn  **cat_col;
} MfReceiver;

/* Target types whose text is a function of the value as double. */
static bool
MfLabelByValue(Oid typid)
{
	return typid == BOOLOID || typid == INT2OID || typid == INT4OID ||
		typid == FLOAT4OID || typid == FLOAT8OID;
}

/* Label text of the value v of a target typed as MfLabelByValue allows. */
char *
MfValueLabel(const MfDataset *ds, double v)
{
	Datum		d;

	switch (ds->target_typid)
	{
		case BOOLOID:
			d = BoolGetDatum(v != 0.0);
			break;
		case INT2OID:
			d = Int16GetDatum((int16) v);
			break;
		case INT4OID:
			d = Int32GetDatum((int32) v);
			break;
		case FLOAT4OID:
			d = Float4GetDatum((float4) v);
			break;
		default:
			d = Float8GetDatum(v == 0.0 ? 0.0 : v);	/* -0 and 0 are one label */
			break;
	}
	return OutputFunctionCall((FmgrInfo *) &ds->target_outfn, d);
}

/*
 * Give every row its label text in ds->y_str (labels read by value have
 * none yet; only the rare paths that need them per row come here).
 */
void
MfTargetTexts(MfDataset *ds)
{
	if (ds->y_str != NULL)
		return;
	ds->y_str = MfHugeAlloc(Max(ds->n, 1) * sizeof(char *));
	for (size_t r = 0; r < ds->n; r++)
		ds->y_str[r] = MfValueLabel(ds, ds->y_num[r]);
}

/* Raise 22000 for a non-finite value of a feature column. */
static void
MfNonFinite(const MfColumn *c, size_t r, double v)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("column \"%s\" contains a non-finite value", c->name),
			 errdetail("Row %zu has %g.", r + 1, v),
			 errhint("Filter out NaN and infinity, or replace them by NULL to impute.")));
}

/* Record that row r of column c is NULL. */
static void
MfSetNull(MfDataset *ds, MfColumn *c, size_t r)
{
	if (c->isnull == NULL)
		c->isnull = MfZeroedBools(ds->cap);	/* first NULL of the column */
	c->isnull[r] = true;
}

/* Append one row (all attributes deformed) to the data set. */
static void
MfAddRow(MfReceiver *rcv, const Datum *values, const bool *nulls)
{
	MfDataset  *ds = rcv->ds;
	size_t		r = ds->n;
	double	   *out;

	MfEnsureRow(ds);
	out = ds->num + r * ds->nnum;
	for (size_t k = 0; k < ds->nnum; k++)
	{
		int			a = rcv->num_att[k];
		double		v;

		if (unlikely(nulls[a]))
		{
			MfSetNull(ds, rcv->num_col[k], r);
			v = 0.0;
		}
		else if (rcv->all_float8)
			v = DatumGetFloat8(values[a]);
		else
			v = MfDatumToDouble(values[a], rcv->num_typ[k]);
		if (unlikely(!isfinite(v)))
			MfNonFinite(rcv->num_col[k], r, v);
		out[k] = v;
	}
	for (int k = 0; k < rcv->ncat; k++)
	{
		MfColumn   *c = rcv->cat_col[k];
		int			a = c->attno - 1;

		if (nulls[a])
		{
			MfSetNull(ds, c, r);
			c->str[r] = NULL;
		}
		else
			c->str[r] = OutputFunctionCall(&c->outfn, values[a]);
	}
	if (ds->target != NULL)
	{
		int			a = ds->target_attno - 1;
		Datum		d = values[a];

		if (nulls[a])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("target column \"%s\" contains NULL", ds->target),
					 errdetail("Row %zu.", r + 1),
					 errhint("Filter the rows: WHERE %s IS NOT NULL.", quote_identifier(ds->target))));
		ds->y_num[r] = ds->target_numeric ? MfDatumToDouble(d, ds->target_typid) : 0.0;
		if (ds->target_numeric && !isfinite(ds->y_num[r]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("target column \"%s\" contains a non-finite value", ds->target),
					 errdetail("Row %zu has %g.", r + 1, ds->y_num[r])));
		if (ds->y_str != NULL)
			ds->y_str[r] = OutputFunctionCall(&ds->target_outfn, d);
	}
	ds->n++;
}

/*
 * Receiver start-up: resolve the columns against the result's descriptor
 * and lay out a row of ds->num (numeric and boolean columns in order).
 */
static void
MfRecvStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	MfReceiver *rcv = (MfReceiver *) self;
	MfDataset  *ds = rcv->ds;
	MemoryContext old = MemoryContextSwitchTo(rcv->datactx);

	MfResolveColumns(ds, typeinfo, rcv->source, rcv->features, rcv->from_schema);
	ds->target_by_value = ds->classify && ds->target_numeric &&
		MfLabelByValue(ds->target_typid);
	rcv->num_att = palloc(sizeof(int) * Max(ds->ncols, 1));
	rcv->num_typ = palloc(sizeof(Oid) * Max(ds->ncols, 1));
	rcv->num_col = palloc(sizeof(MfColumn *) * Max(ds->ncols, 1));
	rcv->cat_col = palloc(sizeof(MfColumn *) * Max(ds->ncols, 1));
	rcv->all_float8 = true;
	ds->nnum = 0;
	rcv->ncat = 0;
	for (int i = 0; i < ds->ncols; i++)
	{
		MfColumn   *c = &ds->cols[i];

		if (c->kind == MF_COL_CATEGORICAL)
		{
			c->num_pos = -1;
			rcv->cat_col[rcv->ncat++] = c;
			continue;
		}
		c->num_pos = (int) ds->nnum;
		rcv->num_att[ds->nnum] = c->attno - 1;
		rcv->num_typ[ds->nnum] = c->typid;
		rcv->num_col[ds->nnum] = c;
		rcv->all_float8 &= c->typid == FLOAT8OID;
		ds->nnum++;
	}
	MemoryContextSwitchTo(old);
}

/* Receive one row: deform it and append its values. */
static bool
MfRecvSlot(TupleTableSlot *slot, DestReceiver *self)
{
	MfReceiver *rcv = (MfReceiver *) self;
	MemoryContext old;

	slot_getallattrs(slot);
	old = MemoryContextSwitchTo(rcv->datactx);
	MfAddRow(rcv, slot->tts_values, slot->tts_isnull);
	MemoryContextSwitchTo(old);
	if (rcv->ds->n % MF_CHECK_ROWS == 0)
		CHECK_FOR_INTERRUPTS();
	return true;
}

/* Receiver shutdown: nothing to release (everything lives in datactx). */
static void
MfRecvShutdown(DestReceiver *self)
{
}

/* Receiver destruction: the receiver lives on the caller's stack. */
static void
MfRecvDestroy(DestReceiver *self)
{
}

/*
 * Read the source into ds (allocations in the current memory context).
 * With from_schema, ds->cols already holds the columns to read.
 */
void
MfReadSource(MfDataset *ds, const char *source, const char *target,
			 json_t *features, int64 max_rows, bool classify, bool from_schema)
{
	MfReceiver	rcv;
	SPIPrepareOptions popts;
	SPIExecuteOptions opts;
	SPIPlanPtr	plan;
	char	   *query;
	int			rc;
	MfRunAs		runas;

	ds->target = target ? pstrdup(target) : NULL;
	ds->classify = classify;
	memset(&rcv, 0, sizeof(rcv));
	rcv.pub.receiveSlot = MfRecvSlot;
	rcv.pub.rStartup = MfRecvStartup;
	rcv.pub.rShutdown = MfRecvShutdown;
	rcv.pub.rDestroy = MfRecvDestroy;
	rcv.pub.mydest = DestNone;
	rcv.ds = ds;
	rcv.datactx = CurrentMemoryContext;
	rcv.source = source;
	rcv.features = features;
	rcv.from_schema = from_schema;
	memset(&opts, 0, sizeof(opts));
	opts.read_only = true;
	opts.dest = &rcv.pub;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * The source is its author's SQL: it is resolved, planned and run with
	 * exactly the author's rights and search_path (privileges.c), and every
	 * setting it changes is undone before we go on.  The split and the
	 * artifact depend on the order of the rows, which must be the same on
	 * every run: so no parallel plan (no CURSOR_OPT_PARALLEL_OK, which
	 * SPI_execute would set), and no synchronized scan, which starts a large
	 * table wherever another (or an earlier, unfinished) scan of it was.
	 */
	MfRunAsBegin(&runas, ds->author, ds->author_path);
	(void) set_config_option("synchronize_seqscans", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	query = psprintf("SELECT * FROM %s%s", MfSourceFromItem(source),
					 max_rows > 0 ? psprintf(" LIMIT " INT64_FORMAT, max_rows) : "");
	memset(&popts, 0, sizeof(popts));
	plan = SPI_prepare_extended(query, &popts);
	if (plan == NULL)
		elog(ERROR, "could not plan the training source: %s", SPI_result_code_string(SPI_result));
	if (ds->refuse_temp)
		MfRefuseTemp(plan, source);
	rc = SPI_execute_plan_extended(plan, &opts);
	MfRunAsEnd(&runas);
	if (rc < 0)
		elog(ERROR, "could not read the training source: %s", SPI_result_code_string(rc));
	SPI_finish();
	if (ds->cols == NULL && !from_schema)
		elog(ERROR, "the training source returned no row description");
	if (ds->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the training source has no rows"),
				 errdetail("Source: %s.", source)));
}
