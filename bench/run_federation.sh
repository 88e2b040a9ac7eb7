#!/usr/bin/env bash
# Federation sign-in benchmark (issue 5) on a throw-away PostgreSQL cluster + Redis:
#   bench/run_federation.sh            # 200 logins per series
#   LOGINS=500 bench/run_federation.sh
#   LOGINS=30 PROFILE=saml-repeat bench/run_federation.sh   # cProfile of one series
#   bench/run_federation.sh --series saml --sql             # SAML only, print one login's SQL
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LOGINS=${LOGINS:-200}
export DJANGO_SETTINGS_MODULE=config.settings.base
# shellcheck disable=SC1091
source .ci/pg-up.sh
CUSTOS_VAR_DIR=$(mktemp -d /tmp/custos-bench-var.XXXXXX)
export CUSTOS_VAR_DIR CACHE_URL="redis://127.0.0.1:$REDIS_PORT/1"
export EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend
export FEDERATION_BASE_URL=https://custos.example.com
cleanup() { ci_services_down; rm -rf "$CUSTOS_VAR_DIR"; }
trap cleanup EXIT
"$PY" manage.py migrate --noinput --skip-checks -v0 || exit 1
"$PY" bench/federation.py --logins "$LOGINS" ${PROFILE:+--profile "$PROFILE"} "$@"
