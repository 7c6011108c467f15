/*
 * train_transformer.c - training transformer text models (family
 * transformer) on the rows mf_train read.
 *
 * Design note
 * -----------
 * The source was read as for every family (source.c): text columns arrive
 * as strings, the labels of a classifier as classes (features.c).  Then:
 *   1. the rows are split into training and test rows as every family
 *      splits them (MfSplit: seeded, stratified for classifiers), and,
 *      with early_stopping, a validation_fraction of the training rows is
 *      held out (seeded by training.seed);
 *   2. the tokenizer (text/, SentencePiece) is trained on the training
 *      rows' texts only, with vocab_size from the config and the training
 *      seed: the same rows and seed give the same tokenizer bytes;
 *   3. every row becomes token ids by the layout of text_model.h;
 *   4. the model (kernels/transformer_model.c) is initialised from the
 *      seed and trained for `epochs` passes over shuffled batches with the
 *      training section's optimiser, learning rate, weight decay and
 *      schedule (steps: epochs * batches per epoch; step_size in epochs),
 *      after a linear warm-up over 5 % of the steps (at most 100);
 *      each step's progress callback runs CHECK_FOR_INTERRUPTS (cancel,
 *      timeout), and the job hook gets the step, the steps in all and the
 *      step's loss (mf.jobs.epoch / total_epochs count steps for these
 *      models);
 *   5. after each epoch the validation loss decides early stopping: the
 *      weights of the best epoch are kept, training stops after `patience`
 *      epochs without improvement;
 *   6. metrics on the test rows: loss (cross-entropy per token or row),
 *      accuracy for classifiers, perplexity for language models, token
 *      accuracy for encoder-decoders; the artifact is
 *      model/model_transformer.c's.
 * Everything lives in the run's memory context (kernels allocate with
 * palloc); the tokenizer's C++ objects are freed by a reset callback.
 */
#include "postgres.h"

#include "mf_core.h"

#include <limits.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "model_pg.h"
#include "text_model.h"
#include "train.h"
#include "vecmath.h"

/* A zeroed array of n elements of type t (huge allowed). */
#define MfZeroArray(t, n) ((t *) palloc_extended(sizeof(t) * Max((size_t) (n), 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO))

/* Token ids of every row (src for encoders, tgt for decoders). */
typedef struct MfTfRows
{
	int32	  **src;
	size_t	   *src_len;
	int32	  **tgt;			/* decoder inputs */
	int32	  **lab;			/* decoder labels (same length) */
	size_t	   *tgt_len;
	size_t		max_src;
	size_t		max_tgt;
} MfTfRows;

/* A training run's state. */
typedef struct MfTfRun
{
	const MfTrainArgs *args;
	MfDataset  *ds;
	MfTfSpec	spec;
	MfTfTask	task;
	int			text_col;		/* classification, language_model */
	int			src_col;		/* seq2seq */
	int			tgt_col;
	MfTokenizer *tok;
	unsigned char *tok_bytes;
	size_t		tok_len;
	int32		bos;
	int32		eos;
	MfTfRows	rows;
	MfTfModel	model;
	MfArena		arena;
	MfEnv		env;
	size_t		B;
	/* batch buffers, B x max */
	int32	   *bsrc;
	unsigned char *bsrc_pad;
	int32	   *btgt;
	unsigned char *btgt_pad;
	int32	   *blab;
} MfTfRun;

/* Index of the source column named name (or the only text column when NULL). */
static int
MfTfColumn(const MfDataset *ds, const char *name, const char *option)
{
	int			found = -1;

	for (int i = 0; i < ds->ncols; i++)
	{
		if (name != NULL ? strcmp(ds->cols[i].name, name) == 0 :
			ds->cols[i].kind == MF_COL_CATEGORICAL)
		{
			if (found >= 0 && name == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the training source has more than one text column"),
						 errdetail("Columns \"%s\" and \"%s\".", ds->cols[found].name, ds->cols[i].name),
						 errhint("Name the text in option \"%s\".", option)));
			found = i;
		}
	}
	if (found < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("the training source has no text column%s%s%s", name ? " \"" : "",
						name ? name : "", name ? "\"" : ""),
				 errhint("Name the text in option \"%s\".", option)));
	if (ds->cols[found].kind != MF_COL_CATEGORICAL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" is a %s, not text", ds->cols[found].name, ds->cols[found].type_name),
				 errhint("Option \"%s\" names the text a transformer reads.", option)));
	return found;
}

