/*
 * serve_fixtures.h - models for the serving core's tests, fitted by the
 * kernels inside the test (no committed binaries).
 *
 * A small data set with three input columns: x (numeric, impute 0.5), flag
 * (boolean, impute 0) and colour (categorical over blue, green, red;
 * NULL imputes "red"); p = 5 standardised features.  Four models are
 * fitted on it and written as mf_train writes them (metadata JSON plus
 * tensors, through the real artifact writer): a linear regression, a
 * binary logistic regression with labels "no"/"yes", an MLP classifier
 * and a k-means with k = 3.  sf_bytes() hands out an artifact's bytes.
 */
#ifndef MF_SERVE_FIXTURES_H
#define MF_SERVE_FIXTURES_H

#include "artifact.h"
#include "mf_kernels.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SF_N	40
#define SF_P	5

enum
{
	SF_LINEAR = 0, SF_LOGISTIC, SF_MLP, SF_KMEANS, SF_NMODELS
};

/* One fitted model's artifact. */
typedef struct SfModel
{
	void	   *bytes;
	size_t		len;
} SfModel;

static SfModel sf_models[SF_NMODELS];
static double sf_Z[SF_N * SF_P];
static double sf_means[SF_P],
			sf_stds[SF_P];
static double sf_y[SF_N];
static int	sf_cls[SF_N];

/* The raw rows, encoded and standardised, and the targets. */
static void
sf_data(void)
{
	double		X[SF_N * SF_P];

	for (int i = 0; i < SF_N; i++)
	{
		double		x = (i % 9) / 4.0 - 1.0;
		int			flag = i % 3 == 0;
		int			colour = (i / 2) % 3;

		X[i * SF_P + 0] = x;
		X[i * SF_P + 1] = flag;
		for (int k = 0; k < 3; k++)
			X[i * SF_P + 2 + k] = colour == k;
		sf_y[i] = 2.0 * x - 0.5 * flag + 0.25 * colour;
		sf_cls[i] = x + 0.4 * (colour == 1) - 0.3 * flag > 0.0;
	}
	for (int j = 0; j < SF_P; j++)
	{
		double		s = 0.0,
					ss = 0.0;

		for (int i = 0; i < SF_N; i++)
			s += X[i * SF_P + j];
		sf_means[j] = s / SF_N;
		for (int i = 0; i < SF_N; i++)
			ss += (X[i * SF_P + j] - sf_means[j]) * (X[i * SF_P + j] - sf_means[j]);
		sf_stds[j] = sqrt(ss / SF_N);
	}
	for (int i = 0; i < SF_N * SF_P; i++)
		sf_Z[i] = (X[i] - sf_means[i % SF_P]) / sf_stds[i % SF_P];
}

/* A JSON array of n doubles. */
static json_t *
sf_doubles(const double *v, int n)
{
	json_t	   *a = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	return a;
}

