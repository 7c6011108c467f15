/*
 * artifact_write.c - the writer of the binary model artifact (layout in
 * artifact.h; the loader is artifact.c).
 *
 * Tensors are referenced until finish, which lays the artifact out in one
 * buffer in canonical form: directory order, each tensor at the next
 * multiple of 8, zero padding, and the lowest format version that can hold
 * the contents (1 when every tensor is float64, 2 as soon as one is
 * float32), so artifacts of float64 models are byte for byte what earlier
 * builds wrote.  Non-finite values are refused here as the loader would.
 */
#include "artifact_layout.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static MfArtErr ArtWriterFail(MfArtifactWriter *w, MfArtErr code,
							  const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* Record the writer's first error and return it. */
static MfArtErr
ArtWriterFail(MfArtifactWriter *w, MfArtErr code, const char *fmt,...)
{
	va_list		ap;

	if (w->status != MF_ART_OK)
		return w->status;
	w->status = code;
	va_start(ap, fmt);
	vsnprintf(w->errmsg, sizeof(w->errmsg), fmt, ap);
	va_end(ap);
	return code;
}

/* Release the writer's directory. */
static void
ArtWriterFreeEntries(MfArtifactWriter *w)
{
	if (w->entries != NULL && w->alloc.free != NULL)
		w->alloc.free(w->alloc.ctx, w->entries);
	w->entries = NULL;
	w->n_entries = 0;
	w->cap_entries = 0;
}

/* Start a writer for a family; allocations go through *alloc. */
MfArtErr
mf_artifact_writer_begin(MfArtifactWriter *w, uint32_t family,
						 const MfArtAllocator *alloc)
{
	if (w == NULL)
		return MF_ART_ERR_ARG;
	memset(w, 0, sizeof(*w));
	if (alloc == NULL || alloc->alloc == NULL)
		return ArtWriterFail(w, MF_ART_ERR_ARG, "artifact writer needs an allocator");
	w->alloc = *alloc;
	if (mf_artifact_family_name(family) == NULL)
		return ArtWriterFail(w, MF_ART_ERR_ARG, "unknown model family code %" PRIu32, family);
	w->family = family;
	return MF_ART_OK;
}

/* Check a tensor name for the writer; false with a message in w. */
static bool
ArtWriterNameOk(MfArtifactWriter *w, const char *name)
{
	size_t		len,
				i;
	uint32_t	j;

	if (name == NULL || name[0] == '\0')
	{
		ArtWriterFail(w, MF_ART_ERR_ARG, "tensor name must not be empty");
		return false;
	}
	len = strlen(name);
	if (len >= MF_ARTIFACT_NAME_LEN)
	{
		ArtWriterFail(w, MF_ART_ERR_ARG, "tensor name \"%.40s\" is too long (%zu bytes, at most %d)",
					  name, len, MF_ARTIFACT_NAME_LEN - 1);
		return false;
	}
	for (i = 0; i < len; i++)
	{
		if (!ArtNameChar((unsigned char) name[i]))
		{
			ArtWriterFail(w, MF_ART_ERR_ARG,
						  "tensor name has an invalid byte 0x%02x (printable ASCII other than quote, backslash and space only)",
						  (unsigned char) name[i]);
			return false;
		}
	}
	for (j = 0; j < w->n_entries; j++)
	{
		if (strcmp(w->entries[j].name, name) == 0)
		{
			ArtWriterFail(w, MF_ART_ERR_ARG, "duplicate tensor name \"%s\"", name);
			return false;
		}
	}
	return true;
}

