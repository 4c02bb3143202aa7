#!/usr/bin/env bash
# make test: lint, the migrations check and the whole pytest suite against a real PostgreSQL and
# Redis started here on loopback ports of our own, a real Celery worker and headless Chromium.
# Installs PostgreSQL, Redis, Chromium and gettext with apt-get when missing and run as root.
# Stops what it started, even when tests fail, and exits with pytest's status.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
log() { printf '[make test] %s\n' "$*" >&2; }

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- system packages -------------------------------------------------------------------------
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing+=(chromium)
command -v xgettext >/dev/null || missing+=(gettext)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  log "installing ${missing[*]} with apt-get"
  apt-get -o DPkg::Lock::Timeout=600 update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null \
    || { log "apt-get install ${missing[*]} failed"; exit 1; }
fi

# --- axe-core for the accessibility sweep: the version pinned in tests/e2e/package-lock.json,
# whose sha512 npm checks; the tests read it from disk, nothing is fetched while they run ------
if [ ! tests/e2e/node_modules/axe-core/axe.min.js -nt tests/e2e/package-lock.json ]; then
  log "npm ci (axe-core)"
  npm ci --prefix tests/e2e --ignore-scripts --no-audit --no-fund --loglevel=error \
    || { log "npm ci in tests/e2e failed"; exit 1; }
fi

# --- lint and migrations (no services needed) ---------------------------------------------
log "ruff check"
.venv/bin/ruff check . || exit 1
log "ruff format --check"
.venv/bin/ruff format --check . || exit 1

# --- PostgreSQL and Redis on our own loopback ports ----------------------------------------
export SVC_PG_PORT SVC_REDIS_PORT SVC_DIR SVC_DB_NAME=portal
SVC_PG_PORT=$(free_port)
SVC_REDIS_PORT=$(free_port)
SVC_DIR=$(mktemp -d /tmp/partnerportal-test.XXXXXX)
chmod 755 "$SVC_DIR"
# shellcheck source=scripts/services.sh
source scripts/services.sh
cleanup() {
  log "stopping PostgreSQL and Redis"
  svc_clean >/dev/null 2>&1 || true
}
trap cleanup EXIT
svc_start || { log "could not start PostgreSQL and Redis"; exit 1; }
eval "$(svc_env)"
export DATABASE_URL REDIS_URL CELERY_BROKER_URL
export CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
# Tests that need a service fail (never skip) when it is missing.
export PORTAL_TEST_REQUIRE_SERVICES=1
export VAR_DIR="$SVC_DIR/var"

log "makemigrations --check"
"$PY" manage.py makemigrations --check --dry-run || exit 1

log "pytest"
"$PY" -m pytest "$@"
status=$?
# pytest exits 5 when it collected nothing: that is a failure here.
[ $status -eq 5 ] && { log "pytest collected no tests"; status=1; }
exit $status
