#!/usr/bin/env bash
# SCIM benchmark (issue 5) on a throw-away PostgreSQL cluster + Redis with a real HTTP server
# (gunicorn) and concurrent HTTP clients (httpx2):
#   bench/run_scim.sh                      # 10,000 users created over HTTP, then deactivate (200 grants)
#   USERS=2000 CLIENTS=8 WORKERS=3 GRANTS=200 bench/run_scim.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
GUNICORN=${GUNICORN:-.venv/bin/gunicorn}
USERS=${USERS:-10000}; CLIENTS=${CLIENTS:-8}; WORKERS=${WORKERS:-3}; GRANTS=${GRANTS:-200}
export DJANGO_SETTINGS_MODULE=config.settings.base
# shellcheck disable=SC1091
source .ci/pg-up.sh
CUSTOS_VAR_DIR=$(mktemp -d /tmp/custos-bench-var.XXXXXX)
export CUSTOS_VAR_DIR CACHE_URL="redis://127.0.0.1:$REDIS_PORT/1"
export EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend ALLOWED_HOSTS=127.0.0.1
STATE=$CUSTOS_VAR_DIR/state.json
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
GPID=""
stop_server() { if [ -n "$GPID" ]; then kill "$GPID" 2>/dev/null; wait "$GPID" 2>/dev/null; GPID=""; fi; }
cleanup() { stop_server; ci_services_down; rm -rf "$CUSTOS_VAR_DIR"; }
trap cleanup EXIT
"$PY" manage.py migrate --noinput --skip-checks -v0 || exit 1
"$PY" bench/scim.py setup --state "$STATE" --grants "$GRANTS" || exit 1
"$GUNICORN" config.wsgi:application -b "127.0.0.1:$PORT" -w "$WORKERS" --backlog 2048 \
  --log-level warning --pid "$CUSTOS_VAR_DIR/gunicorn.pid" &
GPID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
rc=0
# CPU seconds (user+system) used so far by a process and its descendants.
cpu_of() {
  local pids total=0 pid t
  pids=$(ps -o pid= --ppid "$1" 2>/dev/null; echo "$1")
  for pid in $pids; do
    t=$(awk '{print $14+$15+$16+$17}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "$total"
}
echo "== create: $USERS users, $CLIENTS clients, $WORKERS gunicorn workers"
g0=$(cpu_of "$GPID"); p0=$(cpu_of "$PG_PID")
/usr/bin/time -f "%U %S" -o "$CUSTOS_VAR_DIR/client.cpu" \
  "$PY" bench/scim.py create --state "$STATE" --url "http://127.0.0.1:$PORT" --users "$USERS" --clients "$CLIENTS" || rc=1
g1=$(cpu_of "$GPID"); p1=$(cpu_of "$PG_PID")
hz=$(getconf CLK_TCK)
awk -v g=$((g1 - g0)) -v p=$((p1 - p0)) -v hz="$hz" -v n="$USERS" -v c="$(tail -1 "$CUSTOS_VAR_DIR/client.cpu")" \
  'BEGIN { split(c, a, " "); cl = (a[1] + a[2]) * 1000 / n; gs = g * 1000 / hz / n; ps = p * 1000 / hz / n;
           printf "create: CPU per request: gunicorn workers %.1f ms, PostgreSQL %.1f ms, HTTP clients %.1f ms, total %.1f ms\n", gs, ps, cl, gs + ps + cl }'
echo "== deactivate: the user holding $GRANTS grants"
"$PY" bench/scim.py deactivate --state "$STATE" --url "http://127.0.0.1:$PORT" || rc=1
stop_server
"$PY" bench/scim.py verify --state "$STATE" || rc=1
echo "$(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