/* Make room for one more directory entry. */
static MfArtErr
ArtWriterGrow(MfArtifactWriter *w)
{
	MfArtWriterEntry *n;
	uint32_t	cap;

	if (w->n_entries < w->cap_entries)
		return MF_ART_OK;
	cap = w->cap_entries ? w->cap_entries * 2 : 16;
	if (cap > MF_ARTIFACT_MAX_TENSORS)
		cap = MF_ARTIFACT_MAX_TENSORS;
	n = w->alloc.alloc(w->alloc.ctx, (size_t) cap * sizeof(MfArtWriterEntry));
	if (n == NULL)
		return ArtWriterFail(w, MF_ART_ERR_NOMEM, "out of memory for the artifact directory");
	if (w->n_entries > 0)
		memcpy(n, w->entries, (size_t) w->n_entries * sizeof(MfArtWriterEntry));
	if (w->entries != NULL && w->alloc.free != NULL)
		w->alloc.free(w->alloc.ctx, w->entries);
	w->entries = n;
	w->cap_entries = cap;
	return MF_ART_OK;
}

/* Queue a tensor of dtype (data holds its row-major values). */
static MfArtErr
ArtWriterAdd(MfArtifactWriter *w, const char *name, uint32_t dtype,
			 uint32_t ndim, const uint64_t *dims, const void *data)
{
	MfArtWriterEntry *e;
	uint64_t	n_elems,
				nbytes;
	MfArtErr	rc;

	if (w == NULL)
		return MF_ART_ERR_ARG;
	if (w->status != MF_ART_OK)
		return w->status;
	if (!ArtWriterNameOk(w, name))
		return w->status;
	if (ndim > MF_ARTIFACT_MAX_NDIM)
		return ArtWriterFail(w, MF_ART_ERR_ARG, "tensor \"%s\" has %" PRIu32 " dimensions (at most %d)",
							 name, ndim, MF_ARTIFACT_MAX_NDIM);
	if (ndim > 0 && dims == NULL)
		return ArtWriterFail(w, MF_ART_ERR_ARG, "tensor \"%s\" has no dims", name);
	if (!ArtShapeBytes(ndim, dims, ArtDtypeSize(dtype), &n_elems, &nbytes) ||
		nbytes > SIZE_MAX / 2)
		return ArtWriterFail(w, MF_ART_ERR_ARG, "tensor \"%s\" is too large", name);
	if (n_elems > 0 && data == NULL)
		return ArtWriterFail(w, MF_ART_ERR_ARG, "tensor \"%s\" has no data", name);
	if (w->n_entries >= MF_ARTIFACT_MAX_TENSORS)
		return ArtWriterFail(w, MF_ART_ERR_ARG, "too many tensors (at most %d)",
							 MF_ARTIFACT_MAX_TENSORS);
	rc = ArtWriterGrow(w);
	if (rc != MF_ART_OK)
		return rc;
	e = &w->entries[w->n_entries++];
	memset(e, 0, sizeof(*e));
	strcpy(e->name, name);
	e->dtype = dtype;
	e->ndim = ndim;
	if (ndim > 0)
		memcpy(e->dims, dims, ndim * sizeof(uint64_t));
	e->n_elems = n_elems;
	e->data = data;
	return MF_ART_OK;
}

/* Queue a float64 tensor: ndim 0..4 dims (NULL when ndim is 0), row-major data. */
MfArtErr
mf_artifact_writer_add(MfArtifactWriter *w, const char *name, uint32_t ndim,
					   const uint64_t *dims, const double *data)
{
	return ArtWriterAdd(w, name, MF_ARTIFACT_DTYPE_FLOAT64, ndim, dims, data);
}

/* Queue a float32 tensor (format version 2); as mf_artifact_writer_add. */
MfArtErr
mf_artifact_writer_add_f32(MfArtifactWriter *w, const char *name, uint32_t ndim,
						   const uint64_t *dims, const float *data)
{
	return ArtWriterAdd(w, name, MF_ARTIFACT_DTYPE_FLOAT32, ndim, dims, data);
}

