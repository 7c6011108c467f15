# shellcheck shell=bash
# The local OCI registry of a cluster (sourced by scripts/cluster.sh, never
# run): Debian's docker-registry on 127.0.0.1, started or reused by
# `scripts/cluster.sh registry start` (make demo: the quickstart pushes its
# classifier's image there), stopped with the cluster (`make stop`).
#
# Layout, beside the cluster (after resolve_paths): <cluster dir>/registry
# holds the images (.mf/registry for the demo cluster; nothing here ever
# deletes it), <cluster dir>/run/registry.yml its config (rewritten on every
# start), run/registry.pid its pid, log/registry.log its log. As root it is
# run by the `postgres` OS user, like the cluster. Port: $MF_REGISTRY_PORT,
# default the cluster's port + 5000 (10499 for the demo cluster's 5499).

REGISTRY_PORT="${MF_REGISTRY_PORT:-$((PORT + 5000))}"

# Set REG_DATA, REG_CONF, REG_PID and REG_LOG (after resolve_paths).
registry_paths() {
	REG_DATA="$CL/registry"
	REG_CONF="$RUN/registry.yml"
	REG_PID="$RUN/registry.pid"
	REG_LOG="$CL/log/registry.log"
}

# Print the pid of this cluster's running registry (nothing when it is not
# running, or when the recorded pid is now another process).
registry_pid() {
	local pid
	pid="$(cat "$REG_PID" 2>/dev/null || true)"
	[ -n "$pid" ] || return 0
	if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "docker-registry serve $REG_CONF"; then
		echo "$pid"
	fi
}

# The port of the running registry (from its config), else $REGISTRY_PORT.
registry_port() {
	local p=""
	[ -z "$(registry_pid)" ] || p="$(sed -n 's/^ *addr: *"127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$REG_CONF")"
	echo "${p:-$REGISTRY_PORT}"
}

# True when the registry at port $1 answers its /v2/ API.
registry_answers() {
	[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/v2/" || true)" = 200 ]
}

# (Re)write the config: images in REG_DATA, loopback only, a fresh secret
# (it signs upload states; the file is in the owner's private run/).
registry_write_conf() {
	as_pg tee "$REG_CONF" >/dev/null <<EOF
# Written by scripts/cluster.sh registry start: edit scripts/registry.bash, not this file.
version: 0.1
log: {level: info}
storage: {filesystem: {rootdirectory: $REG_DATA}}
http:
  addr: "127.0.0.1:$REGISTRY_PORT"
  secret: $(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
EOF
}

# Start the registry (idempotent: a running one is reused) and wait until it answers.
registry_start() {
	local pid t0
	command -v docker-registry >/dev/null || die "docker-registry is not installed: run 'make deps'"
	pid="$(registry_pid)"
	if [ -n "$pid" ]; then
		info "registry already running on 127.0.0.1:$(registry_port) (images: $REG_DATA)"
		[ "$(registry_port)" = "$REGISTRY_PORT" ] || warn "MF_REGISTRY_PORT=$REGISTRY_PORT differs: 'make stop' first to move it"
		return 0
	fi
	prepare_owned "$REG_DATA"
	touch "$REG_LOG"
	if is_root; then chown postgres:postgres "$REG_LOG"; fi
	registry_write_conf
	info "starting the local OCI registry on 127.0.0.1:$REGISTRY_PORT (images: $REG_DATA, log: $REG_LOG)"
	# setsid -f: its own session, so it outlives this script; exec keeps the recorded pid.
	# shellcheck disable=SC2016 # $$ and $1..$3 are the inner shell's
	as_pg setsid -f sh -c 'echo $$ >"$1" && exec docker-registry serve "$2" >>"$3" 2>&1' \
		registry "$REG_PID" "$REG_CONF" "$REG_LOG" </dev/null
	t0="$(date +%s)"
	until registry_answers "$REGISTRY_PORT" && [ -n "$(registry_pid)" ]; do
		# gone after 2 s (e.g. the port is taken), or not answering after 15 s
		if [ $(($(date +%s) - t0)) -ge 15 ] || { [ -z "$(registry_pid)" ] && [ $(($(date +%s) - t0)) -ge 2 ]; }; then
			echo "--- last lines of $REG_LOG ---" >&2
			tail -n 15 "$REG_LOG" >&2
			registry_stop >/dev/null
			die "the local registry did not start on 127.0.0.1:$REGISTRY_PORT (port busy? try MF_REGISTRY_PORT=<port>)"
		fi
		sleep 0.1
	done
}

# Stop the registry (idempotent); its images stay in REG_DATA.
registry_stop() {
	local pid
	pid="$(registry_pid)"
	[ -n "$pid" ] || return 0
	as_pg kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		[ -n "$(registry_pid)" ] || break
		sleep 0.1
	done
	[ -z "$(registry_pid)" ] || die "the local registry (pid $pid) did not stop"
	info "registry stopped (images kept in $REG_DATA)"
}

# Print the registry's URL; status 3 when it is not running.
registry_url() {
	[ -n "$(registry_pid)" ] || return 3
	echo "http://127.0.0.1:$(registry_port)"
}

# `scripts/cluster.sh registry start|stop|status|url`.
cmd_registry() {
	resolve_paths
	registry_paths
	case "${1:-}" in
	start) registry_start ;;
	stop) registry_stop ;;
	url) registry_url ;;
	status)
		if [ -n "$(registry_pid)" ]; then
			echo "registry running: http://127.0.0.1:$(registry_port), images $REG_DATA, log $REG_LOG"
		else
			echo "registry stopped: images $REG_DATA"
			return 3
		fi
		;;
	*)
		echo "usage: $0 registry {start|stop|status|url}" >&2
		exit 2
		;;
	esac
}
