#!/usr/bin/env bash
# clang-tidy over every src/**/*.c, with the checks of .clang-tidy and the
# compile commands of a configured build tree; any warning fails.
#   .ci/tidy.sh [BUILD_DIR]     default build/asan (what .ci/test.sh builds)
# One clang-tidy per file, as many at once as there are cores, the largest
# files first so that the last ones to finish are short.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build/asan}
command -v clang-tidy >/dev/null || { echo "tidy: clang-tidy is missing (run .ci/deps.sh test)" >&2; exit 1; }
[ -f "$build/compile_commands.json" ] ||
  { echo "tidy: no $build/compile_commands.json: configure $build with cmake first" >&2; exit 1; }

# The diagnostics go to stdout; stderr says how many warnings a file
# generated, most of them in system headers and filtered: that is left out.
if ! git ls-files -co --exclude-standard 'src/*.c' | xargs ls -S |
  xargs -P"$(nproc)" -n1 clang-tidy -p "$build" --quiet 2>&1 |
  { grep -vE '^[0-9]+ warnings? generated\.$' || true; }; then
  echo "tidy: clang-tidy found the above; fix it, or add NOLINT(check): reason where it stands" >&2
  exit 1
fi
