/*
 * blas_loader.c - OpenBLAS, loaded the first time a kernel needs it.
 *
 * Design note
 * -----------
 * Loading libopenblas (36 MB: relocations, then its thread pool) took about
 * 7 ms of the ~9 ms that a connection's first mf_ext call spent loading
 * mf_core, although scoring rows one at a time needs no BLAS at all.  So
 * mf_core does not link OpenBLAS: the BLAS and LAPACK entry points that the
 * kernels call are defined here as thin trampolines.  The first call of any
 * of them dlopens libopenblas.so.0 (RTLD_LOCAL, so these definitions stay
 * the ones the kernels see; RTLD_LAZY, so its thousands of internal
 * function relocations are bound when used, not all at once against the
 * server's large symbol scope; OPENBLAS_NUM_THREADS=1 and signals blocked,
 * so no thread pool is started only to be stopped and no library thread
 * takes the backend's signals), refuses the OpenMP build (it
 * hangs after fork), pins BLAS to one thread (what _PG_init did before;
 * openblas_set_num_threads can still raise it) and resolves every entry
 * point at once; later calls are one indirect jump.  The
 * kernels and their unit tests are unchanged and still link OpenBLAS
 * directly.  The Makefile fails the build when mf_core.so needs an OpenBLAS
 * symbol that has no trampoline here.
 */
#include "postgres.h"

#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>

#include "mf_core.h"

#include "lapack.h"

/* The library's entry points. */
typedef struct MfBlasApi
{
	__typeof__(cblas_dgemm) *dgemm;
	__typeof__(cblas_dgemv) *dgemv;
	__typeof__(cblas_dsyrk) *dsyrk;
	__typeof__(cblas_sgemm) *sgemm;
	__typeof__(cblas_sgemv) *sgemv;
	__typeof__(dpotrf_) *dpotrf;
	__typeof__(dpotrs_) *dpotrs;
	__typeof__(dpocon_) *dpocon;
	__typeof__(dgeqrf_) *dgeqrf;
	__typeof__(dormqr_) *dormqr;
	__typeof__(dtrtrs_) *dtrtrs;
	__typeof__(dgelsd_) *dgelsd;
	__typeof__(openblas_get_config) *get_config;
	__typeof__(openblas_get_num_threads) *get_num_threads;
	__typeof__(openblas_get_parallel) *get_parallel;
	__typeof__(openblas_set_num_threads) *set_num_threads;
} MfBlasApi;

static MfBlasApi blas_api;
static bool blas_loaded = false;

/* One symbol of the library; an error naming it when missing. */
static void *
MfBlasSym(void *handle, const char *name)
{
	void	   *p = dlsym(handle, name);

	if (p == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("libopenblas.so.0 lacks the function %s", name),
				 errhint("Install Debian's libopenblas0-pthread.")));
	return p;
}

/* Load OpenBLAS, check its threading model and pin it to one thread. */
static void
MfBlasLoad(void)
{
	void	   *h;
	MfBlasApi	a;
	sigset_t	all,
				old;

	/*
	 * One thread from the start (no pool to start and stop), lazy binding,
	 * and all signals blocked meanwhile, so a thread the library might still
	 * start never takes the backend's signals.
	 */
	setenv("OPENBLAS_NUM_THREADS", "1", 1);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	h = dlopen("libopenblas.so.0", RTLD_LAZY | RTLD_LOCAL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("could not load OpenBLAS"),
				 errdetail("%s", dlerror()),
				 errhint("Install the pthread build: apt-get install libopenblas0-pthread.")));
	a.dgemm = MfBlasSym(h, "cblas_dgemm");
	a.dgemv = MfBlasSym(h, "cblas_dgemv");
	a.dsyrk = MfBlasSym(h, "cblas_dsyrk");
	a.sgemm = MfBlasSym(h, "cblas_sgemm");
	a.sgemv = MfBlasSym(h, "cblas_sgemv");
	a.dpotrf = MfBlasSym(h, "dpotrf_");
	a.dpotrs = MfBlasSym(h, "dpotrs_");
	a.dpocon = MfBlasSym(h, "dpocon_");
	a.dgeqrf = MfBlasSym(h, "dgeqrf_");
	a.dormqr = MfBlasSym(h, "dormqr_");
	a.dtrtrs = MfBlasSym(h, "dtrtrs_");
	a.dgelsd = MfBlasSym(h, "dgelsd_");
	a.get_config = MfBlasSym(h, "openblas_get_config");
	a.get_num_threads = MfBlasSym(h, "openblas_get_num_threads");
	a.get_parallel = MfBlasSym(h, "openblas_get_parallel");
	a.set_num_threads = MfBlasSym(h, "openblas_set_num_threads");
	/* 2 = OpenMP build, which hangs after fork() */
	if (a.get_parallel() == 2)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("mf_ext cannot run on the OpenMP build of OpenBLAS"),
				 errdetail("OpenBLAS reports: %s", a.get_config()),
				 errhint("Install the pthread build: apt-get install libopenblas0-pthread, "
						 "then update-alternatives --config libopenblas.so.0-x86_64-linux-gnu.")));
	a.set_num_threads(1);
	blas_api = a;
	blas_loaded = true;
}

