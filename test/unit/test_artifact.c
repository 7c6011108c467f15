/*
 * test_artifact.c - unit tests of the model artifact writer and loader:
 * round trip, determinism, every validation failure with its code and
 * message, lookups, and a 1 MB model.
 *
 * Damaged artifacts are made by patching a valid one at the offsets given
 * in artifact.h; "resealed" variants get a fresh checksum so that the
 * structural check behind the checksum is the one that fires.
 */
#include "artifact.h"
#include "mf_test.h"
#include "artifact_bytes.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <zlib.h>

/* Sample layout (see make_sample): 5 tensors, 45 bytes of metadata. */
#define DIR_END		(40 + 5 * 88)	/* 480 */
#define META_LEN	45
#define META_END	(DIR_END + META_LEN)	/* 525 */
#define OFF_W0		528			/* 3x4 = 12 doubles = 96 bytes */
#define OFF_B0		624			/* 4 doubles = 32 bytes */
#define OFF_W1		656			/* 4x2 = 8 doubles = 64 bytes */
#define OFF_B1		720			/* 2 doubles = 16 bytes */
#define OFF_SCALE	736			/* scalar: 8 bytes */
#define TOTAL_LEN	744

static const char sample_meta[] = "{\"features\":[\"a\",\"b\",\"c\"],\"labels\":[\"x\",\"y\"]}";
static double w0[12] = {0.5, -1.25, 3.0, 1e-300, -0.0, 2.5e300, 7, 8, 9, 10, 11, 12.125};
static double b0[4] = {0.1, 0.2, 0.3, 0.4};
static double w1[8] = {-1, -2, -3, -4, 5, 6, 7, 8};
static double b1[2] = {4.940656458412465e-324, -1.5};
static double scale = 42.0;

/* An allocator that always fails. */
static void *
failing_alloc(void *ctx, size_t size)
{
	(void) ctx;
	(void) size;
	return NULL;
}

static const MfArtAllocator talloc = {art_garbage_alloc, art_test_free, NULL};

/* Write the sample artifact (caller frees). */
static unsigned char *
make_sample(size_t *len)
{
	MfArtifactWriter w;
	uint64_t	d_w0[2] = {3, 4},
				d_b0[1] = {4},
				d_w1[2] = {4, 2},
				d_b1[1] = {2};
	void	   *out = NULL;

	mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &talloc);
	mf_artifact_writer_add(&w, "w0", 2, d_w0, w0);
	mf_artifact_writer_add(&w, "b0", 1, d_b0, b0);
	mf_artifact_writer_add(&w, "w1", 2, d_w1, w1);
	mf_artifact_writer_add(&w, "b1", 1, d_b1, b1);
	mf_artifact_writer_add(&w, "scale", 0, NULL, &scale);
	mf_artifact_writer_set_meta(&w, sample_meta, strlen(sample_meta));
	if (mf_artifact_writer_finish(&w, &out, len) != MF_ART_OK)
	{
		MF_DIAG("make_sample failed: %s", w.errmsg);
		exit(1);
	}
	return out;
}

