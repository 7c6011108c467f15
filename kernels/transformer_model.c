/*
 * transformer_model.c - whole models from an MfTfSpec: the parameter
 * layout and its names, initialisation, one step's activation layout,
 * forward (with loss) and backward.
 *
 * Design note: like transformer_layer.c, one walk owns the parameter
 * layout (MfTfWalkModel): it binds pointers (parameters or gradients),
 * names the tensors (the layers' own names under the model's prefixes) and
 * counts floats, so the size, the pointers and the names cannot disagree.
 * One carve owns a step's activations (MfTfCarveFwd) and one the backward
 * buffers (MfTfCarveBwd); mfk_tf_model_step_bytes runs them on a counting
 * arena plus the largest layer scratch, so it is exactly a step's peak.
 * Backward runs the forward in reverse with two ping-pong gradient buffers
 * per stack; the decoder's cross-attention gradients add into dmem, which
 * then enters the encoder stack at its output.  See transformer_model.h.
 */
#include "transformer_model.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* 1 when the model has an encoder / a decoder stack. */
#define MfHasEnc(m) ((m)->spec.kind != MF_TF_KIND_DECODER)
#define MfHasDec(m) ((m)->spec.kind != MF_TF_KIND_ENCODER)

/* Where the layout walk writes (NULL base / tab: count only). */
typedef struct MfTfWalk
{
	float	   *base;
	size_t		off;
	MfTfNamedTensor *tab;
	int			nt;
	size_t		trained;		/* trained floats so far */
} MfTfWalk;

/* Append one tensor: pointer, named table row, running offset. */
static float *
MfTfPut(MfTfWalk *w, const char *prefix, const char *name, size_t rows,
		size_t cols, int trained)
{
	float	   *p = w->base != NULL ? w->base + w->off : NULL;

	if (w->tab != NULL)
	{
		MfTfNamedTensor *t = &w->tab[w->nt];

		snprintf(t->name, sizeof(t->name), "%s%s", prefix, name);
		t->rows = rows;
		t->cols = cols;
		t->offset = w->off;
		t->trained = trained;
	}
	w->nt++;
	w->off += rows * (cols == 0 ? 1 : cols);
	w->trained += trained ? rows * (cols == 0 ? 1 : cols) : 0;
	return p;
}

/* One layer's block under "<prefix>layers.<i>." (its own names and order). */
static void
MfTfWalkLayer(MfTfWalk *w, const MfTfLayerDims *dims, const char *prefix,
			  size_t i, MfTfLayer *layer)
{
	MfTfTensor	tab[MF_TF_LAYER_TENSORS];
	MfTfLayer	dummy;
	size_t		np,
				total = mfk_tf_layer_size(dims, &np);
	int			nt = mfk_tf_layer_bind(dims, w->base != NULL ? w->base + w->off : NULL,
									   layer != NULL ? layer : &dummy, tab),
				k;
	char		lp[MF_TF_NAME_LEN];

	snprintf(lp, sizeof(lp), "%slayers.%zu.", prefix, i);
	for (k = 0; w->tab != NULL && k < nt; k++)
	{
		MfTfNamedTensor *t = &w->tab[w->nt + k];

		snprintf(t->name, sizeof(t->name), "%s%s", lp, tab[k].name);
		t->rows = tab[k].rows;
		t->cols = tab[k].cols;
		t->offset = w->off + tab[k].offset;
		t->trained = tab[k].offset < np;
	}
	w->nt += nt;
	w->off += total;
	w->trained += np;
}

/* A stack: embeddings, layers, final norm. */
static void
MfTfWalkStack(MfTfWalk *w, const MfTfModel *m, const MfTfLayerDims *dims,
			  size_t nl, const char *prefix, MfTfStack *st)
{
	size_t		d = dims->d_model,
				i;

	st->tok = MfTfPut(w, prefix, "token_emb.weight", m->spec.vocab_size, d, 1);
	st->pos = MfTfPut(w, prefix, "pos_emb.weight", m->spec.max_length, d, 1);
	for (i = 0; i < nl; i++)
		MfTfWalkLayer(w, dims, prefix, i, st->layers != NULL ? &st->layers[i] : NULL);
	st->norm.w = st->norm.b = NULL;
	if (dims->norm == MF_TF_LAYERNORM)
	{
		st->norm.w = MfTfPut(w, prefix, "norm.weight", d, 0, 1);
		st->norm.b = MfTfPut(w, prefix, "norm.bias", d, 0, 1);
	}
	else if (dims->norm == MF_TF_SCALENORM)
		st->norm.w = MfTfPut(w, prefix, "norm.g", 1, 0, 1);
}

