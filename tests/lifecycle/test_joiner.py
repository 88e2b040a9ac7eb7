"""The joiner: user -> membership -> template roles -> seats -> welcome mail, all or nothing."""

from __future__ import annotations

import pytest
from django.core import mail

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.licenses.models import LicensePool, Seat
from apps.licenses.services import PoolExhausted, pool_create, product_create
from apps.lifecycle.joiner import JoinerRequest, joiner_run
from apps.tenants.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def pools(tenant_a, operator):
    office = product_create(actor=operator, tenant=tenant_a, key="office", name="Office")
    crm = product_create(actor=operator, tenant=tenant_a, key="crm", name="CRM")
    return (
        pool_create(actor=operator, tenant=tenant_a, product=office, name="Office", capacity=5),
        pool_create(actor=operator, tenant=tenant_a, product=crm, name="CRM", capacity=1),
    )


@pytest.fixture
def celery_eager():
    """Tasks run in the calling process, as a worker would run them."""
    from config.celery_app import app as celery_app

    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def test_joiner_creates_everything_and_notifies(
    tenant_a, admin_a, pools, django_capture_on_commit_callbacks, celery_eager
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = joiner_run(
            actor=admin_a,
            tenant=tenant_a,
            request=JoinerRequest(
                email="new@acme.test",
                full_name="New Person",
                products=["office", "crm"],
                department="Sales",
            ),
        )
    assert result.created_user
    assert {s.pool.product.key for s in result.seats} == {"office", "crm"}
    with tenant_context(tenant_a):
        assert Membership.objects.get(user=result.user).department == "Sales"
        assert AuditEvent.objects.filter(
            action="user.joined", target_id=str(result.user.pk)
        ).exists()
    assert not mail.outbox  # nothing is sent inside the request's transaction
    for callback in callbacks:
        callback()  # queues the task (run at once here, as a worker would)
    assert mail.outbox[-1].to == ["new@acme.test"]


def test_joiner_is_all_or_nothing_when_a_pool_is_full(tenant_a, admin_a, pools):
    office, _crm = pools
    joiner_run(
        actor=admin_a, tenant=tenant_a, request=JoinerRequest(email="a@acme.test", products=["crm"])
    )
    with pytest.raises(PoolExhausted):
        joiner_run(
            actor=admin_a,
            tenant=tenant_a,
            request=JoinerRequest(email="b@acme.test", products=["office", "crm"]),
        )
    assert not User.objects.filter(email="b@acme.test").exists()
    with tenant_context(tenant_a):
        assert LicensePool.objects.get(pk=office.pk).used == 0  # the office seat rolled back
        assert Seat.objects.count() == 1


def test_existing_account_joins_a_second_tenant(tenant_a, tenant_b, admin_a, outsider_b, pools):
    result = joiner_run(
        actor=admin_a, tenant=tenant_a, request=JoinerRequest(email=outsider_b.email)
    )
    assert not result.created_user
    assert result.user == outsider_b


def test_members_may_not_onboard(tenant_a, member_a, pools):
    with pytest.raises(Exception) as exc:
        joiner_run(actor=member_a, tenant=tenant_a, request=JoinerRequest(email="z@acme.test"))
    assert exc.value.status_code == 403
