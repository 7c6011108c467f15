/*
 * evaluate.c - metrics of a trained model: the stored metrics of training
 * and mf_evaluate() / promotion on a source.
 *
 * Design note
 * -----------
 * A model is opened from its artifact bytes by the model module
 * (MfOpenTrainedModel) and scored by the module's batch scorer
 * (mf_trained_model_score_batch_scaled: the kernels' blocked paths, the
 * class as the first largest probability), the same code mf_predict_batch
 * runs; only the rows come from here, encoded and scaled by training's
 * encoder with the artifact's stored schema (features.c).  Training scores
 * the artifact it has just written through the same function, so
 * evaluating exactly its test rows reproduces the stored metrics bit for
 * bit.  Transformer artifacts are evaluated on their text column by
 * evaluate_text.c.  Everything is palloc'd in the caller's memory context.
 */
#include "postgres.h"

#include "mf_core.h"

#include "evaluate.h"
#include "metrics.h"

/* Raise for a metric failure. */
static void
MfMetricCheck(MfMetricErr err)
{
	if (err != MF_METRIC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("could not compute metrics: %s", mf_metrics_strerror(err))));
}

/* Score n scaled rows: values, indexes and probabilities (each may be NULL). */
static void
MfScoreRows(const MfTrainedModel *tm, const double *X, size_t n, double *values,
			int *indexes, double *proba)
{
	MfEnv		env = MfKernelEnv();
	MfModelError err;

	if (values == NULL)
		values = MfHugeAlloc(mul_size(Max(n, 1), sizeof(double)));
	if (mf_trained_model_score_batch_scaled(tm, &env, X, n, values, indexes, proba,
											&err) != MF_MODEL_OK)
		MfModelRaise(&err, "predicting");
}

/* Clustering metrics: inertia of the rows' nearest centres. */
static void
MfClusterMetrics(const MfTrainedModel *tm, const double *X, size_t n, json_t *out)
{
	const MfModelMeta *mm = &tm->meta;
	int		   *assign = MfHugeAlloc(mul_size(Max(n, 1), sizeof(int)));
	double		inertia;

	MfScoreRows(tm, X, n, NULL, assign, NULL);
	MfMetricCheck(mf_metrics_inertia(X, n, mm->p, mm->centers, mm->k, assign, &inertia));
	json_object_set_new(out, "inertia", json_real(inertia));
	json_object_set_new(out, "mean_inertia", json_real(inertia / n));
}

/* The confusion matrix and the labels as JSON. */
static void
MfConfusionJson(const int64 *cm, int K, char **labels, json_t *out)
{
	json_t	   *cmj = json_array();
	json_t	   *lj = json_array();

	for (int r = 0; r < K; r++)
	{
		json_t	   *row = json_array();

		for (int c = 0; c < K; c++)
			json_array_append_new(row, json_integer(cm[r * K + c]));
		json_array_append_new(cmj, row);
		json_array_append_new(lj, json_string(labels[r]));
	}
	json_object_set_new(out, "confusion_matrix", cmj);
	json_object_set_new(out, "labels", lj);
}

/*
 * Classification metrics of the predicted classes yp and probabilities
 * proba (n x K) against the true classes yt: accuracy, macro precision,
 * recall and F1, log loss, ROC AUC (two classes), the confusion matrix and
 * the labels.  Tabular and text classifiers report through this one.
 */
void
MfClassReportJson(const int *yt, const int *yp, const double *proba, size_t n,
				  int K, char **labels, json_t *out)
{
	int64	   *cm = palloc0(sizeof(int64) * K * K);
	MfClassReport rep;
	double		ll;

	MfMetricCheck(mf_metrics_confusion(yt, yp, n, K, cm));
	MfMetricCheck(mf_metrics_class_report(cm, K, &rep));
	MfMetricCheck(mf_metrics_log_loss(yt, proba, n, K, &ll));
	json_object_set_new(out, "accuracy", json_real(rep.accuracy));
	json_object_set_new(out, "precision", json_real(rep.precision));
	json_object_set_new(out, "recall", json_real(rep.recall));
	json_object_set_new(out, "f1", json_real(rep.f1));
	json_object_set_new(out, "log_loss", json_real(ll));
	if (K == 2)
	{
		double	   *score = MfHugeAlloc(mul_size(Max(n, 1), sizeof(double)));
		size_t	   *scratch = MfHugeAlloc(mul_size(Max(n, 1), sizeof(size_t)));
		double		auc;
		bool		avail;

		for (size_t i = 0; i < n; i++)
			score[i] = proba[i * 2 + 1];
		MfMetricCheck(mf_metrics_roc_auc(yt, score, n, scratch, &auc, &avail));
		json_object_set_new(out, "roc_auc", avail ? json_real(auc) : json_null());
	}
	MfConfusionJson(cm, K, labels, out);
}

