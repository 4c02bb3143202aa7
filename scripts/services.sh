#!/usr/bin/env bash
# services.sh - start/stop a private PostgreSQL and Redis on loopback for `make test`.
#
#   ./services.sh start     # install if missing (root), init + start both, wait until ready
#   ./services.sh stop      # stop both cleanly (data kept; `./services.sh clean` removes it)
#   ./services.sh status    # exit 0 if both answer
#   ./services.sh env       # print export lines for the app (eval "$(./services.sh env)")
#   ./services.sh clean     # stop, then delete the state directory
#   source services.sh      # defines svc_start / svc_stop / svc_wait / svc_env / svc_status
#
# No systemd, no system clusters: PostgreSQL runs from a private data dir, Redis with no
# persistence. Works as root (PostgreSQL is then run as the `postgres` user, because
# postgres refuses to run as root) and as an ordinary user (runs as that user).
# Knobs (env): SVC_PG_PORT (55432) SVC_REDIS_PORT (56379) SVC_DIR (/tmp/devservices-<user>)
#              SVC_DB_NAME (app) SVC_WAIT_SECS (30)

SVC_PG_PORT=${SVC_PG_PORT:-55432}
SVC_REDIS_PORT=${SVC_REDIS_PORT:-56379}
SVC_DIR=${SVC_DIR:-/tmp/devservices-$(id -un)}
SVC_DB_NAME=${SVC_DB_NAME:-app}
SVC_WAIT_SECS=${SVC_WAIT_SECS:-30}

_svc_log() { printf '[services] %s\n' "$*" >&2; }

# Highest installed PostgreSQL major (Debian 12: 15, Debian 13: 17, ...).
_svc_pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && printf '%s\n' "$d"
}

svc_install() {
  if [ -n "$(_svc_pg_bin)" ] && command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
    return 0
  fi
  local apt=(apt-get -o DPkg::Lock::Timeout=600)
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then apt=(sudo "${apt[@]}")
    else _svc_log "PostgreSQL/Redis missing and not root: run 'apt-get install -y postgresql redis-server' as root"; return 1; fi
  fi
  _svc_log "installing postgresql + redis-server with apt"
  "${apt[@]}" update -qq || return 1
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq postgresql redis-server >/dev/null || return 1
  [ -n "$(_svc_pg_bin)" ] || { _svc_log "no /usr/lib/postgresql/*/bin after install"; return 1; }
}

# Run a PostgreSQL server-side binary as the right user (postgres when we are root).
_svc_as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

_svc_pg_ready() { "$(_svc_pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$SVC_PG_PORT" -U postgres -d postgres -t 1 >/dev/null 2>&1; }
# A daemon reparented to PID 1 can linger as a zombie for a while; treat a zombie as gone.
_svc_alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
# True if PID is a live process whose command name is $2 (guards against PID reuse / stale pid files).
_svc_pid_is() { [ -n "$1" ] && _svc_alive "$1" && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]; }

