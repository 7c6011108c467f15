/*
 * http_snapshot.c - the blob the HTTP worker hands its serving processes.
 *
 * Layout: the magic "MFHTTP1\n", the header length as a uint64 (host
 * order: writer and reader are the same binary on the same machine), the
 * header (JSON), zero padding to 8 bytes, then the artifacts, each at an
 * 8-byte aligned offset of the data area.  The header:
 *   {"names": [{"name": "churn",
 *               "policy": {"bearer_hash": "sha256$..." | null, "requests_per_minute": 0,
 *                          "max_batch": 0, "default_number": 7, "split": [[7, 0.9], [8, 0.1]],
 *                          "log_predictions": false, "deployment_id": 3, "log_id_field": ""},
 *               "versions": [{"semver": "1.2.0", "number": 7, "labels": ["production"],
 *                             "trained_at": "..." | null, "sha256": "<hex>", "artifact": 0}]}],
 *    "artifacts": [[offset, length], ...]}
 * The reader checks every field and bound before it uses it.
 *
 * Pure C: runs in the serving processes, which never call PostgreSQL.
 */
#include "http_snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "mf_config.h"

#define MF_HTTP_SNAP_MAGIC "MFHTTP1\n"

struct MfHttpSnap
{
	json_t	   *names;			/* array of name objects */
	json_t	   *current;		/* versions array of the name added last */
	const void **arts;
	size_t	   *art_lens;
	int			n_arts;
	int			cap;
	int			n_versions;
};

/* A new, empty description. */
MfHttpSnap *
mf_http_snap_new(void)
{
	MfHttpSnap *s = calloc(1, sizeof(MfHttpSnap));

	if (s == NULL)
		return NULL;
	s->names = json_array();
	if (s->names == NULL)
	{
		free(s);
		return NULL;
	}
	return s;
}

/* Free a description. */
void
mf_http_snap_free(MfHttpSnap *s)
{
	if (s == NULL)
		return;
	json_decref(s->names);
	free(s->arts);
	free(s->art_lens);
	free(s);
}

/* The JSON of a policy. */
static json_t *
mf_http_policy_json(const MfServePolicy *p)
{
	json_t	   *o = mf_json_object_new();
	json_t	   *split = json_array();

	if (o == NULL || split == NULL)
	{
		json_decref(o);
		json_decref(split);
		return NULL;
	}
	for (int i = 0; i < p->n_split && i < MF_SERVE_MAX_SPLIT; i++)
		json_array_append_new(split, json_pack("[If]", (json_int_t) p->split[i].number, p->split[i].weight));
	json_object_set_new(o, "bearer_hash", p->bearer_hash ? json_string(p->bearer_hash) : json_null());
	json_object_set_new(o, "requests_per_minute", json_integer(p->requests_per_minute));
	json_object_set_new(o, "max_batch", json_integer(p->max_batch));
	json_object_set_new(o, "default_number", json_integer(p->default_number));
	json_object_set_new(o, "split", split);
	json_object_set_new(o, "log_predictions", json_boolean(p->log_predictions));
	json_object_set_new(o, "deployment_id", json_integer(p->deployment_id));
	json_object_set_new(o, "log_id_field", json_string(p->log_id_field));
	return o;
}

/* Add a served name with its policy. */
bool
mf_http_snap_add_name(MfHttpSnap *s, const char *name, const MfServePolicy *p)
{
	json_t	   *o = mf_json_object_new();
	json_t	   *versions = json_array();
	json_t	   *policy = mf_http_policy_json(p);

	if (o == NULL || versions == NULL || policy == NULL || name == NULL)
	{
		json_decref(o);
		json_decref(versions);
		json_decref(policy);
		return false;
	}
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "policy", policy);
	json_object_set_new(o, "versions", versions);
	s->current = versions;
	return json_array_append_new(s->names, o) == 0;
}

