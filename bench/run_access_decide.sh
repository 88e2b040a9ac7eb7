#!/usr/bin/env bash
# Access decisions benchmark (issue 3): apps.access.engine.decide() vs cedarpy vs casbin on the
# same policy set and queries, on a throw-away PostgreSQL cluster (.ci/pg-up.sh).
#   pip install -e '.[bench]'            # cedarpy + casbin (bench-only extras)
#   bench/run_access_decide.sh            # defaults: --queries 5000 --rounds 20
#   bench/run_access_decide.sh --queries 2000 --seed 3
# The engine is timed on one core (a single Python thread); Cedar's and Casbin's timings are
# per call from Python as well.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export DJANGO_SETTINGS_MODULE=config.settings.base
# shellcheck disable=SC1091
source .ci/pg-up.sh
trap ci_services_down EXIT
CUSTOS_VAR_DIR=$(mktemp -d /tmp/custos-bench-var.XXXXXX)
export CUSTOS_VAR_DIR
"$PY" manage.py migrate --noinput -v0 || exit 1
taskset -c 0 "$PY" bench/access_decide.py "$@"
rc=$?
rm -rf "$CUSTOS_VAR_DIR"
echo "$(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(uname -m), PostgreSQL $(ls -d /usr/lib/postgresql/*/ | sort -V | tail -1 | xargs basename), Python $("$PY" -c 'import platform; print(platform.python_version())')"
exit $rc