/*
 * The whole model in state_dict order; returns the float count, *nt the
 * tensors and *trained the trained floats (either may be NULL).
 */
static size_t
MfTfWalkModel(const MfTfModel *m, float *base, MfTfNamedTensor *tab,
			  MfTfParts *p, int *nt, size_t *trained)
{
	MfTfWalk	w = {base, 0, tab, 0, 0};
	const MfTfSpec *s = &m->spec;

	if (MfHasEnc(m))
	{
		MfTfWalkStack(&w, m, &m->enc_dims, s->encoder.num_layers, "encoder.", &p->enc);
		if (s->num_classes > 0)
		{
			p->cls_w = MfTfPut(&w, "", "classifier.weight", s->num_classes, s->encoder.d_model, 1);
			p->cls_b = MfTfPut(&w, "", "classifier.bias", s->num_classes, 0, 1);
		}
	}
	if (MfHasDec(m))
	{
		MfTfWalkStack(&w, m, &m->dec_dims, s->decoder.num_layers, "decoder.", &p->dec);
		p->lm_w = s->tie_lm_head ? p->dec.tok
			: MfTfPut(&w, "", "lm_head.weight", s->vocab_size, s->decoder.d_model, 1);
		p->lm_b = MfTfPut(&w, "", "lm_head.bias", s->vocab_size, 0, 1);
	}
	if (nt != NULL)
		*nt = w.nt;
	if (trained != NULL)
		*trained = w.trained;
	return w.off;
}

/* Layer dims of a stack spec (decoder self-attention is always causal). */
static int
MfTfDimsOf(const MfTfStackSpec *s, int decoder, MfTfLayerDims *d)
{
	int			act = mfk_act_from_name(s->activation);

	memset(d, 0, sizeof(*d));
	if (!s->present || act < 0 || s->num_layers == 0 || s->num_layers > 4096)
		return MF_KERR_BADARG;
	d->d_model = s->d_model;
	d->n_heads = s->num_heads;
	d->d_ff = s->d_ff;
	d->act = (MfAct) act;
	d->norm = s->norm;
	d->eps = 1e-5f;
	d->dropout = (float) s->dropout;
	d->causal = decoder || s->attention == MF_TF_ATTN_CAUSAL_LINEAR;
	d->cross_attention = decoder && s->cross_attention;
	d->linear_attention = s->attention != MF_TF_ATTN_SOFTMAX;
	d->nb_features = d->linear_attention ? s->nb_features : 0;
	return mfk_tf_layer_size(d, NULL) > 0 ? MF_KOK : MF_KERR_BADARG;
}

/* Fill n floats from N(0, 1) / U(-a, a). */
static void
MfTfFillNormal(MfRng *r, float *w, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		w[i] = (float) mfk_rng_normal(r);
}

/* PyTorch's defaults for one stack. */
static void
MfTfInitStack(const MfTfModel *m, const MfTfLayerDims *dims, size_t nl,
			  MfTfStack *st, MfRng *r)
{
	size_t		d = dims->d_model,
				i;

	MfTfFillNormal(r, st->tok, m->spec.vocab_size * d);
	MfTfFillNormal(r, st->pos, m->spec.max_length * d);
	for (i = 0; i < nl; i++)
		mfk_tf_layer_init(dims, &st->layers[i], r);
	if (dims->norm == MF_TF_LAYERNORM)
		for (i = 0; i < d; i++)
			st->norm.w[i] = 1.0f, st->norm.b[i] = 0.0f;
	else if (dims->norm == MF_TF_SCALENORM)
		st->norm.w[0] = (float) sqrt((double) d);
}

/* Initialise every parameter from seed. */
static void
MfTfInitParams(MfTfModel *m)
{
	MfRng		r;
	const MfTfSpec *s = &m->spec;

	mfk_rng_seed(&r, m->seed);
	if (MfHasEnc(m))
	{
		double		a = 1.0 / sqrt((double) s->encoder.d_model);

		MfTfInitStack(m, &m->enc_dims, s->encoder.num_layers, &m->p.enc, &r);
		if (s->num_classes > 0)
		{
			mfk_tf_fill_uniform(&r, m->p.cls_w, s->num_classes * s->encoder.d_model, a);
			mfk_tf_fill_uniform(&r, m->p.cls_b, s->num_classes, a);
		}
	}
	if (MfHasDec(m))
	{
		double		a = 1.0 / sqrt((double) s->decoder.d_model);

		MfTfInitStack(m, &m->dec_dims, s->decoder.num_layers, &m->p.dec, &r);
		if (!s->tie_lm_head)
			mfk_tf_fill_uniform(&r, m->p.lm_w, s->vocab_size * s->decoder.d_model, a);
		mfk_tf_fill_uniform(&r, m->p.lm_b, s->vocab_size, a);
	}
}

