/*
 * evaluate.h - the metrics of a trained model on encoded rows (evaluate.c)
 * or on texts (evaluate_text.c), for training (the stored metrics) and
 * mf_evaluate() alike.  Includes
 * mf_kernels.h (through model_pg.h), so never mf_config.h.
 */
#ifndef MF_EVALUATE_H
#define MF_EVALUATE_H

#include "model_pg.h"
#include "train.h"

/* Metrics of tm on the scaled rows X (n x p) with the targets of ds rows idx. */
extern json_t *MfModelMetrics(const MfTrainedModel *tm, const MfDataset *ds,
							  const double *X, const size_t *idx, size_t n);

/* Classification metrics of predictions (yp, proba n x K) against yt, into out. */
extern void MfClassReportJson(const int *yt, const int *yp, const double *proba,
							  size_t n, int K, char **labels, json_t *out);

/* evaluate_text.c: a transformer artifact on the text column of a source. */
extern json_t *MfEvaluateText(MfDataset *ds, const void *data, size_t len,
							  const char *source, const char *target);

#endif							/* MF_EVALUATE_H */