/* Add a version (its artifact by reference) to the name added last. */
bool
mf_http_snap_add_version(MfHttpSnap *s, const MfServeVersionSpec *v, const char *sha256)
{
	json_t	   *o;
	json_t	   *labels;

	if (s->current == NULL || v->semver == NULL || v->artifact == NULL)
		return false;
	if (s->n_arts == s->cap)
	{
		int			cap = s->cap ? s->cap * 2 : 8;
		const void **arts = realloc(s->arts, sizeof(void *) * cap);
		size_t	   *lens;

		if (arts == NULL)
			return false;
		s->arts = arts;
		lens = realloc(s->art_lens, sizeof(size_t) * cap);
		if (lens == NULL)
			return false;
		s->art_lens = lens;
		s->cap = cap;
	}
	labels = json_array();
	o = mf_json_object_new();
	if (labels == NULL || o == NULL)
	{
		json_decref(labels);
		json_decref(o);
		return false;
	}
	for (int i = 0; i < v->n_labels; i++)
		json_array_append_new(labels, json_string(v->labels[i]));
	json_object_set_new(o, "semver", json_string(v->semver));
	json_object_set_new(o, "number", json_integer(v->number));
	json_object_set_new(o, "labels", labels);
	json_object_set_new(o, "trained_at", v->trained_at ? json_string(v->trained_at) : json_null());
	json_object_set_new(o, "sha256", json_string(sha256 ? sha256 : ""));
	json_object_set_new(o, "artifact", json_integer(s->n_arts));
	s->arts[s->n_arts] = v->artifact;
	s->art_lens[s->n_arts] = v->artifact_len;
	s->n_arts++;
	s->n_versions++;
	return json_array_append_new(s->current, o) == 0;
}

/* Served names described. */
int
mf_http_snap_names(const MfHttpSnap *s)
{
	return (int) json_array_size(s->names);
}

/* Versions described. */
int
mf_http_snap_versions(const MfHttpSnap *s)
{
	return s->n_versions;
}

/* Free what jansson allocated (mf_core routes jansson through palloc, the serving processes do not). */
static void
mf_http_json_free(void *p)
{
	json_free_t f = NULL;

	json_get_alloc_funcs(NULL, &f);
	if (f != NULL)
		f(p);
}

/* write() all of buf. */
static bool
mf_http_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0)
	{
		ssize_t		n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t) n;
	}
	return true;
}

/* Bytes of padding after len to reach a multiple of 8. */
static size_t
mf_http_pad8(size_t len)
{
	return (8 - len % 8) % 8;
}

/* Write the blob to fd. */
bool
mf_http_snap_write(const MfHttpSnap *s, int fd)
{
	static const char zeros[8] = {0};
	json_t	   *hdr = mf_json_object_new();
	json_t	   *arts = json_array();
	char	   *text;
	uint64_t	hlen;
	size_t		off = 0;
	bool		ok;

	if (hdr == NULL || arts == NULL)
	{
		json_decref(hdr);
		json_decref(arts);
		errno = ENOMEM;
		return false;
	}
	for (int i = 0; i < s->n_arts; i++)
	{
		json_array_append_new(arts, json_pack("[II]", (json_int_t) off, (json_int_t) s->art_lens[i]));
		off += s->art_lens[i] + mf_http_pad8(s->art_lens[i]);
	}
	json_object_set(hdr, "names", s->names);
	json_object_set_new(hdr, "artifacts", arts);
	text = json_dumps(hdr, JSON_COMPACT);
	json_decref(hdr);
	if (text == NULL)
	{
		errno = ENOMEM;
		return false;
	}
	hlen = strlen(text);
	ok = mf_http_write_all(fd, MF_HTTP_SNAP_MAGIC, 8) &&
		mf_http_write_all(fd, &hlen, sizeof(hlen)) &&
		mf_http_write_all(fd, text, hlen) &&
		mf_http_write_all(fd, zeros, mf_http_pad8(hlen));
	mf_http_json_free(text);
	for (int i = 0; ok && i < s->n_arts; i++)
		ok = mf_http_write_all(fd, s->arts[i], s->art_lens[i]) &&
			mf_http_write_all(fd, zeros, mf_http_pad8(s->art_lens[i]));
	return ok;
}