/* Weight decay applies to trained matrices that are not embeddings. */
static void
MfTfDecayMask(MfTfModel *m)
{
	int			k;

	memset(m->decay, 0, m->n_floats);
	for (k = 0; k < m->n_tensors; k++)
	{
		const MfTfNamedTensor *t = &m->tensors[k];

		if (t->trained && t->cols > 0 && strstr(t->name, "_emb.") == NULL)
			memset(m->decay + t->offset, 1, t->rows * t->cols);
	}
}

/* Validate the spec's model-level sizes and build the stacks' dims. */
static int
MfTfCheckSpec(MfTfModel *m)
{
	const MfTfSpec *s = &m->spec;
	int			err = MF_KOK;

	if (s->vocab_size == 0 || s->vocab_size > 10000000 || s->max_length == 0 ||
		s->max_length > 1000000 || (int) s->kind < 0 || s->kind > MF_TF_KIND_ENCODER_DECODER)
		return MF_KERR_BADARG;
	if (MfHasEnc(m))
		err = MfTfDimsOf(&s->encoder, 0, &m->enc_dims);
	if (err == MF_KOK && MfHasDec(m))
	{
		err = MfTfDimsOf(&s->decoder, 1, &m->dec_dims);
		if (err == MF_KOK && (s->kind == MF_TF_KIND_ENCODER_DECODER) !=
			(m->dec_dims.cross_attention != 0))
			err = MF_KERR_BADARG;
		if (err == MF_KOK && m->dec_dims.cross_attention &&
			s->decoder.d_model != s->encoder.d_model)
			err = MF_KERR_BADARG;
	}
	if (s->kind == MF_TF_KIND_DECODER && s->num_classes > 0)
		err = MF_KERR_BADARG;
	return err;
}

/* Allocate the per-layer pointer arrays of one parts struct. */
static int
MfTfAllocLayers(MfTfModel *m, MfTfParts *p)
{
	memset(p, 0, sizeof(*p));
	if (MfHasEnc(m))
		p->enc.layers = mfk_alloc_bytes(&m->alloc, m->spec.encoder.num_layers * sizeof(MfTfLayer));
	if (MfHasDec(m))
		p->dec.layers = mfk_alloc_bytes(&m->alloc, m->spec.decoder.num_layers * sizeof(MfTfLayer));
	return (MfHasEnc(m) && p->enc.layers == NULL) ||
		(MfHasDec(m) && p->dec.layers == NULL) ? MF_KERR_NOMEM : MF_KOK;
}

/*
 * Build a model from its spec, its parameters not yet set; with
 * trainable, also its gradients (zero) and weight-decay mask.
 */
static int
MfTfBuild(MfTfModel *m, const MfTfSpec *spec, uint64_t seed, const MfAllocator *alloc,
		  bool trainable)
{
	MfTfParts	count;
	int			err;

	memset(m, 0, sizeof(*m));
	m->spec = *spec;
	m->alloc = *alloc;
	m->seed = seed;
	err = MfTfCheckSpec(m);
	if (err != MF_KOK)
		return err;
	memset(&count, 0, sizeof(count));
	m->n_floats = MfTfWalkModel(m, NULL, NULL, &count, &m->n_tensors, &m->n_trained);
	if (m->n_floats > ((size_t) 1 << 34))
		return MF_KERR_BADARG;
	m->params = mfk_alloc_bytes(alloc, m->n_floats * sizeof(float));
	m->tensors = mfk_alloc_bytes(alloc, (size_t) m->n_tensors * sizeof(MfTfNamedTensor));
	if (trainable)
	{
		m->grads = mfk_alloc_bytes(alloc, m->n_floats * sizeof(float));
		m->decay = mfk_alloc_bytes(alloc, m->n_floats);
	}
	if (m->params == NULL || m->tensors == NULL || MfTfAllocLayers(m, &m->p) != MF_KOK ||
		(trainable && (m->grads == NULL || m->decay == NULL || MfTfAllocLayers(m, &m->g) != MF_KOK)))
	{
		mfk_tf_model_free(m);
		return MF_KERR_NOMEM;
	}
	MfTfWalkModel(m, m->params, m->tensors, &m->p, NULL, NULL);
	if (trainable)
	{
		MfTfWalkModel(m, m->grads, NULL, &m->g, NULL, NULL);
		memset(m->grads, 0, m->n_floats * sizeof(float));
		MfTfDecayMask(m);
	}
	return MF_KOK;
}