/* The text of row r of column c ("" for NULL). */
static inline const char *
MfTfText(const MfDataset *ds, int c, size_t r)
{
	const char *s = ds->cols[c].str[r];

	return s != NULL ? s : "";
}

/*
 * The test rows a version keeps (mf.test_rows): objects of the one column a
 * served text model reads (the text, or an encoder-decoder's source), as
 * the image verification and the smoke test send them; NULL texts skipped.
 */
static json_t *
MfTfTestRows(const MfTfRun *run, const size_t *test, size_t n_test)
{
	int			c = run->task == MF_TF_TASK_SEQ2SEQ ? run->src_col : run->text_col;
	json_t	   *rows = json_array();

	for (size_t i = 0; i < n_test && json_array_size(rows) < MF_TEST_ROWS_KEPT; i++)
		if (run->ds->cols[c].str[test[i]] != NULL)
			json_array_append_new(rows, json_pack("{s:s}", run->ds->cols[c].name, run->ds->cols[c].str[test[i]]));
	return rows;
}

/* Train the tokenizer on the texts of the training rows (both columns for seq2seq). */
static void
MfTfTrainTokenizer(MfTfRun *run, const size_t *idx, size_t n)
{
	const MfTrainArgs *a = run->args;
	int			ncol = run->task == MF_TF_TASK_SEQ2SEQ ? 2 : 1;
	const char **lines = palloc_extended(sizeof(char *) * Max(n * ncol, 1), MCXT_ALLOC_HUGE);
	size_t	   *lens = palloc_extended(sizeof(size_t) * Max(n * ncol, 1), MCXT_ALLOC_HUGE);
	size_t		k = 0;
	unsigned char *bytes;
	char		err[256];

	for (size_t i = 0; i < n; i++)
		for (int j = 0; j < ncol; j++)
		{
			lines[k] = MfTfText(run->ds, ncol == 2 ? (j ? run->tgt_col : run->src_col) : run->text_col, idx[i]);
			lens[k] = strlen(lines[k]);
			k++;
		}
	if (mf_tokenizer_train(lines, lens, k, (int) Min(run->spec.vocab_size, INT_MAX),
						   (MfTokenizerKind) a->cfg.tf.tokenizer, (uint64) a->cfg.tf.training.seed,
						   &bytes, &run->tok_len, err, sizeof(err)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the tokenizer cannot be trained on this text"),
				 errdetail("%s.", err),
				 errhint("Check $.vocab_size (at least 8) and option \"tokenizer\".")));
	run->tok_bytes = palloc(run->tok_len);
	memcpy(run->tok_bytes, bytes, run->tok_len);
	free(bytes);
	run->tok = MfTokenizerLoadPg(run->tok_bytes, run->tok_len, "the trained tokenizer");
	run->bos = mf_tokenizer_bos(run->tok);
	run->eos = mf_tokenizer_eos(run->tok);
}

/* Decoder ids of a text (text_model.h's layout). */
static void
MfTfDecoderIds(MfTfRun *run, const char *text, size_t r)
{
	MfTfRows   *rw = &run->rows;

	rw->tgt_len[r] = MfTextDecoderIds(run->tok, run->bos, run->eos, run->spec.max_length,
									  text, &rw->tgt[r], &rw->lab[r]);
	rw->max_tgt = Max(rw->max_tgt, rw->tgt_len[r]);
}

