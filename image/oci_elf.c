/*
 * oci_elf.c - what a program loads: its dynamic loader (PT_INTERP) and its
 * DT_NEEDED shared objects, recursively, found the way the loader finds
 * them (each object's DT_RUNPATH/DT_RPATH, with $ORIGIN, then the search
 * path: /etc/ld.so.conf's directories in order, then the system
 * directories).  Only 64-bit ELF objects of the program's machine count, so
 * a 32-bit copy in a biarch directory is passed over as the loader does.
 * Headers are read with pread: a 30 MB library is never read whole.
 */
#include "oci_int.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MF_ELF_MAX_PHDRS 64
#define MF_ELF_MAX_DYN	 1024
#define MF_ELF_MAX_NEEDED 64
#define MF_ELF_MAX_STRTAB (1 << 20)

/* The dynamic part of one ELF object. */
typedef struct MfElf
{
	uint16_t	machine;
	char		interp[256];
	int			n_needed;
	char		needed[MF_ELF_MAX_NEEDED][256];
	char		runpath[1024];	/* DT_RUNPATH, else DT_RPATH */
} MfElf;

/* pread exactly len bytes at off. */
static bool
MfElfRead(int fd, void *buf, size_t len, uint64_t off)
{
	return pread(fd, buf, len, (off_t) off) == (ssize_t) len;
}

/* File offset of virtual address v through the PT_LOAD headers; UINT64_MAX when none maps it. */
static uint64_t
MfElfOffset(const Elf64_Phdr *ph, int n, uint64_t v)
{
	for (int i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && v >= ph[i].p_vaddr && v < ph[i].p_vaddr + ph[i].p_filesz)
			return v - ph[i].p_vaddr + ph[i].p_offset;
	return UINT64_MAX;
}

/* Read the dynamic entries of an object into e (strtab strings copied). */
static bool
MfElfDynamic(int fd, const Elf64_Phdr *ph, int n, const Elf64_Phdr *dyn, MfElf *e)
{
	Elf64_Dyn	d[MF_ELF_MAX_DYN];
	size_t		nd = dyn->p_filesz / sizeof(Elf64_Dyn);
	uint64_t	strtab = 0,
				strsz = 0,
				strs_off;
	int64_t		need_off[MF_ELF_MAX_NEEDED];
	int64_t		run_off = -1;
	char	   *strs;

	if (nd > MF_ELF_MAX_DYN || !MfElfRead(fd, d, nd * sizeof(Elf64_Dyn), dyn->p_offset))
		return false;
	for (size_t i = 0; i < nd && d[i].d_tag != DT_NULL; i++)
	{
		if (d[i].d_tag == DT_NEEDED && e->n_needed < MF_ELF_MAX_NEEDED)
			need_off[e->n_needed++] = (int64_t) d[i].d_un.d_val;
		else if (d[i].d_tag == DT_STRTAB)
			strtab = d[i].d_un.d_ptr;
		else if (d[i].d_tag == DT_STRSZ)
			strsz = d[i].d_un.d_val;
		else if (d[i].d_tag == DT_RUNPATH || (d[i].d_tag == DT_RPATH && run_off < 0))
			run_off = (int64_t) d[i].d_un.d_val;
	}
	if (e->n_needed == 0 && run_off < 0)
		return true;
	strs_off = MfElfOffset(ph, n, strtab);
	if (strs_off == UINT64_MAX || strsz == 0 || strsz > MF_ELF_MAX_STRTAB || (strs = malloc(strsz + 1)) == NULL)
		return false;
	if (!MfElfRead(fd, strs, strsz, strs_off))
	{
		free(strs);
		return false;
	}
	strs[strsz] = '\0';
	for (int i = 0; i < e->n_needed; i++)
	{
		if ((uint64_t) need_off[i] >= strsz)
		{
			free(strs);
			return false;
		}
		snprintf(e->needed[i], sizeof(e->needed[i]), "%s", strs + need_off[i]);
	}
	if (run_off >= 0 && (uint64_t) run_off < strsz)
		snprintf(e->runpath, sizeof(e->runpath), "%s", strs + run_off);
	free(strs);
	return true;
}

