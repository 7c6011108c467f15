/*
 * model_dir.c - a catalog from a served model directory (TensorFlow
 * Serving's layout, written by mf_export_model):
 *
 *   <base>/<name>/<n>/model.mfa      the artifact (mf.artifacts.bytes)
 *   <base>/<name>/<n>/serving.json   {"format": "mf-serving/1", "name",
 *                                     "version", "version_number": n,
 *                                     "family", "labels", "artifact",
 *                                     "artifact_sha256", "trained_at"}
 *
 * <name> is the served name; <n> (digits) the TF-Serving version number,
 * which serving.json must repeat.  Each version directory is checked on
 * its own: serving.json's members (types, semver, the artifact a plain
 * file name in the directory), the artifact's sha256 and its family; a
 * directory that fails is skipped with a warning naming the file and the
 * member, and the others are served.  Hidden entries (".tmp" while a
 * writer copies) are ignored, so a writer can rename a finished version
 * into place.
 */
#include "serve_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MF_DIR_MAX_JSON		(64 * 1024)
#define MF_DIR_MAX_ARTIFACT	((size_t) 1 << 31)
#define MF_DIR_PATH			4096

/* What one version directory says, and its artifact bytes. */
typedef struct MfDirVersion
{
	json_t	   *json;
	const char *labels[MF_SERVE_MAX_LABELS];
	int			n_labels;
	void	   *bytes;
	size_t		len;
} MfDirVersion;

/* Warn about a skipped version directory. */
static void
__attribute__((format(printf, 3, 4)))
MfDirWarn(MfServeWarnFn warn, void *arg, const char *fmt,...)
{
	char		msg[1024];
	va_list		ap;

	if (warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warn(arg, msg);
}

/* Join a and b with '/' into out; false when it does not fit. */
static bool
MfDirJoin(char *out, size_t len, const char *a, const char *b)
{
	int			n = snprintf(out, len, "%s/%s", a, b);

	return n >= 0 && (size_t) n < len;
}

/* Read a regular file of at most max bytes into an 8-byte aligned buffer. */
static void *
MfDirRead(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char	   *buf;
	size_t		got = 0;

	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t) st.st_size > max)
	{
		snprintf(err, errlen, "%s", fd < 0 ? strerror(errno) :
				 (size_t) st.st_size > max ? "the file is too large" : "not a regular file");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = aligned_alloc(8, ((size_t) st.st_size + 8) & ~(size_t) 7);
	while (buf != NULL && got < (size_t) st.st_size)
	{
		ssize_t		n = read(fd, buf + got, (size_t) st.st_size - got);

		if (n <= 0)
		{
			snprintf(err, errlen, "read failed: %s", n < 0 ? strerror(errno) : "file shrank");
			free(buf);
			buf = NULL;
		}
		else
			got += (size_t) n;
	}
	if (buf == NULL && got == 0 && st.st_size > 0)
		snprintf(err, errlen, "out of memory or read failed");
	close(fd);
	*len = got;
	return buf;
}

