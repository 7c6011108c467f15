#!/usr/bin/env bash
# Install the Debian packages mf_ext needs, only those that are missing.
# Idempotent: when everything is present it changes nothing and runs no
# `apt-get update`. apt's output goes to build/logs/apt.log.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

# The one list of dependencies: "group label:package package ...".
# A trailing '?' means "only if the archive has such a package" (on Debian 12
# contrib is part of postgresql-15; valgrind is optional).
DEPS_GROUPS=(
	"build tools:build-essential"
	"PostgreSQL 15:postgresql-15 postgresql-server-dev-15 postgresql-contrib-15?"
	"BLAS/LAPACK (pthread OpenBLAS):libopenblas-dev libopenblas-pthread-dev liblapacke-dev"
	"C libraries:libjansson-dev libyaml-dev zlib1g-dev libcurl4-openssl-dev libmicrohttpd-dev libssl-dev libarchive-dev"
	"tokenizer (SentencePiece, C++):libsentencepiece-dev g++"
	"numeric request bodies of the serving core (simdjson, C++):libsimdjson-dev"
	"pgTAP:pgtap postgresql-15-pgtap"
	"pg_cron:postgresql-15-cron"
	"Python (python3-scipy for the drift test, scipy.stats.ks_2samp):python3 python3-scipy"
	"transformer tests (PyTorch differential test, decoder LM on fortunes):python3-torch fortunes-min"
	"registry tests (docker-registry, skopeo, htpasswd -B, the token server's JWTs):docker-registry skopeo apache2-utils python3-cryptography openssl"
	# npm only when no npm is on PATH (NodeSource's nodejs ships its own, and conflicts with Debian's npm)
	"serving tests (promtool; Node.js and npm for the OpenAPI validator):prometheus nodejs$(command -v npm >/dev/null || echo ' npm')"
	"images (OCI tools, runc for the edge test, image-spec schemas, a local registry):umoci skopeo runc golang-github-opencontainers-image-spec-dev python3-jsonschema docker-registry apache2-utils"
	"test clients (curl, jq; ip netns for the edge host of the smoke and runc tests):curl jq iproute2"
	"valgrind (optional):valgrind?"
)
APT_LOG="$MF_BUILD/logs/apt.log"

# True when a package is installed according to dpkg.
pkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# True when apt knows a real (non-virtual) candidate for a package.
pkg_available() {
	local cand
	cand="$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p')"
	[ -n "$cand" ] && [ "$cand" != "(none)" ]
}

# Print the missing packages of a group; with $2=1 also resolve '?' ones.
missing_in_group() {
	local pkgs="$1" check_optional="$2" p
	for p in $pkgs; do
		if [[ "$p" == *'?' ]]; then
			p="${p%\?}"
			pkg_installed "$p" && continue
			[ "$check_optional" = 1 ] && pkg_available "$p" && echo "$p"
		else
			pkg_installed "$p" || echo "$p"
		fi
	done
	return 0
}

# Print every missing package of every group, each once.
all_missing() {
	local g
	for g in "${DEPS_GROUPS[@]}"; do
		missing_in_group "${g#*:}" "$1"
	done | awk '!seen[$0]++'
}

# Fail early, with advice, when we can neither be root nor use sudo.
can_be_root() {
	is_root || command -v sudo >/dev/null 2>&1 ||
		die "installing packages needs root: run 'make deps' as root or install sudo"
}

# Run apt-get as root, quietly, with its output appended to the log.
apt_quiet() {
	mkdir -p "$(dirname "$APT_LOG")"
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
		-o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=600 "$@" >>"$APT_LOG" 2>&1; then
		echo "--- last lines of $APT_LOG ---" >&2
		tail -n 30 "$APT_LOG" >&2
		die "apt-get $1 failed (full log: $APT_LOG)"
	fi
}

# Warn when libopenblas resolves to the OpenMP build (it hangs after fork).
check_blas_flavour() {
	local lib
	lib="$(readlink -f /usr/lib/"$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)"/libopenblas.so.0 2>/dev/null || true)"
	case "$lib" in
	*openmp*)
		warn "libopenblas.so.0 points to the OpenMP build ($lib), which hangs after fork;"
		warn "switch with: update-alternatives --config libopenblas.so.0-$(dpkg-architecture -qDEB_HOST_MULTIARCH)"
		;;
	esac
}

# Print one line per group, saying what was installed.
report_groups() {
	local newly=" $1 " g label p done_list
	for g in "${DEPS_GROUPS[@]}"; do
		label="${g%%:*}"
		done_list=""
		for p in ${g#*:}; do
			p="${p%\?}"
			[[ "$newly" == *" $p "* ]] && done_list="$done_list $p"
		done
		if [ -n "$done_list" ]; then
			printf '  %-32s installed:%s\n' "$label" "$done_list"
		else
			printf '  %-32s ok\n' "$label"
		fi
	done
}

# Main: find what is missing, update the index only then, install, report.
main() {
	command -v dpkg-query >/dev/null || die "this script needs Debian (dpkg-query not found)"
	local missing installed=""
	missing="$(all_missing 0 | tr '\n' ' ')"
	if [ -n "${missing// /}" ]; then
		info "missing Debian packages: $missing"
		can_be_root
		mkdir -p "$(dirname "$APT_LOG")"
		: >"$APT_LOG"
		info "apt-get update (log: $APT_LOG)"
		apt_quiet update
	fi
	# '?' packages are resolved against the (possibly refreshed) index.
	missing="$(all_missing 1 | tr '\n' ' ')"
	if [ -n "${missing// /}" ]; then
		can_be_root
		info "apt-get install $missing"
		# shellcheck disable=SC2086 # word splitting of the package list is wanted
		apt_quiet install --no-install-recommends $missing
		installed="$missing"
		missing="$(all_missing 0 | tr '\n' ' ')"
		[ -z "${missing// /}" ] || die "still missing after install: $missing (see $APT_LOG)"
	fi
	info "dependencies:"
	report_groups "$installed"
	check_blas_flavour
}

main "$@"
