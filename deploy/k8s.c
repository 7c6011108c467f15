/*
 * k8s.c - the Kubernetes manifests of an image deployment: a Deployment
 * (image by digest, replicas, resources, readiness and liveness probes on
 * the Open Inference Protocol health routes, the mf-serve port), a Service,
 * a HorizontalPodAutoscaler (autoscaling/v2, CPU utilisation) and, with
 * option kserve, a KServe InferenceService (custom predictor speaking
 * protocol v2).  Options are read into an MfK8sOptions first (every check
 * names its path), then the documents are built from it.  Pure C.
 */
#include "manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The checked options of mf_render_k8s. */
typedef struct MfK8sOptions
{
	char		name[MF_DNS1123_LABEL_MAX + 1];
	const char *namespace;		/* NULL: none written */
	long long	replicas;
	long long	port;
	const char *cpu_request,
			   *mem_request,
			   *cpu_limit,
			   *mem_limit;
	const char *service_type;
	long long	service_port;
	long long	min_replicas,
				max_replicas,
				cpu_target;
	const char *pull_secret;	/* NULL: none */
	bool		kserve;
} MfK8sOptions;

static const char *const MfK8sKeys[] = {"name", "namespace", "replicas", "port", "resources", "service", "scaling",
"image_pull_secret", "kserve", NULL};

/* Check: a Service type. */
static const char *
MfCheckServiceType(const char *s)
{
	return strcmp(s, "ClusterIP") == 0 || strcmp(s, "NodePort") == 0 || strcmp(s, "LoadBalancer") == 0 ? NULL
		: "it must be ClusterIP, NodePort or LoadBalancer";
}

/* resources.{requests,limits}.{cpu,memory}. */
static bool
MfK8sResources(const json_t *o, MfK8sOptions *k, MfManifestError *err)
{
	static const char *const keys[] = {"requests", "limits", NULL};
	static const char *const inner[] = {"cpu", "memory", NULL};
	json_t	   *res = mf_opt_object(o, "", "resources", err);
	json_t	   *req = NULL,
			   *lim = NULL;
	bool		ok;

	if (res == NULL)
		return false;
	ok = mf_opt_keys(res, "resources", keys, err) &&
		(req = mf_opt_object(res, "resources", "requests", err)) != NULL &&
		(lim = mf_opt_object(res, "resources", "limits", err)) != NULL &&
		mf_opt_keys(req, "resources.requests", inner, err) && mf_opt_keys(lim, "resources.limits", inner, err) &&
		mf_opt_string(req, "resources.requests", "cpu", MF_K8S_DEFAULT_CPU_REQUEST, mf_check_quantity, &k->cpu_request, err) &&
		mf_opt_string(req, "resources.requests", "memory", MF_K8S_DEFAULT_MEM_REQUEST, mf_check_quantity, &k->mem_request, err) &&
		mf_opt_string(lim, "resources.limits", "cpu", MF_K8S_DEFAULT_CPU_LIMIT, mf_check_quantity, &k->cpu_limit, err) &&
		mf_opt_string(lim, "resources.limits", "memory", MF_K8S_DEFAULT_MEM_LIMIT, mf_check_quantity, &k->mem_limit, err);
	/* the strings borrowed from req/lim live as long as o does */
	json_decref(req);
	json_decref(lim);
	json_decref(res);
	return ok;
}

