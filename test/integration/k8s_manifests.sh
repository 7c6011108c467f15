#!/usr/bin/env bash
# mf_render_k8s and mf_render_iot_edge, validated against the real schemas:
# the Kubernetes OpenAPI schemas per kind (npm kubernetes-models with
# @kubernetes-models/validate) for the Deployment, Service and
# HorizontalPodAutoscaler, KServe's InferenceService CRD openAPIV3Schema
# (test/data/kserve, vendored from kserve/kserve) through npm ajv, and the
# Azure IoT Edge manifest through a JSON schema written from Microsoft's
# documentation (test/integration/k8s/iot_edge.schema.json says which pages).
# Rendered as a LOGIN role holding only mf_reader; the YAML is read back by
# js-yaml and its fields checked against the deployment row and the options;
# refusals (bad options with their path, no image, unknown deployment, no
# mf_reader) with their SQLSTATEs.
#
# The image deployment is a row this test inserts as superuser in mf.deployments
# (target oci, an image reference by digest), standing in for a pushed image
# until the image branch's mf_deploy(ref, 'oci', ...) lands on main.
. "$(dirname "$0")/jobs_lib.bash"
wait_for_server || fail "server not reachable"
K8S_DIR="$MF_ROOT/test/integration/k8s"
NPM_DIR="$MF_ROOT/build/npm-k8s"
TMP=""

# Drop the test's model, table and role (also at exit).
cleanup() {
	sql "DELETE FROM mf.deployments WHERE model_name = 'k8s_churn'" || true
	sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = 'k8s_churn'" || true
	sql "DROP TABLE IF EXISTS k8s_train; DROP ROLE IF EXISTS k8s_reader, k8s_nobody" || true
	[ -z "$TMP" ] || rm -rf "$TMP"
}
trap cleanup EXIT
sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
cleanup
TMP="$(mktemp -d)"

"$K8S_DIR/npm_tools.sh" "$NPM_DIR" || fail "could not install the validators from npm"
cp "$K8S_DIR/validate_manifests.mjs" "$NPM_DIR/"
pass "kubernetes-models, @kubernetes-models/validate, ajv and js-yaml installed in build/npm-k8s"

sql "CREATE TABLE k8s_train AS
     SELECT (i % 13) / 6.5 - 1 AS x1, (i % 7)::int AS x2, (ARRAY['red', 'blue', 'green'])[1 + i % 3] AS colour,
            CASE WHEN (i % 13) / 6.5 - 1 + 0.2 * (i % 4) > 0 THEN 'yes' ELSE 'no' END AS y
       FROM generate_series(1, 300) i"
sql "SELECT mf_create_model('{\"name\": \"k8s_churn\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_train('k8s_churn', 'k8s_train', 'y')"
IMAGE="registry.example.com:5000/models/k8s-churn@sha256:$(printf 'k8s' | sha256sum | cut -c1-64)"
DEP="$(q "INSERT INTO mf.deployments (model_name, version, ref, target, name, status, image, created_by)
          VALUES ('k8s_churn', '1.0.0', 'k8s_churn:1.0.0', 'oci', 'k8s_churn', 'active', '$IMAGE', current_user)
          RETURNING deployment_id")"
HTTP_DEP="$(q "INSERT INTO mf.deployments (model_name, version, ref, target, name, status, created_by)
               VALUES ('k8s_churn', '1.0.0', 'k8s_churn:1.0.0', 'http', 'k8s_churn_http', 'active', current_user)
               RETURNING deployment_id")"
sql "CREATE ROLE k8s_reader LOGIN IN ROLE mf_reader; CREATE ROLE k8s_nobody LOGIN"

# Render options $2 for deployment $DEP as k8s_reader into $TMP/$1.yaml.
render_k8s() {
	PGUSER=k8s_reader q "SELECT mf_render_k8s($DEP, '$2')" >"$TMP/$1.yaml" || fail "$1: mf_render_k8s failed"
}
# Render options $2 as k8s_reader into $TMP/$1.json.
render_iot() {
	PGUSER=k8s_reader q "SELECT mf_render_iot_edge($DEP, '$2')" >"$TMP/$1.json" || fail "$1: mf_render_iot_edge failed"
}
# jq query $2 over the documents of render $1 (as js-yaml read them back).
jqd() { jq -r "$2" "$TMP/$1.json"; }

