/*
 * lapack.h - the Fortran LAPACK routines the kernels call, as exported by
 * libopenblas (hidden string-length arguments last).  Declared once here
 * for kernels/linreg.c and for mf_core's OpenBLAS loader (src/blas_loader.c).
 */
#ifndef MF_LAPACK_H
#define MF_LAPACK_H

#include <stddef.h>

extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda,
					int *info, size_t uplo_len);
extern void dpotrs_(const char *uplo, const int *n, const int *nrhs,
					const double *a, const int *lda, double *b, const int *ldb,
					int *info, size_t uplo_len);
extern void dpocon_(const char *uplo, const int *n, const double *a,
					const int *lda, const double *anorm, double *rcond,
					double *work, int *iwork, int *info, size_t uplo_len);
extern void dgeqrf_(const int *m, const int *n, double *a, const int *lda,
					double *tau, double *work, const int *lwork, int *info);
extern void dormqr_(const char *side, const char *trans, const int *m,
					const int *n, const int *k, const double *a,
					const int *lda, const double *tau, double *c,
					const int *ldc, double *work, const int *lwork, int *info,
					size_t side_len, size_t trans_len);
extern void dtrtrs_(const char *uplo, const char *trans, const char *diag,
					const int *n, const int *nrhs, const double *a,
					const int *lda, double *b, const int *ldb, int *info,
					size_t uplo_len, size_t trans_len, size_t diag_len);
extern void dgelsd_(const int *m, const int *n, const int *nrhs, double *a,
					const int *lda, double *b, const int *ldb, double *s,
					const double *rcond, int *rank, double *work,
					const int *lwork, int *iwork, int *info);

#endif							/* MF_LAPACK_H */
