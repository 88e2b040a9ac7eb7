#!/usr/bin/env bash
# `make demo`: seed the demo data, then serve Custos on 127.0.0.1:8000 with a Celery worker and
# beat beside it. The broker is kombu's filesystem transport (var/broker): no server process.
# Ctrl-C (or SIGTERM to this script) stops the web server, the worker and beat together.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
CELERY=.venv/bin/celery
HOST=${DEMO_HOST:-127.0.0.1}
PORT=${DEMO_PORT:-8000}
mkdir -p var/broker/queue var/broker/control var/log

# Refuse at once, before seeding or starting anything, when the address is taken (another demo?).
if ! "$PY" - "$HOST" "$PORT" <<'PYEOF'
import socket, sys
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as runserver: TIME_WAIT is fine
try:
    sock.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
finally:
    sock.close()
PYEOF
then
  echo "make demo: $HOST:$PORT is already in use (another Custos demo?)." >&2
  echo "Stop whatever listens there, or pick another port: DEMO_PORT=8001 make demo" >&2
  exit 1
fi

"$PY" manage.py seed_demo

pids=()
stopping=0
stop() {
  [ "$stopping" = 1 ] && return
  stopping=1
  trap - INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # Warm shutdown: a running task may finish; after 20 s whatever is left is killed.
  for _ in $(seq 1 40); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "Custos demo stopped (web server, Celery worker and beat)."
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A worker and a beat process, as in production (docs/operator-guide.md): beat sends the
# sweepers and audit checkpoints on schedule, the worker runs them.
"$CELERY" -A config worker --pool=threads --concurrency=2 --loglevel=INFO \
  --hostname="custos-demo@%h" >>var/log/celery.log 2>&1 &
pids+=($!)
"$CELERY" -A config beat --loglevel=INFO --schedule=var/celerybeat-schedule \
  --pidfile= >>var/log/celery.log 2>&1 &
pids+=($!)
echo "Celery worker (pid ${pids[0]}) and beat (pid ${pids[1]}) running; log: var/log/celery.log"

"$PY" manage.py runserver "$HOST:$PORT" --noreload &
pids+=($!)
echo "Custos on http://$HOST:$PORT/  (Ctrl-C stops the server, the worker and beat)"

# All three run in the background so that a signal reaches this script at once; whichever one
# ends first ends the demo.
wait -n
