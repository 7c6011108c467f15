/*
 * numjson.cc - the C shim over simdjson's On-Demand API (see numjson.h).
 *
 * Design note: the body is copied into the thread's padded buffer
 * (simdjson reads up to SIMDJSON_PADDING bytes past the end), iterated
 * once, and every token on the way is read with a typed accessor or, for
 * numbers, checked against the grammar here, so each byte the fast path
 * accepts has been validated (stage 1 validates the
 * UTF-8 of the whole body; the end check refuses anything after the top-level
 * object).  Nothing is skipped: an unknown key or a value of another type
 * makes the call answer false, and the caller's jansson path then gives
 * the answer it always gave.  Strings we read (keys, signature_name, the
 * OIP name, datatype and id) must be printable ASCII or UTF-8 without a
 * backslash or control character, so their raw bytes are their text.
 */
#include "numjson.h"

#define SIMDJSON_EXCEPTIONS 0
#include <simdjson.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>
#include <vector>

using namespace simdjson;

namespace
{

/* What one thread keeps between calls: the parser, the padded copy, the values. */
struct MfNumScratch
{
	ondemand::parser parser;
	std::vector<char> in;
	std::vector<double> x;
	std::vector<double> cols;
	std::vector<unsigned char> seen;
};

thread_local MfNumScratch scratch;

/* The columns a TF body may name. */
struct MfNumCols
{
	const char *const *names;
	std::vector<size_t> lens;
	int			n;
	int			hint;
};

/* The text of a raw string (after its opening quote) when plain; false otherwise. */
bool
MfNumPlain(const char *raw, std::string_view *out)
{
	const char *p = raw;

	for (;; p++)
	{
		unsigned char ch = (unsigned char) *p;

		if (ch == '"')
			break;
		if (ch == '\\' || ch < 0x20 || ch == 0x7f)
			return false;
	}
	*out = std::string_view(raw, (size_t) (p - raw));
	return true;
}

/* The next field of an object and its key when plain; false otherwise. */
bool
MfNumField(simdjson_result<ondemand::field> &fr, ondemand::field &f, std::string_view *key)
{
	return !std::move(fr).get(f) && MfNumPlain(f.key().raw(), key);
}

/* A string value when plain. */
bool
MfNumString(ondemand::value v, std::string_view *s)
{
	ondemand::raw_json_string r;

	if (v.get_raw_json_string().get(r))
		return false;
	return MfNumPlain(r.raw(), s);
}

/* True for an ASCII digit. */
inline bool
MfNumDigit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* The end of the run of digits at p (before end), eight bytes at a time while they fit. */
inline const char *
MfNumDigits(const char *p, const char *end)
{
	while (end - p >= 8)
	{
		uint64_t	w;

		memcpy(&w, p, 8);
		/* every byte 0x30..0x39: high nibbles 3, and adding 6 carries out of none */
		if (((w & 0xF0F0F0F0F0F0F0F0ull) | (((w + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) >> 4)) !=
			0x3333333333333333ull)
			break;
		p += 8;
	}
	while (p < end && MfNumDigit(*p))
		p++;
	return p;
}

/* A token std::from_chars finds out of range, read by strtod as jansson does: underflow is 0 or subnormal, overflow false. */
bool
MfNumStrtod(const char *start, const char *end, double *x)
{
	char		text[512];

	if (end - start >= (long) sizeof(text))
		return false;
	memcpy(text, start, (size_t) (end - start));
	text[end - start] = '\0';
	errno = 0;
	*x = strtod(text, NULL);
	return !(errno == ERANGE && std::isinf(*x));
}

/*
 * One number as jansson reads it: the token is checked against JSON's
 * number grammar here and converted by std::from_chars (libstdc++: correctly
 * rounded, as glibc's strtod that jansson calls); an integer token goes
 * through int64 as jansson's strtoll (out of range: false, jansson refuses
 * it; -0 is +0.0).  A token out of a double's range is read by strtod.
 */
bool
MfNumNumber(ondemand::value v, double *x, bool *integer)
{
	std::string_view tok = v.raw_json_token();	/* the token and the blanks after it */
	const char *start = tok.data(),
			   *end = start + tok.size(),
			   *p = start,
			   *digits;

	*integer = true;
	if (p < end && *p == '-')
		p++;
	digits = p;
	if (p == end || !MfNumDigit(*p))
		return false;
	p = *p == '0' ? p + 1 : MfNumDigits(p, end);
	if (p < end && *p == '.')
	{
		*integer = false;
		if (++p == end || !MfNumDigit(*p))
			return false;
		p = MfNumDigits(p, end);
	}
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		*integer = false;
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !MfNumDigit(*p))
			return false;
		p = MfNumDigits(p, end);
	}
	for (const char *q = p; q < end; q++)
		if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r')
			return false;
	if (!*integer || p - digits < 16)
	{
		std::from_chars_result r = std::from_chars(start, p, *x);

		if (r.ec == std::errc::result_out_of_range && !MfNumStrtod(start, p, x))
			return false;
		if ((r.ec != std::errc() && r.ec != std::errc::result_out_of_range) || r.ptr != p || !std::isfinite(*x))
			return false;
		if (*integer)
			*x += 0.0;			/* -0 -> +0; a real -0.0 stays */
	}
	else
	{
		/* an integer of 16 digits or more: jansson's strtoll decides the range, the cast the double */
		char		text[24];
		long long	k;

		if (p - start >= (long) sizeof(text))
			return false;
		memcpy(text, start, (size_t) (p - start));
		text[p - start] = '\0';
		errno = 0;
		k = strtoll(text, NULL, 10);
		if (errno == ERANGE)
			return false;
		*x = (double) k;
	}
	return true;
}

