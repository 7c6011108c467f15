/*
 * artifact.h - the binary model artifact: a versioned, self-describing,
 * checksummed container of float64 and float32 tensors plus a metadata
 * text.
 *
 * Pure C11 (+ zlib for crc32); knows nothing of PostgreSQL.
 *
 * Layout (all integers little-endian; offsets are from the start of the
 * artifact):
 *
 *   header, 40 bytes
 *     0  magic        8 bytes  "MFART\0\0\1"
 *     8  version      u32      format version: 1 or 2 (below)
 *    12  family       u32      MfArtFamily
 *    16  n_tensors    u32      <= MF_ARTIFACT_MAX_TENSORS
 *    20  meta_len     u32      bytes of metadata text
 *    24  total_len    u64      length of the whole artifact
 *    32  reserved     u32      0
 *    36  crc          u32      zlib crc32 of every byte of the artifact
 *                              except these four
 *   directory, n_tensors entries of 88 bytes, from offset 40
 *     0  name[32]     NUL-terminated, NUL-padded; 1..31 printable ASCII
 *                     characters other than '"' and '\'
 *    32  dtype        u32      1 = float64 (8 bytes an element),
 *                              2 = float32 (4 bytes; format 2 only)
 *    36  ndim         u32      0..4 (0 = a scalar, one element)
 *    40  dims[4]      u64      unused dims are 0
 *    72  offset       u64      multiple of 8
 *    80  nbytes       u64      product(dims) * element size
 *   metadata, meta_len bytes right after the directory: UTF-8 text without
 *     NUL (JSON by convention: feature schema, labels, config); opaque here
 *   tensor data, in directory order, each starting at the next multiple of 8
 *     after the previous region; padding bytes are zero and the artifact
 *     ends right after the last region (rounded up to 8 bytes).  Elements
 *     are IEEE 754 binary64 or binary32, all finite.
 *
 * Format versions.  Version 1 (mf_ext up to 0.5.0) holds float64 tensors
 * only.  Version 2 adds dtype 2, float32, and nothing else: a float32
 * tensor of n elements takes 4n bytes, then zero padding up to the next
 * multiple of 8.  The loader reads both; an artifact is written as version
 * 1 when all its tensors are float64 (so those artifacts are byte for byte
 * what earlier builds wrote, and earlier builds read them) and as version 2
 * when one is float32 (an earlier build then says "unsupported artifact
 * format version 2" rather than calling it corrupt).  A version-1 artifact
 * with a float32 tensor, or a version-2 one without any, is refused.
 *
 * The encoding is canonical: for given contents there is exactly one valid
 * byte string, so the writer is deterministic and artifacts can be
 * compared by hash.  The loader checks everything (lengths, checksum,
 * shapes with overflow checks, bounds, ordering, padding, finiteness) in one
 * O(size) pass and then hands out pointers into the buffer: weights are used
 * in place, never copied or parsed.  For that the buffer must be 8-byte
 * aligned and the host little-endian; both are checked.  A tensor is handed
 * out as its own element type only (a float32 tensor asked for as float64
 * is MF_ART_ERR_WRONG_DTYPE, never a reinterpretation).
 */
#ifndef MF_ARTIFACT_H
#define MF_ARTIFACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MF_ARTIFACT_FORMAT_VERSION	2	/* the newest version read and written */
#define MF_ARTIFACT_FORMAT_VERSION_MIN	1	/* the oldest version read */
#define MF_ARTIFACT_HEADER_SIZE		40
#define MF_ARTIFACT_DIRENT_SIZE		88
#define MF_ARTIFACT_NAME_LEN		32	/* including the terminating NUL */
#define MF_ARTIFACT_MAX_NDIM		4
#define MF_ARTIFACT_MAX_TENSORS		1024
#define MF_ARTIFACT_DTYPE_FLOAT64	1
#define MF_ARTIFACT_DTYPE_FLOAT32	2	/* format version 2 */

/* Model families (stored as u32; never renumber). */
typedef enum MfArtFamily
{
	MF_ART_FAMILY_LINEAR_REGRESSION = 1,
	MF_ART_FAMILY_LOGISTIC_REGRESSION = 2,
	MF_ART_FAMILY_MLP = 3,
	MF_ART_FAMILY_KMEANS = 4,
	MF_ART_FAMILY_TRANSFORMER = 5
} MfArtFamily;

