"""Cross-tenant isolation, walked over EVERY URL pattern of config.urls (issue 2).

A signed-in, MFA-verified customer admin of tenant A (acme) requests every URL pattern with
every method (GET, POST, PUT, PATCH, DELETE), with

  1. `tenant_slug` = tenant B's slug and every object-id kwarg = the id of a tenant-B object;
  2. for patterns that have both: `tenant_slug` = A's own slug, object ids still tenant B's
     (the classic leak: "my tenant, somebody else's object").

Every answer must be a 404 (or what EXPECTED_BY_PREFIX documents for that part of the site,
e.g. 401/403/405 for the JSON API and 403 for vendor-staff pages), never a 2xx, a redirect or
a 500, and the database must be unchanged (every table's rows, before/after each pattern).
Routes under BEARER_PREFIXES (`api/`) are walked a second time with an API key of tenant A
(all scopes) as the bearer token.

HOW TO EXTEND (you added a URL pattern and `test_every_url_pattern_is_covered` fails):

* Your pattern has a kwarg the walker does not know (e.g. `<int:grant_id>`): add an entry to
  KWARG_FACTORIES below, `"grant_id": _grant_b`, where `_grant_b(world)` creates (through your
  services) an object that belongs to tenant B and returns its id. `world` gives you
  `tenant_a`, `tenant_b`, `admin_a`, `admin_b` (a customer admin of B), `operator`, and
  `cached(name, factory)`: create objects ONLY through it (one object serves every pattern,
  and the walker takes its "before" snapshot again when a new one appears). Keep kwarg names
  specific (`grant_id`, not `pk`); if a generic name cannot be avoided, map (route prefix,
  kwarg) in PATTERN_KWARG_FACTORIES instead (the failure message spells out the key to add).
* Your pattern is not about a tenant's data at all (a public login/metadata endpoint, a
  health check): add it to EXEMPT_ROUTES (or a whole prefix to EXEMPT_PREFIXES) WITH the reason
  as the value. An exemption is a claim reviewers read: say why a tenant-A admin cannot reach
  tenant B's data through it.
* Your part of the site answers something other than 404 by design (bearer-authenticated API,
  SCIM with 401): add a prefix to EXPECTED_BY_PREFIX with the statuses and the reason.
* Your view writes something on a refused request on purpose (an audit event of a failed
  authentication): list the tables for your prefix in RECORDED_REFUSALS with the reason
  (VOLATILE_TABLES is for tables every request may touch, like the session).

Routes are written as Django prints them: the concatenated `path()` strings of the include
chain, e.g. `t/<slug:tenant_slug>/integrations/keys/<int:key_id>/revoke/`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from apps.core.tenancy import unscoped
from apps.identity.models import User
from apps.integrations.scopes import SCOPES
from apps.integrations.services.api_keys import api_key_create
from apps.integrations.services.oauth import ClientSpec, oauth_client_create
from apps.integrations.services.webhooks import EVENT_TYPES, webhook_endpoint_create
from apps.tenants import services as tenant_services
from apps.tenants.models import Tenant, TenantRole

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class World:
    """What a factory may use. Objects are created once per test (see `cached`)."""

    tenant_a: Tenant
    tenant_b: Tenant
    admin_a: User
    admin_b: User
    operator: User
    _cache: dict[str, Any] = field(default_factory=dict)

    def cached(self, name: str, factory: Callable[[], Any]) -> Any:
        if name not in self._cache:
            self._cache[name] = factory()
        return self._cache[name]


# --- tenant-B object factories --------------------------------------------------------------
def _api_key_b(world: World) -> int:
    issued = world.cached(
        "api_key_b",
        lambda: api_key_create(
            actor=world.admin_b,
            tenant=world.tenant_b,
            name="Globex CI",
            scopes=list(SCOPES),
            technical_contact_email="ops@globex.test",
        ),
    )
    return int(issued.key.pk)


def _oauth_client_b(world: World) -> int:
    def create() -> Any:
        pem = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        spec = ClientSpec(
            name="Globex robot",
            allowed_scopes=list(SCOPES),
            technical_contact_email="ops@globex.test",
            public_key_pem=pem,
        )
        return oauth_client_create(actor=world.admin_b, tenant=world.tenant_b, spec=spec)

    return int(world.cached("oauth_client_b", create).pk)


def _webhook_endpoint_b(world: World) -> int:
    issued = world.cached(
        "webhook_b",
        lambda: webhook_endpoint_create(
            actor=world.admin_b,
            tenant=world.tenant_b,
            url="http://127.0.0.1:9/globex-hook",
            event_types=list(EVENT_TYPES)[:1],
        ),
    )
    return int(issued.endpoint.pk)


def _rotation_mark_b(world: World) -> int:
    """A shared credential of tenant B marked for rotation (vendor staff offboarding)."""
    from apps.integrations.services.offboarding import shared_credentials_mark_for_rotation

    def create() -> Any:
        _webhook_endpoint_b(world)
        shared_credentials_mark_for_rotation(
            actor=None, leaver=world.admin_b, tenants=[world.tenant_b], reason="walker"
        )
        from apps.core.tenancy import tenant_context
        from apps.integrations.models import CredentialRotationMark

        with tenant_context(world.tenant_b):  # RLS: tenant B's rows only inside its scope
            return CredentialRotationMark.objects.for_tenant(world.tenant_b).first()

    return int(world.cached("rotation_mark_b", create).pk)


# apps/access (h3-access): catalog objects of tenant B, made through the access services.
def _access_role_b(world: World) -> int:
    from apps.access import services as access_services

    role = world.cached(
        "access_role_b",
        lambda: access_services.role_create(
            actor=world.admin_b, tenant=world.tenant_b, key="globex-role", name="Globex role"
        ),
    )
    return int(role.pk)


def _access_policy_rule_b(world: World) -> int:
    from apps.access import services as access_services

    rule = world.cached(
        "access_policy_rule_b",
        lambda: access_services.policy_rule_save(
            actor=world.admin_b,
            tenant=world.tenant_b,
            key="globex-risk",
            name="Globex risk",
            conditions={"require": {"attr": "context.risk_score", "op": "lt", "value": 50}},
        ),
    )
    return int(rule.pk)


def _access_sod_rule_b(world: World) -> int:
    from apps.access import services as access_services

    def create() -> Any:
        first = access_services.role_create(
            actor=world.admin_b, tenant=world.tenant_b, key="globex-sod-1", name="SoD 1"
        )
        second = access_services.role_create(
            actor=world.admin_b, tenant=world.tenant_b, key="globex-sod-2", name="SoD 2"
        )
        return access_services.sod_rule_save(
            actor=world.admin_b,
            tenant=world.tenant_b,
            key="globex-sod",
            name="Globex SoD",
            roles=[first, second],
        )

    return int(world.cached("access_sod_rule_b", create).pk)


def _access_attestation_b(world: World) -> int:
    """A compliance attestation of tenant B's admin (issue 3), recorded through the service."""
    from apps.access import services as access_services

    attestation = world.cached(
        "access_attestation_b",
        lambda: access_services.attestation_record(
            actor=world.admin_b, tenant=world.tenant_b, user=world.admin_b, flag="hipaa"
        ),
    )
    return int(attestation.pk)


