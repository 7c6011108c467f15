/*
 * test_model_ref.c - model/model_ref.c: names, stages, the reference
 * grammar, the version a bare name or a stage picks (in every order the
 * versions may come in).
 */
#include "model_ref.h"
#include "mf_test.h"

#include <stdlib.h>

/* Parse a NUL-terminated reference. */
static bool
Parse(const char *s, MfModelRef *ref)
{
	return mf_model_ref_parse(s, strlen(s), ref);
}

/* Control characters of a test name as '?', so each check stays one TAP line. */
static void
Printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s < 0x20)
			*s = '?';
}

/* A reference parses into the given kind, name and label. */
static void
CheckRef(const char *s, MfRefKind kind, const char *name, const char *label)
{
	MfModelRef	ref;
	char		what[160];
	bool		ok = Parse(s, &ref);

	snprintf(what, sizeof(what), "'%s' parses", s);
	Printable(what);
	if (!MF_OK(ok, what))
		return;
	snprintf(what, sizeof(what), "'%s': kind, name and label", s);
	Printable(what);
	MF_OK(ref.kind == kind && ref.name == s && ref.name_len == strlen(name) &&
		  memcmp(ref.name, name, ref.name_len) == 0 &&
		  (label == NULL ? ref.label == NULL :
		   ref.label_len == strlen(label) && memcmp(ref.label, label, ref.label_len) == 0), what);
}

/* A string is not a reference. */
static void
CheckBad(const char *s, size_t len, const char *why)
{
	MfModelRef	ref;
	char		what[200];

	snprintf(what, sizeof(what), "refused: %s", why);
	MF_OK(!mf_model_ref_parse(s, len, &ref), what);
}

static void
TestGrammar(void)
{
	char		longest[80];
	char		too_long[160];

	CheckRef("churn", MF_REF_LATEST, "churn", NULL);
	CheckRef("churn:1.2.0", MF_REF_VERSION, "churn", "1.2.0");
	CheckRef("churn:v1 beta", MF_REF_VERSION, "churn", "v1 beta");
	CheckRef("churn:gr\xc3\xbcn", MF_REF_VERSION, "churn", "gr\xc3\xbcn");
	CheckRef("churn:1.0.0\n", MF_REF_VERSION, "churn", "1.0.0\n");
	CheckRef("churn@staging", MF_REF_STAGE, "churn", "staging");
	CheckRef("churn@production", MF_REF_STAGE, "churn", "production");
	CheckRef("churn@development", MF_REF_STAGE, "churn", "development");
	CheckRef("churn@archived", MF_REF_STAGE, "churn", "archived");
	CheckRef("churn@champion", MF_REF_ALIAS, "churn", "champion");
	CheckRef("churn@prod", MF_REF_ALIAS, "churn", "prod");
	CheckRef("m_2@a_1", MF_REF_ALIAS, "m_2", "a_1");
	memset(longest, 'a', 63);
	longest[63] = '\0';
	CheckRef(longest, MF_REF_LATEST, longest, NULL);
	memset(too_long, 'a', 64);
	too_long[64] = '\0';
	CheckBad(too_long, 64, "a 64-byte name");
	snprintf(too_long, sizeof(too_long), "m@%s", longest);
	CheckRef(too_long, MF_REF_ALIAS, "m", longest);
	snprintf(too_long, sizeof(too_long), "m@%sa", longest);
	CheckBad(too_long, strlen(too_long), "a 64-byte alias");

	CheckBad("", 0, "the empty string");
	CheckBad("Churn", 5, "an uppercase name");
	CheckBad("9lives", 6, "a name starting with a digit");
	CheckBad("_x", 2, "a name starting with an underscore");
	CheckBad("Bad Ref", 7, "a space");
	CheckBad("churn:", 6, "an empty version");
	CheckBad("churn@", 6, "an empty label");
	CheckBad("churn:1:2", 9, "two colons");
	CheckBad("churn:1@2", 9, "'@' in a version");
	CheckBad("churn@Staging", 13, "an uppercase stage");
	CheckBad("churn@9x", 8, "an alias starting with a digit");
	CheckBad("churn@champion:1", 16, "':' after an alias");
	CheckBad(":1.0.0", 6, "no name");
	CheckBad("churn:1\0x", 9, "a NUL byte in the version");
	CheckBad("churn\0", 6, "a NUL byte after the name");
	MF_OK(!mf_model_ref_parse(NULL, 0, NULL), "NULL refused");
	/* the bytes need not be NUL-terminated */
	{
		MfModelRef	ref;

		MF_OK(mf_model_ref_parse("churn@stagingXYZ", 13, &ref) && ref.kind == MF_REF_STAGE &&
			  ref.label_len == 7, "a prefix of a longer buffer");
	}
}

static void
TestNamesAndStages(void)
{
	MF_OK(mf_model_name_valid("a", 1), "one letter is a name");
	MF_OK(mf_model_name_valid("a_9", 3), "letters, digits, underscores");
	MF_OK(!mf_model_name_valid("a-b", 3), "a hyphen is not");
	MF_OK(!mf_model_name_valid("a\xc3\xbc", 3), "non-ASCII is not");
	MF_OK(!mf_model_name_valid("ab", 0), "the empty name is not");
	for (int i = 0; mf_model_stages[i] != NULL; i++)
		MF_OK(mf_model_stage_index(mf_model_stages[i], strlen(mf_model_stages[i])) == i &&
			  mf_model_name_valid(mf_model_stages[i], strlen(mf_model_stages[i])),
			  "each stage is a name and found at its index");
	MF_OK(mf_model_stage_index("stagingx", 7) == 1, "length-bounded stage lookup");
	MF_OK(mf_model_stage_index("stage", 5) == -1, "a prefix of a stage is not one");
	MF_OK(mf_model_stage_index("Production", 10) == -1, "stages are lowercase");
}

