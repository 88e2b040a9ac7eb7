"""Django admin for operators. Counters (`used`) and seats change only through the services
(allocation, release, reserve draw), so they are read-only here; the admin's onboarding path
is the "Onboard now" action on provisioning jobs, which runs the joiner."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.core.admin_base import ReadOnlyAdmin, TenantOwnedAdmin
from apps.core.exceptions import DomainError
from apps.core.tenancy import unscoped
from apps.licenses.models import (
    IdempotencyRecord,
    KnownDevice,
    LicenseAlert,
    LicensePool,
    OnboardingImport,
    OnboardingPolicy,
    Product,
    ProvisioningJob,
    Seat,
    SignupCase,
    WaitingListEntry,
)


@admin.register(Product)
class ProductAdmin(TenantOwnedAdmin):
    list_display = ("name", "key", "tenant", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "key", "tenant__name")


@admin.register(LicensePool)
class LicensePoolAdmin(TenantOwnedAdmin):
    list_display = (
        "name", "tenant", "product", "location", "used", "capacity", "utilisation_cap_percent",
        "hard_stop", "is_reserve", "closed_at",
    )  # fmt: skip
    list_filter = ("is_reserve", "hard_stop", "region")
    list_select_related = ("tenant", "product")  # type: ignore[assignment]
    search_fields = ("name", "location", "tenant__name", "product__key")
    readonly_fields = ("used",)


@admin.register(Seat)
class SeatAdmin(TenantOwnedAdmin, ReadOnlyAdmin):
    list_display = ("user", "tenant", "pool", "source", "allocated_at", "released_at")
    list_select_related = ("tenant", "pool", "user")  # type: ignore[assignment]
    list_filter = ("source",)
    search_fields = ("user__email", "tenant__name", "pool__name")


@admin.register(WaitingListEntry)
class WaitingListEntryAdmin(TenantOwnedAdmin, ReadOnlyAdmin):
    list_display = ("user", "tenant", "pool", "priority", "status", "requested_at")
    list_select_related = ("tenant", "pool", "user")  # type: ignore[assignment]
    list_filter = ("status",)


@admin.register(LicenseAlert)
class LicenseAlertAdmin(TenantOwnedAdmin, ReadOnlyAdmin):
    list_display = ("raised_at", "tenant", "kind", "message", "resolved_at", "notified_at")
    list_filter = ("kind",)


@admin.register(OnboardingPolicy)
class OnboardingPolicyAdmin(TenantOwnedAdmin):
    list_display = (
        "tenant", "rate_per_second", "burst", "queue_alert_threshold", "review_sla_hours",
        "daily_signups_tighten_at", "reject_disposable_email",
    )  # fmt: skip


@admin.register(ProvisioningJob)
class ProvisioningJobAdmin(TenantOwnedAdmin):
    list_display = ("created_at", "tenant", "source", "status", "attempts", "last_error")
    list_filter = ("status", "source")
    search_fields = ("tenant__name", "last_error")
    readonly_fields = ("status", "attempts", "last_error", "user", "finished_at", "lease_until")
    actions = ("onboard_now",)

    @admin.action(description=_("Onboard now (run the joiner)"))
    def onboard_now(self, request: HttpRequest, queryset: Any) -> None:
        from apps.licenses.services.provisioning import job_finish, job_retry_or_fail
        from apps.lifecycle.joiner import JoinerRequest, joiner_run

        done = 0
        with unscoped(reason="admin action: onboard queued jobs"):
            jobs = list(queryset.filter(status__in=("pending", "failed")).select_related("tenant"))
        for job in jobs:
            try:
                result = joiner_run(
                    actor=request.user,
                    tenant=job.tenant,
                    request=JoinerRequest.from_payload(job.payload),
                    source=job.source,
                    idempotency_key=job.idempotency_key,
                )
            except DomainError as exc:
                job_retry_or_fail(job=job, error=exc.message, transient=False)
                self.message_user(request, f"{job}: {exc.message}", messages.ERROR)
                continue
            job_finish(job=job, user=result.user)
            done += 1
        self.message_user(request, _("%(n)d people onboarded.") % {"n": done}, messages.SUCCESS)


@admin.register(OnboardingImport)
class OnboardingImportAdmin(TenantOwnedAdmin, ReadOnlyAdmin):
    list_display = (
        "filename", "tenant", "status", "total_rows", "created_count", "failed_count",
        "created_at",
    )  # fmt: skip
    list_filter = ("status",)
    exclude = ("source", "result")


@admin.register(SignupCase)
class SignupCaseAdmin(TenantOwnedAdmin, ReadOnlyAdmin):
    list_display = ("created_at", "tenant", "email", "score", "decision", "due_at")
    list_filter = ("decision", "tightened")
    search_fields = ("email", "ip", "tenant__name")


@admin.register(KnownDevice)
class KnownDeviceAdmin(TenantOwnedAdmin, ReadOnlyAdmin):
    list_display = ("fingerprint_hash", "tenant", "first_seen_at", "last_seen_at")


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(TenantOwnedAdmin, ReadOnlyAdmin):
    list_display = ("created_at", "tenant", "scope", "key", "state", "response_status")
    list_filter = ("state",)
