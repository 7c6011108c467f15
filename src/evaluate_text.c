/*
 * evaluate_text.c - mf_evaluate() of transformer text models: the rows of a
 * source scored by the version's artifact on the text column it was
 * trained on (read by name, as mf_predict reads a record).
 *
 * Design note
 * -----------
 * The source is read as for tabular evaluation (source.c, with the
 * caller's rights): one column, the model's text column (NULL reads as the
 * empty text, as in training), and for a classifier the target, mapped
 * onto the stored labels (an unknown label is an error, as for tabular
 * classifiers).  Then
 *   - an encoder classifier scores each text as mf_predict_proba(ref, text)
 *     does (text_model.c) and reports what tabular classifiers report
 *     (evaluate.c's MfClassReportJson): accuracy, precision, recall, f1,
 *     log_loss, roc_auc (two classes), confusion_matrix, labels;
 *   - a decoder language model takes no target: the mean cross-entropy per
 *     predicted token of each text laid out as training lays it out
 *     (bos + ids -> ids + eos), i.e. training's "loss", and its
 *     exponential, "perplexity", over every row;
 *   - an encoder-decoder reads its source column and a target text column
 *     (target, by default the one it was trained on): the same loss of each
 *     target given its source, laid out as training lays them out, with
 *     "perplexity" and training's "token_accuracy" (the logits' argmax);
 *   - encoders without a head have no metric here (0A000, with a hint).
 * Everything is palloc'd in the caller's (run) memory context.
 */
#include "postgres.h"

#include "mf_core.h"

#include <math.h>

#include "miscadmin.h"

#include "evaluate.h"
#include "text_model.h"

/* The text of row r ("" for NULL, as training reads it). */
static inline const char *
MfEvalText(const MfDataset *ds, size_t r)
{
	return ds->cols[0].str[r] != NULL ? ds->cols[0].str[r] : "";
}

/* Read the model's text column (and the target) of source into ds. */
static void
MfEvalTextRows(MfDataset *ds, const MfTextModel *tm, const char *source,
			   const char *target, bool classify)
{
	ds->ncols = 1;
	ds->cols = palloc0(sizeof(MfColumn));
	ds->cols[0].name = tm->art.text_column;
	ds->cols[0].kind = MF_COL_CATEGORICAL;
	MfReadSource(ds, source, target, NULL, 0, classify, true);
	if (classify)
	{
		ds->n_labels = tm->art.n_labels;
		ds->labels = tm->art.labels;
		MfLabelsFromSchema(ds);
	}
}

/* Read an encoder-decoder's source column and the target text column of source into ds. */
static void
MfEvalPairRows(MfDataset *ds, const MfTextModel *tm, const char *source, const char *target)
{
	ds->ncols = 2;
	ds->cols = palloc0(2 * sizeof(MfColumn));
	ds->cols[0].name = tm->art.source_column;
	ds->cols[1].name = target != NULL ? pstrdup(target) : tm->art.target_column;
	ds->cols[1].named_by = target != NULL ? "target" : NULL;
	ds->cols[0].kind = ds->cols[1].kind = MF_COL_CATEGORICAL;
	MfReadSource(ds, source, NULL, NULL, 0, false, true);
}

/* An encoder classifier on every row: the classification metrics. */
static json_t *
MfEvalTextClassifier(MfDataset *ds, MfTextModel *tm)
{
	int			K = tm->art.n_labels;
	size_t		n = ds->n;
	double	   *proba = MfHugeAlloc(mul_size(mul_size(Max(n, 1), K), sizeof(double)));
	int		   *yp = MfHugeAlloc(mul_size(Max(n, 1), sizeof(int)));
	json_t	   *out = json_pack("{s:s}", "task", mf_tf_task_name(tm->art.task));

	for (size_t r = 0; r < n; r++)
	{
		const char *t = MfEvalText(ds, r);

		CHECK_FOR_INTERRUPTS();
		yp[r] = MfTextClassify(tm, t, strlen(t), proba + r * K);
	}
	MfClassReportJson(ds->y_class, yp, proba, n, K, tm->art.labels, out);
	return out;
}

