# shellcheck shell=bash disable=SC2154  # root and log: set by the caller, see below
# Helpers shared by .ci/lint-openapi.sh and .ci/check-compose.sh: failing
# with the calling script's name, running a command quietly, installing Debian
# packages and Node.js, and installing a pinned npm tree under tools/ once.
#
# Sourced, never run: it defines functions and sets nothing else. The caller
# has `set -euo pipefail`, has cd'd to the repository root, and sets
#   root  the repository root (absolute)
#   log   a temporary file it removes on exit (run_quiet writes into it)
# Nothing here prints on success; every failure ends the caller through fail.

# Prints "NAME: message" on stderr, NAME being the calling script's file name
# without ".sh", and exits 1.
fail() {
	local name=${0##*/}
	echo "${name%.sh}: $*" >&2
	exit 1
}

# Runs a command, showing its output only if it fails.
run_quiet() {
	if ! "$@" >"$log" 2>&1; then
		cat "$log" >&2
		fail "failed: $*"
	fi
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		fail "need root to run: $*"
	fi
}

# Installs Debian packages. --no-install-recommends: docker-compose, for one,
# recommends docker.io, the engine, which is neither needed nor wanted here.
apt_install() {
	run_quiet as_root apt-get update -qq
	run_quiet as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "$@"
}

# Makes sure node and npm exist (Debian's nodejs and npm when missing; a newer
# Node.js installed otherwise is used as it is).
ensure_node() {
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		apt_install nodejs npm
	fi
}

# True when the installed Node.js is at least MAJOR.MINOR.
node_at_least() {
	local v major minor
	v=$(node -p 'process.versions.node')
	major=${v%%.*}
	minor=${v#*.}
	minor=${minor%%.*}
	[ "$major" -gt "$1" ] || { [ "$major" -eq "$1" ] && [ "$minor" -ge "$2" ]; }
}

# What the npm tree in DIR was installed from: any change to its manifest, its
# lock file or the Node.js version makes an installed tree stale.
tools_stamp() {
	cat "$1/package.json" "$1/package-lock.json" | sha256sum | cut -d' ' -f1
	node --version
}

tools_current() {
	local dir=$1 bin=$2 stamp_file=$1/node_modules/.loyaltyd-install-stamp
	[ -x "$dir/node_modules/.bin/$bin" ] && [ -f "$stamp_file" ] &&
		[ "$(cat "$stamp_file")" = "$(tools_stamp "$dir")" ]
}

# ensure_tools [DIR] BIN: installs the npm tree pinned in DIR (default tools)
# with `npm ci` unless DIR/node_modules/.bin/BIN exists and was installed from
# the current manifest, lock file and Node.js. Both scripts may install the
# same tree at once (make test runs them in a row, developers in parallel),
# so installing holds a lock per tree.
ensure_tools() {
	local dir=tools bin
	if [ $# -eq 2 ]; then
		dir=$1
		shift
	fi
	bin=$1
	tools_current "$dir" "$bin" && return 0
	exec 9>"${TMPDIR:-/tmp}/loyaltyd-tools-$(printf '%s' "$root/$dir" | sha256sum | cut -c1-16).lock"
	flock 9
	if ! tools_current "$dir" "$bin"; then
		run_quiet npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
		tools_stamp "$dir" >"$dir/node_modules/.loyaltyd-install-stamp"
	fi
	flock -u 9
	exec 9>&-
}
