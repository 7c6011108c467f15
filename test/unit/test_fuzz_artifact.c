/*
 * fuzz_artifact.c - a bounded random-mutation fuzzer of the artifact loader,
 * run as an ordinary TAP test program.
 *
 * Usage: fuzz_artifact [seconds [seed]]   (defaults: 5 seconds, fixed seed)
 *
 * Design note.  Several valid artifacts are written with the real writer;
 * each iteration copies one into a heap block of exactly the mutated
 * length (so AddressSanitizer or valgrind see any read past the end),
 * applies 1-4 random mutations (bit flips, byte sets, truncation,
 * extension, insertion/deletion, splicing from another seed, extreme
 * values in header and directory fields, crafted shapes whose byte count
 * agrees modulo 2^64, renamed and shifted tensors, NaN/Inf patterns,
 * swapped directory entries) and calls mf_artifact_open().  Half of the inputs
 * are "resealed" - total_len usually set to the new length and the crc32
 * recomputed - because an artifact with a stale checksum is rejected at the
 * checksum and never reaches the structural checks behind it.
 *
 * Every rejection must come with a message and a cleared view.  Every
 * accepted input is read completely (all tensor elements, all metadata
 * bytes) and, since the format is canonical, rebuilt with the writer from
 * what the loader returned: the rebuild must equal the input byte for
 * byte.  The run stops after a time cap (and an iteration cap) but always
 * does a minimum number of iterations, so the checks that at least
 * MIN_CODES distinct error codes were reached are deterministic.
 */
#include "artifact.h"
#include "mf_test.h"
#include "artifact_bytes.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <zlib.h>

#define N_SEEDS			6
#define MIN_ITERS		30000
#define MAX_ITERS		20000000
#define MAX_EXTEND		256
#define MIN_CODES		15

/* A seed artifact. */
typedef struct Seed
{
	unsigned char *buf;
	size_t		len;
} Seed;

/* Run-wide counters and failure notes. */
typedef struct FuzzStats
{
	uint64_t	iters;
	uint64_t	accepted[2];	/* [resealed] */
	uint64_t	accepted_changed[2];	/* accepted and not a seed */
	uint64_t	rejected[2];
	uint64_t	by_code[2][64];
	uint64_t	no_message;
	uint64_t	view_not_cleared;
	uint64_t	bad_accept;
	uint64_t	rebuild_mismatch;
	uint64_t	checksum;		/* hash of everything read, printed */
} FuzzStats;

/* splitmix64: the fuzzer's own PRNG. */
static uint64_t
next_rand(uint64_t *s)
{
	uint64_t	z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0; modulo bias is irrelevant here). */
static uint64_t
below(uint64_t *s, uint64_t n)
{
	return next_rand(s) % n;
}

/* malloc for the writer. */
static void *
fz_alloc(void *ctx, size_t size)
{
	(void) ctx;
	return malloc(size);
}

/* free for the writer. */
static void
fz_free(void *ctx, void *p)
{
	(void) ctx;
	free(p);
}

static const MfArtAllocator fz_allocator = {fz_alloc, fz_free, NULL};