/* The column index of a key, or -1 (tries the column after the last one first). */
int
MfNumColumn(MfNumCols &c, std::string_view key)
{
	for (int k = 0; k < c.n; k++)
	{
		int			i = (c.hint + k) % c.n;

		if (c.lens[i] == key.size() && memcmp(c.names[i], key.data(), key.size()) == 0)
		{
			c.hint = (i + 1) % c.n;
			return i;
		}
	}
	return -1;
}

/* The next member of an object of named columns and its column (each column once); false otherwise. */
bool
MfNumMember(simdjson_result<ondemand::field> &fr, MfNumCols &c, ondemand::field &f, int *col)
{
	std::string_view key;

	if (!MfNumField(fr, f, &key) || (*col = MfNumColumn(c, key)) < 0 || scratch.seen[*col])
		return false;
	scratch.seen[*col] = 1;
	return true;
}

/* Append the numbers of an array; their count, or -1 when one is not a number. */
long
MfNumList(ondemand::value v, std::vector<double> &out, bool *all_int)
{
	ondemand::array a;
	long		m = 0;

	if (v.get_array().get(a))
		return -1;
	for (auto er : a)
	{
		ondemand::value e;
		double		x;
		bool		integer;

		if (er.get(e) || !MfNumNumber(e, &x, &integer))
			return -1;
		*all_int = *all_int && integer;
		out.push_back(x);
		m++;
	}
	return m;
}

/* One object of named columns into row r of x (every column once, nothing else). */
bool
MfNumObjectRow(ondemand::value v, MfNumCols &c, MfNumBody *out)
{
	ondemand::object o;
	int			count = 0;
	size_t		base = scratch.x.size();

	if (v.get_object().get(o))
		return false;
	scratch.x.resize(base + (size_t) c.n);
	std::fill(scratch.seen.begin(), scratch.seen.end(), 0);
	for (auto fr : o)
	{
		ondemand::field f;
		int			col;
		bool		integer;

		if (!MfNumMember(fr, c, f, &col))
			return false;
		if (!MfNumNumber(f.value(), &scratch.x[base + (size_t) col], &integer))
			return false;
		out->all_integers = out->all_integers && integer;
		count++;
	}
	return count == c.n;
}

