"""What a person who leaves takes with them on the integrations side: the OAuth clients they
answer for are revoked, and every credential shared with a tenant's systems that they could
have seen (as an admin of that tenant) is marked for rotation and the tenant told.

Shared credentials — webhook signing secrets, SCIM tokens, the tenant's IdP client secret and
the SAML SP key — are held by the tenant's systems as well as by Custos, so Custos cannot swap
them alone without breaking the tenant's integration: the tenant's admins are asked to rotate
them (webhook secrets resolve the mark automatically when rotated in the portal; the others are
confirmed by an admin). Credentials only Custos holds (API keys, OAuth access tokens, sessions)
are revoked outright by the leaver.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.audit.services import audit_event_record
from apps.core.exceptions import DomainError
from apps.core.tenancy import tenant_context, unscoped
from apps.integrations.models import (
    CredentialRotationMark,
    CredentialState,
    OAuthClient,
    SharedCredentialKind,
    WebhookEndpoint,
)
from apps.integrations.notify import mail_send_localised
from apps.integrations.services.api_keys import _require_admin
from apps.integrations.services.oauth import oauth_client_revoke
from apps.tenants.models import ADMIN_ROLES, Membership, Tenant

logger = logging.getLogger("custos.integrations")

# An admin membership that ended this recently still counts: they saw the secrets then.
ADMIN_LOOKBACK = timedelta(days=180)


def oauth_clients_revoke_owned_by(*, actor: Any, user: Any, reason: str) -> int:
    """Every active OAuth client the person answers for, in every tenant, with its tokens."""
    with unscoped(reason="offboarding: the OAuth clients a person owns, in every tenant"):
        clients = list(
            OAuthClient.objects.filter(owner=user, state=CredentialState.ACTIVE).select_related(
                "tenant"
            )
        )
    return sum(1 for c in clients if oauth_client_revoke(actor=None, client=c, reason=reason))


def tenants_administered_by(*, user: Any, now: Any = None) -> list[Tenant]:
    """Tenants where the person is, or was within ADMIN_LOOKBACK, an admin (and so could
    have seen the credentials the tenant shares with Custos)."""
    now = now or timezone.now()
    with unscoped(reason="offboarding: tenants a person administered"):
        ids = set(
            Membership.objects.filter(user=user, role__in=ADMIN_ROLES)
            .filter(is_active=True)
            .values_list("tenant_id", flat=True)
        ) | set(
            Membership.objects.filter(
                user=user,
                role__in=ADMIN_ROLES,
                is_active=False,
                updated_at__gte=now - ADMIN_LOOKBACK,
            ).values_list("tenant_id", flat=True)
        )
    return list(Tenant.objects.filter(pk__in=ids).order_by("pk"))


def _shared_credentials(tenant: Tenant) -> list[tuple[str, int, str]]:
    """(kind, object id, label) of every live credential the tenant shares with Custos."""
    found: list[tuple[str, int, str]] = [
        (SharedCredentialKind.WEBHOOK_SECRET, pk, url)
        for pk, url in WebhookEndpoint.objects.filter(is_active=True).values_list("pk", "url")
    ]
    try:
        from apps.identity.scim.models import ScimToken

        found += [
            (SharedCredentialKind.SCIM_TOKEN, pk, f"{name} (scim_{prefix}_…)")
            for pk, name, prefix in ScimToken.objects.filter(revoked_at__isnull=True).values_list(
                "pk", "name", "prefix"
            )
        ]
    except (ImportError, LookupError):  # SCIM not installed
        pass
    try:
        from apps.identity.federation.models import ConnectionKind, IdpConnection

        for pk, name, kind in IdpConnection.objects.exclude(status="disabled").values_list(
            "pk", "name", "kind"
        ):
            if kind == ConnectionKind.OIDC:
                found.append((SharedCredentialKind.IDP_CLIENT_SECRET, pk, name))
            else:
                found.append((SharedCredentialKind.IDP_SP_KEY, pk, name))
    except (ImportError, LookupError):
        pass
    return found


def shared_credentials_mark_for_rotation(
    *, actor: Any, leaver: Any, tenants: list[Tenant], reason: str
) -> int:
    """Mark every shared credential of `tenants` for rotation (an open mark is not repeated),
    audit it per tenant, and tell each tenant's admins after commit. Returns the new marks."""
    now = timezone.now()
    created = 0
    for tenant in tenants:
        with tenant_context(tenant):
            marks = []
            for kind, object_id, label in _shared_credentials(tenant):
                try:
                    with transaction.atomic():
                        marks.append(
                            CredentialRotationMark.objects.create(
                                tenant=tenant,
                                kind=kind,
                                object_id=object_id,
                                label=label[:200],
                                reason=reason[:300],
                                leaver=leaver,
                                leaver_label=str(leaver)[:200],
                                marked_at=now,
                                notify_at=now,
                            )
                        )
                except IntegrityError:  # already marked and not yet rotated
                    continue
            if not marks:
                continue
            created += len(marks)
            audit_event_record(
                action="credential.rotation_required",
                actor=actor,
                tenant=tenant,
                target=leaver,
                details={
                    "reason": reason[:300],
                    "credentials": [{"kind": m.kind, "id": m.object_id} for m in marks],
                },
            )
        transaction.on_commit(functools.partial(rotation_marks_notify, tenant_id=tenant.pk))
    return created


