/*
 * json_out.c - the answers of the scoring routes written straight into a
 * growing buffer (no JSON tree per row, no json_dumps), and doubles
 * printed with the fewest significant digits that read back as the same
 * double, instead of printf's %.17g.
 *
 * Design note: the shortest digits.  For a finite normal double a whose
 * magnitude lies in [1e-290, 1e290], t = a * 10^(16 - e10) (e10 its decimal
 * exponent) is computed in long double (x87: 64-bit significand), as are
 * the bounds lo, hi of the interval of reals that round to a (half an ulp
 * each side; a quarter below a power of two).  For k = 15, 16, 17 significant
 * digits, the k-digit decimals next to t are candidates; one that lies
 * inside the interval reads back as a.  Each product or quotient has a
 * relative error of at most 2^-64 per rounding (a dozen at most), i.e.
 * under 0.1 unit of the 17th digit, so a candidate farther than 0.25 unit
 * from both bounds is decided by the comparison, and one closer is decided
 * exactly: its text is read back with strtod.  k = 15 first: a shortest
 * form of at most 15 digits, padded with zeros, is the 15-digit rounding of
 * a (15 digits tell every double apart from its neighbours' intervals), so
 * dropping trailing zeros gives it; 17 digits always suffice.  Other
 * doubles (huge, tiny) take the slow exact path: %.15g, %.16g, %.17g, each
 * read back (subnormals, with fewer digits, from %.1g on).  The unit test compares the digit count with the
 * shortest found by printf for random doubles and checks every read-back.
 */
#include "serve_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 10^0 .. 10^27: exact in long double (5^27 < 2^64). */
static const long double MfPow10Small[28] = {
	1e0L, 1e1L, 1e2L, 1e3L, 1e4L, 1e5L, 1e6L, 1e7L, 1e8L, 1e9L, 1e10L, 1e11L, 1e12L, 1e13L,
	1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L
};

/* 10^0 .. 10^19 as integers. */
static const uint64_t MfPow10Int[20] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull,
	1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull,
	100000000000000ull, 1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
	1000000000000000000ull, 10000000000000000000ull
};

/* 10^(27 q), q = 0 .. 12, each correctly rounded by the compiler. */
static const long double MfPow10Big[13] = {
	1e0L, 1e27L, 1e54L, 1e81L, 1e108L, 1e135L, 1e162L, 1e189L, 1e216L, 1e243L, 1e270L, 1e297L, 1e324L
};

/* Write digits (n of them, value d) with decimal exponent e of the first: JSON number text. */
static size_t
MfFormatDigits(uint64_t d, int n, int e, bool neg, char *out)
{
	char		dig[24];
	size_t		o = 0;

	for (int i = n - 1; i >= 0; i--)
	{
		dig[i] = (char) ('0' + d % 10);
		d /= 10;
	}
	if (neg)
		out[o++] = '-';
	if (e >= -5 && e < 17)
	{
		if (e < 0)
		{
			out[o++] = '0';
			out[o++] = '.';
			for (int i = 0; i < -e - 1; i++)
				out[o++] = '0';
			memcpy(out + o, dig, (size_t) n);
			o += (size_t) n;
		}
		else
		{
			for (int i = 0; i <= e; i++)
				out[o++] = i < n ? dig[i] : '0';
			out[o++] = '.';
			if (n > e + 1)
			{
				memcpy(out + o, dig + e + 1, (size_t) (n - e - 1));
				o += (size_t) (n - e - 1);
			}
			else
				out[o++] = '0';
		}
	}
	else
	{
		out[o++] = dig[0];
		if (n > 1)
		{
			out[o++] = '.';
			memcpy(out + o, dig + 1, (size_t) (n - 1));
			o += (size_t) (n - 1);
		}
		o += (size_t) sprintf(out + o, "e%d", e);
	}
	out[o] = '\0';
	return o;
}

/* True when text reads back as exactly v. */
static bool
MfReadsBack(const char *text, double v)
{
	double		r = strtod(text, NULL);

	return memcmp(&r, &v, sizeof(double)) == 0;
}