/* Write the seed artifacts (valid, of various shapes). */
static void
make_seeds(Seed *seeds)
{
	static double w0[12] = {0.5, -1.25, 3, 1e-300, -0.0, 2.5e300, 7, 8, 9, 10, 11, 12.125};
	static double b0[4] = {0.1, 0.2, 0.3, 0.4};
	static double coef[7] = {1, 2, 3, 4, 5, 6, 7};
	static double one = 1.0;
	static double many[64];
	static const char meta1[] = "{\"features\":[\"a\",\"b\",\"c\"],\"labels\":[\"x\",\"y\"]}";
	static const char meta2[] = "{\"f\":[\"h\xc3\xa9\",\"\xe2\x82\xac\"]}";
	MfArtifactWriter w;
	void	   *out;
	char		name[16];
	int			s,
				i;

	for (i = 0; i < 64; i++)
		many[i] = i * 0.25 - 3;
	for (s = 0; s < N_SEEDS; s++)
	{
		out = NULL;
		switch (s)
		{
			case 0:
				mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &fz_allocator);
				mf_artifact_writer_add(&w, "w0", 2, (const uint64_t[]) {3, 4}, w0);
				mf_artifact_writer_add(&w, "b0", 1, (const uint64_t[]) {4}, b0);
				mf_artifact_writer_add(&w, "scale", 0, NULL, &one);
				mf_artifact_writer_set_meta(&w, meta1, strlen(meta1));
				break;
			case 1:
				mf_artifact_writer_begin(&w, MF_ART_FAMILY_KMEANS, &fz_allocator);
				break;
			case 2:
				mf_artifact_writer_begin(&w, MF_ART_FAMILY_TRANSFORMER, &fz_allocator);
				mf_artifact_writer_add(&w, "empty", 2, (const uint64_t[]) {0, 5}, NULL);
				mf_artifact_writer_add(&w, "x4", 4, (const uint64_t[]) {1, 2, 2, 1}, b0);
				mf_artifact_writer_set_meta(&w, meta2, strlen(meta2));
				break;
			case 3:
				mf_artifact_writer_begin(&w, MF_ART_FAMILY_LINEAR_REGRESSION, &fz_allocator);
				mf_artifact_writer_add(&w, "coef", 1, (const uint64_t[]) {7}, coef);
				mf_artifact_writer_add(&w, "intercept", 0, NULL, &one);
				mf_artifact_writer_set_meta(&w, "{}", 2);
				break;
			case 4:
				mf_artifact_writer_begin(&w, MF_ART_FAMILY_LOGISTIC_REGRESSION, &fz_allocator);
				for (i = 0; i < 24; i++)
				{
					snprintf(name, sizeof(name), "t%d", i);
					mf_artifact_writer_add(&w, name, 1, (const uint64_t[]) {(uint64_t) (i % 4)}, many);
				}
				mf_artifact_writer_set_meta(&w, "x", 1);
				break;
			default:
				mf_artifact_writer_begin(&w, MF_ART_FAMILY_MLP, &fz_allocator);
				mf_artifact_writer_add(&w, "big", 2, (const uint64_t[]) {8, 8}, many);
				break;
		}
		if (mf_artifact_writer_finish(&w, &out, &seeds[s].len) != MF_ART_OK)
		{
			printf("Bail out! seed %d: %s\n", s, w.errmsg);
			exit(1);
		}
		seeds[s].buf = out;
	}
}

/* A value likely to break a length or count field. */
static uint64_t
extreme(uint64_t *rs, uint64_t cur, size_t len)
{
	switch (below(rs, 16))
	{
		case 0:
			return 0;
		case 1:
			return 1;
		case 2:
			return UINT64_MAX;
		case 3:
			return UINT64_MAX - 7;
		case 4:
			return UINT64_C(1) << 32;
		case 5:
			return (UINT64_C(1) << 32) - 1;
		case 6:
			return UINT64_C(1) << 61;
		case 7:
			return UINT64_C(1) << 63;
		case 8:
			return len;
		case 9:
			return len - 8;
		case 10:
			return cur + 8;
		case 11:
			return cur - 8;
		case 12:
			return cur + 1;
		case 13:
			return cur ^ (UINT64_C(1) << below(rs, 64));
		case 14:
			return 1024 + below(rs, 3) - 1;
		default:
			return next_rand(rs);
	}
}