def _environment_b(world: World) -> int:
    environment = world.cached(
        "environment_b",
        lambda: tenant_services.environment_create(
            actor=world.operator, tenant=world.tenant_b, slug="globex-crm", name="Globex CRM"
        ),
    )
    return int(environment.pk)


def _access_request_b(world: World) -> Any:
    """A pending access request in tenant B (apps/requests), with its open step."""

    def create() -> Any:
        from datetime import timedelta

        from apps.access import services as access_services
        from apps.requests.services import access_request_submit
        from apps.tenants.models import TenantRole
        from tests.conftest import make_user

        approver_b = make_user("bea@globex.test", full_name="Bea Approver")
        tenant_services.membership_add(
            actor=world.operator, tenant=world.tenant_b, user=approver_b, role=TenantRole.APPROVER
        )
        environment = tenant_services.environment_create(
            actor=world.operator, tenant=world.tenant_b, slug="globex-erp", name="Globex ERP"
        )
        entitlement = access_services.entitlement_create(
            actor=world.operator,
            tenant=world.tenant_b,
            environment=environment,
            level="read",
            risk="low",
        )
        req = access_request_submit(
            actor=world.admin_b,
            tenant=world.tenant_b,
            entitlement=entitlement,
            duration=timedelta(hours=2),
            justification="Monthly ERP reconciliation for the finance close",
        )
        return req, approver_b

    return world.cached("access_request_b", create)


def _access_request_id_b(world: World) -> int:
    return int(_access_request_b(world)[0].pk)


def _approval_link_token_b(world: World) -> str:
    from apps.core.tenancy import tenant_context
    from apps.requests.links import approval_link_token

    req, approver_b = _access_request_b(world)
    with tenant_context(world.tenant_b):
        step = req.steps.get()
    return approval_link_token(
        request_id=req.pk, step_id=step.pk, approver_id=approver_b.pk, tenant_id=world.tenant_b.pk
    )


def _scim_token_b(world: World) -> int:
    from apps.identity.scim.services import scim_token_create

    def create() -> Any:
        return scim_token_create(actor=world.admin_b, tenant=world.tenant_b, name="Globex IdP")

    return int(world.cached("scim_token_b", create).token.pk)


def _scim_user_b(world: World) -> Any:
    def create() -> Any:
        from apps.core.tenancy import tenant_context
        from apps.identity.scim import resources
        from apps.identity.scim.services import ScimActor, scim_user_create

        doc = resources.canonical_user_document({"userName": "dir.user@globex.test"})
        with tenant_context(world.tenant_b):
            return scim_user_create(
                tenant=world.tenant_b,
                data=resources.user_input_from_document(doc),
                via=ScimActor("walker"),
            )

    return world.cached("scim_user_b", create)


