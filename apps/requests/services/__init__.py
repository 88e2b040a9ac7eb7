"""Every write of the requests app (STYLE.md: services take the acting user, check permission,
audit in the same transaction, queue side effects on commit)."""

from apps.requests.services.decide import (
    access_request_decide,
    access_requests_bulk_approve,
    finalize_approval,
)
from apps.requests.services.lifecycle import (
    access_request_cancel,
    access_request_extend_initial,
    access_request_relinquish,
    access_request_revoke,
    break_glass_activate,
    break_glass_review,
    can_decide_for_tenant,
    delegate_create,
    delegate_end,
)
from apps.requests.services.submit import access_request_submit, justification_problem
from apps.requests.services.sweep import requests_sweep
from apps.requests.services.tickets import ticket_secret_rotate, ticket_webhook_receive

__all__ = [
    "access_request_cancel",
    "access_request_decide",
    "access_request_extend_initial",
    "access_request_relinquish",
    "access_request_revoke",
    "access_request_submit",
    "access_requests_bulk_approve",
    "break_glass_activate",
    "break_glass_review",
    "can_decide_for_tenant",
    "delegate_create",
    "delegate_end",
    "finalize_approval",
    "justification_problem",
    "requests_sweep",
    "ticket_secret_rotate",
    "ticket_webhook_receive",
]
