/*
 * model_ref.c - model references: names, stages, the reference grammar
 * and the version a bare name or a stage picks (see model_ref.h).
 */
#include "model_ref.h"

#include <string.h>

const char *const mf_model_stages[] = {"development", "staging", "production", "archived", NULL};

/* True for a lowercase ASCII letter. */
static bool
RefLower(char c)
{
	return c >= 'a' && c <= 'z';
}

/* True for ^[a-z][a-z0-9_]{0,62}$ (s[0..len)). */
bool
mf_model_name_valid(const char *s, size_t len)
{
	if (s == NULL || len < 1 || len > MF_NAME_MAX || !RefLower(s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!(RefLower(s[i]) || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* Index of a stage name in mf_model_stages, or -1. */
int
mf_model_stage_index(const char *s, size_t len)
{
	for (int i = 0; mf_model_stages[i] != NULL; i++)
		if (strlen(mf_model_stages[i]) == len && memcmp(mf_model_stages[i], s, len) == 0)
			return i;
	return -1;
}

/*
 * Parse s[0..len): name, then nothing, ':' and a version (one or more
 * bytes, none of them ':' or '@'), or '@' and a stage or alias name.
 */
bool
mf_model_ref_parse(const char *s, size_t len, MfModelRef *ref)
{
	size_t		n = 0;
	const char *rest;
	size_t		rlen;

	if (s == NULL || ref == NULL)
		return false;
	while (n < len && s[n] != ':' && s[n] != '@')
		n++;
	if (!mf_model_name_valid(s, n))
		return false;
	memset(ref, 0, sizeof(*ref));
	ref->name = s;
	ref->name_len = n;
	ref->kind = MF_REF_LATEST;
	if (n == len)
		return true;
	rest = s + n + 1;
	rlen = len - n - 1;
	ref->label = rest;
	ref->label_len = rlen;
	if (s[n] == ':')
	{
		ref->kind = MF_REF_VERSION;
		/* text never holds NUL; a C caller's bytes might */
		return rlen > 0 && memchr(rest, ':', rlen) == NULL && memchr(rest, '@', rlen) == NULL &&
			memchr(rest, '\0', rlen) == NULL;
	}
	if (!mf_model_name_valid(rest, rlen))
		return false;
	ref->kind = mf_model_stage_index(rest, rlen) >= 0 ? MF_REF_STAGE : MF_REF_ALIAS;
	return true;
}

/* The lowercase form of a reference that does not parse, when that one does. */
bool
mf_model_ref_lowercase_fix(const char *s, size_t len, char *buf)
{
	MfModelRef	ref;
	bool		changed = false;

	if (s == NULL || buf == NULL || mf_model_ref_parse(s, len, &ref))
		return false;
	for (size_t i = 0; i < len; i++)
	{
		buf[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char) (s[i] + ('a' - 'A')) : s[i];
		changed |= buf[i] != s[i];
	}
	buf[len] = '\0';
	return changed && mf_model_ref_parse(buf, len, &ref);
}

/*
 * LATEST: the production version if any, else the highest version_id.
 * STAGE: the highest version_id in that stage.  Other kinds pick nothing.
 */
bool
mf_model_ref_offer(const MfModelRef *ref, MfRefCandidate *best,
				   int64_t version_id, const char *stage)
{
	bool		production;

	if (ref == NULL || best == NULL || stage == NULL)
		return false;
	production = strcmp(stage, "production") == 0;
	if (ref->kind == MF_REF_STAGE)
	{
		if (strlen(stage) != ref->label_len || memcmp(stage, ref->label, ref->label_len) != 0)
			return false;
	}
	else if (ref->kind != MF_REF_LATEST)
		return false;
	else if (best->version_id >= 0 && best->production && !production)
		return false;			/* production beats any other stage */
	else if (best->version_id >= 0 && !best->production && production)
		best->version_id = -1;	/* ... whatever its version_id */
	if (best->version_id >= 0 && version_id <= best->version_id)
		return false;
	best->version_id = version_id;
	best->production = production;
	return true;
}
