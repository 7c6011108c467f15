/*
 * oci_dpkg.c - the Debian packages of the files of a base layer, recorded
 * as distroless images record them: one stanza of /var/lib/dpkg/status per
 * package, as the file var/lib/dpkg/status.d/<package> of the layer, so a
 * scanner (syft, trivy) knows what the image holds and at which version.
 *
 * The owner of a file is found in <dpkg>/info/<package>[:<arch>].list; on a
 * merged-/usr system a list may name /lib/... for /usr/lib/..., so each
 * file is looked up under the path the loader found, its realpath, and
 * both with and without the /usr prefix.  A file no package owns (mf-serve
 * itself, a library under /usr/local) is not recorded.
 */
#include "oci_int.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MF_DPKG_ALIASES 4
#define MF_DPKG_MAX_STATUS ((size_t) 256 << 20)

/* A package found to own one of the files. */
typedef struct MfDpkgPkg
{
	char		name[128];
	char		arch[32];		/* "" when the list file has no ":arch" */
} MfDpkgPkg;

/* The names a file may have in a dpkg list (merged /usr aliases). */
static int
MfDpkgAliases(const char *path, char out[MF_DPKG_ALIASES][512])
{
	int			n = 0;

	snprintf(out[n++], 512, "%s", path);
	if (strncmp(path, "/usr/", 5) == 0)
		snprintf(out[n++], 512, "%s", path + 4);
	else
		snprintf(out[n++], 512, "/usr%s", path);
	return n;
}

/* The package of one list file's name (".../info/zlib1g:amd64.list"). */
static void
MfDpkgPkgOf(const char *list, MfDpkgPkg *p)
{
	const char *base = strrchr(list, '/') ? strrchr(list, '/') + 1 : list;
	size_t		len = strlen(base) - strlen(".list");
	const char *colon = memchr(base, ':', len);

	memset(p, 0, sizeof(*p));
	if (colon != NULL)
	{
		snprintf(p->name, sizeof(p->name), "%.*s", (int) (colon - base), base);
		snprintf(p->arch, sizeof(p->arch), "%.*s", (int) (len - (size_t) (colon - base) - 1), colon + 1);
	}
	else
		snprintf(p->name, sizeof(p->name), "%.*s", (int) len, base);
}

/* Scan one list file: set owner[i] for each still unowned file it names. */
static void
MfDpkgScanList(const char *list, char (*alias)[MF_DPKG_ALIASES][512], const int *n_alias, size_t n,
			   int *owner, int pkg_index)
{
	FILE	   *f = fopen(list, "r");
	char		line[4096];

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		line[strcspn(line, "\n")] = '\0';
		for (size_t i = 0; i < n; i++)
			for (int k = 0; owner[i] < 0 && k < n_alias[i]; k++)
				if (strcmp(line, alias[i][k]) == 0)
					owner[i] = pkg_index;
	}
	fclose(f);
}

/* The stanza of package p in the status text (malloc'd), or NULL. */
static char *
MfDpkgStanza(const char *status, const MfDpkgPkg *p)
{
	const char *s = status;

	while (*s != '\0')
	{
		const char *end = strstr(s, "\n\n");
		size_t		len = end ? (size_t) (end - s) + 1 : strlen(s);
		char	   *para = strndup(s, len);
		char		want[160],
					arch[64];

		snprintf(want, sizeof(want), "Package: %s\n", p->name);
		snprintf(arch, sizeof(arch), "\nArchitecture: %s\n", p->arch);
		if (para != NULL && strncmp(para, want, strlen(want)) == 0 &&
			(p->arch[0] == '\0' || strstr(para, arch) != NULL || strstr(para, "\nArchitecture: all\n") != NULL))
			return para;
		free(para);
		s = end ? end + 2 : s + len;
	}
	return NULL;
}

/* Add the status.d file of each package found. */
static MfImageStatus
MfDpkgWrite(const char *dpkg_dir, const MfDpkgPkg *pkgs, int n_pkgs, MfOciMembers *l, MfImageError *err)
{
	char		path[1024];
	size_t		len;
	char	   *status;
	MfImageStatus st = MF_IMAGE_OK;

	snprintf(path, sizeof(path), "%s/status", dpkg_dir);
	status = mf_oci_read_file(path, MF_DPKG_MAX_STATUS, &len, err);
	if (status == NULL)
		return err->status;
	for (int i = 0; st == MF_IMAGE_OK && i < n_pkgs; i++)
	{
		char	   *stanza = MfDpkgStanza(status, &pkgs[i]);
		char		member[256];

		if (stanza == NULL)
		{
			st = mf_image_fail(err, MF_IMAGE_IO, "package \"%s\" owns a file of the image but has no stanza in %s",
							   pkgs[i].name, path);
			break;
		}
		snprintf(member, sizeof(member), "var/lib/dpkg/status.d/%s", pkgs[i].name);
		if (!mf_oci_members_add(l, member, MF_OCI_FILE, 0644, NULL, stanza, strlen(stanza)))
		{
			free(stanza);
			st = mf_image_fail(err, MF_IMAGE_NOMEM, "out of memory");
		}
	}
	free(status);
	return st;
}

/* Record the packages owning paths (see oci_int.h). */
MfImageStatus
mf_oci_dpkg_record(const char *dpkg_dir, const char *const *paths, size_t n, MfOciMembers *l, int *n_packages,
				   MfImageError *err)
{
	char		pattern[1024];
	glob_t		g;
	char		(*alias)[MF_DPKG_ALIASES][512] = calloc(n ? n : 1, sizeof(*alias));
	int		   *n_alias = calloc(n ? n : 1, sizeof(int));
	int		   *owner = calloc(n ? n : 1, sizeof(int));
	MfDpkgPkg  *pkgs = calloc(n ? n : 1, sizeof(MfDpkgPkg));
	int			n_pkgs = 0;
	MfImageStatus st = MF_IMAGE_OK;

	*n_packages = 0;
	if (alias == NULL || n_alias == NULL || owner == NULL || pkgs == NULL)
		st = mf_image_fail(err, MF_IMAGE_NOMEM, "out of memory");
	for (size_t i = 0; st == MF_IMAGE_OK && i < n; i++)
	{
		owner[i] = -1;
		n_alias[i] = MfDpkgAliases(paths[i], alias[i]);
	}
	snprintf(pattern, sizeof(pattern), "%s/info/*.list", dpkg_dir);
	if (st == MF_IMAGE_OK && glob(pattern, 0, NULL, &g) == 0)
	{
		for (size_t k = 0; k < g.gl_pathc; k++)
			MfDpkgScanList(g.gl_pathv[k], alias, n_alias, n, owner, (int) k);
		/* distinct packages, in the order of the files */
		for (size_t i = 0; i < n; i++)
		{
			MfDpkgPkg	p;
			bool		seen = false;

			if (owner[i] < 0)
				continue;
			MfDpkgPkgOf(g.gl_pathv[owner[i]], &p);
			for (int j = 0; j < n_pkgs && !seen; j++)
				seen = strcmp(pkgs[j].name, p.name) == 0;
			if (!seen)
				pkgs[n_pkgs++] = p;
		}
		globfree(&g);
		st = MfDpkgWrite(dpkg_dir, pkgs, n_pkgs, l, err);
	}
	if (st == MF_IMAGE_OK)
		*n_packages = n_pkgs;
	free(alias);
	free(n_alias);
	free(owner);
	free(pkgs);
	return st;
}