/* service.{type,port} and scaling.{min_replicas,max_replicas,cpu_target}. */
static bool
MfK8sServiceScaling(const json_t *o, MfK8sOptions *k, MfManifestError *err)
{
	static const char *const skeys[] = {"type", "port", NULL};
	static const char *const ckeys[] = {"min_replicas", "max_replicas", "cpu_target", NULL};
	json_t	   *svc = mf_opt_object(o, "", "service", err);
	json_t	   *sc = svc ? mf_opt_object(o, "", "scaling", err) : NULL;
	bool		ok;

	ok = sc != NULL && mf_opt_keys(svc, "service", skeys, err) && mf_opt_keys(sc, "scaling", ckeys, err) &&
		mf_opt_string(svc, "service", "type", MF_K8S_DEFAULT_SERVICE_TYPE, MfCheckServiceType, &k->service_type, err) &&
		mf_opt_int(svc, "service", "port", 1, 65535, MF_K8S_DEFAULT_SERVICE_PORT, &k->service_port, err) &&
		mf_opt_int(sc, "scaling", "min_replicas", 1, MF_K8S_MAX_REPLICAS, k->replicas > 0 ? k->replicas : 1,
				   &k->min_replicas, err) &&
		mf_opt_int(sc, "scaling", "max_replicas", 1, MF_K8S_MAX_REPLICAS,
				   k->min_replicas > MF_K8S_DEFAULT_MAX_REPLICAS ? k->min_replicas : MF_K8S_DEFAULT_MAX_REPLICAS,
				   &k->max_replicas, err) &&
		mf_opt_int(sc, "scaling", "cpu_target", 1, 100, MF_K8S_DEFAULT_CPU_TARGET, &k->cpu_target, err);
	if (ok && k->max_replicas < k->min_replicas)
		ok = mf_opt_fail(err, "scaling", "max_replicas", "must be at least scaling.min_replicas (%lld), not %lld",
						 k->min_replicas, k->max_replicas);
	json_decref(svc);
	json_decref(sc);
	return ok;
}

/* Read and check every option. */
static bool
MfK8sReadOptions(const MfDeployTarget *t, const json_t *o, MfK8sOptions *k, MfManifestError *err)
{
	const char *name;

	memset(k, 0, sizeof(*k));
	if (!json_is_object(o))
		return mf_opt_fail(err, "", "options", "must be a JSON object");
	if (!mf_opt_keys(o, "", MfK8sKeys, err) ||
		!mf_opt_string(o, "", "name", NULL, mf_check_dns1123_label, &name, err) ||
		!mf_opt_string(o, "", "namespace", NULL, mf_check_dns1123_label, &k->namespace, err) ||
		!mf_opt_int(o, "", "replicas", 0, MF_K8S_MAX_REPLICAS, MF_K8S_DEFAULT_REPLICAS, &k->replicas, err) ||
		!mf_opt_int(o, "", "port", 1, 65535, MF_K8S_DEFAULT_PORT, &k->port, err) ||
		!mf_opt_string(o, "", "image_pull_secret", NULL, mf_check_dns1123_subdomain, &k->pull_secret, err) ||
		!mf_opt_bool(o, "", "kserve", false, &k->kserve, err) ||
		!MfK8sResources(o, k, err) || !MfK8sServiceScaling(o, k, err))
		return false;
	if (name != NULL)
		snprintf(k->name, sizeof(k->name), "%s", name);
	else
		mf_dns1123_label(t->served_name, k->name, sizeof(k->name));
	if (k->name[0] == '\0')
		return mf_opt_fail(err, "", "name", "the served name \"%s\" leaves no DNS-1123 label; give options.name",
						   t->served_name);
	return true;
}

/* metadata: name, namespace, labels, annotations. */
static json_t *
MfK8sMetadata(const MfDeployTarget *t, const MfK8sOptions *k)
{
	char		model[MF_DNS1123_LABEL_MAX + 1];
	char		depl[32];
	json_t	   *m;

	mf_dns1123_label(t->model_name, model, sizeof(model));
	snprintf(depl, sizeof(depl), "%lld", (long long) t->deployment_id);
	m = json_pack("{s:s}", "name", k->name);
	if (k->namespace != NULL)
		json_object_set_new(m, "namespace", json_string(k->namespace));
	json_object_set_new(m, "labels",
						json_pack("{s:s,s:s,s:s,s:s}", "app.kubernetes.io/name", k->name,
								  "app.kubernetes.io/version", t->version,
								  "app.kubernetes.io/managed-by", "mf_ext",
								  "mf-ext/model", model[0] != '\0' ? model : "model"));
	json_object_set_new(m, "annotations",
						json_pack("{s:s,s:s,s:s}", "mf-ext/model", t->model_name, "mf-ext/version", t->version,
								  "mf-ext/deployment-id", depl));
	return m;
}

