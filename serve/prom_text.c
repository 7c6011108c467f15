/*
 * prom_text.c - a reader of the Prometheus text format 0.0.4: sample lines
 * `name{label="value",...} value [timestamp]`, comments (#) and blank lines
 * (the timestamp, an integer, is read over and ignored).
 * Label values may hold \\, \" and \n escapes.  Lines are bounded (4 KB);
 * anything else is refused, never guessed.
 */
#include "prom_text.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MF_PROM_LINE 4096

/* Parse one sample line (NUL-terminated, no newline); false when malformed. */
static bool
MfPromLine(char *line, MfPromSampleFn fn, void *arg)
{
	char	   *p = line;
	char	   *name = p;
	char	   *labels = "";
	char	   *end;
	double		v;

	while (isalnum((unsigned char) *p) || *p == '_' || *p == ':')
		p++;
	if (p == name)
		return false;
	if (*p == '{')
	{
		bool		quoted = false;

		*p++ = '\0';
		labels = p;
		for (; *p && (quoted || *p != '}'); p++)
		{
			if (quoted && *p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				quoted = !quoted;
		}
		if (*p != '}')
			return false;
		*p++ = '\0';
	}
	else if (*p == ' ' || *p == '\t')
		*p++ = '\0';
	else
		return false;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, "+Inf", 4) == 0)
		v = INFINITY, end = p + 4;
	else if (strncmp(p, "-Inf", 4) == 0)
		v = -INFINITY, end = p + 4;
	else if (strncmp(p, "NaN", 3) == 0)
		v = NAN, end = p + 3;
	else
		v = strtod(p, &end);
	if (end == p || (*end != '\0' && *end != ' ' && *end != '\t'))
		return false;
	/* an optional timestamp: an integer (milliseconds), then nothing */
	p = end;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '-')
		p++;
	while (isdigit((unsigned char) *p))
		p++;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0' || (p > end && !isdigit((unsigned char) p[-1]) && !isspace((unsigned char) p[-1])))
		return false;
	fn(arg, name, labels, v);
	return true;
}

/* Call fn for every sample of text. */
int
mf_prom_parse(const char *text, size_t len, MfPromSampleFn fn, void *arg, int *bad_line)
{
	char		line[MF_PROM_LINE];
	size_t		i = 0;
	int			n = 0,
				lineno = 0;

	while (i < len)
	{
		size_t		j = i;
		size_t		l;

		while (j < len && text[j] != '\n')
			j++;
		lineno++;
		l = j - i;
		if (l > 0 && text[i + l - 1] == '\r')
			l--;
		if (l >= sizeof(line) || memchr(text + i, '\0', l) != NULL)
		{
			*bad_line = lineno;
			return -1;
		}
		memcpy(line, text + i, l);
		line[l] = '\0';
		i = j + 1;
		if (l == 0 || line[0] == '#')
			continue;
		if (!MfPromLine(line, fn, arg))
		{
			*bad_line = lineno;
			return -1;
		}
		n++;
	}
	return n;
}

/* The value of label key in a raw label text. */
bool
mf_prom_label(const char *labels, const char *key, char *out, size_t outlen)
{
	size_t		klen = strlen(key);
	const char *p = labels;

	while (*p)
	{
		const char *k = p;
		size_t		o = 0;
		bool		match;

		while (*p && *p != '=')
			p++;
		if (*p != '=' || p[1] != '"')
			return false;
		match = (size_t) (p - k) == klen && strncmp(k, key, klen) == 0;
		p += 2;
		while (*p && *p != '"')
		{
			char		c = *p;

			if (c == '\\' && p[1] != '\0')
			{
				p++;
				c = *p == 'n' ? '\n' : *p;
			}
			if (match && o + 1 < outlen)
				out[o++] = c;
			p++;
		}
		if (*p != '"')
			return false;
		p++;
		if (match)
		{
			out[o] = '\0';
			return true;
		}
		while (*p == ',' || *p == ' ')
			p++;
	}
	return false;
}
