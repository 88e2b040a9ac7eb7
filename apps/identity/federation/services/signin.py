"""The federated sign-in: mapping, replay protection, linking, JIT provisioning."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.audit.services import audit_event_record, audit_events_record_bulk
from apps.core.tenancy import tenant_context
from apps.identity import lockout
from apps.identity.federation.models import (
    ConflictStatus,
    ExternalIdentity,
    IdentityConflict,
    IdpConnection,
    MappingRule,
    MappingTarget,
    UsedAssertion,
    VerifiedDomain,
)
from apps.identity.federation.services.common import (
    DEFAULT_ATTRIBUTES,
    REPLAY_DRIFT,
    FederatedSignInRefused,
    FederationError,
    _require_admin,
)
from apps.identity.models import User
from apps.tenants.models import Membership, TenantRole, TenantStatus

# --- Mapping ---------------------------------------------------------------------------------


@transaction.atomic
def mapping_rule_save(
    *,
    actor: Any,
    connection: IdpConnection,
    attribute: str,
    value: str,
    target_kind: str,
    target: str,
    priority: int = 100,
    rule: MappingRule | None = None,
) -> MappingRule:
    _require_admin(actor, connection.tenant)
    if target_kind not in MappingTarget.values:
        raise FederationError(_("Unknown mapping target."))
    if target_kind == MappingTarget.TENANT_ROLE and target not in TenantRole.values:
        raise FederationError(_("Unknown tenant role: %(r)s") % {"r": target})
    if not (attribute.strip() and value.strip() and target.strip()):
        raise FederationError(_("Attribute, value and target are required."))
    with tenant_context(connection.tenant):
        if target_kind != MappingTarget.TENANT_ROLE and not _access_target_exists(
            target_kind, target
        ):
            raise FederationError(_("No access role or entitlement named %(t)s.") % {"t": target})
        rule = rule or MappingRule(tenant=connection.tenant, connection=connection)
        rule.attribute, rule.value = attribute.strip(), value.strip()
        rule.target_kind, rule.target, rule.priority = target_kind, target.strip(), priority
        try:
            with transaction.atomic():
                rule.save()
        except IntegrityError as exc:
            raise FederationError(_("This rule exists already.")) from exc
        audit_event_record(
            action="federation.mapping_rule.saved",
            actor=actor,
            target=rule,
            after={"rule": str(rule)},
        )
    return rule


@transaction.atomic
def mapping_rule_delete(*, actor: Any, rule: MappingRule) -> None:
    _require_admin(actor, rule.tenant)
    with tenant_context(rule.tenant):
        audit_event_record(
            action="federation.mapping_rule.deleted", actor=actor, details={"rule": str(rule)}
        )
        rule.delete()


def _access_target_exists(kind: str, key: str) -> bool:
    from apps.access.models import Entitlement, Role

    if kind == MappingTarget.ACCESS_ROLE:
        return Role.objects.filter(key=key).exists()
    return Entitlement.objects.filter(name=key).exists()


@dataclass
class MappingOutcome:
    profile: dict[str, str]
    groups: list[str]
    tenant_role: str | None
    access_keys: set[str] = field(default_factory=set)
    matched_rules: list[MappingRule] = field(default_factory=list)


def _first(values: Any) -> str:
    if isinstance(values, list | tuple):
        return str(values[0]) if values else ""
    return "" if values is None else str(values)


def _as_list(values: Any) -> list[str]:
    if values is None:
        return []
    if isinstance(values, list | tuple | set):
        return [str(v) for v in values]
    return [str(values)]


ROLE_RANK: dict[str, int] = {
    TenantRole.MEMBER: 0,
    TenantRole.REVIEWER: 1,
    TenantRole.APPROVER: 2,
    TenantRole.DELEGATED_ADMIN: 3,
    TenantRole.CUSTOMER_ADMIN: 4,
}


def mapping_evaluate(
    *,
    connection: IdpConnection,
    attributes: dict[str, Any],
    rules: list[MappingRule] | None = None,
) -> MappingOutcome:
    """What an assertion (attributes/claims) produces: the profile, the tenant role and the
    access roles/entitlements. Pure: used by sign-in and by the preview page alike."""
    amap = connection.attribute_map or {}
    profile: dict[str, str] = {}
    for name, defaults in DEFAULT_ATTRIBUTES.items():
        candidates = [amap[name]] if amap.get(name) else list(defaults)
        for attr in candidates:
            if attributes.get(attr) not in (None, "", []):
                profile[name] = _first(attributes[attr]).strip()[:254]
                break
    if "email" in profile:
        profile["email"] = profile["email"].lower()
    groups = _as_list(attributes.get(connection.groups_attribute))
    if rules is None:
        rules = list(MappingRule.objects.filter(connection=connection, active=True))
    outcome = MappingOutcome(profile=profile, groups=groups, tenant_role=None)
    for rule in sorted(rules, key=lambda r: (r.priority, r.pk or 0)):
        if not rule.active:
            continue
        values = groups if rule.attribute == connection.groups_attribute else None
        if values is None:
            values = _as_list(attributes.get(rule.attribute))
        if rule.value not in values:
            continue
        outcome.matched_rules.append(rule)
        if rule.target_kind == MappingTarget.TENANT_ROLE:
            if outcome.tenant_role is None or ROLE_RANK.get(rule.target, 0) > ROLE_RANK.get(
                outcome.tenant_role, 0
            ):
                outcome.tenant_role = rule.target
        else:
            outcome.access_keys.add(rule.target)
    return outcome


# --- Verified domains and identity lookup --------------------------------------------------


def _domain_of(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower() if "@" in email else ""


def domain_verified_for(*, tenant: Any, email_or_domain: str) -> bool:
    domain = _domain_of(email_or_domain) if "@" in email_or_domain else email_or_domain.lower()
    if not domain:
        return False
    return (
        VerifiedDomain.objects.for_tenant(tenant)
        .filter(domain=domain, verified_at__isnull=False)
        .exists()
    )


# --- Replay --------------------------------------------------------------------------------


def assertion_mark_used(
    *, connection: IdpConnection, assertion_id: str, not_on_or_after: datetime | None
) -> None:
    """Record an assertion id; raise FederatedSignInRefused when it was seen before. Kept until
    NotOnOrAfter + drift (the purge task drops older rows)."""
    if not assertion_id:
        raise FederatedSignInRefused("missing_assertion_id")
    keep_until = (not_on_or_after or timezone.now() + timedelta(minutes=10)) + REPLAY_DRIFT
    try:
        with transaction.atomic():
            UsedAssertion.objects.create(
                tenant_id=connection.tenant_id,
                connection=connection,
                assertion_id=assertion_id[:200],
                not_on_or_after=keep_until,
            )
    except IntegrityError as exc:
        raise FederatedSignInRefused("replayed_assertion") from exc


def used_assertions_purge(*, now: datetime | None = None) -> int:
    from apps.core.tenancy import unscoped

    with unscoped(reason="federation: purge expired replay-protection rows of every tenant"):
        deleted, _rows = UsedAssertion.objects.filter(
            not_on_or_after__lt=now or timezone.now()
        ).delete()
    return deleted


# --- Federated sign-in ----------------------------------------------------------------------


@dataclass
class FederatedLogin:
    """What a validated SAML assertion or OIDC ID token says about the person."""

    method: str  # "saml" | "oidc"
    issuer: str
    subject: str
    attributes: dict[str, Any]
    mfa: bool = False


@dataclass
class SignInResult:
    user: User
    identity: ExternalIdentity
    outcome: MappingOutcome
    created_user: bool
    reconcile: Any = None


def refusal_record(
    *, connection: IdpConnection | None, tenant: Any, reason: str, detail: str = "", method: str
) -> None:
    """Audit a refused federated sign-in (in its own transaction, so it survives)."""
    with transaction.atomic():
        audit_event_record(
            action="federation.login.refused",
            outcome="failure",
            tenant=tenant,
            use_current_tenant=False,
            target=connection,
            details={"method": method, "reason": reason, "detail": detail[:300]},
        )


def _conflict_open(
    *,
    connection: IdpConnection,
    login: FederatedLogin,
    email: str,
    existing: User | None,
    reason: str,
) -> IdentityConflict:
    conflict, created = IdentityConflict.objects.get_or_create(
        tenant_id=connection.tenant_id,
        issuer=login.issuer,
        subject=login.subject,
        status=ConflictStatus.OPEN,
        defaults={
            "connection": connection,
            "email": email,
            "existing_user": existing,
            "attributes": login.attributes,
            "reason": reason,
        },
    )
    if created:
        audit_event_record(
            action="federation.conflict.opened",
            tenant=connection.tenant_id,
            target=conflict,
            details={"email": email, "reason": reason, "issuer": login.issuer},
        )
    return conflict


def federated_sign_in(*, connection: IdpConnection, login: FederatedLogin, ip: str) -> SignInResult:
    """Link or provision the person, apply attribute and group mapping, reconcile mapped
    grants — in one transaction, with one audit append for all of it. Raises
    FederatedSignInRefused (audited by the caller) for every refusal, and nothing of the
    sign-in stays written; a conflict is committed (queue entry) before the refusal is raised."""
    tenant = connection.tenant
    if tenant.status != TenantStatus.ACTIVE:
        raise FederatedSignInRefused("tenant_" + tenant.status)
    if not connection.is_active:
        raise FederatedSignInRefused("connection_inactive")
    conflict_reason = ""
    # Audit events of this sign-in, appended together at the end (one chain-head lock).
    events: list[dict[str, Any]] = []
    with tenant_context(tenant), transaction.atomic():
        rules = list(MappingRule.objects.filter(connection=connection, active=True))
        outcome = mapping_evaluate(connection=connection, attributes=login.attributes, rules=rules)
        email = outcome.profile.get("email", "")
        identity = (
            ExternalIdentity.objects.select_related("user")
            .filter(issuer=login.issuer, subject=login.subject)
            .first()
        )
        created_user = False
        # A rejected conflict never links the identity, so only an unlinked one can be
        # rejected: one query less on every repeat sign-in.
        if (
            identity is None
            and IdentityConflict.objects.filter(
                issuer=login.issuer, subject=login.subject, status=ConflictStatus.REJECTED
            ).exists()
        ):
            raise FederatedSignInRefused("identity_rejected")
        if identity is None:
            if not email or "@" not in email:
                raise FederatedSignInRefused("missing_email")
            existing = User.objects.filter(email__iexact=email).first()
            verified = domain_verified_for(tenant=tenant, email_or_domain=email)
            if not verified:
                conflict_reason = "unverified_domain"
            elif (
                existing is not None
                and ExternalIdentity.objects.filter(user=existing, connection__tenant=tenant)
                .exclude(issuer=login.issuer)
                .exists()
            ):
                conflict_reason = "linked_to_other_idp"
            if conflict_reason:
                _conflict_open(
                    connection=connection,
                    login=login,
                    email=email,
                    existing=existing,
                    reason=conflict_reason,
                )
            else:
                if existing is None:
                    existing = User.objects.create_user(
                        email=email, full_name=outcome.profile.get("name", "")
                    )
                    created_user = True
                    events.append(
                        {
                            "action": "federation.user.provisioned",
                            "target": existing,
                            "details": {"issuer": login.issuer, "method": login.method},
                        }
                    )
                identity = ExternalIdentity.objects.create(
                    tenant=tenant,
                    connection=connection,
                    issuer=login.issuer,
                    subject=login.subject,
                    user=existing,
                )
                events.append(
                    {
                        "action": "federation.identity.linked",
                        "target": existing,
                        "details": {"issuer": login.issuer, "subject": login.subject},
                    }
                )
        if not conflict_reason:  # else: commit the conflict, then refuse (below)
            assert identity is not None
            user = identity.user
            if not user.is_active:
                raise FederatedSignInRefused("account_disabled")
            if lockout.lockout_state(email=user.email, ip=ip).locked:
                raise FederatedSignInRefused("account_locked")
            result = _apply_mapping(
                connection=connection,
                identity=identity,
                user=user,
                outcome=outcome,
                login=login,
                events=events,
            )
            result.created_user = created_user
            audit_events_record_bulk(tenant=tenant.pk, events=events)
    if conflict_reason:
        raise FederatedSignInRefused(
            conflict_reason,
            _(
                "Your account needs to be reviewed by your administrator before you can "
                "sign in through your identity provider."
            ),
        )
    return result


def _apply_mapping(
    *,
    connection: IdpConnection,
    identity: ExternalIdentity,
    user: User,
    outcome: MappingOutcome,
    login: FederatedLogin,
    events: list[dict[str, Any]],
) -> SignInResult:
    """Membership, mapped grants and the identity's last sign-in; the audit events are added
    to `events` for the caller's one append."""
    from apps.access.models import GrantSource
    from apps.access.services import grants_reconcile_mapped

    tenant = connection.tenant
    profile = outcome.profile
    if profile.get("name") and profile["name"] != user.full_name:
        user.full_name = profile["name"][:200]
        user.save(update_fields=["full_name"])
    membership = Membership.objects.filter(user=user).first()
    manager = None
    if profile.get("manager") and "@" in profile["manager"]:
        manager = User.objects.filter(
            email__iexact=profile["manager"], memberships__tenant=tenant
        ).first()
    if membership is None:
        membership = Membership.objects.create(
            tenant=tenant,
            user=user,
            role=outcome.tenant_role or TenantRole.MEMBER,
            department=profile.get("department", "")[:100],
            title=profile.get("title", "")[:100],
            manager=manager,
        )
        events.append(
            {
                "action": "membership.added",
                "actor": user,
                "target": membership,
                "after": {"user": user.email, "role": membership.role, "via": login.method},
            }
        )
    else:
        if not membership.is_active:
            raise FederatedSignInRefused("membership_suspended")
        changed: dict[str, Any] = {}
        if outcome.tenant_role and outcome.tenant_role != membership.role:
            changed["role"] = outcome.tenant_role
        for name in ("department", "title"):
            if profile.get(name) and profile[name][:100] != getattr(membership, name):
                changed[name] = profile[name][:100]
        if manager is not None and membership.manager_id != manager.pk:
            changed["manager"] = manager
        if changed:
            before = {k: str(getattr(membership, k)) for k in changed}
            for k, v in changed.items():
                setattr(membership, k, v)
            membership.save()
            events.append(
                {
                    "action": "membership.changed_by_idp",
                    "actor": user,
                    "target": membership,
                    "before": before,
                    "after": {k: str(v) for k, v in changed.items()},
                }
            )
    reconcile = grants_reconcile_mapped(
        actor=user,
        tenant=tenant,
        user=user,
        source=GrantSource.IDP_MAPPING,
        desired=outcome.access_keys,
        mapping_prefix=f"idp:{connection.pk}:",
        defer_audit=True,
    )
    events += reconcile.audit_events
    identity.attributes = dict(profile.items())
    identity.groups = outcome.groups
    identity.last_login_at = timezone.now()
    identity.save(update_fields=["attributes", "groups", "last_login_at", "updated_at"])
    events.append(
        {
            "action": "federation.login.succeeded",
            "actor": user,
            "target": user,
            "details": {
                "method": login.method,
                "issuer": login.issuer,
                "mfa_claim": login.mfa,
                "grants_created": len(reconcile.created),
                "grants_revoked": len(reconcile.revoked),
            },
        }
    )
    return SignInResult(
        user=user, identity=identity, outcome=outcome, created_user=False, reconcile=reconcile
    )


