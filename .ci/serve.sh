#!/usr/bin/env bash
# The run command behind `make run`: installs what is missing, builds a
# release binary, and serves on http://127.0.0.1:8080 (LOYALTY_LISTEN).
# Without DATABASE_URL it starts a PostgreSQL cluster of its own in .data/pg
# (kept between runs).  The admin key is made once, kept in .data/admin.key,
# and printed at every start.
set -euo pipefail
cd "$(dirname "$0")/.."

.ci/deps.sh run
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target loyaltyd >/dev/null

mkdir -p .data
if [ -z "${DATABASE_URL:-}" ]; then
  port=${LOYALTY_PG_PORT:-54329}
  DATABASE_URL=$(.ci/pg.sh start .data/pg "$port")
  export DATABASE_URL
  echo "PostgreSQL: .data/pg (port $port, stop it with: .ci/pg.sh stop .data/pg)"
fi
if [ -z "${LOYALTY_ADMIN_KEY:-}" ]; then
  if [ ! -s .data/admin.key ]; then
    (umask 077; echo "lk_$(openssl rand -hex 20)" >.data/admin.key)
  fi
  LOYALTY_ADMIN_KEY=$(cat .data/admin.key)
  export LOYALTY_ADMIN_KEY
fi
export LOYALTY_SQL_DIR=${LOYALTY_SQL_DIR:-$PWD/sql/migrations}
echo "loyaltyd: http://${LOYALTY_LISTEN:-127.0.0.1:8080}"
echo "dashboard: http://${LOYALTY_LISTEN:-127.0.0.1:8080}/admin/ (sign in with the admin key)"
echo "admin key: $LOYALTY_ADMIN_KEY"
echo "try: curl -H \"Authorization: Bearer $LOYALTY_ADMIN_KEY\" http://${LOYALTY_LISTEN:-127.0.0.1:8080}/v1/keys"
exec build/release/loyaltyd serve "$@"
