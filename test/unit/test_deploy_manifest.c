/*
 * test_deploy_manifest.c - unit tests of deploy/ without a network: names
 * sanitised to DNS-1123, image references by digest, the YAML writer's
 * quoting (plain only when every reader gets the same string back), the
 * Kubernetes and IoT Edge renderers' documents and their refusals with the
 * option's path.
 */
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "mf_test.h"

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const MfDeployTarget Target = {42, "Churn_Model", "churn_model", "1.2.0", 7,
"registry.example.com:5000/models/churn@" DIGEST};

/* Render k8s with options text; the YAML (malloc'd) or NULL with err. */
static char *
render_k8s(const char *options, MfManifestError *err)
{
	json_t	   *o = json_loads(options, 0, NULL);
	char	   *y = mf_render_k8s_yaml(&Target, o, err);

	json_decref(o);
	return y;
}

/* The option path a k8s render refuses options with ("" when accepted). */
static const char *
k8s_refusal(const char *options)
{
	static MfManifestError err;
	char	   *y = render_k8s(options, &err);

	free(y);
	return y ? "" : err.path;
}

/* The option path an IoT Edge render refuses options with ("" when accepted). */
static const char *
iot_refusal(const char *options)
{
	static MfManifestError err;
	json_t	   *o = json_loads(options, 0, NULL);
	json_t	   *m = mf_render_iot_edge(&Target, o, &err);

	json_decref(o);
	json_decref(m);
	return m ? "" : err.path;
}

/* Names and references. */
static void
test_names(void)
{
	char		out[64];
	char		long_name[200];

	mf_dns1123_label("Churn_Model v2", out, sizeof(out));
	MF_STR_EQ(out, "churn-model-v2", "DNS-1123: lowercase, other characters become one dash");
	mf_dns1123_label("__--__", out, sizeof(out));
	MF_STR_EQ(out, "", "DNS-1123: nothing left of punctuation");
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	long_name[62] = '_';
	mf_dns1123_label(long_name, out, sizeof(out));
	MF_OK(strlen(out) <= 62 && out[strlen(out) - 1] != '-' && mf_is_dns1123_label(out),
		  "DNS-1123: at most 63 characters, never ending in a dash");
	MF_OK(mf_image_by_digest(Target.image), "image by digest with a registry port");
	MF_OK(!mf_image_by_digest("registry.example.com/models/churn:1.2.0"), "a tag is not a digest");
	MF_OK(!mf_image_by_digest("registry.example.com/models/churn@sha256:0123"), "a short digest is refused");
	MF_OK(mf_check_quantity("250m") == NULL && mf_check_quantity("1.5Gi") == NULL && mf_check_quantity("2") == NULL,
		  "quantities 250m, 1.5Gi, 2");
	MF_OK(mf_check_quantity("lots") != NULL && mf_check_quantity("1 Gi") != NULL && mf_check_quantity("") != NULL,
		  "not quantities: lots, '1 Gi', ''");
}

/* The YAML writer's quoting. */
static void
test_yaml(void)
{
	json_t	   *docs = json_pack("[{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:b},{s:s}]", "a", "yes", "b", "1.0", "c", "null",
								 "d", "/v2/health/ready", "e", "a: b", "f", "two\nlines", "g", 3, "h", 1, "k", "v");
	char		err[128];
	char	   *y = mf_yaml_dump_documents(docs, err, sizeof(err));

	MF_OK(y != NULL, "YAML written");
	if (y == NULL)
		return;
	MF_OK(strstr(y, "a: \"yes\"") && strstr(y, "b: \"1.0\"") && strstr(y, "c: \"null\""),
		  "yes, 1.0 and null are quoted (they would read back as bool, float, null)");
	MF_OK(strstr(y, "d: /v2/health/ready\n") != NULL, "a path is plain");
	MF_OK(strstr(y, "e: \"a: b\"") && strstr(y, "f: \"two\\nlines\""), "a colon and a newline are quoted and escaped");
	MF_OK(strstr(y, "g: 3\n") && strstr(y, "h: true\n"), "numbers and booleans are plain");
	MF_OK(strncmp(y, "---", 3) == 0 && strstr(y + 3, "\n---") != NULL, "one explicit document each");
	free(y);
	json_decref(docs);
}

