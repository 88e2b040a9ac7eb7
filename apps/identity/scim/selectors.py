"""Reads of the SCIM directory (lists for the protocol, pages for the portal)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from apps.identity.scim.filters import Field, FieldMap, filter_to_q
from apps.identity.scim.models import (
    ScimGroup,
    ScimGroupMember,
    ScimGroupRoleMapping,
    ScimSettings,
    ScimToken,
    ScimUser,
)
from apps.tenants.models import Tenant

USER_FIELDS: FieldMap = {
    "id": Field("scim_id", "uuid"),
    "username": Field("user_name", "ci_indexed"),
    "externalid": Field("external_id", "exact"),
    "displayname": Field("display_name"),
    "active": Field("active", "bool"),
    "emails": Field("email", "lower_stored"),
    "emails.value": Field("email", "lower_stored"),
    "name.givenname": Field("attributes__name__givenName", nullable=True),
    "name.familyname": Field("attributes__name__familyName", nullable=True),
    "name.formatted": Field("attributes__name__formatted", nullable=True),
    "title": Field("attributes__title", nullable=True),
    "meta.lastmodified": Field("updated_at", "datetime"),
    "meta.created": Field("created_at", "datetime"),
}
GROUP_FIELDS: FieldMap = {
    "id": Field("scim_id", "uuid"),
    "displayname": Field("display_name", "ci_indexed"),
    "externalid": Field("external_id", "exact"),
    "members": Field("memberships__member__scim_id", "uuid"),
    "members.value": Field("memberships__member__scim_id", "uuid"),
    "meta.lastmodified": Field("updated_at", "datetime"),
    "meta.created": Field("created_at", "datetime"),
}


def scim_user_list(*, filter_text: str = "") -> QuerySet[ScimUser]:
    qs = ScimUser.objects.all()
    if filter_text:
        qs = qs.filter(filter_to_q(filter_text, USER_FIELDS))
    return qs.order_by("created_at", "id")


def scim_group_list(*, filter_text: str = "") -> QuerySet[ScimGroup]:
    qs = ScimGroup.objects.all()
    if filter_text:
        # A members filter joins the member table: keep each group once.
        qs = ScimGroup.objects.filter(
            pk__in=ScimGroup.objects.filter(filter_to_q(filter_text, GROUP_FIELDS)).values("pk")
        )
    return qs.order_by("created_at", "id")


def _uuid_lookup(model: Any, scim_id: str, *, for_update: bool = False) -> Any:
    import uuid

    try:
        key = uuid.UUID(scim_id)
    except ValueError:
        return None
    qs = model.objects.filter(scim_id=key)
    if for_update:
        qs = qs.select_for_update()
    return qs.first()


def scim_user_get(scim_id: str, *, for_update: bool = False) -> ScimUser | None:
    return _uuid_lookup(ScimUser, scim_id, for_update=for_update)


def scim_group_get(scim_id: str, *, for_update: bool = False) -> ScimGroup | None:
    return _uuid_lookup(ScimGroup, scim_id, for_update=for_update)


def groups_by_user(user_pks: list[int]) -> dict[int, list[ScimGroup]]:
    result: dict[int, list[ScimGroup]] = {pk: [] for pk in user_pks}
    rows = ScimGroupMember.objects.filter(member_id__in=user_pks).select_related("group")
    for row in rows.order_by("group__display_name"):
        result[row.member_id].append(row.group)
    return result


def group_members(group: ScimGroup) -> list[ScimUser]:
    return list(
        ScimUser.objects.filter(group_memberships__group=group).order_by("created_at", "id")
    )


def mapped_role_keys_for(scim_user: ScimUser) -> set[str]:
    """The roles the user's groups map to (nothing while the user is inactive)."""
    if not scim_user.active:
        return set()
    return set(
        ScimGroupRoleMapping.objects.filter(group__memberships__member=scim_user).values_list(
            "role_key", flat=True
        )
    )


def scim_settings_for(tenant: Tenant) -> ScimSettings:
    """The tenant's settings, or the defaults (unsaved) when it never changed them."""
    found = ScimSettings.objects.for_tenant(tenant).first()
    return found or ScimSettings(tenant=tenant)


def scim_token_list(*, tenant: Tenant) -> QuerySet[ScimToken]:
    return ScimToken.objects.for_tenant(tenant).select_related("created_by", "replaced_by")


def scim_token_get(*, tenant: Tenant, pk: int) -> ScimToken:
    token = ScimToken.objects.for_tenant(tenant).filter(pk=pk).first()
    if token is None:
        raise Http404
    return token


def stale_users(*, tenant: Tenant, staleness_days: int, limit: int = 500) -> list[ScimUser]:
    """Active directory users the IdP has not confirmed (pushed, changed or looked up) for
    `staleness_days`: their access rests on a directory entry nobody vouches for any more."""
    cutoff = timezone.now() - timedelta(days=staleness_days)
    return list(
        ScimUser.objects.for_tenant(tenant)
        .filter(active=True, last_confirmed_at__lt=cutoff)
        .select_related("user")
        .order_by("last_confirmed_at")[:limit]
    )


def directory_counts(*, tenant: Tenant) -> dict[str, int]:
    users = ScimUser.objects.for_tenant(tenant).aggregate(
        total=Count("id"), active=Count("id", filter=Q(active=True))
    )
    return {
        "users": users["total"] or 0,
        "active": users["active"] or 0,
        "groups": ScimGroup.objects.for_tenant(tenant).count(),
    }


def group_mapping_list(*, tenant: Tenant) -> QuerySet[ScimGroupRoleMapping]:
    return (
        ScimGroupRoleMapping.objects.for_tenant(tenant)
        .select_related("group")
        .order_by("group__display_name", "role_key")
    )


def group_choices(*, tenant: Tenant) -> list[ScimGroup]:
    return list(ScimGroup.objects.for_tenant(tenant).order_by("display_name")[:1000])
