/*
 * oci_verify.c - an image's answers checked against the database's before
 * it is pushed (see oci.h's design note).
 *
 * Steps: index.json -> manifest -> config and layers, every blob's sha256
 * and size checked against its descriptor and every layer's diff_id
 * against the config; the layers unpacked in order into <work>/root with
 * libarchive (no absolute paths, no "..", no links or devices, no owner
 * change: nothing needs root); the config's Entrypoint run through the
 * layer's own loader with --library-path naming the layer's library
 * directories (and the verifier's OPENBLAS_CORETYPE, when set: the
 * database's BLAS kernel), on 127.0.0.1 and a port the server picks (read
 * back from its "listening on" line); one OIP v2 infer request of the test rows sent to
 * it and handed to the in-process handler over the expected artifact;
 * every output element compared bit for bit.  The server is stopped with
 * SIGTERM (SIGKILL after 5 s) and the work directory removed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "oci_int.h"
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#define MF_VERIFY_MAX_JSON	((size_t) 16 << 20)
#define MF_VERIFY_MAX_ANSWER ((size_t) 64 << 20)
#define MF_VERIFY_MAX_DIRS	32

/* The running image server. */
typedef struct MfVerifyServer
{
	pid_t		pid;
	int			err_fd;			/* its stderr */
	int			port;
	char		stderr_text[2048];
	size_t		stderr_len;
} MfVerifyServer;

/*
 * OPENBLAS_CORETYPE=<the verifier's> when it is set (else ""): the image
 * then runs the OpenBLAS kernel the database runs, so float32 models
 * (transformers: sgemm) can be compared bit for bit; another kernel rounds
 * sums differently.
 */
static void
MfVerifyBlasEnv(char *out, size_t len)
{
	const char *v = getenv("OPENBLAS_CORETYPE");
	size_t		n = v ? strlen(v) : 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9')))
			return;
	if (n > 0 && n < 64)
		snprintf(out, len, "OPENBLAS_CORETYPE=%s", v);
}

