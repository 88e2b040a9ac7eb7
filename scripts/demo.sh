#!/usr/bin/env bash
# `make demo`: seed, then run the web server with a Celery worker and beat beside it.
# The broker is kombu's filesystem transport (var/broker): no server process needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p var/broker/queue var/broker/control var/log
$PY manage.py seed_demo
worker_pid=""
cleanup() {
  if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then
    kill "$worker_pid" 2>/dev/null || true
    wait "$worker_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT INT TERM
# -B embeds beat in the worker: the sweepers (grant expiry, escalations, checkpoints) fire.
.venv/bin/celery -A config worker -B --pool=threads --concurrency=2 --loglevel=INFO \
  --schedule=var/celerybeat-schedule >var/log/celery.log 2>&1 &
worker_pid=$!
echo "Celery worker + beat running (pid $worker_pid), log: var/log/celery.log"
echo "Custos on http://127.0.0.1:8000/  (Ctrl-C stops server, worker and beat)"
$PY manage.py runserver 127.0.0.1:8000 --noreload
