/*
 * artifact_cli.c - a tool of the integration tests (not a TAP test):
 *
 *   artifact_cli info IN          "version <v>" then "<name> <dtype> <n>" a tensor
 *   artifact_cli widen IN OUT     the same contents with every float32 tensor
 *                                 written as float64: the format-1 artifact
 *                                 mf_ext 0.5.0 stored for the same weights
 *
 * Both validate IN with mf_artifact_open first (exit 1 with its message).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact.h"

/* malloc as the writer's allocator. */
static void *
cli_alloc(void *ctx, size_t n)
{
	(void) ctx;
	return malloc(n ? n : 1);
}

/* Its free. */
static void
cli_free(void *ctx, void *p)
{
	(void) ctx;
	free(p);
}

static const MfArtAllocator heap = {cli_alloc, cli_free, NULL};

/* The bytes of a file in an 8-byte aligned buffer (exits on error). */
static void *
slurp(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	void	   *buf = NULL;
	long		n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
		(buf = aligned_alloc(8, ((size_t) n + 8) / 8 * 8)) == NULL ||
		fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		fprintf(stderr, "artifact_cli: cannot read %s\n", path);
		exit(2);
	}
	fclose(f);
	*len = (size_t) n;
	return buf;
}

/* Queue tensor t as float64 (widened when it is float32); the copy in *keep. */
static void
add_widened(MfArtifactWriter *w, const MfArtifactTensor *t, double **keep)
{
	*keep = NULL;
	if (t->dtype == MF_ARTIFACT_DTYPE_FLOAT64)
	{
		mf_artifact_writer_add(w, t->name, t->ndim, t->dims, t->data);
		return;
	}
	*keep = malloc((t->n_elems ? t->n_elems : 1) * sizeof(double));
	if (*keep == NULL)
		exit(2);
	for (uint64_t k = 0; k < t->n_elems; k++)
		(*keep)[k] = t->data_f32[k];
	mf_artifact_writer_add(w, t->name, t->ndim, t->dims, *keep);
}

/* Write the float64 form of an open artifact to path. */
static int
widen(const MfArtifactView *v, const char *path)
{
	MfArtifactWriter w;
	MfArtifactTensor t;
	double	   *keep[MF_ARTIFACT_MAX_TENSORS];
	void	   *out = NULL;
	size_t		len = 0;
	FILE	   *f;
	int			rc = 0;

	mf_artifact_writer_begin(&w, v->family, &heap);
	for (uint32_t i = 0; i < v->n_tensors; i++)
	{
		mf_artifact_tensor_at(v, i, &t);
		add_widened(&w, &t, &keep[i]);
	}
	mf_artifact_writer_set_meta(&w, v->meta, v->meta_len);
	if (mf_artifact_writer_finish(&w, &out, &len) != MF_ART_OK)
	{
		fprintf(stderr, "artifact_cli: %s\n", w.errmsg);
		rc = 1;
	}
	else if ((f = fopen(path, "wb")) == NULL || fwrite(out, 1, len, f) != len || fclose(f) != 0)
	{
		fprintf(stderr, "artifact_cli: cannot write %s\n", path);
		rc = 2;
	}
	for (uint32_t i = 0; i < v->n_tensors; i++)
		free(keep[i]);
	free(out);
	return rc;
}

int
main(int argc, char **argv)
{
	size_t		len;
	void	   *buf;
	MfArtifactView v;
	MfArtifactTensor t;
	char		err[256];
	int			rc = 0;

	if (argc < 3 || (strcmp(argv[1], "info") != 0 && strcmp(argv[1], "widen") != 0) ||
		(strcmp(argv[1], "widen") == 0 && argc < 4))
	{
		fprintf(stderr, "usage: artifact_cli info IN | artifact_cli widen IN OUT\n");
		return 2;
	}
	buf = slurp(argv[2], &len);
	if (mf_artifact_open(buf, len, &v, err, sizeof(err)) != MF_ART_OK)
	{
		fprintf(stderr, "artifact_cli: %s: %s\n", argv[2], err);
		free(buf);
		return 1;
	}
	if (strcmp(argv[1], "widen") == 0)
		rc = widen(&v, argv[3]);
	else
	{
		printf("version %u\n", v.version);
		for (uint32_t i = 0; i < v.n_tensors; i++)
		{
			mf_artifact_tensor_at(&v, i, &t);
			printf("%s %s %llu\n", t.name, mf_artifact_dtype_name(t.dtype), (unsigned long long) t.n_elems);
		}
	}
	free(buf);
	return rc;
}
