/*
 * float_roundtrip.cc - every positive finite float32 printed with its
 * shortest digits (std::to_chars(float), what serve/json_out.c prints for
 * embeddings, and PostgreSQL's float4out) and read back two ways: as a
 * float (std::from_chars<float>, as strtof and float4in read) and as a
 * double rounded to float (what a client parsing JSON numbers as doubles
 * gets).  Prints the counts of floats read back wrong; exit 1 when any.
 * A one-off check behind mf_numjson_shortest_float's fallback (results in
 * bench/RESULTS.md); about 2 CPU-minutes:
 *
 *   g++ -O2 -std=c++17 -o /tmp/float_roundtrip bench/float_roundtrip.cc && /tmp/float_roundtrip
 */
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>

int
main()
{
	const uint32_t lo = 1,
				hi = 0x7F800000u;	/* the smallest denormal .. +inf (exclusive) */
	unsigned long long bad_f = 0,
				bad_d = 0,
				longest = 0;
	char		buf[64];

	for (uint32_t u = lo; u < hi; u++)
	{
		float		f,
					g,
					h;
		double		d;

		std::memcpy(&f, &u, sizeof(f));
		auto		r = std::to_chars(buf, buf + sizeof(buf), f);

		if ((unsigned long long) (r.ptr - buf) > longest)
			longest = (unsigned long long) (r.ptr - buf);
		std::from_chars(buf, r.ptr, g);
		std::from_chars(buf, r.ptr, d);
		h = (float) d;
		if (std::memcmp(&f, &g, sizeof(f)) != 0)
			bad_f++;
		if (std::memcmp(&f, &h, sizeof(f)) != 0)
		{
			if (bad_d < 5)
				std::fprintf(stderr, "read as a double, then float: %.*s\n", (int) (r.ptr - buf), buf);
			bad_d++;
		}
	}
	std::printf("floats %u, read as float wrong %llu, as double then float wrong %llu, longest text %llu\n",
				hi - lo, bad_f, bad_d, longest);
	return bad_f || bad_d;
}
