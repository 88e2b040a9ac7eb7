"""Portfolio oversight: a parent tenant sees its subsidiaries consolidated (one view, one
report); a subsidiary sees only itself — its sibling (and its parent) are not found."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from apps.access import services as access_services
from apps.core.tenancy import tenant_context
from apps.reports import selectors, services
from apps.reports.models import ReportJob
from apps.tenants import services as tenant_services
from apps.tenants.models import Environment, Tenant, TenantRole, Tier
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


class Portfolio:
    def __init__(self, operator) -> None:
        self.parent = tenant_services.tenant_create(
            actor=operator, slug="holding", name="Holding AG", tier=Tier.STRATEGIC
        )
        self.sub1 = tenant_services.tenant_create(
            actor=operator, slug="sub-one", name="Sub One", parent=self.parent
        )
        self.sub2 = tenant_services.tenant_create(
            actor=operator, slug="sub-two", name="Sub Two", parent=self.parent
        )
        self.grandchild = tenant_services.tenant_create(
            actor=operator, slug="sub-one-a", name="Sub One A", parent=self.sub1
        )
        self.stranger = tenant_services.tenant_create(actor=operator, slug="other", name="Other")
        self.admins = {}
        for tenant in (self.parent, self.sub1, self.sub2, self.stranger):
            user = make_user(f"admin@{tenant.slug}.test", full_name=f"Admin {tenant.name}")
            tenant_services.membership_add(
                actor=operator, tenant=tenant, user=user, role=TenantRole.CUSTOMER_ADMIN
            )
            self.admins[tenant.slug] = user
        for tenant in (self.parent, self.sub1, self.sub2, self.grandchild, self.stranger):
            env = tenant_services.environment_create(
                actor=operator, tenant=tenant, slug="app", name=f"App of {tenant.slug}"
            )
            ent = access_services.entitlement_create(
                actor=operator, tenant=tenant, environment=env, level="read", risk="high"
            )
            holder = make_user(f"holder@{tenant.slug}.test", full_name=f"Holder {tenant.slug}")
            tenant_services.membership_add(
                actor=operator, tenant=tenant, user=holder, role=TenantRole.MEMBER
            )
            access_services.grant_create(
                actor=operator,
                tenant=tenant,
                user=holder,
                entitlement=ent,
                source="manual",
                duration=timedelta(days=2),
            )


@pytest.fixture
def portfolio(operator) -> Portfolio:
    return Portfolio(operator)


def test_descendants_are_the_parents_tree_only(portfolio):
    slugs = [t.slug for t in selectors.portfolio_tenants(portfolio.parent)]
    assert slugs == ["holding", "sub-one", "sub-one-a", "sub-two"]
    assert [t.slug for t in selectors.portfolio_tenants(portfolio.sub1)] == ["sub-one", "sub-one-a"]
    assert selectors.subsidiary_get(tenant=portfolio.sub1, subsidiary_id=portfolio.sub2.pk) is None
    assert (
        selectors.subsidiary_get(tenant=portfolio.sub1, subsidiary_id=portfolio.parent.pk) is None
    )


def test_parent_sees_the_consolidated_portfolio(client_for, portfolio):
    client = client_for(portfolio.admins["holding"])
    page = client.get("/t/holding/reports/portfolio/")
    assert page.status_code == 200
    text = page.content.decode()
    for name in ("Holding AG", "Sub One", "Sub One A", "Sub Two"):
        assert name in text
    assert "Other" not in text
    sub = client.get(f"/t/holding/reports/portfolio/{portfolio.sub2.pk}/")
    assert sub.status_code == 200
    assert "Holder sub-two" in sub.content.decode()
    deep = client.get(f"/t/holding/reports/portfolio/{portfolio.grandchild.pk}/")
    assert "Holder sub-one-a" in deep.content.decode()
    assert client.get(f"/t/holding/reports/portfolio/{portfolio.stranger.pk}/").status_code == 404


def test_a_subsidiary_never_sees_its_sibling(client_for, portfolio):
    client = client_for(portfolio.admins["sub-one"])
    # its own subtree, yes; its sibling and its parent: not found
    assert client.get(f"/t/sub-one/reports/portfolio/{portfolio.grandchild.pk}/").status_code == 200
    assert client.get(f"/t/sub-one/reports/portfolio/{portfolio.sub2.pk}/").status_code == 404
    assert client.get(f"/t/sub-one/reports/portfolio/{portfolio.parent.pk}/").status_code == 404
    assert client.get(f"/t/sub-two/reports/portfolio/{portfolio.sub2.pk}/").status_code == 404
    assert client.get("/t/sub-two/reports/").status_code == 404
    leaf = client_for(portfolio.admins["sub-two"])
    assert leaf.get("/t/sub-two/reports/portfolio/").status_code == 404  # no subsidiaries
    assert leaf.get(f"/t/sub-two/reports/portfolio/{portfolio.sub1.pk}/").status_code == 404


def test_portfolio_report_covers_the_subsidiaries_and_nothing_else(portfolio):
    admin = portfolio.admins["holding"]
    job = services.report_job_request(
        actor=admin,
        tenant=portfolio.parent,
        kind="inventory",
        scope="portfolio",
        file_format="csv",
        parameters={"state": "all"},
    )
    services.report_job_run(job_id=job.pk)
    with tenant_context(portfolio.parent):
        job = ReportJob.objects.get(pk=job.pk)
    assert job.status == "done", job.error
    rows = list(csv.DictReader(io.StringIO(bytes(job.content).decode("utf-8-sig"))))
    assert sorted({r["tenant"] for r in rows}) == ["holding", "sub-one", "sub-one-a", "sub-two"]
    assert "Holder other" not in {r["subject"] for r in rows}
    # the subsidiary cannot ask for a portfolio report of its parent's tree
    with pytest.raises(Exception):  # noqa: B017 - DomainError: has no subsidiaries
        services.report_job_request(
            actor=portfolio.admins["sub-two"],
            tenant=portfolio.sub2,
            kind="inventory",
            scope="portfolio",
        )
    # and the parent's job is not visible from a subsidiary
    client_jobs = selectors.report_job_list(tenant=portfolio.sub1)
    assert client_jobs == []


def test_portfolio_pdf_lists_each_tenant(portfolio, tmp_path):
    import subprocess

    job = services.report_job_request(
        actor=portfolio.admins["holding"],
        tenant=portfolio.parent,
        kind="compliance_summary",
        scope="portfolio",
        parameters={"period": "month", "start": "2026-12-01"},
    )
    services.report_job_run(job_id=job.pk)
    with tenant_context(portfolio.parent):
        job = ReportJob.objects.get(pk=job.pk)
    assert job.status == "done", job.error
    path = tmp_path / "p.pdf"
    path.write_bytes(bytes(job.content))
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True
    ).stdout
    assert "Subsidiaries" in text
    assert "Sub One A" in text
    assert "Unique persons with access" in text


def test_environment_count_stays_scoped_after_a_portfolio_read(client_for, portfolio):
    client_for(portfolio.admins["holding"]).get("/t/holding/reports/portfolio/")
    with tenant_context(portfolio.sub1):
        assert Environment.objects.count() == 1
    assert Tenant.objects.filter(parent=portfolio.parent).count() == 2
