/*
 * test_artifact_f32.c - float32 tensors in the model artifact (format 2):
 * round trip with pointers in place, the format version the writer picks,
 * lookups of the wrong element type refused (never reinterpreted), writer
 * refusals, and every corruption of a float32 tensor (wrong nbytes, wrong
 * dtype, misaligned offset, NaN/inf, non-zero padding, shape overflow,
 * version disagreeing with the contents) refused with its code and exact
 * message; then every single-byte change, resealed, is either refused with
 * a message or accepted as consistent (run under valgrind or ASan for
 * reads out of bounds).
 */
#include "artifact.h"
#include "mf_test.h"
#include "artifact_bytes.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Sample layout (make_sample): 5 tensors, metadata "{}".
 *   w  float64 [2, 3]  at 488, 48 bytes
 *   b  float64 scalar  at 536,  8 bytes
 *   m  float32 [2, 2]  at 544, 16 bytes
 *   s  float32 scalar  at 560,  4 bytes, padding 564..567
 *   e  float32 [3]     at 568, 12 bytes, padding 580..583
 */
#define OFF_W		488
#define OFF_B		536
#define OFF_M		544
#define OFF_S		560
#define OFF_E		568
#define TOTAL_LEN	584

static const double w[6] = {0.5, -1.25, 3.0, 1e-300, -0.0, 2.5e300};
static const double b = 42.0;
static const float m[4] = {FLT_MAX, -FLT_MAX, FLT_MIN, 1e-45f};	/* 1e-45f: subnormal */
static const float s = -0.0f;
static const float e[3] = {0.1f, -2.5f, 3.0e38f};

static const MfArtAllocator talloc = {art_garbage_alloc, art_test_free, NULL};

/* Write the sample (with_f32 false: its float64 tensors only); caller frees. */
static unsigned char *
make_sample(bool with_f32, size_t *len)
{
	MfArtifactWriter wr;
	void	   *out = NULL;

	mf_artifact_writer_begin(&wr, MF_ART_FAMILY_TRANSFORMER, &talloc);
	mf_artifact_writer_add(&wr, "w", 2, (const uint64_t[]) {2, 3}, w);
	mf_artifact_writer_add(&wr, "b", 0, NULL, &b);
	if (with_f32)
	{
		mf_artifact_writer_add_f32(&wr, "m", 2, (const uint64_t[]) {2, 2}, m);
		mf_artifact_writer_add_f32(&wr, "s", 0, NULL, &s);
		mf_artifact_writer_add_f32(&wr, "e", 1, (const uint64_t[]) {3}, e);
	}
	mf_artifact_writer_set_meta(&wr, "{}", 2);
	if (mf_artifact_writer_finish(&wr, &out, len) != MF_ART_OK)
		MF_DIAG("writer failed: %s", wr.errmsg);
	return out;
}