# Everything is rendered first and validated in one node run (loading the
# validators and compiling the 500 kB KServe schema takes seconds).
OPTS='{"name": "churn-prod", "namespace": "ml-prod", "replicas": 2, "port": 9000,
       "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
       "service": {"type": "LoadBalancer", "port": 8080}, "scaling": {"min_replicas": 2, "max_replicas": 10, "cpu_target": 55},
       "image_pull_secret": "acr-pull", "kserve": true}'
render_k8s default '{}'
render_k8s full "$OPTS"
# Broken copies the validators must refuse: replicas a string; an InferenceService without predictor; an IoT module without image.
sed 's/^  replicas: 2$/  replicas: "two"/' "$TMP/full.yaml" >"$TMP/broken.yaml"
sed 's/^  predictor:$/  predictr:/' "$TMP/full.yaml" >"$TMP/broken2.yaml"
render_iot iot_default '{}'
render_iot iot_opts '{"module_name": "scorer", "port": 9000, "host_port": 0, "runtime_version": "1.5", "restart_policy": "on-failure",
                      "registry": {"name": "prodacr", "address": "prod.azurecr.io"}, "routes": {"toHub": "FROM /messages/modules/scorer/outputs/* INTO $upstream"}}'
render_iot iot_public '{"registry": false}'
jq 'del(.modulesContent["$edgeAgent"]["properties.desired"].modules["k8s-churn"].settings.image)' "$TMP/iot_default.json" >"$TMP/iot_broken.json"
(cd "$NPM_DIR" && node validate_manifests.mjs "$MF_ROOT/test/data/kserve/inferenceservice.v1beta1.schema.json" \
	"$K8S_DIR/iot_edge.schema.json" "k8s:$TMP/default.yaml:$TMP/default.json" "k8s:$TMP/full.yaml:$TMP/full.json" \
	"k8s-invalid:$TMP/broken.yaml" "k8s-invalid:$TMP/broken2.yaml" "iot:$TMP/iot_default.json" "iot:$TMP/iot_opts.json" \
	"iot:$TMP/iot_public.json" "iot-invalid:$TMP/iot_broken.json") >"$TMP/validate.out" 2>&1 ||
	fail "validation: $(cat "$TMP/validate.out")"
sed 's/^/# /' "$TMP/validate.out"
pass "the validators refuse a broken Deployment, an InferenceService without predictor and an IoT module without image (they are not vacuous)"

# Defaults: Deployment, Service, HPA, all valid; image, probes, port, version as a string.
[ "$(jqd default '[.[].kind] | join(",")')" = "Deployment,Service,HorizontalPodAutoscaler" ] ||
	fail "default documents: $(jqd default '[.[].kind] | join(",")')"
pass "default manifests: Deployment apps/v1, Service v1, HorizontalPodAutoscaler autoscaling/v2, each valid"
[ "$(jqd default '.[0].spec.template.spec.containers[0].image')" = "$IMAGE" ] || fail "image is not the deployment's digest"
[ "$(jqd default '.[0].spec.template.spec.containers[0] | [.readinessProbe.httpGet.path, .livenessProbe.httpGet.path, .ports[0].containerPort, .args[1]] | map(tostring) | join(" ")')" = "/v2/health/ready /v2/health/live 8501 8501" ] ||
	fail "probes or port: $(jqd default '.[0].spec.template.spec.containers[0]')"
[ "$(jqd default '.[0].metadata | [.name, .labels["app.kubernetes.io/version"], (.labels["app.kubernetes.io/version"] | type), .annotations["mf-ext/model"], .annotations["mf-ext/deployment-id"]] | join(" ")')" = "k8s-churn 1.0.0 string k8s_churn $DEP" ] ||
	fail "metadata: $(jqd default '.[0].metadata')"
[ "$(jqd default '[.[0].spec.replicas, .[1].spec.type, .[1].spec.ports[0].port, .[2].spec.minReplicas, .[2].spec.maxReplicas, .[2].spec.metrics[0].resource.target.averageUtilization] | map(tostring) | join(" ")')" = "1 ClusterIP 80 1 3 70" ] ||
	fail "default values: $(jqd default '[.[0].spec.replicas, .[1].spec, .[2].spec]')"
