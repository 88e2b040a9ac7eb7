"""The demo seed shows the requests app: a full inbox, a vendor in the lockbox, a break-glass to
review; running it again changes nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.requests import selectors
from apps.requests.models import AccessRequest, RequestKind, RequestStatus
from apps.tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_demo_seed_has_requests_and_is_idempotent():
    call_command("seed_demo", "--no-logins", "--force")
    acme = Tenant.objects.get(slug="acme")
    with tenant_context(acme):
        assert AccessRequest.objects.filter(status=RequestStatus.PENDING).count() == 3
        vendor = AccessRequest.objects.get(kind=RequestKind.VENDOR)
        assert vendor.status == RequestStatus.ACTIVE
        glass = AccessRequest.objects.get(kind=RequestKind.BREAK_GLASS)
        assert glass.needs_review
        katrin = User.objects.get(email="katrin.mueller@acme.example")
        assert selectors.inbox_page(user=katrin).items
        assert len(selectors.vendor_access_in_tenant(tenant=acme)) == 2
        total = AccessRequest.objects.count()
    call_command("seed_demo", "--no-logins", "--force")
    with tenant_context(acme):
        assert AccessRequest.objects.count() == total