/* Round trip: dtypes, shapes, values bit for bit, pointers into the buffer. */
static void
test_round_trip(void)
{
	size_t		len;
	unsigned char *a = make_sample(true, &len);
	MfArtifactView v;
	MfArtifactTensor t;
	char		err[256] = "";
	static const unsigned char zero[4] = {0, 0, 0, 0};

	MF_OK(a != NULL && len == TOTAL_LEN, "sample written: 584 bytes");
	MF_OK(mf_artifact_open(a, len, &v, err, sizeof(err)) == MF_ART_OK && v.version == 2 &&
		  v.n_tensors == 5, "opens as format version 2");
	MF_OK(get32(a + 8) == 2 && mf_artifact_format_version(a, len) == 2, "header says version 2");
	MF_OK(get32(art_dirent(a, 2) + 32) == MF_ARTIFACT_DTYPE_FLOAT32 &&
		  get64(art_dirent(a, 2) + 80) == 16 && get64(art_dirent(a, 3) + 80) == 4 &&
		  get64(art_dirent(a, 4) + 72) == OFF_E && get64(art_dirent(a, 4) + 80) == 12,
		  "float32 entries: dtype 2, 4 bytes an element, offsets multiples of 8");
	MF_OK(memcmp(a + OFF_S + 4, zero, 4) == 0 && memcmp(a + OFF_E + 12, zero, 4) == 0,
		  "padding after odd float32 tensors is zero (allocator filled 0xa5)");

	MF_OK(mf_artifact_tensor_typed(&v, "m", MF_ARTIFACT_DTYPE_FLOAT32, 2, (const uint64_t[]) {2, 2},
								   &t, err, sizeof(err)) == MF_ART_OK &&
		  t.dtype == MF_ARTIFACT_DTYPE_FLOAT32 && t.data == NULL &&
		  t.data_f32 == (const float *) (const void *) (a + OFF_M) &&
		  memcmp(t.data_f32, m, sizeof(m)) == 0, "float32 [2, 2]: in place, bit for bit");
	MF_OK(mf_artifact_tensor_typed(&v, "s", MF_ARTIFACT_DTYPE_FLOAT32, 0, NULL, &t, err,
								   sizeof(err)) == MF_ART_OK &&
		  t.n_elems == 1 && memcmp(t.data_f32, &s, 4) == 0 && signbit(t.data_f32[0]),
		  "float32 scalar -0.0 keeps its sign");
	MF_OK(mf_artifact_tensor_typed(&v, "e", 0, 1, NULL, &t, err, sizeof(err)) == MF_ART_OK &&
		  t.dtype == MF_ARTIFACT_DTYPE_FLOAT32 && t.n_elems == 3 && memcmp(t.data_f32, e, sizeof(e)) == 0,
		  "dtype 0 accepts float32 and says which");
	MF_OK(mf_artifact_tensor(&v, "w", 2, (const uint64_t[]) {2, 3}, &t, err, sizeof(err)) == MF_ART_OK &&
		  t.dtype == MF_ARTIFACT_DTYPE_FLOAT64 && t.data_f32 == NULL &&
		  t.data == (const double *) (const void *) (a + OFF_W) && memcmp(t.data, w, sizeof(w)) == 0,
		  "float64 tensor beside float32 ones: unchanged");
	MF_OK(mf_artifact_tensor_at(&v, 4, &t) == MF_ART_OK && t.dtype == MF_ARTIFACT_DTYPE_FLOAT32 &&
		  strcmp(t.name, "e") == 0 && t.data == NULL && t.data_f32 != NULL, "tensor_at gives the dtype");
	free(a);
}

/* Lookups of the other element type: refused, nothing handed out. */
static void
test_wrong_dtype(void)
{
	size_t		len;
	unsigned char *a = make_sample(true, &len);
	MfArtifactView v;
	MfArtifactTensor t;
	char		err[256] = "";

	mf_artifact_open(a, len, &v, NULL, 0);
	MF_OK(mf_artifact_tensor(&v, "m", 2, NULL, &t, err, sizeof(err)) == MF_ART_ERR_WRONG_DTYPE &&
		  t.data == NULL && t.data_f32 == NULL && t.name == NULL,
		  "float32 tensor asked as float64: wrong dtype, nothing handed out");
	MF_STR_EQ(err, "tensor \"m\" holds float32 values, expected float64", "float32 as float64: message");
	MF_OK(mf_artifact_tensor_typed(&v, "w", MF_ARTIFACT_DTYPE_FLOAT32, -1, NULL, &t, err,
								   sizeof(err)) == MF_ART_ERR_WRONG_DTYPE && t.data == NULL,
		  "float64 tensor asked as float32: wrong dtype");
	MF_STR_EQ(err, "tensor \"w\" holds float64 values, expected float32", "float64 as float32: message");
	MF_OK(mf_artifact_tensor_typed(&v, "w", 7, -1, NULL, &t, err, sizeof(err)) == MF_ART_ERR_ARG,
		  "unknown dtype asked: argument error");
	MF_OK(mf_artifact_err_is_corruption(MF_ART_ERR_WRONG_DTYPE) &&
		  strcmp(mf_artifact_strerror(MF_ART_ERR_WRONG_DTYPE), "tensor has an unexpected element type") == 0,
		  "wrong dtype is corruption (XX001), with its own description");
	free(a);
}

