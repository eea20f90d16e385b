#!/bin/sh
# One-shot, idempotent: makes the Temporal namespace Syncline uses and registers the
# search attributes its workflows upsert (all Keyword, see workflows/search_attributes.py).
# Runs in the temporalio/admin-tools image (its `temporal` CLI) against the frontend,
# retrying until the server answers; safe to run again on every `docker compose up`.
set -eu

ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-30d}"
ATTRIBUTES="${SYNCLINE_SEARCH_ATTRIBUTES:-CrmOpportunityId ErpOrderId SyncStatus ErpCustomerId ErpSubscriptionId}"
TIMEOUT="${TEMPORAL_INIT_TIMEOUT_SECONDS:-300}"
DEADLINE=$(( $(date +%s) + TIMEOUT ))

log() { echo "temporal-init: $*"; }

# retry DESCRIPTION COMMAND...: run COMMAND until it succeeds or the deadline passes.
retry() {
  what=$1
  shift
  until "$@"; do
    if [ "$(date +%s)" -ge "$DEADLINE" ]; then
      log "gave up after ${TIMEOUT}s: $what" >&2
      exit 1
    fi
    log "not yet: $what; retrying in 3s"
    sleep 3
  done
}

server_healthy() {
  temporal operator cluster health --address "$ADDRESS" >/dev/null 2>&1
}

namespace_exists() {
  temporal operator namespace describe --namespace "$NAMESPACE" --address "$ADDRESS" \
    >/dev/null 2>&1
}

ensure_namespace() {
  namespace_exists && return 0
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" \
    --address "$ADDRESS" || true
  namespace_exists
}

# The list prints a table "Name Type"; an attribute is there when its row says Keyword.
attribute_registered() {
  temporal operator search-attribute list --namespace "$NAMESPACE" --address "$ADDRESS" \
    2>/dev/null | awk -v name="$1" '$1 == name && $2 == "Keyword" { found = 1 } END { exit !found }'
}

attribute_other_type() {
  temporal operator search-attribute list --namespace "$NAMESPACE" --address "$ADDRESS" \
    2>/dev/null | awk -v name="$1" '$1 == name && $2 != "Keyword" { found = 1 } END { exit !found }'
}

ensure_attribute() {
  attribute_registered "$1" && return 0
  if attribute_other_type "$1"; then
    log "search attribute $1 exists with a type other than Keyword; fix it by hand" >&2
    exit 1
  fi
  temporal operator search-attribute create --namespace "$NAMESPACE" --address "$ADDRESS" \
    --name "$1" --type Keyword || true
  attribute_registered "$1"
}

log "waiting for the Temporal frontend at $ADDRESS"
retry "cluster health at $ADDRESS" server_healthy

log "namespace $NAMESPACE (retention $RETENTION)"
retry "namespace $NAMESPACE" ensure_namespace

for attribute in $ATTRIBUTES; do
  log "search attribute $attribute (Keyword)"
  retry "search attribute $attribute" ensure_attribute "$attribute"
done

log "done"
