# bench/lib.sh - what bench/run.sh, bench/daily.sh and bench/insight.sh share:
# the release build, the raw-output folder, a durable PostgreSQL cluster of
# the benchmark's own in a temporary folder, and the clean-up that stops the
# daemon and the cluster on every exit path.  Sourced, not run; the caller
# sets `root`, `keep` and say() first.  A caller that starts more processes
# defines bench_cleanup_extra() to stop them.

# bench_build DEPS_KIND: installs what .ci/deps.sh DEPS_KIND needs and sets
# `bin` (LOYALTYD=path uses that binary instead of building one) and PGBIN.
bench_build() {
  .ci/deps.sh "$1"
  if [ -n "${LOYALTYD:-}" ]; then
    bin=$(realpath "$LOYALTYD")
  else
    say "building build/release"
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
    cmake --build build/release -j"$(nproc)" --target loyaltyd >/dev/null
    bin=$root/build/release/loyaltyd
  fi
  PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
}

# bench_workdirs NAME: `stamp`, `loadavg_start`, the raw outputs in `res`
# (build/bench/NAME-<stamp>, NAME-latest pointing there; NAME empty: the
# main benchmark's <stamp> and latest), and the temporary `tmp` and `pgdir`.
bench_workdirs() {
  local prefix=${1:+$1-}
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
  res=$root/build/bench/$prefix$stamp
  mkdir -p "$res"
  ln -sfn "$prefix$stamp" "$root/build/bench/${prefix}latest"
  tmp=$(mktemp -d "/tmp/loyalty-${1:-bench}.XXXXXX")
  chmod 755 "$tmp"
  pgdir=$tmp/pg
  daemon_pid=
}

bench_cleanup() {
  local rc=$?
  set +e
  if declare -F bench_cleanup_extra >/dev/null; then bench_cleanup_extra; fi
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid"
    for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$daemon_pid" 2>/dev/null && kill -KILL "$daemon_pid"
    wait "$daemon_pid" 2>/dev/null
  fi
  .ci/pg.sh stop "$pgdir"
  if [ "$keep" = 1 ]; then echo "kept: $tmp" >&2; else rm -rf "$tmp"; fi
  exit "$rc"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bench_pg_start: starts the cluster in $pgdir on a free `pgport` (with
# PG_EXTRA_CONF when set), exports DATABASE_URL and LOYALTY_SQL_DIR, and
# defines psql_q.
bench_pg_start() {
  pgport=$(free_port)
  db_url=$(.ci/pg.sh start "$pgdir" "$pgport")
  export DATABASE_URL=$db_url
  export LOYALTY_SQL_DIR=$root/sql/migrations
}

psql_q() { "$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 -h "$pgdir" -p "$pgport" -U loyalty -d loyalty "$@"; }
