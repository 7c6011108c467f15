#!/usr/bin/env bash
# `make demo`: install dependencies, build and install mf_ext, (re)start the
# private demo cluster, bring mf_ext in database mf to the installed version
# without dropping anything (scripts/lib.sh mf_ensure_extension), wait for the
# background-job launcher, and run the quickstart (examples/quickstart.sql, or
# $MF_QUICKSTART). Safe to re-run: every model and object of yours is kept;
# the quickstart replaces only what it created itself (models tagged
# 'quickstart', schema quickstart) and stops if a model of yours has one of
# its model names.
#   scripts/demo.sh --reset   (`make reset`) drops mf_ext in database mf
#                             first, after listing what that drops.
# MF_DEMO_SETUP=0 skips packages, build and install, and starts the cluster
# only if it is not running (the integration tests do that).
# The in-database HTTP server is turned on at $MF_HTTP_PORT (default: the
# cluster's port + 3266, so 8765 for the demo cluster's 5499; 0 leaves it
# off); the quickstart deploys its classifier there.
# A local OCI registry (Debian's docker-registry on 127.0.0.1, images in
# .mf/registry, port $MF_REGISTRY_PORT, default the cluster's port + 5000)
# is started, or reused when it runs; `make stop` stops it. The quickstart
# gets its URL as psql variable registry_url and pushes its classifier's
# image there.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

CLUSTER="$MF_ROOT/scripts/cluster.sh"
QUICKSTART="${MF_QUICKSTART:-$MF_ROOT/examples/quickstart.sql}"
QUICKSTART_TAG=quickstart
HTTP_MODEL=iris_species
IMAGE_MODEL=iris_species
IMAGE=""
REGISTRY_URL=""

# Install packages, build, install, and restart so the new libraries load.
setup() {
	if [ "${MF_DEMO_SETUP:-1}" != 0 ]; then
		"$MF_ROOT/scripts/install-deps.sh"
		mf_build || die "build failed (log: build/logs/build.log)"
		mf_install || die "make install failed (log: build/logs/install.log)"
		"$CLUSTER" restart
	else
		"$CLUSTER" start
	fi
	eval "$("$CLUSTER" env)"
	export PGHOST PGPORT PGUSER PGDATABASE
}

# Print the names of the models the quickstart creates (from its
# mf_create_model* calls: "name": "x" in jsonb, name: x in YAML).
quickstart_models() {
	awk '/mf_create_model_from_yaml/ { yaml = 1 }
	     yaml && /^ *name: *[A-Za-z0-9_]+/ { sub(/^ *name: */, ""); print $1; yaml = 0; next }
	     /mf_create_model\(/ && match($0, /"name": *"[^"]+"/) {
	         s = substr($0, RSTART, RLENGTH); sub(/^"name": *"/, "", s); sub(/"$/, "", s); print s }' "$QUICKSTART"
}

# Stop before the quickstart when a model it would create already exists
# without its tag: that model is the user's (mf_create_model would add a
# version to it).
check_quickstart_names() {
	local names clash
	names="$(quickstart_models | paste -sd, -)"
	clash="$(mf_query "SELECT string_agg(name, ', ' ORDER BY name) FROM mf.models
	                    WHERE name = ANY (string_to_array('$names', ','))
	                      AND NOT '$QUICKSTART_TAG' = ANY (tags)")"
	[ -z "$clash" ] && return 0
	die "database $PGDATABASE has models of yours named like the quickstart's ($clash; they lack the tag '$QUICKSTART_TAG'). The quickstart did not run and they are untouched: rename yours (SELECT mf_register_model('name', name => 'new_name')) or tag them '$QUICKSTART_TAG' to let the quickstart replace them."
}

# Run the quickstart with its statements echoed.
run_quickstart() {
	[ -f "$QUICKSTART" ] || die "quickstart not found: $QUICKSTART"
	check_quickstart_names
	info "running ${QUICKSTART#"$MF_ROOT"/}"
	echo
	"$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -v registry_url="$REGISTRY_URL" --echo-all -f "$QUICKSTART"
	echo
}

# Start the local OCI registry (or reuse it) and set REGISTRY_URL.
start_registry() {
	"$CLUSTER" registry start
	REGISTRY_URL="$("$CLUSTER" registry url)" || die "the local registry is not running"
}

