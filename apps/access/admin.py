"""Operators' admin for the access model. Grants and rule versions are read-mostly here: grants
are created through `grant_create` (portal, API, requests) so the standing-access and SoD
rules can never be skipped, and revocation is an admin action that calls `grant_revoke`.
Catalog edits bump the tenant's policy version so the engine's cache never serves stale data.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.access.models import (
    ComplianceAttestation,
    Entitlement,
    Grant,
    PolicyException,
    PolicyRule,
    PolicyVersion,
    ProvisioningTemplate,
    Role,
    RoleEntitlement,
    RoleTemplate,
    ServiceAccount,
    SodRule,
    StandingAccessPolicy,
)
from apps.core.admin_base import AuditedModelAdmin, ReadOnlyAdmin, TenantOwnedAdmin
from apps.core.exceptions import DomainError
from apps.core.tenancy import unscoped


class PolicyBumpAdmin(TenantOwnedAdmin):
    """Every change made here invalidates the tenant's compiled policy."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        from apps.access.services import policy_version_bump

        with transaction.atomic():
            super().save_model(request, obj, form, change)
            with unscoped(reason="admin: bump the policy version of the row's tenant"):
                policy_version_bump(tenant=obj.tenant_id)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        from apps.access.services import policy_version_bump

        with unscoped(reason="admin: save related rows"), transaction.atomic():
            super().save_related(request, form, formsets, change)
            policy_version_bump(tenant=form.instance.tenant_id)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        from apps.access.services import policy_version_bump

        tenant_id = obj.tenant_id
        with transaction.atomic():
            super().delete_model(request, obj)
            with unscoped(reason="admin: bump the policy version of the row's tenant"):
                policy_version_bump(tenant=tenant_id)


class RoleEntitlementInline(admin.TabularInline):
    model = RoleEntitlement
    extra = 0
    raw_id_fields = ("entitlement",)
    fields = ("entitlement",)


@admin.register(Entitlement)
class EntitlementAdmin(PolicyBumpAdmin):
    list_display = ("name", "tenant", "environment", "level", "risk")
    list_filter = ("level", "risk")
    search_fields = ("name", "tenant__name", "environment__name")
    raw_id_fields = ("environment",)


@admin.register(RoleTemplate)
class RoleTemplateAdmin(AuditedModelAdmin):
    list_display = ("key", "name", "risk", "is_vendor_internal")
    search_fields = ("key", "name")


@admin.register(Role)
class RoleAdmin(PolicyBumpAdmin):
    list_display = ("name", "key", "tenant", "template", "is_vendor_internal")
    list_filter = ("is_vendor_internal",)
    search_fields = ("name", "key", "tenant__name")
    raw_id_fields = ("template",)
    inlines = (RoleEntitlementInline,)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            obj.delete()
        for instance in instances:
            instance.tenant_id = form.instance.tenant_id
            instance.save()
        formset.save_m2m()


@admin.register(ProvisioningTemplate)
class ProvisioningTemplateAdmin(PolicyBumpAdmin):
    list_display = ("name", "tenant", "priority", "active")
    list_filter = ("active",)
    search_fields = ("name", "tenant__name")
    filter_horizontal = ("roles",)


@admin.register(ServiceAccount)
class ServiceAccountAdmin(PolicyBumpAdmin):
    list_display = ("name", "tenant", "owner", "active")
    list_filter = ("active",)
    search_fields = ("name", "tenant__name")
    raw_id_fields = ("owner",)


@admin.action(description=_("Revoke the selected grants"))
def revoke_grants(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Grant]) -> None:
    from apps.access.services import grant_revoke

    count = 0
    with unscoped(reason="admin action: operator revokes grants"):
        for grant in queryset.select_related("tenant"):
            try:
                grant_revoke(actor=request.user, grant=grant, reason="revoked by an operator")
            except DomainError as exc:
                modeladmin.message_user(request, exc.message, messages.ERROR)
                continue
            count += 1
    modeladmin.message_user(request, _("%(count)d grant(s) revoked.") % {"count": count})


@admin.register(Grant)
class GrantAdmin(TenantOwnedAdmin):
    list_display = (
        "id",
        "tenant",
        "user",
        "service_account",
        "api_key",
        "entitlement",
        "role",
        "source",
        "starts_at",
        "expires_at",
        "revoked_at",
        "suspended_at",
    )
    list_filter = ("source",)
    search_fields = ("user__email", "tenant__name", "ticket_ref", "approval_ref", "mapping_key")
    list_select_related = (  # type: ignore[assignment]
        "tenant",
        "user",
        "service_account",
        "api_key",
        "entitlement",
        "role",
    )
    date_hierarchy = "created_at"
    actions = (revoke_grants,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StandingAccessPolicy)