/* Seconds on the monotonic clock. */
static double
MfVerifyNow(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Read and parse a blob, checking its digest and size against the descriptor. */
static json_t *
MfVerifyJsonBlob(const char *layout, json_t *desc, MfImageError *err)
{
	const char *digest = json_string_value(json_object_get(desc, "digest"));
	json_int_t	size = json_integer_value(json_object_get(desc, "size"));
	char		path[1200],
				got[MF_OCI_DIGEST_LEN];
	char	   *text;
	size_t		len;
	json_t	   *doc;

	if (digest == NULL || strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 71 || strchr(digest, '/'))
	{
		mf_image_fail(err, MF_IMAGE_BAD_ARG, "a descriptor has no valid sha256 digest");
		return NULL;
	}
	mf_oci_blob_path(layout, digest, path, sizeof(path));
	if ((text = mf_oci_read_file(path, MF_VERIFY_MAX_JSON, &len, err)) == NULL)
		return NULL;
	mf_oci_sha256(text, len, got);
	if (strcmp(got, digest) != 0 || (json_int_t) len != size)
	{
		free(text);
		mf_image_fail(err, MF_IMAGE_MISMATCH, "blob %s has digest %s and %zu bytes; its descriptor says %lld bytes",
					  digest, got, len, (long long) size);
		return NULL;
	}
	doc = json_loadb(text, len, 0, NULL);
	free(text);
	if (doc == NULL)
		mf_image_fail(err, MF_IMAGE_BAD_ARG, "blob %s is not JSON", digest);
	return doc;
}

/* Check a layer blob: sha256 and size of the gzip bytes, sha256 of the tar = diff_id. */
static MfImageStatus
MfVerifyLayerDigests(const char *path, json_t *desc, const char *diff_id, MfImageError *err)
{
	const char *digest = json_string_value(json_object_get(desc, "digest"));
	json_int_t	size = json_integer_value(json_object_get(desc, "size"));
	unsigned char buf[65536],
				md[32];
	unsigned int mdlen;
	char		got_gz[MF_OCI_DIGEST_LEN],
				got_tar[MF_OCI_DIGEST_LEN];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	FILE	   *f = fopen(path, "rb");
	gzFile		gz;
	size_t		n;
	long long	total = 0;
	int			r;

	if (c == NULL || f == NULL)
	{
		if (f)
			fclose(f);
		EVP_MD_CTX_free(c);
		return mf_image_fail(err, MF_IMAGE_IO, "cannot read layer \"%s\"", path);
	}
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
	{
		EVP_DigestUpdate(c, buf, n);
		total += (long long) n;
	}
	fclose(f);
	EVP_DigestFinal_ex(c, md, &mdlen);
	mf_oci_digest_hex(md, got_gz);
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	gz = gzopen(path, "rb");
	while (gz != NULL && (r = gzread(gz, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(c, buf, (size_t) r);
	if (gz != NULL)
		gzclose(gz);
	EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	mf_oci_digest_hex(md, got_tar);
	if (digest == NULL || strcmp(got_gz, digest) != 0 || total != size)
		return mf_image_fail(err, MF_IMAGE_MISMATCH, "layer %s has digest %s and %lld bytes (descriptor: %lld bytes)",
							 digest ? digest : "?", got_gz, total, (long long) size);
	if (diff_id == NULL || strcmp(got_tar, diff_id) != 0)
		return mf_image_fail(err, MF_IMAGE_MISMATCH, "layer %s has diff_id %s; the config says %s", digest, got_tar,
							 diff_id ? diff_id : "nothing");
	return MF_IMAGE_OK;
}

/* Remember the directory of a shared object for --library-path. */
static void
MfVerifyNoteDir(const char *path, char dirs[][512], int *n)
{
	const char *slash = strrchr(path, '/');
	char		dir[512];

	if (slash == NULL || strstr(slash, ".so") == NULL)
		return;
	snprintf(dir, sizeof(dir), "%.*s", (int) (slash - path), path);
	for (int i = 0; i < *n; i++)
		if (strcmp(dirs[i], dir) == 0)
			return;
	if (*n < MF_VERIFY_MAX_DIRS)
		snprintf(dirs[(*n)++], 512, "%s", dir);
}

/* Unpack one layer under root (files and directories only). */
static MfImageStatus
MfVerifyUnpack(const char *path, const char *root, char dirs[][512], int *n_dirs, MfImageError *err)
{
	struct archive *a = archive_read_new();
	struct archive *w = archive_write_disk_new();
	struct archive_entry *ae;
	MfImageStatus st = MF_IMAGE_OK;
	int			r;

	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	/* members are checked to be relative below; the destination is root/member */
	archive_write_disk_set_options(w, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
								   ARCHIVE_EXTRACT_SECURE_SYMLINKS);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK)
		st = mf_image_fail(err, MF_IMAGE_ARCHIVE, "cannot open layer \"%s\": %s", path, archive_error_string(a));
	while (st == MF_IMAGE_OK && (r = archive_read_next_header(a, &ae)) == ARCHIVE_OK)
	{
		const char *entry_name = archive_entry_pathname(ae);
		char		name[1024],
					dest[2600];
		mode_t		type = archive_entry_filetype(ae);

		snprintf(name, sizeof(name), "%s", entry_name ? entry_name : "");
		if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") || strstr(name, ".wh.") ||
			(type != AE_IFREG && type != AE_IFDIR))
		{
			st = mf_image_fail(err, MF_IMAGE_BAD_ARG, "layer \"%s\": member \"%s\" is not a plain file or directory",
							   path, name);
			break;
		}
		if (type == AE_IFREG)
			MfVerifyNoteDir(name, dirs, n_dirs);
		snprintf(dest, sizeof(dest), "%s/%s", root, name);
		archive_entry_set_pathname(ae, dest);
		if (archive_read_extract2(a, ae, w) != ARCHIVE_OK)
			st = mf_image_fail(err, MF_IMAGE_ARCHIVE, "cannot unpack \"%s\": %s", name, archive_error_string(a));
	}
	if (st == MF_IMAGE_OK && r != ARCHIVE_EOF)
		st = mf_image_fail(err, MF_IMAGE_ARCHIVE, "layer \"%s\": %s", path, archive_error_string(a));
	archive_read_free(a);
	archive_write_free(w);
	return st;
}

/* Read the layout: check every blob, unpack the layers; *config gets the config document. */
static MfImageStatus
MfVerifyLayout(const char *layout, const char *root, json_t **config, char dirs[][512], int *n_dirs,
			   MfImageError *err)
{
	char		path[1200];
	char	   *text;
	size_t		len;
	json_t	   *index,
			   *manifest = NULL,
			   *layers,
			   *diff_ids;
	MfImageStatus st = MF_IMAGE_OK;

	*config = NULL;
	snprintf(path, sizeof(path), "%s/index.json", layout);
	if ((text = mf_oci_read_file(path, MF_VERIFY_MAX_JSON, &len, err)) == NULL)
		return err->status;
	index = json_loadb(text, len, 0, NULL);
	free(text);
	if (index == NULL || json_array_size(json_object_get(index, "manifests")) != 1)
		st = mf_image_fail(err, MF_IMAGE_BAD_ARG, "%s must list exactly one manifest", path);
	if (st == MF_IMAGE_OK &&
		(manifest = MfVerifyJsonBlob(layout, json_array_get(json_object_get(index, "manifests"), 0), err)) == NULL)
		st = err->status;
	if (st == MF_IMAGE_OK && (*config = MfVerifyJsonBlob(layout, json_object_get(manifest, "config"), err)) == NULL)
		st = err->status;
	layers = json_object_get(manifest, "layers");
	diff_ids = json_object_get(json_object_get(*config, "rootfs"), "diff_ids");
	if (st == MF_IMAGE_OK && (json_array_size(layers) == 0 || json_array_size(layers) != json_array_size(diff_ids)))
		st = mf_image_fail(err, MF_IMAGE_BAD_ARG, "the manifest's layers and the config's diff_ids differ in number");
	if (st == MF_IMAGE_OK && mkdir(root, 0700) != 0)
		st = mf_image_fail(err, MF_IMAGE_IO, "cannot create \"%s\": %s", root, strerror(errno));
	for (size_t i = 0; st == MF_IMAGE_OK && i < json_array_size(layers); i++)
	{
		const char *digest = json_string_value(json_object_get(json_array_get(layers, i), "digest"));

		if (digest == NULL || strlen(digest) != 71 || strchr(digest, '/'))
			st = mf_image_fail(err, MF_IMAGE_BAD_ARG, "layer %zu has no valid digest", i);
		if (st != MF_IMAGE_OK)
			break;
		mf_oci_blob_path(layout, digest, path, sizeof(path));
		st = MfVerifyLayerDigests(path, json_array_get(layers, i), json_string_value(json_array_get(diff_ids, i)), err);
		if (st == MF_IMAGE_OK)
			st = MfVerifyUnpack(path, root, dirs, n_dirs, err);
	}
	json_decref(index);
	json_decref(manifest);
	return st;
}

/* Collect the server's stderr for up to ms milliseconds; its port once it listens. */
static void
MfVerifyReadStderr(MfVerifyServer *srv, int ms)
{
	struct pollfd p = {.fd = srv->err_fd, .events = POLLIN};
	const char *at;

	if (poll(&p, 1, ms) > 0)
	{
		ssize_t		n = read(srv->err_fd, srv->stderr_text + srv->stderr_len,
							 sizeof(srv->stderr_text) - 1 - srv->stderr_len);

		if (n > 0)
			srv->stderr_len += (size_t) n;
		srv->stderr_text[srv->stderr_len] = '\0';
	}
	if (srv->port == 0 && (at = strstr(srv->stderr_text, "listening on http://127.0.0.1:")) != NULL)
		srv->port = atoi(at + strlen("listening on http://127.0.0.1:"));
}

/* Start the image's server through its own loader; MF_IMAGE_OK once it listens. */
static MfImageStatus
MfVerifyStart(const char *root, json_t *config, char dirs[][512], int n_dirs, double deadline,
			  MfVerifyServer *srv, MfImageError *err)
{
	json_t	   *entry = json_object_get(json_object_get(config, "config"), "Entrypoint");
	const char *program = json_string_value(json_array_get(entry, 0));
	const char *base = NULL;
	char		prog[1200],
				interp[256],
				loader[1500],
				models[1200],
				libpath[4096] = "",
				blas_env[96];
	int			pipefd[2];
	MfImageStatus st;

	for (size_t i = 1; i + 1 < json_array_size(entry); i++)
		if (strcmp(json_string_value(json_array_get(entry, i)) ?: "", "--model-base-path") == 0)
			base = json_string_value(json_array_get(entry, i + 1));
	if (program == NULL || program[0] != '/' || base == NULL || base[0] != '/')
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "the config's Entrypoint must be [\"/.../mf-serve\", \"--model-base-path\", \"/...\", ...]");
	snprintf(prog, sizeof(prog), "%s%s", root, program);
	snprintf(models, sizeof(models), "%s%s", root, base);
	if ((st = mf_oci_elf_interp(prog, interp, sizeof(interp), err)) != MF_IMAGE_OK)
		return st;
	snprintf(loader, sizeof(loader), "%s%s", root, interp);
	for (int i = 0; i < n_dirs; i++)
		snprintf(libpath + strlen(libpath), sizeof(libpath) - strlen(libpath), "%s%s/%s", i ? ":" : "", root, dirs[i]);
	if (access(loader, X_OK) != 0)
		return mf_image_fail(err, MF_IMAGE_RUN, "the image has no loader %s", interp);
	MfVerifyBlasEnv(blas_env, sizeof(blas_env));
	if (pipe2(pipefd, O_CLOEXEC) != 0)
		return mf_image_fail(err, MF_IMAGE_IO, "pipe: %s", strerror(errno));
	srv->pid = fork();
	if (srv->pid == 0)
	{
		char	   *argv[] = {loader, "--library-path", libpath, prog, "--model-base-path", models, "--host", "127.0.0.1",
		"--port", "0", "--poll-seconds", "0", "--threads", "2", NULL};
		char	   *envp[] = {"PATH=/usr/bin", blas_env[0] ? blas_env : NULL, NULL};
		int			devnull = open("/dev/null", O_RDWR);

		/* the server dies with its verifier, even one killed with SIGKILL */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(pipefd[1], 2);
		execve(loader, argv, envp);
		_exit(127);
	}
	close(pipefd[1]);
	srv->err_fd = pipefd[0];
	if (srv->pid < 0)
		return mf_image_fail(err, MF_IMAGE_RUN, "fork: %s", strerror(errno));
	while (srv->port == 0 && MfVerifyNow() < deadline && waitpid(srv->pid, NULL, WNOHANG) == 0)
		MfVerifyReadStderr(srv, 100);
	if (srv->port == 0)
	{
		MfVerifyReadStderr(srv, 0);
		return mf_image_fail(err, MF_IMAGE_RUN, "the image's mf-serve did not start: %.400s", srv->stderr_text);
	}
	return MF_IMAGE_OK;
}

/* Stop the server: SIGTERM, then SIGKILL after 5 s. */
static void
MfVerifyStop(MfVerifyServer *srv)
{
	double		until = MfVerifyNow() + 5;

	if (srv->pid > 0)
	{
		kill(srv->pid, SIGTERM);
		while (waitpid(srv->pid, NULL, WNOHANG) == 0)
		{
			if (MfVerifyNow() > until)
			{
				kill(srv->pid, SIGKILL);
				waitpid(srv->pid, NULL, 0);
				break;
			}
			usleep(20000);
		}
	}
	if (srv->err_fd > 0)
		close(srv->err_fd);
}

/* Send all of buf, or false. */
static bool
MfVerifySendAll(int fd, const char *buf, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t) n;
	}
	return true;
}