/* The writer picks version 1 for float64 contents and refuses bad float32 input. */
static void
test_writer(void)
{
	size_t		len,
				len2;
	unsigned char *a = make_sample(false, &len),
			   *a2;
	MfArtifactWriter wr;
	void	   *out = NULL;
	float		bad[3] = {1.0f, NAN, 2.0f};

	MF_OK(a != NULL && get32(a + 8) == 1 && mf_artifact_format_version(a, len) == 1,
		  "float64 contents: written as format version 1, as before");
	free(a);
	a = make_sample(true, &len);
	a2 = make_sample(true, &len2);
	MF_OK(len == len2 && memcmp(a, a2, len) == 0, "deterministic: same contents, same bytes");
	MF_OK(mf_artifact_format_version(a, 39) == 0 && mf_artifact_format_version("MFARX\0\0\1", 40) == 0,
		  "format_version of a short or foreign buffer is 0");
	free(a);
	free(a2);

	mf_artifact_writer_begin(&wr, MF_ART_FAMILY_TRANSFORMER, &talloc);
	mf_artifact_writer_add_f32(&wr, "e", 1, (const uint64_t[]) {3}, bad);
	MF_OK(mf_artifact_writer_finish(&wr, &out, &len) == MF_ART_ERR_ARG && out == NULL, "NaN float32 refused");
	MF_STR_EQ(wr.errmsg, "tensor \"e\" element 1 is not finite (nan)", "NaN float32: message");
	bad[1] = 2.0f;
	bad[2] = -INFINITY;
	mf_artifact_writer_begin(&wr, MF_ART_FAMILY_TRANSFORMER, &talloc);
	mf_artifact_writer_add_f32(&wr, "e", 1, (const uint64_t[]) {3}, bad);
	MF_OK(mf_artifact_writer_finish(&wr, &out, &len) == MF_ART_ERR_ARG, "-inf float32 refused");
	MF_STR_EQ(wr.errmsg, "tensor \"e\" element 2 is not finite (-inf)", "-inf float32: message");
	mf_artifact_writer_begin(&wr, MF_ART_FAMILY_TRANSFORMER, &talloc);
	MF_OK(mf_artifact_writer_add_f32(&wr, "big", 2, (const uint64_t[]) {UINT64_C(1) << 31, UINT64_C(1) << 31},
									 bad) == MF_ART_ERR_ARG, "2^62 float32 elements: too large");
	mf_artifact_writer_discard(&wr);
	mf_artifact_writer_begin(&wr, MF_ART_FAMILY_TRANSFORMER, &talloc);
	MF_OK(mf_artifact_writer_add_f32(&wr, "e", 1, (const uint64_t[]) {3}, NULL) == MF_ART_ERR_ARG,
		  "float32 tensor without data refused");
	mf_artifact_writer_discard(&wr);
}

/* Byte offset of field f of directory entry i. */
#define DE(i, f)	(40 + 88 * (i) + (f))

/* One field written into a copy of the sample: width 1, 4 or 8 bytes at offset at. */
typedef struct Patch
{
	int			at;
	int			width;
	uint64_t	value;
} Patch;

/* A corruption (up to three patches, then resealed) and the refusal it must get. */
typedef struct Corruption
{
	const char *name;
	Patch		p[3];
	MfArtErr	code;
	const char *msg;
} Corruption;