/*
 * Error codes.  mf_artifact_err_is_corruption() tells which ones mean "the
 * stored bytes are damaged or inconsistent" (SQLSTATE XX001,
 * data_corrupted); the others are a bad argument, an unsupported format or
 * host, or out of memory (22023 / 0A000 / 53200 on the SQL side).
 */
typedef enum MfArtErr
{
	MF_ART_OK = 0,
	/* not corruption */
	MF_ART_ERR_ARG,				/* invalid argument (writer input, NULLs) */
	MF_ART_ERR_NOMEM,			/* the allocator returned NULL */
	MF_ART_ERR_BIG_ENDIAN,		/* this host is big-endian */
	MF_ART_ERR_UNALIGNED,		/* the buffer is not 8-byte aligned */
	MF_ART_ERR_VERSION,			/* format version this build cannot read */
	MF_ART_ERR_FAMILY,			/* family code this build does not know */
	/* corruption */
	MF_ART_ERR_TRUNCATED,		/* shorter than its header or total_len */
	MF_ART_ERR_LENGTH,			/* longer than total_len */
	MF_ART_ERR_MAGIC,			/* not an artifact */
	MF_ART_ERR_CHECKSUM,		/* crc32 mismatch */
	MF_ART_ERR_HEADER,			/* reserved field not zero, or version 2
								 * without a float32 tensor */
	MF_ART_ERR_TOO_MANY_TENSORS,	/* n_tensors > MF_ARTIFACT_MAX_TENSORS */
	MF_ART_ERR_DIRECTORY,		/* directory runs past the end */
	MF_ART_ERR_METADATA,		/* metadata past the end, NUL or bad UTF-8 */
	MF_ART_ERR_NAME,			/* tensor name empty, unterminated, bad */
	MF_ART_ERR_DUPLICATE_NAME,	/* two tensors with one name */
	MF_ART_ERR_DTYPE,			/* unknown element type (float32 in format 1) */
	MF_ART_ERR_NDIM,			/* ndim > MF_ARTIFACT_MAX_NDIM */
	MF_ART_ERR_SHAPE,			/* dims overflow or disagree with nbytes */
	MF_ART_ERR_MISALIGNED,		/* tensor offset not a multiple of 8 */
	MF_ART_ERR_BOUNDS,			/* tensor outside the data area */
	MF_ART_ERR_OVERLAP,			/* tensor overlaps or precedes the previous */
	MF_ART_ERR_PADDING,			/* gap, non-zero padding or trailing bytes */
	MF_ART_ERR_NOT_FINITE,		/* NaN or infinity in the weights */
	MF_ART_ERR_NOT_FOUND,		/* lookup: no tensor of that name */
	MF_ART_ERR_WRONG_SHAPE,		/* lookup: not the expected shape */
	MF_ART_ERR_WRONG_DTYPE		/* lookup: not the expected element type */
} MfArtErr;

/* Allocator for the writer; free may be NULL (memory then stays with ctx). */
typedef struct MfArtAllocator
{
	void	   *(*alloc) (void *ctx, size_t size);
	void		(*free) (void *ctx, void *ptr);
	void	   *ctx;
} MfArtAllocator;

/*
 * A tensor of a loaded artifact; every pointer points into the buffer.
 * Exactly one of data and data_f32 is set (when n_elems > 0): the one of
 * the tensor's dtype.
 */
typedef struct MfArtifactTensor
{
	const char *name;			/* NUL-terminated */
	uint32_t	dtype;			/* MF_ARTIFACT_DTYPE_* */
	uint32_t	ndim;
	const uint64_t *dims;		/* ndim values */
	uint64_t	n_elems;		/* product of dims (1 for a scalar) */
	const double *data;			/* float64: n_elems finite values, 8-aligned */
	const float *data_f32;		/* float32: n_elems finite values, 8-aligned */
} MfArtifactTensor;

/* A validated artifact: a view over the caller's buffer (no copies). */
typedef struct MfArtifactView
{
	const unsigned char *base;
	size_t		len;
	uint32_t	version;
	uint32_t	family;
	uint32_t	n_tensors;
	const char *meta;			/* meta_len bytes, not NUL-terminated */
	size_t		meta_len;
} MfArtifactView;

/* One tensor queued in a writer (internal to the writer). */
typedef struct MfArtWriterEntry
{
	char		name[MF_ARTIFACT_NAME_LEN];
	uint32_t	dtype;
	uint32_t	ndim;
	uint64_t	dims[MF_ARTIFACT_MAX_NDIM];
	uint64_t	n_elems;
	const void *data;			/* n_elems values of dtype */
} MfArtWriterEntry;

