/*
 * iot_edge.c - the Azure IoT Edge deployment manifest of an image
 * deployment (schema 1.1, as Microsoft documents it in "Learn how to deploy
 * modules and establish routes in IoT Edge"): modulesContent.$edgeAgent
 * (runtime with registry credentials, the system modules edgeAgent and
 * edgeHub, the model's module with its image by digest and createOptions)
 * and modulesContent.$edgeHub (routes, store and forward).
 *
 * Credentials are never in the manifest: username and password are the
 * placeholders $CONTAINER_REGISTRY_USERNAME_<NAME> and
 * $CONTAINER_REGISTRY_PASSWORD_<NAME>, which the IoT Edge tooling (VS Code
 * and `iotedgedev` templates read them from .env) or the operator replaces
 * at deployment time.  Pure C.
 */
#include "manifest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The checked options of mf_render_iot_edge. */
typedef struct MfEdgeOptions
{
	char		module[MF_DNS1123_LABEL_MAX + 1];
	long long	port;
	long long	host_port;		/* 0: not published on the host */
	const char *runtime;		/* edgeAgent/edgeHub tag */
	const char *restart;
	bool		credentials;
	char		cred_name[64];
	char		address[256];
	json_t	   *routes;			/* route name -> route text (borrowed) */
} MfEdgeOptions;

static const char *const MfEdgeKeys[] = {"module_name", "port", "host_port", "runtime_version", "restart_policy",
"registry", "routes", NULL};

/* Check: an IoT Edge runtime version "1.x". */
static const char *
MfCheckRuntime(const char *s)
{
	if (strncmp(s, "1.", 2) != 0 || s[2] == '\0' || strlen(s) > 8)
		return "it must be an IoT Edge runtime version such as \"1.4\"";
	for (const char *p = s + 2; *p != '\0'; p++)
		if (!isdigit((unsigned char) *p))
			return "it must be an IoT Edge runtime version such as \"1.4\"";
	return NULL;
}

/* Check: a module restart policy. */
static const char *
MfCheckRestart(const char *s)
{
	return strcmp(s, "never") == 0 || strcmp(s, "on-failure") == 0 || strcmp(s, "on-unhealthy") == 0 ||
		strcmp(s, "always") == 0 ? NULL : "it must be never, on-failure, on-unhealthy or always";
}

/* Check: a registry credential name (letters and digits, it names placeholders). */
static const char *
MfCheckCredName(const char *s)
{
	size_t		n = strlen(s);

	for (const char *p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char) *p))
			n = 0;
	return n >= 1 && n < 64 ? NULL : "it must be 1 to 63 letters and digits";
}

/* Check: a registry host[:port]. */
static const char *
MfCheckAddress(const char *s)
{
	size_t		n = strlen(s);

	for (const char *p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char) *p) && strchr(".-:", *p) == NULL)
			n = 0;
	return n >= 1 && n < 256 ? NULL : "it must be a registry host[:port]";
}

/* registry: false, or {name, address} (defaults from the image's host). */
static bool
MfEdgeRegistry(const MfDeployTarget *t, const json_t *o, MfEdgeOptions *e, MfManifestError *err)
{
	static const char *const keys[] = {"name", "address", NULL};
	json_t	   *v = json_object_get(o, "registry");
	const char *slash = strchr(t->image, '/');
	const char *name,
			   *addr;
	json_t	   *r;
	bool		ok;

	e->credentials = !json_is_false(v);
	if (!e->credentials)
		return true;
	if (v != NULL && !json_is_object(v) && !json_is_null(v))
		return mf_opt_fail(err, "", "registry", "must be false (a public registry) or {\"name\": ..., \"address\": ...}");
	snprintf(e->address, sizeof(e->address), "%.*s", (int) (slash - t->image), t->image);
	r = mf_opt_object(o, "", "registry", err);
	ok = r != NULL && mf_opt_keys(r, "registry", keys, err) &&
		mf_opt_string(r, "registry", "name", NULL, MfCheckCredName, &name, err) &&
		mf_opt_string(r, "registry", "address", NULL, MfCheckAddress, &addr, err);
	if (ok && addr != NULL)
		snprintf(e->address, sizeof(e->address), "%s", addr);
	if (ok && name != NULL)
		snprintf(e->cred_name, sizeof(e->cred_name), "%s", name);
	else if (ok)
	{
		size_t		n = 0;

		for (const char *p = e->address; *p != '\0' && *p != '.' && *p != ':' && n < 63; p++)
			if (isalnum((unsigned char) *p))
				e->cred_name[n++] = *p;
		e->cred_name[n] = '\0';
		if (n == 0)
			snprintf(e->cred_name, sizeof(e->cred_name), "registry");
	}
	json_decref(r);
	return ok;
}

