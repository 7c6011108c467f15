/*
 * predict_text.c - SQL functions of transformer text models:
 *   mf_predict(ref, text), mf_predict_label(ref, text), mf_predict_proba(ref, text)
 *       an encoder classifier on one text (and, through predict.c's per-row
 *       forms, on a record: its text column is read by the name training saw);
 *   mf_generate(ref, prompt, options)  decoders and encoder-decoders;
 *   mf_embed(ref, input)               the pooled encoder output.
 * Models come from the per-backend cache (model_cache.c), which loads a
 * transformer artifact with text_model.c; each call resolves its reference
 * (the mf_reader check included).  Every function refuses a model of the
 * wrong kind with 42809 (wrong_object_type) naming the function to use.
 */
#include "postgres.h"

#include "mf_core.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "predict.h"
#include "text_model.h"

/* 42809 unless m is a text model of one of the tasks (a bit mask of MfTfTask). */
static MfTextModel *
MfRequireText(MfPredModel *m, unsigned tasks, const char *fn, const char *hint)
{
	if (m->text == NULL || !(tasks & (1u << m->text->art.task)))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s cannot use model \"%s\"", fn, m->ref),
				 errdetail("It is a %s.", m->text != NULL ?
						   psprintf("transformer model (task %s)", mf_tf_task_name(m->text->art.task)) :
						   psprintf("%s model", mf_artifact_family_name(m->tm.meta.family))),
				 errhint("%s", hint)));
	return m->text;
}

/* The other prediction forms refuse text models (their input is numbers or JSON features). */
MfPredModel *
MfPredRequireTabular(MfPredModel *m, const char *fn)
{
	if (unlikely(m->text != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s cannot use model \"%s\"", fn, m->ref),
				 errdetail("It is a transformer model (task %s), which reads text.", mf_tf_task_name(m->text->art.task)),
				 errhint("Pass the text: mf_predict(ref, text), mf_generate(ref, prompt) or mf_embed(ref, text).")));
	return m;
}

/* The model of a reference (resolved per call). */
static MfPredModel *
MfTextModelFor(text *ref)
{
	MfPredResolved r;

	MfPredResolve(ref, &r);
	return MfPredGetModel(&r);
}

/* A classifier's answer for one text as what. */
static Datum
MfTextAnswer(FunctionCallInfo fcinfo, MfPredModel *m, const char *s, size_t len, MfPredWhat what)
{
	MfTextModel *tm = MfRequireText(m, 1u << MF_TF_TASK_CLASSIFICATION,
									what == MF_PRED_PROBA ? "mf_predict_proba()" :
									what == MF_PRED_LABEL ? "mf_predict_label()" : "mf_predict()",
									"Generative models answer mf_generate(ref, prompt); encoders mf_embed(ref, text).");
	double	   *proba = palloc(sizeof(double) * tm->art.n_labels);
	int			k = MfTextClassify(tm, s, len, proba);
	Datum	   *d;

	if (what == MF_PRED_VALUE)
		PG_RETURN_FLOAT8(tm->labels_numeric ? tm->label_values[k] : (double) k);
	if (what == MF_PRED_LABEL)
		PG_RETURN_TEXT_P(cstring_to_text(tm->art.labels[k]));
	d = palloc(sizeof(Datum) * tm->art.n_labels);
	for (int i = 0; i < tm->art.n_labels; i++)
		d[i] = Float8GetDatum(proba[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, tm->art.n_labels, FLOAT8OID, sizeof(float8),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* The text of a Datum of any type (text types directly, others through their output function). */
static char *
MfDatumText(Datum d, Oid typid)
{
	Oid			fn;
	bool		varlena;

	if (typid == TEXTOID || typid == VARCHAROID || typid == BPCHAROID)
		return TextDatumGetCString(d);
	getTypeOutputInfo(typid, &fn, &varlena);
	return OidOutputFunctionCall(fn, d);
}

/* 42703 when the input row has no column named as the model's text. */
static void
MfNoTextColumn(const MfPredModel *m)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("column \"%s\" does not exist in the input row", m->text->art.text_column),
			 errdetail("Model \"%s\" reads the text column it was trained on by name.", m->ref),
			 errhint("Select or alias a column named \"%s\".", m->text->art.text_column)));
}

/* The text column of a record; NULL when the value is NULL. */
static char *
MfRecordText(const MfPredModel *m, HeapTupleHeader th)
{
	TupleDesc	td = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(th), HeapTupleHeaderGetTypMod(th));
	HeapTupleData tuple;
	char	   *out = NULL;
	int			a;

	for (a = 0; a < td->natts; a++)
		if (!TupleDescAttr(td, a)->attisdropped &&
			strcmp(NameStr(TupleDescAttr(td, a)->attname), m->text->art.text_column) == 0)
			break;
	if (a == td->natts)
	{
		ReleaseTupleDesc(td);
		MfNoTextColumn(m);
	}
	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&(tuple.t_self));
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;
	{
		bool		isnull;
		Datum		d = heap_getattr(&tuple, a + 1, td, &isnull);

		if (!isnull)
			out = MfDatumText(d, TupleDescAttr(td, a)->atttypid);
	}
	ReleaseTupleDesc(td);
	return out;
}