def _scim_group_b(world: World) -> Any:
    def create() -> Any:
        from apps.core.tenancy import tenant_context
        from apps.identity.scim.services import ScimActor, scim_group_create

        with tenant_context(world.tenant_b):
            group, _change = scim_group_create(
                tenant=world.tenant_b,
                display_name="Globex directory group",
                external_id="",
                members=[],
                via=ScimActor("walker"),
            )
        return group

    return world.cached("scim_group_b", create)


def _scim_mapping_b(world: World) -> int:
    from apps.identity.scim.services import group_role_mapping_create

    def create() -> Any:
        return group_role_mapping_create(
            actor=world.admin_b,
            tenant=world.tenant_b,
            group=_scim_group_b(world),
            role_key="globex-role",
        )

    return int(world.cached("scim_mapping_b", create).pk)


# URL kwarg name -> a factory returning the value that names a tenant-B object.
# apps/licenses (issue 7): a pool, a seat, a queued onboarding, an import and a signup case of B
def _license_pool_b(world: World) -> int:
    from apps.licenses.services import pool_create, product_create

    def create() -> Any:
        product = product_create(
            actor=world.operator, tenant=world.tenant_b, key="globex-office", name="Office"
        )
        return pool_create(
            actor=world.operator, tenant=world.tenant_b, product=product, name="B", capacity=5
        )

    return int(world.cached("license_pool_b", create).pk)


def _license_seat_b(world: World) -> int:
    from apps.licenses.services import seat_allocate
    from apps.licenses.services.seats import pool_for

    def create() -> Any:
        _license_pool_b(world)
        pool = pool_for(tenant=world.tenant_b, product_key="globex-office")
        return seat_allocate(
            actor=world.operator, tenant=world.tenant_b, user=world.admin_b, pool=pool
        )

    return int(world.cached("license_seat_b", create).pk)


def _provisioning_job_b(world: World) -> int:
    from apps.licenses.services.provisioning import job_enqueue

    job = world.cached(
        "provisioning_job_b",
        lambda: job_enqueue(
            actor=world.operator,
            tenant=world.tenant_b,
            payload={"email": "queued@globex.test"},
            source="api",
        ),
    )
    return int(job.pk)


def _onboarding_import_b(world: World) -> int:
    from apps.licenses.services.imports import import_preview

    imp = world.cached(
        "onboarding_import_b",
        lambda: import_preview(
            actor=world.operator,
            tenant=world.tenant_b,
            filename="b.csv",
            data=b"email\nnew@globex.test\n",
        ),
    )
    return int(imp.pk)


def _incident_b(world: World) -> int:
    """An incident that affects tenant B only (opened by an operator)."""

    def create() -> Any:
        from apps.incidents.services import incident_open

        return incident_open(
            actor=world.operator, title="Globex incident", severity="high", tenants=[world.tenant_b]
        )

    return world.cached("incident_b", create).pk


def _signup_case_b(world: World) -> int:
    from apps.licenses.services.risk import SignupInput, signup_assess

    case = world.cached(
        "signup_case_b",
        lambda: signup_assess(
            tenant=world.tenant_b, data=SignupInput(email="x@mailinator.com", ip="192.0.2.1")
        ),
    )
    return int(case.pk)


def _fed_connection_b(world: World) -> Any:
    def create() -> Any:
        from apps.identity.federation import services as fed

        return fed.connection_save(
            actor=world.admin_b, tenant=world.tenant_b, kind="saml", name="Globex IdP"
        )

    return world.cached("fed_connection_b", create)


def _fed_certificate_b(world: World) -> int:
    def create() -> Any:
        from apps.identity.federation import services as fed
        from tests.federation.idp import make_key_and_cert

        _key, pem = make_key_and_cert("globex-idp")
        return fed.certificate_add(
            actor=world.admin_b, connection=_fed_connection_b(world), pem=pem
        )

    return world.cached("fed_certificate_b", create).pk


def _fed_rule_b(world: World) -> int:
    def create() -> Any:
        from apps.identity.federation import services as fed

        return fed.mapping_rule_save(
            actor=world.admin_b,
            connection=_fed_connection_b(world),
            attribute="groups",
            value="admins",
            target_kind="tenant_role",
            target="approver",
        )

    return world.cached("fed_rule_b", create).pk


def _fed_domain_b(world: World) -> int:
    def create() -> Any:
        from apps.identity.federation import services as fed

        return fed.domain_add(actor=world.admin_b, tenant=world.tenant_b, domain="globex.test")

    return world.cached("fed_domain_b", create).pk


def _fed_conflict_b(world: World) -> int:
    def create() -> Any:
        from apps.core.tenancy import tenant_context
        from apps.identity.federation.models import IdentityConflict

        conn = _fed_connection_b(world)
        with tenant_context(world.tenant_b):
            return IdentityConflict.objects.create(
                tenant=world.tenant_b,
                connection=conn,
                issuer="https://idp.globex.test",
                subject="s-1",
                email="dup@globex.test",
                reason="unverified_domain",
            )

    return world.cached("fed_conflict_b", create).pk