/* routes: {name: "FROM ... INTO ..."}; default: the module's outputs upstream. */
static bool
MfEdgeRoutes(const json_t *o, MfEdgeOptions *e, MfManifestError *err)
{
	json_t	   *r = json_object_get(o, "routes");
	const char *key;
	json_t	   *v;

	e->routes = NULL;
	if (r == NULL || json_is_null(r))
		return true;
	if (!json_is_object(r) || json_object_size(r) == 0)
		return mf_opt_fail(err, "", "routes", "must be a non-empty object of route name -> \"FROM ... INTO ...\"");
	json_object_foreach(r, key, v)
	{
		if (MfCheckCredName(key) != NULL)
			return mf_opt_fail(err, "routes", key, "a route name must be 1 to 63 letters and digits");
		if (!json_is_string(v) || strncmp(json_string_value(v), "FROM ", 5) != 0 ||
			strstr(json_string_value(v), " INTO ") == NULL || json_string_length(v) > 1024)
			return mf_opt_fail(err, "routes", key, "must be a route text \"FROM <source> [WHERE ...] INTO <sink>\"");
	}
	e->routes = r;
	return true;
}

/* Read and check every option. */
static bool
MfEdgeReadOptions(const MfDeployTarget *t, const json_t *o, MfEdgeOptions *e, MfManifestError *err)
{
	const char *module;

	memset(e, 0, sizeof(*e));
	if (!json_is_object(o))
		return mf_opt_fail(err, "", "options", "must be a JSON object");
	if (!mf_opt_keys(o, "", MfEdgeKeys, err) ||
		!mf_opt_string(o, "", "module_name", NULL, mf_check_dns1123_label, &module, err) ||
		!mf_opt_int(o, "", "port", 1, 65535, MF_K8S_DEFAULT_PORT, &e->port, err) ||
		!mf_opt_int(o, "", "host_port", 0, 65535, e->port, &e->host_port, err) ||
		!mf_opt_string(o, "", "runtime_version", MF_EDGE_DEFAULT_RUNTIME, MfCheckRuntime, &e->runtime, err) ||
		!mf_opt_string(o, "", "restart_policy", "always", MfCheckRestart, &e->restart, err) ||
		!MfEdgeRegistry(t, o, e, err) || !MfEdgeRoutes(o, e, err))
		return false;
	if (module != NULL)
		snprintf(e->module, sizeof(e->module), "%s", module);
	else
		mf_dns1123_label(t->served_name, e->module, sizeof(e->module));
	if (e->module[0] == '\0')
		return mf_opt_fail(err, "", "module_name", "the served name \"%s\" leaves no DNS-1123 label; give options.module_name",
						   t->served_name);
	return true;
}

/* settings {image, createOptions[, createOptions01...]}: long options split in 512-byte parts. */
static json_t *
MfEdgeSettings(const char *image, const char *create)
{
	json_t	   *s = json_pack("{s:s}", "image", image);
	size_t		len = strlen(create);

	for (size_t off = 0, part = 0; s != NULL && (off < len || part == 0); off += MF_EDGE_CREATE_OPTIONS_CHUNK, part++)
	{
		char		key[32];
		size_t		n = len - off < MF_EDGE_CREATE_OPTIONS_CHUNK ? len - off : MF_EDGE_CREATE_OPTIONS_CHUNK;

		if (part == 0)
			snprintf(key, sizeof(key), "createOptions");
		else
			snprintf(key, sizeof(key), "createOptions%02zu", part);
		json_object_set_new(s, key, json_stringn(create + off, n));
	}
	return s;
}

/* The model module's Docker create options as compact JSON text (jansson's allocator). */
static char *
MfEdgeCreateOptions(const MfEdgeOptions *e)
{
	char		port[24],
				host[16],
				arg[16];
	json_t	   *c;
	char	   *text;

	snprintf(port, sizeof(port), "%lld/tcp", e->port);
	snprintf(host, sizeof(host), "%lld", e->host_port);
	snprintf(arg, sizeof(arg), "%lld", e->port);
	c = json_pack("{s:[s,s],s:{s:{}}}", "Cmd", "--port", arg, "ExposedPorts", port);
	if (e->host_port > 0)
		json_object_set_new(c, "HostConfig", json_pack("{s:{s:[{s:s}]}}", "PortBindings", port, "HostPort", host));
	text = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(c);
	return text;				/* jansson's allocator: mf_json_text_free */
}

