#!/usr/bin/env bash
# Start a throw-away PostgreSQL cluster and Redis on spare loopback ports.
# Usage: source .ci/pg-up.sh   (exports DATABASE_URL, CELERY_BROKER_URL, CI_SVC_DIR; defines ci_services_down)
_ci_caller_opts=$(set +o)  # restored at the end: sourcing must not change the caller's shell options
set -euo pipefail
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
CI_SVC_DIR=$(mktemp -d /tmp/custos-ci.XXXXXX)
chmod 755 "$CI_SVC_DIR"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# Stops whatever was started so far, by PID (safe to call more than once, and after a failed
# start: the caller's EXIT trap calls it).
PG_PID=""; REDIS_PID=""
ci_services_down() {
  if [ -n "${REDIS_PID:-}" ]; then
    kill "$REDIS_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ -n "${PG_PID:-}" ] && kill -0 "$PG_PID" 2>/dev/null; then
    as_pg "$PGBIN/pg_ctl" -D "$CI_SVC_DIR/pg" -m immediate -w stop >/dev/null 2>&1 \
      || kill -QUIT "$PG_PID" 2>/dev/null || true
  fi
  REDIS_PID=""; PG_PID=""
  [ -n "${CI_SVC_DIR:-}" ] && rm -rf "$CI_SVC_DIR"
  return 0
}
PG_PORT=$(free_port)
REDIS_PORT=$(free_port)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -p "$CI_SVC_DIR/pg"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$CI_SVC_DIR/pg"
as_pg "$PGBIN/initdb" -D "$CI_SVC_DIR/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$CI_SVC_DIR/initdb.log"
as_pg "$PGBIN/pg_ctl" -D "$CI_SVC_DIR/pg" -l "$CI_SVC_DIR/pg/log" -w start -o \
  "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $CI_SVC_DIR/pg -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null
PG_PID=$(head -1 "$CI_SVC_DIR/pg/postmaster.pid")
psql_su() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -q "$@"; }
# The owner runs migrations; the application role has neither SUPERUSER nor BYPASSRLS.
psql_su -c "CREATE ROLE custos_owner LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS CREATEROLE"
psql_su -c "CREATE ROLE custos_app NOLOGIN NOSUPERUSER NOBYPASSRLS"
psql_su -c "GRANT custos_app TO custos_owner"
psql_su -c "CREATE DATABASE custos OWNER custos_owner"
redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
  --pidfile "$CI_SVC_DIR/redis.pid" --logfile "$CI_SVC_DIR/redis.log" --dir "$CI_SVC_DIR"
for _ in $(seq 50); do [ -s "$CI_SVC_DIR/redis.pid" ] && break; sleep 0.1; done
REDIS_PID=$(cat "$CI_SVC_DIR/redis.pid")
export DATABASE_URL="postgres://custos_owner@127.0.0.1:$PG_PORT/custos"
export DATABASE_APP_ROLE=custos_app
export CELERY_BROKER_URL="redis://127.0.0.1:$REDIS_PORT/0"
export CI_SVC_DIR PG_PID REDIS_PID PG_PORT REDIS_PORT
eval "$_ci_caller_opts"
unset _ci_caller_opts