/* One HTTP/1.1 request to 127.0.0.1:port (Connection: close); *status and the malloc'd body. */
static MfImageStatus
MfVerifyHttp(int port, const char *method, const char *path, const char *body, double deadline, int *status,
			 char **answer, MfImageError *err)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
	int			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char		head[2200];
	char	   *buf = NULL;
	size_t		len = 0,
				cap = 0;
	char	   *sep;

	*answer = NULL;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n", method, path, port, body ? strlen(body) : 0);
	if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0 ||
		!MfVerifySendAll(fd, head, strlen(head)) || (body && !MfVerifySendAll(fd, body, strlen(body))))
	{
		if (fd >= 0)
			close(fd);
		return mf_image_fail(err, MF_IMAGE_RUN, "cannot send %s %s to the image's mf-serve: %s", method, path,
							 strerror(errno));
	}
	for (;;)
	{
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int			ms = (int) ((deadline - MfVerifyNow()) * 1000);
		ssize_t		n;

		if (len + 65536 + 1 > cap)
		{
			char	   *grown = cap + 65536 > MF_VERIFY_MAX_ANSWER ? NULL : realloc(buf, cap + 65536 + 1);

			if (grown == NULL)
				break;
			buf = grown;
			cap += 65536 + 1;
		}
		if (ms <= 0 || poll(&p, 1, ms) <= 0 || (n = recv(fd, buf + len, cap - len - 1, 0)) < 0)
			break;
		if (n == 0)
		{
			close(fd);
			buf[len] = '\0';
			sep = strstr(buf, "\r\n\r\n");
			if (strncmp(buf, "HTTP/1.", 7) != 0 || sep == NULL || strcasestr(buf, "transfer-encoding: chunked"))
				break;
			*status = atoi(buf + 9);
			memmove(buf, sep + 4, len - (size_t) (sep + 4 - buf) + 1);
			*answer = buf;
			return MF_IMAGE_OK;
		}
		len += (size_t) n;
	}
	close(fd);
	free(buf);
	return mf_image_fail(err, MF_IMAGE_RUN, "no complete answer to %s %s from the image's mf-serve", method, path);
}

