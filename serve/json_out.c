/*
 * json_out.c - the answers of the scoring routes written straight into a
 * growing buffer (no JSON tree per row, no json_dumps), and doubles
 * printed with the fewest significant digits that read back as the same
 * double (the nearest such digits: those of libstdc++'s std::to_chars,
 * through numjson/), instead of printf's %.17g.  Floats (embeddings) are
 * printed with the fewest digits that read back as the same float
 * (std::to_chars(float)): the digits PostgreSQL's float4out prints, at
 * most 9, which strtof and float4in read back bit for bit.  A client that
 * parses JSON numbers as doubles (Python, JavaScript, jansson) and rounds
 * them to float gets the same float too: for the rare floats whose
 * shortest digits it would round to a neighbour (a double rounding), the
 * float's shortest digits as a double are printed instead
 * (mf_numjson_shortest_float).
 */
#include "serve_int.h"
#include "numjson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Write the number of n shortest digits dig (first of exponent e, sign neg)
 * as a JSON real: plain from 1e-5 to 1e17, else with an exponent; the length.
 */
static size_t
MfFormatShortest(bool neg, const char *dig, int n, int e, char *out)
{
	size_t		o = 0;

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
		/* the exponent (|e| <= 324) without printf */
		out[o++] = 'e';
		if (e < 0)
		{
			out[o++] = '-';
			e = -e;
		}
		if (e >= 100)
			out[o++] = (char) ('0' + e / 100);
		if (e >= 10)
			out[o++] = (char) ('0' + e / 10 % 10);
		out[o++] = (char) ('0' + e % 10);
	}
	out[o] = '\0';
	return o;
}

/* Print a finite double (a float's value when is_float: its digits as a float) with the fewest digits; the length. */
static size_t
MfPrintShortest(double v, bool is_float, char *out)
{
	char		dig[17];
	int			e,
				n;

	if (v == 0.0)
		return (size_t) sprintf(out, signbit(v) ? "-0.0" : "0.0");
	n = is_float ? mf_numjson_shortest_float((float) v, dig, &e) : mf_numjson_shortest(v, dig, &e);
	return MfFormatShortest(signbit(v), dig, n, e, out);
}

/* Print a finite double with the fewest digits that read back as it: plain from 1e-5 to 1e17, else with an exponent. */
size_t
mf_serve_dtoa(double v, char *out)
{
	return MfPrintShortest(v, false, out);
}

/*
 * Print a finite float with the fewest digits that read back as that float
 * (strtof, float4in: the digits PostgreSQL prints for a float4; see the
 * note atop for readers of doubles), laid out as mf_serve_dtoa lays out a
 * double; the length.
 */
size_t
mf_serve_ftoa(float v, char *out)
{
	return MfPrintShortest((double) v, true, out);
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

/* Append a number (a float's value when is_float) as a JSON number, shortest digits printed in place; null when not finite. */
static void
MfBufNumber(MfServeBuf *b, double v, bool is_float)
{
	if (!isfinite(v))
		mf_serve_buf_raw(b, "null", 4);
	else if (MfBufGrow(b, MF_SERVE_DTOA_LEN))
		b->len += MfPrintShortest(v, is_float, b->data + b->len);
}

/* Append a double as a JSON number (shortest digits); null when not finite. */
void
mf_serve_buf_real(MfServeBuf *b, double v)
{
	MfBufNumber(b, v, false);
}

/* Append a float as a JSON number (its shortest digits as a float); null when not finite. */
void
mf_serve_buf_float(MfServeBuf *b, float v)
{
	MfBufNumber(b, (double) v, true);
}

/* Append n floats separated by commas. */
void
mf_serve_buf_floats(MfServeBuf *b, const float *v, size_t n)
{
	for (size_t i = 0; i < n && !b->failed; i++)
	{
		if (i > 0)
			mf_serve_buf_raw(b, ",", 1);
		mf_serve_buf_float(b, v[i]);
	}
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