/* TF rows (lists or objects) of "instances" or "inputs". */
bool
MfNumTfRows(ondemand::value v, MfNumCols &c, MfNumBody *out)
{
	ondemand::array rows;

	if (v.get_array().get(rows))
		return false;
	for (auto rr : rows)
	{
		ondemand::value row;
		ondemand::json_type t;

		if (rr.get(row) || row.type().get(t))
			return false;
		if (out->n == 0)
			out->form = t == ondemand::json_type::array ? MF_NUM_TF_LISTS :
				t == ondemand::json_type::object && c.n > 0 ? MF_NUM_TF_OBJECTS : MF_NUM_NONE;
		if (out->form == MF_NUM_TF_LISTS)
		{
			long		m = MfNumList(row, scratch.x, &out->all_integers);

			if (m <= 0 || (out->n > 0 && (size_t) m != out->m))
				return false;
			out->m = (size_t) m;
		}
		else if (out->form == MF_NUM_TF_OBJECTS)
		{
			if (!MfNumObjectRow(row, c, out))
				return false;
			out->m = (size_t) c.n;
		}
		else
			return false;
		out->n++;
	}
	return out->n > 0;
}

/* TF columnar inputs: every column once, lists of the same length n > 0. */
bool
MfNumTfColumns(ondemand::value v, MfNumCols &c, MfNumBody *out)
{
	ondemand::object o;
	int			count = 0;

	if (c.n <= 0 || v.get_object().get(o))
		return false;
	scratch.cols.clear();
	std::fill(scratch.seen.begin(), scratch.seen.end(), 0);
	std::vector<size_t> start((size_t) c.n, 0);
	for (auto fr : o)
	{
		ondemand::field f;
		int			col;
		long		len;

		if (!MfNumMember(fr, c, f, &col))
			return false;
		start[col] = scratch.cols.size();
		len = MfNumList(f.value(), scratch.cols, &out->all_integers);
		if (len <= 0 || (count > 0 && (size_t) len != out->n))
			return false;
		out->n = (size_t) len;
		count++;
	}
	if (count != c.n)
		return false;
	out->m = (size_t) c.n;
	scratch.x.resize(out->n * out->m);
	for (int col = 0; col < c.n; col++)
		for (size_t r = 0; r < out->n; r++)
			scratch.x[r * out->m + (size_t) col] = scratch.cols[start[col] + r];
	out->form = MF_NUM_TF_COLUMNS;
	return true;
}

/* Copy the body into the padded buffer and start iterating it as an object. */
bool
MfNumBegin(const char *body, size_t len, ondemand::document &doc, ondemand::object &top)
{
	size_t		i = 0;

	while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
		i++;
	if (i >= len || body[i] != '{')
		return false;
	if (scratch.in.size() < len + SIMDJSON_PADDING)
		scratch.in.resize(len + SIMDJSON_PADDING);
	memcpy(scratch.in.data(), body, len);
	memset(scratch.in.data() + len, 0, SIMDJSON_PADDING);
	scratch.x.clear();
	if (scratch.parser.iterate(scratch.in.data(), len, scratch.in.size()).get(doc))
		return false;
	return !doc.get_object().get(top);
}

