#!/usr/bin/env bash
# REST API benchmark and live fuzzing (issue 8) on a throw-away PostgreSQL cluster + Redis with a
# real HTTP server (gunicorn, `pip install -e .[bench]`):
#   bench/run_api.sh                 # fuzz (schemathesis, key + anonymous), load (50 clients), auth
#   bench/run_api.sh load            # only the GET load;   bench/run_api.sh fuzz;   bench/run_api.sh auth
#   CLIENTS=50 DURATION=30 WORKERS=8 THREADS=2 THINK_MS=0 EXAMPLES=100 bench/run_api.sh
#   WARMUP_CLIENTS=32 bench/run_api.sh load   # warm every server thread first (default: 1)
# The load phase also prints where the machine's CPU went (clients, gunicorn, PostgreSQL, Redis):
# the clients run on the same two cores as the server.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
GUNICORN=${GUNICORN:-.venv/bin/gunicorn}
ST=${ST:-.venv/bin/schemathesis}
which=${1:-all}
# DURATION, not SECONDS: bash sets $SECONDS itself (seconds since the shell started).
CLIENTS=${CLIENTS:-50}; SECONDS_=${DURATION:-30}; WORKERS=${WORKERS:-8}; THREADS=${THREADS:-2}
THINK_MS=${THINK_MS:-0}; EXAMPLES=${EXAMPLES:-100}; PROCESSES=${PROCESSES:-5}
WARMUP_CLIENTS=${WARMUP_CLIENTS:-1}
export DJANGO_SETTINGS_MODULE=config.settings.base
# shellcheck disable=SC1091
source .ci/pg-up.sh
CUSTOS_VAR_DIR=$(mktemp -d /tmp/custos-bench-var.XXXXXX)
export CUSTOS_VAR_DIR CACHE_URL="redis://127.0.0.1:$REDIS_PORT/1"
export EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend ALLOWED_HOSTS=127.0.0.1
export API_AUTH_FAILURE_THRESHOLD=1000000000  # fuzzed credentials must not flood alert mails
STATE=$CUSTOS_VAR_DIR/state.json
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
URL="http://127.0.0.1:$PORT"
GPID=""
stop_server() { if [ -n "$GPID" ]; then kill "$GPID" 2>/dev/null; wait "$GPID" 2>/dev/null; GPID=""; fi; }
cleanup() { stop_server; ci_services_down; rm -rf "$CUSTOS_VAR_DIR"; }
trap cleanup EXIT
start_server() {
  "$GUNICORN" config.wsgi:application -b "127.0.0.1:$PORT" -w "$WORKERS" -k gthread \
    --threads "$THREADS" --backlog 2048 --log-level warning --pid "$CUSTOS_VAR_DIR/gunicorn.pid" &
  GPID=$!
  for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && return 0; sleep 0.2; done
  echo "gunicorn did not start" >&2; return 1
}
# Excluded checks, and why: positive_data_acceptance — a schema-valid body that names an
# environment, person or request the tenant does not have is refused by business rules (4xx with
# a code), which a JSON schema cannot express; use_after_free / ensure_resource_availability
# — stateful checks that assume CRUD resources (this API has few DELETEs).
EXCLUDE=${EXCLUDE:-positive_data_acceptance,use_after_free,ensure_resource_availability}
# The response-time check allows 60 s: a shared machine under load (the load phase reports latency).
rc=0
"$PY" manage.py migrate --noinput --skip-checks -v0 || exit 1
if [ "$which" != auth ]; then
  "$PY" bench/api_get.py setup --state "$STATE" || exit 1
  start_server || exit 1
  TOKEN=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['token'])" "$STATE")
fi
if [ "$which" = all ] || [ "$which" = fuzz ]; then
  # The OpenAPI document the server itself serves; tenant_slug pinned to the seeded tenant for
  # the keyed run so the fuzzer reaches the handlers, free for the anonymous one.
  printf '[parameters]\n"path.tenant_slug" = "apibench"\n' >"$CUSTOS_VAR_DIR/schemathesis.toml"
  echo "== fuzz with a valid API key ($EXAMPLES examples per operation, positive + negative)"
  "$ST" --config-file "$CUSTOS_VAR_DIR/schemathesis.toml" run "$URL/api/v1/openapi.json" \
    -H "Authorization: Bearer $TOKEN" \
    --max-examples "$EXAMPLES" --checks all --exclude-checks "$EXCLUDE" --max-response-time 60 --generation-deterministic \
    --request-timeout 30 --workers 4 --no-color || rc=1
  echo "== fuzz without credentials"
  "$ST" run "$URL/api/v1/openapi.json" --max-examples "$((EXAMPLES / 4))" --checks all \
    --exclude-checks "$EXCLUDE" --max-response-time 60 --generation-deterministic \
    --request-timeout 30 --workers 4 \
    --no-color || rc=1
fi
if [ "$which" = all ] || [ "$which" = load ] || [ "$which" = profile ]; then
  echo "== per-request cost, in process (call log and access events as configured, Redis rate limit)"
  "$PY" bench/api_get.py profile --state "$STATE" --requests "${PROFILE_REQUESTS:-300}" \
    ${CPROFILE:+--cprofile} || rc=1
fi
if [ "$which" = all ] || [ "$which" = load ]; then
  echo "== load: $CLIENTS concurrent clients, $WORKERS gunicorn workers x $THREADS threads," \
    "API_CALL_LOG_BUFFER_SIZE=${API_CALL_LOG_BUFFER_SIZE:-default}" \
    "ANALYTICS_EVENT_BUFFER_SIZE=${ANALYTICS_EVENT_BUFFER_SIZE:-default}"
  uptime
  # Closed loop (every client sends its next request as soon as the last one is answered), then
  # paced (each client pauses PACED_THINK_MS between requests: 50 integrations polling).
  for think in $THINK_MS ${PACED_THINK_MS:-500}; do
    "$PY" bench/api_get.py load --state "$STATE" --url "$URL" --clients "$CLIENTS" \
      --processes "$PROCESSES" --seconds "$SECONDS_" --think-ms "$think" \
      --warmup-clients "$WARMUP_CLIENTS" \
      --server-pid "$GPID" --db-pid "$PG_PID" --redis-pid "$REDIS_PID" || rc=1
    uptime
  done
fi
stop_server
if [ "$which" = all ] || [ "$which" = auth ]; then
  echo "== API-key authentication overhead (bench/api_auth.py, PostgreSQL + Redis)"
  uptime
  ALLOWED_HOSTS=127.0.0.1,testserver "$PY" bench/api_auth.py --requests 5000 --keys 10000 || rc=1
fi
echo "$(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