/* Token ids of every row, by the layout of text_model.h. */
static void
MfTfTokenizeRows(MfTfRun *run)
{
	MfTfRows   *rw = &run->rows;
	size_t		n = run->ds->n,
				L = run->spec.max_length;
	bool		enc = run->task != MF_TF_TASK_LANGUAGE_MODEL;

	rw->src = MfZeroArray(int32 *, n);
	rw->src_len = MfZeroArray(size_t, n);
	rw->tgt = MfZeroArray(int32 *, n);
	rw->lab = MfZeroArray(int32 *, n);
	rw->tgt_len = MfZeroArray(size_t, n);
	for (size_t r = 0; r < n; r++)
	{
		if (enc)
		{
			const char *t = MfTfText(run->ds, run->task == MF_TF_TASK_SEQ2SEQ ? run->src_col : run->text_col, r);

			rw->src[r] = MfTextIds(run->tok, t, strlen(t), L, &rw->src_len[r]);
			if (rw->src_len[r] == 0)
				rw->src[r][rw->src_len[r]++] = run->eos;
			rw->max_src = Max(rw->max_src, rw->src_len[r]);
		}
		if (run->task != MF_TF_TASK_CLASSIFICATION)
			MfTfDecoderIds(run, MfTfText(run->ds, run->task == MF_TF_TASK_SEQ2SEQ ? run->tgt_col : run->text_col, r), r);
		if ((r & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
}

/* A padded batch of rows idx[0..nb) into in. */
static void
MfTfFillBatch(MfTfRun *run, const size_t *idx, size_t nb, MfTfInput *in)
{
	MfTfRows   *rw = &run->rows;
	size_t		S = 0,
				T = 0;

	for (size_t b = 0; b < nb; b++)
	{
		S = Max(S, rw->src_len[idx[b]]);
		T = Max(T, rw->tgt_len[idx[b]]);
	}
	memset(in, 0, sizeof(*in));
	in->B = nb;
	for (size_t b = 0; b < nb; b++)
	{
		size_t		r = idx[b];

		for (size_t t = 0; t < S; t++)
		{
			run->bsrc[b * S + t] = t < rw->src_len[r] ? rw->src[r][t] : 0;
			run->bsrc_pad[b * S + t] = t >= rw->src_len[r];
		}
		for (size_t t = 0; t < T; t++)
		{
			run->btgt[b * T + t] = t < rw->tgt_len[r] ? rw->tgt[r][t] : 0;
			run->btgt_pad[b * T + t] = t >= rw->tgt_len[r];
			run->blab[b * T + t] = t < rw->tgt_len[r] ? rw->lab[r][t] : -1;
		}
		if (run->task == MF_TF_TASK_CLASSIFICATION)
			run->blab[b] = run->ds->y_class[r];
	}
	if (S > 0)
		*in = (MfTfInput) {.B = nb, .S = S, .src = run->bsrc, .src_pad = run->bsrc_pad};
	in->B = nb;
	if (T > 0)
	{
		in->T = T;
		in->tgt = run->btgt;
		in->tgt_pad = run->btgt_pad;
	}
	in->labels = run->blab;
}

/* Label tokens (rows for a classifier) of rows idx[0..nb). */
static size_t
MfTfCount(const MfTfRun *run, const size_t *idx, size_t nb)
{
	size_t		c = 0;

	if (run->task == MF_TF_TASK_CLASSIFICATION)
		return nb;
	for (size_t b = 0; b < nb; b++)
		c += run->rows.tgt_len[idx[b]];
	return c;
}

/* Evaluation of rows idx[0..n): mean loss per label token, accuracy (argmax). */
static double
MfTfEvaluate(MfTfRun *run, const size_t *idx, size_t n, double *accuracy)
{
	double		loss = 0.0;
	size_t		count = 0,
				right = 0;

	for (size_t i = 0; i < n; i += run->B)
	{
		size_t		nb = Min(run->B, n - i),
					c = MfTfCount(run, idx + i, nb);
		MfTfInput	in;
		MfTfFwd		f;
		int			rc;

		MfTfFillBatch(run, idx + i, nb, &in);
		mfk_arena_release(&run->arena, 0);
		rc = mfk_tf_model_forward(&run->env, &run->model, &in, NULL, &run->arena, &f);
		if (rc != MF_KOK)
			MfKernelError(rc, "evaluating the transformer");
		loss += f.loss * (double) c;
		count += c;
		for (size_t row = 0; row < f.rows; row++)
			if (in.labels[row] >= 0)
				right += (int32) mfk_vec_argmax(f.logits + row * f.k, f.k, NULL) == in.labels[row];
	}
	*accuracy = count > 0 ? (double) right / (double) count : get_float8_nan();
	return count > 0 ? loss / (double) count : get_float8_nan();
}

/* Training options of the training section: steps per epoch known. */
static void
MfTfTrainOptions(const MfTrainingConfig *t, int64 steps_per_epoch, MfTfTrainOpts *o)
{
	mfk_tf_train_defaults(o);
	MfOptimFromTraining(&o->optim, t);
	o->lr.kind = (MfLrKind) MfLrScheduleKernelCode(t->lr_schedule);
	o->lr.base_lr = t->learning_rate;
	o->lr.step_size = t->lr_step_size * steps_per_epoch;
	o->lr.gamma = t->lr_gamma;
	o->lr.total_steps = t->epochs * steps_per_epoch;
	o->lr.min_lr = 0.0;
	/* transformers train better with a short linear warm-up (5 % of the steps, at most 100) */
	o->lr.warmup_steps = Min((int64) 100, o->lr.total_steps / 20);
}

/* Allocate the batch buffers and the arena for batches of B rows. */
static void
MfTfAllocBatches(MfTfRun *run)
{
	size_t		S = Max(run->rows.max_src, 1),
				T = Max(run->rows.max_tgt, 1),
				B = run->B,
				bytes;
	int			rc;

	run->bsrc = MfZeroArray(int32, B * S);
	run->bsrc_pad = MfZeroArray(unsigned char, B * S);
	run->btgt = MfZeroArray(int32, B * T);
	run->btgt_pad = MfZeroArray(unsigned char, B * T);
	run->blab = MfZeroArray(int32, Max(B * T, B));
	bytes = mfk_tf_model_step_bytes(&run->model, B, run->rows.max_src, run->rows.max_tgt, 1);
	if (bytes == SIZE_MAX)
		MfKernelError(MF_KERR_BADARG, "sizing the training step");
	rc = mfk_arena_init(&run->arena, &run->env.alloc, bytes);
	if (rc != MF_KOK)
		MfKernelError(rc, "allocating the training step");
}

/*
 * The training loop: epochs over shuffled batches of fit[0..n_fit), early
 * stopping on val[0..n_val); the history of epochs as JSON.
 */
static json_t *
MfTfFit(MfTfRun *run, size_t *fit, size_t n_fit, const size_t *val, size_t n_val)
{
	const MfTrainingConfig *t = &run->args->cfg.tf.training;
	int64		per_epoch = (int64) ((n_fit + run->B - 1) / run->B),
				total = t->epochs * per_epoch,
				step = 0,
				bad = 0;
	double		best = INFINITY;
	float	   *best_params = NULL;
	json_t	   *history = json_array();
	MfTfTrainOpts o;
	MfRng		order,
				drop;
	int			rc;

	MfTfTrainOptions(t, per_epoch, &o);
	rc = mfk_tf_train_begin(&run->model, &o);
	if (rc != MF_KOK)
		MfKernelError(rc, "starting the optimiser");
	mfk_rng_seed(&order, (uint64) t->seed + 1);
	mfk_rng_seed(&drop, (uint64) t->seed + 2);
	for (int64 epoch = 1; epoch <= t->epochs; epoch++)
	{
		double		sum = 0.0,
					vloss = get_float8_nan(),
					vacc;
		json_t	   *h;

		mfk_rng_permutation(&order, fit, n_fit);
		for (size_t i = 0; i < n_fit; i += run->B)
		{
			MfTfInput	in;
			MfTfStepInfo info;

			MfTfFillBatch(run, fit + i, Min(run->B, n_fit - i), &in);
			rc = mfk_tf_train_step(&run->env, &run->model, &o, &in, &drop, &run->arena, &info);
			if (rc != MF_KOK)
				MfKernelError(rc, "training the transformer");
			sum += info.loss;
			step++;
			CHECK_FOR_INTERRUPTS();
			if (MfTrainProgressHook != NULL)
				MfTrainProgressHook(MF_PHASE_TRAINING, step, total, info.loss, (double) step / (double) total);
		}
		h = json_pack("{s:I,s:f}", "epoch", (json_int_t) epoch, "loss", sum / (double) per_epoch);
		if (n_val > 0)
		{
			vloss = MfTfEvaluate(run, val, n_val, &vacc);
			json_object_set_new(h, "val_loss", json_real(vloss));
		}
		json_array_append_new(history, h);
		if (n_val == 0 || !t->early_stopping)
			continue;
		if (vloss < best)
		{
			best = vloss;
			bad = 0;
			if (best_params == NULL)
				best_params = palloc_extended(run->model.n_floats * sizeof(float), MCXT_ALLOC_HUGE);
			memcpy(best_params, run->model.params, run->model.n_floats * sizeof(float));
		}
		else if (++bad > t->patience)
			break;
	}
	if (best_params != NULL)
		memcpy(run->model.params, best_params, run->model.n_floats * sizeof(float));
	return history;
}

/* Hold out a validation_fraction of the training rows (seeded), at least one of each side. */
static void
MfTfHoldOut(const MfTrainingConfig *t, size_t *train, size_t n_train, size_t *n_fit, size_t *n_val)
{
	MfRng		r;

	*n_fit = n_train;
	*n_val = 0;
	if (!t->early_stopping || n_train < 4)
		return;
	mfk_rng_seed(&r, (uint64) t->seed + 3);
	mfk_rng_permutation(&r, train, n_train);
	*n_val = Max((size_t) 1, (size_t) floor(t->validation_fraction * (double) n_train));
	*n_fit = n_train - *n_val;
}

/* The columns of the run and its task. */
static void
MfTfColumns(MfTfRun *run)
{
	const MfTrainArgs *a = run->args;

	run->spec = a->cfg.tf.spec;
	run->task = run->spec.kind == MF_TF_KIND_DECODER ? MF_TF_TASK_LANGUAGE_MODEL :
		run->spec.kind == MF_TF_KIND_ENCODER_DECODER ? MF_TF_TASK_SEQ2SEQ : MF_TF_TASK_CLASSIFICATION;
	run->text_col = run->src_col = run->tgt_col = -1;
	if (run->task == MF_TF_TASK_SEQ2SEQ)
	{
		run->src_col = MfTfColumn(run->ds, a->cfg.tf.source_column, "source_column");
		run->tgt_col = MfTfColumn(run->ds, a->cfg.tf.target_column, "target_column");
	}
	else
		run->text_col = MfTfColumn(run->ds, a->cfg.tf.text_column, "text_column");
	if (run->task == MF_TF_TASK_CLASSIFICATION)
		run->spec.num_classes = (size_t) run->ds->n_labels;
}

/* The artifact of the trained model, as a bytea. */
static bytea *
MfTfArtifactBytes(MfTfRun *run)
{
	MfArtAllocator alloc = {MfArtAlloc, MfArtFree, NULL};
	MfTfArtifact art;
	void	   *buf;
	size_t		len;
	char		err[256];
	bytea	   *out;

	memset(&art, 0, sizeof(art));
	art.spec = run->spec;
	art.task = run->task;
	art.seed = (uint64) run->args->cfg.tf.training.seed;
	art.n_labels = run->task == MF_TF_TASK_CLASSIFICATION ? run->ds->n_labels : 0;
	art.labels = run->ds->labels;
	art.text_column = run->text_col >= 0 ? run->ds->cols[run->text_col].name : NULL;
	art.source_column = run->src_col >= 0 ? run->ds->cols[run->src_col].name : NULL;
	art.target_column = run->tgt_col >= 0 ? run->ds->cols[run->tgt_col].name : NULL;
	snprintf(art.tokenizer_kind, sizeof(art.tokenizer_kind), "%s",
			 run->args->cfg.tf.tokenizer == MF_TOKENIZER_BPE ? "bpe" :
			 run->args->cfg.tf.tokenizer == MF_TOKENIZER_CHAR ? "char" : "unigram");
	art.tokenizer_size = mf_tokenizer_size(run->tok);
	art.tokenizer = run->tok_bytes;
	art.tokenizer_len = run->tok_len;
	if (mf_tf_artifact_write(&run->model, &art, &alloc, &buf, &len, err, sizeof(err)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("the transformer artifact cannot be written"),
				 errdetail("%s", err)));
	out = palloc_extended(len + VARHDRSZ, MCXT_ALLOC_HUGE);
	SET_VARSIZE(out, len + VARHDRSZ);
	memcpy(VARDATA(out), buf, len);
	return out;
}

/* The feature schema of a text model: its columns (kind "text") and labels. */
static json_t *
MfTfSchema(const MfTfRun *run)
{
	json_t	   *cols = json_array();
	json_t	   *labels = json_array();
	int			c[2] = {run->task == MF_TF_TASK_SEQ2SEQ ? run->src_col : run->text_col, run->tgt_col};

	for (int i = 0; i < 2; i++)
		if (c[i] >= 0)
			json_array_append_new(cols, json_pack("{s:s,s:s,s:s}", "name", run->ds->cols[c[i]].name,
												  "kind", "text", "type", run->ds->cols[c[i]].type_name));
	for (int i = 0; run->task == MF_TF_TASK_CLASSIFICATION && i < run->ds->n_labels; i++)
		json_array_append_new(labels, json_string(run->ds->labels[i]));
	return json_pack("{s:s,s:o,s:o,s:i}", "task", mf_tf_task_name(run->task), "columns", cols,
					 "labels", labels, "vocab_size", mf_tokenizer_size(run->tok));
}

/* Train a transformer on the rows read: metrics; the artifact, config updates and schema. */
json_t *
MfTrainTransformer(MfDataset *ds, const MfTrainArgs *args, bytea **artifact,
				   json_t **config_updates, json_t **schema)
{
	MfTfRun		run;
	size_t	   *train,
			   *test,
				n_train,
				n_test,
				n_fit,
				n_val;
	double		loss,
				acc;
	json_t	   *metrics,
			   *history;
	int			rc;

	memset(&run, 0, sizeof(run));
	run.args = args;
	run.ds = ds;
	run.env = MfMakeEnv();
	/* inside a step the kernels only honour cancels; the job hears of whole steps (MfTfFit) */
	run.env.progress = MfKernelEnv().progress;
	MfTfColumns(&run);
	MfSplit(ds, args->split.test_size, args->split.seed, args->split.stratify == 1,
			&train, &n_train, &test, &n_test);
	if (n_train == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no training rows are left after the split"),
				 errhint("Lower option \"test_size\" or add rows.")));
	/* test rows as every family keeps them: images and smoke tests send them */
	ds->test_rows = MfTfTestRows(&run, test, n_test);
	MfTfTrainTokenizer(&run, train, n_train);
	MfTfTokenizeRows(&run);
	MfPhaseEnd("tokenize");
	rc = mfk_tf_model_init(&run.model, &run.spec, (uint64) args->cfg.tf.training.seed, &run.env.alloc);
	if (rc != MF_KOK)
		MfKernelError(rc, "building the transformer");
	run.B = (size_t) Max(args->cfg.tf.training.batch_size, 1);
	MfTfAllocBatches(&run);
	MfTfHoldOut(&args->cfg.tf.training, train, n_train, &n_fit, &n_val);
	history = MfTfFit(&run, train, n_fit, train + n_fit, n_val);
	MfPhaseEnd("fit");
	MfTrainPhase(MF_PHASE_EVALUATING);
	metrics = json_pack("{s:s,s:o,s:I,s:I,s:I,s:i}", "task", mf_tf_task_name(run.task), "history", history,
						"n_train", (json_int_t) n_fit, "n_validation", (json_int_t) n_val,
						"n_test", (json_int_t) n_test, "vocab_size", mf_tokenizer_size(run.tok));
	if (n_test > 0)
	{
		loss = MfTfEvaluate(&run, test, n_test, &acc);
		json_object_set_new(metrics, "loss", json_real(loss));
		if (run.task == MF_TF_TASK_CLASSIFICATION)
			json_object_set_new(metrics, "accuracy", json_real(acc));
		else if (run.task == MF_TF_TASK_LANGUAGE_MODEL)
			json_object_set_new(metrics, "perplexity", json_real(exp(loss)));
		else
			json_object_set_new(metrics, "token_accuracy", json_real(acc));
	}
	*artifact = MfTfArtifactBytes(&run);
	*config_updates = json_pack("{}");
	if (run.task == MF_TF_TASK_CLASSIFICATION && run.spec.num_classes != args->cfg.tf.spec.num_classes)
		json_object_set_new(*config_updates, "num_classes", json_integer((json_int_t) run.spec.num_classes));
	*schema = MfTfSchema(&run);
	return metrics;
}
