/*
 * smoke.h - the smoke test of a running model server: send test rows over
 * the Open Inference Protocol v2 and compare every answer with the answer
 * of the in-process serving handler (serve/) on the same request from the
 * version's artifact, i.e. the database's answer bit for bit.
 *
 * Pure C11 on libcurl, jansson and the serving core: no PostgreSQL header.
 * The caller (src/smoke_job.c, a job worker) installs malloc/free as
 * jansson's allocator for the duration of mf_smoke_run(): the serving core
 * frees the texts jansson writes with free().
 *
 * Design note
 * -----------
 * One request per row, POST {endpoint}/v2/models/{name}/versions/{semver}/infer
 * with one tensor of shape [1] per raw feature (FP64 for numbers and
 * missing values, BYTES for strings, BOOL for booleans), so the version is
 * pinned by the URL and every row has its own latency.  The same request
 * (method, path, body bytes) goes to an MfServe holding only the version's
 * artifact; the row matches when both status codes are 200 and the parsed
 * "outputs" are equal (json_equal: names, datatypes, shapes, and every
 * number read by the same strtod, so the doubles are equal bit for bit,
 * since the server prints the shortest digits that read back as the same
 * double).  Before the rows, GET /v2/health/ready must answer 200.  A row
 * without an answer (connection refused, timeout) is a mismatch; after
 * MF_SMOKE_MAX_TRANSPORT_ERRORS such rows in a row the test stops, so a
 * dead endpoint fails in seconds, not rows x timeout.
 */
#ifndef MF_DEPLOY_SMOKE_H
#define MF_DEPLOY_SMOKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MF_SMOKE_MAX_TRANSPORT_ERRORS 3
#define MF_SMOKE_MAX_DETAILS		10	/* mismatching rows kept in details */
#define MF_SMOKE_MAX_RESPONSE		(4 * 1024 * 1024)

/* What to test. */
typedef struct MfSmokeSpec
{
	const char *endpoint;		/* base URL, http(s)://host:port, no trailing '/' */
	const char *name;			/* served model name in the URL */
	const char *version;		/* semver */
	int64_t		version_number; /* version_id */
	const void *artifact;		/* the bytes of mf.artifacts.bytes */
	size_t		artifact_len;
	const char *rows_json;		/* a JSON array of objects of named raw features */
	long		timeout_ms;		/* per request */
	bool		(*cancelled) (void *arg);	/* polled between rows; may be NULL */
	void		(*progress) (void *arg, int done, int total);	/* after each row; may be NULL */
	void	   *cancel_arg;		/* the argument of both */
} MfSmokeSpec;

/* What came out. */
typedef struct MfSmokeResult
{
	int			rows;			/* rows sent */
	int			mismatches;		/* rows answered otherwise, or not at all */
	double		p50_ms;			/* latency percentiles over answered rows; < 0: none */
	double		p99_ms;
	bool		passed;
	char	   *details;		/* JSON object text (malloc'd), or NULL */
	char		error[512];		/* why the test failed without comparing ("" otherwise) */
} MfSmokeResult;

/*
 * Run the smoke test.  False when it could not be run at all (bad
 * artifact or rows, out of memory, cancelled): error is set and nothing
 * was compared.  True otherwise, passed or not (an unreachable endpoint is
 * a failed test: error says why, every row a mismatch).
 */
extern bool mf_smoke_run(const MfSmokeSpec *spec, MfSmokeResult *res);

/* Free what a result holds. */
extern void mf_smoke_result_free(MfSmokeResult *res);

#endif							/* MF_DEPLOY_SMOKE_H */
