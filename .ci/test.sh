#!/usr/bin/env bash
# The test command behind `make test` (and CI): every test, on a sanitizer
# build with warnings as errors, against a throwaway PostgreSQL cluster that
# this script starts and removes.
set -euo pipefail
cd "$(dirname "$0")/.."

.ci/deps.sh test
# The npm trees of the dashboard (Chart.js) and of its browser test (playwright-core).
.ci/web.sh test

build=build/asan
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DLY_SANITIZE=ON -DLY_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

tmp=$(mktemp -d /tmp/loyalty-test.XXXXXX)
chmod 755 "$tmp"
cleanup() {
  .ci/pg.sh stop "$tmp/pg" || true
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Throwaway data: durability buys nothing here and costs minutes.
PG_EXTRA_CONF=$'fsync = off\nsynchronous_commit = off\nfull_page_writes = off' \
  .ci/pg.sh start "$tmp/pg" "$port" >/dev/null

export LOYALTYD=$PWD/$build/loyaltyd
export LOYALTY_SQL_DIR=$PWD/sql/migrations
export LOYALTY_TEST_PGHOST=$tmp/pg LOYALTY_TEST_PGPORT=$port LOYALTY_TEST_PGUSER=loyalty
export LOYALTY_TEST_PGBIN=/usr/lib/postgresql/15/bin
if [ "$(id -u)" -eq 0 ]; then export LOYALTY_TEST_RUNAS=postgres; else export LOYALTY_TEST_RUNAS=; fi

# SQL text lives only in src/store/ (and sql/).
if grep -rnE 'SELECT .*FROM|INSERT INTO|UPDATE [a-z_]+ SET|DELETE FROM' src --exclude-dir=store; then
  echo "SQL outside src/store/" >&2; exit 1
fi
# src/rules/ is pure (style.md 2.1): no libraries, no clock, no allocation, no output.
if grep -rnE '#[[:space:]]*include[[:space:]]*<(jansson|libpq-fe|microhttpd|time|sys/time|stdlib|stdio)\.h>' src/rules ||
   grep -rnE '\b(time|clock_gettime|gettimeofday|malloc|calloc|realloc|free|printf|fprintf|getenv)[[:space:]]*\(' src/rules; then
  echo "impure code in src/rules/" >&2; exit 1
fi
# Formatting is part of the build's hygiene (.clang-format).
git ls-files -co --exclude-standard '*.c' '*.h' | xargs clang-format --dry-run --Werror
# Static analysis: cppcheck's warnings (not its style remarks) fail the test
# command; a false positive is suppressed where it stands, with the reason.
cppcheck --enable=warning,performance,portability --std=c11 -Iinclude \
  --suppress=missingIncludeSystem --inline-suppr --error-exitcode=1 --quiet src
# clang-tidy's checks (.clang-tidy: the analyzer and bugprone) over src/ with
# this build's compile commands; any warning fails, a false positive carries
# a NOLINT with the reason.
.ci/tidy.sh "$build"
.ci/lint-openapi.sh
.ci/check-compose.sh
ctest --test-dir "$build" --output-on-failure -j2 "$@"
.ci/fuzz.sh
