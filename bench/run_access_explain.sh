#!/usr/bin/env bash
# Explain pages with 1,000,000 grants (issue 3) on a throw-away PostgreSQL cluster:
#   bench/run_access_explain.sh                       # 50 tenants, 1,000,000 grants, 200 requests/page
#   TENANTS=5 GRANTS=50000 REQUESTS=50 bench/run_access_explain.sh   # a quick run
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
TENANTS=${TENANTS:-50}; GRANTS=${GRANTS:-1000000}; REQUESTS=${REQUESTS:-200}
export DJANGO_SETTINGS_MODULE=config.settings.base
# shellcheck disable=SC1091
source .ci/pg-up.sh
CUSTOS_VAR_DIR=$(mktemp -d /tmp/custos-bench-var.XXXXXX)
export CUSTOS_VAR_DIR EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend
cleanup() { ci_services_down; rm -rf "$CUSTOS_VAR_DIR"; }
trap cleanup EXIT
"$PY" manage.py migrate --noinput -v0 || exit 1
"$PY" bench/access_explain.py setup --tenants "$TENANTS" --grants "$GRANTS" || exit 1
"$PY" bench/access_explain.py measure --requests "$REQUESTS"
rc=$?
echo "$(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