/* Build a model for inference: parameters unset, no gradients. */
int
mfk_tf_model_alloc(MfTfModel *m, const MfTfSpec *spec, uint64_t seed,
				   const MfAllocator *alloc)
{
	return MfTfBuild(m, spec, seed, alloc, false);
}

/* Build a model from its spec, parameters initialised from seed. */
int
mfk_tf_model_init(MfTfModel *m, const MfTfSpec *spec, uint64_t seed,
				  const MfAllocator *alloc)
{
	int			err = MfTfBuild(m, spec, seed, alloc, true);

	if (err == MF_KOK)
		MfTfInitParams(m);
	return err;
}

/* Trained floats of a spec's model (no allocation); -1 when invalid. */
int64_t
mf_tf_spec_n_params(const MfTfSpec *spec)
{
	MfTfModel	m;
	MfTfParts	count;
	size_t		trained;

	memset(&m, 0, sizeof(m));
	memset(&count, 0, sizeof(count));
	m.spec = *spec;
	if (MfTfCheckSpec(&m) != MF_KOK)
		return -1;
	MfTfWalkModel(&m, NULL, NULL, &count, NULL, &trained);
	return (int64_t) trained;
}

/* Free everything. */
void
mfk_tf_model_free(MfTfModel *m)
{
	mfk_free(&m->alloc, m->params);
	mfk_free(&m->alloc, m->grads);
	mfk_free(&m->alloc, m->decay);
	mfk_free(&m->alloc, m->tensors);
	mfk_free(&m->alloc, m->p.enc.layers);
	mfk_free(&m->alloc, m->p.dec.layers);
	mfk_free(&m->alloc, m->g.enc.layers);
	mfk_free(&m->alloc, m->g.dec.layers);
	if (m->opt_ready)
		mfk_optim_free(&m->opt, &m->alloc);
	memset(m, 0, sizeof(*m));
}

/* A tensor by name. */
const MfTfNamedTensor *
mfk_tf_model_tensor(const MfTfModel *m, const char *name)
{
	int			k;

	for (k = 0; k < m->n_tensors; k++)
		if (strcmp(m->tensors[k].name, name) == 0)
			return &m->tensors[k];
	return NULL;
}

/* Redraw one stack's features for redraw k (seeded by seed, stack, k). */
static void
MfTfRedrawStack(const MfTfModel *m, const MfTfLayerDims *dims, size_t nl,
				MfTfStack *st, uint64_t stack, int64_t k)
{
	MfRng		r;
	size_t		i,
				dh = dims->d_model / dims->n_heads;

	mfk_rng_seed(&r, m->seed ^ (0x9E3779B97F4A7C15ULL * (2 * (uint64_t) k + stack + 1)));
	for (i = 0; i < nl; i++)
	{
		mfk_tf_favor_draw(&r, st->layers[i].sa.features, dims->nb_features, dh);
		if (dims->cross_attention)
			mfk_tf_favor_draw(&r, st->layers[i].ca.features, dims->nb_features, dh);
	}
}

/* Redraw the features of every stack whose redraw is due before step. */
int
mfk_tf_model_redraw_due(MfTfModel *m, int64_t step)
{
	const MfTfStackSpec *e = &m->spec.encoder,
			   *d = &m->spec.decoder;
	int			n = 0;

	if (MfHasEnc(m) && m->enc_dims.linear_attention &&
		mfk_tf_favor_redraw_due(step, e->feature_redraw_interval, e->auto_check_redraw))
	{
		MfTfRedrawStack(m, &m->enc_dims, e->num_layers, &m->p.enc, 0,
						step / e->feature_redraw_interval);
		n++;
	}
	if (MfHasDec(m) && m->dec_dims.linear_attention &&
		mfk_tf_favor_redraw_due(step, d->feature_redraw_interval, d->auto_check_redraw))
	{
		MfTfRedrawStack(m, &m->dec_dims, d->num_layers, &m->p.dec, 1,
						step / d->feature_redraw_interval);
		n++;
	}
	return n;
}

/* ------------------------------------------------------------ layouts */