/* The slow exact path: the first of %.15g, %.16g, %.17g that reads back (from %.1g when subnormal). */
static size_t
MfDtoaSlow(double v, char *out)
{
	int			n = 0;

	for (int prec = isnormal(v) ? 15 : 1; prec <= 17; prec++)
	{
		n = snprintf(out, MF_SERVE_DTOA_LEN, "%.*g", prec, v);
		if (MfReadsBack(out, v))
			break;
	}
	if (strpbrk(out, ".e") == NULL)
	{
		memcpy(out + n, ".0", 3);
		n += 2;
	}
	return (size_t) n;
}

/* Is the 17-digit-scaled candidate d inside [lo, hi]?  Decided exactly when within the error margin. */
static bool
MfCandidateIn(uint64_t d, long double lo, long double hi, int e10, double a)
{
	long double ld = (long double) (int64_t) d;	/* exact: below 2^63 */
	char		text[MF_SERVE_DTOA_LEN];
	uint64_t	c = d;
	int			n = d >= 100000000000000000ull ? 18 : 17;

	if (ld - lo > 0.25L && hi - ld > 0.25L)
		return true;
	if (ld < lo - 0.25L || ld > hi + 0.25L)
		return false;
	/* too close to a bound to tell: read its text back (ties to even included) */
	if (c == 0)
		return false;
	while (c % 10 == 0)
	{
		c /= 10;
		n--;
	}
	MfFormatDigits(c, n, e10 + (d >= 100000000000000000ull ? 1 : 0), false, text);
	return MfReadsBack(text, a);
}

/* Print a finite double with the fewest digits that read back as it (see the note). */
size_t
mf_serve_dtoa(double v, char *out)
{
	double		a = fabs(v);
	bool		neg = signbit(v);
	uint64_t	bits,
				T;
	bool		pow2;
	int			be,
				e10;
	long double p,
				t,
				lo,
				hi;
	double		ulp;

	if (a == 0.0)
		return (size_t) sprintf(out, neg ? "-0.0" : "0.0");
	if (!(a >= 1e-290 && a <= 1e290))
		return MfDtoaSlow(v, out);
	memcpy(&bits, &a, sizeof(bits));
	pow2 = (bits & 0xFFFFFFFFFFFFFull) == 0;	/* the interval is lopsided below */
	be = (int) (bits >> 52) - 1023;		/* a = 1.f * 2^be */
	bits = (uint64_t) (be - 52 + 1023) << 52;
	memcpy(&ulp, &bits, sizeof(ulp));	/* 2^(be - 52) */
	e10 = (be * 78913) >> 18;	/* floor(be log10(2)): log10(a), maybe one too low */
	for (;;)
	{
		int			n = 16 - e10,
					m = n < 0 ? -n : n;

		p = MfPow10Big[m / 27] * MfPow10Small[m % 27];
		if (n < 0)
			p = 1.0L / p;
		t = (long double) a * p;
		if (t >= 1e17L)
			e10++;
		else if (t < 1e16L)
			e10--;
		else
			break;
	}
	lo = ((long double) a - (pow2 ? ulp / 4 : ulp / 2)) * p;
	hi = ((long double) a + ulp / 2) * p;
	T = (uint64_t) (int64_t) t;	/* floor: t is positive, below 10^17 */
	for (int k = 15; k <= 17; k++)
	{
		uint64_t	S = MfPow10Int[17 - k];
		uint64_t	cf = T / S;
		long double rem = (long double) (int64_t) (T % S) + (t - (long double) (int64_t) T);	/* t - cf S */
		long double near = 1e-3L * MfPow10Small[17 - k];
		int			from = rem < near ? -1 : 0,		/* t may lie just below cf S */
					to = rem > MfPow10Small[17 - k] - near ? 2 : 1;
		uint64_t	best = 0;
		long double best_dist = -1;

		for (int j = from; j <= to; j++)
		{
			uint64_t	c = cf + (uint64_t) j;
			long double dist;

			if (c == 0 || !MfCandidateIn(c * S, lo, hi, e10, a))
				continue;
			dist = fabsl((long double) (int64_t) (c * S) - t);
			if (best_dist < 0 || dist < best_dist)
			{
				best_dist = dist;
				best = c;
			}
		}
		if (best_dist >= 0)
		{
			int			n = k,
						e = e10;

			if (best >= MfPow10Int[k])
			{
				best /= 10;		/* 10^k: one more digit before the point */
				e++;
			}
			while (n > 1 && best % 10 == 0)
			{
				best /= 10;
				n--;
			}
			return MfFormatDigits(best, n, e, neg, out);
		}
	}
	return MfDtoaSlow(v, out);
}

