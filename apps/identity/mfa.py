"""MFA policy: who must use a second factor."""

from __future__ import annotations

from typing import Any

from apps.tenants.selectors import user_is_admin_anywhere


def mfa_required_for(user: Any) -> bool:
    """Customer admins (and delegated admins), every vendor staff member (support, reviewers,
    security, compliance) and Django-admin operators must use MFA."""
    if not user.is_authenticated:
        return False
    if user.is_vendor_staff or user.is_staff or user.is_superuser:
        return True
    return user_is_admin_anywhere(user=user)