/* A decoder language model on every row: loss per token and perplexity. */
static json_t *
MfEvalTextLm(MfDataset *ds, MfTextModel *tm)
{
	double		loss = 0.0;
	size_t		tokens = 0;
	json_t	   *out = json_pack("{s:s}", "task", mf_tf_task_name(tm->art.task));

	for (size_t r = 0; r < ds->n; r++)
	{
		size_t		t;

		CHECK_FOR_INTERRUPTS();
		loss += MfTextTokenLoss(tm, MfEvalText(ds, r), &t);
		tokens += t;
	}
	if (tokens > 0)
	{
		json_object_set_new(out, "loss", json_real(loss / (double) tokens));
		json_object_set_new(out, "perplexity", json_real(exp(loss / (double) tokens)));
	}
	json_object_set_new(out, "tokens", json_integer((json_int_t) tokens));
	return out;
}

/* An encoder-decoder on every row: loss per target token, perplexity, token accuracy. */
static json_t *
MfEvalTextPairs(MfDataset *ds, MfTextModel *tm)
{
	double		loss = 0.0;
	size_t		tokens = 0,
				right = 0;
	json_t	   *out = json_pack("{s:s}", "task", mf_tf_task_name(tm->art.task));

	for (size_t r = 0; r < ds->n; r++)
	{
		const char *src = ds->cols[0].str[r] != NULL ? ds->cols[0].str[r] : "";
		const char *tgt = ds->cols[1].str[r] != NULL ? ds->cols[1].str[r] : "";
		size_t		t,
					hit;

		CHECK_FOR_INTERRUPTS();
		loss += MfTextPairLoss(tm, src, tgt, &t, &hit);
		tokens += t;
		right += hit;
	}
	if (tokens > 0)
	{
		json_object_set_new(out, "loss", json_real(loss / (double) tokens));
		json_object_set_new(out, "perplexity", json_real(exp(loss / (double) tokens)));
		json_object_set_new(out, "token_accuracy", json_real((double) right / (double) tokens));
	}
	json_object_set_new(out, "tokens", json_integer((json_int_t) tokens));
	return out;
}

/* Evaluate a transformer artifact on the text column of source. */
json_t *
MfEvaluateText(MfDataset *ds, const void *data, size_t len, const char *source,
			   const char *target)
{
	MfArtifactView view;
	MfTextModel *tm;
	json_t	   *out;

	(void) MfOpenArtifactCopy(data, len, &view);	/* aligned, freed with the run */
	tm = MfTextModelOpen(&view, "the evaluated version");
	switch (tm->art.task)
	{
		case MF_TF_TASK_CLASSIFICATION:
			MfCheckTarget("transformer", target);
			MfEvalTextRows(ds, tm, source, target, true);
			out = MfEvalTextClassifier(ds, tm);
			break;
		case MF_TF_TASK_LANGUAGE_MODEL:
			if (target != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("a language model takes no target"),
						 errdetail("target is \"%s\".", target),
						 errhint("Pass NULL as target: the model is scored on its text column \"%s\".",
								 tm->art.text_column)));
			MfEvalTextRows(ds, tm, source, NULL, false);
			out = MfEvalTextLm(ds, tm);
			break;
		case MF_TF_TASK_SEQ2SEQ:
			MfEvalPairRows(ds, tm, source, target);
			out = MfEvalTextPairs(ds, tm);
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("transformer models of task %s cannot be evaluated on other rows",
							mf_tf_task_name(tm->art.task)),
					 errdetail("mf_evaluate() scores encoder classifiers, decoder language models and encoder-decoders; "
							   "an encoder without a head has no metric."),
					 errhint("mf_embed(ref, text) runs on any rows.")));
			out = NULL;			/* not reached */
	}
	json_object_set_new(out, "rows", json_integer((json_int_t) ds->n));
	return out;
}