def _report_job_b(world: World) -> int:
    def create() -> Any:
        from apps.reports.services import report_job_request

        return report_job_request(actor=world.admin_b, tenant=world.tenant_b, kind="inventory")

    return world.cached("report_job_b", create).pk


def _report_schedule_b(world: World) -> int:
    def create() -> Any:
        from apps.reports.services import report_schedule_create

        return report_schedule_create(
            actor=world.admin_b, tenant=world.tenant_b, kind="inventory", frequency="monthly"
        )

    return world.cached("report_schedule_b", create).pk


# apps/certification/analytics: an anomaly alert and a role candidate of tenant B, made through
# the analytics services (an off-hours sign-in detected; a mining run over two people's grants).
def _analytics_alert_b(world: World) -> int:
    def create() -> Any:
        from datetime import UTC, datetime

        from apps.certification.analytics.models import AnomalyAlert
        from apps.certification.analytics.services import access_event_record, anomalies_detect
        from apps.core.tenancy import tenant_context

        access_event_record(
            tenant=world.tenant_b,
            kind="login",
            user=world.admin_b,
            at=datetime(2026, 12, 6, 3, 0, tzinfo=UTC),  # a Sunday night
        )
        anomalies_detect()
        with tenant_context(world.tenant_b):
            return AnomalyAlert.objects.get(user=world.admin_b)

    return int(world.cached("analytics_alert_b", create).pk)


def _analytics_candidate_b(world: World) -> int:
    def create() -> Any:
        from apps.access import services as access_services
        from apps.certification.analytics.models import RoleCandidate
        from apps.certification.analytics.services import (
            analytics_settings_save,
            role_mining_run,
        )
        from apps.core.tenancy import tenant_context
        from apps.tenants.models import Environment

        env_pk = _environment_b(world)
        with tenant_context(world.tenant_b):  # RLS: tenant B's rows only inside its scope
            env = Environment.objects.for_tenant(world.tenant_b).get(pk=env_pk)
        ents = [
            access_services.entitlement_create(
                actor=world.operator,
                tenant=world.tenant_b,
                environment=env,
                level=level,
                risk="low",
            )
            for level in ("read", "write")
        ]
        second = User.objects.create_user(email="miner@globex.test", password="x" * 20)
        tenant_services.membership_add(
            actor=world.operator, tenant=world.tenant_b, user=second, role=TenantRole.MEMBER
        )
        for person in (world.admin_b, second):
            for ent in ents:
                access_services.grant_create(
                    actor=world.operator,
                    tenant=world.tenant_b,
                    user=person,
                    entitlement=ent,
                    source="manual",
                )
        analytics_settings_save(
            actor=world.admin_b, tenant=world.tenant_b, values={"mining_min_support": 2}
        )
        with tenant_context(world.tenant_b):  # as the portal runs it: in B's scope
            run = role_mining_run(tenant=world.tenant_b, actor=world.admin_b)
            return RoleCandidate.objects.filter(run=run).order_by("rank").first()

    return int(world.cached("analytics_candidate_b", create).pk)


# apps/certification: a launched campaign of tenant B over one grant of a member of B, reviewed
# by B's admin (made through the certification services), and its review item.
def _certification_campaign_b(world: World) -> Any:
    def create() -> Any:
        from datetime import timedelta

        from django.utils import timezone

        from apps.access import services as access_services
        from apps.certification.services import campaign_create_from_grants
        from tests.conftest import make_user

        environment = tenant_services.environment_create(
            actor=world.operator, tenant=world.tenant_b, slug="globex-bi", name="Globex BI"
        )
        entitlement = access_services.entitlement_create(
            actor=world.operator,
            tenant=world.tenant_b,
            environment=environment,
            level="read",
            risk="low",
        )
        holder = make_user("bo@globex.test", full_name="Bo Member")
        tenant_services.membership_add(actor=world.operator, tenant=world.tenant_b, user=holder)
        grant = access_services.grant_create(
            actor=world.operator,
            tenant=world.tenant_b,
            user=holder,
            entitlement=entitlement,
            source="manual",
            duration=timedelta(days=7),
        )
        return campaign_create_from_grants(
            actor=world.admin_b,
            tenant=world.tenant_b,
            name="Globex review",
            grant_ids=[grant.pk],
            due_at=timezone.now() + timedelta(days=14),
            origin="walker",
            reviewer=world.admin_b,
        )

    return world.cached("certification_campaign_b", create)


def _certification_item_b(world: World) -> int:
    from apps.certification.models import ReviewItem
    from apps.core.tenancy import tenant_context

    campaign = _certification_campaign_b(world)
    with tenant_context(world.tenant_b):
        return int(ReviewItem.objects.filter(campaign=campaign).values_list("pk", flat=True)[0])