/* Parse an ELF file's class, machine, PT_INTERP and dynamic entries; false when not a 64-bit ELF. */
static bool
MfElfParse(const char *path, MfElf *e)
{
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr	eh;
	Elf64_Phdr	ph[MF_ELF_MAX_PHDRS];
	bool		ok = false;

	memset(e, 0, sizeof(*e));
	if (fd < 0)
		return false;
	if (!MfElfRead(fd, &eh, sizeof(eh), 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
		eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
		eh.e_phnum > MF_ELF_MAX_PHDRS || !MfElfRead(fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), eh.e_phoff))
		goto done;
	e->machine = eh.e_machine;
	ok = true;
	for (int i = 0; ok && i < eh.e_phnum; i++)
	{
		if (ph[i].p_type == PT_INTERP && ph[i].p_filesz > 0 && ph[i].p_filesz < sizeof(e->interp))
			ok = MfElfRead(fd, e->interp, ph[i].p_filesz, ph[i].p_offset);
		else if (ph[i].p_type == PT_DYNAMIC)
			ok = MfElfDynamic(fd, ph, eh.e_phnum, &ph[i], e);
	}
	e->interp[sizeof(e->interp) - 1] = '\0';
done:
	close(fd);
	return ok;
}

/* PT_INTERP of an ELF file. */
MfImageStatus
mf_oci_elf_interp(const char *path, char *out, size_t outlen, MfImageError *err)
{
	MfElf		e;

	if (!MfElfParse(path, &e))
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "\"%s\" is not a 64-bit ELF object", path);
	snprintf(out, outlen, "%s", e.interp);
	return MF_IMAGE_OK;
}

/* Add the directories of one ld.so.conf file (following include lines). */
static size_t
MfElfConf(const char *path, char dirs[][256], size_t n, size_t max, int depth)
{
	FILE	   *f = fopen(path, "r");
	char		line[512];

	if (f == NULL || depth > 4)
	{
		if (f != NULL)
			fclose(f);
		return n;
	}
	while (n < max && fgets(line, sizeof(line), f) != NULL)
	{
		char	   *s = line + strspn(line, " \t");

		s[strcspn(s, "#\r\n")] = '\0';
		for (size_t k = strlen(s); k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t'); k--)
			s[k - 1] = '\0';
		if (strncmp(s, "include", 7) == 0 && (s[7] == ' ' || s[7] == '\t'))
		{
			glob_t		g;

			if (glob(s + 7 + strspn(s + 7, " \t"), 0, NULL, &g) == 0)
				for (size_t i = 0; i < g.gl_pathc; i++)
					n = MfElfConf(g.gl_pathv[i], dirs, n, max, depth + 1);
			globfree(&g);
		}
		else if (s[0] == '/')
			snprintf(dirs[n++], 256, "%s", s);
	}
	fclose(f);
	return n;
}

/* The loader's default search path: ld.so.conf's directories, then the system's. */
size_t
mf_oci_default_lib_dirs(char dirs[][256], size_t max)
{
	static const char *const sys[] = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
	"/lib", "/usr/lib"};
	size_t		n = MfElfConf("/etc/ld.so.conf", dirs, 0, max, 0);

	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]) && n < max; i++)
		snprintf(dirs[n++], 256, "%s", sys[i]);
	return n;
}

/* Look for soname in one directory; true with out set when a matching ELF object is there. */
static bool
MfElfTry(const char *dir, const char *soname, uint16_t machine, char *out, size_t outlen)
{
	MfElf		e;

	if (snprintf(out, outlen, "%s/%s", dir, soname) >= (int) outlen)
		return false;
	return access(out, R_OK) == 0 && MfElfParse(out, &e) && e.machine == machine;
}

