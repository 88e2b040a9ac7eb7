"""Demo licences for `manage.py seed_demo` (idempotent: what exists is left alone).

ACME gets an Office suite with a Berlin pool at 90 % (so the cap alert shows), a Paris pool,
a reserve, a CRM pool that is full with two people waiting, and a few signups in the review
queue; Globex gets one small pool. Seats go to demo onboarding accounts created through the
joiner, so the audit trail is the real one.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from apps.core.tenancy import tenant_context
from apps.licenses.models import LicensePool, Product, SignupCase
from apps.licenses.services import pool_create, product_create, seat_allocate, waitlist_enqueue
from apps.licenses.services.risk import SignupInput, signup_assess
from apps.tenants.models import Membership, Tenant

# (product key, name, [(pool name, location, capacity, seats to fill, extra fields)])
ACME_PRODUCTS: list[tuple[str, str, list[tuple[str, str, int, int, dict[str, Any]]]]] = [
    (
        "office",
        "Office Suite",
        [
            ("Office — Berlin", "Berlin", 20, 18, {}),
            ("Office — Paris", "Paris", 10, 6, {"region": "eu"}),
            ("Office — reserve", "", 15, 0, {"is_reserve": True}),
        ],
    ),
    (
        "crm",
        "CRM Professional",
        [("CRM — all sites", "", 4, 4, {"role_priorities": {"customer_admin": 0, "member": 50}})],
    ),
]

SIGNUPS = [
    ("lena.vogel@mailinator.com", "203.0.113.7", "Berlin", "dev-a1", ""),
    ("j.smith@example.org", "198.51.100.20", "Munich", "dev-b2", "card-4242"),
    ("k.lee@example.org", "100.64.3.3", "Paris", "dev-c3", "card-4242"),
    ("m.dubois@example.org", "100.64.3.3", "Paris", "dev-c3", "card-4242"),
]


def _demo_people(tenant: Tenant, operator: Any, count: int, start: int = 0) -> list[Any]:
    """Demo onboarding accounts of the tenant, made through the joiner when missing."""
    from apps.identity.models import User
    from apps.lifecycle.joiner import JoinerRequest, joiner_run

    people = []
    for i in range(start, start + count):
        email = f"staffer{i:02d}@{tenant.slug}.example"
        user = User.objects.filter(email=email).first()
        if user is None:
            user = joiner_run(
                actor=operator,
                tenant=tenant,
                request=JoinerRequest(
                    email=email, full_name=f"Demo Staffer {i:02d}", department="Operations"
                ),
                notify=False,
            ).user
        people.append(user)
    return people


def seed_licenses(*, operator: Any) -> int:
    """Create the demo pools (only for tenants that have none yet). Returns the number of
    pools created."""
    created = 0
    acme = Tenant.objects.filter(slug="acme").first()
    if acme is not None:
        created += _seed_acme(acme, operator)
    globex = Tenant.objects.filter(slug="globex").first()
    if globex is not None:
        with tenant_context(globex):
            has = LicensePool.objects.exists()
        if not has:
            product = product_create(actor=operator, tenant=globex, key="office", name="Office")
            pool_create(actor=operator, tenant=globex, product=product, name="Office", capacity=25)
            created += 1
    return created


def _seed_acme(acme: Tenant, operator: Any) -> int:
    with tenant_context(acme):
        if Product.objects.exists():
            return 0
    created = 0
    people = _demo_people(acme, operator, 24)
    for key, name, pools in ACME_PRODUCTS:
        product = product_create(actor=operator, tenant=acme, key=key, name=name)
        offset = 0
        for pool_name, location, capacity, fill, extra in pools:
            pool = pool_create(
                actor=operator,
                tenant=acme,
                product=product,
                name=pool_name,
                capacity=capacity,
                location=location,
                **extra,
            )
            created += 1
            for user in people[offset : offset + fill]:
                seat_allocate(actor=operator, tenant=acme, user=user, pool=pool)
            offset += fill
            if key == "crm":
                for user in people[fill : fill + 2]:
                    waitlist_enqueue(actor=operator, tenant=acme, user=user, pool=pool)
    with tenant_context(acme):
        if not SignupCase.objects.exists():
            for email, ip, place, device, payment in SIGNUPS:
                signup_assess(
                    tenant=acme,
                    data=SignupInput(
                        email=email,
                        ip=ip,
                        declared_location=place,
                        declared_at=timezone.now(),
                        device_fingerprint=device,
                        payment_ref=payment,
                        request={"email": email, "products": ["office"], "location": place},
                    ),
                )
        Membership.objects.filter(user__email__startswith="staffer").update(department="Operations")
    return created