KWARG_FACTORIES: dict[str, Callable[[World], Any]] = {
    "tenant_slug": lambda world: world.tenant_b.slug,
    # apps/reports (portal /t/<slug>/reports/, staff console /staff/reports/): tenant B's report
    # job and schedule; a subsidiary id is tenant B (not a descendant of A); the staff console's
    # access-team page (apps/tenants) takes tenant B's id
    "report_job_id": _report_job_b,
    "report_schedule_id": _report_schedule_b,
    "subsidiary_id": lambda world: world.tenant_b.pk,
    "tenant_id": lambda world: world.tenant_b.pk,
    # apps/tenants, apps/identity
    "environment_id": _environment_b,
    "user_id": lambda world: world.admin_b.pk,  # a person who belongs to tenant B only
    # apps/integrations
    "key_id": _api_key_b,
    "client_id": _oauth_client_b,
    "endpoint_id": _webhook_endpoint_b,
    "mark_id": _rotation_mark_b,
    # apps/access (catalog pages)
    "role_id": _access_role_b,
    "policy_rule_id": _access_policy_rule_b,
    "sod_rule_id": _access_sod_rule_b,
    "attestation_id": _access_attestation_b,
    # apps/requests
    "request_id": _access_request_id_b,
    # apps/identity/scim (portal: /t/<slug>/directory/)
    "token_id": _scim_token_b,
    "mapping_id": _scim_mapping_b,
    # apps/licenses (portal: /t/<slug>/licenses/; API: onboarding-jobs)
    "pool_id": _license_pool_b,
    "seat_id": _license_seat_b,
    "job_id": _provisioning_job_b,
    "import_id": _onboarding_import_b,
    # apps/identity/federation (portal: /t/<slug>/federation/)
    "connection_id": lambda world: _fed_connection_b(world).pk,
    "certificate_id": _fed_certificate_b,
    "rule_id": _fed_rule_b,
    "domain_id": _fed_domain_b,
    "conflict_id": _fed_conflict_b,
    "case_id": _signup_case_b,
    # apps/incidents (portal: /t/<slug>/incidents/<id>/; staff: /staff/incidents/<id>/)
    "incident_id": _incident_b,
    # apps/certification/analytics (portal /t/<slug>/analytics/, staff /staff/analytics/)
    "alert_id": _analytics_alert_b,
    "candidate_id": _analytics_candidate_b,
    # apps/certification (portal /t/<slug>/certification/, staff /staff/certification/)
    "campaign_id": lambda world: _certification_campaign_b(world).pk,
    "review_item_id": _certification_item_b,
}

# (route prefix, kwarg) -> factory, for a kwarg name that means different things in different
# places (`pk`, `slug`, `token`): applies to every route starting with the prefix (the longest
# matching prefix wins), e.g. ("t/<slug:tenant_slug>/requests/", "pk"): _access_request_b.
PATTERN_KWARG_FACTORIES: dict[tuple[str, str], Callable[[World], Any]] = {
    # apps/requests: signed approval links naming a tenant-B request, step and approver;
    # the ticket webhook of tenant B.
    ("t/<slug:tenant_slug>/requests/link/", "token"): _approval_link_token_b,
    ("staff/requests/link/", "token"): _approval_link_token_b,
    ("webhooks/tickets/", "slug"): lambda world: world.tenant_b.slug,
    # apps/identity/scim: SCIM ids (UUIDs) of tenant B's directory entries
    ("scim/v2/<slug:tenant_slug>/Users/", "scim_id"): lambda world: str(
        _scim_user_b(world).scim_id
    ),
    ("scim/v2/<slug:tenant_slug>/Groups/", "scim_id"): lambda world: str(
        _scim_group_b(world).scim_id
    ),
    # apps/access explain "why" page: /environments/<id>/why/<kind>/<subject_id>/ names a
    # tenant-B person (kind "user") on a tenant-B environment
    ("t/<slug:tenant_slug>/access/explain/environments/", "kind"): lambda world: "user",
    ("t/<slug:tenant_slug>/access/explain/environments/", "subject_id"): lambda world: (
        world.admin_b.pk
    ),
}

# Routes that are not about a tenant's data (exact route -> why that is safe).
EXEMPT_ROUTES: dict[str, str] = {
    "scim/v2/<slug:tenant_slug>/ResourceTypes/<str:name>": "SCIM discovery: the same static "
    "resource types for every tenant, behind the tenant's bearer token",
    "scim/v2/<slug:tenant_slug>/Schemas/<str:schema_id>": "SCIM discovery: the same static "
    "schemas for every tenant, behind the tenant's bearer token",
    "scim/v2/<slug:tenant_slug>/^(?P<rest>.*)$": "SCIM catch-all: a SCIM 404 for unknown "
    "paths after the tenant's bearer token is checked",
    "": "home: no tenant in the URL; sends the person to their own tenant or the staff home",
    "healthz": "health check: database/broker status, no tenant data (tests/core/test_healthz.py)",
    "i18n/setlang/": "language switch: a cookie/preference of the person themselves",
    "jsi18n/": "JavaScript translation catalogue: static text",
    "api/v1/": "API root: the list of API versions, no tenant data",
    "api/v1/openapi.json": "OpenAPI document: the schema, no tenant data",
    "api/v1/docs": "API docs page: the schema rendered, no tenant data",
    "api/v1/me": "the caller's own principal (who am I), never another tenant",
    "api/v1/oauth/token": "OAuth token endpoint: authenticates a client by its own assertion; "
    "tested in tests/integrations/test_oauth.py",
    "^api/(?P<rest>.*)$": "catch-all JSON 404 for unknown API paths",
}