/* Carve one stack's activations. */
static void
MfTfCarveStack(const MfTfLayerDims *dims, size_t nl, const MfTfBatch *b,
			   int training, MfArena *ar, MfTfStackActs *a)
{
	size_t		n = b->B * b->T,
				d = dims->d_model,
				l;
	MfTfLayerActs dummy;

	a->b = *b;
	a->x0 = mfk_arena_floats(ar, n * d);
	a->layers = mfk_arena_alloc(ar, nl * sizeof(MfTfLayerActs));
	for (l = 0; l < nl; l++)
		mfk_tf_layer_acts_carve(dims, b, training, ar, a->layers ? &a->layers[l] : &dummy);
	a->nout = a->st_a = a->st_b = NULL;
	if (dims->norm != MF_TF_REZERO)
	{
		a->nout = mfk_arena_floats(ar, n * d);
		a->st_a = mfk_arena_floats(ar, n);
		if (dims->norm == MF_TF_LAYERNORM)
			a->st_b = mfk_arena_floats(ar, n);
	}
}

/* The stacks' batches of an input shape. */
static void
MfTfBatches(const MfTfModel *m, size_t B, size_t S, size_t T,
			const MfTfInput *in, MfTfBatch *eb, MfTfBatch *db)
{
	const unsigned char *sp = in != NULL ? in->src_pad : NULL;
	int			cross = MfHasDec(m) && m->dec_dims.cross_attention;

	eb->B = db->B = B;
	eb->T = S;
	eb->key_pad = sp;
	eb->S = 0;
	eb->mem_pad = NULL;
	db->T = T;
	db->key_pad = in != NULL ? in->tgt_pad : NULL;
	db->S = cross ? S : 0;
	db->mem_pad = cross ? sp : NULL;
}

/* Carve one step's forward state. */
static void
MfTfCarveFwd(const MfTfModel *m, size_t B, size_t S, size_t T,
			 const MfTfInput *in, int training, MfArena *ar, MfTfFwd *f)
{
	MfTfBatch	eb,
				db;

	memset(f, 0, sizeof(*f));
	f->training = training;
	f->loss = NAN;
	MfTfBatches(m, B, S, T, in, &eb, &db);
	if (MfHasEnc(m))
		MfTfCarveStack(&m->enc_dims, m->spec.encoder.num_layers, &eb, training, ar, &f->enc);
	if (MfHasDec(m))
		MfTfCarveStack(&m->dec_dims, m->spec.decoder.num_layers, &db, training, ar, &f->dec);
	if (m->spec.kind == MF_TF_KIND_ENCODER)
	{
		f->pooled = mfk_arena_floats(ar, B * m->enc_dims.d_model);
		f->rows = m->spec.num_classes > 0 ? B : 0;
		f->k = m->spec.num_classes;
	}
	else
	{
		f->rows = B * T;
		f->k = m->spec.vocab_size;
	}
	if (f->rows == 0)
		return;
	f->logits = mfk_arena_floats(ar, f->rows * f->k);
	f->labels = mfk_arena_alloc(ar, f->rows * sizeof(int32_t));
	if (training)
		f->dlogits = mfk_arena_floats(ar, f->rows * f->k);
}

/* Backward buffers: two running gradients, the memory's, the pooled one. */
typedef struct MfTfBwd
{
	float	   *da;
	float	   *db;
	float	   *dmem;
	float	   *dpooled;
} MfTfBwd;

/* Carve the backward buffers. */
static void
MfTfCarveBwd(const MfTfModel *m, size_t B, size_t S, size_t T, MfArena *ar,
			 MfTfBwd *w)
{
	size_t		ne = MfHasEnc(m) ? B * S * m->enc_dims.d_model : 0,
				nd = MfHasDec(m) ? B * T * m->dec_dims.d_model : 0,
				mx = ne > nd ? ne : nd;

	memset(w, 0, sizeof(*w));
	w->da = mfk_arena_floats(ar, mx);
	w->db = mfk_arena_floats(ar, mx);
	if (MfHasDec(m) && m->dec_dims.cross_attention)
		w->dmem = mfk_arena_floats(ar, ne);
	if (m->spec.kind == MF_TF_KIND_ENCODER)
		w->dpooled = mfk_arena_floats(ar, B * m->enc_dims.d_model);
}

/* The largest layer scratch of the stacks. */
static size_t
MfTfScratchMax(const MfTfModel *m, size_t B, size_t S, size_t T, int training)
{
	MfTfBatch	eb,
				db;
	size_t		a = 0,
				b = 0;

	MfTfBatches(m, B, S, T, NULL, &eb, &db);
	if (MfHasEnc(m))
		a = mfk_tf_layer_scratch_bytes(&m->enc_dims, &eb, training);
	if (MfHasDec(m))
		b = mfk_tf_layer_scratch_bytes(&m->dec_dims, &db, training);
	return a > b ? a : b;
}