/* The datatype of a column's values: BYTES, BOOL or FP64; NULL when mixed. */
static const char *
MfVerifyType(json_t *rows, const char *key)
{
	const char *t = NULL;
	size_t		i;
	json_t	   *row;

	json_array_foreach(rows, i, row)
	{
		json_t	   *v = json_object_get(row, key);
		const char *k = v == NULL || json_is_null(v) ? NULL : json_is_string(v) ? "BYTES"
			: json_is_boolean(v) ? "BOOL" : json_is_number(v) ? "FP64" : "?";

		if (k != NULL && t != NULL && strcmp(k, t) != 0)
			return NULL;
		if (k != NULL)
			t = k;
	}
	return t ? (strcmp(t, "?") == 0 ? NULL : t) : "FP64";
}

/* The OIP v2 infer body of the rows: one tensor per feature, shape [n]; NULL with err. */
static char *
MfVerifyBody(const char *rows_json, int *n_rows, MfImageError *err)
{
	json_t	   *rows = json_loads(rows_json, JSON_REJECT_DUPLICATES, NULL);
	json_t	   *inputs = json_array();
	json_t	   *seen = json_pack("{}");
	char	   *body = NULL;
	size_t		i;
	json_t	   *row;

	if (rows == NULL || !json_is_array(rows) || json_array_size(rows) == 0)
		mf_image_fail(err, MF_IMAGE_BAD_ARG, "the test rows must be a non-empty JSON array of objects");
	else
	{
		json_array_foreach(rows, i, row)
		{
			const char *key;
			json_t	   *v;

			if (!json_is_object(row))
				break;
			json_object_foreach(row, key, v)
			{
				const char *type = MfVerifyType(rows, key);
				json_t	   *data = json_array();
				size_t		j;
				json_t	   *r2;

				if (json_object_get(seen, key) != NULL)
					continue;
				json_object_set_new(seen, key, json_true());
				if (type == NULL)
					mf_image_fail(err, MF_IMAGE_BAD_ARG, "test rows: feature \"%s\" mixes value types", key);
				json_array_foreach(rows, j, r2)
					json_array_append(data, json_object_get(r2, key) ?: json_null());
				json_array_append_new(inputs, json_pack("{s:s,s:s,s:[I],s:o}", "name", key, "datatype",
														type ? type : "FP64", "shape", (json_int_t) json_array_size(rows),
														"data", data));
			}
		}
		if (i < json_array_size(rows))
			mf_image_fail(err, MF_IMAGE_BAD_ARG, "test row %zu is not a JSON object", i);
		else if (err->status == MF_IMAGE_OK)
		{
			json_t	   *req = json_pack("{s:O}", "inputs", inputs);

			body = mf_oci_json_text(req, JSON_COMPACT);
			json_decref(req);
		}
		*n_rows = (int) json_array_size(rows);
	}
	json_decref(rows);
	json_decref(inputs);
	json_decref(seen);
	if (body == NULL && err->status == MF_IMAGE_OK)
		mf_image_fail(err, MF_IMAGE_NOMEM, "out of memory");
	return body;
}