/* Apply one random mutation to buf[0..*len) (capacity cap). */
static void
mutate(uint64_t *rs, unsigned char *buf, size_t *len, size_t cap,
	   const Seed *seeds)
{
	size_t		n = *len;
	uint32_t	nt = n >= 40 ? get32(buf + 16) : 0;

	switch (below(rs, 15))
	{
		case 0:					/* bit flip */
			if (n > 0)
				buf[below(rs, n)] ^= (unsigned char) (1u << below(rs, 8));
			break;
		case 1:					/* byte set */
			if (n > 0)
			{
				static const unsigned char v[6] = {0, 0xff, 0x7f, 0x80, 0x20, 0x22};

				buf[below(rs, n)] = below(rs, 2) ? v[below(rs, 6)] : (unsigned char) next_rand(rs);
			}
			break;
		case 2:					/* truncate */
			*len = n > 0 ? (size_t) below(rs, n) : 0;
			break;
		case 3:					/* extend */
			{
				size_t		k = 1 + (size_t) below(rs, MAX_EXTEND / 4),
							i;
				int			zero = (int) below(rs, 2);

				if (n + k > cap)
					k = cap - n;
				for (i = 0; i < k; i++)
					buf[n + i] = zero ? 0 : (unsigned char) next_rand(rs);
				*len = n + k;
			}
			break;
		case 4:					/* header field */
			if (n >= 40)
			{
				static const int off32[5] = {8, 12, 16, 20, 32};

				if (below(rs, 6) == 0)
					put64(buf + 24, extreme(rs, get64(buf + 24), n));
				else
				{
					int			o = off32[below(rs, 5)];

					put32(buf + o, (uint32_t) extreme(rs, get32(buf + o), n));
				}
			}
			break;
		case 5:					/* directory field */
			{
				uint64_t	e = below(rs, nt > 0 && nt <= 1024 ? nt : 1);
				size_t		de = 40 + (size_t) e * 88;
				static const int off[9] = {32, 36, 40, 48, 56, 64, 72, 80, 0};
				int			o = off[below(rs, 9)];

				if (de + 88 > n)
					break;
				if (o == 32 || o == 36)
					put32(buf + de + o, (uint32_t) (below(rs, 2) ? below(rs, 6) : extreme(rs, get32(buf + de + o), n)));
				else if (o == 0)
					buf[de + below(rs, 32)] = (unsigned char) (below(rs, 2) ? 0 : next_rand(rs));
				else
					put64(buf + de + o, extreme(rs, get64(buf + de + o), n));
			}
			break;
		case 6:					/* splice a chunk of another seed */
			{
				const Seed *o = &seeds[below(rs, N_SEEDS)];
				size_t		from = (size_t) below(rs, o->len),
							to = n > 0 ? (size_t) below(rs, n) : 0,
							k = 1 + (size_t) below(rs, 96);

				if (from + k > o->len)
					k = o->len - from;
				if (to + k > cap)
					k = cap - to;
				memcpy(buf + to, o->buf + from, k);
				if (to + k > n)
					*len = to + k;
			}
			break;
		case 7:					/* insert bytes in the middle */
			{
				size_t		at = n > 0 ? (size_t) below(rs, n) : 0,
							k = 1 + (size_t) below(rs, 16);

				if (n + k > cap)
					break;
				memmove(buf + at + k, buf + at, n - at);
				memset(buf + at, (int) below(rs, 256), k);
				*len = n + k;
			}
			break;
		case 8:					/* delete bytes in the middle */
			if (n > 1)
			{
				size_t		at = (size_t) below(rs, n),
							k = 1 + (size_t) below(rs, 16);

				if (at + k > n)
					k = n - at;
				memmove(buf + at, buf + at + k, n - at - k);
				*len = n - k;
			}
			break;
		case 9:					/* NaN / Inf / huge pattern at an aligned spot */
			if (n >= 8)
			{
				static const uint64_t pat[4] = {
					UINT64_C(0x7ff8000000000000), UINT64_C(0x7ff0000000000000),
				UINT64_C(0xfff0000000000001), UINT64_C(0x7fefffffffffffff)};

				put64(buf + ((size_t) below(rs, n / 8)) * 8, pat[below(rs, 4)]);
			}
			break;
		case 10:				/* swap two directory entries */
			if (nt >= 2 && nt <= 1024 && 40 + (size_t) nt * 88 <= n)
			{
				unsigned char tmp[88];
				size_t		a = 40 + (size_t) below(rs, nt) * 88,
							b = 40 + (size_t) below(rs, nt) * 88;

				memcpy(tmp, buf + a, 88);
				memcpy(buf + a, buf + b, 88);
				memcpy(buf + b, tmp, 88);
			}
			break;
		case 11:				/* a crafted shape whose nbytes agrees (mod 2^64) */
			{
				static const uint64_t dv[10] = {0, 1, 2, 3, 7, UINT64_C(1) << 31,
					UINT64_C(1) << 32, UINT64_C(1) << 61, UINT64_C(1) << 63, UINT64_MAX};
				size_t		de = 40 + (size_t) below(rs, nt > 0 && nt <= 1024 ? nt : 1) * 88;
				uint32_t	nd = (uint32_t) below(rs, 5),
							d;
				uint64_t	prod = 1;

				if (de + 88 > n)
					break;
				put32(buf + de + 36, nd);
				for (d = 0; d < 4; d++)
				{
					uint64_t	x = d < nd ? dv[below(rs, 10)] : 0;

					put64(buf + de + 40 + 8 * d, x);
					if (d < nd)
						prod *= x;	/* wraps on purpose */
				}
				put64(buf + de + 80, prod * 8);
			}
			break;
		case 12:				/* rename: short names clash, 32 bytes leave no NUL */
			if (nt >= 1 && nt <= 1024 && 40 + (size_t) nt * 88 <= n)
			{
				unsigned char *name = buf + 40 + (size_t) below(rs, nt) * 88;
				size_t		k = (size_t) below(rs, 33),
							i;

				memset(name, 0, 32);
				for (i = 0; i < k; i++)
					name[i] = below(rs, 8) ? "ab"[below(rs, 2)] : (unsigned char) next_rand(rs);
				if (below(rs, 4) == 0)
					memcpy(name, buf + 40 + (size_t) below(rs, nt) * 88, 32);
			}
			break;
		case 13:				/* shift a tensor and all later ones by +-8 bytes */
			if (nt >= 1 && nt <= 1024 && 40 + (size_t) nt * 88 <= n && n + 8 <= cap)
			{
				uint32_t	e = (uint32_t) below(rs, nt),
							j;
				uint64_t	at = get64(buf + 40 + (size_t) e * 88 + 72);
				int			grow = (int) below(rs, 2);

				if (at > n || (!grow && at < 8))
					break;
				for (j = e; j < nt; j++)
				{
					unsigned char *o = buf + 40 + (size_t) j * 88 + 72;

					put64(o, grow ? get64(o) + 8 : get64(o) - 8);
				}
				if (grow)
				{
					memmove(buf + at + 8, buf + at, n - (size_t) at);
					memset(buf + at, 0, 8);
					*len = n + 8;
				}
				else
				{
					memmove(buf + at - 8, buf + at, n - (size_t) at);
					*len = n - 8;
				}
			}
			break;
		default:				/* n_tensors or meta_len off by a little */
			if (n >= 40)
			{
				int			o = below(rs, 2) ? 16 : 20;

				put32(buf + o, get32(buf + o) + (uint32_t) below(rs, 5) - 2);
			}
			break;
	}
}

