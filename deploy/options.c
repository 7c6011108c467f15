/*
 * options.c - reading the options of a manifest: typed getters that name
 * the option's path when they refuse, and the checks of Kubernetes names,
 * quantities and image references.  Pure C on jansson.
 */
#include "manifest.h"

#include <ctype.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Set err for the option at path.key; returns false. */
bool
mf_opt_fail(MfManifestError *err, const char *path, const char *key, const char *fmt,...)
{
	va_list		ap;

	if (path != NULL && path[0] != '\0' && key != NULL)
		snprintf(err->path, sizeof(err->path), "%s.%s", path, key);
	else
		snprintf(err->path, sizeof(err->path), "%s", key != NULL ? key : (path != NULL ? path : ""));
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return false;
}

/* Is key one of allowed? */
static bool
MfKeyAllowed(const char *key, const char *const *allowed)
{
	for (int i = 0; allowed[i] != NULL; i++)
		if (strcmp(key, allowed[i]) == 0)
			return true;
	return false;
}

/* Refuse keys of obj not in allowed. */
bool
mf_opt_keys(const json_t *obj, const char *path, const char *const *allowed, MfManifestError *err)
{
	const char *key;
	json_t	   *v;
	char		list[256] = "";

	json_object_foreach((json_t *) obj, key, v)
	{
		if (MfKeyAllowed(key, allowed))
			continue;
		for (int i = 0; allowed[i] != NULL; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i > 0 ? ", " : "", allowed[i]);
		return mf_opt_fail(err, path, key, "unknown option; the known ones are %s", list);
	}
	return true;
}

/* obj[key] as an object (absent: a new empty one). */
json_t *
mf_opt_object(const json_t *obj, const char *path, const char *key, MfManifestError *err)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return json_pack("{}");
	if (!json_is_object(v))
	{
		mf_opt_fail(err, path, key, "must be a JSON object");
		return NULL;
	}
	return json_incref(v);
}

/* obj[key] as an integer in [min, max]. */
bool
mf_opt_int(const json_t *obj, const char *path, const char *key, long long min, long long max,
		   long long def, long long *out, MfManifestError *err)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
	{
		*out = def;
		return true;
	}
	if (!json_is_integer(v))
		return mf_opt_fail(err, path, key, "must be an integer between %lld and %lld", min, max);
	*out = json_integer_value(v);
	if (*out < min || *out > max)
		return mf_opt_fail(err, path, key, "must be between %lld and %lld, not %lld", min, max, *out);
	return true;
}

/* obj[key] as a boolean. */
bool
mf_opt_bool(const json_t *obj, const char *path, const char *key, bool def, bool *out, MfManifestError *err)
{
	json_t	   *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
	{
		*out = def;
		return true;
	}
	if (!json_is_boolean(v))
		return mf_opt_fail(err, path, key, "must be true or false");
	*out = json_is_true(v);
	return true;
}

/* obj[key] as a string passing check. */
bool
mf_opt_string(const json_t *obj, const char *path, const char *key, const char *def,
			  MfOptCheck check, const char **out, MfManifestError *err)
{
	json_t	   *v = json_object_get(obj, key);
	const char *why;

	if (v == NULL || json_is_null(v))
	{
		*out = def;
		return true;
	}
	if (!json_is_string(v))
		return mf_opt_fail(err, path, key, "must be a string");
	*out = json_string_value(v);
	if (strlen(*out) != json_string_length(v))
		return mf_opt_fail(err, path, key, "must not contain NUL characters");
	if (check != NULL && (why = check(*out)) != NULL)
		return mf_opt_fail(err, path, key, "\"%.100s\" is not valid: %s", *out, why);
	return true;
}

/* Does s match the extended regular expression re (whole string)? */
static bool
MfMatches(const char *s, const char *re)
{
	regex_t		r;
	bool		ok;

	if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	ok = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

/* True when s is a valid DNS-1123 label. */
bool
mf_is_dns1123_label(const char *s)
{
	return strlen(s) <= MF_DNS1123_LABEL_MAX && MfMatches(s, "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
}

/* Check: a DNS-1123 label. */
const char *
mf_check_dns1123_label(const char *s)
{
	return mf_is_dns1123_label(s) ? NULL
		: "it must be a DNS-1123 label: at most 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit";
}

/* Check: a DNS-1123 subdomain (Secret names). */
const char *
mf_check_dns1123_subdomain(const char *s)
{
	return strlen(s) <= 253 && MfMatches(s, "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$") ? NULL
		: "it must be a DNS-1123 subdomain: at most 253 characters of a-z, 0-9, '-' and '.'";
}

/* Check: a Kubernetes resource quantity ("250m", "1", "0.5", "512Mi", "1G"). */
const char *
mf_check_quantity(const char *s)
{
	return strlen(s) <= 32 && MfMatches(s, "^([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][-+]?[0-9]+)?$")
		? NULL : "it must be a Kubernetes quantity such as \"250m\", \"1\", \"512Mi\" or \"2Gi\"";
}

/* True when s is an image reference by digest (host/path@sha256:<64 hex>). */
bool
mf_image_by_digest(const char *s)
{
	return s != NULL && strlen(s) < 512 &&
		MfMatches(s, "^[A-Za-z0-9][-A-Za-z0-9.]*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)+@sha256:[0-9a-f]{64}$");
}

/* Sanitise text into a DNS-1123 label. */
void
mf_dns1123_label(const char *in, char *out, size_t outlen)
{
	size_t		n = 0;
	size_t		max = outlen - 1 < MF_DNS1123_LABEL_MAX ? outlen - 1 : MF_DNS1123_LABEL_MAX;

	for (const char *p = in; *p != '\0' && n < max; p++)
	{
		char		c = (char) tolower((unsigned char) *p);

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			c = '-';
		if (c == '-' && (n == 0 || out[n - 1] == '-'))
			continue;			/* no leading or doubled dashes */
		out[n++] = c;
	}
	while (n > 0 && out[n - 1] == '-')
		n--;
	out[n] = '\0';
}

/* Free text that jansson allocated, with jansson's own free. */
void
mf_json_text_free(void *text)
{
	json_free_t f = NULL;

	json_get_alloc_funcs(NULL, &f);
	if (text != NULL && f != NULL)
		f(text);
}
