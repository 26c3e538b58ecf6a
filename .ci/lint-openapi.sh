#!/usr/bin/env bash
# Lint openapi.yaml with Redocly CLI (rules: redocly.yaml).
#
# Installs the pinned tooling from tools/package.json + tools/package-lock.json
# with `npm ci --prefix tools` when tools/node_modules is missing or was
# installed from another lock file. Prints nothing and exits 0 when the
# description is clean; prints the linter's report and exits non-zero on any
# error (redocly.yaml turns every recommended warning into an error).
#
# Redocly CLI 2.x needs Node.js >= 20.19. On an older Node.js from 18.17 on
# (Debian 12's own nodejs is 18.19) it lints with the last 1.x release
# instead, pinned in tools/node18/, with the same redocly.yaml.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=.ci/lib.sh
. .ci/lib.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT

[ -f openapi.yaml ] || fail "openapi.yaml not found in $root"
ensure_node
if node_at_least 20 19; then
	tools=tools
elif node_at_least 18 17; then
	tools=tools/node18
else
	fail "Node.js $(node --version) is too old for @redocly/cli; need >= 20.19 (or >= 18.17 for the 1.x fallback in tools/node18)"
fi
ensure_tools "$tools" redocly

export REDOCLY_TELEMETRY=off
export REDOCLY_SUPPRESS_UPDATE_NOTICE=true
if ! "$tools/node_modules/.bin/redocly" lint --config redocly.yaml openapi.yaml >"$log" 2>&1; then
	cat "$log" >&2
	fail "openapi.yaml has lint errors (see above)"
fi
