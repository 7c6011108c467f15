/*
 * oci_cli.c - the image builder and verifier (image/oci.h) on the command
 * line, for the integration test test/integration/oci_image.sh and the
 * benchmark bench/oci_image.sh (not a TAP test itself).
 *
 *   oci_cli build MODEL_BASE NAME N MF_SERVE OUT_DIR [TAG [MAX_LAYER_BYTES]]
 *       prints {"manifest": ..., "config": ..., "layers": [...], "diff_ids": [...], ...}
 *   oci_cli verify LAYOUT WORK_DIR MODEL_BASE NAME N ROWS_FILE
 *       the expected version is MODEL_BASE/NAME/N (serving.json, model.mfa);
 *       exit 0 when the image answers the rows as it does, 1 otherwise
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"
#include "oci_int.h"

/* Print an error and exit 1. */
static void
die(const char *what, const MfImageError *err)
{
	fprintf(stderr, "oci_cli: %s: %s (status %d)\n", what, err->detail, (int) err->status);
	exit(1);
}

/* build: print the digests as JSON. */
static int
cmd_build(int argc, char **argv)
{
	MfOciSpec	spec = {0};
	MfOciResult res;
	MfImageError err = {0};

	if (argc < 7)
		return 2;
	spec.model_base = argv[2];
	spec.name = argv[3];
	spec.version_number = atoll(argv[4]);
	spec.mf_serve = argv[5];
	spec.out_dir = argv[6];
	spec.tag = argc > 7 ? argv[7] : NULL;
	spec.max_layer_bytes = argc > 8 ? strtoull(argv[8], NULL, 10) : 0;
	spec.config_hash = getenv("OCI_CONFIG_HASH");
	spec.metrics_json = getenv("OCI_METRICS");
	if (mf_oci_build(&spec, &res, &err) != MF_IMAGE_OK)
		die("build", &err);
	printf("{\"manifest\": \"%s\", \"manifest_size\": %llu, \"config\": \"%s\", \"layers\": [\"%s\", \"%s\"], "
		   "\"layer_sizes\": [%llu, %llu], \"diff_ids\": [\"%s\", \"%s\"], \"libraries\": %d, \"packages\": %d}\n",
		   res.manifest.digest, (unsigned long long) res.manifest.size, res.config.digest, res.layers[0].digest,
		   res.layers[1].digest, (unsigned long long) res.layers[0].size, (unsigned long long) res.layers[1].size,
		   res.layers[0].diff_id, res.layers[1].diff_id, res.n_libraries, res.n_packages);
	return 0;
}

/* verify: the expected version from a model directory. */
static int
cmd_verify(int argc, char **argv)
{
	MfOciVerifySpec spec = {0};
	MfOciVerifyResult res;
	MfImageError err = {0};
	MfServingRead r;
	char		path[2048];
	char	   *text,
			   *rows,
			   *art;
	size_t		len;

	if (argc < 8)
		return 2;
	snprintf(path, sizeof(path), "%s/%s/%s/serving.json", argv[4], argv[5], argv[6]);
	if ((text = mf_oci_read_file(path, 1 << 20, &len, &err)) == NULL ||
		mf_serving_json_read(text, len, &r, &err) != MF_IMAGE_OK)
		die("expected version", &err);
	snprintf(path, sizeof(path), "%s/%s/%s/%s", argv[4], argv[5], argv[6], r.artifact);
	if ((art = mf_oci_read_file(path, (size_t) 1 << 31, &r.v.artifact_len, &err)) == NULL)
		die("expected artifact", &err);
	r.v.artifact = art;
	if ((rows = mf_oci_read_file(argv[7], 64 << 20, &len, &err)) == NULL)
		die("rows", &err);
	spec.layout = argv[2];
	spec.work_dir = argv[3];
	spec.expected = &r.v;
	spec.rows_json = rows;
	spec.keep_work_dir = getenv("OCI_KEEP") != NULL;
	if (mf_oci_verify(&spec, &res, &err) != MF_IMAGE_OK)
	{
		fprintf(stderr, "oci_cli: verify: %s (status %d, rows %d, mismatches %d)\n", err.detail, (int) err.status,
				res.rows, res.mismatches);
		return 1;
	}
	printf("{\"rows\": %d, \"mismatches\": %d}\n", res.rows, res.mismatches);
	mf_serving_read_free(&r);
	free(text);
	free(rows);
	free(art);
	return 0;
}

int
main(int argc, char **argv)
{
	int			rc = 2;

	if (argc > 1 && strcmp(argv[1], "build") == 0)
		rc = cmd_build(argc, argv);
	else if (argc > 1 && strcmp(argv[1], "verify") == 0)
		rc = cmd_verify(argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: oci_cli build MODEL_BASE NAME N MF_SERVE OUT [TAG [MAX_LAYER_BYTES]]\n"
				"       oci_cli verify LAYOUT WORK MODEL_BASE NAME N ROWS_FILE\n");
	return rc;
}