/* Bytes of one step's arena. */
size_t
mfk_tf_model_step_bytes(const MfTfModel *m, size_t B, size_t S, size_t T,
						int training)
{
	MfArena		count;
	MfTfFwd		f;
	MfTfBwd		w;
	size_t		scratch = MfTfScratchMax(m, B, S, T, training);

	mfk_arena_counting(&count);
	MfTfCarveFwd(m, B, S, T, NULL, training, &count, &f);
	if (training)
		MfTfCarveBwd(m, B, S, T, &count, &w);
	if (count.failed || scratch == SIZE_MAX || count.peak > SIZE_MAX - scratch)
		return SIZE_MAX;
	return count.peak + scratch;
}

/* ------------------------------------------------------------ forward */

/* 1 when n ids are all below vocab. */
static int
MfTfIdsOk(const int32_t *ids, size_t n, size_t vocab)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (ids[i] < 0 || (size_t) ids[i] >= vocab)
			return 0;
	return 1;
}

/* Check a batch against the model. */
static int
MfTfCheckInput(const MfTfModel *m, const MfTfInput *in)
{
	size_t		i,
				L = m->spec.max_length,
				V = m->spec.vocab_size;

	if (in->B == 0)
		return MF_KERR_BADARG;
	if (MfHasEnc(m) && (in->src == NULL || in->S == 0 || in->S > L ||
						!MfTfIdsOk(in->src, in->B * in->S, V)))
		return MF_KERR_BADARG;
	if (MfHasDec(m) && (in->tgt == NULL || in->T == 0 || in->T > L ||
						!MfTfIdsOk(in->tgt, in->B * in->T, V)))
		return MF_KERR_BADARG;
	if (in->labels != NULL && m->spec.kind == MF_TF_KIND_ENCODER)
		for (i = 0; i < in->B; i++)
			if (in->labels[i] >= (int32_t) m->spec.num_classes)
				return MF_KERR_BADARG;
	if (in->labels != NULL && m->spec.kind != MF_TF_KIND_ENCODER)
		for (i = 0; i < in->B * in->T; i++)
			if (in->labels[i] >= (int32_t) V)
				return MF_KERR_BADARG;
	return MF_KOK;
}

/* Forward of one stack: embedding, layers, final norm. */
static int
MfTfStackFwd(const MfEnv *env, const MfTfLayerDims *dims, size_t nl,
			 const MfTfStack *st, const int32_t *ids, const float *mem,
			 MfRng *rng, MfArena *ar, MfTfStackActs *a)
{
	size_t		n = a->b.B * a->b.T,
				d = dims->d_model,
				l;
	const float *x = a->x0;
	int			err;

	mfk_tf_embed_forward(ids, a->b.B, a->b.T, d, st->tok, st->pos, a->x0);
	for (l = 0; l < nl; l++)
	{
		err = mfk_tf_layer_forward(env, dims, &a->b, &st->layers[l], x, mem, rng,
								   ar, &a->layers[l]);
		if (err != MF_KOK)
			return err;
		x = a->layers[l].y;
	}
	if (dims->norm == MF_TF_LAYERNORM)
		mfk_tf_layernorm_forward(x, n, d, st->norm.w, st->norm.b, dims->eps,
								 a->nout, a->st_a, a->st_b);
	else if (dims->norm == MF_TF_SCALENORM)
		mfk_tf_scalenorm_forward(x, n, d, st->norm.w, dims->eps, a->nout, a->st_a);
	a->out = dims->norm == MF_TF_REZERO ? x : a->nout;
	return MF_KOK;
}

/* Labels with padding ignored, then the loss (and dlogits). */
static void
MfTfLoss(const MfTfModel *m, const MfTfInput *in, MfTfFwd *f)
{
	size_t		i;

	if (in->labels == NULL || f->rows == 0)
		return;
	for (i = 0; i < f->rows; i++)
		f->labels[i] = m->spec.kind != MF_TF_KIND_ENCODER && in->tgt_pad != NULL &&
			in->tgt_pad[i] ? -1 : in->labels[i];
	f->loss = mfk_tf_cross_entropy(f->logits, f->labels, f->rows, f->k, f->dlogits);
}

