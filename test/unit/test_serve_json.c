/*
 * test_serve_json.c - the answer writer of the serving core (json_out.c):
 * doubles printed with the fewest digits that read back as the same
 * double (every output read back with strtod and compared bit for bit, its
 * digit count compared with the shortest that printf's %.<p>g finds), on
 * special values, on random bit patterns, on random probabilities and
 * scores, and JSON strings escaped as jansson reads them back.
 */
#include "serve_int.h"
#include "mf_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64: the test's seeded random bits. */
static uint64_t
next_bits(uint64_t *s)
{
	uint64_t	z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Significant digits of a printed number (no sign, exponent, point, leading or trailing zeros). */
static int
sig_digits(const char *s)
{
	char		d[64];
	int			n = 0,
				first = 0,
				last;

	for (; *s && *s != 'e' && *s != 'E'; s++)
		if (*s >= '0' && *s <= '9')
			d[n++] = *s;
	while (first < n && d[first] == '0')
		first++;
	last = n;
	while (last > first && d[last - 1] == '0')
		last--;
	return last - first;
}

/* The fewest significant digits %.<p>g needs to read back as v. */
static int
shortest_printf(double v)
{
	char		buf[64];

	for (int p = 1; p <= 17; p++)
	{
		double		r;

		snprintf(buf, sizeof(buf), "%.*g", p, v);
		r = strtod(buf, NULL);
		if (memcmp(&r, &v, sizeof(double)) == 0)
			return sig_digits(buf) > 0 ? sig_digits(buf) : 1;
	}
	return 17;
}

/* Print v, read it back; counts the failures (bits differ, longer than shortest, no real). */
static void
check(double v, long *wrong_bits, long *longer, long *not_real, char *first_bad, size_t len)
{
	char		out[MF_SERVE_DTOA_LEN];
	double		r;
	size_t		n = mf_serve_dtoa(v, out);

	r = strtod(out, NULL);
	if (memcmp(&r, &v, sizeof(double)) != 0 || n != strlen(out))
	{
		if ((*wrong_bits)++ == 0)
			snprintf(first_bad, len, "%.17g printed as %s", v, out);
	}
	else if (v != 0 && sig_digits(out) > shortest_printf(v))
	{
		if ((*longer)++ == 0)
			snprintf(first_bad, len, "%.17g printed as %s (%d digits; printf needs %d)", v, out,
					 sig_digits(out), shortest_printf(v));
	}
	if (strpbrk(out, ".e") == NULL)
		(*not_real)++;
}

int
main(void)
{
	static const double special[] = {
		0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 0.5, 1e-5, 1.5e-5, 9.9999e-6, 1e16, 1e17,
		123456789012345680.0, 1e21, 1e22, 1e23, 9007199254740993.0, 9007199254740992.0, 4.35, 2.675,
		5e-324, 1e-323, 2.2250738585072014e-308, 2.2250738585072009e-308, 1.7976931348623157e308,
		1e-290, 1e290, 1.0000000000000002, 0.9999999999999999, 0.30000000000000004, 1e-300, 8.41e21,
		5.0e-310, 4.9406564584124654e-324, 1.2345678901234567e-100, 6.02214076e23, 299792458.0,
		0.1 + 0.7, 1.7976931348623157e290, 2.9802322387695312e-8, 7.450580596923828e-9, 100.0,
		1e15, 123.456, -98765.4321, 3.0517578125e-05, 0.000123456789};
	long		wrong = 0,
				longer = 0,
				not_real = 0,
				count = 0;
	char		bad[200] = "";
	uint64_t	seed = 20261205;

	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++, count++)
		check(special[i], &wrong, &longer, &not_real, bad, sizeof(bad));
	/* powers of two (the interval is lopsided below them) and their neighbours */
	for (int e = -1074; e <= 1023; e++)
	{
		double		p = ldexp(1.0, e);

		check(p, &wrong, &longer, &not_real, bad, sizeof(bad));
		check(nextafter(p, 0), &wrong, &longer, &not_real, bad, sizeof(bad));
		check(nextafter(p, INFINITY), &wrong, &longer, &not_real, bad, sizeof(bad));
		count += 3;
	}
	if (!MF_OK(wrong == 0 && longer == 0 && not_real == 0,
			   "special values and every power of two with its neighbours: read back bit for bit, shortest, a JSON real"))
		MF_DIAG("  %ld wrong, %ld longer, %ld not real of %ld: %s", wrong, longer, not_real, count, bad);

	wrong = longer = not_real = count = 0;
	for (int i = 0; i < 150000; i++, count++)
	{
		uint64_t	b = next_bits(&seed);
		double		v;

		memcpy(&v, &b, sizeof(v));
		if (isfinite(v))
			check(v, &wrong, &longer, &not_real, bad, sizeof(bad));
	}
	if (!MF_OK(wrong == 0 && longer == 0 && not_real == 0, "150,000 random bit patterns: read back bit for bit, shortest"))
		MF_DIAG("  %ld wrong, %ld longer, %ld not real of %ld: %s", wrong, longer, not_real, count, bad);

	wrong = longer = not_real = count = 0;
	for (int i = 0; i < 100000; i++, count++)
	{
		double		u = (double) (next_bits(&seed) >> 11) / 9007199254740992.0;

		/* probabilities, their complements, logistic outputs and scores of several scales */
		check(u, &wrong, &longer, &not_real, bad, sizeof(bad));
		check(1.0 - u, &wrong, &longer, &not_real, bad, sizeof(bad));
		check(1.0 / (1.0 + exp(-(u * 40 - 20))), &wrong, &longer, &not_real, bad, sizeof(bad));
		check((u - 0.5) * pow(10.0, (double) (i % 40 - 20)), &wrong, &longer, &not_real, bad, sizeof(bad));
	}
	if (!MF_OK(wrong == 0 && longer == 0 && not_real == 0,
			   "400,000 random probabilities and scores: read back bit for bit, shortest"))
		MF_DIAG("  %ld wrong, %ld longer, %ld not real of %ld: %s", wrong, longer, not_real, count, bad);

	{
		MfServeBuf	b = {0};
		json_t	   *o;
		const char *text = "a\"b\\c\n\t\x01 süd \xe2\x82\xac/\xf0\x9f\x98\x80";

		mf_serve_buf_text(&b, "[");
		mf_serve_buf_str(&b, text);
		mf_serve_buf_text(&b, ",");
		mf_serve_buf_real(&b, 0.1);
		mf_serve_buf_text(&b, ",");
		mf_serve_buf_real(&b, NAN);
		mf_serve_buf_text(&b, ",");
		mf_serve_buf_int(&b, -42);
		mf_serve_buf_text(&b, "]");
		o = b.failed ? NULL : json_loads(b.data, 0, NULL);
		MF_OK(o != NULL && strcmp(json_string_value(json_array_get(o, 0)), text) == 0 &&
			  json_real_value(json_array_get(o, 1)) == 0.1 && json_is_null(json_array_get(o, 2)) &&
			  json_integer_value(json_array_get(o, 3)) == -42,
			  "buffer: an escaped string (quotes, controls, UTF-8) reads back the same; 0.1; null for NaN; an integer");
		json_decref(o);
		free(b.data);
		memset(&b, 0, sizeof(b));
		mf_serve_buf_str(&b, "bad \xc3\x28 utf-8");
		MF_OK(b.failed, "buffer: a string that is not UTF-8 fails the answer (500), as jansson refused it");
		free(b.data);
	}
	return mf_test_done();
}