/* The TF body (see mf_numjson_tf). */
bool
MfNumTf(const char *body, size_t len, const char *const *columns, int ncols, MfNumBody *out)
{
	ondemand::document doc;
	ondemand::object top;
	MfNumCols	c;
	bool		sig = false,
				rows = false;

	c.names = columns;
	c.n = ncols;
	c.hint = 0;
	for (int i = 0; i < ncols; i++)
		c.lens.push_back(strlen(columns[i]));
	scratch.seen.assign((size_t) (ncols > 0 ? ncols : 1), 0);
	if (!MfNumBegin(body, len, doc, top))
		return false;
	for (auto fr : top)
	{
		ondemand::field f;
		std::string_view key;

		if (!MfNumField(fr, f, &key))
			return false;
		if (key == "signature_name" && !sig)
		{
			std::string_view s;

			sig = true;
			if (!MfNumString(f.value(), &s) || (s != "serving_default" && !s.empty()))
				return false;
		}
		else if ((key == "instances" || key == "inputs") && !rows)
		{
			ondemand::json_type t;

			rows = true;
			out->under_inputs = key == "inputs";
			if (f.value().type().get(t))
				return false;
			if (t == ondemand::json_type::object && out->under_inputs ? !MfNumTfColumns(f.value(), c, out)
				: !MfNumTfRows(f.value(), c, out))
				return false;
		}
		else
			return false;
	}
	if (!rows || doc.current_location().error() != OUT_OF_BOUNDS)
		return false;
	out->x = scratch.x.data();
	return true;
}

/* A plain string into buf (cap bytes with the NUL); false when longer. */
bool
MfNumCopy(ondemand::value v, char *buf, size_t cap)
{
	std::string_view s;

	if (!MfNumString(v, &s) || s.size() >= cap)
		return false;
	memcpy(buf, s.data(), s.size());
	buf[s.size()] = '\0';
	return true;
}

/* OIP "shape": 1 or 2 integers in [0, 2^24]. */
bool
MfNumShape(ondemand::value v, MfNumBody *out)
{
	ondemand::array a;

	if (v.get_array().get(a))
		return false;
	out->ndim = 0;
	for (auto er : a)
	{
		ondemand::value e;
		double		x;
		bool		integer;

		if (er.get(e) || out->ndim >= 2 || !MfNumNumber(e, &x, &integer) || !integer || x < 0 || x > (1 << 24))
			return false;
		out->dims[out->ndim++] = (int64_t) x;
	}
	return out->ndim >= 1;
}

/* OIP "data": numbers, flat or one level nested. */
bool
MfNumData(ondemand::value v, MfNumBody *out)
{
	ondemand::array a;

	if (v.get_array().get(a))
		return false;
	for (auto er : a)
	{
		ondemand::value e;
		ondemand::json_type t;
		double		x;
		bool		integer;

		if (er.get(e) || e.type().get(t))
			return false;
		if (t == ondemand::json_type::array)
		{
			if (MfNumList(e, scratch.x, &out->all_integers) < 0)
				return false;
			continue;
		}
		if (!MfNumNumber(e, &x, &integer))
			return false;
		out->all_integers = out->all_integers && integer;
		scratch.x.push_back(x);
	}
	return true;
}

/* The one tensor of an OIP body: name, shape, datatype, data, each once. */
bool
MfNumTensor(ondemand::value v, MfNumBody *out)
{
	ondemand::object o;
	unsigned	seen = 0;

	if (v.get_object().get(o))
		return false;
	for (auto fr : o)
	{
		ondemand::field f;
		std::string_view key;
		unsigned	bit;
		bool		ok;

		if (!MfNumField(fr, f, &key))
			return false;
		bit = key == "name" ? 1u : key == "shape" ? 2u : key == "datatype" ? 4u : key == "data" ? 8u : 0u;
		if (bit == 0 || (seen & bit))
			return false;
		seen |= bit;
		ok = bit == 1 ? MfNumCopy(f.value(), out->name, sizeof(out->name)) :
			bit == 2 ? MfNumShape(f.value(), out) :
			bit == 4 ? MfNumCopy(f.value(), out->datatype, sizeof(out->datatype)) : MfNumData(f.value(), out);
		if (!ok)
			return false;
	}
	return seen == 15;
}

