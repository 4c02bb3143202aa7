#!/usr/bin/env bash
# make run: migrate, load the demo data, then serve the portal with a Celery worker, beat and
# the Microsoft API simulators in the foreground. One Ctrl-C stops all of them.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
CELERY=.venv/bin/celery
HOST=${RUN_HOST:-127.0.0.1}
PORT=${RUN_PORT:-8000}

SIM_PORT=${SIM_PORT:-8001}
# Unless configured otherwise, the portal reads Microsoft Graph from the bundled simulator.
if [ -z "${GRAPH_CLIENT_ID:-}" ]; then
  export PARTNER_TENANT_ID=7b0c1f4e-2a5d-4c8b-9e3f-1d6a8b4c2e90
  export GRAPH_CLIENT_ID=partner-portal-demo GRAPH_CLIENT_SECRET=demo-graph-secret
  export GRAPH_BASE_URL="http://127.0.0.1:$SIM_PORT/v1.0"
  export GRAPH_TOKEN_URL="http://127.0.0.1:$SIM_PORT/{tenant_id}/oauth2/v2.0/token"
  export GDAP_SYNC_INTERVAL_MINUTES=${GDAP_SYNC_INTERVAL_MINUTES:-2}
  start_simulators=1
fi

"$PY" manage.py migrate --noinput
"$PY" manage.py load_demo

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo "Stopping the portal, worker and beat..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
  # A Celery worker finishes its running tasks first (warm shutdown); give it 20 s, then insist.
  for _ in $(seq 40); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && return 0
    sleep 0.5
  done
  echo "Still running after 20 s; killing." >&2
  kill -KILL "${pids[@]}" 2>/dev/null || true
}
trap stop_all INT TERM EXIT

if [ "${start_simulators:-0}" = 1 ]; then
  "$PY" manage.py run_simulators --port "$SIM_PORT" &
  pids+=($!)
fi
"$CELERY" -A partnerportal worker -Q feeds,escalations,webhooks --concurrency 2 --loglevel INFO &
pids+=($!)
"$CELERY" -A partnerportal beat --loglevel INFO &
pids+=($!)
"$PY" manage.py runserver --noreload "$HOST:$PORT" &
pids+=($!)

cat <<MSG

  Partner Support Portal: http://$HOST:$PORT/
  Sign in as globaladmin@example.com, usermanager@example.com, adminagent@example.com or
  helpdesk@example.com with the password demo-password. Ctrl-C stops everything.

MSG

# If any of them exits, stop the others too.
wait -n "${pids[@]}"
