"""The fixed cast used by every test (STYLE.md): tenant_a with admin_a, approver_a, member_a;
tenant_b with outsider_b; staff_engineer (vendor staff, no grants); compliance_officer.
State is created through services so tests exercise the real paths."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core.tenancy import tenant_context
from apps.identity.models import StaffRole, User, UserKind
from apps.tenants import services as tenant_services
from apps.tenants.models import Region, Tenant, TenantRole, Tier

# CI guard: CUSTOS_REQUIRE_SERVICES=1 turns a missing PostgreSQL/Redis/Chromium into a failure.
pytest_plugins = ["tests._ci"]

PASSWORD = "correct horse battery staple 42"


def make_user(email: str, **extra: Any) -> User:
    return User.objects.create_user(email=email, password=PASSWORD, **extra)


@pytest.fixture
def operator(db: None) -> User:
    return User.objects.create_superuser(
        email="operator@vendor.test", password=PASSWORD, full_name="Olga Operator"
    )


@pytest.fixture
def tenant_a(db: None, operator: User) -> Tenant:
    return tenant_services.tenant_create(
        actor=operator,
        slug="acme",
        name="ACME Corp",
        tier=Tier.ENTERPRISE,
        region=Region.EU,
        data_residency=Region.EU,
        time_zone="Europe/Berlin",
    )


@pytest.fixture
def tenant_b(db: None, operator: User) -> Tenant:
    return tenant_services.tenant_create(
        actor=operator,
        slug="globex",
        name="Globex",
        tier=Tier.STANDARD,
        region=Region.US,
    )


def _member(tenant: Tenant, operator: User, email: str, role: str, name: str) -> User:
    user = make_user(email, full_name=name)
    tenant_services.membership_add(actor=operator, tenant=tenant, user=user, role=role)
    return user


@pytest.fixture
def admin_a(tenant_a: Tenant, operator: User) -> User:
    return _member(tenant_a, operator, "alice@acme.test", TenantRole.CUSTOMER_ADMIN, "Alice Admin")


@pytest.fixture
def approver_a(tenant_a: Tenant, operator: User) -> User:
    return _member(tenant_a, operator, "arno@acme.test", TenantRole.APPROVER, "Arno Approver")


@pytest.fixture
def member_a(tenant_a: Tenant, operator: User) -> User:
    return _member(tenant_a, operator, "mia@acme.test", TenantRole.MEMBER, "Mia Member")


@pytest.fixture
def outsider_b(tenant_b: Tenant, operator: User) -> User:
    return _member(
        tenant_b, operator, "otto@globex.test", TenantRole.CUSTOMER_ADMIN, "Otto Outsider"
    )


@pytest.fixture
def staff_engineer(db: None) -> User:
    return make_user(
        "sam@vendor.test",
        full_name="Sam Support",
        kind=UserKind.STAFF,
        staff_role=StaffRole.SUPPORT_ENGINEER,
    )


@pytest.fixture
def compliance_officer(db: None) -> User:
    return make_user(
        "cora@vendor.test",
        full_name="Cora Compliance",
        kind=UserKind.STAFF,
        staff_role=StaffRole.COMPLIANCE,
    )


def verified_client(user: User) -> Client:
    """A client signed in as `user` with the second factor done (a confirmed TOTP device),
    as the real login flow leaves it."""
    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def client_for(db: None) -> Callable[[User], Client]:
    return verified_client


@pytest.fixture
def in_tenant() -> Callable[[Tenant], Any]:
    return tenant_context


@pytest.fixture(autouse=True)
def _engine_cache_reset() -> Iterator[None]:
    """The policy engine's per-process compiled state never leaks from one test into the next
    (database ids are reused after a rollback)."""
    from apps.access import engine

    engine.cache_invalidate()
    yield
    engine.cache_invalidate()


@pytest.fixture(autouse=True)
def _isolated_var_dirs(tmp_path: Any, settings: Any) -> Iterator[None]:
    """Key material and exports of each test live in its own tmp_path, never in the repo's var/
    (config/settings/test.py moves the rest of VAR_DIR to a throw-away folder)."""
    from apps.core.crypto.envelope import crypto_caches_clear

    settings.AUDIT_SIGNING_KEY_FILE = tmp_path / "keys" / "audit-signing.ed25519"
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.KEK_FILE = tmp_path / "keys" / "kek.json"
    settings.CELERY_BEAT_SCHEDULE_FILENAME = str(tmp_path / "celerybeat-schedule")
    crypto_caches_clear()
    yield
    crypto_caches_clear()