def rotation_marks_notify(*, tenant_id: int) -> int:
    """Tell the tenant's admins (in their languages) which credentials to rotate. Claims the
    due marks with a conditional UPDATE, so a retry or the sweeper never sends twice."""
    now = timezone.now()
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_context(tenant):
        due = list(
            CredentialRotationMark.objects.filter(
                notify_at__lte=now, resolved_at__isnull=True
            ).order_by("pk")
        )
        claimed = CredentialRotationMark.objects.filter(
            pk__in=[m.pk for m in due], notify_at__isnull=False
        ).update(notify_at=None, notified_at=now)
        if not claimed:
            return 0
        admins = list(
            Membership.objects.filter(
                is_active=True, role__in=ADMIN_ROLES, user__is_active=True
            ).select_related("user")
        )
    leavers = {m.leaver_id for m in due}
    by_language: dict[str, list[str]] = {}
    for membership in admins:
        if membership.user_id in leavers:
            continue
        by_language.setdefault(membership.user.language or "en", []).append(membership.user.email)
    ok = True
    for language, emails in by_language.items():
        ok &= mail_send_localised(
            to=emails,
            language=language,
            template="credential_rotation",
            context={"tenant": tenant, "marks": due},
        )
    if not ok:  # the housekeeping sweep tries again
        with tenant_context(tenant):
            CredentialRotationMark.objects.filter(pk__in=[m.pk for m in due]).update(
                notify_at=now + timedelta(minutes=10), notified_at=None
            )
    return len(due)


def rotation_marks_notify_due(*, limit: int = 200) -> int:
    with unscoped(reason="rotation-mark notification sweeper"):
        tenant_ids = set(
            CredentialRotationMark.objects.filter(
                notify_at__lte=timezone.now(), resolved_at__isnull=True
            ).values_list("tenant_id", flat=True)[:limit]
        )
    return sum(rotation_marks_notify(tenant_id=t) for t in sorted(tenant_ids))


def rotation_marks_resolve(
    *, actor: Any, tenant: Tenant, kind: str, object_id: int, how: str
) -> int:
    """The credential was rotated (`how` says how); close its open mark. Called by the webhook
    secret rotation, and by an admin confirming a rotation done elsewhere."""
    with tenant_context(tenant):
        updated = CredentialRotationMark.objects.filter(
            kind=kind, object_id=object_id, resolved_at__isnull=True
        ).update(
            resolved_at=timezone.now(), resolved_by=actor if getattr(actor, "pk", None) else None
        )
        if updated:
            audit_event_record(
                action="credential.rotation_confirmed",
                actor=actor,
                tenant=tenant,
                target=None,
                details={"kind": kind, "id": object_id, "how": how},
            )
    return updated


def rotation_mark_confirm(*, actor: Any, mark: CredentialRotationMark) -> bool:
    """An admin of the tenant confirms the credential has been rotated."""
    _require_admin(actor=actor, tenant=mark.tenant)
    if actor is not None and getattr(actor, "pk", None) == mark.leaver_id:
        raise DomainError(_("The person who left cannot confirm the rotation."))
    return bool(
        rotation_marks_resolve(
            actor=actor,
            tenant=mark.tenant,
            kind=mark.kind,
            object_id=mark.object_id,
            how="confirmed by an admin",
        )
    )


def rotation_marks_open(*, tenant: Tenant) -> list[CredentialRotationMark]:
    with tenant_context(tenant):
        return list(
            CredentialRotationMark.objects.filter(resolved_at__isnull=True).order_by("marked_at")
        )