/* Round trip: every tensor, its shape and the metadata come back. */
static void
test_round_trip(void)
{
	size_t		len;
	unsigned char *b = make_sample(&len);
	MfArtifactView v;
	MfArtifactTensor t;
	char		err[256];
	MfArtErr	rc;

	MF_OK(len == TOTAL_LEN, "sample has the documented length 744");
	rc = mf_artifact_open(b, len, &v, err, sizeof(err));
	if (!MF_OK(rc == MF_ART_OK, "sample opens"))
		MF_DIAG("  %s", err);
	MF_STR_EQ(err, "", "no message on success");
	MF_OK(v.family == MF_ART_FAMILY_MLP && v.version == 1 && v.n_tensors == 5,
		  "family, version and tensor count");
	MF_OK(v.meta_len == strlen(sample_meta) && memcmp(v.meta, sample_meta, v.meta_len) == 0,
		  "metadata equal");
	MF_OK(v.meta == (const char *) b + DIR_END, "metadata right after the directory");
	MF_OK(memcmp(b, "MFART\0\0\1", 8) == 0, "magic");

	rc = mf_artifact_tensor(&v, "w0", 2, (const uint64_t[]) {3, 4}, &t, err, sizeof(err));
	MF_OK(rc == MF_ART_OK && t.n_elems == 12 && t.dims[0] == 3 && t.dims[1] == 4,
		  "w0 found with shape [3, 4]");
	MF_OK(rc == MF_ART_OK && memcmp(t.data, w0, sizeof(w0)) == 0, "w0 bit-identical (incl. -0, denormal)");
	MF_OK(t.data == (const double *) (b + OFF_W0), "w0 used in place at offset 528");
	MF_OK(((uintptr_t) t.data) % 8 == 0 && ((uintptr_t) t.dims) % 8 == 0, "data and dims 8-byte aligned");
	rc = mf_artifact_tensor(&v, "b1", 1, NULL, &t, err, sizeof(err));
	MF_OK(rc == MF_ART_OK && memcmp(t.data, b1, sizeof(b1)) == 0 &&
		  t.data == (const double *) (b + OFF_B1), "b1 bit-identical (denormal) at 720");
	rc = mf_artifact_tensor(&v, "scale", 0, NULL, &t, err, sizeof(err));
	MF_OK(rc == MF_ART_OK && t.ndim == 0 && t.n_elems == 1 && t.data[0] == 42.0 &&
		  t.data == (const double *) (b + OFF_SCALE), "scalar tensor at 736");
	rc = mf_artifact_tensor(&v, "w1", -1, NULL, &t, err, sizeof(err));
	MF_OK(rc == MF_ART_OK && memcmp(t.data, w1, sizeof(w1)) == 0 &&
		  t.data == (const double *) (b + OFF_W1), "w1 (any rank) at 656");
	rc = mf_artifact_tensor_at(&v, 1, &t);
	MF_OK(rc == MF_ART_OK && strcmp(t.name, "b0") == 0 && t.n_elems == 4 &&
		  memcmp(t.data, b0, sizeof(b0)) == 0 && t.data == (const double *) (b + OFF_B0),
		  "tensor_at(1) is b0 at 624");
	MF_OK(mf_artifact_tensor_at(&v, 5, &t) == MF_ART_ERR_ARG && t.data == NULL,
		  "tensor_at past the end is an argument error");

	/* lookup failures */
	rc = mf_artifact_tensor(&v, "w2", 2, NULL, &t, err, sizeof(err));
	MF_OK(rc == MF_ART_ERR_NOT_FOUND && t.data == NULL, "missing tensor: not found");
	MF_STR_EQ(err, "artifact has no tensor \"w2\"", "missing tensor: message");
	rc = mf_artifact_tensor(&v, "w0", 1, NULL, &t, err, sizeof(err));
	MF_OK(rc == MF_ART_ERR_WRONG_SHAPE && t.data == NULL, "wrong rank: wrong shape");
	MF_STR_EQ(err, "tensor \"w0\" has 2 dimensions, expected 1", "wrong rank: message");
	rc = mf_artifact_tensor(&v, "w0", 2, (const uint64_t[]) {0, 5}, &t, err, sizeof(err));
	MF_OK(rc == MF_ART_ERR_WRONG_SHAPE, "wrong size: wrong shape");
	MF_STR_EQ(err, "tensor \"w0\" has shape [3, 4], expected [0, 5]", "wrong size: message");
	rc = mf_artifact_tensor(&v, "w0", 2, (const uint64_t[]) {0, 4}, &t, err, sizeof(err));
	MF_OK(rc == MF_ART_OK && t.n_elems == 12, "0 in expected dims accepts any size");
	rc = mf_artifact_tensor(&v, "w0w0w0w0w0w0w0w0w0w0w0w0w0w0w0w0w0", -1, NULL, &t, err, sizeof(err));
	MF_OK(rc == MF_ART_ERR_NOT_FOUND, "over-long lookup name: not found");
	MF_OK(mf_artifact_err_is_corruption(MF_ART_ERR_NOT_FOUND) &&
		  mf_artifact_err_is_corruption(MF_ART_ERR_WRONG_SHAPE),
		  "lookup failures count as corruption");
	free(b);
}

/* The writer is deterministic and zeroes all padding. */
static void
test_determinism(void)
{
	size_t		len1,
				len2;
	unsigned char *a = make_sample(&len1);
	unsigned char *b = make_sample(&len2);
	int			zero = 1;
	size_t		k;

	MF_OK(len1 == len2 && memcmp(a, b, len1) == 0, "two writes are byte-identical");
	for (k = META_END; k < OFF_W0; k++)
		zero &= a[k] == 0;
	MF_OK(zero, "padding after the metadata is zero (allocator returned 0xa5)");
	zero = 1;
	for (k = 0; k < 5; k++)
	{
		const unsigned char *de = art_dirent(a, (int) k);
		size_t		j;

		for (j = strlen((const char *) de); j < 32; j++)
			zero &= de[j] == 0;
	}
	MF_OK(zero, "name padding is zero");
	MF_OK(get32(a + 32) == 0, "reserved field is zero");
	MF_OK(get64(art_dirent(a, 0) + 56) == 0 && get64(art_dirent(a, 0) + 64) == 0, "unused dims are zero");
	MF_OK(get32(a + 36) == crc_of(a, len1), "checksum field is crc32 of all other bytes");
	free(a);
	free(b);
}