/* ------------------------------------------------------------ reading */

/* The prediction log members of a policy object into p; false when malformed. */
static bool
mf_http_policy_read_log(json_t *o, MfServePolicy *p)
{
	json_t	   *on = json_object_get(o, "log_predictions");
	json_t	   *id = json_object_get(o, "deployment_id");
	json_t	   *field = json_object_get(o, "log_id_field");

	if (!json_is_boolean(on) || !json_is_integer(id) || !json_is_string(field) ||
		json_string_length(field) >= sizeof(p->log_id_field))
		return false;
	p->log_predictions = json_is_true(on);
	p->deployment_id = json_integer_value(id);
	memcpy(p->log_id_field, json_string_value(field), json_string_length(field) + 1);
	return true;
}

/* Read a policy object into p (strings borrowed from the JSON); false when malformed. */
static bool
mf_http_policy_read(json_t *o, MfServePolicy *p)
{
	json_t	   *bearer = json_object_get(o, "bearer_hash");
	json_t	   *split = json_object_get(o, "split");
	size_t		i;
	json_t	   *e;

	memset(p, 0, sizeof(*p));
	if (!json_is_object(o) || !json_is_integer(json_object_get(o, "requests_per_minute")) ||
		!json_is_integer(json_object_get(o, "max_batch")) ||
		!json_is_integer(json_object_get(o, "default_number")) ||
		!json_is_array(split) || json_array_size(split) > MF_SERVE_MAX_SPLIT ||
		!(json_is_null(bearer) || json_is_string(bearer)))
		return false;
	p->bearer_hash = json_is_string(bearer) ? json_string_value(bearer) : NULL;
	p->requests_per_minute = (int) json_integer_value(json_object_get(o, "requests_per_minute"));
	p->max_batch = (int) json_integer_value(json_object_get(o, "max_batch"));
	p->default_number = json_integer_value(json_object_get(o, "default_number"));
	if (!mf_http_policy_read_log(o, p))
		return false;
	json_array_foreach(split, i, e)
	{
		if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_integer(json_array_get(e, 0)) ||
			!json_is_number(json_array_get(e, 1)))
			return false;
		p->split[i].number = json_integer_value(json_array_get(e, 0));
		p->split[i].weight = json_number_value(json_array_get(e, 1));
	}
	p->n_split = (int) json_array_size(split);
	return true;
}

/* Add one version object to the builder; false with err set. */
static bool
mf_http_version_read(MfServeCatalogBuilder *b, const char *name, json_t *v, json_t *arts,
					 const char *data, size_t data_len, char *err, size_t errlen)
{
	const char *labels[MF_SERVE_MAX_LABELS];
	json_t	   *jl = json_object_get(v, "labels");
	json_t	   *ta = json_object_get(v, "trained_at");
	json_t	   *art;
	MfServeVersionSpec spec;
	json_int_t	idx,
				off,
				len;
	size_t		i;
	json_t	   *e;

	if (!json_is_string(json_object_get(v, "semver")) || !json_is_integer(json_object_get(v, "number")) ||
		!json_is_array(jl) || json_array_size(jl) > MF_SERVE_MAX_LABELS ||
		!json_is_integer(json_object_get(v, "artifact")))
	{
		snprintf(err, errlen, "snapshot: a version of \"%s\" is malformed", name);
		return false;
	}
	idx = json_integer_value(json_object_get(v, "artifact"));
	art = json_array_get(arts, idx < 0 ? (size_t) -1 : (size_t) idx);
	if (!json_is_array(art) || !json_is_integer(json_array_get(art, 0)) || !json_is_integer(json_array_get(art, 1)))
	{
		snprintf(err, errlen, "snapshot: a version of \"%s\" names no artifact", name);
		return false;
	}
	off = json_integer_value(json_array_get(art, 0));
	len = json_integer_value(json_array_get(art, 1));
	if (off < 0 || len < 0 || (uint64_t) off > data_len || (uint64_t) len > data_len - (uint64_t) off || off % 8 != 0)
	{
		snprintf(err, errlen, "snapshot: an artifact of \"%s\" lies outside the blob", name);
		return false;
	}
	json_array_foreach(jl, i, e)
	{
		if (!json_is_string(e))
		{
			snprintf(err, errlen, "snapshot: a label of \"%s\" is not a string", name);
			return false;
		}
		labels[i] = json_string_value(e);
	}
	memset(&spec, 0, sizeof(spec));
	spec.semver = json_string_value(json_object_get(v, "semver"));
	spec.number = json_integer_value(json_object_get(v, "number"));
	spec.labels = labels;
	spec.n_labels = (int) json_array_size(jl);
	spec.trained_at = json_is_string(ta) ? json_string_value(ta) : NULL;
	spec.artifact = data + off;
	spec.artifact_len = (size_t) len;
	return mf_serve_builder_add_version(b, name, &spec, err, errlen);
}

