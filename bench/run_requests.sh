#!/usr/bin/env bash
# Access-request benchmarks (issue 4) on a throw-away PostgreSQL cluster:
#   bench/run_requests.sh            # both
#   bench/run_requests.sh inbox      # bench/requests_inbox.py (inbox with 10,000 pending; submit)
#   bench/run_requests.sh expiry     # bench/requests_expiry.py (100,000 grants ending at once)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
which=${1:-all}
shift || true
export DJANGO_SETTINGS_MODULE=config.settings.base
run_one() {
  local script=$1; shift
  # shellcheck disable=SC1091
  source .ci/pg-up.sh
  trap ci_services_down EXIT
  CUSTOS_VAR_DIR=$(mktemp -d /tmp/custos-bench-var.XXXXXX)
  export CUSTOS_VAR_DIR
  "$PY" manage.py migrate --noinput -v0 || { ci_services_down; trap - EXIT; return 1; }
  "$PY" "$script" "$@"
  local rc=$?
  ci_services_down
  trap - EXIT
  rm -rf "$CUSTOS_VAR_DIR"
  return $rc
}
rc=0
case "$which" in
  inbox) run_one bench/requests_inbox.py "$@" || rc=$? ;;
  expiry) run_one bench/requests_expiry.py "$@" || rc=$? ;;
  all)
    run_one bench/requests_inbox.py || rc=$?
    run_one bench/requests_expiry.py || rc=$? ;;
  *) echo "usage: $0 [all|inbox|expiry] [args...]" >&2; exit 2 ;;
esac
echo "$(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -m), PostgreSQL $(ls -d /usr/lib/postgresql/*/ | sort -V | tail -1 | xargs basename)"
exit $rc
