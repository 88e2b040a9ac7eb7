# Custos — the two commands: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_ENV := PIP_ONLY_BINARY=lxml,xmlsec PIP_DISABLE_PIP_VERSION_CHECK=1
export DJANGO_SETTINGS_MODULE ?= config.settings.base

.PHONY: demo test install messages migrate seed serve lint typecheck check clean bench

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $$(scripts/find-python.sh) -m venv $(VENV)
	$(PIP_ENV) $(PY) -m pip install -q --upgrade pip
	$(PIP_ENV) $(PY) -m pip install -q -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

messages: install
	$(PY) manage.py compilemessages --ignore=.venv -v0

migrate: install
	$(PY) manage.py migrate --noinput -v0

seed: migrate
	$(PY) manage.py seed_demo

# Serves on 127.0.0.1:8000 with a Celery worker and beat beside it (filesystem broker).
# var/ holds the SQLite database, the broker folders, keys and logs; a fresh checkout has none.
demo: install messages
	@mkdir -p var/log var/broker/queue var/broker/control
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0
	@scripts/demo.sh

test: install messages
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy apps config

check: install
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

bench: install
	@echo "See bench/README.md: benchmarks need PostgreSQL (DATABASE_URL)."

clean:
	rm -rf var/ staticfiles/ $(VENV)
