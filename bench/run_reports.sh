#!/usr/bin/env bash
# Report benchmark (issue 6) on a throw-away PostgreSQL cluster:
#   bench/run_reports.sh [--rows N] [--workers N] [--profile DIR]   # bench/bench_reports.py
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export DJANGO_SETTINGS_MODULE=config.settings.base
# shellcheck disable=SC1091
source .ci/pg-up.sh
trap ci_services_down EXIT
CUSTOS_VAR_DIR=$(mktemp -d /tmp/custos-bench-var.XXXXXX)
export CUSTOS_VAR_DIR
rc=0
"$PY" manage.py migrate --noinput -v0 && "$PY" bench/bench_reports.py "$@" || rc=$?
ci_services_down
trap - EXIT
rm -rf "$CUSTOS_VAR_DIR"
echo "$(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -m), PostgreSQL $(ls -d /usr/lib/postgresql/*/ | sort -V | tail -1 | xargs basename)"
exit $rc