/* ------------------------------------------------------------ the answer buffer */

/* Make room for n more bytes (and a NUL); false (and failed) when out of memory. */
static bool
MfBufGrow(MfServeBuf *b, size_t n)
{
	size_t		cap;
	char	   *d;

	if (b->failed)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 1024;
	while (cap < b->len + n + 1)
		cap *= 2;
	d = realloc(b->data, cap);
	if (d == NULL)
	{
		b->failed = true;
		return false;
	}
	b->data = d;
	b->cap = cap;
	return true;
}

/* Append n bytes. */
void
mf_serve_buf_raw(MfServeBuf *b, const char *s, size_t n)
{
	if (!MfBufGrow(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* Append a NUL-terminated text as is. */
void
mf_serve_buf_text(MfServeBuf *b, const char *s)
{
	mf_serve_buf_raw(b, s, strlen(s));
}

/* Append a double as a JSON number (shortest digits); null when not finite. */
void
mf_serve_buf_real(MfServeBuf *b, double v)
{
	char		text[MF_SERVE_DTOA_LEN];

	if (!isfinite(v))
		mf_serve_buf_raw(b, "null", 4);
	else
		mf_serve_buf_raw(b, text, mf_serve_dtoa(v, text));
}

/* Append an integer. */
void
mf_serve_buf_int(MfServeBuf *b, long long v)
{
	char		text[24];

	mf_serve_buf_raw(b, text, (size_t) snprintf(text, sizeof(text), "%lld", v));
}

/* Length of the UTF-8 sequence at s (of at most n bytes), 0 when invalid. */
static size_t
MfUtf8Len(const unsigned char *s, size_t n)
{
	size_t		len = s[0] < 0xC2 ? 0 : s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : s[0] < 0xF5 ? 4 : 0;

	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	if ((len == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0))) ||
		(len == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))))
		return 0;				/* overlong, surrogate, beyond U+10FFFF */
	return len;
}

/* Append a JSON string (escaped as jansson does); failed when s is not UTF-8. */
void
mf_serve_buf_str(MfServeBuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		n = strlen(s),
				start = 0;

	mf_serve_buf_raw(b, "\"", 1);
	for (size_t i = 0; i < n;)
	{
		unsigned char ch = p[i];
		char		esc[8];
		size_t		len;

		if (ch >= 0x20 && ch != '"' && ch != '\\' && ch < 0x80)
		{
			i++;
			continue;
		}
		if (ch >= 0x80)
		{
			if ((len = MfUtf8Len(p + i, n - i)) == 0)
			{
				b->failed = true;
				return;
			}
			i += len;
			continue;
		}
		mf_serve_buf_raw(b, s + start, i - start);
		if (ch == '"' || ch == '\\')
			snprintf(esc, sizeof(esc), "\\%c", ch);
		else if (ch == '\n' || ch == '\t' || ch == '\r' || ch == '\b' || ch == '\f')
			snprintf(esc, sizeof(esc), "\\%c", ch == '\n' ? 'n' : ch == '\t' ? 't' : ch == '\r' ? 'r' : ch == '\b' ? 'b' : 'f');
		else
			snprintf(esc, sizeof(esc), "\\u%04X", ch);
		mf_serve_buf_text(b, esc);
		start = ++i;
	}
	mf_serve_buf_raw(b, s + start, n - start);
	mf_serve_buf_raw(b, "\"", 1);
}

/* Set the buffer as a JSON answer (taking its memory); 500 when it failed. */
void
mf_serve_json_buf(MfServeCall *c, int status, MfServeBuf *b)
{
	if (b->failed || b->data == NULL)
	{
		free(b->data);
		memset(b, 0, sizeof(*b));
		mf_serve_json(c, 500, NULL);
		return;
	}
	mf_serve_response_free(c->resp);
	c->resp->status = status;
	c->resp->content_type = "application/json";
	c->resp->body = b->data;
	c->resp->body_len = b->len;
	memset(b, 0, sizeof(*b));
}