/* Edge shapes: empty artifact, zero-size tensor, 4-d tensor. */
static void
test_edge_shapes(void)
{
	MfArtifactWriter w;
	MfArtifactView v;
	MfArtifactTensor t;
	void	   *out;
	size_t		len;
	char		err[256];
	double		x4[24];
	int			i;

	for (i = 0; i < 24; i++)
		x4[i] = i * 0.5;
	MF_OK(mf_artifact_writer_begin(&w, MF_ART_FAMILY_KMEANS, &talloc) == MF_ART_OK, "begin");
	MF_OK(mf_artifact_writer_finish(&w, &out, &len) == MF_ART_OK && len == 40, "empty artifact is 40 bytes");
	MF_OK(mf_artifact_open(out, len, &v, err, sizeof(err)) == MF_ART_OK &&
		  v.n_tensors == 0 && v.meta_len == 0 && v.family == MF_ART_FAMILY_KMEANS, "empty artifact opens");
	free(out);

	mf_artifact_writer_begin(&w, MF_ART_FAMILY_TRANSFORMER, &talloc);
	mf_artifact_writer_add(&w, "empty", 2, (const uint64_t[]) {0, 7}, NULL);
	mf_artifact_writer_add(&w, "x4", 4, (const uint64_t[]) {1, 2, 3, 4}, x4);
	mf_artifact_writer_set_meta(&w, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15);
	MF_OK(mf_artifact_writer_finish(&w, &out, &len) == MF_ART_OK, "zero-size and 4-d tensors write");
	MF_OK(mf_artifact_open(out, len, &v, err, sizeof(err)) == MF_ART_OK, "and open");
	MF_OK(mf_artifact_tensor(&v, "empty", 2, NULL, &t, err, sizeof(err)) == MF_ART_OK &&
		  t.n_elems == 0 && t.dims[1] == 7, "zero-size tensor keeps its shape");
	MF_OK(mf_artifact_tensor(&v, "x4", 4, (const uint64_t[]) {1, 2, 3, 4}, &t, err, sizeof(err)) == MF_ART_OK &&
		  memcmp(t.data, x4, sizeof(x4)) == 0, "4-d tensor round trip");
	MF_OK(v.meta_len == 15 && memcmp(v.meta, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15) == 0,
		  "multi-byte UTF-8 metadata round trip");
	free(out);
}