/* Set the metadata text (UTF-8 without NUL); referenced until finish. */
MfArtErr
mf_artifact_writer_set_meta(MfArtifactWriter *w, const char *meta, size_t len)
{
	size_t		bad;

	if (w == NULL)
		return MF_ART_ERR_ARG;
	if (w->status != MF_ART_OK)
		return w->status;
	if (len > 0 && meta == NULL)
		return ArtWriterFail(w, MF_ART_ERR_ARG, "artifact metadata is NULL");
	if (len > UINT32_MAX)
		return ArtWriterFail(w, MF_ART_ERR_ARG, "artifact metadata is too long (%zu bytes)", len);
	if (!mf_art_utf8_valid((const unsigned char *) meta, len, &bad))
		return ArtWriterFail(w, MF_ART_ERR_ARG,
							 "artifact metadata is not valid UTF-8 without NUL (byte %zu)", bad);
	w->meta = meta;
	w->meta_len = len;
	return MF_ART_OK;
}

/* Release a writer's memory without producing an artifact. */
void
mf_artifact_writer_discard(MfArtifactWriter *w)
{
	if (w != NULL)
		ArtWriterFreeEntries(w);
}

/* Bytes of an entry's data (its size was checked when it was queued). */
static uint64_t
ArtWriterEntryBytes(const MfArtWriterEntry *e)
{
	return e->n_elems * ArtDtypeSize(e->dtype);
}

/* The format version of the contents: 2 when a tensor is float32, else 1. */
static uint32_t
ArtWriterVersion(const MfArtifactWriter *w)
{
	uint32_t	i;

	for (i = 0; i < w->n_entries; i++)
		if (w->entries[i].dtype == MF_ARTIFACT_DTYPE_FLOAT32)
			return 2;
	return 1;
}

/* Total length of the artifact; false when it would not fit in size_t. */
static bool
ArtWriterLayout(const MfArtifactWriter *w, uint64_t *total)
{
	uint64_t	pos;
	uint32_t	i;

	/* every step keeps pos <= SIZE_MAX - 8, so aligning cannot overflow */
	pos = MF_ARTIFACT_HEADER_SIZE + (uint64_t) w->n_entries * MF_ARTIFACT_DIRENT_SIZE;
	if ((uint64_t) w->meta_len > (uint64_t) SIZE_MAX - 8 - pos)
		return false;
	pos += w->meta_len;
	for (i = 0; i < w->n_entries; i++)
	{
		uint64_t	nbytes = ArtWriterEntryBytes(&w->entries[i]);

		pos = ArtAlign8(pos);
		if (nbytes > (uint64_t) SIZE_MAX - 8 - pos)
			return false;
		pos += nbytes;
	}
	*total = ArtAlign8(pos);
	return true;
}

/* Write header and directory (buffer already zeroed). */
static void
ArtWriterEmitDirectory(const MfArtifactWriter *w, unsigned char *buf,
					   uint64_t total)
{
	uint64_t	pos;
	uint32_t	i,
				d;

	memcpy(buf, mf_art_magic, sizeof(mf_art_magic));
	ArtPut32(buf + ART_OFF_VERSION, ArtWriterVersion(w));
	ArtPut32(buf + ART_OFF_FAMILY, w->family);
	ArtPut32(buf + ART_OFF_NTENSORS, w->n_entries);
	ArtPut32(buf + ART_OFF_METALEN, (uint32_t) w->meta_len);
	ArtPut64(buf + ART_OFF_TOTALLEN, total);
	pos = MF_ARTIFACT_HEADER_SIZE + (uint64_t) w->n_entries * MF_ARTIFACT_DIRENT_SIZE + w->meta_len;
	for (i = 0; i < w->n_entries; i++)
	{
		const MfArtWriterEntry *e = &w->entries[i];
		unsigned char *de = buf + MF_ARTIFACT_HEADER_SIZE + (size_t) i * MF_ARTIFACT_DIRENT_SIZE;
		uint64_t	nbytes = ArtWriterEntryBytes(e);

		pos = ArtAlign8(pos);
		memcpy(de, e->name, strlen(e->name));
		ArtPut32(de + ART_DE_DTYPE, e->dtype);
		ArtPut32(de + ART_DE_NDIM, e->ndim);
		for (d = 0; d < e->ndim; d++)
			ArtPut64(de + ART_DE_DIMS + 8 * d, e->dims[d]);
		ArtPut64(de + ART_DE_OFFSET, pos);
		ArtPut64(de + ART_DE_NBYTES, nbytes);
		pos += nbytes;
	}
	if (w->meta_len > 0)
		memcpy(buf + MF_ARTIFACT_HEADER_SIZE + (size_t) w->n_entries * MF_ARTIFACT_DIRENT_SIZE,
			   w->meta, w->meta_len);
}

