/*
 * drift.h - statistics of data drift: histogram edges from quantiles, the
 * population stability index (PSI) and the two-sample Kolmogorov-Smirnov
 * statistic.  Pure C11, no allocation, no PostgreSQL.
 *
 * Design note
 * -----------
 * A numeric feature's reference is a histogram of the training rows over
 * fixed bins whose interior edges are the training deciles (quantiles
 * k/10, k = 1..9, linear interpolation between order statistics like
 * numpy's default; repeated edges dropped, so a feature with few distinct
 * values has fewer bins) and the counts are of every training row, or of a
 * seeded simple random sample of MF_DRIFT_EDGE_SAMPLE rows when there are
 * more (the deciles found by selection, no sort).  Bin i holds the values x with
 * edges[i-1] < x <= edges[i] (bin 0 is (-inf, edges[0]], the last bin
 * (edges[last], +inf)).  NULLs are a bin of their own in the PSI.
 *
 * PSI = sum over bins of (q - p) * ln(q / p), p the reference share and q
 * the current share of a bin; an empty bin would make it infinite, so every
 * share below MF_DRIFT_PSI_EPSILON (1e-4) counts as 1e-4 (the shares are not
 * renormalised).  Thresholds (the common rule of thumb): below 0.1 "ok",
 * below 0.25 "warning", else "drift".
 *
 * KS is the largest distance between the two empirical CDFs, evaluated at
 * every value of either sample (ties handled as scipy.stats.ks_2samp does:
 * both CDFs include every value equal to the point), on sorted inputs.
 * The reference sample of a feature is every training value when there are
 * at most MF_DRIFT_SAMPLE_MAX of them (then KS is the exact two-sample
 * statistic against the training data), else a seeded simple random sample
 * of MF_DRIFT_SAMPLE_MAX of them (mf_drift_sample).
 */
#ifndef MF_DRIFT_H
#define MF_DRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mf_kernels.h"

#define MF_DRIFT_BINS 10
#define MF_DRIFT_SAMPLE_MAX 1000
#define MF_DRIFT_EDGE_SAMPLE 20000	/* rows a numeric reference comes from, at most */
#define MF_DRIFT_SAMPLE_SEED 20261205
#define MF_DRIFT_MAX_CATEGORIES 100
#define MF_DRIFT_MAX_VALUE 200		/* bytes of a stored category; longer: "other" */
#define MF_DRIFT_PSI_EPSILON 1e-4
#define MF_DRIFT_PSI_WARNING 0.1
#define MF_DRIFT_PSI_DRIFT 0.25

/*
 * Interior edges of nbins quantile bins of sorted[0..n) into edges (room for
 * nbins - 1), strictly increasing; returns how many (0 when n == 0).
 */
extern size_t mf_drift_edges(const double *sorted, size_t n, int nbins, double *edges);

/*
 * The same edges from unsorted values v[0..n) in expected linear time
 * (selection, no sort); v is permuted.  Equal to mf_drift_edges on the
 * sorted values, bit for bit.
 */
extern size_t mf_drift_edges_unsorted(double *v, size_t n, int nbins, double *edges);

/* The k-th smallest of a[0..n) (0-based), a partitioned around it. */
extern double mf_drift_select(double *a, size_t n, size_t k);

/*
 * Histograms of several columns of a row-major matrix X (n rows of p) in
 * one pass over its rows: column cols[k] over edges[k * MF_DRIFT_BINS ..]
 * (n_edges[k] of them) into counts[k * MF_DRIFT_BINS ..] (n_edges[k] + 1
 * bins), leaving out row r when skip[k] != NULL and skip[k][r].  A bin is
 * the number of edges below the value (mf_drift_bin), without branches.
 */
extern void mf_drift_histograms(const double *X, size_t n, size_t p, const size_t *cols,
								size_t ncols, const bool *const *skip, const double *edges,
								const size_t *n_edges, int64_t *counts);

/* The bin of x over n_edges interior edges: 0..n_edges. */
extern size_t mf_drift_bin(const double *edges, size_t n_edges, double x);

/*
 * PSI of current counts cur[0..k) against reference counts ref[0..k) (the
 * same bins); NaN when either total is 0.
 */
extern double mf_drift_psi(const double *ref, const double *cur, size_t k, double eps);

/* Two-sample KS statistic of sorted a[0..na) and sorted b[0..nb); NaN if one is empty. */
extern double mf_drift_ks(const double *a, size_t na, const double *b, size_t nb);

/* "ok", "warning" or "drift" for a PSI (NULL for NaN). */
extern const char *mf_drift_status(double psi);

/*
 * Choose k of the indexes 0..n-1 uniformly (selection sampling, Knuth's
 * algorithm S), ascending, into out[0..k); k >= n takes them all.
 * Returns how many were taken.
 */
extern size_t mf_drift_sample(MfRng *rng, size_t n, size_t k, size_t *out);

#endif							/* MF_DRIFT_H */
