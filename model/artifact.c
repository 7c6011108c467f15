/*
 * artifact.c - validating loader of the binary model artifact and its
 * lookups (layout in artifact.h; the writer is artifact_write.c).
 *
 * Design note
 * -----------
 * The loader is the only code that ever sees untrusted bytes (a bytea
 * column can be edited by anyone with UPDATE on it), so it treats the buffer
 * as hostile: every field is read with memcpy, every sum and product of
 * sizes is checked for overflow before use, and every region (directory,
 * metadata, each tensor) is proven to lie inside the buffer before a single
 * byte of it is read.  Checks run in file order, so the first message
 * names the first thing that is wrong.  The checksum is checked right after
 * the header's length fields: a damaged artifact almost always stops there
 * with "checksum mismatch"; the structural checks after it catch artifacts
 * that were crafted (or written by a buggy writer) with a valid checksum.
 *
 * The format is canonical (tensors in directory order, each at the next
 * multiple of 8, zero padding, no trailing bytes).  That makes overlap
 * detection a linear scan and the writer's output unique for its inputs.
 * Duplicate names are found by comparing each name with the earlier ones;
 * with at most MF_ARTIFACT_MAX_TENSORS entries that stays cheap.
 *
 * Element types.  Format 1 has float64 tensors only; format 2 adds
 * float32.  The loader reads both versions, and a version-2 artifact must
 * hold a float32 tensor (else format 1 is its canonical form).  Lookups
 * hand out a pointer of the tensor's own type and refuse a request for the
 * other type (MF_ART_ERR_WRONG_DTYPE): bytes are never reinterpreted.
 *
 * Nothing here allocates.
 */
#include "artifact_layout.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

const unsigned char mf_art_magic[8] = {'M', 'F', 'A', 'R', 'T', 0, 0, 1};

/* The header fields, decoded. */
typedef struct ArtHeader
{
	uint32_t	version;
	uint32_t	family;
	uint32_t	n_tensors;
	uint32_t	meta_len;
	uint64_t	total_len;
	uint32_t	reserved;
	uint32_t	crc;
} ArtHeader;

/* A directory entry, decoded. */
typedef struct ArtDirent
{
	const char *name;
	uint32_t	dtype;
	uint32_t	ndim;
	uint64_t	dims[MF_ARTIFACT_MAX_NDIM];
	uint64_t	offset;
	uint64_t	nbytes;
} ArtDirent;

