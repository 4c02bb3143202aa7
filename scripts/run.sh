#!/usr/bin/env bash
# make run: migrate, load the demo data, then serve the portal with a Celery worker and beat in
# the foreground. One Ctrl-C stops all of them.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
CELERY=.venv/bin/celery
HOST=${RUN_HOST:-127.0.0.1}
PORT=${RUN_PORT:-8000}

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

"$CELERY" -A partnerportal worker -Q feeds,escalations --concurrency 2 --loglevel INFO &
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

# If any of the three exits, stop the others too.
wait -n "${pids[@]}"
