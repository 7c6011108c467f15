/*
 * catalog.c - the served snapshot: a builder that opens versions from
 * in-memory artifact bytes and metadata, freezes them into an immutable,
 * reference-counted catalog, and the lookups the handler uses.
 *
 * A builder collects entries in any order; finish sorts entries by name
 * and versions by number, resolves each name's default version and
 * traffic split, and checks the policies against the versions (a split or
 * default number the name lacks, a malformed bearer hash).  Models are
 * opened with a private copy of the bytes (mf_trained_model_open, copy),
 * so the embedder's buffer may go right after add_version returns.
 */
#include "serve_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct MfServeCatalogBuilder
{
	int			n_entries;
	int			cap;
	MfServeEntry *entries;
	char	  **hashes;			/* per entry: the policy's bearer hash copy */
};

/* The malloc allocator of the kernels as an MfArtAllocator. */
static MfArtAllocator
MfServeAlloc(void)
{
	MfArtAllocator a = {mfk_malloc_allocator.alloc, mfk_malloc_allocator.free, NULL};

	return a;
}

/* Print a message into err (may be NULL); returns false. */
bool
mf_serve_fail(char *err, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	if (err != NULL && errlen > 0)
	{
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* True when s is a name or label we accept (1..127 of [A-Za-z0-9_.-]). */
bool
mf_serve_name_ok(const char *s)
{
	size_t		n = 0;

	if (s == NULL || *s == '\0' || *s == '.')
		return false;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
			  (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-' || s[n] == '.'))
			return false;
	return n < MF_SERVE_NAME_LEN;
}

/* True when s is MAJOR.MINOR.PATCH (digits, no leading zeros). */
bool
mf_serve_semver_ok(const char *s)
{
	int			parts = 0;

	if (s == NULL || strlen(s) >= MF_SERVE_SEMVER_LEN)
		return false;
	while (parts < 3)
	{
		int			digits = 0;

		if (s[0] == '0' && s[1] >= '0' && s[1] <= '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++, digits++;
		if (digits == 0 || digits > 9)
			return false;
		parts++;
		if (parts < 3 && *s++ != '.')
			return false;
	}
	return *s == '\0';
}

/* A new, empty builder (NULL when out of memory). */
MfServeCatalogBuilder *
mf_serve_builder_new(void)
{
	return calloc(1, sizeof(MfServeCatalogBuilder));
}

/* Free one version and what it owns. */
static void
MfServeVersionFree(MfServeVersion *v)
{
	if (v == NULL)
		return;
	for (int i = 0; i < v->n_labels; i++)
		free(v->labels[i]);
	free(v->labels);
	free(v->trained_at);
	free(v->io.inputs);
	mf_serve_text_free(v->text);
	if (v->text == NULL)
		mf_trained_model_free(&v->model);
	free(v);
}

/* Free the entries of an array. */
static void
MfServeEntriesFree(MfServeEntry *entries, int n)
{
	for (int i = 0; i < n; i++)
	{
		for (int k = 0; k < entries[i].n_versions; k++)
			MfServeVersionFree(entries[i].versions[k]);
		free(entries[i].versions);
		free(entries[i].name);
	}
	free(entries);
}

/* Free a builder that will not be finished. */
void
mf_serve_builder_discard(MfServeCatalogBuilder *b)
{
	if (b == NULL)
		return;
	MfServeEntriesFree(b->entries, b->n_entries);
	for (int i = 0; i < b->n_entries; i++)
		free(b->hashes[i]);
	free(b->hashes);
	free(b);
}

/* The builder's entry of a name, created when absent; NULL when out of memory. */
static MfServeEntry *
MfServeBuilderEntry(MfServeCatalogBuilder *b, const char *name)
{
	MfServeEntry *e;

	for (int i = 0; i < b->n_entries; i++)
		if (strcmp(b->entries[i].name, name) == 0)
			return &b->entries[i];
	if (b->n_entries == b->cap)
	{
		int			cap = b->cap ? b->cap * 2 : 8;
		MfServeEntry *ne = realloc(b->entries, sizeof(MfServeEntry) * (size_t) cap);
		char	  **nh;

		if (ne == NULL)
			return NULL;
		b->entries = ne;
		nh = realloc(b->hashes, sizeof(char *) * (size_t) cap);
		if (nh == NULL)
			return NULL;
		b->hashes = nh;
		b->cap = cap;
	}
	e = &b->entries[b->n_entries];
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	if (e->name == NULL)
		return NULL;
	b->hashes[b->n_entries++] = NULL;
	return e;
}

/* Check a version's fields and labels; false with err. */
static bool
MfServeSpecCheck(const char *name, const MfServeVersionSpec *v, char *err, size_t errlen)
{
	if (!mf_serve_name_ok(name))
		return mf_serve_fail(err, errlen, "served name \"%s\" must be 1 to 127 letters, digits, '_', '-' or '.'",
						   name ? name : "");
	if (!mf_serve_semver_ok(v->semver))
		return mf_serve_fail(err, errlen, "version \"%s\" of \"%s\" is not MAJOR.MINOR.PATCH",
						   v->semver ? v->semver : "", name);
	if (v->number < 1)
		return mf_serve_fail(err, errlen, "version number %lld of \"%s\" must be at least 1",
						   (long long) v->number, name);
	if (v->n_labels < 0 || v->n_labels > MF_SERVE_MAX_LABELS || (v->n_labels > 0 && v->labels == NULL))
		return mf_serve_fail(err, errlen, "version %lld of \"%s\" has %d labels (at most %d)",
						   (long long) v->number, name, v->n_labels, MF_SERVE_MAX_LABELS);
	for (int i = 0; i < v->n_labels; i++)
		if (!mf_serve_name_ok(v->labels[i]))
			return mf_serve_fail(err, errlen, "label \"%s\" of version %lld of \"%s\" must be 1 to 127 letters, digits, '_', '-' or '.'",
							   v->labels[i] ? v->labels[i] : "", (long long) v->number, name);
	if (v->artifact == NULL || v->artifact_len == 0)
		return mf_serve_fail(err, errlen, "version %lld of \"%s\" has no artifact bytes",
						   (long long) v->number, name);
	return true;
}

/* Copy the labels and trained_at of a spec into v; false when out of memory. */
static bool
MfServeVersionCopyText(MfServeVersion *v, const MfServeVersionSpec *spec)
{
	snprintf(v->semver, sizeof(v->semver), "%s", spec->semver);
	v->number = spec->number;
	v->labels = calloc((size_t) (spec->n_labels > 0 ? spec->n_labels : 1), sizeof(char *));
	if (v->labels == NULL)
		return false;
	for (int i = 0; i < spec->n_labels; i++)
	{
		v->labels[i] = strdup(spec->labels[i]);
		if (v->labels[i] == NULL)
			return false;
		v->n_labels = i + 1;
	}
	if (spec->trained_at != NULL && (v->trained_at = strdup(spec->trained_at)) == NULL)
		return false;
	return true;
}

/* Add a version of a served name (artifact copied and opened). */
bool
mf_serve_builder_add_version(MfServeCatalogBuilder *b, const char *name,
							 const MfServeVersionSpec *spec, char *err, size_t errlen)
{
	MfArtAllocator heap = MfServeAlloc();
	MfServeVersion *v;
	MfServeEntry *e;
	MfServeVersion **nv;
	MfModelError merr;
	MfModelStatus st;

	if (b == NULL || spec == NULL || !MfServeSpecCheck(name, spec, err, errlen))
		return b != NULL && spec != NULL ? false : mf_serve_fail(err, errlen, "no builder or version");
	v = calloc(1, sizeof(MfServeVersion));
	if (v == NULL || !MfServeVersionCopyText(v, spec))
	{
		MfServeVersionFree(v);
		return mf_serve_fail(err, errlen, "out of memory");
	}
	if (mf_serve_text_is(spec->artifact, spec->artifact_len))
	{
		/* a transformer: its text model (text.c) */
		if (!mf_serve_text_open(v, spec->artifact, spec->artifact_len, merr.detail, sizeof(merr.detail)))
		{
			MfServeVersionFree(v);
			return mf_serve_fail(err, errlen, "artifact of version %lld of \"%s\" refused: %s",
								 (long long) spec->number, name, merr.detail);
		}
	}
	else if ((st = mf_trained_model_open(&v->model, spec->artifact, spec->artifact_len, true, &heap, &merr)) != MF_MODEL_OK)
	{
		MfServeVersionFree(v);
		return mf_serve_fail(err, errlen, "artifact of version %lld of \"%s\" refused: %s%s%s",
						   (long long) spec->number, name, merr.detail,
						   merr.member[0] ? " at " : "", merr.member);
	}
	if (v->text == NULL && mf_trained_model_describe(&v->model, &heap, &v->io) != MF_MODEL_OK)
	{
		MfServeVersionFree(v);
		return mf_serve_fail(err, errlen, "out of memory");
	}
	e = MfServeBuilderEntry(b, name);
	for (int k = 0; e != NULL && k < e->n_versions; k++)
		if (e->versions[k]->number == spec->number)
		{
			MfServeVersionFree(v);
			return mf_serve_fail(err, errlen, "version %lld of \"%s\" is given twice",
							   (long long) spec->number, name);
		}
	nv = e ? realloc(e->versions, sizeof(MfServeVersion *) * (size_t) (e->n_versions + 1)) : NULL;
	if (nv == NULL)
	{
		MfServeVersionFree(v);
		return mf_serve_fail(err, errlen, "out of memory");
	}
	e->versions = nv;
	e->versions[e->n_versions++] = v;
	return true;
}

/* Set the policy of a served name (copied; checked at finish). */
bool
mf_serve_builder_set_policy(MfServeCatalogBuilder *b, const char *name, const MfServePolicy *p,
							char *err, size_t errlen)
{
	MfServeEntry *e;
	int			idx;

	if (b == NULL || p == NULL || !mf_serve_name_ok(name))
		return mf_serve_fail(err, errlen, "served name \"%s\" must be 1 to 127 letters, digits, '_', '-' or '.'",
						   name ? name : "");
	if (p->requests_per_minute < 0 || p->max_batch < 0 || p->n_split < 0 || p->n_split > MF_SERVE_MAX_SPLIT)
		return mf_serve_fail(err, errlen, "policy of \"%s\": negative limit or more than %d split versions",
						   name, MF_SERVE_MAX_SPLIT);
	e = MfServeBuilderEntry(b, name);
	if (e == NULL)
		return mf_serve_fail(err, errlen, "out of memory");
	idx = (int) (e - b->entries);
	e->policy = *p;
	e->policy.bearer_hash = NULL;
	free(b->hashes[idx]);
	b->hashes[idx] = NULL;
	if (p->bearer_hash != NULL && (b->hashes[idx] = strdup(p->bearer_hash)) == NULL)
		return mf_serve_fail(err, errlen, "out of memory");
	return true;
}

/* Order of versions: ascending number. */
static int
MfServeVersionCmp(const void *a, const void *b)
{
	int64_t		x = (*(MfServeVersion *const *) a)->number;
	int64_t		y = (*(MfServeVersion *const *) b)->number;

	return x < y ? -1 : x > y;
}

/* Order of entries: ascending name. */
static int
MfServeEntryCmp(const void *a, const void *b)
{
	return strcmp(((const MfServeEntry *) a)->name, ((const MfServeEntry *) b)->name);
}

/* Index of a version number in an entry, or -1. */
static int
MfServeVersionIndex(const MfServeEntry *e, int64_t number)
{
	for (int k = 0; k < e->n_versions; k++)
		if (e->versions[k]->number == number)
			return k;
	return -1;
}

/* Resolve an entry's default version, split and bearer; false with err. */
static bool
MfServeEntryFreeze(MfServeEntry *e, const char *hash, char *err, size_t errlen)
{
	const MfServePolicy *p = &e->policy;
	double		total = 0.0;

	if (e->n_versions == 0)
		return mf_serve_fail(err, errlen, "served name \"%s\" has a policy but no version", e->name);
	qsort(e->versions, (size_t) e->n_versions, sizeof(MfServeVersion *), MfServeVersionCmp);
	e->default_idx = e->n_versions - 1;
	for (int k = e->n_versions - 1; k >= 0; k--)
	{
		const MfServeVersion *v = e->versions[k];
		bool		prod = false;

		for (int l = 0; l < v->n_labels; l++)
			prod = prod || strcmp(v->labels[l], "production") == 0;
		if (prod)
		{
			e->default_idx = k;
			break;
		}
	}
	if (p->default_number != 0 && (e->default_idx = MfServeVersionIndex(e, p->default_number)) < 0)
		return mf_serve_fail(err, errlen, "default version %lld of \"%s\" is not served",
						   (long long) p->default_number, e->name);
	for (int s = 0; s < p->n_split; s++)
	{
		if ((e->split_idx[s] = MfServeVersionIndex(e, p->split[s].number)) < 0)
			return mf_serve_fail(err, errlen, "traffic split of \"%s\" names version %lld, which is not served",
							   e->name, (long long) p->split[s].number);
		if (!(p->split[s].weight > 0.0) || p->split[s].weight > 1e12)
			return mf_serve_fail(err, errlen, "traffic split of \"%s\": the weight of version %lld must be a positive number",
							   e->name, (long long) p->split[s].number);
		total += p->split[s].weight;
		e->split_cum[s] = total;
	}
	for (int s = 0; s < p->n_split; s++)
		e->split_cum[s] /= total;
	if (p->max_batch < 0 || p->requests_per_minute < 0)
		return mf_serve_fail(err, errlen, "policy of \"%s\": negative limit", e->name);
	e->has_bearer = hash != NULL;
	if (hash != NULL && !mf_serve_bearer_parse(hash, &e->bearer))
		return mf_serve_fail(err, errlen, "bearer token hash of \"%s\" is not sha256$<32 hex>$<64 hex>", e->name);
	return true;
}

/* Freeze the builder into a catalog with one reference. */
MfServeCatalog *
mf_serve_builder_finish(MfServeCatalogBuilder *b, char *err, size_t errlen)
{
	MfServeCatalog *c;

	if (b == NULL)
	{
		mf_serve_fail(err, errlen, "no builder");
		return NULL;
	}
	for (int i = 0; i < b->n_entries; i++)
		if (!MfServeEntryFreeze(&b->entries[i], b->hashes[i], err, errlen))
		{
			mf_serve_builder_discard(b);
			return NULL;
		}
	c = calloc(1, sizeof(MfServeCatalog));
	if (c == NULL)
	{
		mf_serve_fail(err, errlen, "out of memory");
		mf_serve_builder_discard(b);
		return NULL;
	}
	if (b->n_entries > 0)
		qsort(b->entries, (size_t) b->n_entries, sizeof(MfServeEntry), MfServeEntryCmp);
	atomic_init(&c->refs, 1);
	c->entries = b->entries;
	c->n_entries = b->n_entries;
	for (int i = 0; i < b->n_entries; i++)
		free(b->hashes[i]);
	free(b->hashes);
	free(b);
	return c;
}

/* Take one more reference to a catalog. */
MfServeCatalog *
mf_serve_catalog_ref(MfServeCatalog *c)
{
	if (c != NULL)
		atomic_fetch_add(&c->refs, 1);
	return c;
}

/* Drop a reference; the last one frees the catalog. */
void
mf_serve_catalog_unref(MfServeCatalog *c)
{
	if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	MfServeEntriesFree(c->entries, c->n_entries);
	free(c);
}

/* Served names in a catalog. */
int
mf_serve_catalog_size(const MfServeCatalog *c)
{
	return c ? c->n_entries : 0;
}

/* Versions in a catalog, all names together. */
int
mf_serve_catalog_versions(const MfServeCatalog *c)
{
	int			n = 0;

	for (int i = 0; c != NULL && i < c->n_entries; i++)
		n += c->entries[i].n_versions;
	return n;
}

/* The entry of a name (binary search), or NULL. */
const MfServeEntry *
mf_serve_catalog_find(const MfServeCatalog *c, const char *name)
{
	int			lo = 0,
				hi = c ? c->n_entries - 1 : -1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			r = strcmp(name, c->entries[mid].name);

		if (r == 0)
			return &c->entries[mid];
		if (r < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* The version of a number, or NULL. */
const MfServeVersion *
mf_serve_entry_version(const MfServeEntry *e, int64_t number)
{
	int			k = MfServeVersionIndex(e, number);

	return k < 0 ? NULL : e->versions[k];
}

/* The highest version carrying a label, or NULL. */
const MfServeVersion *
mf_serve_entry_label(const MfServeEntry *e, const char *label)
{
	for (int k = e->n_versions - 1; k >= 0; k--)
		for (int l = 0; l < e->versions[k]->n_labels; l++)
			if (strcmp(e->versions[k]->labels[l], label) == 0)
				return e->versions[k];
	return NULL;
}

/* The version of a semver, or NULL. */
const MfServeVersion *
mf_serve_entry_semver(const MfServeEntry *e, const char *semver)
{
	for (int k = e->n_versions - 1; k >= 0; k--)
		if (strcmp(e->versions[k]->semver, semver) == 0)
			return e->versions[k];
	return NULL;
}