/* Fix total_len (usually) and the checksum of a mutated input. */
static void
reseal(uint64_t *rs, unsigned char *buf, size_t len)
{
	if (len < 40)
		return;
	if (below(rs, 4) != 0)
		put64(buf + 24, len);
	put32(buf + 36, crc_of(buf, len));
}

/* Independent oracle: the dims multiply, without overflow, to n_elems. */
static bool
shape_ok(const MfArtifactTensor *t)
{
	uint64_t	prod = 1;
	uint32_t	d;

	if (t->ndim > MF_ARTIFACT_MAX_NDIM)
		return false;
	for (d = 0; d < t->ndim; d++)
	{
		if (t->dims[d] == 0)
			return t->n_elems == 0;
		if (prod > UINT64_MAX / t->dims[d])
			return false;
		prod *= t->dims[d];
	}
	return prod == t->n_elems && prod <= UINT64_MAX / 8;
}

/* Read everything an accepted artifact offers and rebuild it. */
static void
check_accepted(const unsigned char *in, size_t len, const MfArtifactView *v,
			   FuzzStats *st)
{
	MfArtifactWriter w;
	MfArtifactTensor t,
				t2;
	void	   *out = NULL;
	size_t		out_len = 0;
	uint32_t	i;
	uint64_t	k;
	char		err[256];
	int			ok = 1;

	mf_artifact_writer_begin(&w, v->family, &fz_allocator);
	for (k = 0; k < v->meta_len; k++)
		st->checksum = st->checksum * 31 + (unsigned char) v->meta[k];
	for (i = 0; i < v->n_tensors; i++)
	{
		if (mf_artifact_tensor_at(v, i, &t) != MF_ART_OK ||
			(const unsigned char *) t.data < in ||
			t.n_elems > (len - (size_t) ((const unsigned char *) t.data - in)) / 8 ||
			memchr(t.name, 0, MF_ARTIFACT_NAME_LEN) == NULL)
		{
			ok = 0;
			break;
		}
		if (!shape_ok(&t))
			ok = 0;
		for (k = 0; k < t.n_elems; k++)
		{
			uint64_t	bits;

			memcpy(&bits, &t.data[k], 8);
			st->checksum = st->checksum * 31 + bits;
		}
		if (mf_artifact_tensor(v, t.name, (int) t.ndim, t.dims, &t2, err, sizeof(err)) != MF_ART_OK ||
			t2.data != t.data)
			ok = 0;
		mf_artifact_writer_add(&w, t.name, t.ndim, t.dims, t.data);
	}
	mf_artifact_writer_set_meta(&w, v->meta, v->meta_len);
	if (!ok)
	{
		st->bad_accept++;
		mf_artifact_writer_discard(&w);
		return;
	}
	if (mf_artifact_writer_finish(&w, &out, &out_len) != MF_ART_OK ||
		out_len != len || memcmp(out, in, len) != 0)
	{
		if (st->rebuild_mismatch++ == 0)
			MF_DIAG("first rebuild mismatch: %zu bytes in, %zu out (%s)", len, out_len, w.errmsg);
	}
	free(out);
}

