#!/usr/bin/env bash
# Licences and onboarding benchmark (issue 7) on a throw-away PostgreSQL cluster + Redis, with a
# real HTTP server (gunicorn, `pip install -e .[bench]`) and concurrent HTTP clients:
#   bench/run_licenses.sh                 # all: load (200/s paced), storm (50 x 10,000), verify, import (50,000)
#   RATE=200 DURATION=30 CLIENTS=24 STORM_CLIENTS=50 STORM_REQUESTS=10000 ROWS=50000 WORKERS=4 bench/run_licenses.sh
#   bench/run_licenses.sh api             # only the HTTP phases;  bench/run_licenses.sh import
#   (load-steady: the single-user endpoint at a sustainable STEADY_RATE=60 requests/s;
#    load-batch: BATCH=50 users per POST …/users/batch at BATCH_RATE=10 requests/s)
# Per-process buffers (0/1 = off): access events ANALYTICS_EVENT_BUFFER_SIZE=50, welcome-mail
# messages LICENSES_WELCOME_BUFFER_SIZE=50; the API call log stays unbuffered (1) by default.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
GUNICORN=${GUNICORN:-.venv/bin/gunicorn}
which=${1:-all}
RATE=${RATE:-200}; DURATION=${DURATION:-30}; CLIENTS=${CLIENTS:-24}
STORM_CLIENTS=${STORM_CLIENTS:-50}; STORM_REQUESTS=${STORM_REQUESTS:-10000}
ROWS=${ROWS:-50000}; WORKERS=${WORKERS:-4}; TENANTS=${TENANTS:-5}
BATCH=${BATCH:-50}; BATCH_RATE=${BATCH_RATE:-10}; STEADY_RATE=${STEADY_RATE:-60}
export DJANGO_SETTINGS_MODULE=config.settings.base
# shellcheck disable=SC1091
source .ci/pg-up.sh
CUSTOS_VAR_DIR=$(mktemp -d /tmp/custos-bench-var.XXXXXX)
# Welcome mails are Celery tasks queued on commit (to this Redis; no worker drains them here).
export CUSTOS_VAR_DIR CACHE_URL="redis://127.0.0.1:$REDIS_PORT/1" LICENSES_NOTIFY=${LICENSES_NOTIFY:-mail}
export API_CALL_LOG_BUFFER_SIZE=${API_CALL_LOG_BUFFER_SIZE:-1}
export ANALYTICS_EVENT_BUFFER_SIZE=${ANALYTICS_EVENT_BUFFER_SIZE:-50}
export LICENSES_WELCOME_BUFFER_SIZE=${LICENSES_WELCOME_BUFFER_SIZE:-50}
export EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend ALLOWED_HOSTS=127.0.0.1
STATE=$CUSTOS_VAR_DIR/state.json
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
GPID=""
stop_server() { if [ -n "$GPID" ]; then kill "$GPID" 2>/dev/null; wait "$GPID" 2>/dev/null; GPID=""; fi; }
cleanup() { stop_server; ci_services_down; rm -rf "$CUSTOS_VAR_DIR"; }
trap cleanup EXIT
start_server() {  # $1: per-tenant rate, $2: global rate
  LICENSES_TENANT_RATE=$1 LICENSES_TENANT_BURST=$1 LICENSES_GLOBAL_RATE=$2 LICENSES_GLOBAL_BURST=$2 \
    "$GUNICORN" config.wsgi:application -b "127.0.0.1:$PORT" -w "$WORKERS" --backlog 2048 \
    --log-level warning --pid "$CUSTOS_VAR_DIR/gunicorn.pid" &
  GPID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return 0; sleep 0.2; done
  echo "gunicorn did not start" >&2; return 1
}
"$PY" manage.py migrate --noinput --skip-checks -v0 || exit 1
rc=0
if [ "$which" = all ] || [ "$which" = api ]; then
  "$PY" bench/licenses_onboard.py setup --tenants "$TENANTS" --state "$STATE" || exit 1
  echo "== $(date -u +%H:%M:%S) uptime: $(uptime)"
  echo "== load: seed throttles (50/s per tenant, 250/s global), $TENANTS tenants, $WORKERS gunicorn workers"
  echo "== buffers: call log $API_CALL_LOG_BUFFER_SIZE, access events $ANALYTICS_EVENT_BUFFER_SIZE, welcome messages $LICENSES_WELCOME_BUFFER_SIZE"
  start_server 50 250 || exit 1
  "$PY" bench/licenses_onboard.py load --state "$STATE" --url "http://127.0.0.1:$PORT" \
    --rate "$RATE" --seconds "$DURATION" --clients "$CLIENTS" || rc=1
  echo "== $(date -u +%H:%M:%S) uptime: $(uptime)"
  echo "== load-steady: single-user endpoint at $STEADY_RATE requests/s"
  "$PY" bench/licenses_onboard.py load --state "$STATE" --url "http://127.0.0.1:$PORT" \
    --rate "$STEADY_RATE" --seconds "$DURATION" --clients "$CLIENTS" || rc=1
  echo "== $(date -u +%H:%M:%S) uptime: $(uptime)"
  echo "== load-batch: POST …/users/batch, $BATCH users per request, $BATCH_RATE requests/s"
  "$PY" bench/licenses_onboard.py load --state "$STATE" --url "http://127.0.0.1:$PORT" \
    --rate "$BATCH_RATE" --seconds "$DURATION" --clients 8 --batch "$BATCH" || rc=1
  stop_server
  echo "== $(date -u +%H:%M:%S) uptime: $(uptime)"
  echo "== storm: throttles lifted, $STORM_CLIENTS clients x $STORM_REQUESTS requests"
  start_server 100000 100000 || exit 1
  "$PY" bench/licenses_onboard.py storm --state "$STATE" --url "http://127.0.0.1:$PORT" \
    --clients "$STORM_CLIENTS" --requests "$STORM_REQUESTS" || rc=1
  stop_server
  echo "== $(date -u +%H:%M:%S) uptime: $(uptime)"
  "$PY" bench/licenses_onboard.py verify --state "$STATE" || rc=1
fi
if [ "$which" = all ] || [ "$which" = import ]; then
  echo "== import: $ROWS rows"
  LICENSES_TENANT_RATE=50 "$PY" bench/licenses_onboard.py import --rows "$ROWS" || rc=1
fi
echo "$(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