/* Find soname for the object at `from` (its runpath first, $ORIGIN = its directory). */
static bool
MfElfFind(const char *from, const MfElf *fe, const char *soname, const char *const *dirs, size_t n_dirs,
		  char *out, size_t outlen)
{
	char		rp[1024];
	char		origin[512];
	char	   *save = NULL;

	snprintf(origin, sizeof(origin), "%s", from);
	*strrchr(origin, '/') = '\0';
	snprintf(rp, sizeof(rp), "%s", fe->runpath);
	for (char *d = strtok_r(rp, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save))
	{
		char		dir[768];

		if (strncmp(d, "$ORIGIN", 7) == 0)
			snprintf(dir, sizeof(dir), "%s%s", origin, d + 7);
		else
			snprintf(dir, sizeof(dir), "%s", d);
		if (MfElfTry(dir, soname, fe->machine, out, outlen))
			return true;
	}
	for (size_t i = 0; i < n_dirs; i++)
		if (MfElfTry(dirs[i], soname, fe->machine, out, outlen))
			return true;
	return false;
}

/* Record one found object (realpath for the copy). */
static MfImageStatus
MfElfAdd(MfOciLibs *out, const char *soname, const char *found, MfImageError *err)
{
	MfOciLib   *l;
	char		real[PATH_MAX];

	if (out->n >= MF_OCI_MAX_FILES)
		return mf_image_fail(err, MF_IMAGE_TOO_LARGE, "the program loads more than %d shared objects",
							 MF_OCI_MAX_FILES);
	if (realpath(found, real) == NULL)
		return mf_image_fail(err, MF_IMAGE_IO, "cannot resolve \"%s\": %s", found, strerror(errno));
	if (strlen(real) >= sizeof(out->libs[0].real) || strlen(found) >= sizeof(out->libs[0].found))
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "the path of \"%s\" is too long", found);
	l = &out->libs[out->n++];
	snprintf(l->soname, sizeof(l->soname), "%s", soname);
	memcpy(l->found, found, strlen(found) + 1);
	memcpy(l->real, real, strlen(real) + 1);
	return MF_IMAGE_OK;
}

/* True when soname is already in out (or is the loader itself). */
static bool
MfElfKnown(const MfOciLibs *out, const char *soname)
{
	const char *loader = strrchr(out->interp, '/');

	if (loader != NULL && strcmp(loader + 1, soname) == 0)
		return true;
	for (int i = 1; i < out->n; i++)
		if (strcmp(out->libs[i].soname, soname) == 0)
			return true;
	return false;
}

/* The loader and every DT_NEEDED of program, recursively (breadth first). */
MfImageStatus
mf_oci_resolve_libs(const char *program, const char *const *dirs, size_t n_dirs, MfOciLibs *out,
					MfImageError *err)
{
	MfElf	   *e = malloc(sizeof(MfElf));
	MfImageStatus st = MF_IMAGE_OK;
	char		found[1024];

	memset(out, 0, sizeof(*out));
	if (e == NULL)
		return mf_image_fail(err, MF_IMAGE_NOMEM, "out of memory");
	if (!MfElfParse(program, e) || e->interp[0] != '/')
	{
		free(e);
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "\"%s\" is not a dynamically linked 64-bit ELF program", program);
	}
	snprintf(out->interp, sizeof(out->interp), "%s", e->interp);
	st = MfElfAdd(out, e->interp, e->interp, err);
	/* libs[0] is the loader; then each object's needs, program first */
	for (int next = 0; st == MF_IMAGE_OK && next < out->n; next++)
	{
		const char *from = next == 0 ? program : out->libs[next].real;

		if (next > 0 && !MfElfParse(from, e))
			st = mf_image_fail(err, MF_IMAGE_BAD_ARG, "\"%s\" is not a 64-bit ELF object", from);
		else if (next == 0 && !MfElfParse(program, e))
			st = mf_image_fail(err, MF_IMAGE_BAD_ARG, "cannot read \"%s\"", program);
		for (int i = 0; st == MF_IMAGE_OK && i < e->n_needed; i++)
		{
			if (MfElfKnown(out, e->needed[i]))
				continue;
			if (!MfElfFind(next == 0 ? program : out->libs[next].found, e, e->needed[i], dirs, n_dirs,
						   found, sizeof(found)))
				st = mf_image_fail(err, MF_IMAGE_IO, "shared object \"%s\" needed by \"%s\" is not in the loader's search path",
								   e->needed[i], from);
			else
				st = MfElfAdd(out, e->needed[i], found, err);
		}
	}
	free(e);
	return st;
}