/* True when buf[0..len) is one of the seeds (mutations may rebuild one). */
static bool
is_a_seed(const Seed *seeds, const unsigned char *buf, size_t len)
{
	int			s;

	for (s = 0; s < N_SEEDS; s++)
		if (seeds[s].len == len && memcmp(seeds[s].buf, buf, len) == 0)
			return true;
	return false;
}

/* Seconds on the monotonic clock. */
static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One fuzz iteration. */
static void
fuzz_one(uint64_t *rs, const Seed *seeds, unsigned char *work, size_t cap,
		 FuzzStats *st)
{
	const Seed *s = &seeds[below(rs, N_SEEDS)];
	size_t		len = s->len;
	int			resealed = (int) below(rs, 2);
	int			m,
				n_mut = 1 + (int) below(rs, 4);
	unsigned char *in;
	MfArtifactView v;
	char		err[512];
	MfArtErr	rc;

	memcpy(work, s->buf, len);
	for (m = 0; m < n_mut; m++)
		mutate(rs, work, &len, cap, seeds);
	if (resealed)
		reseal(rs, work, len);
	/* exactly len bytes, so a read past the end is caught by ASan/valgrind */
	in = malloc(len > 0 ? len : 1);
	memcpy(in, work, len);
	err[0] = 'x';
	err[1] = '\0';
	rc = mf_artifact_open(in, len, &v, err, sizeof(err));
	if (rc == MF_ART_OK)
	{
		st->accepted[resealed]++;
		if (!is_a_seed(seeds, in, len))
			st->accepted_changed[resealed]++;
		check_accepted(in, len, &v, st);
	}
	else
	{
		st->rejected[resealed]++;
		st->by_code[resealed][(unsigned) rc < 64 ? (unsigned) rc : 63]++;
		if (err[0] == '\0' || strcmp(err, "x") == 0)
			st->no_message++;
		if (v.base != NULL || v.n_tensors != 0 || v.meta != NULL)
			st->view_not_cleared++;
	}
	free(in);
	st->iters++;
}

