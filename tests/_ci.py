"""Real services or nothing: the CI guard (loaded from tests/conftest.py via `pytest_plugins`).

Locally, tests that need PostgreSQL, Redis or Chromium skip themselves when the service is
missing. On CI (`.ci/run` exports CUSTOS_REQUIRE_SERVICES=1) a skip must never hide a lost
service, so:

* the session refuses to start unless DATABASE_URL points at PostgreSQL and the Celery broker
  (CELERY_BROKER_URL, Redis) answers a PING;
* any test skipped for a missing PostgreSQL, Redis or Chromium (by marker — `postgres`,
  `redis`, `browser` — or by its skip reason naming the service) is reported as a failure.

Helpers for tests: `require_postgres()`, `require_redis()` skip (or fail on CI) with a uniform
reason; `broker_url()` returns the Redis URL in use.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

REQUIRE_ENV = "CUSTOS_REQUIRE_SERVICES"
SERVICE_MARKERS = ("postgres", "redis", "browser")
# A skip reason naming one of these is a missing service, not a legitimate "not applicable".
SERVICE_REASON = re.compile(r"postgres|redis|chromium|playwright|browser", re.IGNORECASE)


def services_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def database_is_postgres() -> bool:
    url = os.environ.get("DATABASE_URL", "")
    return url.startswith(("postgres://", "postgresql://", "pgsql://"))


def broker_url() -> str:
    return os.environ.get("CELERY_BROKER_URL", "")


def redis_answers(url: str | None = None, timeout: float = 2.0) -> str | None:
    """None when Redis at `url` answers PING, else why not."""
    url = broker_url() if url is None else url
    if not url.startswith(("redis://", "rediss://")):
        return f"CELERY_BROKER_URL is not Redis ({url or 'unset'})"
    try:
        import redis
    except ImportError:  # pragma: no cover - redis comes with celery[redis]
        return "the redis package is not installed"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"Redis at {url} does not answer ({type(exc).__name__}: {exc})"
    return None


def _unavailable(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: this test must run)", pytrace=False)
    pytest.skip(reason)


def require_postgres() -> None:
    """Skip (fail on CI) unless the tests run on PostgreSQL."""
    from django.db import connection

    if connection.vendor != "postgresql":
        _unavailable("needs PostgreSQL (set DATABASE_URL, see .ci/pg-up.sh)")


def require_redis() -> str:
    """Skip (fail on CI) unless CELERY_BROKER_URL is a Redis that answers; returns its URL."""
    problem = redis_answers()
    if problem:
        _unavailable(f"needs Redis: {problem}")
    return broker_url()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "redis: needs the Redis broker (CELERY_BROKER_URL)")


def pytest_sessionstart(session: pytest.Session) -> None:
    if not services_required():
        return
    problems = []
    if not database_is_postgres():
        problems.append(
            f"DATABASE_URL is not PostgreSQL ({os.environ.get('DATABASE_URL') or 'unset'})"
        )
    broker_problem = redis_answers()
    if broker_problem:
        problems.append(broker_problem)
    if problems:
        pytest.exit(
            f"{REQUIRE_ENV}=1 but the services are missing: "
            + "; ".join(problems)
            + " (start them with `source .ci/pg-up.sh`, or run `bash .ci/run`)",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`postgres` / `redis` markers skip on a machine without the service (fail on CI)."""
    if item.get_closest_marker("postgres") and not database_is_postgres():
        _unavailable("needs PostgreSQL (set DATABASE_URL, see .ci/pg-up.sh)")
    if item.get_closest_marker("redis"):
        problem = redis_answers()
        if problem:
            _unavailable(f"needs Redis: {problem}")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr or "")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if not (report.skipped and services_required()) or hasattr(report, "wasxfail"):
        return report
    reason = _skip_reason(report)
    marked = any(item.get_closest_marker(name) for name in SERVICE_MARKERS)
    if marked or SERVICE_REASON.search(reason):
        report.outcome = "failed"
        report.longrepr = (
            f"skipped for a missing service under {REQUIRE_ENV}=1 (CI must run it): {reason}"
        )
    return report