/* The Kubernetes documents. */
static void
test_k8s(void)
{
	MfManifestError err;
	char	   *y = render_k8s("{}", &err);
	char	   *k = render_k8s("{\"kserve\": true, \"namespace\": \"ml\"}", &err);

	MF_OK(y && strstr(y, "kind: Deployment") && strstr(y, "kind: Service") && strstr(y, "kind: HorizontalPodAutoscaler")
		  && !strstr(y, "InferenceService"), "defaults: Deployment, Service, HPA");
	MF_OK(y && strstr(y, "name: churn-model\n") && strstr(y, "containerPort: 8501") &&
		  strstr(y, "path: /v2/health/ready") && strstr(y, "path: /v2/health/live") && strstr(y, DIGEST),
		  "sanitised name, mf-serve port, OIP health probes, image by digest");
	MF_OK(k && strstr(k, "kind: InferenceService") && strstr(k, "value: v2") && strstr(k, "namespace: ml"),
		  "kserve: an InferenceService speaking PROTOCOL=v2, in the namespace");
	free(y);
	free(k);
	MF_STR_EQ(k8s_refusal("{\"replicas\": -1}"), "replicas", "replicas -1 refused");
	MF_STR_EQ(k8s_refusal("{\"resources\": {\"limits\": {\"memory\": \"big\"}}}"), "resources.limits.memory",
			  "a bad quantity names its path");
	MF_STR_EQ(k8s_refusal("{\"resources\": {\"request\": {}}}"), "resources.request", "an unknown key in resources");
	MF_STR_EQ(k8s_refusal("{\"scaling\": {\"min_replicas\": 5, \"max_replicas\": 4}}"), "scaling.max_replicas",
			  "max below min");
	MF_STR_EQ(k8s_refusal("{\"service\": {\"port\": 0}}"), "service.port", "service port 0");
	MF_STR_EQ(k8s_refusal("{\"name\": \"Churn\"}"), "name", "a given name is checked, not changed");
	MF_STR_EQ(k8s_refusal("{\"scaling\": {\"min_replicas\": 2, \"max_replicas\": 2, \"cpu_target\": 100}}"), "",
			  "min = max and a 100% target are fine");
}

/* The IoT Edge manifest. */
static void
test_iot(void)
{
	MfManifestError err;
	json_t	   *empty = json_pack("{}");
	json_t	   *m = mf_render_iot_edge(&Target, empty, &err);
	json_t	   *agent = json_object_get(json_object_get(json_object_get(m, "modulesContent"), "$edgeAgent"),
										"properties.desired");
	json_t	   *cred = json_object_get(json_object_get(json_object_get(json_object_get(agent, "runtime"), "settings"),
													   "registryCredentials"), "registry");

	MF_OK(m != NULL, "IoT Edge manifest rendered");
	MF_STR_EQ(json_string_value(json_object_get(cred, "password")), "$CONTAINER_REGISTRY_PASSWORD_registry",
			  "the password is a placeholder");
	MF_STR_EQ(json_string_value(json_object_get(cred, "address")), "registry.example.com:5000",
			  "the registry address is the image's host");
	MF_STR_EQ(json_string_value(json_object_get(json_object_get(json_object_get(json_object_get(agent, "modules"),
																				 "churn-model"), "settings"), "image")),
			  Target.image, "the module runs the image by digest");
	json_decref(m);
	json_decref(empty);
	MF_STR_EQ(iot_refusal("{\"restart_policy\": \"sometimes\"}"), "restart_policy", "a bad restart policy");
	MF_STR_EQ(iot_refusal("{\"registry\": {\"address\": \"a b\"}}"), "registry.address", "a bad registry address");
	MF_STR_EQ(iot_refusal("{\"routes\": {}}"), "routes", "no routes at all");
	MF_STR_EQ(iot_refusal("{\"runtime_version\": \"2.0\"}"), "runtime_version", "runtime 2.0");
	MF_STR_EQ(iot_refusal("{\"registry\": false, \"host_port\": 0}"), "", "a public registry, no host port");
}

int
main(void)
{
	MfDeployTarget no_image = Target;
	MfManifestError err;
	json_t	   *empty = json_pack("{}");

	test_names();
	test_yaml();
	test_k8s();
	test_iot();
	no_image.image = "registry.example.com/models/churn:latest";
	MF_OK(mf_render_k8s_docs(&no_image, empty, &err) == NULL && strcmp(err.path, "image") == 0,
		  "an image without digest is refused");
	json_decref(empty);
	return mf_test_done();
}
