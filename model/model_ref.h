/*
 * model_ref.h - the grammar of model references and the rule that picks
 * the version a reference names.
 *
 * Pure C11; knows nothing of PostgreSQL.  The one owner of:
 *   - model, alias and stage names: ^[a-z][a-z0-9_]{0,62}$;
 *   - the stages: development, staging, production, archived;
 *   - references: 'name' (the production version if any, else the newest),
 *     'name:<version>' (any text without ':' or '@'), 'name@<stage>' (the
 *     newest version in that stage) and 'name@<alias>';
 *   - which version a bare name or a stage picks among a model's versions.
 * src/resolve.c runs it against the catalog (mf._resolve, prediction);
 * a server reading a model directory can run it against the labels there.
 * ("Did you mean" hints use the config library's MfSuggest.)
 *
 * Design note
 * -----------
 * Parsing allocates nothing: an MfModelRef points into the caller's bytes
 * (which need not be NUL-terminated).  Selection is a fold: the caller
 * offers each version of the model (mf_model_ref_offer) and keeps the one
 * the rule prefers, so any storage (an index scan, a directory listing)
 * can feed it in any order.  Version strings and aliases are looked up by
 * the caller, which has them indexed.
 */
#ifndef MF_MODEL_REF_H
#define MF_MODEL_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MF_NAME_MAX 63			/* longest model, alias or stage name */

/* What a reference names. */
typedef enum MfRefKind
{
	MF_REF_LATEST = 0,			/* 'name' */
	MF_REF_VERSION,				/* 'name:1.2.0' */
	MF_REF_STAGE,				/* 'name@production' */
	MF_REF_ALIAS				/* 'name@champion' */
} MfRefKind;

/* A parsed reference; name and label point into the parsed bytes. */
typedef struct MfModelRef
{
	MfRefKind	kind;
	const char *name;
	size_t		name_len;
	const char *label;			/* version, stage or alias; NULL for LATEST */
	size_t		label_len;
} MfModelRef;

/* The version the selection rule prefers so far. */
typedef struct MfRefCandidate
{
	int64_t		version_id;		/* increasing in creation order; -1: none */
	bool		production;		/* its stage is production */
} MfRefCandidate;

/* The stages, in lifecycle order, NULL-terminated. */
extern const char *const mf_model_stages[];

/* True for ^[a-z][a-z0-9_]{0,62}$ (s[0..len)). */
extern bool mf_model_name_valid(const char *s, size_t len);

/* Index of a stage name in mf_model_stages, or -1. */
extern int	mf_model_stage_index(const char *s, size_t len);

/* Parse s[0..len) into *ref; false when it is not a reference. */
extern bool mf_model_ref_parse(const char *s, size_t len, MfModelRef *ref);

/*
 * For a reference that does not parse: the lowercase form in buf (size
 * len + 1) when that one parses (e.g. 'Churn@Staging'); false otherwise.
 */
extern bool mf_model_ref_lowercase_fix(const char *s, size_t len, char *buf);

/*
 * Offer one version of the model to a LATEST or STAGE reference: true when
 * it is now the best (*best updated; the caller keeps what else it needs
 * of that version).  *best starts as {-1, false}: none yet.
 */
extern bool mf_model_ref_offer(const MfModelRef *ref, MfRefCandidate *best,
							   int64_t version_id, const char *stage);

#endif							/* MF_MODEL_REF_H */
