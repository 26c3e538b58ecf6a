#!/usr/bin/env bash
# A PostgreSQL 15 cluster of the project's own, in a folder, on its own port
# and unix socket, listening on no TCP address.
#   .ci/pg.sh start DIR PORT   create (once) and start; prints the libpq conninfo
#   .ci/pg.sh stop DIR         stop (fast)
# initdb refuses to run as root, so as root the cluster belongs to the
# `postgres` system user (created by Debian's postgresql package).
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: pg.sh start DIR PORT | stop DIR}
dir=${2:?data directory}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  port=${3:?port}
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$PGBIN/initdb" -D "$dir/data" -U loyalty -A trust -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
CONF
    # Extra settings (for example the test command's non-durable ones).
    if [ -n "${PG_EXTRA_CONF:-}" ]; then printf '%s\n' "$PG_EXTRA_CONF" >>"$dir/data/postgresql.conf"; fi
  fi
  if ! as_owner "$PGBIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -o "-p $port" -l "$dir/server.log" -w -t 60 start \
      >/dev/null || { tail -20 "$dir/server.log" >&2; exit 1; }
  fi
  # The database the daemon uses.
  if ! "$PGBIN/psql" -XAtq -h "$dir" -p "$port" -U loyalty -d postgres \
       -c "SELECT 1 FROM pg_database WHERE datname = 'loyalty'" | grep -q 1; then
    "$PGBIN/createdb" -h "$dir" -p "$port" -U loyalty loyalty
  fi
  echo "host=$dir port=$port user=loyalty dbname=loyalty"
  ;;
stop)
  if [ -f "$dir/data/PG_VERSION" ]; then
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  ;;
*)
  echo "usage: pg.sh start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
