/*
 * artifact_layout.h - what the artifact writer (artifact_write.c) and the
 * loader (artifact.c) share: field offsets, the magic number, byte access
 * and size arithmetic.  Internal to model/; the format is documented in
 * artifact.h.
 */
#ifndef MF_ARTIFACT_LAYOUT_H
#define MF_ARTIFACT_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "artifact.h"

/* Header field offsets. */
#define ART_OFF_VERSION		8
#define ART_OFF_FAMILY		12
#define ART_OFF_NTENSORS	16
#define ART_OFF_METALEN		20
#define ART_OFF_TOTALLEN	24
#define ART_OFF_RESERVED	32
#define ART_OFF_CRC			36

/* Directory entry field offsets. */
#define ART_DE_DTYPE		32
#define ART_DE_NDIM			36
#define ART_DE_DIMS			40
#define ART_DE_OFFSET		72
#define ART_DE_NBYTES		80

/* The 8 bytes every artifact starts with. */
extern const unsigned char mf_art_magic[8];

/* True on a little-endian host. */
static inline bool
ArtHostIsLittleEndian(void)
{
	const uint32_t one = 1;
	unsigned char b;

	memcpy(&b, &one, 1);
	return b == 1;
}

/* Read a u32 (the host is known to be little-endian). */
static inline uint32_t
ArtGet32(const unsigned char *p)
{
	uint32_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Read a u64 (the host is known to be little-endian). */
static inline uint64_t
ArtGet64(const unsigned char *p)
{
	uint64_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Write a u32 in host (little-endian) order. */
static inline void
ArtPut32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Write a u64 in host (little-endian) order. */
static inline void
ArtPut64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Round up to a multiple of 8; the caller guarantees no overflow. */
static inline uint64_t
ArtAlign8(uint64_t x)
{
	return (x + 7) & ~(uint64_t) 7;
}

/* A name character: printable ASCII other than quote and backslash. */
static inline bool
ArtNameChar(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* Bytes of one element of a dtype; 0 for a dtype this build does not know. */
static inline uint64_t
ArtDtypeSize(uint32_t dtype)
{
	return dtype == MF_ARTIFACT_DTYPE_FLOAT64 ? 8 :
		dtype == MF_ARTIFACT_DTYPE_FLOAT32 ? 4 : 0;
}

/*
 * Product of dims times elem_size (bytes); false on 64-bit overflow.
 * elem_size is 4 or 8.
 */
static inline bool
ArtShapeBytes(uint32_t ndim, const uint64_t *dims, uint64_t elem_size,
			  uint64_t *n_elems, uint64_t *nbytes)
{
	uint64_t	n = 1;
	uint32_t	i;

	for (i = 0; i < ndim; i++)
	{
		if (dims[i] != 0 && n > UINT64_MAX / dims[i])
			return false;
		n *= dims[i];
	}
	if (n > UINT64_MAX / elem_size)
		return false;
	*n_elems = n;
	*nbytes = n * elem_size;
	return true;
}

/* crc32 of the artifact, skipping the crc field itself. */
extern uint32_t mf_art_checksum(const unsigned char *buf, size_t len);

/*
 * Validate UTF-8 without NUL (no overlongs, surrogates or code points past
 * U+10FFFF).  Returns true, or false with the offending offset in *bad.
 */
extern bool mf_art_utf8_valid(const unsigned char *s, size_t len, size_t *bad);

/*
 * Index of the first non-finite element of x[0..n) of dtype, its value in
 * *bad; n when all are finite.
 */
extern uint64_t mf_art_first_non_finite(const void *x, uint32_t dtype, uint64_t n,
										double *bad);

#endif							/* MF_ARTIFACT_LAYOUT_H */