/* Writer input errors are reported, sticky, and leak nothing. */
static void
test_writer_errors(void)
{
	MfArtifactWriter w;
	void	   *out = (void *) 1;
	size_t		len = 99;
	double		nan_data[3] = {1.0, NAN, 2.0};
	double		one = 1.0;
	MfArtAllocator failing = {failing_alloc, NULL, NULL};
	int			i;
	char		name[16];

	MF_OK(mf_artifact_writer_begin(&w, 6, &talloc) == MF_ART_ERR_ARG, "unknown family refused");
	MF_STR_EQ(w.errmsg, "unknown model family code 6", "unknown family: message");
	MF_OK(mf_artifact_writer_finish(&w, &out, &len) == MF_ART_ERR_ARG && out == NULL && len == 0,
		  "finish after an error returns it and no buffer");

	mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &talloc);
	MF_OK(mf_artifact_writer_add(&w, "", 0, NULL, &one) == MF_ART_ERR_ARG, "empty name refused");
	MF_STR_EQ(w.errmsg, "tensor name must not be empty", "empty name: message");
	mf_artifact_writer_discard(&w);

	mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &talloc);
	MF_OK(mf_artifact_writer_add(&w, "abcdefghijabcdefghijabcdefghij012", 0, NULL, &one) == MF_ART_ERR_ARG,
		  "32-byte name refused");
	MF_STR_EQ(w.errmsg, "tensor name \"abcdefghijabcdefghijabcdefghij012\" is too long (33 bytes, at most 31)",
			  "long name: message");
	mf_artifact_writer_discard(&w);

	mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &talloc);
	MF_OK(mf_artifact_writer_add(&w, "a b", 0, NULL, &one) == MF_ART_ERR_ARG, "name with a space refused");
	MF_STR_EQ(w.errmsg, "tensor name has an invalid byte 0x20 (printable ASCII other than quote, backslash and space only)",
			  "bad name: message");
	mf_artifact_writer_discard(&w);

	mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &talloc);
	mf_artifact_writer_add(&w, "w", 0, NULL, &one);
	MF_OK(mf_artifact_writer_add(&w, "w", 0, NULL, &one) == MF_ART_ERR_ARG, "duplicate name refused");
	MF_STR_EQ(w.errmsg, "duplicate tensor name \"w\"", "duplicate: message");
	MF_OK(mf_artifact_writer_add(&w, "v", 0, NULL, &one) == MF_ART_ERR_ARG, "error is sticky");
	MF_STR_EQ(w.errmsg, "duplicate tensor name \"w\"", "sticky error keeps the first message");
	mf_artifact_writer_discard(&w);

	mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &talloc);
	MF_OK(mf_artifact_writer_add(&w, "w", 5, (const uint64_t[]) {1, 1, 1, 1, 1}, &one) == MF_ART_ERR_ARG,
		  "5 dimensions refused");
	MF_STR_EQ(w.errmsg, "tensor \"w\" has 5 dimensions (at most 4)", "ndim: message");
	mf_artifact_writer_discard(&w);

	mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &talloc);
	MF_OK(mf_artifact_writer_add(&w, "w", 2, (const uint64_t[]) {UINT64_C(1) << 32, UINT64_C(1) << 32}, &one)
		  == MF_ART_ERR_ARG, "overflowing shape refused");
	MF_STR_EQ(w.errmsg, "tensor \"w\" is too large", "overflow: message");
	mf_artifact_writer_discard(&w);

	mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &talloc);
	MF_OK(mf_artifact_writer_add(&w, "w", 1, (const uint64_t[]) {3}, NULL) == MF_ART_ERR_ARG,
		  "NULL data refused");
	mf_artifact_writer_discard(&w);

	mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &talloc);
	MF_OK(mf_artifact_writer_set_meta(&w, "ab\0c", 4) == MF_ART_ERR_ARG, "metadata with NUL refused");
	MF_STR_EQ(w.errmsg, "artifact metadata is not valid UTF-8 without NUL (byte 2)", "NUL metadata: message");
	mf_artifact_writer_discard(&w);

	mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &talloc);
	MF_OK(mf_artifact_writer_set_meta(&w, "ab\xc0\xaf", 4) == MF_ART_ERR_ARG, "overlong UTF-8 refused");
	mf_artifact_writer_discard(&w);
	mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &talloc);
	MF_OK(mf_artifact_writer_set_meta(&w, "\xed\xa0\x80", 3) == MF_ART_ERR_ARG, "UTF-8 surrogate refused");
	mf_artifact_writer_discard(&w);
	mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &talloc);
	MF_OK(mf_artifact_writer_set_meta(&w, "x\xe2\x82", 3) == MF_ART_ERR_ARG, "truncated UTF-8 refused");
	mf_artifact_writer_discard(&w);

	mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &talloc);
	mf_artifact_writer_add(&w, "w", 1, (const uint64_t[]) {3}, nan_data);
	MF_OK(mf_artifact_writer_finish(&w, &out, &len) == MF_ART_ERR_ARG && out == NULL,
		  "NaN weight refused at finish");
	MF_STR_EQ(w.errmsg, "tensor \"w\" element 1 is not finite (nan)", "NaN weight: message");

	/* more tensors than the first directory allocation, then too many */
	mf_artifact_writer_begin(&w, MF_ART_FAMILY_TRANSFORMER, &talloc);
	for (i = 0; i < MF_ARTIFACT_MAX_TENSORS; i++)
	{
		snprintf(name, sizeof(name), "t%d", i);
		mf_artifact_writer_add(&w, name, 0, NULL, &one);
	}
	MF_OK(w.status == MF_ART_OK && w.n_entries == MF_ARTIFACT_MAX_TENSORS, "1024 tensors accepted");
	MF_OK(mf_artifact_writer_add(&w, "one_more", 0, NULL, &one) == MF_ART_ERR_ARG, "1025th tensor refused");
	MF_STR_EQ(w.errmsg, "too many tensors (at most 1024)", "too many: message");
	mf_artifact_writer_discard(&w);

	mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &failing);
	MF_OK(mf_artifact_writer_add(&w, "w", 0, NULL, &one) == MF_ART_ERR_NOMEM, "allocator failure: nomem");
	mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &failing);
	MF_OK(mf_artifact_writer_finish(&w, &out, &len) == MF_ART_ERR_NOMEM && out == NULL,
		  "allocator failure at finish: nomem");
	MF_STR_EQ(w.errmsg, "out of memory for a 40-byte artifact", "nomem: message");
	MF_OK(mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, NULL) == MF_ART_ERR_ARG, "no allocator refused");
}