# A postmaster killed hard (e.g. when a session ends) leaves postmaster.pid behind; while its PID is
# still a zombie, postgres refuses to start ("lock file already exists"). Wait for the reap, then
# let postgres handle the stale file; drop the file if the PID now belongs to something else.
_svc_pg_clear_stale_lock() {
  local data=$1 pid i
  [ -f "$data/postmaster.pid" ] || return 0
  pid=$(head -n 1 "$data/postmaster.pid")
  for ((i = 0; i < 50; i++)); do
    [ -e "/proc/$pid" ] || return 0
    _svc_pid_is "$pid" postgres && return 0
    _svc_alive "$pid" && break
    sleep 0.2
  done
  _svc_log "removing stale $data/postmaster.pid (PID $pid is not a running postgres)"
  _svc_as_pg rm -f "$data/postmaster.pid"
}
_svc_redis_ready() { [ "$(redis-cli -h 127.0.0.1 -p "$SVC_REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

svc_start_pg() {
  local bin pgdir data
  bin=$(_svc_pg_bin) || { _svc_log "PostgreSQL not installed"; return 1; }
  pgdir="$SVC_DIR/pg"; data="$pgdir/data"
  if _svc_pg_ready; then _svc_log "postgres already up on 127.0.0.1:$SVC_PG_PORT"; return 0; fi
  mkdir -p "$SVC_DIR" && chmod 755 "$SVC_DIR"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { _svc_log "root needs the 'postgres' user (created by the Debian package)"; return 1; }
    install -d -o postgres -g postgres -m 700 "$pgdir"
  else
    install -d -m 700 "$pgdir"
  fi
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -w "$pgdir"; then
    _svc_log "user postgres cannot write $pgdir (a parent dir not traversable?); set SVC_DIR under /tmp"; return 1
  fi
  # Throwaway data: re-init if it was made by another PostgreSQL major (e.g. after a distro upgrade).
  if [ -s "$data/PG_VERSION" ] && [ "$(cat "$data/PG_VERSION")" != "$(basename "$(dirname "$bin")")" ]; then
    _svc_log "data dir is from PostgreSQL $(cat "$data/PG_VERSION"), re-initialising for $bin"
    _svc_as_pg rm -rf "$data"
  fi
  if [ ! -s "$data/PG_VERSION" ]; then
    _svc_log "initdb $data ($bin)"
    _svc_as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$SVC_DIR/initdb.log" 2>&1 \
      || { cat "$SVC_DIR/initdb.log" >&2; return 1; }
  fi
  _svc_pg_clear_stale_lock "$data"
  # TCP on loopback only, no unix socket (avoids /var/run/postgresql permissions); fast, non-durable settings for tests.
  _svc_as_pg "$bin/pg_ctl" -D "$data" -l "$pgdir/server.log" -w -t "$SVC_WAIT_SECS" -s \
    -o "-p $SVC_PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start || { tail -n 20 "$pgdir/server.log" >&2; return 1; }
}

svc_start_redis() {
  local rdir="$SVC_DIR/redis"
  if _svc_redis_ready; then _svc_log "redis already up on 127.0.0.1:$SVC_REDIS_PORT"; return 0; fi
  mkdir -p "$rdir"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$SVC_REDIS_PORT" --save '' --appendonly no \
    --dir "$rdir" --pidfile "$rdir/redis.pid" --logfile "$rdir/redis.log" \
    || { tail -n 20 "$rdir/redis.log" >&2; return 1; }
}

svc_wait() {
  local i
  for ((i = 0; i < SVC_WAIT_SECS * 5; i++)); do
    if _svc_pg_ready && _svc_redis_ready; then return 0; fi
    sleep 0.2
  done
  _svc_log "timeout: postgres ready=$(_svc_pg_ready && echo yes || echo no) redis ready=$(_svc_redis_ready && echo yes || echo no)"
  return 1
}

_svc_create_db() {
  local psql=("$(_svc_pg_bin)/psql" -h 127.0.0.1 -p "$SVC_PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='$SVC_DB_NAME'")" != "1" ]; then
    "${psql[@]}" -c "CREATE DATABASE \"$SVC_DB_NAME\"" >/dev/null
  fi
}

svc_start() {
  svc_install || return 1
  svc_start_pg || return 1
  svc_start_redis || return 1
  svc_wait || return 1
  _svc_create_db || return 1
  _svc_log "ready: postgres 127.0.0.1:$SVC_PG_PORT (db $SVC_DB_NAME, user postgres, trust) redis 127.0.0.1:$SVC_REDIS_PORT"
}

svc_stop() {
  local bin data="$SVC_DIR/pg/data" rdir="$SVC_DIR/redis" pid i
  bin=$(_svc_pg_bin)
  if [ -n "$bin" ] && [ -f "$data/postmaster.pid" ]; then
    if _svc_pid_is "$(head -n 1 "$data/postmaster.pid")" postgres; then
      _svc_as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t "$SVC_WAIT_SECS" -s stop || _svc_log "pg_ctl stop failed"
    fi
  fi
  if [ -f "$rdir/redis.pid" ]; then
    pid=$(cat "$rdir/redis.pid")
    if _svc_pid_is "$pid" redis-server; then
      redis-cli -h 127.0.0.1 -p "$SVC_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || kill "$pid" 2>/dev/null
      for ((i = 0; i < 100; i++)); do _svc_alive "$pid" || break; sleep 0.1; done
    fi
    rm -f "$rdir/redis.pid"
  fi
  return 0
}

svc_status() {
  local rc=0
  if _svc_pg_ready; then echo "postgres: up 127.0.0.1:$SVC_PG_PORT"; else echo "postgres: down"; rc=1; fi
  if _svc_redis_ready; then echo "redis: up 127.0.0.1:$SVC_REDIS_PORT"; else echo "redis: down"; rc=1; fi
  return $rc
}

svc_env() {
  echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$SVC_PG_PORT/$SVC_DB_NAME"
  echo "export REDIS_URL=redis://127.0.0.1:$SVC_REDIS_PORT/0"
  echo "export CELERY_BROKER_URL=redis://127.0.0.1:$SVC_REDIS_PORT/0"
}

svc_clean() {
  case "$SVC_DIR" in ""|/|/tmp|/root|/home) _svc_log "refusing to delete SVC_DIR='$SVC_DIR'"; return 1 ;; esac
  svc_stop; rm -rf "$SVC_DIR"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -u
  case "${1:-}" in
    start) svc_start ;;
    stop) svc_stop ;;
    restart) svc_stop && svc_start ;;
    status) svc_status ;;
    wait) svc_wait ;;
    env) svc_env ;;
    clean) svc_clean ;;
    install) svc_install ;;
    *) echo "usage: $0 {start|stop|restart|status|wait|env|clean|install}" >&2; exit 2 ;;
  esac
fi
