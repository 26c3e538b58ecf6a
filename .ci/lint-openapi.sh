#!/usr/bin/env bash
# Lint openapi.yaml with Redocly CLI (rules: redocly.yaml).
#
# Installs the pinned tooling from tools/package.json + tools/package-lock.json
# with `npm ci --prefix tools` when tools/node_modules is missing or was
# installed from another lock file. Prints nothing and exits 0 when the
# description is clean; prints the linter's report and exits non-zero on any
# error (redocly.yaml turns every recommended warning into an error).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Redocly CLI 2.x needs Node.js >= 20.19 (its package.json "engines").
min_node_major=20
min_node_minor=19

log=$(mktemp)
trap 'rm -f "$log"' EXIT

fail() {
	echo "lint-openapi: $*" >&2
	exit 1
}

run_quiet() {
	# Run a command, showing its output only if it fails.
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

ensure_node() {
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		run_quiet as_root apt-get update -qq
		run_quiet as_root env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends nodejs npm
	fi
	local v major minor
	v=$(node -p 'process.versions.node')
	major=${v%%.*}
	minor=${v#*.}
	minor=${minor%%.*}
	if [ "$major" -lt "$min_node_major" ] ||
		{ [ "$major" -eq "$min_node_major" ] && [ "$minor" -lt "$min_node_minor" ]; }; then
		fail "Node.js $v is too old for @redocly/cli; need >= $min_node_major.$min_node_minor"
	fi
}

# The stamp records what tools/node_modules was installed from; any change to
# the manifest, the lock file or the Node.js version makes it stale.
tools_stamp() {
	cat tools/package.json tools/package-lock.json | sha256sum | cut -d' ' -f1
	node --version
}

ensure_tools() {
	local stamp_file=tools/node_modules/.loyaltyd-install-stamp want
	want=$(tools_stamp)
	if [ -x tools/node_modules/.bin/redocly ] && [ -f "$stamp_file" ] &&
		[ "$(cat "$stamp_file")" = "$want" ]; then
		return 0
	fi
	# Serialise with .ci/check-compose.sh, which installs the same tree.
	exec 9>"${TMPDIR:-/tmp}/loyaltyd-tools-$(printf '%s' "$root" | sha256sum | cut -c1-16).lock"
	flock 9
	if ! [ -x tools/node_modules/.bin/redocly ] || ! [ -f "$stamp_file" ] ||
		[ "$(cat "$stamp_file")" != "$want" ]; then
		run_quiet npm ci --prefix tools --no-audit --no-fund --loglevel=error
		printf '%s\n' "$want" >"$stamp_file"
	fi
	flock -u 9
	exec 9>&-
}

[ -f openapi.yaml ] || fail "openapi.yaml not found in $root"
ensure_node
ensure_tools

export REDOCLY_TELEMETRY=off
export REDOCLY_SUPPRESS_UPDATE_NOTICE=true
if ! tools/node_modules/.bin/redocly lint --config redocly.yaml openapi.yaml >"$log" 2>&1; then
	cat "$log" >&2
	fail "openapi.yaml has lint errors (see above)"
fi