/* Forward of a batch, with loss when labelled. */
int
mfk_tf_model_forward(const MfEnv *env, MfTfModel *m, const MfTfInput *in,
					 MfRng *rng, MfArena *ar, MfTfFwd *f)
{
	int			err = MfTfCheckInput(m, in);
	const MfTfSpec *s = &m->spec;

	if (err != MF_KOK)
		return err;
	MfTfCarveFwd(m, in->B, in->S, in->T, in, rng != NULL, ar, f);
	if (ar->failed)
		return MF_KERR_NOMEM;
	if (MfHasEnc(m))
		err = MfTfStackFwd(env, &m->enc_dims, s->encoder.num_layers, &m->p.enc,
						   in->src, NULL, rng, ar, &f->enc);
	if (err == MF_KOK && MfHasDec(m))
		err = MfTfStackFwd(env, &m->dec_dims, s->decoder.num_layers, &m->p.dec,
						   in->tgt, m->dec_dims.cross_attention ? f->enc.out : NULL,
						   rng, ar, &f->dec);
	if (err != MF_KOK)
		return err;
	if (s->kind == MF_TF_KIND_ENCODER)
	{
		mfk_tf_pool_forward(s->pool, &f->enc.b, m->enc_dims.d_model, f->enc.out, f->pooled);
		if (f->rows > 0)
			mfk_tf_linear_forward(f->pooled, in->B, m->enc_dims.d_model, m->p.cls_w,
								  m->p.cls_b, s->num_classes, f->logits);
	}
	else
		mfk_tf_linear_forward(f->dec.out, f->rows, m->dec_dims.d_model, m->p.lm_w,
							  m->p.lm_b, s->vocab_size, f->logits);
	MfTfLoss(m, in, f);
	return MF_KOK;
}

/* The pooled encoder output of an encoder model's forward. */
const float *
mfk_tf_model_embedding(const MfTfFwd *f)
{
	return f->pooled;
}

/* ----------------------------------------------------------- backward */

/*
 * Backward of one stack from the gradient at its output (in w->da):
 * final norm, layers in reverse (cross-attention adds into dmem),
 * embedding.  Uses w->da and w->db as ping-pong buffers.
 */
static int
MfTfStackBwd(const MfEnv *env, const MfTfLayerDims *dims, size_t nl,
			 const MfTfStack *st, MfTfStack *gs, const int32_t *ids,
			 const MfTfStackActs *a, MfArena *ar, MfTfBwd *w, float *dmem)
{
	size_t		n = a->b.B * a->b.T,
				d = dims->d_model,
				l;
	float	   *cur = w->da,
			   *nxt = w->db,
			   *t;
	const float *xl = nl > 0 ? a->layers[nl - 1].y : a->x0;
	int			err;

	if (dims->norm != MF_TF_REZERO)
	{
		memset(nxt, 0, n * d * sizeof(float));
		if (dims->norm == MF_TF_LAYERNORM)
			mfk_tf_layernorm_backward(xl, n, d, st->norm.w, a->st_a, a->st_b, cur, nxt,
									  gs->norm.w, gs->norm.b);
		else
			mfk_tf_scalenorm_backward(xl, n, d, st->norm.w, dims->eps, a->st_a, cur,
									  nxt, gs->norm.w);
		t = cur, cur = nxt, nxt = t;
	}
	for (l = nl; l-- > 0;)
	{
		memset(nxt, 0, n * d * sizeof(float));
		err = mfk_tf_layer_backward(env, dims, &a->b, &st->layers[l], &a->layers[l],
									cur, ar, &gs->layers[l], nxt, dmem);
		if (err != MF_KOK)
			return err;
		t = cur, cur = nxt, nxt = t;
	}
	mfk_tf_embed_backward(ids, a->b.B, a->b.T, d, cur, gs->tok, gs->pos);
	return MF_KOK;
}