/*
 * Builds an artifact.  Tensors are referenced, not copied: their data must
 * stay valid and unchanged until finish.  The first error is sticky: later
 * calls return it again, so callers may check only finish.
 */
typedef struct MfArtifactWriter
{
	MfArtAllocator alloc;
	uint32_t	family;
	MfArtWriterEntry *entries;
	uint32_t	n_entries;
	uint32_t	cap_entries;
	const char *meta;
	size_t		meta_len;
	MfArtErr	status;
	char		errmsg[256];
} MfArtifactWriter;

/* Start a writer for a family; allocations go through *alloc. */
extern MfArtErr mf_artifact_writer_begin(MfArtifactWriter *w, uint32_t family,
										 const MfArtAllocator *alloc);

/*
 * Queue a float64 tensor: ndim 0..4 dims (NULL when ndim is 0), row-major
 * data.
 */
extern MfArtErr mf_artifact_writer_add(MfArtifactWriter *w, const char *name,
									   uint32_t ndim, const uint64_t *dims,
									   const double *data);

/* Queue a float32 tensor (the artifact becomes format version 2). */
extern MfArtErr mf_artifact_writer_add_f32(MfArtifactWriter *w, const char *name,
										   uint32_t ndim, const uint64_t *dims,
										   const float *data);

/* Set the metadata text (UTF-8 without NUL); referenced until finish. */
extern MfArtErr mf_artifact_writer_set_meta(MfArtifactWriter *w,
											const char *meta, size_t len);

/*
 * Lay out the artifact in one buffer from the allocator (*out, *out_len)
 * and release the writer's own memory.  On error *out is NULL and
 * w->errmsg says why.
 */
extern MfArtErr mf_artifact_writer_finish(MfArtifactWriter *w, void **out,
										  size_t *out_len);

/* Release a writer's memory without producing an artifact. */
extern void mf_artifact_writer_discard(MfArtifactWriter *w);

/*
 * Validate buf[0..len) completely and fill *view.  On error, err gets a
 * lowercase message naming what is wrong (err may be NULL).
 */
extern MfArtErr mf_artifact_open(const void *buf, size_t len,
								 MfArtifactView *view,
								 char *err, size_t errlen);

/* The index-th tensor of an open artifact (index < view->n_tensors). */
extern MfArtErr mf_artifact_tensor_at(const MfArtifactView *view,
									  uint32_t index, MfArtifactTensor *out);

/*
 * Find a float64 tensor by name and check its shape: expected_ndim < 0
 * accepts any rank; expected_dims (NULL = any) gives expected_ndim sizes,
 * where 0 accepts any size.  A tensor of another dtype is
 * MF_ART_ERR_WRONG_DTYPE.
 */
extern MfArtErr mf_artifact_tensor(const MfArtifactView *view,
								   const char *name, int expected_ndim,
								   const uint64_t *expected_dims,
								   MfArtifactTensor *out,
								   char *err, size_t errlen);

/*
 * The same for a tensor of dtype (MF_ARTIFACT_DTYPE_*; 0 accepts either:
 * out->dtype then says which pointer is set).
 */
extern MfArtErr mf_artifact_tensor_typed(const MfArtifactView *view,
										 const char *name, uint32_t dtype,
										 int expected_ndim,
										 const uint64_t *expected_dims,
										 MfArtifactTensor *out,
										 char *err, size_t errlen);

/*
 * The format version of an artifact's header (no validation), or 0 when
 * buf is too short or not an artifact.
 */
extern uint32_t mf_artifact_format_version(const void *buf, size_t len);

/* "float64", "float32" or "unknown". */
extern const char *mf_artifact_dtype_name(uint32_t dtype);

/* Generic lowercase description of an error code. */
extern const char *mf_artifact_strerror(MfArtErr code);

/* True when the code means damaged or inconsistent stored bytes. */
extern bool mf_artifact_err_is_corruption(MfArtErr code);

/* "linear_regression", ... or NULL for an unknown code. */
extern const char *mf_artifact_family_name(uint32_t family);

/* Family code for a name, or 0 when unknown. */
extern uint32_t mf_artifact_family_from_name(const char *name);

#endif							/* MF_ARTIFACT_H */
