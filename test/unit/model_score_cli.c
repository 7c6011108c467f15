/*
 * model_score_cli.c - score rows through model/model.c alone, for the
 * differential test test/integration/model_module.sh.
 *
 *   model_score_cli ARTIFACT ROWS.json            scores, one line per row
 *   model_score_cli ARTIFACT ROWS.json --encoded  each row's encoded features
 *   model_score_cli ARTIFACT ROWS.json --batch    the rows scored as one batch
 *   model_score_cli ARTIFACT --describe           the description as JSON
 *
 * ARTIFACT is the artifact's bytes (as stored in mf.artifacts); ROWS.json
 * an array of objects of named raw values (row_to_json of the rows).  A
 * line is "value index label proba1,proba2,..." where value and the
 * probabilities are the hex of the doubles' bits (what float8send prints,
 * so the shell compares them with the server's as text), index -1 and
 * label "-" when the model has none; a refused row prints "error STATUS
 * column detail".  JSON values become raw values as mf_predict(ref, jsonb)
 * reads them (mf_trained_model_encode_json).  --encoded prints each row's
 * raw expanded features as a JSON array ("%.17g": they read back exactly),
 * the input of the array and argument forms; --batch scores those rows
 * with mf_trained_model_score_batch (mf_predict_batch's path) and prints
 * the hex of each value.
 */
#include "model.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The bits of a double as 16 hex digits (big-endian, as float8send). */
static void
print_bits(double v)
{
	uint64_t	u;

	memcpy(&u, &v, sizeof(u));
	printf("%016" PRIx64, u);
}

/* Read a whole file into an 8-byte aligned malloc'd buffer. */
static void *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	double	   *buf;
	long		n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
	{
		perror(path);
		exit(2);
	}
	buf = malloc((size_t) n + 8);
	if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		perror(path);
		exit(2);
	}
	fclose(f);
	*len = (size_t) n;
	return buf;
}

/* Score one JSON object and print its line. */
static void
score_row(const MfTrainedModel *m, MfModelWork *w, json_t *obj)
{
	MfModelError err;
	MfModelScore sc;
	MfModelStatus s = mf_trained_model_encode_json(m, obj, w->xraw, &err);

	if (s == MF_MODEL_OK)
		s = mf_trained_model_score(m, w->xraw, w, &sc, &err);
	if (s != MF_MODEL_OK)
	{
		printf("error %d %d %s\n", (int) s, err.column, err.detail);
		return;
	}
	print_bits(sc.value);
	printf(" %d %s ", sc.index, sc.label ? sc.label : "-");
	for (int k = 0; sc.proba && k < m->meta.n_labels; k++)
	{
		if (k)
			putchar(',');
		print_bits(sc.proba[k]);
	}
	if (!sc.proba)
		putchar('-');
	putchar('\n');
}

/* Print the encoded features of one JSON object (exact decimal text). */
static void
encode_row(const MfTrainedModel *m, MfModelWork *w, json_t *obj)
{
	MfModelError err;

	if (mf_trained_model_encode_json(m, obj, w->xraw, &err) != MF_MODEL_OK)
	{
		printf("error %d %d %s\n", (int) err.status, err.column, err.detail);
		return;
	}
	for (size_t j = 0; j < m->meta.p; j++)
		printf("%s%.17g", j ? "," : "[", w->xraw[j]);
	printf("]\n");
}

/* Encode every row, score them as one batch and print the values' bits. */
static int
score_batch(const MfTrainedModel *m, MfModelWork *w, json_t *rows)
{
	MfEnv		env = {0};
	MfModelError err;
	size_t		n = json_array_size(rows),
				p = m->meta.p;
	double	   *X = calloc(n * p + 1, sizeof(double));
	double	   *v = calloc(n + 1, sizeof(double));

	env.alloc = mfk_malloc_allocator;
	for (size_t i = 0; i < n; i++)
	{
		if (mf_trained_model_encode_json(m, json_array_get(rows, i), w->xraw, &err) != MF_MODEL_OK)
			return 1;
		memcpy(X + i * p, w->xraw, sizeof(double) * p);
	}
	if (mf_trained_model_score_batch(m, &env, X, n, v, NULL, &err) != MF_MODEL_OK)
	{
		fprintf(stderr, "batch refused: %s\n", err.detail);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
	{
		print_bits(v[i]);
		putchar('\n');
	}
	free(X);
	free(v);
	return 0;
}

/* Score the rows of a JSON file, or describe the model. */
int
main(int argc, char **argv)
{
	MfArtAllocator heap = {mfk_malloc_allocator.alloc, mfk_malloc_allocator.free, NULL};
	MfTrainedModel m;
	MfModelWork w;
	MfModelError err;
	size_t		len;
	void	   *bytes;
	json_t	   *rows;
	json_error_t jerr;
	size_t		i;
	json_t	   *row;
	const char *mode = argc == 4 ? argv[3] : "";
	int			rc = 0;

	if ((argc != 3 && argc != 4) ||
		(argc == 4 && strcmp(mode, "--encoded") != 0 && strcmp(mode, "--batch") != 0))
	{
		fprintf(stderr, "usage: %s ARTIFACT ROWS.json [--encoded | --batch] | --describe\n", argv[0]);
		return 2;
	}
	bytes = read_file(argv[1], &len);
	if (mf_trained_model_open(&m, bytes, len, false, &heap, &err) != MF_MODEL_OK)
	{
		fprintf(stderr, "model refused: %s %s\n", err.member, err.detail);
		return 1;
	}
	if (strcmp(argv[2], "--describe") == 0)
	{
		json_t	   *d = mf_trained_model_describe_json(&m);

		json_dumpf(d, stdout, JSON_SORT_KEYS | JSON_COMPACT);
		putchar('\n');
		json_decref(d);
		return 0;
	}
	rows = json_load_file(argv[2], 0, &jerr);
	if (!json_is_array(rows))
	{
		fprintf(stderr, "%s: %s\n", argv[2], jerr.text);
		return 2;
	}
	if (mf_model_work_init(&m, &w, &heap) != MF_MODEL_OK)
		return 1;
	if (strcmp(mode, "--batch") == 0)
		rc = score_batch(&m, &w, rows);
	else
		json_array_foreach(rows, i, row)
		{
			if (strcmp(mode, "--encoded") == 0)
				encode_row(&m, &w, row);
			else
				score_row(&m, &w, row);
		}
	mf_model_work_free(&w, &heap);
	mf_trained_model_free(&m);
	json_decref(rows);
	free(bytes);
	return rc;
}