# Whole parts of the site that are not tenant-scoped (prefix -> why).
EXEMPT_PREFIXES: dict[str, str] = {
    "accounts/": "the signed-in person's own account (login, MFA, password, sessions): no "
    "tenant and no object of anybody else in the URL (password-reset tokens are their own test)",
    "federation/": "public federation protocol endpoints (SAML SP metadata, ACS, SLS, OIDC "
    "start/callback, home-realm discovery): no portal session or tenant data is used; a "
    "tenant-A response posted to tenant B is refused by signature/audience checks "
    "(tests/federation/test_saml.py)",
    "admin/": "Django admin: operators only (is_staff); a tenant admin is sent to the admin "
    "login; every change there is audited (tests/core/test_admin.py)",
}

# Status codes allowed instead of plain 404, by route prefix (first match wins).
EXPECTED_BY_PREFIX: list[tuple[str, frozenset[int], str]] = [
    (
        "api/",
        frozenset({400, 401, 403, 404, 405, 422}),
        "JSON API: 404 for another tenant, 401/403 for a credential or scope it lacks, 405 for "
        "a method the endpoint does not have, 400/422 when the (empty) body fails the schema, "
        "which django-ninja checks before the handler looks at the tenant (same answer for "
        "every tenant, so it reveals nothing)",
    ),
    (
        "scim/",
        frozenset({401, 403, 404, 405}),
        "SCIM: bearer-token authenticated per tenant; a portal session gets 401",
    ),
    (
        "staff/",
        frozenset({403, 404, 405}),
        "vendor-staff pages: a customer admin is refused (403) whatever the ids",
    ),
    (
        "webhooks/",
        frozenset({401, 405}),
        "inbound webhooks (apps/requests ticket webhook): authenticated only by the tenant's "
        "HMAC signature, so a portal session is refused (401) and a GET is 405",
    ),
]
# Own tenant, another tenant's object id: the view answers 404 (or 405 when it takes no such
# method, which it may decide before looking the object up).
EXPECTED_OWN_TENANT_FOREIGN_OBJECT = frozenset({404, 405})
EXPECTED_DEFAULT = frozenset({404})

# Tables a refused request may write to on purpose (table -> why).
VOLATILE_TABLES: dict[str, str] = {
    "django_session": "the walking client's own session (last activity, messages)",
    "integrations_apicallrecord": "the API call log records every /api/ request, refused or not",
}
# Refusals that are recorded on purpose, by route prefix (prefix -> tables, why).
RECORDED_REFUSALS: dict[str, tuple[frozenset[str], str]] = {
    "scim/": (
        frozenset({"core_auditevent", "core_auditchainhead", "integrations_securityalert"}),
        "a SCIM call without a valid bearer token is a security event: audited and alerted",
    ),
}
# Columns that change on any authenticated use (table -> columns).
VOLATILE_COLUMNS: dict[str, set[str]] = {
    "identity_user": {"last_login"},
    # The walking API key's own "last used" stamp (apps/integrations/services/authn.py).
    "integrations_apikey": {"last_used_at", "last_used_ip"},
}
# Routes also walked with tenant A's API key (all scopes) as a bearer token, besides the
# signed-in session: the credential path must refuse tenant B the same way.
BEARER_PREFIXES = ("api/",)


# --- the URL tree ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    route: str  # as Django prints it, e.g. "t/<slug:tenant_slug>/environments/"
    name: str
    kwargs: tuple[str, ...]
    buildable: bool  # only path() routes; a regex pattern must be exempt


_TOKEN = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in patterns:
        text = str(entry.pattern)
        buildable = isinstance(entry.pattern, RoutePattern)
        if isinstance(entry, URLResolver):
            ns = f"{namespace}:{entry.namespace}".strip(":") if entry.namespace else namespace
            for child in _walk(entry.url_patterns, prefix + text, ns):
                yield Route(
                    child.route,
                    child.name,
                    child.kwargs,
                    child.buildable and buildable,
                )
        elif isinstance(entry, URLPattern):
            route = prefix + text
            names = [m.group("name") for m in _TOKEN.finditer(route)]
            names += list(entry.pattern.regex.groupindex) if not buildable else []
            name = f"{namespace}:{entry.name or ''}".strip(":")
            yield Route(route, name, tuple(names), buildable)


def all_routes() -> list[Route]:
    seen: dict[str, Route] = {}
    for route in _walk(get_resolver().url_patterns):
        seen.setdefault(route.route, route)
    return list(seen.values())