/* The text column of mf._predict_cols(ref, names, c1, ...); NULL when the value is NULL. */
static char *
MfColsText(FunctionCallInfo fcinfo, const MfPredModel *m)
{
	Datum	   *names;
	bool	   *nulls;
	int			n;

	if (PG_ARGISNULL(1))
		MfNoTextColumn(m);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &n);
	for (int a = 0; a < n && 2 + a < PG_NARGS(); a++)
		if (!nulls[a] && strcmp(TextDatumGetCString(names[a]), m->text->art.text_column) == 0)
			return PG_ARGISNULL(2 + a) ? NULL :
				MfDatumText(PG_GETARG_DATUM(2 + a), get_fn_expr_argtype(fcinfo->flinfo, 2 + a));
	MfNoTextColumn(m);
	return NULL;
}

/* The per-row forms on a text model: a record's (or the rewritten columns') text column. */
Datum
MfPredTextForm(FunctionCallInfo fcinfo, MfPredModel *m, MfPredInput in, MfPredWhat what)
{
	char	   *s;

	if (in == MF_IN_ARRAY || in == MF_IN_ARGS)
		MfPredRequireTabular(m, what == MF_PRED_PROBA ? "mf_predict_proba(text, float8[])" :
							 what == MF_PRED_LABEL ? "mf_predict_label(text, float8[])" :
							 "mf_predict(text, float8[])");
	(void) MfRequireText(m, 1u << MF_TF_TASK_CLASSIFICATION, "mf_predict()",
						 "Generative models answer mf_generate(ref, prompt).");
	s = in == MF_IN_RECORD ? MfRecordText(m, PG_GETARG_HEAPTUPLEHEADER(1)) : MfColsText(fcinfo, m);
	if (s == NULL)
		PG_RETURN_NULL();
	return MfTextAnswer(fcinfo, m, s, strlen(s), what);
}

/* The per-text SQL functions of classifiers (ref, text). */
#define MF_TEXT_FUNCTION(name, what) \
	PG_FUNCTION_INFO_V1(name); \
	Datum name(PG_FUNCTION_ARGS) \
	{ \
		text	   *t = PG_GETARG_TEXT_PP(1); \
		return MfTextAnswer(fcinfo, MfTextModelFor(PG_GETARG_TEXT_PP(0)), VARDATA_ANY(t), \
							VARSIZE_ANY_EXHDR(t), what); \
	}

/* mf_predict(ref, text): the class (its value when the labels are numbers, else its index) */
MF_TEXT_FUNCTION(mf_predict_text, MF_PRED_VALUE)
/* mf_predict_label(ref, text): the label */
MF_TEXT_FUNCTION(mf_predict_label_text, MF_PRED_LABEL)
/* mf_predict_proba(ref, text): the class probabilities, in label order */
MF_TEXT_FUNCTION(mf_predict_proba_text, MF_PRED_PROBA)

PG_FUNCTION_INFO_V1(mf_generate);

/* mf_generate(ref, prompt, options): text generated by a decoder or an encoder-decoder. */
Datum
mf_generate(PG_FUNCTION_ARGS)
{
	MfTextModel *tm = MfRequireText(MfTextModelFor(PG_GETARG_TEXT_PP(0)),
									1u << MF_TF_TASK_LANGUAGE_MODEL | 1u << MF_TF_TASK_SEQ2SEQ,
									"mf_generate()",
									"Classifiers answer mf_predict_label(ref, text); encoders mf_embed(ref, text).");
	text	   *prompt = PG_GETARG_TEXT_PP(1);
	MfTfGenOpts o;

	MfTextGenOptions(tm, PG_GETARG_JSONB_P(2), &o);
	PG_RETURN_TEXT_P(cstring_to_text(MfTextGenerate(tm, VARDATA_ANY(prompt), VARSIZE_ANY_EXHDR(prompt), &o)));
}

PG_FUNCTION_INFO_V1(mf_embed);

/* mf_embed(ref, input): the pooled, normed encoder output (d_model floats). */
Datum
mf_embed(PG_FUNCTION_ARGS)
{
	MfTextModel *tm = MfRequireText(MfTextModelFor(PG_GETARG_TEXT_PP(0)),
									1u << MF_TF_TASK_CLASSIFICATION | 1u << MF_TF_TASK_EMBEDDING,
									"mf_embed()", "Only encoder models embed; decoders answer mf_generate(ref, prompt).");
	text	   *input = PG_GETARG_TEXT_PP(1);
	size_t		d;
	float	   *v = MfTextEmbed(tm, VARDATA_ANY(input), VARSIZE_ANY_EXHDR(input), &d);
	Datum	   *out = palloc(sizeof(Datum) * d);

	for (size_t i = 0; i < d; i++)
		out[i] = Float4GetDatum(v[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, (int) d, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT));
}