class StandingAccessPolicyAdmin(PolicyBumpAdmin):
    list_display = ("tenant", "risk_level", "time_bound_required", "max_duration")
    list_filter = ("risk_level", "time_bound_required")


@admin.register(PolicyRule)
class PolicyRuleAdmin(ReadOnlyAdmin, TenantOwnedAdmin):
    """Rule versions are immutable: edits go through `policy_rule_save` (portal)."""

    list_display = ("key", "version", "is_current", "tenant", "effect", "enabled", "created_at")
    list_filter = ("is_current", "effect", "enabled")
    search_fields = ("key", "name", "tenant__name")


@admin.register(SodRule)
class SodRuleAdmin(PolicyBumpAdmin):
    list_display = ("key", "name", "tenant", "mode", "threshold", "enabled")
    list_filter = ("mode", "enabled")
    search_fields = ("key", "name", "tenant__name")
    filter_horizontal = ("entitlements", "roles")


@admin.register(PolicyException)
class PolicyExceptionAdmin(PolicyBumpAdmin):
    list_display = ("rule_key", "tenant", "user", "environment", "expires_at", "revoked_at")
    search_fields = ("rule_key", "tenant__name", "user__email")
    raw_id_fields = ("user", "environment", "approved_by")


class ComplianceAttestationAdminForm(forms.ModelForm):
    """Shows the refusals of `attestation_validate` as form errors (the service decides)."""

    class Meta:
        model = ComplianceAttestation
        fields = ("tenant", "user", "flag", "expires_at", "evidence")

    def clean(self) -> dict[str, Any]:
        from apps.access.services import attestation_validate

        data = super().clean() or {}
        tenant = data.get("tenant") or getattr(self.instance, "tenant", None)
        user = data.get("user") or getattr(self.instance, "user", None)
        flag = str(data.get("flag") or getattr(self.instance, "flag", "") or "")
        if tenant is None or self.errors:
            return data
        try:
            attestation_validate(
                tenant=tenant,
                user=user,
                flag=flag,
                expires_at=data.get("expires_at"),
                evidence=data.get("evidence") or "",
            )
        except DomainError as exc:
            field = {"flag": "flag", "expires": "expires_at", "not_member": "user"}.get(exc.code)
            if field is not None and field not in self.fields:
                field = None
            self.add_error(field, exc.message)
        return data


@admin.action(description=_("Revoke the selected attestations"))
def revoke_attestations(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[ComplianceAttestation]
) -> None:
    from apps.access.services import attestation_revoke

    count = 0
    with unscoped(reason="admin action: operator revokes compliance attestations"):
        for attestation in queryset.filter(revoked_at__isnull=True).select_related("tenant"):
            attestation_revoke(
                actor=request.user, attestation=attestation, reason="revoked by an operator"
            )
            count += 1
    modeladmin.message_user(request, _("%(count)d attestation(s) revoked.") % {"count": count})


@admin.register(ComplianceAttestation)
class ComplianceAttestationAdmin(TenantOwnedAdmin):
    """Record/renew and revoke through apps.access.services (audited, policy version bumped).
    Rows are never deleted: revoking keeps them as history. On an existing row only the expiry
    and the evidence can change (that is a renewal); person, flag and tenant are fixed."""

    form = ComplianceAttestationAdminForm
    list_display = ("user", "flag", "tenant", "attested_at", "expires_at", "revoked_at")
    list_filter = ("flag",)
    search_fields = ("user__email", "tenant__name", "evidence")
    raw_id_fields = ("user",)
    list_select_related = ("tenant", "user")  # type: ignore[assignment]
    actions = (revoke_attestations,)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("attested_at", "recorded_by", "revoked_at", "revoked_by", "revoke_reason")
        return (
            "tenant",
            "user",
            "flag",
            "attested_at",
            "recorded_by",
            "revoked_at",
            "revoked_by",
            "revoke_reason",
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.revoked_at is not None:
            return False  # history
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead (the action), so the history stays

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        from apps.access.services import attestation_record

        with unscoped(reason="admin: operator records a compliance attestation"):
            saved = attestation_record(
                actor=request.user,
                tenant=obj.tenant,
                user=obj.user,
                flag=obj.flag,
                expires_at=obj.expires_at,
                evidence=obj.evidence,
            )
            obj.pk = saved.pk
            obj.refresh_from_db()


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyAdmin, TenantOwnedAdmin):
    list_display = ("tenant", "counter", "changed_at")
