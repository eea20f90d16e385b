#!/bin/sh
# One-shot, idempotent: creates Temporal's two PostgreSQL databases when missing and
# migrates both schemas to the version shipped in this admin-tools image. Runs before
# every Temporal server start, so upgrading the server is: bump both image tags
# (server and admin-tools, same version) and `docker compose up -d`.
# Runs in the temporalio/admin-tools image (temporal-sql-tool); the password comes
# from SQL_PASSWORD, which temporal-sql-tool reads itself.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS (database host) must be set}"
: "${POSTGRES_USER:?POSTGRES_USER must be set}"
: "${SQL_PASSWORD:?SQL_PASSWORD must be set}"
PORT="${DB_PORT:-5432}"
DBNAME="${DBNAME:-temporal}"
VISIBILITY_DBNAME="${VISIBILITY_DBNAME:-temporal_visibility}"
SCHEMA_DIR="${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}"
TIMEOUT="${TEMPORAL_SCHEMA_TIMEOUT_SECONDS:-120}"
DEADLINE=$(( $(date +%s) + TIMEOUT ))

log() { echo "temporal-schema: $*"; }

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$PORT" -u "$POSTGRES_USER" "$@"
}

log "waiting for PostgreSQL at $POSTGRES_SEEDS:$PORT"
until nc -z -w 5 "$POSTGRES_SEEDS" "$PORT"; do
  if [ "$(date +%s)" -ge "$DEADLINE" ]; then
    log "PostgreSQL did not answer within ${TIMEOUT}s" >&2
    exit 1
  fi
  sleep 2
done

migrate() {
  db=$1
  versioned=$2
  # `create` fails when the database already exists (or when the role may not create
  # databases, as on some managed services where it was made beforehand); either way
  # the next step fails loudly if the database is really missing.
  if sql_tool --db "$db" create >/dev/null 2>&1; then
    log "created database $db"
  else
    log "database $db exists (or is not ours to create)"
  fi
  # setup-schema -v 0.0 is a no-op once a versioned schema is in place.
  sql_tool --db "$db" setup-schema -v 0.0
  sql_tool --db "$db" update-schema -d "$SCHEMA_DIR/$versioned/versioned"
  log "database $db is at the image's schema version"
}

migrate "$DBNAME" temporal
migrate "$VISIBILITY_DBNAME" visibility
log "done"
