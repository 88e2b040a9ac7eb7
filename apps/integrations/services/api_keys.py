"""API keys: create (shown once), rotate with an overlap, revoke, and the sweepers that end
keys on schedule and warn the technical contact before expiry."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from apps.core.audit.services import audit_event_record
from apps.core.exceptions import Conflict, DomainError
from apps.core.exceptions import PermissionDenied as DomainPermissionDenied
from apps.core.tenancy import tenant_context, unscoped
from apps.integrations.conf import conf
from apps.integrations.models import ApiKey, CredentialState
from apps.integrations.notify import mail_send_localised
from apps.integrations.scopes import scopes_clean
from apps.integrations.tokens import API_KEY_KIND, OneTimeSecret, token_generate, token_hash
from apps.tenants.models import ADMIN_ROLES, Membership


@dataclass(frozen=True)
class IssuedKey:
    """The new key and its clear token, which exists only here (shown once, never stored)."""

    key: ApiKey
    token: str

    def __repr__(self) -> str:
        return f"IssuedKey({self.key.display_token})"


def _require_admin(*, actor: Any, tenant: Any) -> None:
    if actor is None:
        return  # system actions (sweepers, lifecycle)
    with tenant_context(tenant):
        ok = Membership.objects.filter(user=actor, is_active=True, role__in=ADMIN_ROLES).exists()
    if not ok:
        raise DomainPermissionDenied(_("Only the tenant's admins manage API keys."))


def cidrs_clean(values: list[str] | str) -> list[str]:
    if isinstance(values, str):
        values = [v for v in values.replace(",", " ").split() if v]
    result = []
    for value in values:
        try:
            result.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError as exc:
            raise DomainError(
                _("%(value)s is not an IP address or network.") % {"value": value},
                code="invalid_cidr",
            ) from exc
    return result


def _notify_at(expires_at: datetime, now: datetime) -> datetime | None:
    """The next expiry notice still ahead (14 and 3 days before, by default)."""
    for days in sorted(conf("API_KEY_EXPIRY_NOTICE_DAYS"), reverse=True):
        moment = expires_at - timedelta(days=days)
        if moment > now:
            return moment
    return None


def _snapshot(key: ApiKey) -> dict[str, Any]:
    return {
        "name": key.name,
        "prefix": key.prefix,
        "scopes": key.scopes,
        "expires_at": key.expires_at.isoformat(),
        "allowed_cidrs": key.allowed_cidrs,
        "rate_limit_per_minute": key.rate_limit_per_minute,
        "technical_contact": key.technical_contact_email,
        "state": key.state,
    }


@sensitive_variables("issued")
def api_key_create(
    *,
    actor: Any,
    tenant: Any,
    name: str,
    scopes: list[str],
    technical_contact_email: str,
    contact_language: str = "en",
    expires_at: datetime | None = None,
    allowed_cidrs: list[str] | str = (),  # type: ignore[assignment]
    rate_limit_per_minute: int = 600,
    rate_limit_burst: int = 100,
    owner: Any = None,
) -> IssuedKey:
    _require_admin(actor=actor, tenant=tenant)
    now = timezone.now()
    if expires_at is None:
        expires_at = now + timedelta(days=int(conf("API_KEY_DEFAULT_LIFETIME_DAYS")))
    if expires_at <= now:
        raise DomainError(_("The expiry must be in the future."), code="invalid_expiry")
    if expires_at > now + timedelta(days=int(conf("API_KEY_MAX_LIFETIME_DAYS"))):
        raise DomainError(
            _("API keys live at most %(days)d days.") % {"days": conf("API_KEY_MAX_LIFETIME_DAYS")},
            code="invalid_expiry",
        )
    try:
        clean_scopes = scopes_clean(scopes)
    except ValueError as exc:
        raise DomainError(str(exc), code="invalid_scope") from exc
    if not clean_scopes:
        raise DomainError(_("Choose at least one scope."), code="invalid_scope")
    if rate_limit_per_minute < 1 or rate_limit_burst < 1:
        raise DomainError(_("Rate limits must be positive."), code="invalid_rate_limit")
    issued = token_generate(API_KEY_KIND)
    with tenant_context(tenant), transaction.atomic():
        key = ApiKey.objects.create(
            tenant=tenant,
            name=name.strip()[:100],
            prefix=issued.prefix,
            secret_hash=token_hash(issued.token),
            scopes=clean_scopes,
            created_at=now,
            created_by=actor,
            owner=owner or actor,
            technical_contact_email=technical_contact_email.strip().lower(),
            contact_language=contact_language,
            expires_at=expires_at,
            allowed_cidrs=cidrs_clean(allowed_cidrs),
            rate_limit_per_minute=rate_limit_per_minute,
            rate_limit_burst=rate_limit_burst,
            notify_at=_notify_at(expires_at, now),
        )
        audit_event_record(
            action="api_key.created", actor=actor, tenant=tenant, target=key, after=_snapshot(key)
        )
    return IssuedKey(key=key, token=OneTimeSecret(issued.token))


@sensitive_variables("issued")
def api_key_rotate(*, actor: Any, key: ApiKey, overlap_hours: int | None = None) -> IssuedKey:
    """A successor with the same settings; the old key keeps working for `overlap_hours`,
    then dies (its expiry is moved up; the sweeper records the end)."""
    tenant = key.tenant
    _require_admin(actor=actor, tenant=tenant)
    hours = int(conf("API_KEY_ROTATION_OVERLAP_HOURS") if overlap_hours is None else overlap_hours)
    if not 0 <= hours <= int(conf("API_KEY_MAX_OVERLAP_HOURS")):
        raise DomainError(
            _("The overlap must be between 0 and %(max)d hours.")
            % {"max": conf("API_KEY_MAX_OVERLAP_HOURS")},
            code="invalid_overlap",
        )
    now = timezone.now()
    issued = token_generate(API_KEY_KIND)
    with tenant_context(tenant), transaction.atomic():
        old = ApiKey.objects.select_for_update().get(pk=key.pk)
        if not old.is_usable(now) or old.replaced_by_id is not None:
            raise Conflict(_("Only an active key that was not rotated yet can be rotated."))
        lifetime = max(old.expires_at - old.created_at, timedelta(days=1))
        lifetime = min(lifetime, timedelta(days=int(conf("API_KEY_MAX_LIFETIME_DAYS"))))
        new_expiry = now + lifetime
        new = ApiKey.objects.create(
            tenant=tenant,
            name=old.name,
            prefix=issued.prefix,
            secret_hash=token_hash(issued.token),
            scopes=old.scopes,
            created_at=now,
            created_by=actor,
            owner=old.owner,
            technical_contact_email=old.technical_contact_email,
            contact_language=old.contact_language,
            expires_at=new_expiry,
            allowed_cidrs=old.allowed_cidrs,
            rate_limit_per_minute=old.rate_limit_per_minute,
            rate_limit_burst=old.rate_limit_burst,
            notify_at=_notify_at(new_expiry, now),
        )
        old_end = min(old.expires_at, now + timedelta(hours=hours))
        ApiKey.objects.filter(pk=old.pk).update(
            replaced_by=new, rotated_at=now, expires_at=old_end, notify_at=None
        )
        audit_event_record(
            action="api_key.rotated",
            actor=actor,
            tenant=tenant,
            target=new,
            before={"prefix": old.prefix, "expires_at": old.expires_at.isoformat()},
            after={
                "prefix": new.prefix,
                "old_key_ends_at": old_end.isoformat(),
                "expires_at": new_expiry.isoformat(),
            },
        )
    return IssuedKey(key=new, token=OneTimeSecret(issued.token))


def api_key_revoke(*, actor: Any, key: ApiKey, reason: str = "") -> bool:
    """Immediate: the next request with the key is refused. False if it was not active."""
    tenant = key.tenant
    _require_admin(actor=actor, tenant=tenant)
    now = timezone.now()
    with tenant_context(tenant), transaction.atomic():
        done = ApiKey.objects.filter(pk=key.pk, state=CredentialState.ACTIVE).update(
            state=CredentialState.REVOKED,
            revoked_at=now,
            revoked_by=actor,
            revoke_reason=reason[:200],
            ended_at=now,
            notify_at=None,
        )
        if done:
            audit_event_record(
                action="api_key.revoked",
                actor=actor,
                tenant=tenant,
                target=key,
                details={"reason": reason[:200], "prefix": key.prefix},
            )
    return bool(done)


def api_keys_revoke_owned_by(*, actor: Any, user: Any, reason: str) -> int:
    """Every active key the person answers for, in every tenant (leaver, offboarding, incident)."""
    with unscoped(reason="revoke the API keys a person owns, in every tenant"):
        keys = list(
            ApiKey.objects.filter(owner=user, state=CredentialState.ACTIVE).select_related("tenant")
        )
    return sum(1 for key in keys if api_key_revoke(actor=None, key=key, reason=reason))


def api_keys_expire_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Sweeper: record the end of keys whose expiry passed (authentication already refuses them
    from that instant; this makes the state and the audit trail say so)."""
    now = now or timezone.now()
    with unscoped(reason="API key sweeper: keys past their expiry, every tenant"):
        due = list(
            ApiKey.objects.filter(state=CredentialState.ACTIVE, expires_at__lte=now)
            .select_related("tenant")
            .order_by("expires_at")[:limit]
        )
    ended = 0
    for key in due:
        with tenant_context(key.tenant), transaction.atomic():
            done = ApiKey.objects.filter(
                pk=key.pk, state=CredentialState.ACTIVE, expires_at__lte=now
            ).update(state=CredentialState.EXPIRED, ended_at=now, notify_at=None)
            if done:
                ended += 1
                audit_event_record(
                    action="api_key.rotated_out" if key.replaced_by_id else "api_key.expired",
                    tenant=key.tenant,
                    target=key,
                    details={"prefix": key.prefix, "expired_at": key.expires_at.isoformat()},
                )
    return ended