/* Add every name of the header to the builder; false with err set. */
static bool
mf_http_names_read(MfServeCatalogBuilder *b, json_t *hdr, const char *data, size_t data_len,
				   char *err, size_t errlen)
{
	json_t	   *names = json_object_get(hdr, "names");
	json_t	   *arts = json_object_get(hdr, "artifacts");
	size_t		i,
				j;
	json_t	   *n,
			   *v;

	if (!json_is_array(names) || !json_is_array(arts))
	{
		snprintf(err, errlen, "snapshot: the header lacks names or artifacts");
		return false;
	}
	json_array_foreach(names, i, n)
	{
		const char *name = json_string_value(json_object_get(n, "name"));
		json_t	   *versions = json_object_get(n, "versions");
		MfServePolicy policy;

		if (name == NULL || !json_is_array(versions) ||
			!mf_http_policy_read(json_object_get(n, "policy"), &policy))
		{
			snprintf(err, errlen, "snapshot: served name %zu is malformed", i);
			return false;
		}
		json_array_foreach(versions, j, v)
		{
			if (!mf_http_version_read(b, name, v, arts, data, data_len, err, errlen))
				return false;
		}
		if (!mf_serve_builder_set_policy(b, name, &policy, err, errlen))
			return false;
	}
	return true;
}

/* Build a serving catalog from a blob. */
MfServeCatalog *
mf_http_snap_load(const void *blob, size_t len, char *err, size_t errlen)
{
	const char *p = blob;
	uint64_t	hlen;
	size_t		data_off;
	json_t	   *hdr;
	json_error_t jerr;
	MfServeCatalogBuilder *b;
	bool		ok;

	if (len < 16 || memcmp(p, MF_HTTP_SNAP_MAGIC, 8) != 0)
	{
		snprintf(err, errlen, "snapshot: not a snapshot blob");
		return NULL;
	}
	memcpy(&hlen, p + 8, sizeof(hlen));
	if (hlen > len - 16)
	{
		snprintf(err, errlen, "snapshot: the header overruns the blob");
		return NULL;
	}
	data_off = 16 + (size_t) hlen + mf_http_pad8((size_t) hlen);
	if (data_off > len)
	{
		snprintf(err, errlen, "snapshot: the header overruns the blob");
		return NULL;
	}
	hdr = json_loadb(p + 16, (size_t) hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (hdr == NULL)
	{
		snprintf(err, errlen, "snapshot: header: %s", jerr.text);
		return NULL;
	}
	b = mf_serve_builder_new();
	if (b == NULL)
	{
		json_decref(hdr);
		snprintf(err, errlen, "snapshot: out of memory");
		return NULL;
	}
	ok = mf_http_names_read(b, hdr, p + data_off, len - data_off, err, errlen);
	json_decref(hdr);
	if (!ok)
	{
		mf_serve_builder_discard(b);
		return NULL;
	}
	return mf_serve_builder_finish(b, err, errlen);
}
