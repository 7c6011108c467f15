/*
 * config_update.c - merging an update (JSON merge patch) into a config.
 *
 * Design: normalisation expands transformer shorthands into the stacks:
 * stack keys at model level, global_config, the model section, the custom
 * form's "config" (normalization -> use_rezero / use_scalenorm),
 * layers.transformer and layers.embedding.embed_dim (-> d_model); a key in
 * the stack's own object wins (config_transformer.c, layer 5).  A stored
 * config is normalised, so its stacks hold every key, and a plain RFC 7386
 * merge of {"dropout": 0.05} over it would leave encoder.dropout in place:
 * the update would vanish.
 *
 * mf_config_merge_patch therefore merges as RFC 7386 and then, for every
 * shorthand key the PATCH gives, removes that key from each stack object of
 * the result, unless the patch itself sets the key in that stack.  The
 * shorthand then reaches the stack through normalisation, where creation
 * put the same key, and a bad value is reported at the path the user wrote
 * ($.dropout, $.global_config.dropout), never silently dropped.  A null
 * shorthand removes the key from the stacks too (back to the default).
 * Configs without stacks merge exactly as RFC 7386.
 */
#include <string.h>

#include "config_int.h"

static const char *const Stacks[] = {"encoder", "decoder", NULL};

/* Add the stack keys set in obj (when an object) to the set keys. */
static void
CollectStackKeys(const json_t *obj, json_t *keys)
{
	int			i;

	if (!json_is_object(obj))
		return;
	for (i = 0; MfStackKeys[i] != NULL; i++)
		if (json_object_get(obj, MfStackKeys[i]) != NULL)
			json_object_set_new(keys, MfStackKeys[i], json_true());
}

/*
 * The shorthand keys a (flat or model-section) patch level sets, as the
 * stack keys they expand into.
 */
static void
CollectShorthand(const json_t *level, json_t *keys)
{
	const json_t *config = json_object_get(level, "config");
	const json_t *layers = json_object_get(level, "layers");

	CollectStackKeys(level, keys);
	CollectStackKeys(json_object_get(level, "global_config"), keys);
	CollectStackKeys(config, keys);
	if (json_is_object(config) && json_object_get(config, "normalization") != NULL)
	{
		json_object_set_new(keys, "use_rezero", json_true());
		json_object_set_new(keys, "use_scalenorm", json_true());
	}
	if (!json_is_object(layers))
		return;
	CollectStackKeys(json_object_get(layers, "transformer"), keys);
	if (json_object_get(json_object_get(layers, "embedding"), "embed_dim") != NULL)
		json_object_set_new(keys, "d_model", json_true());
}

/* Remove the keys of the set from stack, except those the patch's stack sets. */
static void
ClearShadowing(json_t *stack, const json_t *keys, const json_t *patch_stack)
{
	const char *key;
	json_t	   *val;

	if (!json_is_object(stack))
		return;
	json_object_foreach((json_t *) keys, key, val)
	{
		if (json_is_object(patch_stack) && json_object_get(patch_stack, key) != NULL)
			continue;
		json_object_del(stack, key);
	}
}

/* Merge a config update (see the file header); NULL on failure. */
json_t *
mf_config_merge_patch(const json_t *target, const json_t *patch)
{
	json_t	   *merged = mf_json_merge_patch(target, patch);
	json_t	   *keys;
	const json_t *pmodel = json_object_get(patch, "model");
	json_t	   *rmodel;
	int			i;

	if (merged == NULL || !json_is_object(patch) || !json_is_object(merged))
		return merged;
	keys = mf_json_object_new();
	if (keys == NULL)
	{
		json_decref(merged);
		return NULL;
	}
	CollectShorthand(patch, keys);
	if (json_is_object(pmodel))
		CollectShorthand(pmodel, keys);
	rmodel = json_object_get(merged, "model");
	for (i = 0; Stacks[i] != NULL; i++)
	{
		const json_t *ps = json_object_get(patch, Stacks[i]);

		if (ps == NULL && json_is_object(pmodel))
			ps = json_object_get(pmodel, Stacks[i]);
		ClearShadowing(json_object_get(merged, Stacks[i]), keys, ps);
		if (json_is_object(rmodel))
			ClearShadowing(json_object_get(rmodel, Stacks[i]), keys, ps);
	}
	json_decref(keys);
	return merged;
}