# --- Single logout ---------------------------------------------------------------------------

SLO_ACTIONS = (
    "federation.logout.requested",  # we sent a signed LogoutRequest to the IdP
    "federation.logout.completed",  # the IdP's LogoutResponse to it verified
    "federation.logout.idp_initiated",  # the IdP's signed LogoutRequest ended our session
    "federation.logout.refused",  # a logout message did not verify
)


def saml_logout_record(
    *,
    connection: IdpConnection | None,
    tenant: Any,
    action: str,
    user: Any = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit one step of a SAML single logout (its own transaction, so a refusal that ends
    in an error page is still recorded)."""
    if action not in SLO_ACTIONS:
        raise ValueError(action)
    with transaction.atomic():
        audit_event_record(
            action=action,
            outcome="failure" if action.endswith(".refused") else "success",
            actor=user if getattr(user, "is_authenticated", False) else None,
            tenant=tenant,
            use_current_tenant=False,
            target=connection,
            details=details or {},
        )


def logout_request_mark_used(
    *, connection: IdpConnection, message_id: str, not_on_or_after: datetime | None
) -> None:
    """An IdP's LogoutRequest is accepted once (FederatedSignInRefused on a replay)."""
    if not message_id:
        raise FederatedSignInRefused("missing_logout_id")
    assertion_mark_used(
        connection=connection,
        assertion_id="logout:" + message_id,
        not_on_or_after=not_on_or_after,
    )
