/*
 * kernel_common.c - errors, allocator helpers and progress reporting shared
 * by the numeric kernels.
 */
#include "mf_kernels.h"

#include <math.h>
#include <stdlib.h>

/* Lowercase message for an MfKErr. */
const char *
mfk_strerror(int err)
{
	switch (err)
	{
		case MF_KOK:
			return "success";
		case MF_KERR_BADARG:
			return "invalid argument";
		case MF_KERR_NOMEM:
			return "out of memory";
		case MF_KERR_SINGULAR:
			return "the system is singular (collinear or constant columns)";
		case MF_KERR_NOT_FINITE:
			return "non-finite value in the weights";
		case MF_KERR_INPUT_NOT_FINITE:
			return "non-finite value in the input data";
		case MF_KERR_CANCELLED:
			return "cancelled";
		case MF_KERR_LINESEARCH:
			return "line search failed to make progress";
	}
	return "unknown error";
}

/* malloc adapter for MfAllocator. */
static void *
MfkMallocAlloc(void *ctx, size_t size)
{
	(void) ctx;
	return malloc(size);
}

/* free adapter for MfAllocator. */
static void
MfkMallocFree(void *ctx, void *ptr)
{
	(void) ctx;
	free(ptr);
}

const MfAllocator mfk_malloc_allocator = {MfkMallocAlloc, MfkMallocFree, NULL};

/* n bytes from the allocator; never asks for 0 bytes. */
void *
mfk_alloc_bytes(const MfAllocator *a, size_t n)
{
	if (a == NULL || a->alloc == NULL)
		return NULL;
	return a->alloc(a->ctx, n == 0 ? 1 : n);
}

/* n doubles, with the multiplication overflow-checked. */
double *
mfk_alloc_doubles(const MfAllocator *a, size_t n)
{
	if (n > SIZE_MAX / sizeof(double))
		return NULL;
	return (double *) mfk_alloc_bytes(a, n * sizeof(double));
}

/* Free through the allocator; NULL is ignored. */
void
mfk_free(const MfAllocator *a, void *p)
{
	if (p != NULL && a != NULL && a->free != NULL)
		a->free(a->ctx, p);
}

/* Rows per block so a block does at most ~2^26 flops, capped. */
size_t
mfk_block_rows(size_t work_per_row)
{
	size_t		rows;

	if (work_per_row == 0)
		work_per_row = 1;
	rows = ((size_t) 1 << 26) / work_per_row;
	if (rows < 64)
		rows = 64;
	if (rows > MF_BLOCK_ROWS)
		rows = MF_BLOCK_ROWS;
	return rows;
}

/* Forward a progress report; a non-zero answer means cancel. */
int
mfk_report(const MfEnv *env, const MfProgress *p)
{
	if (env == NULL || env->progress == NULL)
		return MF_KOK;
	return env->progress(env->progress_ctx, p) != 0 ? MF_KERR_CANCELLED : MF_KOK;
}

/* A between-blocks report. */
int
mfk_tick(const MfEnv *env, const char *phase, int64_t iteration,
		 int64_t total, double fraction)
{
	MfProgress	p;

	if (env == NULL || env->progress == NULL)
		return MF_KOK;
	p.kind = MF_PROGRESS_TICK;
	p.phase = phase;
	p.iteration = iteration;
	p.total = total;
	p.loss = NAN;
	p.val_loss = NAN;
	p.fraction = fraction;
	return mfk_report(env, &p);
}

/* Append one entry to a history when there is room. */
void
mfk_history_push(MfHistory *h, double train_loss, double val_loss)
{
	if (h == NULL || h->n < 0 || h->n >= h->capacity)
		return;
	if (h->train_loss != NULL)
		h->train_loss[h->n] = train_loss;
	if (h->val_loss != NULL)
		h->val_loss[h->n] = val_loss;
	h->n++;
}

/* 1 when every value is finite. */
int
mfk_all_finite(const double *x, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return 0;
	return 1;
}
