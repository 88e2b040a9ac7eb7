#!/usr/bin/env bash
# Audit benchmarks (issue 2) on a throw-away PostgreSQL cluster:
#   bench/run_audit.sh            # both: append throughput, then verify over 1,000,000 events
#   bench/run_audit.sh append     # only bench/audit_append.py
#   bench/run_audit.sh verify     # only bench/audit_verify.py
# Extra arguments after the mode are passed to that script (append: --per-writer N --writers N;
# verify: --events N --tenants N --runs N).
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
  append) run_one bench/audit_append.py "$@" || rc=$? ;;
  verify) run_one bench/audit_verify.py "$@" || rc=$? ;;
  all)
    [ $# -eq 0 ] || { echo "extra arguments need a mode (append or verify)" >&2; exit 2; }
    run_one bench/audit_append.py || rc=$?
    run_one bench/audit_verify.py || rc=$? ;;
  *) echo "usage: $0 [all|append|verify] [args...]" >&2; exit 2 ;;
esac
echo "$(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -m), PostgreSQL $(ls -d /usr/lib/postgresql/*/ | sort -V | tail -1 | xargs basename)"
exit $rc