/* $edgeAgent.properties.desired. */
static json_t *
MfEdgeAgent(const MfDeployTarget *t, const MfEdgeOptions *e)
{
	char		agent[96],
				hub[96],
				user[128],
				pass[128];
	char	   *create = MfEdgeCreateOptions(e);
	json_t	   *settings = json_pack("{s:s,s:s}", "minDockerVersion", "v1.25", "loggingOptions", "");
	json_t	   *module,
			   *desired;

	snprintf(agent, sizeof(agent), "mcr.microsoft.com/azureiotedge-agent:%s", e->runtime);
	snprintf(hub, sizeof(hub), "mcr.microsoft.com/azureiotedge-hub:%s", e->runtime);
	if (e->credentials)
	{
		snprintf(user, sizeof(user), "$CONTAINER_REGISTRY_USERNAME_%s", e->cred_name);
		snprintf(pass, sizeof(pass), "$CONTAINER_REGISTRY_PASSWORD_%s", e->cred_name);
		json_object_set_new(settings, "registryCredentials",
							json_pack("{s:{s:s,s:s,s:s}}", e->cred_name, "username", user, "password", pass,
									  "address", e->address));
	}
	module = json_pack("{s:s,s:s,s:s,s:s,s:i,s:o,s:{s:{s:s}}}", "version", "1.0", "type", "docker",
					   "status", "running", "restartPolicy", e->restart, "startupOrder", 1,
					   "settings", MfEdgeSettings(t->image, create ? create : "{}"),
					   "env", "MF_MODEL_VERSION", "value", t->version);
	mf_json_text_free(create);
	desired = json_pack("{s:s,s:{s:s,s:o},s:{s:{s:s,s:o},s:{s:s,s:s,s:s,s:i,s:o}},s:{s:o}}",
						"schemaVersion", "1.1",
						"runtime", "type", "docker", "settings", settings,
						"systemModules",
						"edgeAgent", "type", "docker", "settings", MfEdgeSettings(agent, "{}"),
						"edgeHub", "type", "docker", "status", "running", "restartPolicy", "always", "startupOrder", 0,
						"settings", MfEdgeSettings(hub, "{\"HostConfig\":{\"PortBindings\":{\"5671/tcp\":[{\"HostPort\":\"5671\"}],"
												   "\"8883/tcp\":[{\"HostPort\":\"8883\"}],\"443/tcp\":[{\"HostPort\":\"443\"}]}}}"),
						"modules", e->module, module);
	return desired;
}

/* $edgeHub.properties.desired. */
static json_t *
MfEdgeHub(const MfEdgeOptions *e)
{
	json_t	   *routes = json_pack("{}");
	const char *key;
	json_t	   *v;

	if (e->routes == NULL)
	{
		char		name[96],
					route[160];
		size_t		n = 0;

		for (const char *p = e->module; *p != '\0'; p++)
			if (*p != '-')
				name[n++] = *p;
		snprintf(name + n, sizeof(name) - n, "ToUpstream");
		snprintf(route, sizeof(route), "FROM /messages/modules/%s/outputs/* INTO $upstream", e->module);
		json_object_set_new(routes, name, json_pack("{s:s,s:i,s:i}", "route", route, "priority", 0,
													 "timeToLiveSecs", 7200));
	}
	else
		json_object_foreach(e->routes, key, v)
			json_object_set_new(routes, key, json_pack("{s:O,s:i,s:i}", "route", v, "priority", 0,
													   "timeToLiveSecs", 7200));
	return json_pack("{s:s,s:o,s:{s:i}}", "schemaVersion", "1.1", "routes", routes,
					 "storeAndForwardConfiguration", "timeToLiveSecs", 7200);
}

/* The Azure IoT Edge deployment manifest. */
json_t *
mf_render_iot_edge(const MfDeployTarget *t, const json_t *options, MfManifestError *err)
{
	MfEdgeOptions e;
	json_t	   *m;

	memset(err, 0, sizeof(*err));
	if (!mf_image_by_digest(t->image))
	{
		mf_opt_fail(err, "", "image", "the deployment has no image by digest (host/repository@sha256:...)");
		return NULL;
	}
	if (!MfEdgeReadOptions(t, options, &e, err))
		return NULL;
	m = json_pack("{s:{s:{s:o},s:{s:o}}}", "modulesContent",
				  "$edgeAgent", "properties.desired", MfEdgeAgent(t, &e),
				  "$edgeHub", "properties.desired", MfEdgeHub(&e));
	if (m == NULL)
		mf_opt_fail(err, "", "options", "out of memory building the manifest");
	return m;
}