/* Copy one tensor's data into place; false (with message) on NaN/Inf. */
static bool
ArtWriterEmitTensor(MfArtifactWriter *w, const MfArtWriterEntry *e,
					unsigned char *dst)
{
	double		value;
	uint64_t	k = mf_art_first_non_finite(e->data, e->dtype, e->n_elems, &value);

	if (k < e->n_elems)
	{
		ArtWriterFail(w, MF_ART_ERR_ARG, "tensor \"%s\" element %" PRIu64 " is not finite (%g)",
					  e->name, k, value);
		return false;
	}
	if (e->n_elems > 0)
		memcpy(dst, e->data, (size_t) ArtWriterEntryBytes(e));
	return true;
}

/*
 * Lay out the artifact in one buffer from the allocator (*out, *out_len)
 * and release the writer's own memory.
 */
MfArtErr
mf_artifact_writer_finish(MfArtifactWriter *w, void **out, size_t *out_len)
{
	unsigned char *buf;
	uint64_t	total = 0,
				pos;
	uint32_t	i;
	MfArtErr	rc;

	if (out != NULL)
		*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if (w == NULL)
		return MF_ART_ERR_ARG;
	if (out == NULL || out_len == NULL)
		ArtWriterFail(w, MF_ART_ERR_ARG, "artifact writer finish needs an output pointer");
	if (!ArtHostIsLittleEndian())
		ArtWriterFail(w, MF_ART_ERR_BIG_ENDIAN, "model artifacts are little-endian and cannot be written on a big-endian host");
	if (w->status == MF_ART_OK && !ArtWriterLayout(w, &total))
		ArtWriterFail(w, MF_ART_ERR_ARG, "artifact would be too large");
	if (w->status != MF_ART_OK)
	{
		ArtWriterFreeEntries(w);
		return w->status;
	}
	buf = w->alloc.alloc(w->alloc.ctx, (size_t) total);
	if (buf == NULL)
	{
		ArtWriterFreeEntries(w);
		return ArtWriterFail(w, MF_ART_ERR_NOMEM, "out of memory for a %" PRIu64 "-byte artifact", total);
	}
	memset(buf, 0, (size_t) total);
	ArtWriterEmitDirectory(w, buf, total);
	pos = MF_ARTIFACT_HEADER_SIZE + (uint64_t) w->n_entries * MF_ARTIFACT_DIRENT_SIZE + w->meta_len;
	for (i = 0; i < w->n_entries; i++)
	{
		pos = ArtAlign8(pos);
		if (!ArtWriterEmitTensor(w, &w->entries[i], buf + pos))
			break;
		pos += ArtWriterEntryBytes(&w->entries[i]);
	}
	ArtWriterFreeEntries(w);
	rc = w->status;
	if (rc != MF_ART_OK)
	{
		if (w->alloc.free != NULL)
			w->alloc.free(w->alloc.ctx, buf);
		return rc;
	}
	ArtPut32(buf + ART_OFF_CRC, mf_art_checksum(buf, (size_t) total));
	*out = buf;
	*out_len = (size_t) total;
	return MF_ART_OK;
}
