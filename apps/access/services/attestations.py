"""Compliance attestations (a person's HIPAA/PCI/... training or certification, as the ABAC
rules' `context.attested` sees it): record or renew, and revoke. Every write is atomic,
audited and bumps the tenant's policy version, so the engine's next decision sees it.

Portal page, Django admin and any future import call these; none writes the model itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.access.exceptions import AccessValidationError
from apps.access.models import ComplianceAttestation
from apps.access.selectors import FLAG_PATTERN, attestation_flag_choices
from apps.access.services.common import policy_version_bump, scope_for
from apps.core.audit.services import audit_event_record
from apps.tenants.models import Membership

EVIDENCE_MAX_LENGTH = 500


def _snapshot(attestation: ComplianceAttestation) -> dict[str, Any]:
    return {
        "user": str(attestation.user),
        "flag": attestation.flag,
        "attested_at": attestation.attested_at.isoformat(),
        "expires_at": attestation.expires_at.isoformat() if attestation.expires_at else "",
        "evidence": attestation.evidence,
    }


def attestation_validate(
    *, tenant: Any, user: Any, flag: str, expires_at: datetime | None, evidence: str = ""
) -> tuple[str, datetime | None]:
    """The checks of `attestation_record`, usable on their own (the admin form shows them as
    field errors). Returns the normalised flag and expiry; raises AccessValidationError."""
    flag = (flag or "").strip().lower()
    if not flag:
        raise AccessValidationError(_("Choose a compliance flag."), code="flag")
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            expires_at = timezone.make_aware(expires_at)
        if expires_at <= timezone.now():
            raise AccessValidationError(
                _(
                    "The expiry date is in the past: an attestation must still be valid when "
                    "recorded."
                ),
                code="expires",
            )
    if len(evidence or "") > EVIDENCE_MAX_LENGTH:
        raise AccessValidationError(
            _("The evidence is too long (at most %(n)d characters).") % {"n": EVIDENCE_MAX_LENGTH},
            code="evidence",
        )
    if user is None or not getattr(user, "pk", None):
        raise AccessValidationError(_("Choose the person who attested."), code="user")
    with scope_for(tenant):
        known = [value for value, _label in attestation_flag_choices(tenant=tenant)]
        is_member = Membership.objects.for_tenant(tenant).filter(user=user, is_active=True).exists()
    if not FLAG_PATTERN.match(flag) or flag not in known:
        raise AccessValidationError(
            _("Unknown compliance flag “%(flag)s”: use one of %(known)s.")
            % {"flag": flag[:40], "known": ", ".join(known)},
            code="flag",
        )
    if not is_member:
        raise AccessValidationError(
            _("%(user)s is not a member of %(tenant)s, so no attestation can be recorded there.")
            % {"user": user, "tenant": getattr(tenant, "name", tenant)},
            code="not_member",
        )
    return flag, expires_at


def attestation_record(
    *,
    actor: Any,
    tenant: Any,
    user: Any,
    flag: str,
    expires_at: datetime | None = None,
    evidence: str = "",
) -> ComplianceAttestation:
    """Record that `user` attested `flag` in `tenant` now, valid until `expires_at` (None: no
    expiry). Renewing an unrevoked attestation replaces its dates and evidence in place; a
    revoked one stays as history and a new row is made."""
    evidence = (evidence or "").strip()
    recorder = actor if getattr(actor, "pk", None) else None
    with scope_for(tenant), transaction.atomic():
        flag, expires_at = attestation_validate(
            tenant=tenant, user=user, flag=flag, expires_at=expires_at, evidence=evidence
        )
        current = (
            ComplianceAttestation.objects.for_tenant(tenant)
            .select_for_update()
            .filter(user=user, flag=flag, revoked_at__isnull=True)
            .first()
        )
        now = timezone.now()
        before: dict[str, Any] = {}
        if current is not None:
            before = _snapshot(current)
            current.attested_at = now
            current.expires_at = expires_at
            current.evidence = evidence
            current.recorded_by = recorder
            current.save(update_fields=["attested_at", "expires_at", "evidence", "recorded_by"])
            attestation = current
        else:
            try:
                with transaction.atomic():
                    attestation = ComplianceAttestation.objects.create(
                        tenant_id=getattr(tenant, "pk", tenant),
                        user=user,
                        flag=flag,
                        attested_at=now,
                        expires_at=expires_at,
                        evidence=evidence,
                        recorded_by=recorder,
                    )
            except IntegrityError:
                raise AccessValidationError(
                    _("This attestation was recorded at the same time; reload and try again."),
                    code="conflict",
                ) from None
        policy_version_bump(tenant=tenant)
        audit_event_record(
            action="access.attestation.renewed" if before else "access.attestation.recorded",
            actor=actor,
            tenant=tenant,
            target=attestation,
            before=before,
            after=_snapshot(attestation),
        )
    return attestation


def attestation_revoke(
    *, actor: Any, attestation: ComplianceAttestation, reason: str
) -> ComplianceAttestation:
    """Withdraw an attestation now (the row stays, with who, when and why). Idempotent:
    revoking a revoked attestation changes nothing and records nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise AccessValidationError(_("Give a reason for the revocation."), code="reason")
    tenant_id = attestation.tenant_id
    with scope_for(tenant_id), transaction.atomic():
        updated = (
            ComplianceAttestation.objects.for_tenant(tenant_id)
            .filter(pk=attestation.pk, revoked_at__isnull=True)
            .update(
                revoked_at=timezone.now(),
                revoked_by=actor if getattr(actor, "pk", None) else None,
                revoke_reason=reason,
            )
        )
        attestation.refresh_from_db()
        if updated:
            policy_version_bump(tenant=tenant_id)
            audit_event_record(
                action="access.attestation.revoked",
                actor=actor,
                tenant=tenant_id,
                target=attestation,
                before=_snapshot(attestation),
                details={"reason": reason},
            )
    return attestation
