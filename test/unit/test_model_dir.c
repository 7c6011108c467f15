/*
 * test_model_dir.c - the served model directory and its tar (image/):
 * serving.json members, ustar headers read back field by field, the same
 * bytes twice, and every invalid input refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_test.h"
#include "model_dir.h"

/* A ustar header field as a number (octal, space or NUL terminated). */
static long long
octal(const unsigned char *h, int off, int len)
{
	char		tmp[16] = {0};

	memcpy(tmp, h + off, len);
	return strtoll(tmp, NULL, 8);
}

/* True when the header's checksum field matches its bytes. */
static int
checksum_ok(const unsigned char *h)
{
	long long	sum = 0;

	for (int i = 0; i < 512; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	return sum == octal(h, 148, 8);
}

/* One member read back from an archive. */
typedef struct Member
{
	char		name[101];
	long long	mode,
				uid,
				gid,
				size,
				mtime;
	char		type;
	char		uname[33];
	const unsigned char *data;
} Member;

/* Read up to max members of a ustar archive; -1 when a header is invalid. */
static int
read_members(const unsigned char *tar, size_t len, Member *m, int max)
{
	size_t		off = 0;
	int			n = 0;

	while (off + 512 <= len && n < max)
	{
		const unsigned char *h = tar + off;
		int			zero = 1;

		for (int i = 0; i < 512; i++)
			zero &= h[i] == 0;
		if (zero)
			return n;
		if (!checksum_ok(h) || memcmp(h + 257, "ustar", 5) != 0)
			return -1;
		memcpy(m[n].name, h, 100);
		m[n].name[100] = '\0';
		m[n].mode = octal(h, 100, 8);
		m[n].uid = octal(h, 108, 8);
		m[n].gid = octal(h, 116, 8);
		m[n].size = octal(h, 124, 12);
		m[n].mtime = octal(h, 136, 12);
		m[n].type = (char) h[156];
		memcpy(m[n].uname, h + 265, 32);
		m[n].uname[32] = '\0';
		m[n].data = h + 512;
		off += 512 + ((size_t) m[n].size + 511) / 512 * 512;
		n++;
	}
	return n;
}

int
main(void)
{
	unsigned char artifact[1300];
	const char *labels[] = {"production", "champion"};
	MfServedVersion v = {
		.name = "churn", .version = "1.2.0", .version_number = 42, .family = "logistic_regression",
		.labels = labels, .n_labels = 2,
		.artifact_sha256 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		.trained_at_us = INT64_C(1796472672123456),		/* 2026-12-05T12:11:12.123456Z */
		.artifact = artifact, .artifact_len = sizeof(artifact)};
	char		json[4096];
	size_t		json_len,
				size,
				len,
				len2;
	unsigned char *tar,
			   *tar2;
	Member		m[8];
	MfImageError err;
	int			n;

	for (size_t i = 0; i < sizeof(artifact); i++)
		artifact[i] = (unsigned char) (i * 7 + 3);

	/* serving.json */
	MF_OK(mf_serving_json(&v, json, sizeof(json) - 1, &json_len, &err) == MF_IMAGE_OK, "serving.json is written");
	json[json_len] = '\0';
	MF_STR_EQ(json,
			  "{\n  \"format\": \"mf-serving/1\",\n  \"name\": \"churn\",\n  \"version\": \"1.2.0\",\n"
			  "  \"version_number\": 42,\n  \"family\": \"logistic_regression\",\n"
			  "  \"labels\": [\"production\", \"champion\"],\n  \"artifact\": \"model.mfa\",\n"
			  "  \"artifact_sha256\": \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\",\n"
			  "  \"trained_at\": \"2026-12-05T12:11:12.123456Z\"\n}\n",
			  "serving.json has every member in order, trained_at in UTC");
	{
		size_t		need;

		MF_OK(mf_serving_json(&v, NULL, 0, &need, &err) == MF_IMAGE_NOMEM && need == json_len,
			  "a call without a buffer gives the length needed");
	}
	v.trained_at_us = 0;
	v.n_labels = 0;
	mf_serving_json(&v, json, sizeof(json) - 1, &json_len, &err);
	json[json_len] = '\0';
	MF_OK(strstr(json, "\"trained_at\": \"1970-01-01T00:00:00.000000Z\"") != NULL &&
		  strstr(json, "\"labels\": []") != NULL, "the epoch and no labels");
	v.trained_at_us = INT64_C(951782400) * 1000000 + 999999;	/* 2000-02-29 */
	mf_serving_json(&v, json, sizeof(json) - 1, &json_len, &err);
	json[json_len] = '\0';
	MF_OK(strstr(json, "\"2000-02-29T00:00:00.999999Z\"") != NULL, "a leap day");
	v.trained_at_us = INT64_C(1796472672123456);
	v.n_labels = 2;

	/* the tar */
	size = mf_model_dir_tar_size(&v);
	MF_OK(size > 0 && size % MF_TAR_RECORD == 0, "the archive size is whole 10240-byte records");
	tar = malloc(size);
	tar2 = malloc(size);
	MF_OK(mf_model_dir_tar(&v, tar, size, &len, &err) == MF_IMAGE_OK && len == size, "the archive is written");
	if (len != size)
		MF_DIAG("  %s", err.detail);
	MF_OK(mf_model_dir_tar(&v, tar2, size, &len2, &err) == MF_IMAGE_OK && len2 == len &&
		  memcmp(tar, tar2, len) == 0, "the same version gives the same bytes");
	n = read_members(tar, len, m, 8);
	MF_OK(n == 4, "four members with valid ustar headers and checksums");
	if (n == 4)
	{
		MF_STR_EQ(m[0].name, "churn/", "member 1 is the model directory");
		MF_STR_EQ(m[1].name, "churn/42/", "member 2 is the version directory <n> = version_number");
		MF_STR_EQ(m[2].name, "churn/42/model.mfa", "member 3 is the artifact");
		MF_STR_EQ(m[3].name, "churn/42/serving.json", "member 4 is serving.json");
		MF_OK(m[0].type == '5' && m[1].type == '5' && m[2].type == '0' && m[3].type == '0',
			  "directories and regular files");
		MF_OK(m[0].mode == 0755 && m[1].mode == 0755 && m[2].mode == 0644 && m[3].mode == 0644,
			  "modes 0755 and 0644");
		MF_OK(m[0].uid == 0 && m[3].gid == 0 && strcmp(m[2].uname, "root") == 0, "owner 0:0 (root)");
		MF_OK(m[0].mtime == 1796472672 && m[3].mtime == 1796472672, "every member dated trained_at");
		MF_OK(m[2].size == (long long) sizeof(artifact) && memcmp(m[2].data, artifact, sizeof(artifact)) == 0,
			  "model.mfa holds exactly the artifact bytes");
		mf_serving_json(&v, json, sizeof(json), &json_len, &err);
		MF_OK(m[3].size == (long long) json_len && memcmp(m[3].data, json, json_len) == 0,
			  "serving.json in the archive is the serving.json text");
	}
	MF_OK(mf_model_dir_tar(&v, tar2, size - 1, &len2, &err) == MF_IMAGE_NOMEM && len2 == 0,
		  "a buffer one byte short is refused");

	/* invalid versions */
	{
		MfServedVersion bad = v;
		const char *bad_label[] = {"../etc"};

		bad.name = "../x";
		MF_OK(mf_model_dir_tar(&bad, tar2, size, &len2, &err) == MF_IMAGE_BAD_ARG &&
			  strstr(err.detail, "model name") != NULL, "a name that would leave the directory is refused");
		bad = v;
		bad.version = "1.02.0";
		MF_OK(mf_serving_json(&bad, json, sizeof(json), &json_len, &err) == MF_IMAGE_BAD_ARG, "a bad semver is refused");
		bad = v;
		bad.artifact_sha256 = "ABC";
		MF_OK(mf_serving_json(&bad, json, sizeof(json), &json_len, &err) == MF_IMAGE_BAD_ARG, "a bad sha256 is refused");
		bad = v;
		bad.labels = bad_label;
		bad.n_labels = 1;
		MF_OK(mf_serving_json(&bad, json, sizeof(json), &json_len, &err) == MF_IMAGE_BAD_ARG, "a bad label is refused");
		bad = v;
		bad.version_number = 0;
		MF_OK(mf_model_dir_tar_size(&bad) == 0, "version number 0 is refused");
		bad = v;
		bad.trained_at_us = -1;
		MF_OK(mf_serving_json(&bad, json, sizeof(json), &json_len, &err) == MF_IMAGE_BAD_ARG,
			  "a trained_at before 1970 is refused");
	}
	{
		MfTarEntry	e[1] = {{"a/../b", false, "x", 1}};

		MF_OK(mf_tar_write(e, 1, 0, tar2, size, &len2, &err) == MF_IMAGE_BAD_ARG, "a path with .. is refused");
		e[0].path = "dir";
		e[0].is_dir = true;
		MF_OK(mf_tar_write(e, 1, 0, tar2, size, &len2, &err) == MF_IMAGE_BAD_ARG,
			  "a directory path must end with '/'");
	}
	free(tar);
	free(tar2);
	return mf_test_done();
}
