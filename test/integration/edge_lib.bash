# shellcheck shell=bash
# The edge host of the image tests and benchmarks (sourced, not a test): a
# network namespace made here with a veth pair on a private /30 (the host end
# in the root namespace, where the database runs), a docker-registry on
# loopback, an image pulled back from it into a runtime bundle (skopeo copy,
# umoci unpack) and that bundle run under runc inside the namespace.
#
# Every function returns non-zero with a message on stderr when it fails; the
# caller decides (a test calls fail, a benchmark die).  Needs root (ip netns,
# runc); runc keeps its state under $EDGE_RUNC_ROOT, not in /run/runc, so
# nothing here sees or touches containers it did not start.

# edge_net_init TAG: this process's names and addresses (EDGE_NS, EDGE_VETH_HOST,
# EDGE_VETH_NS, EDGE_SUB, EDGE_HOST_IP, EDGE_IP); TAG (at most 4 letters) keeps
# the callers' interfaces apart, the pid keeps runs apart.
edge_net_init() {
	EDGE_NS="mf$1$$"
	EDGE_VETH_HOST="$1h$$"
	EDGE_VETH_NS="$1n$$"
	EDGE_SUB="10.$((200 + $$ % 50)).$(($$ / 50 % 250)).$((($$ % 60) * 4))"
	EDGE_HOST_IP="${EDGE_SUB%.*}.$((${EDGE_SUB##*.} + 1))"
	EDGE_IP="${EDGE_SUB%.*}.$((${EDGE_SUB##*.} + 2))"
}

# edge_net_up: the namespace and the veth pair, EDGE_HOST_IP/30 here and EDGE_IP/30 there.
edge_net_up() {
	ip netns add "$EDGE_NS" || { echo "ip netns add $EDGE_NS failed" >&2; return 1; }
	ip link add "$EDGE_VETH_HOST" type veth peer name "$EDGE_VETH_NS" &&
		ip link set "$EDGE_VETH_NS" netns "$EDGE_NS" &&
		ip addr add "$EDGE_HOST_IP/30" dev "$EDGE_VETH_HOST" && ip link set "$EDGE_VETH_HOST" up &&
		ip netns exec "$EDGE_NS" ip addr add "$EDGE_IP/30" dev "$EDGE_VETH_NS" &&
		ip netns exec "$EDGE_NS" ip link set "$EDGE_VETH_NS" up &&
		ip netns exec "$EDGE_NS" ip link set lo up ||
		{ echo "the veth pair $EDGE_VETH_HOST/$EDGE_VETH_NS could not be set up" >&2; return 1; }
}

# edge_net_down: the namespace and the link gone (quietly, also when half made).
edge_net_down() {
	[ -z "${EDGE_NS:-}" ] || ip netns del "$EDGE_NS" 2>/dev/null || true
	[ -z "${EDGE_VETH_HOST:-}" ] || ip link del "$EDGE_VETH_HOST" 2>/dev/null || true
}

# registry_up DIR: Debian's docker-registry on a free loopback port, anonymous,
# storing under DIR; sets REGISTRY_PORT and REGISTRY_PID once /v2/ answers 200.
registry_up() {
	REGISTRY_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
	mkdir -p "$1"
	cat >"$1/registry.yml" <<EOF
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $1/data}}
http: {addr: "127.0.0.1:$REGISTRY_PORT", secret: mf-edge-$$}
EOF
	docker-registry serve "$1/registry.yml" >"$1/registry.log" 2>&1 &
	REGISTRY_PID=$!
	for _ in $(seq 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$REGISTRY_PORT/v2/" || true)" = 200 ] && return 0
		kill -0 "$REGISTRY_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "docker-registry on 127.0.0.1:$REGISTRY_PORT did not answer: $(tail -5 "$1/registry.log")" >&2
	return 1
}

# edge_pull REF LAYOUT TAG: skopeo copies docker://REF (a plain-http registry on
# loopback) into the OCI layout LAYOUT as TAG.
edge_pull() {
	skopeo copy -q --src-tls-verify=false "docker://$1" "oci:$2:$3" >"$2.skopeo.log" 2>&1 ||
		{ echo "skopeo copy docker://$1 failed: $(cat "$2.skopeo.log")" >&2; return 1; }
}

# edge_bundle LAYOUT TAG BUNDLE: umoci unpacks the image into a runtime bundle
# (process, user and environment from the image's config), then its
# config.json is made to run detached in the edge namespace: no terminal, the
# network namespace at /var/run/netns/EDGE_NS (runc joins it instead of
# making an empty one), a read-only root.
edge_bundle() {
	umoci unpack --image "$1:$2" "$3" >"$3.umoci.log" 2>&1 ||
		{ echo "umoci unpack $1:$2 failed: $(cat "$3.umoci.log")" >&2; return 1; }
	edge_bundle_config "$3"
}

# edge_bundle_config BUNDLE: the edge settings above, in BUNDLE/config.json.
edge_bundle_config() {
	jq --arg ns "/var/run/netns/$EDGE_NS" '.process.terminal = false | .root.readonly = true
		| .linux.namespaces |= map(if .type == "network" then .path = $ns else . end)' \
		"$1/config.json" >"$1/config.json.new" && mv "$1/config.json.new" "$1/config.json" ||
		{ echo "cannot rewrite $1/config.json" >&2; return 1; }
}

# edge_run ID BUNDLE LOG: `runc run -d` of BUNDLE as container ID (its stdout
# and stderr go to LOG); EDGE_PID is the container's first process.
edge_run() {
	runc --root "$EDGE_RUNC_ROOT" run -d --bundle "$2" --pid-file "$2.pid" "$1" >"$3" 2>&1 </dev/null ||
		{ echo "runc run $1 failed: $(cat "$3")" >&2; return 1; }
	# shellcheck disable=SC2034 # read by the callers
	EDGE_PID="$(cat "$2.pid")"
}

# edge_state ID: the container's status as runc reports it (running, stopped, ...).
edge_state() { runc --root "$EDGE_RUNC_ROOT" state "$1" 2>/dev/null | jq -r .status; }

# edge_stop ID: the container killed and deleted (quietly, also when gone).
edge_stop() {
	[ -d "${EDGE_RUNC_ROOT:-}/$1" ] || return 0
	runc --root "$EDGE_RUNC_ROOT" kill "$1" KILL 2>/dev/null || true
	runc --root "$EDGE_RUNC_ROOT" delete --force "$1" 2>/dev/null || true
}

# edge_wait URL LIMIT: wait (at most LIMIT seconds) until URL answers 200.
edge_wait() {
	local t0
	t0="$(date +%s)"
	until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true)" = 200 ]; do
		[ $(($(date +%s) - t0)) -lt "$2" ] || { echo "$1 did not answer 200 within $2 s" >&2; return 1; }
		sleep 0.05
	done
}