/*
 * Load OpenBLAS now, in a process where an ERROR is safe (the HTTP worker,
 * before it forks its serving processes, which call no PostgreSQL function
 * and so must never be the first to load it); false, with a WARNING, when
 * it cannot be loaded (transformers then fail to score, tabular models
 * need no BLAS).
 */
bool
MfBlasPreload(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		ok = true;

	PG_TRY();
	{
		if (!blas_loaded)
			MfBlasLoad();
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		ereport(WARNING, (errcode(e->sqlerrcode), errmsg("%s", e->message),
						  e->detail ? errdetail("%s", e->detail) : 0, e->hint ? errhint("%s", e->hint) : 0));
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* The loaded library. */
static inline const MfBlasApi *
MfBlas(void)
{
	if (unlikely(!blas_loaded))
		MfBlasLoad();
	return &blas_api;
}

/* ------------------------------------------------------------ trampolines (signatures of cblas.h and LAPACK) */

/* cblas_dgemm. */
void
cblas_dgemm(OPENBLAS_CONST enum CBLAS_ORDER Order, OPENBLAS_CONST enum CBLAS_TRANSPOSE TransA,
			OPENBLAS_CONST enum CBLAS_TRANSPOSE TransB, OPENBLAS_CONST blasint M,
			OPENBLAS_CONST blasint N, OPENBLAS_CONST blasint K, OPENBLAS_CONST double alpha,
			OPENBLAS_CONST double *A, OPENBLAS_CONST blasint lda, OPENBLAS_CONST double *B,
			OPENBLAS_CONST blasint ldb, OPENBLAS_CONST double beta, double *C,
			OPENBLAS_CONST blasint ldc)
{
	MfBlas()->dgemm(Order, TransA, TransB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* cblas_sgemm. */
void
cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER Order, OPENBLAS_CONST enum CBLAS_TRANSPOSE TransA,
			OPENBLAS_CONST enum CBLAS_TRANSPOSE TransB, OPENBLAS_CONST blasint M,
			OPENBLAS_CONST blasint N, OPENBLAS_CONST blasint K, OPENBLAS_CONST float alpha,
			OPENBLAS_CONST float *A, OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *B,
			OPENBLAS_CONST blasint ldb, OPENBLAS_CONST float beta, float *C,
			OPENBLAS_CONST blasint ldc)
{
	MfBlas()->sgemm(Order, TransA, TransB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* cblas_sgemv. */
void
cblas_sgemv(OPENBLAS_CONST enum CBLAS_ORDER order, OPENBLAS_CONST enum CBLAS_TRANSPOSE trans,
			OPENBLAS_CONST blasint m, OPENBLAS_CONST blasint n, OPENBLAS_CONST float alpha,
			OPENBLAS_CONST float *a, OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *x,
			OPENBLAS_CONST blasint incx, OPENBLAS_CONST float beta, float *y,
			OPENBLAS_CONST blasint incy)
{
	MfBlas()->sgemv(order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy);
}

/* cblas_dgemv. */
void
cblas_dgemv(OPENBLAS_CONST enum CBLAS_ORDER order, OPENBLAS_CONST enum CBLAS_TRANSPOSE trans,
			OPENBLAS_CONST blasint m, OPENBLAS_CONST blasint n, OPENBLAS_CONST double alpha,
			OPENBLAS_CONST double *a, OPENBLAS_CONST blasint lda, OPENBLAS_CONST double *x,
			OPENBLAS_CONST blasint incx, OPENBLAS_CONST double beta, double *y,
			OPENBLAS_CONST blasint incy)
{
	MfBlas()->dgemv(order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy);
}

/* cblas_dsyrk. */
void
cblas_dsyrk(OPENBLAS_CONST enum CBLAS_ORDER Order, OPENBLAS_CONST enum CBLAS_UPLO Uplo,
			OPENBLAS_CONST enum CBLAS_TRANSPOSE Trans, OPENBLAS_CONST blasint N,
			OPENBLAS_CONST blasint K, OPENBLAS_CONST double alpha, OPENBLAS_CONST double *A,
			OPENBLAS_CONST blasint lda, OPENBLAS_CONST double beta, double *C,
			OPENBLAS_CONST blasint ldc)
{
	MfBlas()->dsyrk(Order, Uplo, Trans, N, K, alpha, A, lda, beta, C, ldc);
}

/* dpotrf_: Cholesky factorisation. */
void
dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_len)
{
	MfBlas()->dpotrf(uplo, n, a, lda, info, uplo_len);
}

/* dpotrs_: solve with a Cholesky factor. */
void
dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
		double *b, const int *ldb, int *info, size_t uplo_len)
{
	MfBlas()->dpotrs(uplo, n, nrhs, a, lda, b, ldb, info, uplo_len);
}

/* dpocon_: condition number of a Cholesky factor. */
void
dpocon_(const char *uplo, const int *n, const double *a, const int *lda, const double *anorm,
		double *rcond, double *work, int *iwork, int *info, size_t uplo_len)
{
	MfBlas()->dpocon(uplo, n, a, lda, anorm, rcond, work, iwork, info, uplo_len);
}

/* dgeqrf_: QR factorisation. */
void
dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
		const int *lwork, int *info)
{
	MfBlas()->dgeqrf(m, n, a, lda, tau, work, lwork, info);
}

/* dormqr_: multiply by Q of a QR factorisation. */
void
dormqr_(const char *side, const char *trans, const int *m, const int *n, const int *k,
		const double *a, const int *lda, const double *tau, double *c, const int *ldc,
		double *work, const int *lwork, int *info, size_t side_len, size_t trans_len)
{
	MfBlas()->dormqr(side, trans, m, n, k, a, lda, tau, c, ldc, work, lwork, info,
					 side_len, trans_len);
}

/* dtrtrs_: triangular solve. */
void
dtrtrs_(const char *uplo, const char *trans, const char *diag, const int *n, const int *nrhs,
		const double *a, const int *lda, double *b, const int *ldb, int *info,
		size_t uplo_len, size_t trans_len, size_t diag_len)
{
	MfBlas()->dtrtrs(uplo, trans, diag, n, nrhs, a, lda, b, ldb, info,
					 uplo_len, trans_len, diag_len);
}

/* dgelsd_: minimum-norm least squares by SVD. */
void
dgelsd_(const int *m, const int *n, const int *nrhs, double *a, const int *lda, double *b,
		const int *ldb, double *s, const double *rcond, int *rank, double *work,
		const int *lwork, int *iwork, int *info)
{
	MfBlas()->dgelsd(m, n, nrhs, a, lda, b, ldb, s, rcond, rank, work, lwork, iwork, info);
}

/* openblas_get_config. */
char *
openblas_get_config(void)
{
	return MfBlas()->get_config();
}

/* openblas_get_num_threads. */
int
openblas_get_num_threads(void)
{
	return MfBlas()->get_num_threads();
}

/* openblas_get_parallel. */
int
openblas_get_parallel(void)
{
	return MfBlas()->get_parallel();
}

/* openblas_set_num_threads. */
void
openblas_set_num_threads(int num_threads)
{
	MfBlas()->set_num_threads(num_threads);
}