/* Checks before and of the checksum: size, alignment, magic, version, crc. */
static void
test_envelope_errors(const unsigned char *s, size_t len)
{
	unsigned char *b;
	char		msg[256];
	MfArtifactView v;
	uint32_t	stored;
	size_t		k;
	static const size_t flips[] = {12, 16, 20, 24, 32, 40 + 5, 40 + 32, 40 + 88 + 72, DIR_END + 3,
	META_END + 1, OFF_W0 + 7, OFF_B1 + 15, TOTAL_LEN - 1};
	static const char *const where[] = {"family", "n_tensors", "meta_len", "total_len", "reserved",
		"name", "dtype", "offset", "metadata", "padding", "w0 data", "b1 data", "last byte"};

	MF_OK(mf_artifact_open(NULL, len, &v, msg, sizeof(msg)) == MF_ART_ERR_ARG, "NULL buffer: argument error");

	b = art_copy_of(s, len, 8);
	art_expect_err(b, 10, MF_ART_ERR_TRUNCATED,
			   "artifact is truncated: 10 bytes, shorter than its 40-byte header", "10-byte artifact");
	art_expect_err(b, 0, MF_ART_ERR_TRUNCATED,
			   "artifact is truncated: 0 bytes, shorter than its 40-byte header", "empty buffer");
	art_expect_err(b, len - 8, MF_ART_ERR_TRUNCATED,
			   "artifact is truncated: 736 bytes, its header says 744", "truncated by 8 bytes");
	art_expect_err(b, len - 1, MF_ART_ERR_TRUNCATED,
			   "artifact is truncated: 743 bytes, its header says 744", "truncated by 1 byte");
	art_expect_err(b, len + 8, MF_ART_ERR_LENGTH,
			   "artifact has 752 bytes but its header says 744 (trailing bytes)", "extended by 8 bytes");
	memmove(b + 1, b, len);
	art_expect_err(b + 1, len, MF_ART_ERR_UNALIGNED,
			   "artifact buffer is not 8-byte aligned (address mod 8 = 1)", "unaligned buffer");
	free(b);

	b = art_copy_of(s, len, 0);
	b[0] = 'X';
	art_expect_err(b, len, MF_ART_ERR_MAGIC, "not a model artifact (bad magic number)", "bad magic");
	memcpy(b, s, len);
	b[7] = 2;
	art_expect_err(b, len, MF_ART_ERR_MAGIC, "not a model artifact (bad magic number)", "bad magic (last byte)");
	memcpy(b, s, len);
	put32(b + 8, 99);
	art_expect_err(b, len, MF_ART_ERR_VERSION, "unsupported artifact format version 99 (this build reads 1 to 2)",
			   "version 99");
	MF_OK(!mf_artifact_err_is_corruption(MF_ART_ERR_VERSION), "version is not corruption (22023/0A000)");
	put32(b + 8, 0);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_VERSION, "unsupported artifact format version 0 (this build reads 1 to 2)",
			   "version 0 (resealed)");

	stored = get32(s + 36);
	for (k = 0; k < sizeof(flips) / sizeof(flips[0]); k++)
	{
		char		name[64];

		memcpy(b, s, len);
		b[flips[k]] ^= 0x10;
		if (flips[k] == 24)
		{
			/* total_len is checked against the length before the crc */
			b[flips[k]] ^= 0x10;
			b[flips[k] + 4] ^= 0x01;
			snprintf(msg, sizeof(msg), "artifact is truncated: 744 bytes, its header says %" PRIu64,
					 get64(b + 24));
			art_expect_err(b, len, MF_ART_ERR_TRUNCATED, msg, "flipped total_len");
			continue;
		}
		snprintf(msg, sizeof(msg), "artifact checksum mismatch: stored 0x%08x, computed 0x%08x",
				 stored, crc_of(b, len));
		snprintf(name, sizeof(name), "flipped byte in %s", where[k]);
		art_expect_err(b, len, MF_ART_ERR_CHECKSUM, msg, name);
	}
	memcpy(b, s, len);
	b[37] ^= 0x01;
	snprintf(msg, sizeof(msg), "artifact checksum mismatch: stored 0x%08x, computed 0x%08x",
			 get32(b + 36), stored);
	art_expect_err(b, len, MF_ART_ERR_CHECKSUM, msg, "flipped byte in the checksum itself");
	MF_OK(mf_artifact_err_is_corruption(MF_ART_ERR_CHECKSUM), "checksum is corruption (XX001)");
	free(b);
}