/* Classification metrics against the labels of ds rows idx. */
static void
MfClassMetrics(const MfTrainedModel *tm, const MfDataset *ds, const double *X,
			   const size_t *idx, size_t n, json_t *out)
{
	int			K = tm->meta.n_labels;
	double	   *proba = MfHugeAlloc(mul_size(mul_size(Max(n, 1), K), sizeof(double)));
	int		   *yt = MfHugeAlloc(mul_size(Max(n, 1), sizeof(int)));
	int		   *yp = MfHugeAlloc(mul_size(Max(n, 1), sizeof(int)));

	MfScoreRows(tm, X, n, NULL, yp, proba);
	for (size_t i = 0; i < n; i++)
		yt[i] = ds->y_class[idx[i]];
	MfClassReportJson(yt, yp, proba, n, K, ds->labels, out);
}

/* Regression metrics against the targets of ds rows idx. */
static void
MfRegressionMetrics(const MfTrainedModel *tm, const MfDataset *ds, const double *X,
					const size_t *idx, size_t n, json_t *out)
{
	double	   *pred = MfHugeAlloc(mul_size(Max(n, 1), sizeof(double)));
	double	   *yt = MfHugeAlloc(mul_size(Max(n, 1), sizeof(double)));
	MfRegressionReport rep;

	MfScoreRows(tm, X, n, pred, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		yt[i] = ds->y_num[idx[i]];
	MfMetricCheck(mf_metrics_regression(yt, pred, n, &rep));
	json_object_set_new(out, "r2", json_real(rep.r2));
	json_object_set_new(out, "mse", json_real(rep.mse));
	json_object_set_new(out, "rmse", json_real(rep.rmse));
	json_object_set_new(out, "mae", json_real(rep.mae));
}

/* Metrics of tm on the scaled rows X (n x p) with the targets of ds rows idx. */
json_t *
MfModelMetrics(const MfTrainedModel *tm, const MfDataset *ds, const double *X,
			   const size_t *idx, size_t n)
{
	json_t	   *out = json_pack("{}");

	if (tm->meta.family == MF_ART_FAMILY_KMEANS)
		MfClusterMetrics(tm, X, n, out);
	else if (tm->meta.classify)
		MfClassMetrics(tm, ds, X, idx, n, out);
	else
		MfRegressionMetrics(tm, ds, X, idx, n, out);
	return out;
}

/* Evaluate an artifact on a source: the metrics of training. */
json_t *
MfEvaluateArtifact(MfDataset *ds, const void *data, size_t len,
				   const char *source, const char *target)
{
	return MfEvaluateArtifactSplit(ds, data, len, source, target, NULL);
}

/* Read and encode the rows of source with the model's stored schema. */
static void
MfEvaluationRows(MfDataset *ds, const MfTrainedModel *tm, const char *source,
				 const char *target)
{
	const MfModelMeta *mm = &tm->meta;
	bool		kmeans = mm->family == MF_ART_FAMILY_KMEANS;

	MfSchemaFromMeta(ds, mm);
	MfCheckTarget(mf_artifact_family_name(mm->family), target);
	MfReadSource(ds, source, kmeans ? NULL : target, NULL, 0, mm->classify, true);
	if (mm->classify)
		MfLabelsFromSchema(ds);
	MfEncodeWithSchema(ds, mm);
}

/*
 * Evaluate an artifact on a source, on every row (split NULL) or on the test
 * rows of the split training makes with the same test_size, seed and
 * stratification (the same rows when the source and the labels are the same).
 */
json_t *
MfEvaluateArtifactSplit(MfDataset *ds, const void *data, size_t len,
						const char *source, const char *target, const MfEvalSplit *split)
{
	MfTrainedModel tm;
	size_t	   *idx;
	size_t		n;
	json_t	   *out;

	if (MfArtifactFamily(data, len) == MF_ART_FAMILY_TRANSFORMER)
	{
		if (split != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("transformer models cannot be evaluated on a held-out split yet"),
					 errdetail("The promotion of retrained versions scores tabular models only."),
					 errhint("The test-split metrics of training are in mf.catalog.metrics; "
							 "mf_evaluate(ref, source, target) scores a transformer on any rows.")));
		return MfEvaluateText(ds, data, len, source, target);
	}
	MfOpenTrainedModel(data, len, &tm);
	MfEvaluationRows(ds, &tm, source, target);
	if (split != NULL)
	{
		size_t	   *train,
					n_train;

		MfSplit(ds, split->test_size, split->seed,
				split->stratify < 0 ? tm.meta.classify : split->stratify != 0,
				&train, &n_train, &idx, &n);
		out = MfModelMetrics(&tm, ds, MfEncodeRows(ds, idx, n), idx, n);
	}
	else
	{
		n = ds->n;
		idx = MfHugeAlloc(mul_size(Max(n, 1), sizeof(size_t)));
		for (size_t i = 0; i < n; i++)
			idx[i] = i;
		out = MfModelMetrics(&tm, ds, ds->X, idx, n);
	}
	json_object_set_new(out, "rows", json_integer(n));
	return out;
}