def api_keys_notify_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Sweeper: tell the technical contact that a key expires soon (localised email)."""
    now = now or timezone.now()
    with unscoped(reason="API key sweeper: expiry notices due, every tenant"):
        due = list(
            ApiKey.objects.filter(
                notify_at__lte=now, state=CredentialState.ACTIVE, replaced_by__isnull=True
            )
            .select_related("tenant")
            .order_by("notify_at")[:limit]
        )
    sent = 0
    for key in due:
        with tenant_context(key.tenant):
            claimed = ApiKey.objects.filter(pk=key.pk, notify_at=key.notify_at).update(
                notify_at=_notify_at(key.expires_at, now), last_notice_at=now
            )
            if not claimed:
                continue
            ok = mail_send_localised(
                to=[key.technical_contact_email],
                language=key.contact_language,
                template="api_key_expiry",
                context={
                    "key": key,
                    "tenant": key.tenant,
                    "days_left": (key.expires_at - now).days,
                },
            )
            if ok:
                sent += 1
                audit_event_record(
                    action="api_key.expiry_notified",
                    tenant=key.tenant,
                    target=key,
                    details={"to": key.technical_contact_email},
                )
            else:
                ApiKey.objects.filter(pk=key.pk).update(notify_at=now + timedelta(minutes=15))
    return sent
