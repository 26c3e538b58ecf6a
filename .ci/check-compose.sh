#!/usr/bin/env bash
# Validate docker-compose.yml and lint the Dockerfile without a Docker engine.
#
# - docker-compose.yml: Debian's docker-compose (1.29, installed with apt if
#   missing) parses, validates against its compose schema and interpolates
#   the file (`config -q`); it needs no daemon for that. The file must also
#   refuse to start without LOYALTY_ADMIN_KEY.
# - Dockerfile: dockerfile-utils (pinned in tools/package-lock.json, the
#   linter behind the Docker language server); any error or warning fails.
#
# Prints nothing and exits 0 when both are clean.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# shellcheck source=.ci/lib.sh
. .ci/lib.sh

log=$(mktemp)
empty_env=$(mktemp)
trap 'rm -f "$log" "$empty_env"' EXIT

ensure_docker_compose() {
	command -v docker-compose >/dev/null 2>&1 || apt_install docker-compose
}

compose_file=${COMPOSE_FILE_TO_CHECK:-docker-compose.yml}
dockerfile=${DOCKERFILE_TO_CHECK:-Dockerfile}
[ -f "$compose_file" ] || fail "$compose_file not found"
[ -f "$dockerfile" ] || fail "$dockerfile not found"

ensure_docker_compose
ensure_node
ensure_tools dockerfile-utils

# A throw-away project directory keeps docker-compose from reading a developer's
# .env, so the result depends only on the file and the variables set here.
project_dir=$(cd "$(dirname "$compose_file")" && pwd)
compose() {
	env -u DOCKER_HOST -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME \
		docker-compose --project-directory "$project_dir" --env-file "$empty_env" \
		-f "$compose_file" "$@"
}

if ! LOYALTY_ADMIN_KEY=ci-dummy-admin-key compose config -q >"$log" 2>&1; then
	cat "$log" >&2
	fail "$compose_file is invalid (see above)"
fi

if (unset LOYALTY_ADMIN_KEY; compose config -q) >"$log" 2>&1; then
	fail "$compose_file must require LOYALTY_ADMIN_KEY (\${LOYALTY_ADMIN_KEY:?...}), but it is accepted unset"
fi
grep -q 'LOYALTY_ADMIN_KEY' "$log" ||
	{ cat "$log" >&2; fail "$compose_file fails without LOYALTY_ADMIN_KEY, but not because of it"; }

if ! tools/node_modules/.bin/dockerfile-utils lint "$dockerfile" >"$log" 2>&1 || [ -s "$log" ]; then
	cat "$log" >&2
	fail "$dockerfile has lint problems (see above)"
fi