[ "$(jqd default '.[0].metadata | has("namespace")')" = false ] || fail "a namespace without the option"
pass "default values: served name k8s_churn sanitised to k8s-churn, image by digest, probes on /v2/health/ready and /v2/health/live, port 8501, replicas 1, ClusterIP:80, HPA 1..3 at 70% CPU, version read back as a string"

# Every option, with KServe.
[ "$(jqd full '[.[].kind] | join(",")')" = "Deployment,Service,HorizontalPodAutoscaler,InferenceService" ] ||
	fail "full documents: $(jqd full '[.[].kind] | join(",")')"
pass "with kserve: true a KServe InferenceService is added, valid against the CRD's openAPIV3Schema"
[ "$(jqd full '[.[].metadata.namespace] | unique | join(",")')" = ml-prod ] || fail "namespace not on every document"
[ "$(jqd full '[.[].metadata.name] | unique | join(",")')" = churn-prod ] || fail "name not on every document"
[ "$(jqd full '.[0].spec.template.spec | [.containers[0].resources.requests.cpu, .containers[0].resources.limits.memory, .containers[0].ports[0].containerPort, .imagePullSecrets[0].name] | map(tostring) | join(" ")')" = "500m 2Gi 9000 acr-pull" ] ||
	fail "deployment options: $(jqd full '.[0].spec.template.spec')"
[ "$(jqd full '[.[0].spec.replicas, .[1].spec.type, .[1].spec.ports[0].port, .[2].spec.minReplicas, .[2].spec.maxReplicas, .[2].spec.metrics[0].resource.target.averageUtilization] | map(tostring) | join(" ")')" = "2 LoadBalancer 8080 2 10 55" ] ||
	fail "service/scaling options"
[ "$(jqd full '.[3].spec.predictor | [.containers[0].name, .containers[0].image, (.containers[0].env[] | select(.name == "PROTOCOL") | .value), .minReplicas, .maxReplicas, .imagePullSecrets[0].name] | map(tostring) | join(" ")')" = "kserve-container $IMAGE v2 2 10 acr-pull" ] ||
	fail "InferenceService predictor: $(jqd full '.[3].spec.predictor')"
pass "every option lands where Kubernetes reads it (namespace, name, replicas, port, resources, LoadBalancer:8080, HPA 2..10 at 55%, pull secret); the predictor is a custom container speaking PROTOCOL=v2"

