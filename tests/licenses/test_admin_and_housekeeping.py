"""Operators' admin pages for every licences model, the admin's onboarding action, the token
buckets and backoff, and refreshing the disposable-domain list."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.licenses.disposable import is_disposable
from apps.licenses.models import ProvisioningJob
from apps.licenses.throttle import Bucket, backoff_seconds, buckets_take

pytestmark = pytest.mark.django_db

MODELS = [
    "product", "licensepool", "seat", "waitinglistentry", "licensealert", "onboardingpolicy",
    "provisioningjob", "onboardingimport", "signupcase", "knowndevice", "idempotencyrecord",
]  # fmt: skip


@pytest.mark.parametrize("model", MODELS)
def test_admin_changelists_load(client_for, operator, make_pool, model):
    make_pool(capacity=3)
    assert client_for(operator).get(f"/admin/licenses/{model}/").status_code == 200


def test_admin_onboard_now_action_runs_the_joiner(client_for, operator, tenant_a, make_pool):
    make_pool(capacity=3)
    with tenant_context(tenant_a):
        job = ProvisioningJob.objects.create(
            tenant=tenant_a, payload={"email": "adm@acme.test", "products": ["office"]},
            source="manual",
        )  # fmt: skip
    response = client_for(operator).post(
        "/admin/licenses/provisioningjob/",
        {"action": "onboard_now", "_selected_action": [job.pk]},
    )
    assert response.status_code == 302
    assert User.objects.filter(email="adm@acme.test").exists()
    with tenant_context(tenant_a):
        assert ProvisioningJob.objects.get(pk=job.pk).status == "done"


def test_buckets_take_from_both_or_neither():
    tenant = Bucket("tenant:t1", 10, 2)
    overall = Bucket("global-test", 1000, 1000)
    assert buckets_take([tenant, overall]) == 0.0
    assert buckets_take([tenant, overall]) == 0.0
    wait = buckets_take([tenant, overall])
    assert 0 < wait <= 0.1 + 1e-6  # one token every 100 ms at 10/s


def test_backoff_is_exponential_and_capped():
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4.0, 5.0]


def test_disposable_list_refresh_from_a_file(tmp_path, settings):
    assert not is_disposable("x@fresh-throwaway.example")
    source = tmp_path / "list.txt"
    source.write_text("\n".join(f"d{i}.example" for i in range(12)) + "\nfresh-throwaway.example\n")
    call_command("licenses_refresh_disposable", "--file", str(source))
    assert is_disposable("x@fresh-throwaway.example")
    assert is_disposable("x@sub.mailinator.com")  # the shipped list still counts
    short = tmp_path / "short.txt"
    short.write_text("one.example\n")
    with pytest.raises(Exception, match="fewer than 10"):
        call_command("licenses_refresh_disposable", "--file", str(short))


def test_admin_pool_change_form_loads(client_for, operator, make_pool):
    pool = make_pool(capacity=3)
    client = client_for(operator)
    assert client.get(f"/admin/licenses/licensepool/{pool.pk}/change/").status_code == 200
    assert client.get("/admin/licenses/licensepool/add/").status_code == 200