/* The container resources. */
static json_t *
MfK8sResourcesJson(const MfK8sOptions *k)
{
	return json_pack("{s:{s:s,s:s},s:{s:s,s:s}}",
					 "requests", "cpu", k->cpu_request, "memory", k->mem_request,
					 "limits", "cpu", k->cpu_limit, "memory", k->mem_limit);
}

/* An HTTP GET probe on path. */
static json_t *
MfK8sProbe(const char *path, int initial, int period)
{
	return json_pack("{s:{s:s,s:s},s:i,s:i,s:i,s:i}", "httpGet", "path", path, "port", "http",
					 "initialDelaySeconds", initial, "periodSeconds", period, "timeoutSeconds", 2,
					 "failureThreshold", 3);
}

/* The mf-serve container (name, with KServe's env, when kserve). */
static json_t *
MfK8sContainer(const MfDeployTarget *t, const MfK8sOptions *k, const char *name, bool kserve)
{
	char		port[16];
	json_t	   *c;

	snprintf(port, sizeof(port), "%lld", k->port);
	c = json_pack("{s:s,s:s,s:[s,s]}", "name", name, "image", t->image, "args", "--port", port);
	if (kserve)
		json_object_set_new(c, "env", json_pack("[{s:s,s:s}]", "name", "PROTOCOL", "value", "v2"));
	/* KServe names the port itself (a name would select its protocol) */
	json_object_set_new(c, "ports", kserve ? json_pack("[{s:I,s:s}]", "containerPort", (json_int_t) k->port, "protocol", "TCP")
						: json_pack("[{s:s,s:I,s:s}]", "name", "http", "containerPort", (json_int_t) k->port,
									"protocol", "TCP"));
	json_object_set_new(c, "resources", MfK8sResourcesJson(k));
	if (!kserve)
	{
		json_object_set_new(c, "readinessProbe", MfK8sProbe("/v2/health/ready", 1, 5));
		json_object_set_new(c, "livenessProbe", MfK8sProbe("/v2/health/live", 5, 10));
	}
	json_object_set_new(c, "securityContext",
						json_pack("{s:b,s:b,s:b,s:{s:[s]}}", "runAsNonRoot", 1, "allowPrivilegeEscalation", 0,
								  "readOnlyRootFilesystem", 1, "capabilities", "drop", "ALL"));
	return c;
}

/* The Deployment. */
static json_t *
MfK8sDeployment(const MfDeployTarget *t, const MfK8sOptions *k)
{
	json_t	   *meta = MfK8sMetadata(t, k);
	json_t	   *pod_meta = json_pack("{s:O,s:O}", "labels", json_object_get(meta, "labels"),
									 "annotations", json_object_get(meta, "annotations"));
	json_t	   *pod = json_pack("{s:[o]}", "containers", MfK8sContainer(t, k, "mf-serve", false));

	if (k->pull_secret != NULL)
		json_object_set_new(pod, "imagePullSecrets", json_pack("[{s:s}]", "name", k->pull_secret));
	return json_pack("{s:s,s:s,s:o,s:{s:I,s:{s:{s:s}},s:{s:o,s:o}}}",
					 "apiVersion", "apps/v1", "kind", "Deployment", "metadata", meta,
					 "spec", "replicas", (json_int_t) k->replicas,
					 "selector", "matchLabels", "app.kubernetes.io/name", k->name,
					 "template", "metadata", pod_meta, "spec", pod);
}