static const Corruption corruptions[] = {
	{"float32 nbytes of float64 size", {{DE(4, 80), 8, 24}}, MF_ART_ERR_SHAPE,
	"tensor \"e\" shape [3] needs 12 bytes but the directory says 24"},
	{"float32 nbytes including the padding", {{DE(4, 80), 8, 16}}, MF_ART_ERR_SHAPE,
	"tensor \"e\" shape [3] needs 12 bytes but the directory says 16"},
	{"float32 entry relabelled float64", {{DE(4, 32), 4, 1}}, MF_ART_ERR_SHAPE,
	"tensor \"e\" shape [3] needs 24 bytes but the directory says 12"},
	{"float64 entry relabelled float32", {{DE(0, 32), 4, 2}}, MF_ART_ERR_SHAPE,
	"tensor \"w\" shape [2, 3] needs 24 bytes but the directory says 48"},
	{"dtype 3 in format 2", {{DE(2, 32), 4, 3}}, MF_ART_ERR_DTYPE, "tensor \"m\" has unknown dtype 3"},
	{"dtype with the high bit set", {{DE(2, 32), 4, 0x80000002u}}, MF_ART_ERR_DTYPE,
	"tensor \"m\" has unknown dtype 2147483650"},
	{"float32 byte count overflows (2^62 elements)",
		{{DE(2, 40), 8, UINT64_C(1) << 31}, {DE(2, 48), 8, UINT64_C(1) << 31}, {DE(2, 80), 8, 0}},
		MF_ART_ERR_SHAPE, "tensor \"m\" shape [2147483648, 2147483648] overflows 64 bits"},
	{"2^61 float32 elements: size fits 64 bits, not the buffer",
		{{DE(2, 40), 8, UINT64_C(1) << 61}, {DE(2, 48), 8, 1}, {DE(2, 80), 8, UINT64_C(1) << 63}},
		MF_ART_ERR_BOUNDS,
	"tensor \"m\" extends past the end of the artifact (offset 544 + 9223372036854775808 bytes > 584)"},
	{"float32 tensors under a version-1 header", {{8, 4, 1}}, MF_ART_ERR_DTYPE,
	"tensor \"m\" has dtype 2 (float32), which format version 1 does not have"},
	{"float32 tensor at a multiple of 4", {{DE(4, 72), 8, OFF_S + 4}}, MF_ART_ERR_MISALIGNED,
	"tensor \"e\" offset 564 is not a multiple of 8"},
	{"float32 scalar misaligned", {{DE(3, 72), 8, OFF_S + 2}}, MF_ART_ERR_MISALIGNED,
	"tensor \"s\" offset 562 is not a multiple of 8"},
	{"float32 tensor moved past the end", {{DE(4, 72), 8, OFF_E + 8}}, MF_ART_ERR_BOUNDS,
	"tensor \"e\" extends past the end of the artifact (offset 576 + 12 bytes > 584)"},
	{"float32 tensor grown past the end", {{DE(4, 40), 8, 5}, {DE(4, 80), 8, 20}}, MF_ART_ERR_BOUNDS,
	"tensor \"e\" extends past the end of the artifact (offset 568 + 20 bytes > 584)"},
	{"non-zero padding after a float32 scalar", {{OFF_S + 5, 1, 7}}, MF_ART_ERR_PADDING,
	"non-zero padding byte 0x07 at offset 565"},
	{"non-zero padding at the end, after the last float32 tensor", {{TOTAL_LEN - 1, 1, 0x80}},
	MF_ART_ERR_PADDING, "non-zero padding byte 0x80 at offset 583"},
	{"float32 NaN", {{OFF_E + 4, 4, 0x7fc00000u}}, MF_ART_ERR_NOT_FINITE,
	"tensor \"e\" element 1 is not finite (nan)"},
	{"float32 +inf", {{OFF_M + 12, 4, 0x7f800000u}}, MF_ART_ERR_NOT_FINITE,
	"tensor \"m\" element 3 is not finite (inf)"},
	{"float32 -inf", {{OFF_S, 4, 0xff800000u}}, MF_ART_ERR_NOT_FINITE,
	"tensor \"s\" element 0 is not finite (-inf)"},
	{"float32 signalling NaN", {{OFF_M, 4, 0x7f800001u}}, MF_ART_ERR_NOT_FINITE,
	"tensor \"m\" element 0 is not finite (nan)"},
};