/* Header and metadata checks behind a valid checksum. */
static void
test_layout_errors(const unsigned char *s, size_t len)
{
	unsigned char *b = art_copy_of(s, len, 0);

	put32(b + 32, 0xdeadbeef);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_HEADER, "artifact header reserved field is 0xdeadbeef, expected 0",
			   "reserved field set");

	memcpy(b, s, len);
	put32(b + 12, 9);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_FAMILY, "unknown model family code 9 in artifact", "family 9");

	memcpy(b, s, len);
	put32(b + 16, 1025);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_TOO_MANY_TENSORS, "artifact declares 1025 tensors (at most 1024)",
			   "1025 tensors");
	memcpy(b, s, len);
	put32(b + 16, 0xffffffff);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_TOO_MANY_TENSORS, "artifact declares 4294967295 tensors (at most 1024)",
			   "2^32-1 tensors");

	memcpy(b, s, len);
	put32(b + 16, 9);			/* 40 + 9 * 88 = 832 > 744 */
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_DIRECTORY,
			   "tensor directory (9 entries, ending at byte 832) extends past the end of the artifact (744 bytes)",
			   "directory past the end");

	memcpy(b, s, len);
	put32(b + 20, 265);			/* 480 + 265 = 745 > 744 */
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_METADATA,
			   "metadata (265 bytes at offset 480) extends past the end of the artifact (744 bytes)",
			   "metadata past the end");
	memcpy(b, s, len);
	put32(b + 20, 0xffffffff);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_METADATA,
			   "metadata (4294967295 bytes at offset 480) extends past the end of the artifact (744 bytes)",
			   "metadata length 2^32-1");

	memcpy(b, s, len);
	b[DIR_END + 3] = 0;
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_METADATA, "metadata contains a NUL byte at offset 3", "NUL in metadata");
	memcpy(b, s, len);
	b[DIR_END + 10] = 0xff;
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_METADATA, "metadata is not valid UTF-8 (byte 10)", "0xff in metadata");
	memcpy(b, s, len);
	b[DIR_END + META_LEN - 1] = 0xe2;	/* a 3-byte sequence cut by the end */
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_METADATA, "metadata is not valid UTF-8 (byte 44)",
			   "UTF-8 sequence cut by the end of the metadata");
	memcpy(b, s, len);
	put32(b + 20, META_LEN + 1);	/* swallows the first padding byte (a NUL) */
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_METADATA, "metadata contains a NUL byte at offset 45",
			   "metadata length one too long");
	free(b);
}

/* Name and shape checks of directory entries. */
static void
test_entry_errors(const unsigned char *s, size_t len)
{
	unsigned char *b = art_copy_of(s, len, 0);

	memset(art_dirent(b, 2), 'a', 32);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_NAME, "tensor 2 name is not NUL-terminated", "name without NUL");

	memcpy(b, s, len);
	art_dirent(b, 0)[0] = 0;
	art_dirent(b, 0)[1] = 0;
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_NAME, "tensor 0 has an empty name", "empty name");

	memcpy(b, s, len);
	art_dirent(b, 1)[0] = '"';
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_NAME, "tensor 1 name has an invalid byte 0x22", "quote in name");

	memcpy(b, s, len);
	art_dirent(b, 1)[20] = 'x';
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_NAME, "tensor \"b0\" name padding is not zero", "junk after the NUL of a name");

	memcpy(b, s, len);
	memcpy(art_dirent(b, 3), "w0", 2);	/* b1 -> w0 */
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_DUPLICATE_NAME, "duplicate tensor name \"w0\" (tensors 0 and 3)",
			   "duplicate name");

	memcpy(b, s, len);
	put32(art_dirent(b, 1) + 32, 3);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_DTYPE, "tensor \"b0\" has unknown dtype 3", "dtype 3");
	memcpy(b, s, len);
	put32(art_dirent(b, 1) + 32, 0);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_DTYPE, "tensor \"b0\" has unknown dtype 0", "dtype 0");
	/* float32 exists from format 2 on: in a format-1 artifact it is refused */
	memcpy(b, s, len);
	put32(art_dirent(b, 1) + 32, 2);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_DTYPE,
			   "tensor \"b0\" has dtype 2 (float32), which format version 1 does not have",
			   "float32 in a format-1 artifact");

	memcpy(b, s, len);
	put32(art_dirent(b, 1) + 36, 5);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_NDIM, "tensor \"b0\" has 5 dimensions (at most 4)", "ndim 5");
	memcpy(b, s, len);
	put32(art_dirent(b, 1) + 36, 0x80000000u);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_NDIM, "tensor \"b0\" has 2147483648 dimensions (at most 4)", "ndim 2^31");

	memcpy(b, s, len);
	put64(art_dirent(b, 1) + 48, 1);	/* dims[1] of a 1-d tensor */
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_SHAPE, "tensor \"b0\" has a non-zero unused dimension 1",
			   "unused dimension set");

	/* 2^32 * 2^32 = 2^64 overflows the element count */
	memcpy(b, s, len);
	put64(art_dirent(b, 0) + 40, UINT64_C(1) << 32);
	put64(art_dirent(b, 0) + 48, UINT64_C(1) << 32);
	put64(art_dirent(b, 0) + 80, 0);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_SHAPE, "tensor \"w0\" shape [4294967296, 4294967296] overflows 64 bits",
			   "dims product overflows");
	/* 2^61 elements fit, 2^64 bytes do not; a wrapped nbytes of 0 must not pass */
	memcpy(b, s, len);
	put64(art_dirent(b, 0) + 40, UINT64_C(1) << 61);
	put64(art_dirent(b, 0) + 48, 1);
	put64(art_dirent(b, 0) + 80, 0);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_SHAPE, "tensor \"w0\" shape [2305843009213693952, 1] overflows 64 bits",
			   "byte count overflows");
	/* 2^32+1 times (2^32-1) = 2^64-1 elements: product fits, bytes do not */
	memcpy(b, s, len);
	put64(art_dirent(b, 0) + 40, (UINT64_C(1) << 32) + 1);
	put64(art_dirent(b, 0) + 48, (UINT64_C(1) << 32) - 1);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_SHAPE, "tensor \"w0\" shape [4294967297, 4294967295] overflows 64 bits",
			   "element count 2^64-1");

	memcpy(b, s, len);
	put64(art_dirent(b, 0) + 80, 88);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_SHAPE, "tensor \"w0\" shape [3, 4] needs 96 bytes but the directory says 88",
			   "nbytes disagrees with dims");
	free(b);
}