/* The in-process handler's answer to the request over the expected artifact. */
static MfImageStatus
MfVerifyExpected(const MfServedVersion *v, const char *path, const char *body, char **answer, MfImageError *err)
{
	MfServeCatalogBuilder *b = mf_serve_builder_new();
	MfServeVersionSpec spec = {.semver = v->version, .number = v->version_number, .labels = v->labels,
	.n_labels = (int) v->n_labels, .artifact = v->artifact, .artifact_len = v->artifact_len};
	MfServeRequest req = {.method = "POST", .path = path, .client = "127.0.0.1", .body = body,
	.body_len = strlen(body)};
	MfServeResponse resp = {0};
	MfServeCatalog *c;
	MfServe    *s;
	char		msg[512] = "";

	if (b == NULL || !mf_serve_builder_add_version(b, v->name, &spec, msg, sizeof(msg)))
	{
		if (b != NULL)
			mf_serve_builder_discard(b);
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "the expected artifact cannot be served: %s", msg);
	}
	if ((c = mf_serve_builder_finish(b, msg, sizeof(msg))) == NULL ||
		(s = mf_serve_new(&(MfServeOptions) {.default_max_batch = MF_SERVE_DEFAULT_MAX_BATCH})) == NULL)
	{
		if (c != NULL)
			mf_serve_catalog_unref(c);
		return mf_image_fail(err, MF_IMAGE_NOMEM, "cannot start the in-process handler: %s", msg);
	}
	mf_serve_set_catalog(s, c);
	mf_serve_handle(s, &req, &resp);
	mf_serve_free(s);
	if (resp.status != 200)
	{
		mf_image_fail(err, MF_IMAGE_BAD_ARG, "the database's handler refused the test rows (%d): %.300s",
					  resp.status, resp.body ? resp.body : "");
		mf_serve_response_free(&resp);
		return MF_IMAGE_BAD_ARG;
	}
	*answer = strndup(resp.body, resp.body_len);
	mf_serve_response_free(&resp);
	return *answer ? MF_IMAGE_OK : mf_image_fail(err, MF_IMAGE_NOMEM, "out of memory");
}

