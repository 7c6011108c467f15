/*
 * artifact_bytes.h - byte-level helpers shared by the artifact tests: read
 * and patch header/directory fields (little-endian host) and recompute the
 * checksum as the format defines it (crc32 of every byte but 36..39).
 */
#ifndef ARTIFACT_BYTES_H
#define ARTIFACT_BYTES_H

#include <stdint.h>
#include <string.h>
#include <zlib.h>

/* Store a u32 at p. */
static inline void
put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* Store a u64 at p. */
static inline void
put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* Load a u32 from p. */
static inline uint32_t
get32(const unsigned char *p)
{
	uint32_t	v;

	memcpy(&v, p, 4);
	return v;
}

/* Load a u64 from p. */
static inline uint64_t
get64(const unsigned char *p)
{
	uint64_t	v;

	memcpy(&v, p, 8);
	return v;
}

/* The checksum of an artifact of len >= 40 bytes. */
static inline uint32_t
crc_of(const unsigned char *b, size_t len)
{
	uLong		c = crc32(0L, Z_NULL, 0);

	c = crc32(c, b, 36);
	c = crc32(c, b + 40, (uInt) (len - 40));
	return (uint32_t) c;
}

#endif							/* ARTIFACT_BYTES_H */