# IoT Edge.
A='.modulesContent["$edgeAgent"]["properties.desired"]'
[ "$(jq -r "$A.modules[\"k8s-churn\"].settings.image" "$TMP/iot_default.json")" = "$IMAGE" ] || fail "IoT module image"
[ "$(jq -r "$A.runtime.settings.registryCredentials | to_entries[0] | [.key, .value.username, .value.password, .value.address] | join(\" \")" "$TMP/iot_default.json")" = \
	"registry \$CONTAINER_REGISTRY_USERNAME_registry \$CONTAINER_REGISTRY_PASSWORD_registry registry.example.com:5000" ] ||
	fail "registry credentials: $(jq -c "$A.runtime.settings.registryCredentials" "$TMP/iot_default.json")"
[ "$(jq -r "$A.modules[\"k8s-churn\"].settings.createOptions | fromjson | .HostConfig.PortBindings[\"8501/tcp\"][0].HostPort" "$TMP/iot_default.json")" = 8501 ] ||
	fail "createOptions port binding"
[ "$(jq -r '.modulesContent["$edgeHub"]["properties.desired"].routes | to_entries[0].value.route' "$TMP/iot_default.json")" = \
	'FROM /messages/modules/k8s-churn/outputs/* INTO $upstream' ] || fail "default route"
pass "IoT Edge manifest valid against the documented shape: module k8s-churn with the image by digest, port 8501 published, credentials by placeholder only, a default upstream route"
[ "$(jq -r "[$A.modules.scorer.restartPolicy, $A.systemModules.edgeHub.settings.image, ($A.modules.scorer.settings.createOptions | fromjson | has(\"HostConfig\")), $A.runtime.settings.registryCredentials.prodacr.address] | map(tostring) | join(\" \")" "$TMP/iot_opts.json")" = \
	"on-failure mcr.microsoft.com/azureiotedge-hub:1.5 false prod.azurecr.io" ] || fail "IoT options: $(cat "$TMP/iot_opts.json")"
[ "$(jq -r "$A.runtime.settings | has(\"registryCredentials\")" "$TMP/iot_public.json")" = false ] || fail "registry: false kept credentials"
pass "IoT Edge options (module name, port, no host port, runtime 1.5, restart policy, named registry, routes, public registry) valid and applied"
! grep -qi 'password"' <(jq -c "$A.runtime.settings.registryCredentials[].password" "$TMP/iot_opts.json" | grep -v '^"\$CONTAINER_REGISTRY_PASSWORD_') ||
	fail "a password that is not a placeholder"

# Refusals: SQLSTATE and the option's path.
refused k8s_reader "SELECT mf_render_k8s($DEP, '{\"replicas\": -1}')" 22023 "mf_render_k8s: invalid option" 'options.replicas: must be between 0 and 1000, not -1'
refused k8s_reader "SELECT mf_render_k8s($DEP, '{\"resources\": {\"requests\": {\"cpu\": \"lots\"}}}')" 22023 "mf_render_k8s: invalid option" 'options.resources.requests.cpu: "lots" is not valid'
refused k8s_reader "SELECT mf_render_k8s($DEP, '{\"scaling\": {\"min_replicas\": 4, \"max_replicas\": 2}}')" 22023 "mf_render_k8s: invalid option" 'options.scaling.max_replicas: must be at least scaling.min_replicas (4), not 2'
refused k8s_reader "SELECT mf_render_k8s($DEP, '{\"service\": {\"type\": \"Ingress\"}}')" 22023 "mf_render_k8s: invalid option" 'options.service.type: "Ingress" is not valid'
refused k8s_reader "SELECT mf_render_k8s($DEP, '{\"namespace\": \"Bad_NS\"}')" 22023 "mf_render_k8s: invalid option" 'options.namespace: "Bad_NS" is not valid: it must be a DNS-1123 label'
refused k8s_reader "SELECT mf_render_k8s($DEP, '{\"servic\": {}}')" 22023 "mf_render_k8s: invalid option" 'options.servic: unknown option'
refused k8s_reader "SELECT mf_render_k8s($DEP, '{\"kserve\": \"yes\"}')" 22023 "mf_render_k8s: invalid option" 'options.kserve: must be true or false'
refused k8s_reader "SELECT mf_render_k8s($DEP, '[1]')" 22023 "mf_render_k8s: invalid option" 'options: must be a JSON object'
refused k8s_reader "SELECT mf_render_iot_edge($DEP, '{\"routes\": {\"r1\": \"to the cloud\"}}')" 22023 "mf_render_iot_edge: invalid option" 'options.routes.r1: must be a route text'
refused k8s_reader "SELECT mf_render_iot_edge($DEP, '{\"registry\": {\"name\": \"my-acr\"}}')" 22023 "mf_render_iot_edge: invalid option" 'options.registry.name: "my-acr" is not valid'
refused k8s_reader "SELECT mf_render_iot_edge($DEP, '{\"host_port\": 70000}')" 22023 "mf_render_iot_edge: invalid option" 'options.host_port: must be between 0 and 65535'
refused k8s_reader "SELECT mf_render_k8s($HTTP_DEP)" 55000 "mf_render_k8s: a deployment without image" "deployment $HTTP_DEP has no image to render Kubernetes manifests for"
refused k8s_reader "SELECT mf_render_iot_edge($HTTP_DEP)" 55000 "mf_render_iot_edge: a deployment without image" "deployment $HTTP_DEP has no image to render an IoT Edge manifest for"
refused k8s_reader "SELECT mf_render_k8s(999999999)" 42704 "mf_render_k8s: an unknown deployment" "deployment 999999999 does not exist"
refused k8s_nobody "SELECT mf_render_k8s($DEP)" 42501 "mf_render_k8s: a role without mf_reader" "permission denied to render Kubernetes manifests for deployments"
[ "$(q "SELECT mf_render_k8s($DEP, '$OPTS') = mf_render_k8s($DEP, '$OPTS')")" = t ] || fail "rendering is not deterministic"
pass "the same deployment and options render the same text"
