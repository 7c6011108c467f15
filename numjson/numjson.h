/*
 * numjson.h - numeric request bodies of the serving protocols read
 * straight into a matrix of doubles, without a JSON tree: a C interface
 * over simdjson's On-Demand API (Debian libsimdjson-dev, C++), kept
 * outside the pure-C folders as text/tokenizer.h is.
 *
 * Design note: a fast path, never a second judge.  A call either reads
 * the whole body as one of the forms below, every byte of it valid JSON
 * that jansson (json_loadb with JSON_REJECT_DUPLICATES, as the serving
 * core parses bodies) would accept with the same meaning, or it answers
 * false and the caller parses the body with jansson as before; so the
 * fast path never decides an error.  It declines anything outside the
 * narrow forms: escapes or control characters in keys and strings, keys
 * it does not know, duplicate keys, booleans, nulls and strings as values,
 * ragged rows, integers outside int64 (jansson refuses them), numbers that
 * overflow a double.  Numbers are jansson's doubles: an integer token is
 * (double) of its int64 (so -0 is +0.0, and integers above 2^53 round to
 * nearest even as strtoll then a cast does), any other token is checked
 * against JSON's number grammar here and read correctly rounded by
 * libstdc++'s std::from_chars, as glibc's strtod reads it (simdjson finds
 * the tokens; its own number parser is not used: this one is faster).
 *
 * Forms:
 *   TF  {"instances": [[v...], ...]}   rows of numbers (also under "inputs")
 *       {"instances": [{"<col>": v, ...}, ...]}   objects naming each
 *                                      column exactly once
 *       {"inputs": {"<col>": [v...], ...}}   columnar, every column
 *       plus an optional "signature_name": "serving_default" or "".
 *   OIP {"inputs": [{"name", "shape": [n, p], "datatype", "data"}]}
 *       one tensor, data flat or nested one level, an optional "id".
 * The values stay valid until the next call on the same thread (one
 * scratch area per thread, kept: the padded copy of the body, simdjson's
 * parser and the doubles, several times the largest body the thread has
 * read, so a steady load allocates nothing); no C++ exception crosses this
 * interface.
 */
#ifndef MF_NUMJSON_H
#define MF_NUMJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C"
{
#endif

#define MF_NUMJSON_NAME_LEN 128		/* OIP tensor name, bytes + NUL */
#define MF_NUMJSON_ID_LEN	256		/* OIP request id, bytes + NUL */

/* Which form a body had. */
typedef enum MfNumForm
{
	MF_NUM_NONE = 0,
	MF_NUM_TF_LISTS,			/* rows of m numbers */
	MF_NUM_TF_OBJECTS,			/* rows of the ncols named columns */
	MF_NUM_TF_COLUMNS,			/* columnar: every named column */
	MF_NUM_OIP_TENSOR			/* one tensor */
} MfNumForm;

/* A body read as numbers. */
typedef struct MfNumBody
{
	MfNumForm	form;
	bool		under_inputs;	/* TF: the rows came as "inputs" */
	size_t		n;				/* rows (OIP: the values of data) */
	size_t		m;				/* values per row (OIP: 1) */
	const double *x;			/* n * m, row-major; TF objects and columns
								 * in column order (the thread's scratch) */
	bool		all_integers;	/* every value was an integer token */
	/* OIP */
	char		name[MF_NUMJSON_NAME_LEN];
	char		datatype[8];
	int			ndim;
	int64_t		dims[2];
	bool		has_id;
	char		id[MF_NUMJSON_ID_LEN];
} MfNumBody;

/*
 * Read a TensorFlow Serving :predict body whose values are all numbers;
 * columns: the model's input names (objects and the columnar form).
 * False: not such a body (parse it with jansson).
 */
extern bool mf_numjson_tf(const char *body, size_t len, const char *const *columns, int ncols,
						  MfNumBody *out);

/* Read an Open Inference Protocol infer body of one numeric tensor; false as above. */
extern bool mf_numjson_oip(const char *body, size_t len, MfNumBody *out);

/*
 * The shortest decimal digits of a finite nonzero double (std::to_chars: the
 * fewest significant digits that read back as it, the nearest of them when
 * several are that short): writes n ASCII digits (no point, no sign; n <= 17,
 * the last one not 0) into digits, the decimal exponent of the first into
 * *exp10, and answers n.
 */
extern int	mf_numjson_shortest(double v, char digits[17], int *exp10);

/*
 * The same for a finite nonzero float: the fewest digits that read back as
 * that float (std::to_chars(float), n <= 9: what strtof and PostgreSQL's
 * float4in read back, the digits float4out prints), unless a reader that
 * parses them as a double and rounds that to float would get a neighbour
 * (a double rounding: 1 of the 2.1 billion positive floats, see
 * bench/RESULTS.md and bench/float_roundtrip.cc): then the shortest
 * digits of the float as a double (n <= 17), which both readers read back
 * as the float.  Embeddings are printed with them.
 */
extern int	mf_numjson_shortest_float(float v, char digits[17], int *exp10);

#ifdef __cplusplus
}
#endif

#endif							/* MF_NUMJSON_H */