def exemption(route: str) -> str | None:
    if route in EXEMPT_ROUTES:
        return EXEMPT_ROUTES[route]
    for prefix, reason in EXEMPT_PREFIXES.items():
        if route.startswith(prefix):
            return reason
    return None


def factory_for(route: str, kwarg: str) -> Callable[[World], Any] | None:
    matches = [
        (len(prefix), factory)
        for (prefix, name), factory in PATTERN_KWARG_FACTORIES.items()
        if name == kwarg and route.startswith(prefix)
    ]
    if matches:
        return max(matches, key=lambda match: match[0])[1]
    return KWARG_FACTORIES.get(kwarg)


# Kwarg names too generic to mean one kind of object everywhere: mapped per route.
GENERIC_KWARGS = frozenset({"pk", "id", "slug", "token", "name", "uuid", "object_id", "key"})


def _unknown_kwarg_message(route: Route, kwarg: str) -> str:
    where = f"{route.route!r} ({route.name or 'unnamed'}): unknown URL kwarg {kwarg!r}; add "
    if kwarg in GENERIC_KWARGS:
        token = next(m for m in _TOKEN.finditer(route.route) if m.group("name") == kwarg)
        target = f"PATTERN_KWARG_FACTORIES[({route.route[: token.start()]!r}, {kwarg!r})]"
    else:
        target = f"KWARG_FACTORIES[{kwarg!r}]"
    return (
        f"{where}{target} = a function (world) -> the value naming a tenant-B object "
        f"(or EXEMPT_ROUTES[{route.route!r}] = 'why no tenant data is reachable'), in "
        "tests/security/test_cross_tenant_urls.py"
    )


def coverage_problems() -> list[str]:
    problems = []
    for route in all_routes():
        if exemption(route.route) is not None:
            continue
        if not route.buildable:
            problems.append(
                f"{route.route!r} ({route.name or 'unnamed'}): a regex pattern the walker "
                "cannot fill in; use path() or add it to EXEMPT_ROUTES with the reason"
            )
            continue
        problems.extend(
            _unknown_kwarg_message(route, kwarg)
            for kwarg in route.kwargs
            if factory_for(route.route, kwarg) is None
        )
    present = {route.route for route in all_routes()}
    problems.extend(
        f"EXEMPT_ROUTES lists {stale!r}, which no longer exists: remove it"
        for stale in sorted(set(EXEMPT_ROUTES) - present)
    )
    return problems


def build(route: Route, values: dict[str, Any]) -> str:
    def fill(match: re.Match[str]) -> str:
        return str(values[match.group("name")])

    return "/" + _TOKEN.sub(fill, route.route)


def expected_for(route: str) -> tuple[frozenset[int], str]:
    for prefix, statuses, reason in EXPECTED_BY_PREFIX:
        if route.startswith(prefix):
            return statuses, reason
    return EXPECTED_DEFAULT, "tenant portal: strangers learn nothing (404)"