static void ArtSetErr(char *err, size_t errlen, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------ helpers */

/* Format a message into err (if any). */
static void
ArtSetErr(char *err, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* crc32 of the artifact, skipping the crc field itself. */
uint32_t
mf_art_checksum(const unsigned char *buf, size_t len)
{
	uLong		crc = crc32_z(0L, Z_NULL, 0);

	crc = crc32_z(crc, buf, ART_OFF_CRC);
	crc = crc32_z(crc, buf + MF_ARTIFACT_HEADER_SIZE,
				  len - MF_ARTIFACT_HEADER_SIZE);
	return (uint32_t) crc;
}

/*
 * Index of the first non-finite element of x[0..n) of dtype (a known one),
 * its value in *bad; n when all are finite.  One loop per type, so each
 * vectorises.
 */
uint64_t
mf_art_first_non_finite(const void *x, uint32_t dtype, uint64_t n, double *bad)
{
	uint64_t	k = 0;

	*bad = 0;
	if (dtype == MF_ARTIFACT_DTYPE_FLOAT32)
	{
		const float *f = x;

		while (k < n && isfinite(f[k]))
			k++;
		if (k < n)
			*bad = (double) f[k];
	}
	else
	{
		const double *v = x;

		while (k < n && isfinite(v[k]))
			k++;
		if (k < n)
			*bad = v[k];
	}
	return k;
}

/* Render dims as "[2, 3]" into buf. */
static const char *
ArtShapeStr(char *buf, size_t buflen, uint32_t ndim, const uint64_t *dims)
{
	size_t		used;
	uint32_t	i;

	used = (size_t) snprintf(buf, buflen, "[");
	for (i = 0; i < ndim && used < buflen; i++)
		used += (size_t) snprintf(buf + used, buflen - used, "%s%" PRIu64,
								  i ? ", " : "", dims[i]);
	if (used < buflen)
		snprintf(buf + used, buflen - used, "]");
	return buf;
}

/*
 * Validate UTF-8 without NUL (no overlongs, surrogates or code points past
 * U+10FFFF).  Returns true, or false with the offending offset in *bad.
 */
bool
mf_art_utf8_valid(const unsigned char *s, size_t len, size_t *bad)
{
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = s[i];
		size_t		n,
					k;
		uint32_t	cp,
					min;

		if (c == 0)
		{
			*bad = i;
			return false;
		}
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
		{
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		}
		else if (c >= 0xe0 && c <= 0xef)
		{
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		}
		else if (c >= 0xf0 && c <= 0xf4)
		{
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		}
		else
		{
			*bad = i;
			return false;
		}
		if (n > len - i - 1)
		{
			*bad = i;
			return false;
		}
		for (k = 1; k <= n; k++)
		{
			if ((s[i + k] & 0xc0) != 0x80)
			{
				*bad = i + k;
				return false;
			}
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		{
			*bad = i;
			return false;
		}
		i += n + 1;
	}
	return true;
}

/* ------------------------------------------------------------- names */

/* Generic lowercase description of an error code. */
const char *
mf_artifact_strerror(MfArtErr code)
{
	switch (code)
	{
		case MF_ART_OK:
			return "success";
		case MF_ART_ERR_ARG:
			return "invalid argument";
		case MF_ART_ERR_NOMEM:
			return "out of memory";
		case MF_ART_ERR_BIG_ENDIAN:
			return "model artifacts cannot be used on a big-endian host";
		case MF_ART_ERR_UNALIGNED:
			return "artifact buffer is not 8-byte aligned";
		case MF_ART_ERR_VERSION:
			return "unsupported artifact format version";
		case MF_ART_ERR_FAMILY:
			return "unknown model family in artifact";
		case MF_ART_ERR_TRUNCATED:
			return "artifact is truncated";
		case MF_ART_ERR_LENGTH:
			return "artifact has trailing bytes";
		case MF_ART_ERR_MAGIC:
			return "not a model artifact";
		case MF_ART_ERR_CHECKSUM:
			return "artifact checksum mismatch";
		case MF_ART_ERR_HEADER:
			return "invalid artifact header";
		case MF_ART_ERR_TOO_MANY_TENSORS:
			return "too many tensors in artifact";
		case MF_ART_ERR_DIRECTORY:
			return "artifact tensor directory is out of bounds";
		case MF_ART_ERR_METADATA:
			return "invalid artifact metadata";
		case MF_ART_ERR_NAME:
			return "invalid tensor name in artifact";
		case MF_ART_ERR_DUPLICATE_NAME:
			return "duplicate tensor name in artifact";
		case MF_ART_ERR_DTYPE:
			return "unknown tensor element type in artifact";
		case MF_ART_ERR_NDIM:
			return "too many tensor dimensions in artifact";
		case MF_ART_ERR_SHAPE:
			return "invalid tensor shape in artifact";
		case MF_ART_ERR_MISALIGNED:
			return "misaligned tensor in artifact";
		case MF_ART_ERR_BOUNDS:
			return "tensor out of bounds in artifact";
		case MF_ART_ERR_OVERLAP:
			return "overlapping tensors in artifact";
		case MF_ART_ERR_PADDING:
			return "invalid padding in artifact";
		case MF_ART_ERR_NOT_FINITE:
			return "non-finite weight in artifact";
		case MF_ART_ERR_NOT_FOUND:
			return "tensor not found in artifact";
		case MF_ART_ERR_WRONG_SHAPE:
			return "tensor has an unexpected shape";
		case MF_ART_ERR_WRONG_DTYPE:
			return "tensor has an unexpected element type";
	}
	return "unknown artifact error";
}

/* "float64", "float32" or "unknown". */
const char *
mf_artifact_dtype_name(uint32_t dtype)
{
	return dtype == MF_ARTIFACT_DTYPE_FLOAT64 ? "float64" :
		dtype == MF_ARTIFACT_DTYPE_FLOAT32 ? "float32" : "unknown";
}

/* True when the code means damaged or inconsistent stored bytes. */
bool
mf_artifact_err_is_corruption(MfArtErr code)
{
	return code >= MF_ART_ERR_TRUNCATED;
}

/* "linear_regression", ... or NULL for an unknown code. */
const char *
mf_artifact_family_name(uint32_t family)
{
	switch (family)
	{
		case MF_ART_FAMILY_LINEAR_REGRESSION:
			return "linear_regression";
		case MF_ART_FAMILY_LOGISTIC_REGRESSION:
			return "logistic_regression";
		case MF_ART_FAMILY_MLP:
			return "mlp";
		case MF_ART_FAMILY_KMEANS:
			return "kmeans";
		case MF_ART_FAMILY_TRANSFORMER:
			return "transformer";
	}
	return NULL;
}

/* Family code for a name, or 0 when unknown. */
uint32_t
mf_artifact_family_from_name(const char *name)
{
	uint32_t	f;

	if (name == NULL)
		return 0;
	for (f = MF_ART_FAMILY_LINEAR_REGRESSION; f <= MF_ART_FAMILY_TRANSFORMER; f++)
		if (strcmp(mf_artifact_family_name(f), name) == 0)
			return f;
	return 0;
}

/* ------------------------------------------------------------- loader */

/* Decode the fixed header (len >= MF_ARTIFACT_HEADER_SIZE). */
static void
ArtReadHeader(const unsigned char *b, ArtHeader *h)
{
	h->version = ArtGet32(b + ART_OFF_VERSION);
	h->family = ArtGet32(b + ART_OFF_FAMILY);
	h->n_tensors = ArtGet32(b + ART_OFF_NTENSORS);
	h->meta_len = ArtGet32(b + ART_OFF_METALEN);
	h->total_len = ArtGet64(b + ART_OFF_TOTALLEN);
	h->reserved = ArtGet32(b + ART_OFF_RESERVED);
	h->crc = ArtGet32(b + ART_OFF_CRC);
}

/* Decode directory entry i (known to be inside the buffer). */
static void
ArtReadDirent(const unsigned char *b, uint32_t i, ArtDirent *d)
{
	const unsigned char *p = b + MF_ARTIFACT_HEADER_SIZE + (size_t) i * MF_ARTIFACT_DIRENT_SIZE;
	int			k;

	d->name = (const char *) p;
	d->dtype = ArtGet32(p + ART_DE_DTYPE);
	d->ndim = ArtGet32(p + ART_DE_NDIM);
	for (k = 0; k < MF_ARTIFACT_MAX_NDIM; k++)
		d->dims[k] = ArtGet64(p + ART_DE_DIMS + 8 * k);
	d->offset = ArtGet64(p + ART_DE_OFFSET);
	d->nbytes = ArtGet64(p + ART_DE_NBYTES);
}

/* Host, alignment, size, magic, version, length and checksum. */
static MfArtErr
ArtCheckEnvelope(const unsigned char *b, size_t len, ArtHeader *h,
				 char *err, size_t errlen)
{
	uint32_t	crc;

	if (!ArtHostIsLittleEndian())
	{
		ArtSetErr(err, errlen, "model artifacts are little-endian and used in place: they cannot be loaded on a big-endian host");
		return MF_ART_ERR_BIG_ENDIAN;
	}
	if (((uintptr_t) b) % 8 != 0)
	{
		ArtSetErr(err, errlen, "artifact buffer is not 8-byte aligned (address mod 8 = %u)",
				  (unsigned) (((uintptr_t) b) % 8));
		return MF_ART_ERR_UNALIGNED;
	}
	if (len < MF_ARTIFACT_HEADER_SIZE)
	{
		ArtSetErr(err, errlen, "artifact is truncated: %zu bytes, shorter than its %d-byte header",
				  len, MF_ARTIFACT_HEADER_SIZE);
		return MF_ART_ERR_TRUNCATED;
	}
	if (memcmp(b, mf_art_magic, sizeof(mf_art_magic)) != 0)
	{
		ArtSetErr(err, errlen, "not a model artifact (bad magic number)");
		return MF_ART_ERR_MAGIC;
	}
	ArtReadHeader(b, h);
	if (h->version < MF_ARTIFACT_FORMAT_VERSION_MIN || h->version > MF_ARTIFACT_FORMAT_VERSION)
	{
		ArtSetErr(err, errlen, "unsupported artifact format version %" PRIu32 " (this build reads %d to %d)",
				  h->version, MF_ARTIFACT_FORMAT_VERSION_MIN, MF_ARTIFACT_FORMAT_VERSION);
		return MF_ART_ERR_VERSION;
	}
	if (h->total_len > len)
	{
		ArtSetErr(err, errlen, "artifact is truncated: %zu bytes, its header says %" PRIu64,
				  len, h->total_len);
		return MF_ART_ERR_TRUNCATED;
	}
	if (h->total_len < len)
	{
		ArtSetErr(err, errlen, "artifact has %zu bytes but its header says %" PRIu64 " (trailing bytes)",
				  len, h->total_len);
		return MF_ART_ERR_LENGTH;
	}
	crc = mf_art_checksum(b, len);
	if (crc != h->crc)
	{
		ArtSetErr(err, errlen, "artifact checksum mismatch: stored 0x%08" PRIx32 ", computed 0x%08" PRIx32,
				  h->crc, crc);
		return MF_ART_ERR_CHECKSUM;
	}
	return MF_ART_OK;
}

/* Reserved field, family, tensor count, directory and metadata bounds. */
static MfArtErr
ArtCheckLayout(const unsigned char *b, size_t len, const ArtHeader *h,
			   char *err, size_t errlen)
{
	uint64_t	dir_end,
				meta_end;
	size_t		bad;

	if (h->reserved != 0)
	{
		ArtSetErr(err, errlen, "artifact header reserved field is 0x%08" PRIx32 ", expected 0", h->reserved);
		return MF_ART_ERR_HEADER;
	}
	if (mf_artifact_family_name(h->family) == NULL)
	{
		ArtSetErr(err, errlen, "unknown model family code %" PRIu32 " in artifact", h->family);
		return MF_ART_ERR_FAMILY;
	}
	if (h->n_tensors > MF_ARTIFACT_MAX_TENSORS)
	{
		ArtSetErr(err, errlen, "artifact declares %" PRIu32 " tensors (at most %d)",
				  h->n_tensors, MF_ARTIFACT_MAX_TENSORS);
		return MF_ART_ERR_TOO_MANY_TENSORS;
	}
	dir_end = MF_ARTIFACT_HEADER_SIZE + (uint64_t) h->n_tensors * MF_ARTIFACT_DIRENT_SIZE;
	if (dir_end > len)
	{
		ArtSetErr(err, errlen, "tensor directory (%" PRIu32 " entries, ending at byte %" PRIu64 ") extends past the end of the artifact (%zu bytes)",
				  h->n_tensors, dir_end, len);
		return MF_ART_ERR_DIRECTORY;
	}
	meta_end = dir_end + h->meta_len;
	if (meta_end > len)
	{
		ArtSetErr(err, errlen, "metadata (%" PRIu32 " bytes at offset %" PRIu64 ") extends past the end of the artifact (%zu bytes)",
				  h->meta_len, dir_end, len);
		return MF_ART_ERR_METADATA;
	}
	if (!mf_art_utf8_valid(b + dir_end, h->meta_len, &bad))
	{
		if (b[dir_end + bad] == 0)
			ArtSetErr(err, errlen, "metadata contains a NUL byte at offset %zu", bad);
		else
			ArtSetErr(err, errlen, "metadata is not valid UTF-8 (byte %zu)", bad);
		return MF_ART_ERR_METADATA;
	}
	return MF_ART_OK;
}

/* Name of entry i: terminated, non-empty, clean bytes, zero padding, unique. */
static MfArtErr
ArtCheckName(const unsigned char *b, uint32_t i, char *err, size_t errlen)
{
	const unsigned char *name = b + MF_ARTIFACT_HEADER_SIZE + (size_t) i * MF_ARTIFACT_DIRENT_SIZE;
	const unsigned char *nul = memchr(name, 0, MF_ARTIFACT_NAME_LEN);
	size_t		k,
				nlen;
	uint32_t	j;

	if (nul == NULL)
	{
		ArtSetErr(err, errlen, "tensor %" PRIu32 " name is not NUL-terminated", i);
		return MF_ART_ERR_NAME;
	}
	nlen = (size_t) (nul - name);
	if (nlen == 0)
	{
		ArtSetErr(err, errlen, "tensor %" PRIu32 " has an empty name", i);
		return MF_ART_ERR_NAME;
	}
	for (k = 0; k < nlen; k++)
	{
		if (!ArtNameChar(name[k]))
		{
			ArtSetErr(err, errlen, "tensor %" PRIu32 " name has an invalid byte 0x%02x", i, name[k]);
			return MF_ART_ERR_NAME;
		}
	}
	for (k = nlen; k < MF_ARTIFACT_NAME_LEN; k++)
	{
		if (name[k] != 0)
		{
			ArtSetErr(err, errlen, "tensor \"%s\" name padding is not zero", (const char *) name);
			return MF_ART_ERR_NAME;
		}
	}
	for (j = 0; j < i; j++)
	{
		/* both names are NUL-padded to the full field: compare the fields */
		if (memcmp(b + MF_ARTIFACT_HEADER_SIZE + (size_t) j * MF_ARTIFACT_DIRENT_SIZE,
				   name, MF_ARTIFACT_NAME_LEN) == 0)
		{
			ArtSetErr(err, errlen, "duplicate tensor name \"%s\" (tensors %" PRIu32 " and %" PRIu32 ")",
					  (const char *) name, j, i);
			return MF_ART_ERR_DUPLICATE_NAME;
		}
	}
	return MF_ART_OK;
}

/* dtype (one the artifact's format version has), ndim, unused dims and nbytes of an entry. */
static MfArtErr
ArtCheckShape(const ArtDirent *d, uint32_t version, char *err, size_t errlen)
{
	uint64_t	n_elems,
				nbytes;
	uint32_t	k;
	char		shape[128];

	if (ArtDtypeSize(d->dtype) == 0)
	{
		ArtSetErr(err, errlen, "tensor \"%s\" has unknown dtype %" PRIu32, d->name, d->dtype);
		return MF_ART_ERR_DTYPE;
	}
	if (d->dtype == MF_ARTIFACT_DTYPE_FLOAT32 && version < 2)
	{
		ArtSetErr(err, errlen, "tensor \"%s\" has dtype 2 (float32), which format version %" PRIu32 " does not have",
				  d->name, version);
		return MF_ART_ERR_DTYPE;
	}
	if (d->ndim > MF_ARTIFACT_MAX_NDIM)
	{
		ArtSetErr(err, errlen, "tensor \"%s\" has %" PRIu32 " dimensions (at most %d)",
				  d->name, d->ndim, MF_ARTIFACT_MAX_NDIM);
		return MF_ART_ERR_NDIM;
	}
	for (k = d->ndim; k < MF_ARTIFACT_MAX_NDIM; k++)
	{
		if (d->dims[k] != 0)
		{
			ArtSetErr(err, errlen, "tensor \"%s\" has a non-zero unused dimension %" PRIu32, d->name, k);
			return MF_ART_ERR_SHAPE;
		}
	}
	if (!ArtShapeBytes(d->ndim, d->dims, ArtDtypeSize(d->dtype), &n_elems, &nbytes))
	{
		ArtSetErr(err, errlen, "tensor \"%s\" shape %s overflows 64 bits", d->name,
				  ArtShapeStr(shape, sizeof(shape), d->ndim, d->dims));
		return MF_ART_ERR_SHAPE;
	}
	if (nbytes != d->nbytes)
	{
		ArtSetErr(err, errlen, "tensor \"%s\" shape %s needs %" PRIu64 " bytes but the directory says %" PRIu64,
				  d->name, ArtShapeStr(shape, sizeof(shape), d->ndim, d->dims), nbytes, d->nbytes);
		return MF_ART_ERR_SHAPE;
	}
	return MF_ART_OK;
}

/* Check that b[from..to) is all zero; false with a message otherwise. */
static bool
ArtZeroBytes(const unsigned char *b, uint64_t from, uint64_t to,
			 char *err, size_t errlen)
{
	uint64_t	k;

	for (k = from; k < to; k++)
	{
		if (b[k] != 0)
		{
			ArtSetErr(err, errlen, "non-zero padding byte 0x%02x at offset %" PRIu64, b[k], k);
			return false;
		}
	}
	return true;
}

/*
 * Placement of an entry: aligned, after the metadata and the previous
 * tensor, inside the buffer, without a gap and with zero padding.
 * *prev_end is the end of the previous region; prev names its tensor.
 */
static MfArtErr
ArtCheckPlacement(const unsigned char *b, size_t len, const ArtDirent *d,
				  uint64_t meta_end, uint64_t prev_end, const char *prev,
				  char *err, size_t errlen)
{
	if (d->offset % 8 != 0)
	{
		ArtSetErr(err, errlen, "tensor \"%s\" offset %" PRIu64 " is not a multiple of 8", d->name, d->offset);
		return MF_ART_ERR_MISALIGNED;
	}
	if (d->offset < meta_end)
	{
		ArtSetErr(err, errlen, "tensor \"%s\" starts at offset %" PRIu64 ", inside the header, directory or metadata (which end at %" PRIu64 ")",
				  d->name, d->offset, meta_end);
		return MF_ART_ERR_BOUNDS;
	}
	if (d->offset < prev_end)
	{
		ArtSetErr(err, errlen, "tensor \"%s\" at offset %" PRIu64 " overlaps tensor \"%s\", which ends at %" PRIu64 " (tensors are stored in directory order)",
				  d->name, d->offset, prev, prev_end);
		return MF_ART_ERR_OVERLAP;
	}
	if (d->offset > len || d->nbytes > len - d->offset)
	{
		ArtSetErr(err, errlen, "tensor \"%s\" extends past the end of the artifact (offset %" PRIu64 " + %" PRIu64 " bytes > %zu)",
				  d->name, d->offset, d->nbytes, len);
		return MF_ART_ERR_BOUNDS;
	}
	if (d->offset != ArtAlign8(prev_end))
	{
		ArtSetErr(err, errlen, "tensor \"%s\" starts at offset %" PRIu64 ", expected %" PRIu64 " (gaps are not allowed)",
				  d->name, d->offset, ArtAlign8(prev_end));
		return MF_ART_ERR_PADDING;
	}
	if (!ArtZeroBytes(b, prev_end, d->offset, err, errlen))
		return MF_ART_ERR_PADDING;
	return MF_ART_OK;
}

/* Every element of an entry is finite. */
static MfArtErr
ArtCheckFinite(const unsigned char *b, const ArtDirent *d, char *err,
			   size_t errlen)
{
	uint64_t	n = d->nbytes / ArtDtypeSize(d->dtype);
	double		bad;
	uint64_t	k = mf_art_first_non_finite(b + d->offset, d->dtype, n, &bad);

	if (k < n)
	{
		ArtSetErr(err, errlen, "tensor \"%s\" element %" PRIu64 " is not finite (%g)", d->name, k, bad);
		return MF_ART_ERR_NOT_FINITE;
	}
	return MF_ART_OK;
}

/* All directory entries and the tail of the artifact. */
static MfArtErr
ArtCheckTensors(const unsigned char *b, size_t len, const ArtHeader *h,
				char *err, size_t errlen)
{
	uint64_t	meta_end = MF_ARTIFACT_HEADER_SIZE +
		(uint64_t) h->n_tensors * MF_ARTIFACT_DIRENT_SIZE + h->meta_len;
	uint64_t	prev_end = meta_end;
	const char *prev = "";
	uint32_t	i;
	bool		has_f32 = false;
	MfArtErr	rc;
	ArtDirent	d;

	for (i = 0; i < h->n_tensors; i++)
	{
		rc = ArtCheckName(b, i, err, errlen);
		if (rc != MF_ART_OK)
			return rc;
		ArtReadDirent(b, i, &d);
		rc = ArtCheckShape(&d, h->version, err, errlen);
		if (rc == MF_ART_OK)
			rc = ArtCheckPlacement(b, len, &d, meta_end, prev_end, prev, err, errlen);
		if (rc == MF_ART_OK)
			rc = ArtCheckFinite(b, &d, err, errlen);
		if (rc != MF_ART_OK)
			return rc;
		prev_end = d.offset + d.nbytes;
		prev = d.name;
		has_f32 |= d.dtype == MF_ARTIFACT_DTYPE_FLOAT32;
	}
	if (h->version == 2 && !has_f32)
	{
		ArtSetErr(err, errlen, "artifact says format version 2 but holds no float32 tensor (such contents are written as version 1)");
		return MF_ART_ERR_HEADER;
	}
	if ((uint64_t) len != ArtAlign8(prev_end))
	{
		ArtSetErr(err, errlen, "artifact is %zu bytes but its last region ends at %" PRIu64 " (expected length %" PRIu64 ")",
				  len, prev_end, ArtAlign8(prev_end));
		return MF_ART_ERR_PADDING;
	}
	if (!ArtZeroBytes(b, prev_end, len, err, errlen))
		return MF_ART_ERR_PADDING;
	return MF_ART_OK;
}

/* Validate buf[0..len) completely and fill *view. */
MfArtErr
mf_artifact_open(const void *buf, size_t len, MfArtifactView *view,
				 char *err, size_t errlen)
{
	const unsigned char *b = buf;
	ArtHeader	h;
	MfArtErr	rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (view != NULL)
		memset(view, 0, sizeof(*view));
	if (buf == NULL || view == NULL)
	{
		ArtSetErr(err, errlen, "mf_artifact_open needs a buffer and a view");
		return MF_ART_ERR_ARG;
	}
	rc = ArtCheckEnvelope(b, len, &h, err, errlen);
	if (rc == MF_ART_OK)
		rc = ArtCheckLayout(b, len, &h, err, errlen);
	if (rc == MF_ART_OK)
		rc = ArtCheckTensors(b, len, &h, err, errlen);
	if (rc != MF_ART_OK)
		return rc;
	view->base = b;
	view->len = len;
	view->version = h.version;
	view->family = h.family;
	view->n_tensors = h.n_tensors;
	view->meta = (const char *) b + MF_ARTIFACT_HEADER_SIZE +
		(size_t) h.n_tensors * MF_ARTIFACT_DIRENT_SIZE;
	view->meta_len = h.meta_len;
	return MF_ART_OK;
}

/* The index-th tensor of an open artifact. */
MfArtErr
mf_artifact_tensor_at(const MfArtifactView *view, uint32_t index,
					  MfArtifactTensor *out)
{
	const unsigned char *p;
	const void *data;
	uint64_t	n_elems = 0,
				nbytes = 0;
	uint32_t	ndim;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (view == NULL || out == NULL || view->base == NULL || index >= view->n_tensors)
		return MF_ART_ERR_ARG;
	p = view->base + MF_ARTIFACT_HEADER_SIZE + (size_t) index * MF_ARTIFACT_DIRENT_SIZE;
	ndim = ArtGet32(p + ART_DE_NDIM);
	out->name = (const char *) p;
	out->dtype = ArtGet32(p + ART_DE_DTYPE);
	out->ndim = ndim;
	/* 8-aligned: base is aligned, 40 + i * 88 + 40 is a multiple of 8 */
	out->dims = (const uint64_t *) (const void *) (p + ART_DE_DIMS);
	/* the loader proved dtype known and the shape's size to fit */
	(void) ArtShapeBytes(ndim, out->dims, ArtDtypeSize(out->dtype), &n_elems, &nbytes);
	out->n_elems = n_elems;
	data = view->base + ArtGet64(p + ART_DE_OFFSET);
	if (out->dtype == MF_ARTIFACT_DTYPE_FLOAT32)
		out->data_f32 = data;
	else
		out->data = data;
	return MF_ART_OK;
}

/* Compare a tensor's shape with the expectation; message on mismatch. */
static MfArtErr
ArtCheckExpected(const MfArtifactTensor *t, int expected_ndim,
				 const uint64_t *expected_dims, char *err, size_t errlen)
{
	char		got[128],
				want[128];
	uint32_t	k;

	if (expected_ndim < 0)
		return MF_ART_OK;
	if (t->ndim != (uint32_t) expected_ndim)
	{
		ArtSetErr(err, errlen, "tensor \"%s\" has %" PRIu32 " dimensions, expected %d",
				  t->name, t->ndim, expected_ndim);
		return MF_ART_ERR_WRONG_SHAPE;
	}
	if (expected_dims == NULL)
		return MF_ART_OK;
	for (k = 0; k < t->ndim; k++)
	{
		if (expected_dims[k] != 0 && expected_dims[k] != t->dims[k])
		{
			ArtSetErr(err, errlen, "tensor \"%s\" has shape %s, expected %s", t->name,
					  ArtShapeStr(got, sizeof(got), t->ndim, t->dims),
					  ArtShapeStr(want, sizeof(want), t->ndim, expected_dims));
			return MF_ART_ERR_WRONG_SHAPE;
		}
	}
	return MF_ART_OK;
}

/* Find a tensor of dtype (0: either) by name and check its shape. */
MfArtErr
mf_artifact_tensor_typed(const MfArtifactView *view, const char *name,
						 uint32_t dtype, int expected_ndim,
						 const uint64_t *expected_dims, MfArtifactTensor *out,
						 char *err, size_t errlen)
{
	uint32_t	i;
	MfArtErr	rc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (view == NULL || view->base == NULL || name == NULL || out == NULL ||
		expected_ndim > MF_ARTIFACT_MAX_NDIM || (dtype != 0 && ArtDtypeSize(dtype) == 0))
	{
		ArtSetErr(err, errlen, "mf_artifact_tensor: invalid argument");
		return MF_ART_ERR_ARG;
	}
	for (i = 0; i < view->n_tensors; i++)
	{
		const char *n = (const char *) view->base + MF_ARTIFACT_HEADER_SIZE +
			(size_t) i * MF_ARTIFACT_DIRENT_SIZE;

		if (strncmp(n, name, MF_ARTIFACT_NAME_LEN) == 0)
		{
			rc = mf_artifact_tensor_at(view, i, out);
			if (rc == MF_ART_OK && dtype != 0 && out->dtype != dtype)
			{
				ArtSetErr(err, errlen, "tensor \"%s\" holds %s values, expected %s", out->name,
						  mf_artifact_dtype_name(out->dtype), mf_artifact_dtype_name(dtype));
				rc = MF_ART_ERR_WRONG_DTYPE;
			}
			if (rc == MF_ART_OK)
				rc = ArtCheckExpected(out, expected_ndim, expected_dims, err, errlen);
			if (rc != MF_ART_OK)
				memset(out, 0, sizeof(*out));
			return rc;
		}
	}
	ArtSetErr(err, errlen, "artifact has no tensor \"%.64s\"", name);
	return MF_ART_ERR_NOT_FOUND;
}

/* Find a float64 tensor by name and check its shape. */
MfArtErr
mf_artifact_tensor(const MfArtifactView *view, const char *name,
				   int expected_ndim, const uint64_t *expected_dims,
				   MfArtifactTensor *out, char *err, size_t errlen)
{
	return mf_artifact_tensor_typed(view, name, MF_ARTIFACT_DTYPE_FLOAT64, expected_ndim,
									expected_dims, out, err, errlen);
}

/* The format version of an artifact's header, or 0. */
uint32_t
mf_artifact_format_version(const void *buf, size_t len)
{
	if (buf == NULL || len < MF_ARTIFACT_HEADER_SIZE ||
		memcmp(buf, mf_art_magic, sizeof(mf_art_magic)) != 0)
		return 0;
	return ArtGet32((const unsigned char *) buf + ART_OFF_VERSION);
}