/* Number of distinct error codes seen in one mode. */
static int
distinct_codes(const FuzzStats *st, int resealed)
{
	int			c,
				n = 0;

	for (c = 1; c < 64; c++)
		n += st->by_code[resealed][c] > 0;
	return n;
}

/* Print the per-code rejection counts. */
static void
print_codes(const FuzzStats *st)
{
	int			c;

	for (c = 1; c < 64; c++)
		if (st->by_code[0][c] + st->by_code[1][c] > 0)
			MF_DIAG("  %-45s raw %10" PRIu64 "  resealed %10" PRIu64,
					mf_artifact_strerror((MfArtErr) c), st->by_code[0][c], st->by_code[1][c]);
}

/* Run the fuzzer for the given time and report. */
int
main(int argc, char **argv)
{
	double		seconds = argc > 1 ? atof(argv[1]) : 5.0;
	uint64_t	rs = argc > 2 ? strtoull(argv[2], NULL, 0) : UINT64_C(20240611);
	uint64_t	seed0 = rs;
	Seed		seeds[N_SEEDS];
	FuzzStats	st;
	size_t		cap = 0;
	unsigned char *work;
	double		t0,
				elapsed;
	int			s;

	memset(&st, 0, sizeof(st));
	make_seeds(seeds);
	for (s = 0; s < N_SEEDS; s++)
	{
		MfArtifactView v;

		if (seeds[s].len > cap)
			cap = seeds[s].len;
		MF_OK(mf_artifact_open(seeds[s].buf, seeds[s].len, &v, NULL, 0) == MF_ART_OK, "seed opens");
	}
	/* room for 4 mutations that each grow the input */
	cap += 4 * MAX_EXTEND;
	work = malloc(cap);
	t0 = now_seconds();
	elapsed = 0.0;
	while (st.iters < MAX_ITERS && (st.iters < MIN_ITERS || elapsed < seconds))
	{
		fuzz_one(&rs, seeds, work, cap, &st);
		if ((st.iters & 255) == 0)
			elapsed = now_seconds() - t0;
	}
	elapsed = now_seconds() - t0;

	MF_DIAG("seed %" PRIu64 ", %" PRIu64 " iterations in %.2f s", seed0, st.iters, elapsed);
	MF_DIAG("raw inputs:      %" PRIu64 " accepted, %" PRIu64 " rejected", st.accepted[0], st.rejected[0]);
	MF_DIAG("resealed inputs: %" PRIu64 " accepted, %" PRIu64 " rejected", st.accepted[1], st.rejected[1]);
	MF_DIAG("accepted inputs that are not a seed: raw %" PRIu64 " (crc collisions), resealed %" PRIu64,
			st.accepted_changed[0], st.accepted_changed[1]);
	print_codes(&st);
	MF_DIAG("(hash of all accepted data: %016" PRIx64 ")", st.checksum);

	MF_OK(1, "no crash");
	MF_OK(st.iters >= MIN_ITERS, "minimum number of iterations done");
	MF_OK(st.no_message == 0, "every rejection has a message");
	MF_OK(st.view_not_cleared == 0, "every rejection leaves the view cleared");
	MF_OK(st.bad_accept == 0, "every accepted artifact has sane shapes and points inside its buffer");
	MF_OK(st.rebuild_mismatch == 0, "every accepted artifact rebuilds byte-identically");
	MF_OK(st.accepted_changed[1] > 0, "some changed, resealed inputs are accepted");
	if (!MF_OK(distinct_codes(&st, 1) >= MIN_CODES, "resealed inputs reach the structural checks"))
		MF_DIAG("  only %d distinct error codes", distinct_codes(&st, 1));
	MF_OK(st.by_code[1][MF_ART_ERR_CHECKSUM] == 0, "resealed inputs never fail the checksum");
	MF_OK(st.by_code[0][MF_ART_ERR_CHECKSUM] > 0, "raw inputs fail the checksum");

	for (s = 0; s < N_SEEDS; s++)
		free(seeds[s].buf);
	free(work);
	return mf_test_done();
}
