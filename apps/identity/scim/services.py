"""Writes of the SCIM directory: tokens, settings, users, groups and role mappings.

Every function runs inside the tenant's scope and the caller's transaction (the SCIM views
wrap each request in one, so a refused request leaves nothing half-provisioned) and records an
audit event. Cross-app consequences (deprovisioning, grant reconciliation) are not done here but
by apps.lifecycle, which the SCIM views call after these writes.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from apps.core.audit.services import audit_event_record
from apps.core.exceptions import Conflict, DomainError
from apps.core.exceptions import PermissionDenied as DomainPermissionDenied
from apps.core.tenancy import tenant_context, unscoped
from apps.identity.models import User, UserKind
from apps.identity.scim.errors import ScimError
from apps.identity.scim.filters import matches, parse_filter
from apps.identity.scim.models import (
    TOKEN_KIND,
    ScimGroup,
    ScimGroupMember,
    ScimGroupRoleMapping,
    ScimSettings,
    ScimToken,
    ScimUser,
)
from apps.identity.scim.resources import UserInput, invalid_value
from apps.integrations.tokens import OneTimeSecret, token_generate, token_hash
from apps.tenants.models import ADMIN_ROLES, Membership, Tenant, TenantRole

MAX_TOKEN_OVERLAP_HOURS = 336
CONFIRM_WRITE_EVERY = timedelta(hours=1)


def _require_admin(*, actor: Any, tenant: Tenant) -> None:
    if actor is None:
        return  # system (management commands, lifecycle)
    with tenant_context(tenant):
        ok = Membership.objects.filter(user=actor, is_active=True, role__in=ADMIN_ROLES).exists()
    if not ok:
        raise DomainPermissionDenied(_("Only the tenant's admins manage directory sync."))


def uniqueness(detail: str) -> ScimError:
    return ScimError(409, detail, scim_type="uniqueness")


# --- Tokens -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IssuedScimToken:
    token: ScimToken
    secret: str

    def __repr__(self) -> str:
        return f"IssuedScimToken({self.token.display_token})"


@sensitive_variables("issued")
def scim_token_create(
    *, actor: Any, tenant: Tenant, name: str, expires_at: datetime | None = None
) -> IssuedScimToken:
    _require_admin(actor=actor, tenant=tenant)
    name = (name or "").strip()[:100]
    if not name:
        raise DomainError(_("Give the token a name."), code="invalid_name")
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise DomainError(_("The expiry must be in the future."), code="invalid_expiry")
    issued = token_generate(TOKEN_KIND)
    with tenant_context(tenant), transaction.atomic():
        token = ScimToken.objects.create(
            tenant=tenant,
            name=name,
            prefix=issued.prefix,
            secret_hash=token_hash(issued.token),
            created_at=now,
            created_by=actor,
            expires_at=expires_at,
        )
        audit_event_record(
            action="scim.token_created",
            actor=actor,
            tenant=tenant,
            target=token,
            after={"name": name, "prefix": token.prefix, "expires_at": str(expires_at or "")},
        )
    return IssuedScimToken(token=token, secret=OneTimeSecret(issued.token))


@sensitive_variables("issued")
def scim_token_rotate(*, actor: Any, token: ScimToken, overlap_hours: int = 24) -> IssuedScimToken:
    """A successor token; the old one keeps working for `overlap_hours` (so the IdP's
    configuration can be switched without a failed sync), then stops."""
    tenant = token.tenant
    _require_admin(actor=actor, tenant=tenant)
    if not 0 <= overlap_hours <= MAX_TOKEN_OVERLAP_HOURS:
        raise DomainError(
            _("The overlap must be between 0 and %(max)d hours.")
            % {"max": MAX_TOKEN_OVERLAP_HOURS},
            code="invalid_overlap",
        )
    now = timezone.now()
    issued = token_generate(TOKEN_KIND)
    with tenant_context(tenant), transaction.atomic():
        old = ScimToken.objects.select_for_update().get(pk=token.pk)
        if not old.is_usable(now) or old.replaced_by_id is not None:
            raise Conflict(_("Only an active token that was not rotated yet can be rotated."))
        new = ScimToken.objects.create(
            tenant=tenant,
            name=old.name,
            prefix=issued.prefix,
            secret_hash=token_hash(issued.token),
            created_at=now,
            created_by=actor,
            expires_at=None,
        )
        old_end = now + timedelta(hours=overlap_hours)
        if old.expires_at is not None:
            old_end = min(old_end, old.expires_at)
        ScimToken.objects.filter(pk=old.pk).update(
            replaced_by=new, rotated_at=now, expires_at=old_end
        )
        from apps.identity.scim.auth import tokens_changed

        tokens_changed(tenant.pk)
        audit_event_record(
            action="scim.token_rotated",
            actor=actor,
            tenant=tenant,
            target=new,
            before={"prefix": old.prefix},
            after={"prefix": new.prefix, "old_token_ends_at": old_end.isoformat()},
        )
    return IssuedScimToken(token=new, secret=OneTimeSecret(issued.token))


def scim_token_revoke(*, actor: Any, token: ScimToken, reason: str = "") -> bool:
    tenant = token.tenant
    _require_admin(actor=actor, tenant=tenant)
    now = timezone.now()
    with tenant_context(tenant), transaction.atomic():
        done = ScimToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=actor, revoke_reason=reason[:200]
        )
        if done:
            from apps.identity.scim.auth import tokens_changed

            tokens_changed(tenant.pk)
            audit_event_record(
                action="scim.token_revoked",
                actor=actor,
                tenant=tenant,
                target=token,
                details={"reason": reason[:200], "prefix": token.prefix},
            )
    return bool(done)


# --- Settings -----------------------------------------------------------------------------------
@transaction.atomic
def scim_settings_update(
    *,
    actor: Any,
    tenant: Tenant,
    sync_interval_minutes: int,
    staleness_days: int,
    rate_limit_per_minute: int | None = None,
    rate_limit_burst: int | None = None,
) -> ScimSettings:
    _require_admin(actor=actor, tenant=tenant)
    if not 1 <= sync_interval_minutes <= 7 * 24 * 60:
        raise DomainError(_("The sync interval must be between 1 minute and 7 days."))
    if not 1 <= staleness_days <= 3650:
        raise DomainError(_("The staleness must be between 1 and 3650 days."))
    with tenant_context(tenant):
        current, _created = ScimSettings.objects.get_or_create(tenant=tenant)
        before = {
            "sync_interval_minutes": current.sync_interval_minutes,
            "staleness_days": current.staleness_days,
            "rate_limit_per_minute": current.rate_limit_per_minute,
            "rate_limit_burst": current.rate_limit_burst,
        }
        current.sync_interval_minutes = sync_interval_minutes
        current.staleness_days = staleness_days
        if rate_limit_per_minute is not None:
            if rate_limit_per_minute < 1:
                raise DomainError(_("Rate limits must be positive."))
            current.rate_limit_per_minute = rate_limit_per_minute
        if rate_limit_burst is not None:
            if rate_limit_burst < 1:
                raise DomainError(_("Rate limits must be positive."))
            current.rate_limit_burst = rate_limit_burst
        current.save()
        from apps.identity.scim.auth import settings_forget

        settings_forget(tenant.pk)
        audit_event_record(
            action="scim.settings_changed",
            actor=actor,
            tenant=tenant,
            target=current,
            before=before,
            after={k: getattr(current, k) for k in before},
        )
    return current


# --- Users --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScimActor:
    """Who is writing: the token (for the audit trail; SCIM requests have no person)."""

    token_label: str
    token_name: str = ""

    @property
    def label(self) -> str:
        return _("SCIM token %(token)s") % {"token": self.token_label}


def _audit(action: str, via: ScimActor, target: Any, **kwargs: Any) -> None:
    details = kwargs.pop("details", {})
    audit_event_record(
        action=action,
        target=target,
        details={"via": "scim", "credential": via.token_label, **details},
        **kwargs,
    )


def _check_unique(*, user_name: str, external_id: str, exclude_pk: int | None = None) -> None:
    users = ScimUser.objects.all()
    if exclude_pk is not None:
        users = users.exclude(pk=exclude_pk)
    match = Q(user_name__lower=user_name.lower())
    if external_id:
        match |= Q(external_id=external_id)
    clash = users.filter(match).values_list("user_name", flat=True).first()
    if clash is None:
        return
    if clash.lower() == user_name.lower():
        raise uniqueness(
            _("A user with the userName %(name)s exists already.") % {"name": user_name}
        )
    raise uniqueness(_("A user with the externalId %(id)s exists already.") % {"id": external_id})


def uniqueness_from_integrity(exc: Exception) -> ScimError:
    """A unique index refused the write (a duplicate, or a concurrent create that won)."""
    text = str(exc)
    if "scim_user_user_name_unique" in text:
        return uniqueness(_("A user with this userName exists already."))
    if "scim_user_external_id_unique" in text:
        return uniqueness(_("A user with this externalId exists already."))
    if "scim_group_display_name_unique" in text:
        return uniqueness(_("A group with this displayName exists already."))
    return uniqueness(_("This resource exists already."))


def _domain_verified(tenant: Tenant, email: str) -> bool:
    """Has the tenant proven it owns the email's domain? (apps.identity.federation, if it
    offers the check; without it only existing members of the tenant are linked.)"""
    try:
        federation_selectors = importlib.import_module("apps.identity.federation.selectors")
    except ImportError:
        return False
    check = getattr(federation_selectors, "domain_is_verified", None)
    if check is None:
        return False
    return bool(check(tenant=tenant, domain=email.rsplit("@", 1)[-1]))


def _linkable_user(tenant: Tenant, email: str) -> User | None:
    """The existing account a new SCIM user is, or None to create one. Refuses (409) to take
    over an account the tenant has no claim on: one person, one record, no silent merges."""
    user = User.objects.filter(email=email.lower()).first()  # stored lower-case
    if user is None:
        return None
    if user.kind == UserKind.STAFF:
        raise uniqueness(
            _("%(email)s belongs to a vendor staff account and cannot be provisioned.")
            % {"email": email}
        )
    if Membership.objects.filter(user=user).exists() or _domain_verified(tenant, email):
        return user
    raise uniqueness(
        _(
            "An account with the email %(email)s exists outside this tenant; verify the "
            "email domain to link it."
        )
        % {"email": email}
    )


def scim_user_create(*, tenant: Tenant, data: UserInput, via: ScimActor) -> ScimUser:
    """The directory adds a person: link or create the account, the membership and the SCIM
    entry, audited as one event (account and membership creation are in its details). A
    uniqueness race with a concurrent create surfaces as IntegrityError: the SCIM view answers
    409 and the request's transaction leaves nothing behind. userName/externalId uniqueness
    is left to the unique indexes (one statement less on the hot path): see
    `uniqueness_from_integrity`."""
    user = _linkable_user(tenant, data.email)
    created_account = user is None
    membership = None
    if user is None:
        user = User.objects.create_user(email=data.email, password=None, full_name=data.full_name)
    else:
        if ScimUser.objects.filter(user=user).exists():
            raise uniqueness(
                _("The account %(email)s is linked to another directory entry already.")
                % {"email": data.email}
            )
        membership = Membership.objects.filter(user=user).first()
    created_membership = membership is None
    if membership is None:
        membership = Membership.objects.create(
            tenant=tenant,
            user=user,
            role=TenantRole.MEMBER,
            department=data.department,
            title=data.title,
            is_active=data.active,
        )
    now = timezone.now()
    scim_user = ScimUser.objects.create(
        tenant=tenant,
        user=user,
        user_name=data.user_name,
        external_id=data.external_id,
        display_name=data.display_name,
        email=data.email,
        active=data.active,
        attributes=data.attributes,
        created_at=now,
        updated_at=now,
        last_confirmed_at=now,
        deprovisioned_at=None if data.active else now,
    )
    _audit(
        "scim.user_created",
        via,
        scim_user,
        after={
            "userName": data.user_name,
            "externalId": data.external_id,
            "email": data.email,
            "active": data.active,
            "account_created": created_account,
            "membership_created": created_membership,
            "role": membership.role,
        },
    )
    return scim_user


def _user_fields_update(scim_user: ScimUser, data: UserInput, via: ScimActor) -> None:
    """Keep the account and the membership in step with the directory."""
    user = scim_user.user
    changes: dict[str, Any] = {}
    if data.email != user.email:
        if User.objects.filter(email=data.email).exclude(pk=user.pk).exists():
            raise uniqueness(_("Another account uses the email %(email)s.") % {"email": data.email})
        # The directory renames the account only when no other tenant shares the person.
        with unscoped(reason="SCIM: is the account shared with another tenant"):
            shared = Membership.objects.filter(user=user).exclude(tenant_id=scim_user.tenant_id)
            if not shared.exists():
                changes["email"] = data.email
    if data.full_name and data.full_name != user.full_name:
        changes["full_name"] = data.full_name
    if changes:
        User.objects.filter(pk=user.pk).update(**changes)
        audit_event_record(
            action="user.changed",
            target=user,
            use_current_tenant=False,
            before={k: getattr(user, k) for k in changes},
            after=changes,
            details={"via": "scim", "credential": via.token_label},
        )
        for key, value in changes.items():
            setattr(user, key, value)
    Membership.objects.filter(user=user).exclude(
        department=data.department, title=data.title
    ).update(department=data.department, title=data.title)


def scim_user_replace(
    *, scim_user: ScimUser, data: UserInput, via: ScimActor, expected_version: int | None = None
) -> ScimUser:
    """Store a full new state (PUT, and PATCH after applying its operations). Does not end or
    restore access: the caller hands an `active` change to the lifecycle."""
    _check_unique(user_name=data.user_name, external_id=data.external_id, exclude_pk=scim_user.pk)
    _user_fields_update(scim_user, data, via)
    now = timezone.now()
    before = {
        "userName": scim_user.user_name,
        "externalId": scim_user.external_id,
        "active": scim_user.active,
    }
    qs = ScimUser.objects.filter(pk=scim_user.pk)
    if expected_version is not None:
        qs = qs.filter(version=expected_version)
    try:
        with transaction.atomic():
            changed = qs.update(
                user_name=data.user_name,
                external_id=data.external_id,
                display_name=data.display_name,
                email=data.email,
                active=data.active,
                attributes=data.attributes,
                version=F("version") + 1,
                updated_at=now,
                last_confirmed_at=now,
            )
    except IntegrityError as exc:
        raise uniqueness(_("This userName or externalId is taken.")) from exc
    if not changed:
        raise ScimError(412, _("The user was changed by somebody else; fetch it again."))
    scim_user.refresh_from_db()
    _audit(
        "scim.user_replaced",
        via,
        scim_user,
        before=before,
        after={"userName": data.user_name, "externalId": data.external_id, "active": data.active},
    )
    return scim_user


def scim_user_mark_deprovisioned(*, scim_user: ScimUser) -> None:
    ScimUser.objects.filter(pk=scim_user.pk, deprovisioned_at__isnull=True).update(
        deprovisioned_at=timezone.now()
    )


def scim_user_reactivate(*, scim_user: ScimUser, via: ScimActor) -> None:
    """The directory says the person is active again: the membership comes back (and the
    account, if the leaver disabled it). Grants do not: mapped ones are reconciled from the
    groups; requested ones must be requested again."""
    from apps.identity.services import user_enable_for_rejoiner

    user = scim_user.user
    reactivated = Membership.objects.filter(user=user, is_active=False).update(is_active=True)
    if reactivated:
        audit_event_record(
            action="membership.reactivated",
            target=user,
            details={"via": "scim", "credential": via.token_label},
        )
    if user.disabled_at is not None or not user.is_active:
        user_enable_for_rejoiner(user=user, reason="SCIM: active again in the tenant directory")
    ScimUser.objects.filter(pk=scim_user.pk).update(deprovisioned_at=None)


def scim_user_delete(*, scim_user: ScimUser, via: ScimActor) -> None:
    """Remove the directory entry (after the leaver ran). The account stays, disabled, for
    the audit trail; a later create with the same email links to it again."""
    label = {"userName": scim_user.user_name, "externalId": scim_user.external_id}
    target_id = scim_user.pk
    group_ids = list(
        ScimGroupMember.objects.filter(member=scim_user).values_list("group_id", flat=True)
    )
    scim_user.delete()
    if group_ids:
        ScimGroup.objects.filter(pk__in=group_ids).update(
            version=F("version") + 1, updated_at=timezone.now()
        )
    audit_event_record(
        action="scim.user_deleted",
        target_type="scim.scimuser",
        target_id=target_id,
        before=label,
        details={"via": "scim", "credential": via.token_label},
    )


def scim_users_confirm(*, scim_users: Iterable[ScimUser]) -> None:
    """The IdP looked these users up: they still exist in its directory (stale-access report).
    Written at most once an hour per user, so a full listing does not become a write storm."""
    now = timezone.now()
    due = [u.pk for u in scim_users if u.last_confirmed_at < now - CONFIRM_WRITE_EVERY]
    if due:
        ScimUser.objects.filter(pk__in=due).update(last_confirmed_at=now)


# --- Groups -------------------------------------------------------------------------------------
def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _members_resolve(values: Iterable[Any]) -> dict[uuid.UUID, ScimUser]:
    wanted: dict[uuid.UUID, str] = {}
    for value in values:
        parsed = _uuid_or_none(value)
        if parsed is None:
            raise invalid_value(_("%(value)s is not a user of this directory.") % {"value": value})
        wanted[parsed] = str(value)
    found = {u.scim_id: u for u in ScimUser.objects.filter(scim_id__in=list(wanted))}
    missing = [text for key, text in wanted.items() if key not in found]
    if missing:
        raise invalid_value(
            _("%(value)s is not a user of this directory.") % {"value": ", ".join(missing[:5])}
        )
    return found


def member_values(items: Any) -> list[str]:
    if items is None:
        return []
    if not isinstance(items, list):
        items = [items]
    values = []
    for item in items:
        if isinstance(item, dict):
            lowered = {str(k).lower(): v for k, v in item.items()}
            if lowered.get("type") not in (None, "User", "user"):
                raise invalid_value(_("Only users can be group members."))
            if "value" not in lowered:
                raise invalid_value(_("A member needs a value (the user's id)."))
            values.append(str(lowered["value"]))
        elif isinstance(item, str):
            values.append(item)
        else:
            raise invalid_value(_("members must be a list of objects."))
    return values


def _display_name_check(display_name: Any, exclude_pk: int | None = None) -> str:
    if not isinstance(display_name, str) or not display_name.strip():
        raise invalid_value(_("displayName is required."))
    display_name = display_name.strip()
    if len(display_name) > 200:
        raise invalid_value(_("displayName is longer than 200 characters."))
    qs = ScimGroup.objects.filter(display_name__lower=display_name.lower())
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    if qs.exists():
        raise uniqueness(_("A group named %(name)s exists already.") % {"name": display_name})
    return display_name


def _external_id(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 255:
        raise invalid_value(_("externalId must be a string of at most 255 characters."))
    return value.strip()


@dataclass
class MembershipChange:
    added: set[int]  # ScimUser pks
    removed: set[int]

    @property
    def affected(self) -> set[int]:
        return self.added | self.removed


def _members_set(group: ScimGroup, desired: set[int]) -> MembershipChange:
    current = set(ScimGroupMember.objects.filter(group=group).values_list("member_id", flat=True))
    added, removed = desired - current, current - desired
    if removed:
        ScimGroupMember.objects.filter(group=group, member_id__in=removed).delete()
    if added:
        ScimGroupMember.objects.bulk_create(
            [ScimGroupMember(tenant_id=group.tenant_id, group=group, member_id=m) for m in added]
        )
    return MembershipChange(added=added, removed=removed)


def scim_group_create(
    *, tenant: Tenant, display_name: Any, external_id: Any, members: Any, via: ScimActor
) -> tuple[ScimGroup, MembershipChange]:
    name = _display_name_check(display_name)
    resolved = _members_resolve(member_values(members))
    now = timezone.now()
    try:
        with transaction.atomic():
            group = ScimGroup.objects.create(
                tenant=tenant,
                display_name=name,
                external_id=_external_id(external_id),
                created_at=now,
                updated_at=now,
            )
    except IntegrityError as exc:
        raise uniqueness(_("A group named %(name)s exists already.") % {"name": name}) from exc
    change = _members_set(group, {u.pk for u in resolved.values()})
    _audit(
        "scim.group_created",
        via,
        group,
        after={"displayName": name, "members": len(change.added)},
    )
    return group, change


def _bump(group: ScimGroup, expected_version: int | None, **fields: Any) -> None:
    qs = ScimGroup.objects.filter(pk=group.pk)
    if expected_version is not None:
        qs = qs.filter(version=expected_version)
    if not qs.update(version=F("version") + 1, updated_at=timezone.now(), **fields):
        raise ScimError(412, _("The group was changed by somebody else; fetch it again."))
    group.refresh_from_db()


def scim_group_replace(
    *,
    group: ScimGroup,
    display_name: Any,
    external_id: Any,
    members: Any,
    via: ScimActor,
    expected_version: int | None = None,
) -> MembershipChange:
    name = _display_name_check(display_name, exclude_pk=group.pk)
    resolved = _members_resolve(member_values(members))
    change = _members_set(group, {u.pk for u in resolved.values()})
    _bump(group, expected_version, display_name=name, external_id=_external_id(external_id))
    _audit(
        "scim.group_replaced",
        via,
        group,
        after={
            "displayName": name,
            "members_added": len(change.added),
            "members_removed": len(change.removed),
        },
    )
    return change


def scim_group_patch(
    *,
    group: ScimGroup,
    operations: list[dict[str, Any]],
    via: ScimActor,
    expected_version: int | None = None,
) -> MembershipChange:
    """PATCH on a group, applied as set operations on the member table (a group of 10,000
    members is never loaded as a JSON document). Supports the forms Entra ID and Okta send:
    add/replace/remove on `members` (value lists), `members[value eq "…"]`, and no-path
    replaces of `displayName`/`externalId`/`members`."""
    from apps.identity.scim.filters import normalise_attr

    current = set(ScimGroupMember.objects.filter(group=group).values_list("member_id", flat=True))
    members = set(current)
    scim_ids: dict[int, str] | None = None
    fields: dict[str, Any] = {}

    def ids_of(values: Any) -> set[int]:
        return {u.pk for u in _members_resolve(member_values(values)).values()}

    def filtered(node: Any) -> set[int]:
        nonlocal scim_ids
        if scim_ids is None:
            scim_ids = dict(ScimUser.objects.filter(pk__in=members).values_list("pk", "scim_id"))
        return {
            pk
            for pk in members
            if pk in scim_ids and matches(node, {"value": str(scim_ids[pk]), "type": "User"})
        }

    def apply(op: str, attr: str, value_filter: Any, value: Any) -> None:
        nonlocal members
        if attr == "members":
            if value_filter is not None:
                if op != "remove":
                    raise ScimError(
                        400,
                        _("Members are added with a value list, not a filter."),
                        scim_type="invalidPath",
                    )
                members -= filtered(value_filter)
            elif op == "add":
                members |= ids_of(value)
            elif op == "replace":
                members = ids_of(value)
            elif value:  # Entra ID: remove with a value list
                members -= ids_of(value)
            else:
                members = set()
        elif attr == "displayname":
            if op == "remove":
                raise ScimError(400, _("displayName is required."), scim_type="mutability")
            fields["display_name"] = _display_name_check(value, exclude_pk=group.pk)
        elif attr == "externalid":
            fields["external_id"] = "" if op == "remove" else _external_id(value)
        elif attr in ("id", "meta"):
            raise ScimError(
                400, _("%(attr)s cannot be changed.") % {"attr": attr}, scim_type="mutability"
            )
        else:
            raise ScimError(
                400, _("Unknown attribute %(path)s.") % {"path": attr}, scim_type="invalidPath"
            )

    from apps.identity.scim.filters import parse_path

    for operation in operations:
        op, path, value = operation["op"], operation["path"], operation["value"]
        if path:
            parsed = parse_path(path)
            if parsed.sub_attr:
                raise ScimError(
                    400,
                    _("The PATCH path %(path)s is not valid.") % {"path": path},
                    scim_type="invalidPath",
                )
            apply(op, parsed.attr, parsed.value_filter, value)
            continue
        if op == "remove":
            raise ScimError(400, _("remove needs a path."), scim_type="noTarget")
        if not isinstance(value, dict):
            raise invalid_value(_("Without a path, the value must be an object."))
        for key, item in value.items():
            attr = normalise_attr(str(key))
            if attr in ("id", "meta", "schemas"):
                continue
            apply(op, attr, None, item)
    change = _members_set(group, members) if members != current else MembershipChange(set(), set())
    _bump(group, expected_version, **fields)
    _audit(
        "scim.group_patched",
        via,
        group,
        after={
            **fields,
            "members_added": len(change.added),
            "members_removed": len(change.removed),
        },
    )
    return change


def scim_group_delete(
    *, group: ScimGroup, via: ScimActor, expected_version: int | None = None
) -> set[int]:
    if expected_version is not None and group.version != expected_version:
        raise ScimError(412, _("The group was changed by somebody else; fetch it again."))
    members = set(ScimGroupMember.objects.filter(group=group).values_list("member_id", flat=True))
    label = {"displayName": group.display_name}
    target_id = group.pk
    group.delete()
    audit_event_record(
        action="scim.group_deleted",
        target_type="scim.scimgroup",
        target_id=target_id,
        before=label,
        details={"via": "scim", "credential": via.token_label, "members": len(members)},
    )
    return members


# --- Role mappings (portal) ---------------------------------------------------------------------
@transaction.atomic
def group_role_mapping_create(
    *, actor: Any, tenant: Tenant, group: ScimGroup, role_key: str
) -> ScimGroupRoleMapping:
    _require_admin(actor=actor, tenant=tenant)
    role_key = (role_key or "").strip()
    if not role_key:
        raise DomainError(_("Choose a role."))
    with tenant_context(tenant):
        if ScimGroupRoleMapping.objects.filter(group=group, role_key=role_key).exists():
            raise DomainError(_("This group is mapped to this role already."))
        mapping = ScimGroupRoleMapping.objects.create(
            tenant=tenant, group=group, role_key=role_key, created_by=actor
        )
        audit_event_record(
            action="scim.group_mapping_created",
            actor=actor,
            target=mapping,
            after={"group": group.display_name, "role": role_key},
        )
    return mapping


@transaction.atomic
def group_role_mapping_delete(*, actor: Any, mapping: ScimGroupRoleMapping) -> None:
    _require_admin(actor=actor, tenant=mapping.tenant)
    with tenant_context(mapping.tenant):
        audit_event_record(
            action="scim.group_mapping_deleted",
            actor=actor,
            target=mapping,
            before={"group": str(mapping.group), "role": mapping.role_key},
        )
        mapping.delete()


def filter_check(text: str) -> None:
    """Parse only (used by tests and the portal's help)."""
    parse_filter(text)