/* Every corruption of the table, resealed so that the structure check fires. */
static void
test_corruptions(const unsigned char *s0, size_t len)
{
	unsigned char *c = art_copy_of(s0, len, 0);
	char		msg[128];

	for (size_t i = 0; i < sizeof(corruptions) / sizeof(corruptions[0]); i++)
	{
		const Corruption *k = &corruptions[i];

		memcpy(c, s0, len);
		for (int j = 0; j < 3 && k->p[j].width > 0; j++)
		{
			if (k->p[j].width == 8)
				put64(c + k->p[j].at, k->p[j].value);
			else if (k->p[j].width == 4)
				put32(c + k->p[j].at, (uint32_t) k->p[j].value);
			else
				c[k->p[j].at] = (unsigned char) k->p[j].value;
		}
		art_reseal(c, len);
		art_expect_err(c, len, k->code, k->msg, k->name);
	}

	memcpy(c, s0, len);
	c[OFF_E + 2] ^= 0x01;
	snprintf(msg, sizeof(msg), "artifact checksum mismatch: stored 0x%08x, computed 0x%08x",
			 get32(c + 36), crc_of(c, len));
	art_expect_err(c, len, MF_ART_ERR_CHECKSUM, msg, "flipped float32 bit: checksum");
	free(c);

	c = make_sample(false, &len);
	put32(c + 8, 2);
	art_reseal(c, len);
	art_expect_err(c, len, MF_ART_ERR_HEADER,
				   "artifact says format version 2 but holds no float32 tensor (such contents are written as version 1)",
				   "version 2 without a float32 tensor (not canonical)");
	free(c);
}

/* Every single-byte change (resealed): refused with a message, or consistent. */
static void
test_every_byte(const unsigned char *s0, size_t len)
{
	unsigned char *c = art_copy_of(s0, len, 0);
	int			silent = 0,
				inconsistent = 0,
				accepted = 0;

	for (size_t k = 0; k < len; k++)
	{
		for (int x = 1; x < 256; x += 127)
		{
			MfArtifactView v;
			MfArtifactTensor t;
			char		err[256] = "";

			memcpy(c, s0, len);
			c[k] ^= (unsigned char) x;
			if (k < 36 || k >= 40)
				art_reseal(c, len);
			if (mf_artifact_open(c, len, &v, err, sizeof(err)) != MF_ART_OK)
			{
				silent += err[0] == '\0';
				continue;
			}
			accepted++;
			for (uint32_t i = 0; i < v.n_tensors; i++)
			{
				const void *p;
				uint64_t	size;

				if (mf_artifact_tensor_at(&v, i, &t) != MF_ART_OK)
				{
					inconsistent++;
					continue;
				}
				p = t.dtype == MF_ARTIFACT_DTYPE_FLOAT32 ? (const void *) t.data_f32 : (const void *) t.data;
				size = t.n_elems * (t.dtype == MF_ARTIFACT_DTYPE_FLOAT32 ? 4 : 8);
				if ((t.data != NULL) == (t.data_f32 != NULL) ||
					(const unsigned char *) p < c || (const unsigned char *) p + size > c + len ||
					(t.dtype == MF_ARTIFACT_DTYPE_FLOAT32 && t.n_elems > 0 && !isfinite(t.data_f32[0])))
					inconsistent++;
			}
		}
	}
	MF_DIAG("every byte: %zu changes, %d accepted", 2 * len, accepted);
	MF_OK(silent == 0, "every byte: each refusal has a message");
	MF_OK(inconsistent == 0, "every byte: each accepted change hands out in-bounds typed tensors");
	free(c);
}

int
main(void)
{
	size_t		len;
	unsigned char *s0;

	test_round_trip();
	test_wrong_dtype();
	test_writer();
	s0 = make_sample(true, &len);
	test_corruptions(s0, len);
	test_every_byte(s0, len);
	free(s0);
	return mf_test_done();
}
