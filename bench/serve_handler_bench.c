/*
 * serve_handler_bench.c - the serving handler alone, without sockets: the
 * CPU time of one request to mf_serve_handle() on a served model
 * directory, independent of the machine's load (thread CPU time, median
 * of rounds).  bench/serve.sh's HTTP figures include the daemon, the
 * kernel and wrk; this isolates the handler (body parsing, encoding,
 * scoring, the answer).
 *
 *   serve_handler_bench MODEL_BASE_PATH URL_PATH BODY_FILE [ITERATIONS] [--json-only]
 *
 * --json-only turns the numeric fast path off (MfServeOptions.no_fast_bodies),
 * so one build measures both paths; the answers of both are printed as a
 * sha-free byte count and compared (they must be equal).
 */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 7

/* Thread CPU seconds. */
static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The whole file, malloc'd. */
static char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		return NULL;
	buf = malloc((size_t) n + 1);
	if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n)
		return NULL;
	fclose(f);
	buf[n] = '\0';
	*len = (size_t) n;
	return buf;
}

/* One answer of a server with the given fast-path setting (malloc'd body). */
static MfServe *
server(const char *base, bool json_only)
{
	MfServeOptions opt = {0};
	char		err[512];
	MfServeCatalog *cat;
	MfServe    *s;

	opt.no_fast_bodies = json_only;
	opt.default_max_batch = 100000;
	s = mf_serve_new(&opt);
	cat = mf_serve_model_dir_load(base, NULL, NULL, NULL, err, sizeof(err));
	if (s == NULL || cat == NULL)
	{
		fprintf(stderr, "cannot load %s: %s\n", base, err);
		exit(1);
	}
	mf_serve_set_catalog(s, cat);
	return s;
}

/* Compare two doubles for qsort. */
static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	bool		json_only = argc > 5 && strcmp(argv[5], "--json-only") == 0;
	long		iters = argc > 4 ? atol(argv[4]) : 2000;
	MfServeRequest req = {0};
	MfServeResponse resp,
				other;
	MfServe    *s,
			   *ref;
	double		us[ROUNDS];
	size_t		len = 0;

	if (argc < 4 || iters <= 0)
	{
		fprintf(stderr, "usage: %s MODEL_BASE_PATH URL_PATH BODY_FILE [ITERATIONS] [--json-only]\n", argv[0]);
		return 2;
	}
	s = server(argv[1], json_only);
	ref = server(argv[1], !json_only);
	req.method = "POST";
	req.path = argv[2];
	req.body = read_file(argv[3], &len);
	req.body_len = len;
	if (req.body == NULL)
	{
		fprintf(stderr, "cannot read %s\n", argv[3]);
		return 1;
	}
	mf_serve_handle(s, &req, &resp);
	mf_serve_handle(ref, &req, &other);
	if (resp.body_len != other.body_len || resp.status != other.status ||
		memcmp(resp.body, other.body, resp.body_len) != 0)
	{
		fprintf(stderr, "the fast path and the JSON path answer differently:\n%.*s\n%.*s\n",
				(int) resp.body_len, resp.body, (int) other.body_len, other.body);
		return 1;
	}
	printf("status %d, %zu bytes in, %zu bytes out (same answer with the fast path %s)\n", resp.status,
		   len, resp.body_len, json_only ? "on" : "off");
	mf_serve_response_free(&resp);
	mf_serve_response_free(&other);
	for (int k = 0; k < ROUNDS; k++)
	{
		double		t0 = cpu_now();

		for (long i = 0; i < iters; i++)
		{
			mf_serve_handle(s, &req, &resp);
			mf_serve_response_free(&resp);
		}
		us[k] = (cpu_now() - t0) / (double) iters * 1e6;
	}
	qsort(us, ROUNDS, sizeof(double), cmp_double);
	printf("%s %s: %.2f us/request (median of %d rounds of %ld; min %.2f, max %.2f)\n",
		   json_only ? "json-only" : "fast", argv[3], us[ROUNDS / 2], ROUNDS, iters, us[0], us[ROUNDS - 1]);
	mf_serve_free(s);
	mf_serve_free(ref);
	return 0;
}