# Say where the quickstart's image is and show it as a client pulling it sees it.
show_image() {
	IMAGE="$(mf_query "SELECT image FROM mf.deployments WHERE model_name = '$IMAGE_MODEL' AND target = 'oci'
	                     AND status = 'active' ORDER BY deployment_id DESC LIMIT 1")"
	[ -n "$IMAGE" ] || return 0
	info "the quickstart pushed $IMAGE_MODEL as an image to the local registry at $REGISTRY_URL"
	echo "\$ skopeo inspect --tls-verify=false docker://$IMAGE"
	skopeo inspect --tls-verify=false "docker://$IMAGE" || warn "skopeo could not read $IMAGE"
	echo
}

# Turn the in-database HTTP server on (ALTER SYSTEM mf.http_port, reload).
enable_http() {
	HTTP_PORT="${MF_HTTP_PORT:-$((PGPORT + 3266))}"
	[ "$HTTP_PORT" != 0 ] || return 0
	mf_sql "ALTER SYSTEM SET mf.http_port = $HTTP_PORT" && mf_sql "SELECT pg_reload_conf()" ||
		warn "could not set mf.http_port: the HTTP server stays off"
}

# Wait until the quickstart's classifier is served, then call it in both protocols.
show_http() {
	local t0 body
	[ "${HTTP_PORT:-0}" != 0 ] || return 0
	HTTP_URL="http://localhost:$HTTP_PORT"
	t0="$(date +%s)"
	until [ "$(curl -s -o /dev/null -w '%{http_code}' "$HTTP_URL/v1/models/$HTTP_MODEL" || true)" = 200 ]; do
		if [ $(($(date +%s) - t0)) -ge 15 ]; then
			warn "the HTTP server does not serve $HTTP_MODEL at $HTTP_URL after 15 s (SELECT * FROM mf._http_state(); the server log says why)"
			HTTP_URL=""
			return 0
		fi
		sleep 0.2
	done
	body='{"instances": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]}'
	info "the in-database HTTP server serves $HTTP_MODEL at $HTTP_URL"
	echo "\$ curl -s $HTTP_URL/v1/models/$HTTP_MODEL:predict -d '$body'"
	curl -s "$HTTP_URL/v1/models/$HTTP_MODEL:predict" -d "$body"
	echo
	body='{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]}'
	echo "\$ curl -s $HTTP_URL/v2/models/$HTTP_MODEL/infer -d '$body'"
	curl -s "$HTTP_URL/v2/models/$HTTP_MODEL/infer" -d "$body"
	echo
	echo
}

# Tell the user how to connect and how to stop.
print_next_steps() {
	cat <<EOF2
The mf_ext demo cluster is running. It asks no password (trust), so it is kept local: it listens on
127.0.0.1 only (any user of this machine can connect there) and on a socket in $PGHOST,
a directory only its owner can open. Keep it for demo data.
  connect:  psql -h $PGHOST -p $PGPORT -U $PGUSER $PGDATABASE
            (or: eval "\$(scripts/cluster.sh env)"; psql   or: scripts/cluster.sh psql)
  over TCP: psql -h 127.0.0.1 -p $PGPORT -U $PGUSER $PGDATABASE
  registry: $REGISTRY_URL (plain HTTP on 127.0.0.1, images kept under .mf/: scripts/cluster.sh registry status)${IMAGE:+
  image:    skopeo copy --src-tls-verify=false docker://$IMAGE oci:$IMAGE_MODEL:latest}
  re-run:   make demo keeps your models and objects; make reset drops them (it lists them first)${HTTP_URL:+
  HTTP:     $HTTP_URL/v1/models/$HTTP_MODEL (TensorFlow Serving REST), $HTTP_URL/v2/models/$HTTP_MODEL (Open Inference
            Protocol v2), $HTTP_URL/health, $HTTP_URL/metrics; mf_deploy() serves more models there}
  stop:     make stop (the cluster and the registry)
EOF2
}

# Main: set up, (reset,) ensure the extension, wait for the launcher, run.
main() {
	setup
	if [ "${1:-}" = --reset ]; then mf_reset_extension; fi
	mf_ensure_extension
	mf_wait_for_launcher 30
	enable_http
	start_registry
	run_quickstart
	show_http
	show_image
	print_next_steps
}

main "$@"
