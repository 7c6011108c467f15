/*
 * moments.h - column means and variances of selected rows of a row-major
 * matrix, in one pass over memory.  Pure C11, no allocation.
 *
 * The rows are taken in blocks of MF_MOMENTS_BLOCK: each block's means and
 * sums of squared deviations come from two sweeps over the block while it
 * is in cache, summing deviations from a pivot (the first row, so that
 * large offsets cancel before anything is summed), and blocks are merged with the pairwise update of Chan,
 * Golub and LeVeque: as accurate as a two-pass over all rows.
 * Summation order is fixed by the row order alone: same input, same bits.
 */
#ifndef MF_MOMENTS_H
#define MF_MOMENTS_H

#include <stddef.h>

#define MF_MOMENTS_BLOCK 256

/*
 * Means (mean[p]) and sums of squared deviations (m2[p]) of the columns of
 * rows idx[0..n) (rows 0..n-1 when idx is NULL) of the row-major matrix X
 * with p columns; scratch holds 2 p doubles.  n == 0 gives 0s.  Returns 0,
 * or -1 for bad arguments.
 */
extern int	mf_row_moments(const double *X, size_t p, const size_t *idx, size_t n,
						   double *mean, double *m2, double *scratch);

#endif							/* MF_MOMENTS_H */
