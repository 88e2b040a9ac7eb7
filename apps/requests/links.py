"""Signed approval links for notification emails. A link names the request, the step and the
approver; it still needs that approver's signed-in session with MFA, and it works once (the
decision is unique per step and approver)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.urls import reverse

SALT = "custos.requests.approval-link"
MAX_AGE_SECONDS = 72 * 3600


@dataclass(frozen=True)
class LinkClaim:
    request_id: int
    step_id: int
    approver_id: int
    tenant_id: int


def approval_link_token(*, request_id: int, step_id: int, approver_id: int, tenant_id: int) -> str:
    return signing.dumps(
        {"r": request_id, "s": step_id, "u": approver_id, "t": tenant_id}, salt=SALT, compress=True
    )


def approval_link_read(token: str) -> LinkClaim | None:
    try:
        data: dict[str, Any] = signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
        return LinkClaim(int(data["r"]), int(data["s"]), int(data["u"]), int(data["t"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def approval_link_url(*, req: Any, step: Any, approver: Any) -> str:
    token = approval_link_token(
        request_id=req.pk, step_id=step.pk, approver_id=approver.pk, tenant_id=req.tenant_id
    )
    if getattr(approver, "is_vendor_staff", False):
        return reverse("staff_requests:link", kwargs={"token": token})
    return reverse("requests:link", kwargs={"tenant_slug": req.tenant.slug, "token": token})