/* The OIP body (see mf_numjson_oip). */
bool
MfNumOip(const char *body, size_t len, MfNumBody *out)
{
	ondemand::document doc;
	ondemand::object top;
	bool		inputs = false;

	if (!MfNumBegin(body, len, doc, top))
		return false;
	for (auto fr : top)
	{
		ondemand::field f;
		std::string_view key;

		if (!MfNumField(fr, f, &key))
			return false;
		if (key == "id" && !out->has_id)
		{
			out->has_id = true;
			if (!MfNumCopy(f.value(), out->id, sizeof(out->id)))
				return false;
		}
		else if (key == "inputs" && !inputs)
		{
			ondemand::array a;
			int			count = 0;

			inputs = true;
			if (f.value().get_array().get(a))
				return false;
			for (auto er : a)
			{
				ondemand::value t;

				if (er.get(t) || count++ > 0 || !MfNumTensor(t, out))
					return false;
			}
			if (count != 1)
				return false;
		}
		else
			return false;
	}
	if (!inputs || doc.current_location().error() != OUT_OF_BOUNDS)
		return false;
	out->form = MF_NUM_OIP_TENSOR;
	out->n = scratch.x.size();
	out->m = 1;
	out->x = scratch.x.data();
	return true;
}

/* A zeroed result. */
void
MfNumReset(MfNumBody *out)
{
	memset(out, 0, sizeof(*out));
	out->all_integers = true;
}

}								/* namespace */

/* Read a TF :predict body of numbers; false: parse it with jansson. */
extern "C" bool
mf_numjson_tf(const char *body, size_t len, const char *const *columns, int ncols, MfNumBody *out)
{
	bool		ok;

	MfNumReset(out);
	try
	{
		ok = MfNumTf(body, len, columns, ncols, out);
	}
	catch (...)
	{
		ok = false;
	}
	if (!ok)
		MfNumReset(out);
	return ok;
}

/* Read an OIP infer body of one numeric tensor; false: parse it with jansson. */
extern "C" bool
mf_numjson_oip(const char *body, size_t len, MfNumBody *out)
{
	bool		ok;

	MfNumReset(out);
	try
	{
		ok = MfNumOip(body, len, out);
	}
	catch (...)
	{
		ok = false;
	}
	if (!ok)
		MfNumReset(out);
	return ok;
}

/* Digits and exponent of std::to_chars' scientific text "d[.ddd]e[+-]xx" (end at end); the digit count. */
static int
MfNumSciDigits(const char *p, const char *end, char *digits, int *exp10)
{
	int			n = 0,
				e = 0,
				sign = 1;

	for (; p < end && *p != 'e'; p++)
		if (*p != '.')
			digits[n++] = *p;
	for (p++; p < end; p++)
	{
		if (*p == '-')
			sign = -1;
		else if (*p != '+')
			e = e * 10 + (*p - '0');
	}
	*exp10 = sign * e;
	return n;
}

/* The shortest digits of a finite nonzero double and the exponent of the first (see numjson.h). */
extern "C" int
mf_numjson_shortest(double v, char digits[17], int *exp10)
{
	char		buf[40];
	std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), std::fabs(v),
										   std::chars_format::scientific);

	return MfNumSciDigits(buf, r.ptr, digits, exp10);
}

/*
 * The same for a finite nonzero float (see numjson.h): std::to_chars(float)'s
 * digits, unless a reader that takes them as a double and rounds that to
 * float would get another float; then the shortest digits of the double.
 */
extern "C" int
mf_numjson_shortest_float(float v, char digits[17], int *exp10)
{
	char		buf[32];
	float		a = std::fabs(v);
	std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), a, std::chars_format::scientific);
	double		d = 0.0;

	std::from_chars(buf, r.ptr, d, std::chars_format::scientific);
	if (static_cast<float>(d) != a)
		return mf_numjson_shortest(static_cast<double>(a), digits, exp10);
	return MfNumSciDigits(buf, r.ptr, digits, exp10);
}
