/*
 * transformer_arena.c - the bump allocator that holds a training step's
 * activations.
 *
 * Design note: one block per step instead of one allocation per tensor.
 * The layout of a step is carved twice by the same code: once on a counting
 * arena (base NULL) to learn the size and once on the real block, so the
 * size never drifts from the layout.  Every allocation is aligned to
 * MF_ARENA_ALIGN bytes (a cache line, and what vectorised BLAS kernels like).
 * Backward scratch is stacked above a mark and released, and `peak` keeps
 * the high-water mark, which is the step's peak activation memory.
 */
#include "transformer.h"

#include <string.h>

/* Round n up to the alignment; SIZE_MAX on overflow. */
static size_t
MfArenaRound(size_t n)
{
	if (n > SIZE_MAX - (MF_ARENA_ALIGN - 1))
		return SIZE_MAX;
	return (n + MF_ARENA_ALIGN - 1) & ~((size_t) MF_ARENA_ALIGN - 1);
}

/* A counting arena. */
void
mfk_arena_counting(MfArena *a)
{
	memset(a, 0, sizeof(*a));
	a->cap = SIZE_MAX;
}

/* A real arena of cap bytes (plus room to align the base). */
int
mfk_arena_init(MfArena *a, const MfAllocator *alloc, size_t cap)
{
	memset(a, 0, sizeof(*a));
	if (cap > SIZE_MAX - MF_ARENA_ALIGN)
		return MF_KERR_NOMEM;
	a->base = mfk_alloc_bytes(alloc, cap + MF_ARENA_ALIGN);
	if (a->base == NULL)
		return MF_KERR_NOMEM;
	a->cap = cap;
	return MF_KOK;
}

/* Free the block (the struct is left empty). */
void
mfk_arena_free(MfArena *a, const MfAllocator *alloc)
{
	mfk_free(alloc, a->base);
	memset(a, 0, sizeof(*a));
}

/* Aligned bytes from the top; NULL when counting or when out of room. */
void *
mfk_arena_alloc(MfArena *a, size_t bytes)
{
	size_t		n = MfArenaRound(bytes == 0 ? 1 : bytes);
	char	   *aligned;

	if (n == SIZE_MAX || n > a->cap - a->used)
	{
		a->failed = 1;
		return NULL;
	}
	a->used += n;
	if (a->used > a->peak)
		a->peak = a->used;
	if (a->base == NULL)
		return NULL;
	aligned = (char *) (((uintptr_t) a->base + MF_ARENA_ALIGN - 1) &
						~((uintptr_t) MF_ARENA_ALIGN - 1));
	return aligned + (a->used - n);
}

/* n floats. */
float *
mfk_arena_floats(MfArena *a, size_t n)
{
	if (n > SIZE_MAX / sizeof(float))
	{
		a->failed = 1;
		return NULL;
	}
	return (float *) mfk_arena_alloc(a, n * sizeof(float));
}

/* n zeroed floats. */
float *
mfk_arena_zeros(MfArena *a, size_t n)
{
	float	   *p = mfk_arena_floats(a, n);

	if (p != NULL)
		memset(p, 0, n * sizeof(float));
	return p;
}

/* The current top. */
size_t
mfk_arena_mark(const MfArena *a)
{
	return a->used;
}

/* Release back to a mark (the peak is kept). */
void
mfk_arena_release(MfArena *a, size_t mark)
{
	if (mark <= a->used)
		a->used = mark;
}
