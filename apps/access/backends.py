"""Django's permission API over grants: `user.has_perm("access.<level>_environment", env)`.

Answers from the policy engine's RBAC part (active grants only: revoked, suspended, expired and
not-yet-started grants give nothing, checked against the clock at every call), so the answer
changes the moment a grant expires or is revoked. Object permissions only; for model-level
permissions the ModelBackend stays in charge.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from apps.access import engine

PERMISSIONS = {
    "access.read_environment": "read",
    "access.write_environment": "write",
    "access.admin_environment": "admin",
    "access.export_environment": "export",
    "access.operate_environment": "operate",
}


class GrantPermissionBackend:
    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        action = PERMISSIONS.get(perm)
        if action is None or obj is None:
            return False  # not ours: other backends answer
        if obj._meta.label != "tenants.Environment" or not getattr(user_obj, "is_active", False):
            raise PermissionDenied
        try:
            allowed = engine.rbac_allows(user_obj, action, obj)
        except engine.EngineInputError:
            allowed = False
        if not allowed:
            # Final answer for our permissions (Django stops asking further backends).
            raise PermissionDenied
        return True

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if obj is None:
            return set()
        found = set()
        for perm in PERMISSIONS:
            try:
                if self.has_perm(user_obj, perm, obj):
                    found.add(perm)
            except PermissionDenied:
                continue
        return found
