/*
 * metrics.h - evaluation metrics for classification, regression and
 * clustering.  Pure C11 functions over plain arrays; nothing allocates
 * (ROC AUC sorts through a scratch array supplied by the caller).
 *
 * Conventions follow scikit-learn so that results can be checked against
 * it:
 *   - class labels are ints 0..k-1; predicted probabilities are n x k
 *     row-major; the confusion matrix is k x k row-major with rows = true
 *     class and columns = predicted class;
 *   - macro precision / recall / F1 average the per-class values over the
 *     classes that occur in y_true or y_pred (scikit-learn's labels=None);
 *     a class never predicted has precision 0 and a class that never occurs
 *     has recall 0 (zero_division=0); F1 = 2 tp / (2 tp + fp + fn);
 *   - ROC AUC (binary, labels 0/1, scores for class 1) gives tied scores
 *     half credit, which equals the trapezoidal area under the ROC curve
 *     (roc_auc_score); with only one class present it is not available;
 *   - log loss clips the probability of the true class to [eps, 1 - eps]
 *     with eps = MF_METRICS_LOG_LOSS_EPS = 1e-15 (scikit-learn's eps before
 *     1.2; since 1.2 it clips at the float64 machine epsilon, 2.2e-16, which
 *     differs only for a true-class probability below 1e-15).  Rows are not
 *     renormalised: pass probabilities that sum to 1.  A NaN anywhere in a
 *     row is an error;
 *   - r2 = 1 - SS_res / SS_tot; when y_true is constant (SS_tot == 0) it is
 *     1 for a perfect prediction and 0 otherwise (scikit-learn's
 *     force_finite=True).
 */
#ifndef MF_METRICS_H
#define MF_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MF_METRICS_LOG_LOSS_EPS 1e-15

typedef enum MfMetricErr
{
	MF_METRIC_OK = 0,
	MF_METRIC_ERR_ARG,			/* NULL array, k < 1, ... */
	MF_METRIC_ERR_EMPTY,		/* no samples */
	MF_METRIC_ERR_LABEL,		/* a label or assignment outside 0..k-1 */
	MF_METRIC_ERR_NOT_FINITE	/* NaN (or infinity where not allowed) */
} MfMetricErr;

/* Summary of a classification. */
typedef struct MfClassReport
{
	double		accuracy;
	double		precision;		/* macro average */
	double		recall;			/* macro average */
	double		f1;				/* macro average of per-class F1 */
	int			n_classes;		/* classes averaged (seen in y_true or y_pred) */
} MfClassReport;

/* Summary of a regression. */
typedef struct MfRegressionReport
{
	double		r2;
	double		mse;
	double		rmse;
	double		mae;
} MfRegressionReport;

/* Lowercase description of an error code. */
extern const char *mf_metrics_strerror(MfMetricErr code);

/* Fraction of y_pred equal to y_true. */
extern MfMetricErr mf_metrics_accuracy(const int *y_true, const int *y_pred,
									   size_t n, double *out);

/* k x k confusion matrix (rows = true, columns = predicted) into cm. */
extern MfMetricErr mf_metrics_confusion(const int *y_true, const int *y_pred,
										size_t n, int k, int64_t *cm);

/* Accuracy and macro precision / recall / F1 from a confusion matrix. */
extern MfMetricErr mf_metrics_class_report(const int64_t *cm, int k,
										   MfClassReport *out);

/*
 * Binary ROC AUC of scores for class 1 (labels 0/1; scores may be +-inf,
 * not NaN).  scratch holds n indices.  *available is false (and *auc NaN)
 * when y_true has a single class.
 */
extern MfMetricErr mf_metrics_roc_auc(const int *y_true, const double *score,
									  size_t n, size_t *scratch,
									  double *auc, bool *available);

/* Mean negative log-likelihood of the true class (proba is n x k). */
extern MfMetricErr mf_metrics_log_loss(const int *y_true, const double *proba,
									   size_t n, int k, double *out);

/* r2, mse, rmse and mae of a regression. */
extern MfMetricErr mf_metrics_regression(const double *y_true,
										 const double *y_pred, size_t n,
										 MfRegressionReport *out);

/*
 * Sum of squared distances from each row of x (n x p) to its assigned
 * centre (centres is k x p, assign[i] in 0..k-1).
 */
extern MfMetricErr mf_metrics_inertia(const double *x, size_t n, size_t p,
									  const double *centres, int k,
									  const int *assign, double *out);

#endif							/* MF_METRICS_H */
