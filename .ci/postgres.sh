#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on 127.0.0.1 for the tests; prints its URL.
# Usage: source <(bash .ci/postgres.sh) → exports SYNCLINE_TEST_POSTGRES_URL
set -euo pipefail
PORT="${SYNCLINE_TEST_POSTGRES_PORT:-54329}"
DATA="${SYNCLINE_TEST_POSTGRES_DATA:-/tmp/syncline-pg-$PORT}"
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
run_as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
if ! run_as_postgres "$BIN/pg_ctl -D $DATA status" >/dev/null 2>&1; then
  rm -rf "$DATA"; mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
  run_as_postgres "$BIN/initdb -D $DATA -A trust -U postgres" >/dev/null
  run_as_postgres "$BIN/pg_ctl -D $DATA -l $DATA/server.log -o '-c listen_addresses=127.0.0.1 -p $PORT -k /tmp -c fsync=off -c max_connections=200' -w start" >/dev/null
fi
psql -h 127.0.0.1 -p "$PORT" -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='syncline_test'" | grep -q 1 \
  || psql -h 127.0.0.1 -p "$PORT" -U postgres -c "CREATE DATABASE syncline_test" >/dev/null
echo "export SYNCLINE_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:$PORT/syncline_test"
