"""Django admin: revocation confirmations, read-only (they are evidence)."""

from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin
from apps.lifecycle.models import RevocationConfirmation


@admin.register(RevocationConfirmation)
class RevocationConfirmationAdmin(ReadOnlyAdmin):
    list_display = (
        "subject_label",
        "tenant",
        "trigger",
        "grants_revoked",
        "api_keys_revoked",
        "seats_reclaimed",
        "account_disabled",
        "confirmed_at",
        "audit_seq",
    )
    list_filter = ("trigger",)
    search_fields = ("subject_label", "reason", "tenant__name")
    list_select_related = ("tenant",)
    date_hierarchy = "confirmed_at"

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        from apps.core.tenancy import unscoped

        with unscoped(reason="Django admin list for operators"):
            return super().get_queryset(request)
