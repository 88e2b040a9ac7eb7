"""The cross-tenant walker of tests/security over the reports routes alone (the full walk
runs in tests/security/test_cross_tenant_urls.py; this keeps the reports pages checked while
other parts of the URL tree are being built)."""

from __future__ import annotations

import pytest

from tests.security.test_cross_tenant_urls import (  # noqa: F401 - fixtures
    all_routes,
    callers,
    coverage_problems_for,
    walk,
    world,
)

PREFIXES = (
    "t/<slug:tenant_slug>/reports/",
    "staff/reports/",
    "staff/tenants/",
    "staff/access-teams/",
)

pytestmark = pytest.mark.django_db


def _routes():
    return [r for r in all_routes() if r.route.startswith(PREFIXES)]


def test_reports_routes_are_covered():
    routes = _routes()
    assert len(routes) >= 12
    assert not [r.route for r in routes if coverage_problems_for(r)]


def test_reports_routes_never_reach_another_tenant(world, callers):  # noqa: F811
    client, bearer = callers
    failures = walk(world, client, bearer, _routes())
    assert not failures, "\n".join(failures)
