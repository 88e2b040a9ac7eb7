"""Signup risk checks and the review queue: low risk passes, disposable domains, far-away IPs,
impossible travel, device and payment clusters go to review; checks tighten above the daily
volume; reviewers approve (onboarded), reject or ask for more, and auditors get a CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.licenses.models import AlertKind, LicenseAlert, OnboardingPolicy, SignupCase
from apps.licenses.services.provisioning import policy_cache_clear
from apps.licenses.services.risk import SignupInput, signup_decide, signup_reviews_overdue_alert
from apps.lifecycle.joiner import JoinerRequest, signup_approve, signup_submit

pytestmark = pytest.mark.django_db
BERLIN_IP = "192.0.2.10"
SYDNEY_IP = "203.0.113.7"


def submit(tenant, admin, email, **data):
    products = data.pop("products", [])
    return signup_submit(
        actor=admin,
        tenant=tenant,
        data=SignupInput(email=email, **data),
        request=JoinerRequest(email=email, products=products),
    )


def test_low_risk_signup_is_onboarded_at_once(tenant_a, admin_a, make_pool):
    make_pool(capacity=5)
    case, result = submit(
        tenant_a, admin_a, "ok@example.org", ip=BERLIN_IP, declared_location="Berlin"
    )
    assert case.decision == "auto_approved"
    assert result is not None
    assert result.user.email == "ok@example.org"


def test_disposable_and_far_away_go_to_review_with_signals(tenant_a, admin_a):
    case, result = submit(
        tenant_a, admin_a, "x@mailinator.com", ip=SYDNEY_IP, declared_location="Berlin",
        device_fingerprint="dev-1",
    )  # fmt: skip
    assert result is None
    assert case.decision == "pending"
    assert {"disposable_email", "geo_distance", "new_device"} <= set(case.signal_codes())
    assert case.distance_km > 2000
    assert case.due_at is not None
    assert not User.objects.filter(email="x@mailinator.com").exists()


def test_declaration_older_than_ten_minutes_does_not_count_distance(tenant_a, admin_a):
    case, _ = submit(
        tenant_a, admin_a, "old@example.org", ip=SYDNEY_IP, declared_location="Berlin",
        declared_at=timezone.now() - timedelta(minutes=30),
    )  # fmt: skip
    assert "geo_distance" not in case.signal_codes()


def test_impossible_travel_and_clusters(tenant_a, admin_a):
    submit(tenant_a, admin_a, "t@example.org", ip=BERLIN_IP, device_fingerprint="d9")
    case, _ = submit(tenant_a, admin_a, "t2@example.org", ip=SYDNEY_IP, device_fingerprint="d9")
    assert "impossible_travel" in case.signal_codes()
    for i in range(3):
        case, _ = submit(
            tenant_a, admin_a, f"c{i}@example.org", ip="100.64.1.1", payment_ref="card-7"
        )
    assert {"cluster_ip", "cluster_payment"} <= set(case.signal_codes())
    assert case.decision == "pending"


def test_checks_tighten_above_the_daily_volume(tenant_a, admin_a):
    with tenant_context(tenant_a):
        OnboardingPolicy.objects.create(tenant=tenant_a, daily_signups_tighten_at=2)
    policy_cache_clear()
    submit(tenant_a, admin_a, "v1@example.org", ip=BERLIN_IP, declared_location="Berlin")
    submit(tenant_a, admin_a, "v2@example.org", ip=BERLIN_IP, declared_location="Berlin")
    # Same input as before, but now a new device alone is enough for a review.
    case, result = submit(
        tenant_a, admin_a, "v3@example.org", ip=BERLIN_IP, declared_location="Berlin",
        device_fingerprint="new-dev",
    )  # fmt: skip
    assert case.tightened
    assert "volume_tightened" in case.signal_codes()
    assert case.decision == "pending"
    assert result is None


def test_review_approve_reject_more_info_and_export(tenant_a, admin_a, client_for, make_pool):
    make_pool(capacity=5)
    case, _ = submit(
        tenant_a,
        admin_a,
        "r1@mailinator.com",
        ip=SYDNEY_IP,
        declared_location="Berlin",
        products=["office"],
    )
    other, _ = submit(tenant_a, admin_a, "r2@mailinator.com")
    client = client_for(admin_a)
    page = client.get(f"/t/acme/licenses/reviews/{case.pk}/")
    assert "Disposable email domain" in page.content.decode()
    # Rejecting needs a reason; then it sticks.
    assert (
        "Say why"
        in client.post(
            f"/t/acme/licenses/reviews/{other.pk}/decide/", {"decision": "rejected"}
        ).content.decode()
    )
    more = client.post(
        f"/t/acme/licenses/reviews/{other.pk}/decide/",
        {"decision": "more_info", "note": "send ID"},
    )
    assert more.status_code == 302
    approved = client.post(
        f"/t/acme/licenses/reviews/{case.pk}/decide/", {"decision": "approved", "note": "ok"}
    )
    assert approved.status_code == 302
    user = User.objects.get(email="r1@mailinator.com")
    with tenant_context(tenant_a):
        assert SignupCase.objects.get(pk=case.pk).user == user
    with pytest.raises(Exception) as exc:
        signup_approve(actor=admin_a, case=case)
    assert exc.value.code == "already_decided"
    export = client.get("/t/acme/licenses/reviews/export.csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert {r["decision"] for r in rows} == {"approved", "more_info"}
    assert "disposable_email" in rows[0]["signals"] or "disposable_email" in rows[1]["signals"]


def test_overdue_reviews_raise_one_alert(tenant_a, admin_a):
    case, _ = submit(tenant_a, admin_a, "late@mailinator.com")
    later = timezone.now() + timedelta(days=1)
    assert signup_reviews_overdue_alert(now=later) == 1
    assert signup_reviews_overdue_alert(now=later) == 0
    with tenant_context(tenant_a):
        assert LicenseAlert.objects.filter(kind=AlertKind.REVIEW_SLA).count() == 1
    signup_decide(actor=admin_a, case=case, decision="rejected", note="fake")
