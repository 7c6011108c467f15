/*
 * evaluate.h - the metrics of a trained model on encoded rows (evaluate.c),
 * for training (the stored metrics) and mf_evaluate() alike.  Includes
 * mf_kernels.h (through model_pg.h), so never mf_config.h.
 */
#ifndef MF_EVALUATE_H
#define MF_EVALUATE_H

#include "model_pg.h"
#include "train.h"

/* Metrics of tm on the scaled rows X (n x p) with the targets of ds rows idx. */
extern json_t *MfModelMetrics(const MfTrainedModel *tm, const MfDataset *ds,
							  const double *X, const size_t *idx, size_t n);

#endif							/* MF_EVALUATE_H */
