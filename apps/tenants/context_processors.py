from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from apps.core import navigation


def portal(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": {"tenant": [], "staff": [], "account": []}, "LANGUAGES": settings.LANGUAGES}
    from apps.tenants.selectors import membership_list_for_user

    return {
        "nav": navigation.entries_for(request),
        "my_memberships": membership_list_for_user(user=user),
        "current_tenant": getattr(request, "tenant", None),
        "current_membership": getattr(request, "membership", None),
    }
