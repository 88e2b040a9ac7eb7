#!/usr/bin/env bash
# Portal dashboard benchmark (issue 2) on a throw-away PostgreSQL cluster:
#   bench/run_dashboard.sh                       # 1,000 tenants, 100,000 users, 1,000,000 events
#   bench/run_dashboard.sh --events 100000 ...   # arguments go to bench/dashboard.py
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
"$PY" manage.py migrate --noinput -v0 && "$PY" bench/dashboard.py "$@" || rc=$?
ci_services_down
trap - EXIT
rm -rf "$CUSTOS_VAR_DIR"
echo "$(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg), PostgreSQL $(ls -d /usr/lib/postgresql/*/ | sort -V | tail -1 | xargs basename)"
exit $rc