/* True when two answer elements are equal bit for bit (doubles by their bytes). */
static bool
MfVerifySame(json_t *a, json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
	{
		double		x = json_number_value(a),
					y = json_number_value(b);

		return memcmp(&x, &y, sizeof(double)) == 0;
	}
	return json_equal(a, b);
}

/* Compare the outputs of two OIP answers element by element; the first mismatch in res->log. */
static void
MfVerifyCompare(const char *got_text, const char *want_text, int n_rows, MfOciVerifyResult *res)
{
	json_t	   *got = json_loads(got_text, JSON_DECODE_ANY, NULL);
	json_t	   *want = json_loads(want_text, JSON_DECODE_ANY, NULL);
	json_t	   *go = json_object_get(got, "outputs"),
			   *wo = json_object_get(want, "outputs");

	if (json_array_size(go) != json_array_size(wo) || json_array_size(wo) == 0)
	{
		res->mismatches++;
		snprintf(res->log, sizeof(res->log), "the image answered %zu outputs, the database %zu: %.600s",
				 json_array_size(go), json_array_size(wo), got_text);
	}
	for (size_t i = 0; res->mismatches == 0 && i < json_array_size(wo); i++)
	{
		json_t	   *gt = json_array_get(go, i),
				   *wt = json_array_get(wo, i);
		const char *name = json_string_value(json_object_get(wt, "name"));
		json_t	   *gd = json_object_get(gt, "data"),
				   *wd = json_object_get(wt, "data");
		size_t		per = n_rows > 0 ? (json_array_size(wd) + (size_t) n_rows - 1) / (size_t) n_rows : 1;

		if (!json_equal(json_object_get(gt, "name"), json_object_get(wt, "name")) ||
			json_array_size(gd) != json_array_size(wd))
		{
			res->mismatches++;
			snprintf(res->log, sizeof(res->log), "output %zu (%s): the image answered another name or %zu values for %zu",
					 i, name ? name : "?", json_array_size(gd), json_array_size(wd));
			break;
		}
		for (size_t k = 0; k < json_array_size(wd); k++)
			if (!MfVerifySame(json_array_get(gd, k), json_array_get(wd, k)))
			{
				char	   *g = mf_oci_json_text(json_array_get(gd, k), JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
				char	   *w = mf_oci_json_text(json_array_get(wd, k), JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));

				if (res->mismatches++ == 0)
					snprintf(res->log, sizeof(res->log), "row %zu, output \"%s\": the image answered %s, the database %s",
							 per ? k / per : k, name ? name : "?", g ? g : "?", w ? w : "?");
				free(g);
				free(w);
			}
	}
	json_decref(got);
	json_decref(want);
}

