/*
 * tf_embed_artifact.c - an embedding model (task "embedding": the encoder
 * without its head) made from an encoder classifier's artifact, for the
 * tests of embeddings over HTTP (test/integration/serve_text.sh).
 *
 *   tf_embed_artifact < classifier.mfa > embedding.mfa
 *
 * mf_train writes encoders with a classifier head only, so the tests make
 * an embedding version this way: every tensor of the classifier but
 * classifier.weight and classifier.bias is copied by name into a model of
 * the same spec with num_classes 0, written with the model module's writer
 * (task embedding, no labels, the same columns, tokenizer and seed).  Its
 * pooled encoder output is the classifier's: mf_embed answers the same
 * floats for both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_transformer.h"

#define MAX_ARTIFACT (256u << 20)

/* Read all of stdin (at most MAX_ARTIFACT bytes); NULL when too large. */
static unsigned char *
read_all(size_t *len)
{
	size_t		cap = 1 << 20,
				n = 0,
				got;
	unsigned char *buf = malloc(cap);

	while (buf != NULL && (got = fread(buf + n, 1, cap - n, stdin)) > 0)
	{
		n += got;
		if (n == cap)
		{
			unsigned char *more = cap < MAX_ARTIFACT ? realloc(buf, cap * 2) : NULL;

			if (more == NULL)
			{
				free(buf);
				return NULL;
			}
			buf = more;
			cap *= 2;
		}
	}
	*len = n;
	return buf;
}

/* Copy every tensor of to from the tensor of the same name in from; false when one is missing. */
static bool
copy_tensors(MfTfModel *to, const MfTfModel *from)
{
	for (int i = 0; i < to->n_tensors; i++)
	{
		const MfTfNamedTensor *t = &to->tensors[i];
		const MfTfNamedTensor *f = mfk_tf_model_tensor(from, t->name);
		size_t		n = t->rows * (t->cols > 0 ? t->cols : 1);

		if (f == NULL || f->rows != t->rows || f->cols != t->cols)
		{
			fprintf(stderr, "tensor %s: not in the classifier\n", t->name);
			return false;
		}
		memcpy(to->params + t->offset, from->params + f->offset, n * sizeof(float));
	}
	return true;
}

int
main(void)
{
	MfArtAllocator heap = {mfk_malloc_allocator.alloc, mfk_malloc_allocator.free, NULL};
	size_t		len = 0,
				out_len = 0;
	unsigned char *in = read_all(&len);
	MfArtifactView view;
	MfTfArtifact a;
	MfTfModel	cls,
				emb;
	MfTfSpec	spec;
	void	   *out = NULL;
	char		err[320] = "";

	if (in == NULL || mf_artifact_open(in, len, &view, err, sizeof(err)) != MF_ART_OK ||
		mf_tf_artifact_read(&view, &heap, &a, err, sizeof(err)) != 0 ||
		mf_tf_model_from_artifact(&a, &cls, &mfk_malloc_allocator, err, sizeof(err)) != 0)
	{
		fprintf(stderr, "tf_embed_artifact: not a transformer artifact: %s\n", err);
		return 1;
	}
	if (a.task != MF_TF_TASK_CLASSIFICATION)
	{
		fprintf(stderr, "tf_embed_artifact: a %s model, not an encoder classifier\n", mf_tf_task_name(a.task));
		return 1;
	}
	spec = a.spec;
	spec.num_classes = 0;
	if (mfk_tf_model_init(&emb, &spec, a.seed, &mfk_malloc_allocator) != MF_KOK || !copy_tensors(&emb, &cls))
		return 1;
	a.spec = spec;
	a.task = MF_TF_TASK_EMBEDDING;
	a.n_labels = 0;
	a.labels = NULL;
	if (mf_tf_artifact_write(&emb, &a, &heap, &out, &out_len, err, sizeof(err)) != 0 ||
		fwrite(out, 1, out_len, stdout) != out_len || fflush(stdout) != 0)
	{
		fprintf(stderr, "tf_embed_artifact: %s\n", err[0] ? err : "write failed");
		return 1;
	}
	return 0;
}
