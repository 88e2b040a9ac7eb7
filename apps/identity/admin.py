from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.admin import AuditedModelAdmin, ReadOnlyAdmin
from apps.core.exceptions import DomainError
from apps.identity import services
from apps.identity.forms import ReasonForm
from apps.identity.models import LoginThrottle, User


def _disable(*, actor: Any, user: User, reason: str) -> Any:
    """Vendor staff are offboarded (grants in every tenant, keys, OAuth clients, sessions, and
    the shared credentials they could have seen marked for rotation); others are disabled."""
    if user.is_vendor_staff:
        from apps.lifecycle.leaver import staff_offboard

        return staff_offboard(actor=actor, user=user, reason=reason)
    return services.user_disable(actor=actor, user=user, reason=reason)


@admin.register(User)
class UserAdmin(AuditedModelAdmin, DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "kind", "staff_role", "is_active", "is_staff")
    list_filter = ("kind", "staff_role", "is_active", "is_staff")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (
            gettext_lazy("Profile"),
            {"fields": ("full_name", "kind", "staff_role", "language", "time_zone", "country")},
        ),
        (
            gettext_lazy("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (gettext_lazy("Dates"), {"fields": ("last_login", "date_joined", "disabled_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "full_name", "kind", "password1", "password2"),
            },
        ),
    )
    actions = ["disable_users", "enable_users", "reset_mfa", "sign_out_users"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Disabling must end sessions and be explained: it goes through the actions below.
        if obj is None:
            return super().get_readonly_fields(request, obj)
        return ("is_active", "disabled_at", "last_login", "date_joined")

    def _confirmed(
        self,
        request: HttpRequest,
        queryset: QuerySet[User],
        *,
        action: str,
        title: str,
        apply: Callable[[User, str], Any],
        done: str,
    ) -> TemplateResponse | None:
        """Ask for a reason on an intermediate page, then call the service for each user."""
        form = ReasonForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if form.is_bound and form.is_valid():
            count = 0
            for user in queryset:
                try:
                    apply(user, form.cleaned_data["reason"])
                except DomainError as exc:
                    self.message_user(request, f"{user}: {exc.message}", messages.ERROR)
                else:
                    count += 1
            if count:
                self.message_user(request, done % {"count": count}, messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "queryset": queryset,
            "form": form,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "identity/admin/user_action_confirm.html", context)

    @admin.action(
        description=gettext_lazy("Disable the selected accounts (ends their sessions)"),
        permissions=["change"],
    )
    def disable_users(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        return self._confirmed(
            request,
            queryset,
            action="disable_users",
            title=_("Disable accounts"),
            apply=lambda user, reason: _disable(actor=request.user, user=user, reason=reason),
            done=_("%(count)d account(s) disabled; their sessions have ended."),
        )

    @admin.action(description=gettext_lazy("Enable the selected accounts"), permissions=["change"])
    def enable_users(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        return self._confirmed(
            request,
            queryset,
            action="enable_users",
            title=_("Enable accounts"),
            apply=lambda user, reason: services.user_enable(
                actor=request.user, user=user, reason=reason
            ),
            done=_("%(count)d account(s) enabled."),
        )

    @admin.action(
        description=gettext_lazy("Reset two-step verification (lost device)"),
        permissions=["change"],
    )
    def reset_mfa(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        return self._confirmed(
            request,
            queryset,
            action="reset_mfa",
            title=_("Reset two-step verification"),
            apply=lambda user, reason: services.mfa_reset(
                actor=request.user, user=user, reason=reason
            ),
            done=_("Two-step verification reset for %(count)d account(s)."),
        )

    @admin.action(
        description=gettext_lazy("Sign the selected people out everywhere"), permissions=["change"]
    )
    def sign_out_users(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        return self._confirmed(
            request,
            queryset,
            action="sign_out_users",
            title=_("Sign out everywhere"),
            apply=lambda user, reason: services.user_sign_out_everywhere(
                actor=request.user, user=user, reason=reason
            ),
            done=_("%(count)d account(s) signed out everywhere."),
        )


@admin.register(LoginThrottle)
class LoginThrottleAdmin(ReadOnlyAdmin):
    list_display = ("key", "failures", "locked_until", "last_failure_at", "last_success_at")