static void
TestLowercaseFix(void)
{
	char		buf[64];

	MF_OK(mf_model_ref_lowercase_fix("Churn@Staging", 13, buf) && strcmp(buf, "churn@staging") == 0,
		  "'Churn@Staging' -> 'churn@staging'");
	MF_OK(mf_model_ref_lowercase_fix("CHURN:1.0.0-RC", 14, buf) && strcmp(buf, "churn:1.0.0-rc") == 0,
		  "the version is lowered too");
	MF_OK(!mf_model_ref_lowercase_fix("Bad Ref", 7, buf), "no fix for a space");
	MF_OK(!mf_model_ref_lowercase_fix("churn", 5, buf), "no fix for a valid reference");
	MF_OK(!mf_model_ref_lowercase_fix("churn:", 6, buf), "no fix when lowercase changes nothing");
}

/* The versions of one model: id and stage. */
typedef struct TVersion
{
	int64_t		id;
	const char *stage;
} TVersion;

/* What the rule picks when offered vs[order[0..n)] in that order. */
static int64_t
Pick(const char *refs, const TVersion *vs, const int *order, int n)
{
	MfModelRef	ref;
	MfRefCandidate best = {-1, false};
	int64_t		kept = -1;

	if (!Parse(refs, &ref))
		return -2;
	for (int i = 0; i < n; i++)
		if (mf_model_ref_offer(&ref, &best, vs[order[i]].id, vs[order[i]].stage))
			kept = vs[order[i]].id;
	return kept == best.version_id ? kept : -3;
}

/* Every order of n versions picks want; recursion over permutations. */
static bool
PickAllOrders(const char *refs, const TVersion *vs, int *order, int k, int n, int64_t want)
{
	if (k == n)
		return Pick(refs, vs, order, n) == want;
	for (int i = k; i < n; i++)
	{
		int			t = order[k];
		bool		ok;

		order[k] = order[i];
		order[i] = t;
		ok = PickAllOrders(refs, vs, order, k + 1, n, want);
		order[i] = order[k];
		order[k] = t;
		if (!ok)
			return false;
	}
	return true;
}

/* The highest id among versions (in stage, or production first when stage is NULL). */
static int64_t
Expected(const TVersion *vs, int n, const char *stage)
{
	int64_t		best = -1;

	if (stage == NULL)
	{
		best = Expected(vs, n, "production");
		if (best >= 0)
			return best;
	}
	for (int i = 0; i < n; i++)
		if ((stage == NULL || strcmp(vs[i].stage, stage) == 0) && vs[i].id > best)
			best = vs[i].id;
	return best;
}

static void
TestSelection(void)
{
	static const TVersion a[] = {{3, "development"}, {7, "production"}, {9, "staging"}, {12, "archived"},
	{15, "staging"}};
	static const TVersion b[] = {{4, "development"}, {11, "archived"}, {2, "staging"}, {8, "development"}};
	int			order[5];
	const char *refs[] = {"m", "m@production", "m@staging", "m@development", "m@archived"};
	const char *stages[] = {NULL, "production", "staging", "development", "archived"};

	for (int r = 0; r < 5; r++)
	{
		char		what[120];

		for (int i = 0; i < 5; i++)
			order[i] = i;
		snprintf(what, sizeof(what), "'%s' picks %lld from 5 versions in all 120 orders", refs[r],
				 (long long) Expected(a, 5, stages[r]));
		MF_OK(PickAllOrders(refs[r], a, order, 0, 5, Expected(a, 5, stages[r])), what);
		for (int i = 0; i < 4; i++)
			order[i] = i;
		snprintf(what, sizeof(what), "'%s' picks %lld from versions without production, in all orders",
				 refs[r], (long long) Expected(b, 4, stages[r]));
		MF_OK(PickAllOrders(refs[r], b, order, 0, 4, Expected(b, 4, stages[r])), what);
	}
	/* the written-out cases the loop above generalises */
	for (int i = 0; i < 5; i++)
		order[i] = i;
	MF_OK(Pick("m", a, order, 5) == 7, "a bare name picks the production version, not the newest");
	MF_OK(Pick("m", b, order, 4) == 11, "without production: the highest version_id, whatever its stage");
	MF_OK(Pick("m@staging", a, order, 5) == 15, "a stage: its newest version");
	MF_OK(Pick("m@production", b, order, 4) == -1, "a stage without versions picks none");
	MF_OK(Pick("m", a, order, 0) == -1, "no versions: none");
	MF_OK(Pick("m:1.0.0", a, order, 5) == -1 && Pick("m@champion", a, order, 5) == -1,
		  "versions and aliases are looked up by the caller");
}

int
main(void)
{
	TestGrammar();
	TestNamesAndStages();
	TestLowercaseFix();
	TestSelection();
	return mf_test_done();
}