/* Placement, padding and content checks of tensor data. */
static void
test_placement_errors(const unsigned char *s, size_t len)
{
	unsigned char *b = art_copy_of(s, len, 16);
	double		bad;

	put64(art_dirent(b, 1) + 72, OFF_B0 + 4);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_MISALIGNED, "tensor \"b0\" offset 628 is not a multiple of 8",
			   "misaligned offset");

	memcpy(b, s, len);
	put64(art_dirent(b, 0) + 72, 520);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_BOUNDS,
			   "tensor \"w0\" starts at offset 520, inside the header, directory or metadata (which end at 525)",
			   "tensor over the metadata");
	memcpy(b, s, len);
	put64(art_dirent(b, 0) + 72, 0);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_BOUNDS,
			   "tensor \"w0\" starts at offset 0, inside the header, directory or metadata (which end at 525)",
			   "tensor over the header");

	memcpy(b, s, len);
	put64(art_dirent(b, 1) + 72, OFF_W0);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_OVERLAP,
			   "tensor \"b0\" at offset 528 overlaps tensor \"w0\", which ends at 624 (tensors are stored in directory order)",
			   "overlapping tensors");
	memcpy(b, s, len);
	put64(art_dirent(b, 2) + 72, OFF_B0 + 8);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_OVERLAP,
			   "tensor \"w1\" at offset 632 overlaps tensor \"b0\", which ends at 656 (tensors are stored in directory order)",
			   "partly overlapping tensors");

	/* the scalar grows to 2 elements: 736 + 16 > 744 */
	memcpy(b, s, len);
	put32(art_dirent(b, 4) + 36, 1);
	put64(art_dirent(b, 4) + 40, 2);
	put64(art_dirent(b, 4) + 80, 16);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_BOUNDS,
			   "tensor \"scale\" extends past the end of the artifact (offset 736 + 16 bytes > 744)",
			   "tensor past the end");
	memcpy(b, s, len);
	put64(art_dirent(b, 4) + 72, UINT64_C(0xfffffffffffffff8));
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_BOUNDS,
			   "tensor \"scale\" extends past the end of the artifact (offset 18446744073709551608 + 8 bytes > 744)",
			   "offset near 2^64 (no wrap-around)");

	memcpy(b, s, len);
	put64(art_dirent(b, 3) + 72, OFF_B1 + 8);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_PADDING, "tensor \"b1\" starts at offset 728, expected 720 (gaps are not allowed)",
			   "gap between tensors");

	memcpy(b, s, len);
	b[META_END + 1] = 7;
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_PADDING, "non-zero padding byte 0x07 at offset 526",
			   "non-zero padding after the metadata");

	/* an artifact 8 bytes longer than its content, length fields agreeing */
	memcpy(b, s, len);
	memset(b + len, 0, 8);
	put64(b + 24, len + 8);
	art_reseal(b, len + 8);
	art_expect_err(b, len + 8, MF_ART_ERR_PADDING,
			   "artifact is 752 bytes but its last region ends at 744 (expected length 744)",
			   "trailing bytes behind the last tensor");

	memcpy(b, s, len);
	bad = NAN;
	memcpy(b + OFF_W1 + 8 * 5, &bad, 8);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_NOT_FINITE, "tensor \"w1\" element 5 is not finite (nan)", "NaN weight");
	memcpy(b, s, len);
	bad = -INFINITY;
	memcpy(b + OFF_SCALE, &bad, 8);
	art_reseal(b, len);
	art_expect_err(b, len, MF_ART_ERR_NOT_FINITE, "tensor \"scale\" element 0 is not finite (-inf)", "-Inf weight");
	free(b);
}

