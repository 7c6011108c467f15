/*
 * manifest.h - deployment manifests of an image deployment: Kubernetes
 * (Deployment, Service, HorizontalPodAutoscaler autoscaling/v2 and, on
 * request, a KServe InferenceService) as multi-document YAML, and an Azure
 * IoT Edge deployment manifest as JSON.
 *
 * Pure C11 on jansson and libyaml: no PostgreSQL header.  The SQL wrappers
 * (src/manifests.c) read the deployment row and hand over an MfDeployTarget
 * and the caller's options; every option is checked here, and a refusal
 * names the option's path (e.g. "scaling.max_replicas") in err->path.
 *
 * Design note
 * -----------
 * Each document is built as a jansson tree (objects keep their insertion
 * order, so the output reads in the usual kubectl order: apiVersion, kind,
 * metadata, spec), then written by libyaml's emitter (yaml_out.c), which
 * takes care of escaping; a string is written plain only when YAML 1.1 and
 * 1.2 both read it back as that same string, else double-quoted.  Derived
 * names (from the served name, the model name, the registry host) are
 * sanitised to DNS-1123 labels; names the caller gives must already be
 * valid and are refused otherwise, never silently changed.  Defaults have
 * one source: the MF_K8S_* / MF_EDGE_* macros below.
 */
#ifndef MF_DEPLOY_MANIFEST_H
#define MF_DEPLOY_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define MF_K8S_DEFAULT_PORT			8501	/* mf-serve's default port */
#define MF_K8S_DEFAULT_REPLICAS		1
#define MF_K8S_MAX_REPLICAS			1000
#define MF_K8S_DEFAULT_MAX_REPLICAS 3
#define MF_K8S_DEFAULT_CPU_TARGET	70	/* percent of the CPU request */
#define MF_K8S_DEFAULT_SERVICE_TYPE "ClusterIP"
#define MF_K8S_DEFAULT_SERVICE_PORT 80
#define MF_K8S_DEFAULT_CPU_REQUEST	"250m"
#define MF_K8S_DEFAULT_MEM_REQUEST	"256Mi"
#define MF_K8S_DEFAULT_CPU_LIMIT	"1"
#define MF_K8S_DEFAULT_MEM_LIMIT	"512Mi"
#define MF_EDGE_DEFAULT_RUNTIME		"1.4"	/* edgeAgent/edgeHub image tag */
#define MF_EDGE_CREATE_OPTIONS_CHUNK 512	/* IoT Edge splits createOptions so */
#define MF_DNS1123_LABEL_MAX		63

/* The deployment a manifest describes (all fields borrowed). */
typedef struct MfDeployTarget
{
	int64_t		deployment_id;
	const char *model_name;		/* the model's name in mf_ext */
	const char *served_name;	/* mf.deployments.name */
	const char *version;		/* semver of the deployed version */
	int64_t		version_number; /* its version_id (TF-Serving number) */
	const char *image;			/* host/repository@sha256:<64 hex> */
} MfDeployTarget;

/* Why options were refused: the option's path and a lowercase message. */
typedef struct MfManifestError
{
	char		path[128];
	char		msg[384];
} MfManifestError;

/* The Kubernetes manifests as multi-document YAML (malloc'd), or NULL with err. */
extern char *mf_render_k8s_yaml(const MfDeployTarget *t, const json_t *options, MfManifestError *err);

/* The Kubernetes documents as a JSON array (new reference), or NULL with err. */
extern json_t *mf_render_k8s_docs(const MfDeployTarget *t, const json_t *options, MfManifestError *err);

/* The Azure IoT Edge deployment manifest (new reference), or NULL with err. */
extern json_t *mf_render_iot_edge(const MfDeployTarget *t, const json_t *options, MfManifestError *err);

/* True when s is an image reference by digest (host/path@sha256:<64 hex>). */
extern bool mf_image_by_digest(const char *s);

/* Sanitise text into a DNS-1123 label (lowercase, [a-z0-9-], <= 63); "" when nothing is left. */
extern void mf_dns1123_label(const char *in, char *out, size_t outlen);

/* True when s is a valid DNS-1123 label. */
extern bool mf_is_dns1123_label(const char *s);

/* YAML of documents (a JSON array of objects), one "---" document each; malloc'd, or NULL. */
extern char *mf_yaml_dump_documents(const json_t *docs, char *err, size_t errlen);

/* ------------------------------------------------------------ options (options.c) */

/* Refuse keys of obj not in allowed (NULL-terminated); path names obj. */
extern bool mf_opt_keys(const json_t *obj, const char *path, const char *const *allowed, MfManifestError *err);

/* obj[key] as an object (absent: an empty object, a new reference); NULL with err. */
extern json_t *mf_opt_object(const json_t *obj, const char *path, const char *key, MfManifestError *err);

/* obj[key] as an integer in [min, max] (absent: def). */
extern bool mf_opt_int(const json_t *obj, const char *path, const char *key, long long min, long long max,
					   long long def, long long *out, MfManifestError *err);

/* obj[key] as a boolean (absent: def). */
extern bool mf_opt_bool(const json_t *obj, const char *path, const char *key, bool def, bool *out,
						MfManifestError *err);

/* A string check: NULL when ok, else what the string must be. */
typedef const char *(*MfOptCheck) (const char *s);

/* obj[key] as a string passing check (absent: def, which may be NULL). */
extern bool mf_opt_string(const json_t *obj, const char *path, const char *key, const char *def,
						  MfOptCheck check, const char **out, MfManifestError *err);

/* Set err (printf-style message) for the option at path.key; returns false. */
extern bool mf_opt_fail(MfManifestError *err, const char *path, const char *key, const char *fmt,...)
			__attribute__((format(printf, 4, 5)));

/* Free text that jansson allocated (json_dumps), with jansson's own free. */
extern void mf_json_text_free(void *text);

/* Checks for mf_opt_string. */
extern const char *mf_check_dns1123_label(const char *s);
extern const char *mf_check_dns1123_subdomain(const char *s);
extern const char *mf_check_quantity(const char *s);

#endif							/* MF_DEPLOY_MANIFEST_H */