# --- the database, before and after ---------------------------------------------------------
def snapshot() -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row of every table (read across tenants)."""
    result: dict[str, tuple[int, str]] = {}
    with unscoped(reason="test: cross-tenant URL walk snapshot"), connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            columns = [col[0] for col in cursor.description]
            rows = cursor.fetchall()
            if table in VOLATILE_TABLES:
                result[table] = (0, "volatile")
                continue
            skip = VOLATILE_COLUMNS.get(table, set())
            keep = [i for i, name in enumerate(columns) if name not in skip]
            lines = sorted(repr(tuple(row[i] for i in keep)) for row in rows)
            digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
            result[table] = (len(rows), digest)
    return result


def changes(
    before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]], route: str = ""
) -> list[str]:
    recorded: frozenset[str] = frozenset()
    for prefix, (tables, _why) in RECORDED_REFUSALS.items():
        if route.startswith(prefix):
            recorded = tables
    out = []
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table), after.get(table)
        if old == new or table in recorded:
            continue
        if old is None or new is None or old[0] != new[0]:
            out.append(f"{table}: {old[0] if old else '-'} -> {new[0] if new else '-'} rows")
        else:
            out.append(f"{table}: rows changed ({old[0]} rows)")
    return out


# --- tests ----------------------------------------------------------------------------------
def test_every_url_pattern_is_covered() -> None:
    """Every URL pattern is walked (all kwargs known) or exempt with a reason."""
    problems = coverage_problems()
    assert not problems, (
        "URL patterns the cross-tenant walker does not cover (see the module docstring of "
        "tests/security/test_cross_tenant_urls.py):\n  " + "\n  ".join(problems)
    )


def test_the_walk_reaches_the_tenant_portal() -> None:
    """Guard against a vacuous walk: the portal and the integrations pages are walked."""
    walked = [r.route for r in all_routes() if exemption(r.route) is None]
    assert "t/<slug:tenant_slug>/" in walked
    assert any("<int:key_id>" in r for r in walked)
    assert any(r.startswith("api/v1/tenants/") for r in walked)


@pytest.fixture
def world(
    operator: User,
    tenant_a: Tenant,
    tenant_b: Tenant,
    admin_a: User,
    settings: Any,
    tmp_path: Any,
) -> World:
    settings.KEK_FILE = tmp_path / "keys" / "kek.json"
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = True
    admin_b = User.objects.create_user(
        email="bianca@globex.test", password="walker password 42", full_name="Bianca B"
    )
    tenant_services.membership_add(
        actor=operator, tenant=tenant_b, user=admin_b, role=TenantRole.CUSTOMER_ADMIN
    )
    return World(tenant_a, tenant_b, admin_a, admin_b, operator)


def _request(client: Client, method: str, url: str) -> tuple[int | None, str]:
    try:
        response = getattr(client, method)(url, follow=False)
    except Exception as exc:  # a 500 in the making: report it with the others
        return None, f"raised {type(exc).__name__}: {exc}"
    location = response.headers.get("Location", "")
    return response.status_code, f" -> {location}" if location else ""


def walk(world: World, client: Client, bearer: Client, routes: list[Route]) -> list[str]:
    """Request every route (not exempt, all kwargs known) as described in the module
    docstring; the problems found, one line each."""
    failures: list[str] = []
    before = snapshot()  # each check's "after" is the next one's "before"
    walked = 0
    for route in routes:
        if exemption(route.route) is not None or coverage_problems_for(route):
            continue
        created = len(world._cache)
        foreign = {kwarg: factory_for(route.route, kwarg)(world) for kwarg in route.kwargs}
        if len(world._cache) != created:  # a factory made its tenant-B object just now
            before = snapshot()
        variants = [("tenant B's slug and ids", foreign, expected_for(route.route)[0])]
        object_kwargs = [k for k in route.kwargs if k != "tenant_slug"]
        if "tenant_slug" in route.kwargs and object_kwargs:
            own = {**foreign, "tenant_slug": world.tenant_a.slug}
            allowed = expected_for(route.route)[0] | EXPECTED_OWN_TENANT_FOREIGN_OBJECT
            variants.append(("own slug, tenant B's ids", own, allowed))
        callers = [("session", client)]
        if route.route.startswith(BEARER_PREFIXES):
            callers.append(("tenant A's API key", bearer))
        for label, values, allowed in variants:
            url = build(route, values)
            for (who, caller), method in product(callers, METHODS):
                status, extra = _request(caller, method, url)
                walked += 1
                if status not in allowed:
                    failures.append(
                        f"{method.upper()} {url} [{route.route}, {label}, {who}]: "
                        f"{status}{extra}, expected one of {sorted(allowed)}"
                    )
            after = snapshot()
            changed = changes(before, after, route.route)
            before = after
            if changed:
                failures.append(
                    f"{url} [{route.route}, {label}] changed the database: " + "; ".join(changed)
                )
    assert walked > 0, "nothing was walked"
    return failures


@pytest.fixture
def callers(world: World, client_for: Callable[[User], Client]) -> tuple[Client, Client]:
    """Tenant A's admin: a signed-in, MFA-verified session and an API key (all scopes)."""
    client = client_for(world.admin_a)
    assert client.get(f"/t/{world.tenant_a.slug}/").status_code == 200  # signed in, MFA done
    api_key_a = api_key_create(
        actor=world.admin_a,
        tenant=world.tenant_a,
        name="Acme CI",
        scopes=list(SCOPES),
        technical_contact_email="ops@acme.test",
    )
    bearer = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_a.token}")
    assert bearer.get(f"/api/v1/tenants/{world.tenant_a.slug}/audit-events").status_code == 200
    return client, bearer


def test_no_url_reaches_another_tenant(world: World, callers: tuple[Client, Client]) -> None:
    client, bearer = callers
    failures = walk(world, client, bearer, all_routes())
    # Still the same signed-in person at the end (nothing above signed the client out).
    assert client.get(f"/t/{world.tenant_a.slug}/").status_code == 200
    assert not failures, (
        f"{len(failures)} cross-tenant problem(s) — a tenant-A admin reached tenant B, got a "
        "non-404 answer or changed data:\n  " + "\n  ".join(failures)
    )


@pytest.mark.urls("tests.security.urls_leaky")
def test_the_walker_catches_a_leak(world: World, callers: tuple[Client, Client]) -> None:
    """Self-test: a view that serves another tenant's object by id (own slug, foreign id) and
    one that writes for a stranger are both reported."""
    client, bearer = callers
    read = "t/<slug:tenant_slug>/leak/<int:environment_id>/"
    write = "leak/write/<int:environment_id>/"
    leaks = [r for r in all_routes() if r.route in (read, write)]
    assert len(leaks) == 2
    failures = walk(world, client, bearer, leaks)
    assert any(f"[{read}, own slug, tenant B's ids, session]: 200" in f for f in failures)
    assert any(f"[{write}, tenant B's slug and ids] changed the database" in f for f in failures)


def coverage_problems_for(route: Route) -> bool:
    return not route.buildable or any(factory_for(route.route, k) is None for k in route.kwargs)