/* A 1 MB model opens, quickly, with its weights in place. */
static void
test_large(void)
{
	size_t		n = (size_t) 1 << 17;	/* 131072 doubles = 1 MiB */
	double	   *w = malloc(n * sizeof(double));
	double		bias[256];
	MfArtifactWriter aw;
	MfArtifactView v;
	MfArtifactTensor t;
	void	   *out;
	size_t		len,
				i;
	char		err[256];
	clock_t		c0;
	double		ms;

	for (i = 0; i < n; i++)
		w[i] = sin((double) i) * 1e3;
	for (i = 0; i < 256; i++)
		bias[i] = (double) i / 7.0;
	mf_artifact_writer_begin(&aw, MF_ART_FAMILY_MLP, &talloc);
	mf_artifact_writer_add(&aw, "layers.0.weight", 2, (const uint64_t[]) {512, 256}, w);
	mf_artifact_writer_add(&aw, "layers.0.bias", 1, (const uint64_t[]) {256}, bias);
	mf_artifact_writer_set_meta(&aw, "{}", 2);
	MF_OK(mf_artifact_writer_finish(&aw, &out, &len) == MF_ART_OK, "1 MB artifact written");
	MF_OK(len == 40 + 2 * 88 + 8 + n * 8 + 256 * 8, "1 MB artifact length");
	c0 = clock();
	MF_OK(mf_artifact_open(out, len, &v, err, sizeof(err)) == MF_ART_OK, "1 MB artifact opens");
	ms = 1000.0 * (double) (clock() - c0) / CLOCKS_PER_SEC;
	MF_DIAG("opened %zu bytes in %.3f ms", len, ms);
	MF_OK(mf_artifact_tensor(&v, "layers.0.weight", 2, (const uint64_t[]) {512, 256}, &t, err, sizeof(err))
		  == MF_ART_OK && memcmp(t.data, w, n * sizeof(double)) == 0, "1 MB weights bit-identical");
	MF_OK(mf_artifact_tensor(&v, "layers.0.bias", 1, NULL, &t, err, sizeof(err)) == MF_ART_OK &&
		  memcmp(t.data, bias, sizeof(bias)) == 0, "bias bit-identical");
	free(out);
	free(w);
}

/* Names of codes and families. */
static void
test_names(void)
{
	MF_STR_EQ(mf_artifact_family_name(MF_ART_FAMILY_LOGISTIC_REGRESSION), "logistic_regression",
			  "family name 2");
	MF_OK(mf_artifact_family_name(0) == NULL && mf_artifact_family_name(6) == NULL, "unknown family names");
	MF_OK(mf_artifact_family_from_name("transformer") == 5 && mf_artifact_family_from_name("svm") == 0 &&
		  mf_artifact_family_from_name(NULL) == 0, "family codes from names");
	MF_STR_EQ(mf_artifact_strerror(MF_ART_ERR_CHECKSUM), "artifact checksum mismatch", "strerror");
	MF_OK(!mf_artifact_err_is_corruption(MF_ART_OK) && !mf_artifact_err_is_corruption(MF_ART_ERR_ARG) &&
		  !mf_artifact_err_is_corruption(MF_ART_ERR_BIG_ENDIAN) &&
		  !mf_artifact_err_is_corruption(MF_ART_ERR_UNALIGNED) &&
		  !mf_artifact_err_is_corruption(MF_ART_ERR_FAMILY) &&
		  mf_artifact_err_is_corruption(MF_ART_ERR_TRUNCATED) &&
		  mf_artifact_err_is_corruption(MF_ART_ERR_NOT_FINITE), "corruption classification");
}

/* Run all groups. */
int
main(void)
{
	size_t		len;
	unsigned char *s;

	test_round_trip();
	test_determinism();
	test_edge_shapes();
	test_writer_errors();
	s = make_sample(&len);
	test_envelope_errors(s, len);
	test_layout_errors(s, len);
	test_entry_errors(s, len);
	test_placement_errors(s, len);
	free(s);
	test_large();
	test_names();
	MF_DIAG("%d allocations through the test allocator", art_n_allocs);
	return mf_test_done();
}
