#!/usr/bin/env bash
# Installs the Debian 12 packages a purpose needs, only those missing.
#   .ci/deps.sh run    build and run the daemon with a local PostgreSQL
#   .ci/deps.sh test   the above plus what the test command uses
#   .ci/deps.sh bench  the above plus the load generators
# As root it uses apt-get directly, otherwise sudo; without either it lists
# what is missing and fails.
set -euo pipefail

# nodejs and npm: the build installs the dashboard's Chart.js from its lock file.
run_pkgs=(build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev libpq-dev
          libssl-dev postgresql-15 postgresql-client-15 python3 ca-certificates openssl
          nodejs npm)
# chromium and a CJK font: the dashboard's browser test (tier names are Chinese).
test_pkgs=(nodejs npm docker-compose clang clang-format libclang-rt-14-dev chromium
           fonts-wqy-microhei cppcheck clang-tidy)
bench_pkgs=(wrk postgresql-contrib-15)

case "${1:-run}" in
  run) want=("${run_pkgs[@]}") ;;
  test) want=("${run_pkgs[@]}" "${test_pkgs[@]}") ;;
  bench) want=("${run_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 run|test|bench" >&2; exit 2 ;;
esac

# Tools that may come from elsewhere than Debian (a newer Node.js, say):
# the command being there is enough.
declare -A provides=([nodejs]=node [npm]=npm [clang]=clang [wrk]=wrk [python3]=python3)

missing=()
for p in "${want[@]}"; do
  if [ -n "${provides[$p]:-}" ] && command -v "${provides[$p]}" >/dev/null; then
    continue
  fi
  # postgresql-contrib-15 is a virtual package provided by postgresql-15.
  [ "$p" = postgresql-contrib-15 ] && p=postgresql-15
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "missing packages (install them as root): ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