/* Backward of a training forward (adds to m->grads). */
int
mfk_tf_model_backward(const MfEnv *env, MfTfModel *m, const MfTfInput *in,
					  const MfTfFwd *f, MfArena *ar)
{
	const MfTfSpec *s = &m->spec;
	size_t		mark = mfk_arena_mark(ar);
	MfTfBwd		w;
	int			err = MF_KOK;

	if (!f->training || f->dlogits == NULL || m->grads == NULL)
		return MF_KERR_BADARG;
	MfTfCarveBwd(m, in->B, in->S, in->T, ar, &w);
	if (ar->failed)
		return MF_KERR_NOMEM;
	if (s->kind == MF_TF_KIND_ENCODER)
	{
		size_t		d = m->enc_dims.d_model;

		memset(w.dpooled, 0, in->B * d * sizeof(float));
		memset(w.da, 0, in->B * in->S * d * sizeof(float));
		mfk_tf_linear_backward(f->pooled, in->B, d, m->p.cls_w, s->num_classes,
							   f->dlogits, m->g.cls_w, m->g.cls_b, w.dpooled);
		mfk_tf_pool_backward(s->pool, &f->enc.b, d, w.dpooled, w.da);
		err = MfTfStackBwd(env, &m->enc_dims, s->encoder.num_layers, &m->p.enc,
						   &m->g.enc, in->src, &f->enc, ar, &w, NULL);
		mfk_arena_release(ar, mark);
		return err;
	}
	memset(w.da, 0, f->rows * m->dec_dims.d_model * sizeof(float));
	if (w.dmem != NULL)
		memset(w.dmem, 0, in->B * in->S * m->enc_dims.d_model * sizeof(float));
	mfk_tf_linear_backward(f->dec.out, f->rows, m->dec_dims.d_model, m->p.lm_w,
						   s->vocab_size, f->dlogits, m->g.lm_w, m->g.lm_b, w.da);
	err = MfTfStackBwd(env, &m->dec_dims, s->decoder.num_layers, &m->p.dec,
					   &m->g.dec, in->tgt, &f->dec, ar, &w, w.dmem);
	if (err == MF_KOK && w.dmem != NULL)
	{
		memcpy(w.da, w.dmem, in->B * in->S * m->enc_dims.d_model * sizeof(float));
		err = MfTfStackBwd(env, &m->enc_dims, s->encoder.num_layers, &m->p.enc,
						   &m->g.enc, in->src, &f->enc, ar, &w, NULL);
	}
	mfk_arena_release(ar, mark);
	return err;
}

/* ------------------------------------------------------ decoding steps */

/* Run the encoder stack alone (evaluation): enc->out is the memory. */
int
mfk_tf_model_encode(const MfEnv *env, MfTfModel *m, const MfTfInput *in,
					MfArena *ar, MfTfStackActs *enc)
{
	MfTfBatch	eb,
				db;

	if (!MfHasEnc(m) || in->B == 0 || in->src == NULL || in->S == 0 ||
		in->S > m->spec.max_length || !MfTfIdsOk(in->src, in->B * in->S, m->spec.vocab_size))
		return MF_KERR_BADARG;
	MfTfBatches(m, in->B, in->S, in->T, in, &eb, &db);
	MfTfCarveStack(&m->enc_dims, m->spec.encoder.num_layers, &eb, 0, ar, enc);
	if (ar->failed)
		return MF_KERR_NOMEM;
	return MfTfStackFwd(env, &m->enc_dims, m->spec.encoder.num_layers, &m->p.enc,
						in->src, NULL, NULL, ar, enc);
}

/*
 * Run the decoder stack (evaluation) on in->tgt with the memory of enc
 * (encoder_decoder) and write the logits of each sequence's last
 * position into logits (B x V).
 */
int
mfk_tf_model_decode_last(const MfEnv *env, MfTfModel *m, const MfTfInput *in,
						 const MfTfStackActs *enc, MfArena *ar, float *logits)
{
	MfTfBatch	eb,
				db;
	MfTfStackActs dec;
	size_t		b,
				d = m->dec_dims.d_model;
	int			err;

	if (!MfHasDec(m) || in->B == 0 || in->tgt == NULL || in->T == 0 ||
		in->T > m->spec.max_length || !MfTfIdsOk(in->tgt, in->B * in->T, m->spec.vocab_size) ||
		(m->dec_dims.cross_attention && enc == NULL))
		return MF_KERR_BADARG;
	MfTfBatches(m, in->B, in->S, in->T, in, &eb, &db);
	MfTfCarveStack(&m->dec_dims, m->spec.decoder.num_layers, &db, 0, ar, &dec);
	if (ar->failed)
		return MF_KERR_NOMEM;
	err = MfTfStackFwd(env, &m->dec_dims, m->spec.decoder.num_layers, &m->p.dec, in->tgt,
					   m->dec_dims.cross_attention ? enc->out : NULL, NULL, ar, &dec);
	for (b = 0; err == MF_KOK && b < in->B; b++)
		mfk_tf_linear_forward(dec.out + ((b + 1) * in->T - 1) * d, 1, d, m->p.lm_w,
							  m->p.lm_b, m->spec.vocab_size, logits + b * m->spec.vocab_size);
	return err;
}