/* True when hex (64 lowercase digits) is the sha256 of the bytes. */
static bool
MfDirSha256Ok(const void *bytes, size_t len, const char *hex)
{
	unsigned char d[32];
	unsigned int n = 0;
	char		mine[65];

	if (EVP_Digest(bytes, len, d, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return false;
	for (int i = 0; i < 32; i++)
		snprintf(mine + 2 * i, 3, "%02x", d[i]);
	return strcmp(mine, hex) == 0;
}

/* The string member key of o, or NULL. */
static const char *
MfDirString(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Check serving.json's members; false with the member at fault in err. */
static bool
MfDirCheckJson(MfDirVersion *dv, int64_t number, char *err, size_t errlen)
{
	json_t	   *o = dv->json,
			   *labels = json_object_get(o, "labels"),
			   *num = json_object_get(o, "version_number");
	const char *art = MfDirString(o, "artifact"),
			   *sha = MfDirString(o, "artifact_sha256");
	size_t		i;
	json_t	   *l;

	if (!json_is_object(o) || !MfDirString(o, "format") || strcmp(MfDirString(o, "format"), "mf-serving/1") != 0)
		return mf_serve_fail(err, errlen, "\"format\" must be \"mf-serving/1\"");
	if (!MfDirString(o, "name") || MfDirString(o, "name")[0] == '\0')
		return mf_serve_fail(err, errlen, "\"name\" must be a non-empty string");
	if (!mf_serve_semver_ok(MfDirString(o, "version")))
		return mf_serve_fail(err, errlen, "\"version\" must be a semver MAJOR.MINOR.PATCH");
	if (!json_is_integer(num) || json_integer_value(num) != number)
		return mf_serve_fail(err, errlen, "\"version_number\" must be %lld, the directory's number", (long long) number);
	if (!MfDirString(o, "family"))
		return mf_serve_fail(err, errlen, "\"family\" must be a string");
	if (labels != NULL && (!json_is_array(labels) || json_array_size(labels) > MF_SERVE_MAX_LABELS))
		return mf_serve_fail(err, errlen, "\"labels\" must be a list of at most %d strings", MF_SERVE_MAX_LABELS);
	json_array_foreach(labels, i, l)
	{
		if (!mf_serve_name_ok(json_string_value(l)))
			return mf_serve_fail(err, errlen, "\"labels\"[%zu] must be a label (letters, digits, '_', '-', '.')", i);
		dv->labels[dv->n_labels++] = json_string_value(l);
	}
	if (art == NULL || art[0] == '\0' || art[0] == '.' || strchr(art, '/') != NULL)
		return mf_serve_fail(err, errlen, "\"artifact\" must be a file name in the version directory");
	if (sha == NULL || strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64)
		return mf_serve_fail(err, errlen, "\"artifact_sha256\" must be 64 lowercase hex digits");
	if (json_object_get(o, "trained_at") != NULL && !json_is_string(json_object_get(o, "trained_at")))
		return mf_serve_fail(err, errlen, "\"trained_at\" must be a string");
	return true;
}

/* Read and check one version directory and add it to b; false with err. */
static bool
MfDirVersionLoad(MfServeCatalogBuilder *b, const char *dir, const char *name, int64_t number,
				 char *err, size_t errlen)
{
	MfDirVersion dv = {0};
	char		path[MF_DIR_PATH];
	char		why[256] = "";
	size_t		len;
	void	   *text;
	json_error_t jerr;
	MfArtifactView view;
	bool		ok = false;

	if (!MfDirJoin(path, sizeof(path), dir, "serving.json"))
		return mf_serve_fail(err, errlen, "path too long");
	text = MfDirRead(path, MF_DIR_MAX_JSON, &len, why, sizeof(why));
	if (text == NULL)
		return mf_serve_fail(err, errlen, "%s: %s", path, why);
	dv.json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (dv.json == NULL)
		return mf_serve_fail(err, errlen, "%s: not JSON: %s", path, jerr.text);
	if (!MfDirCheckJson(&dv, number, why, sizeof(why)))
		mf_serve_fail(err, errlen, "%s: %s", path, why);
	else if (!MfDirJoin(path, sizeof(path), dir, MfDirString(dv.json, "artifact")))
		mf_serve_fail(err, errlen, "%s: path too long", dir);
	else if ((dv.bytes = MfDirRead(path, MF_DIR_MAX_ARTIFACT, &dv.len, why, sizeof(why))) == NULL)
		mf_serve_fail(err, errlen, "%s: %s", path, why);
	else if (!MfDirSha256Ok(dv.bytes, dv.len, MfDirString(dv.json, "artifact_sha256")))
		mf_serve_fail(err, errlen, "%s: its sha256 differs from \"artifact_sha256\" of serving.json", path);
	else if (mf_artifact_open(dv.bytes, dv.len, &view, why, sizeof(why)) != MF_ART_OK)
		mf_serve_fail(err, errlen, "%s: %s", path, why);
	else if (mf_artifact_family_name(view.family) == NULL ||
			 strcmp(mf_artifact_family_name(view.family), MfDirString(dv.json, "family")) != 0)
		mf_serve_fail(err, errlen, "%s: \"family\" of serving.json says %s, the artifact holds a %s model",
				 dir, MfDirString(dv.json, "family"),
				 mf_artifact_family_name(view.family) ? mf_artifact_family_name(view.family) : "unknown");
	else
	{
		MfServeVersionSpec spec = {MfDirString(dv.json, "version"), number, dv.labels, dv.n_labels,
		MfDirString(dv.json, "trained_at"), dv.bytes, dv.len};

		ok = mf_serve_builder_add_version(b, name, &spec, err, errlen);
	}
	free(dv.bytes);
	json_decref(dv.json);
	return ok;
}

/* The number of a version directory name (digits, no sign), or 0. */
static int64_t
MfDirNumber(const char *s)
{
	int64_t		v = 0;

	if (*s == '\0' || strlen(s) > 18)
		return 0;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9')
			return 0;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/* Add every version of one served name; the count added. */
static int
MfDirName(MfServeCatalogBuilder *b, const char *base, const char *name, MfServeWarnFn warn, void *arg)
{
	char		dir[MF_DIR_PATH],
				vdir[MF_DIR_PATH],
				err[1024];
	DIR		   *d;
	struct dirent *de;
	int			added = 0;

	if (!MfDirJoin(dir, sizeof(dir), base, name) || (d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
	{
		int64_t		number = MfDirNumber(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		if (number < 1)
		{
			MfDirWarn(warn, arg, "%s/%s skipped: a version directory is named by its number (1, 2, ...)",
					  dir, de->d_name);
			continue;
		}
		if (MfDirJoin(vdir, sizeof(vdir), dir, de->d_name) &&
			MfDirVersionLoad(b, vdir, name, number, err, sizeof(err)))
			added++;
		else
			MfDirWarn(warn, arg, "version %lld of \"%s\" skipped: %s", (long long) number, name, err);
	}
	closedir(d);
	return added;
}

/* Build a catalog from a served model directory. */
MfServeCatalog *
mf_serve_model_dir_load(const char *base, const MfServePolicy *defaults, MfServeWarnFn warn,
						void *warn_arg, char *err, size_t errlen)
{
	MfServeCatalogBuilder *b;
	DIR		   *d = opendir(base);
	struct dirent *de;
	struct stat st;
	char		path[MF_DIR_PATH];

	if (d == NULL)
	{
		snprintf(err, errlen, "cannot read model directory \"%s\": %s", base, strerror(errno));
		return NULL;
	}
	if ((b = mf_serve_builder_new()) == NULL)
	{
		closedir(d);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	while ((de = readdir(d)) != NULL)
	{
		if (de->d_name[0] == '.')
			continue;
		if (!MfDirJoin(path, sizeof(path), base, de->d_name) || stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		if (!mf_serve_name_ok(de->d_name))
		{
			MfDirWarn(warn, warn_arg, "%s skipped: a served name is 1 to 127 letters, digits, '_', '-' or '.'", path);
			continue;
		}
		if (MfDirName(b, base, de->d_name, warn, warn_arg) > 0 && defaults != NULL &&
			!mf_serve_builder_set_policy(b, de->d_name, defaults, err, errlen))
		{
			closedir(d);
			mf_serve_builder_discard(b);
			return NULL;
		}
	}
	closedir(d);
	return mf_serve_builder_finish(b, err, errlen);
}

/* ------------------------------------------------------------ fingerprint */

/* A growing list of lines. */
typedef struct MfLines
{
	char	  **v;
	size_t		n;
	size_t		cap;
} MfLines;

/* Append "path size mtime" of a file or directory to lines. */
static void
MfLinesStat(MfLines *l, const char *path)
{
	struct stat st;
	char		line[MF_DIR_PATH + 64];

	if (stat(path, &st) != 0)
		return;
	snprintf(line, sizeof(line), "%s %lld %lld.%09ld", path, (long long) st.st_size,
			 (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	if (l->n == l->cap)
	{
		size_t		cap = l->cap ? l->cap * 2 : 64;
		char	  **v = realloc(l->v, cap * sizeof(char *));

		if (v == NULL)
			return;
		l->v = v;
		l->cap = cap;
	}
	if ((l->v[l->n] = strdup(line)) != NULL)
		l->n++;
}

/* Stat path and, to depth levels, what is under it. */
static void
MfLinesWalk(MfLines *l, const char *path, int depth)
{
	DIR		   *d;
	struct dirent *de;
	char		sub[MF_DIR_PATH];

	MfLinesStat(l, path);
	if (depth == 0 || (d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		if (de->d_name[0] == '.')
			continue;
		if (MfDirJoin(sub, sizeof(sub), path, de->d_name))
			MfLinesWalk(l, sub, depth - 1);
	}
	closedir(d);
}

/* Order of lines. */
static int
MfLinesCmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* A text that changes whenever a file of the layout changes. */
char *
mf_serve_model_dir_fingerprint(const char *base)
{
	MfLines		l = {0};
	size_t		total = 1,
				o = 0;
	char	   *out;
	struct stat st;

	if (stat(base, &st) != 0 || !S_ISDIR(st.st_mode))
		return NULL;
	MfLinesWalk(&l, base, 3);
	if (l.n > 0)
		qsort(l.v, l.n, sizeof(char *), MfLinesCmp);
	for (size_t i = 0; i < l.n; i++)
		total += strlen(l.v[i]) + 1;
	out = malloc(total);
	for (size_t i = 0; i < l.n; i++)
	{
		if (out != NULL)
			o += (size_t) sprintf(out + o, "%s\n", l.v[i]);
		free(l.v[i]);
	}
	if (out != NULL)
		out[o] = '\0';
	free(l.v);
	return out;
}