/* The Service. */
static json_t *
MfK8sService(const MfDeployTarget *t, const MfK8sOptions *k)
{
	return json_pack("{s:s,s:s,s:o,s:{s:s,s:{s:s},s:[{s:s,s:I,s:s,s:s}]}}",
					 "apiVersion", "v1", "kind", "Service", "metadata", MfK8sMetadata(t, k),
					 "spec", "type", k->service_type, "selector", "app.kubernetes.io/name", k->name,
					 "ports", "name", "http", "port", (json_int_t) k->service_port, "targetPort", "http",
					 "protocol", "TCP");
}

/* The HorizontalPodAutoscaler (autoscaling/v2). */
static json_t *
MfK8sHpa(const MfDeployTarget *t, const MfK8sOptions *k)
{
	return json_pack("{s:s,s:s,s:o,s:{s:{s:s,s:s,s:s},s:I,s:I,s:[{s:s,s:{s:s,s:{s:s,s:I}}}]}}",
					 "apiVersion", "autoscaling/v2", "kind", "HorizontalPodAutoscaler",
					 "metadata", MfK8sMetadata(t, k),
					 "spec", "scaleTargetRef", "apiVersion", "apps/v1", "kind", "Deployment", "name", k->name,
					 "minReplicas", (json_int_t) k->min_replicas, "maxReplicas", (json_int_t) k->max_replicas,
					 "metrics", "type", "Resource", "resource", "name", "cpu",
					 "target", "type", "Utilization", "averageUtilization", (json_int_t) k->cpu_target);
}

/* The KServe InferenceService (serving.kserve.io/v1beta1, custom predictor, PROTOCOL=v2). */
static json_t *
MfK8sInferenceService(const MfDeployTarget *t, const MfK8sOptions *k)
{
	json_t	   *pred = json_pack("{s:I,s:I,s:s,s:I,s:[o]}",
								 "minReplicas", (json_int_t) k->min_replicas, "maxReplicas", (json_int_t) k->max_replicas,
								 "scaleMetric", "cpu", "scaleTarget", (json_int_t) k->cpu_target,
								 "containers", MfK8sContainer(t, k, "kserve-container", true));

	if (k->pull_secret != NULL)
		json_object_set_new(pred, "imagePullSecrets", json_pack("[{s:s}]", "name", k->pull_secret));
	return json_pack("{s:s,s:s,s:o,s:{s:o}}", "apiVersion", "serving.kserve.io/v1beta1", "kind", "InferenceService",
					 "metadata", MfK8sMetadata(t, k), "spec", "predictor", pred);
}

/* The Kubernetes documents as a JSON array. */
json_t *
mf_render_k8s_docs(const MfDeployTarget *t, const json_t *options, MfManifestError *err)
{
	MfK8sOptions k;
	json_t	   *docs;

	memset(err, 0, sizeof(*err));
	if (!mf_image_by_digest(t->image))
	{
		mf_opt_fail(err, "", "image", "the deployment has no image by digest (host/repository@sha256:...)");
		return NULL;
	}
	if (!MfK8sReadOptions(t, options, &k, err))
		return NULL;
	docs = json_pack("[o,o,o]", MfK8sDeployment(t, &k), MfK8sService(t, &k), MfK8sHpa(t, &k));
	if (docs != NULL && k.kserve)
		json_array_append_new(docs, MfK8sInferenceService(t, &k));
	if (docs == NULL)
		mf_opt_fail(err, "", "options", "out of memory building the manifests");
	return docs;
}

/* The Kubernetes manifests as multi-document YAML. */
char *
mf_render_k8s_yaml(const MfDeployTarget *t, const json_t *options, MfManifestError *err)
{
	json_t	   *docs = mf_render_k8s_docs(t, options, err);
	char	   *yaml;

	if (docs == NULL)
		return NULL;
	yaml = mf_yaml_dump_documents(docs, err->msg, sizeof(err->msg));
	json_decref(docs);
	return yaml;
}
