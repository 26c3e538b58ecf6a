#!/usr/bin/env bash
# Installs the npm trees the dashboard needs, pinned by their lock files,
# with `npm ci` unless the installed tree already matches its lock file:
#   .ci/web.sh        web/node_modules (Chart.js, which the build copies next
#                     to the dashboard's files: CMake runs this script)
#   .ci/web.sh test   the above plus tests/browser/node_modules (playwright-core,
#                     without any browser: the test drives Debian's chromium)
# Prints nothing on success.  Needs the npm registry only when a tree is
# missing or stale; the daemon itself never fetches anything.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=.ci/lib.sh
. .ci/lib.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# ensure_tree DIR FILE: `npm ci` in DIR unless DIR/node_modules/FILE exists
# and the tree was installed from the current manifest, lock file and
# Node.js (ensure_tools' stamp).  Builds of several build directories may
# run this at once, hence the lock.
tree_current() {
	[ -f "$1/node_modules/$2" ] && [ -f "$1/node_modules/.loyaltyd-install-stamp" ] &&
		[ "$(cat "$1/node_modules/.loyaltyd-install-stamp")" = "$(tools_stamp "$1")" ]
}

ensure_tree() {
	tree_current "$1" "$2" && return 0
	exec 9>"${TMPDIR:-/tmp}/loyaltyd-tools-$(printf '%s' "$root/$1" | sha256sum | cut -c1-16).lock"
	flock 9
	if ! tree_current "$1" "$2"; then
		PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 run_quiet npm ci --prefix "$1" --no-audit --no-fund --loglevel=error
		tools_stamp "$1" >"$1/node_modules/.loyaltyd-install-stamp"
	fi
	flock -u 9
	exec 9>&-
}

case "${1:-}" in
'') trees=(web) ;;
test) trees=(web tests/browser) ;;
*) fail "usage: $0 [test]" ;;
esac

ensure_node
for t in "${trees[@]}"; do
	case "$t" in
	web) ensure_tree web chart.js/dist/chart.umd.min.js ;;
	tests/browser) ensure_tree tests/browser playwright-core/package.json ;;
	esac
done