/* Remove one file or directory (nftw callback). */
static int
MfVerifyRemove(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void) sb;
	(void) flag;
	(void) ftw;
	return remove(path);
}

/* Verify a layout (see oci.h). */
MfImageStatus
mf_oci_verify(const MfOciVerifySpec *spec, MfOciVerifyResult *res, MfImageError *err)
{
	double		deadline = MfVerifyNow() + (spec->timeout_seconds > 0 ? spec->timeout_seconds : 30);
	char		root[1200],
				path[1024],
				dirs[MF_VERIFY_MAX_DIRS][512];
	int			n_dirs = 0,
				status = 0;
	json_t	   *config = NULL;
	char	   *body = NULL,
			   *got = NULL,
			   *want = NULL;
	MfVerifyServer srv = {.pid = -1, .err_fd = -1};
	const MfServedVersion *v = spec->expected;
	MfImageStatus st = MF_IMAGE_OK;

	memset(res, 0, sizeof(*res));
	err->status = MF_IMAGE_OK;
	if (spec->layout == NULL || spec->work_dir == NULL || v == NULL || spec->rows_json == NULL)
		return mf_image_fail(err, MF_IMAGE_BAD_ARG, "layout, work_dir, expected and rows_json are required");
	if (mkdir(spec->work_dir, 0700) != 0)
		return mf_image_fail(err, MF_IMAGE_IO, "cannot create \"%s\": %s", spec->work_dir, strerror(errno));
	snprintf(root, sizeof(root), "%s/root", spec->work_dir);
	snprintf(path, sizeof(path), "/v2/models/%s/versions/%s/infer", v->name, v->version);
	if ((body = MfVerifyBody(spec->rows_json, &res->rows, err)) == NULL)
		st = err->status;
	if (st == MF_IMAGE_OK)
		st = MfVerifyExpected(v, path, body, &want, err);
	if (st == MF_IMAGE_OK)
		st = MfVerifyLayout(spec->layout, root, &config, dirs, &n_dirs, err);
	if (st == MF_IMAGE_OK)
		st = MfVerifyStart(root, config, dirs, n_dirs, deadline, &srv, err);
	if (st == MF_IMAGE_OK)
		st = MfVerifyHttp(srv.port, "POST", path, body, deadline, &status, &got, err);
	if (st == MF_IMAGE_OK && status != 200)
	{
		res->mismatches = res->rows;
		snprintf(res->log, sizeof(res->log), "the image answered %d: %.600s", status, got);
		st = mf_image_fail(err, MF_IMAGE_MISMATCH, "%s", res->log);
	}
	else if (st == MF_IMAGE_OK)
	{
		MfVerifyCompare(got, want, res->rows, res);
		if (res->mismatches > 0)
			st = mf_image_fail(err, MF_IMAGE_MISMATCH, "%d of the answers to %d test rows differ; first: %s",
							   res->mismatches, res->rows, res->log);
	}
	if (srv.pid > 0 || srv.err_fd >= 0)
		MfVerifyStop(&srv);
	if (st == MF_IMAGE_RUN && res->log[0] == '\0')
		snprintf(res->log, sizeof(res->log), "%s", err->detail);
	json_decref(config);
	free(body);
	free(got);
	free(want);
	if (!spec->keep_work_dir)
		nftw(spec->work_dir, MfVerifyRemove, 16, FTW_DEPTH | FTW_PHYS);
	return st;
}