/* The metadata text of a model, as mf_train writes it (caller frees). */
static char *
sf_meta(const char *family, const char *task, bool labels, json_t *model)
{
	json_t	   *o = json_pack("{s:[{s:s,s:s,s:s,s:s,s:f},{s:s,s:s,s:s,s:s,s:f},"
							  "{s:s,s:s,s:s,s:s,s:[s,s,s],s:s}],"
							  "s:[s,s,s,s,s],s:i,s:b,s:s,s:s,s:s,s:o,s:o,s:o}",
							  "columns",
							  "name", "x", "type", "double precision", "encoding", "value", "kind", "numeric", "impute", 0.5,
							  "name", "flag", "type", "boolean", "encoding", "value", "kind", "boolean", "impute", 0.0,
							  "name", "colour", "type", "text", "encoding", "one_hot", "kind", "categorical",
							  "categories", "blue", "green", "red", "impute", "red",
							  "features", "x", "flag", "colour=blue", "colour=green", "colour=red",
							  "n_features", SF_P, "standardize", 1, "task", task, "target", "y",
							  "family", family, "model", model,
							  "means", sf_doubles(sf_means, SF_P), "stds", sf_doubles(sf_stds, SF_P));
	char	   *text;

	if (labels)
	{
		json_object_set_new(o, "labels", json_pack("[s,s]", "no", "yes"));
		json_object_set_new(o, "target_type", json_string("text"));
	}
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

/* Write an artifact of up to two tensors. */
static void
sf_write(SfModel *m, uint32_t family, const char *meta, const char *n0, uint32_t nd0,
		 const uint64_t *d0, const double *t0, const char *n1, uint32_t nd1, const uint64_t *d1,
		 const double *t1)
{
	MfArtAllocator heap = {mfk_malloc_allocator.alloc, mfk_malloc_allocator.free, NULL};
	MfArtifactWriter w;

	mf_artifact_writer_begin(&w, family, &heap);
	mf_artifact_writer_add(&w, n0, nd0, d0, t0);
	if (n1 != NULL)
		mf_artifact_writer_add(&w, n1, nd1, d1, t1);
	mf_artifact_writer_set_meta(&w, meta, strlen(meta));
	if (mf_artifact_writer_finish(&w, &m->bytes, &m->len) != MF_ART_OK)
		m->bytes = NULL;
}

/* Fit the four models; false when a fit or a writer failed. */
static bool
sf_fit(void)
{
	MfEnv		env = {0};
	MfLinregOpts lo;
	MfLogregOpts go;
	MfKmeansOpts ko;
	MfMlpShape	cfg = {0};
	MfMlpTrainOpts mo;
	MfMlp		net;
	MfRng		rng;
	static double coef[SF_P],
				b[1],
				lcoef[SF_P],
				lb[1],
				centers[3 * SF_P];
	uint64_t	dp[1] = {SF_P},
				d1[1] = {1},
				dc[2] = {3, SF_P},
				dn[1];
	char	   *meta;
	bool		ok = true;

	env.alloc = mfk_malloc_allocator;
	sf_data();
	mfk_linreg_defaults(&lo);
	ok = ok && mfk_linreg_fit(&env, sf_Z, sf_y, SF_N, SF_P, &lo, coef, b, NULL) == MF_KOK;
	meta = sf_meta("linear_regression", "regression", false, json_pack("{}"));
	sf_write(&sf_models[SF_LINEAR], MF_ART_FAMILY_LINEAR_REGRESSION, meta, "coef", 1, dp, coef,
			 "intercept", 1, d1, b);
	free(meta);
	mfk_logreg_defaults(&go);
	ok = ok && mfk_logreg_fit(&env, sf_Z, sf_cls, SF_N, SF_P, 2, &go, lcoef, lb, NULL, NULL) == MF_KOK;
	meta = sf_meta("logistic_regression", "classification", true, json_pack("{s:b}", "multinomial", 0));
	sf_write(&sf_models[SF_LOGISTIC], MF_ART_FAMILY_LOGISTIC_REGRESSION, meta, "coef", 1, dp, lcoef,
			 "intercept", 1, d1, lb);
	free(meta);
	cfg.n_inputs = SF_P;
	cfg.n_outputs = 2;
	cfg.task = MF_TASK_CLASSIFICATION;
	cfg.n_hidden = 1;
	cfg.hidden[0] = 4;
	cfg.activation = MF_ACT_TANH;
	mfk_mlp_layout(&net, &cfg);
	net.params = calloc(net.n_params, sizeof(double));
	mfk_rng_seed(&rng, 5);
	mfk_mlp_init_params(&net, &rng);
	mfk_mlp_train_defaults(&mo);
	mo.epochs = 20;
	mo.seed = 2;
	mo.init_params = 0;
	ok = ok && mfk_mlp_train(&env, &net, sf_Z, SF_N, sf_cls, NULL, &mo, NULL, NULL) == MF_KOK;
	meta = sf_meta("mlp", "classification", true, json_pack("{s:[i],s:s}", "hidden_layers", 4, "activation", "tanh"));
	dn[0] = net.n_params;
	sf_write(&sf_models[SF_MLP], MF_ART_FAMILY_MLP, meta, "params", 1, dn, net.params, NULL, 0, NULL, NULL);
	free(meta);
	free(net.params);
	mfk_kmeans_defaults(&ko);
	ko.k = 3;
	ko.n_init = 2;
	ok = ok && mfk_kmeans_fit(&env, sf_Z, SF_N, SF_P, &ko, centers, NULL, NULL, NULL) == MF_KOK;
	meta = sf_meta("kmeans", "clustering", false, json_pack("{s:i}", "k", 3));
	sf_write(&sf_models[SF_KMEANS], MF_ART_FAMILY_KMEANS, meta, "centers", 2, dc, centers, NULL, 0, NULL, NULL);
	free(meta);
	for (int i = 0; i < SF_NMODELS; i++)
		ok = ok && sf_models[i].bytes != NULL;
	return ok;
}

#endif							/* MF_SERVE_FIXTURES_H */
