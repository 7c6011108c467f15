/*
 * artifact_bytes.h - byte-level helpers shared by the artifact tests: read
 * and patch header/directory fields (little-endian host), recompute the
 * checksum as the format defines it (crc32 of every byte but 36..39), and
 * assert that the loader refuses bytes with a given code and message.
 */
#ifndef ARTIFACT_BYTES_H
#define ARTIFACT_BYTES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "artifact.h"
#include "mf_test.h"

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

static int	art_n_allocs = 0;

/* malloc that fills the block with garbage, to prove padding is zeroed. */
static inline void *
art_garbage_alloc(void *ctx, size_t size)
{
	void	   *p = malloc(size);

	(void) ctx;
	if (p != NULL)
		memset(p, 0xa5, size);
	art_n_allocs++;
	return p;
}

/* free for art_garbage_alloc. */
static inline void
art_test_free(void *ctx, void *p)
{
	(void) ctx;
	free(p);
}

/* Store a fresh checksum. */
static inline void
art_reseal(unsigned char *b, size_t len)
{
	put32(b + 36, crc_of(b, len));
}

/* Directory entry i. */
static inline unsigned char *
art_dirent(unsigned char *b, int i)
{
	return b + 40 + 88 * i;
}

/* A private copy of buf (malloc: 16-byte aligned), with room to spare. */
static inline unsigned char *
art_copy_of(const unsigned char *b, size_t len, size_t extra)
{
	unsigned char *c = calloc(1, len + extra + 8);

	memcpy(c, b, len);
	return c;
}

/* Open b and assert the error code and the exact message. */
static inline void
art_expect_err(const unsigned char *b, size_t len, MfArtErr code,
		   const char *msg, const char *name)
{
	MfArtifactView v;
	char		err[512];
	char		label[300];
	MfArtErr	rc = mf_artifact_open(b, len, &v, err, sizeof(err));

	snprintf(label, sizeof(label), "%s: code %s", name, mf_artifact_strerror(code));
	if (!MF_OK(rc == code, label))
		MF_DIAG("  got code %d (%s): %s", (int) rc, mf_artifact_strerror(rc), err);
	snprintf(label, sizeof(label), "%s: message", name);
	MF_STR_EQ(err, msg, label);
	snprintf(label, sizeof(label), "%s: view cleared", name);
	MF_OK(v.base == NULL && v.n_tensors == 0, label);
}

#endif							/* ARTIFACT_BYTES_H */
