"""The ticketing system's signed webhook (/webhooks/tickets/<tenant>/): no session, no CSRF,
authenticated by the HMAC signature alone. Answers JSON."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core.exceptions import DomainError
from apps.requests.services.tickets import ticket_webhook_receive
from apps.tenants.models import Tenant

MAX_BODY = 64 * 1024


@csrf_exempt
@require_POST
def ticket_webhook(request: HttpRequest, slug: str) -> JsonResponse:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        return JsonResponse(
            {"error": {"code": "bad_signature", "message": "The signature does not match."}},
            status=401,
        )
    body = request.body
    if len(body) > MAX_BODY:
        return JsonResponse(
            {"error": {"code": "payload_too_large", "message": "Too large."}}, status=413
        )
    try:
        result = ticket_webhook_receive(
            tenant=tenant,
            body=body,
            delivery_id=request.headers.get("X-Custos-Delivery", ""),
            timestamp=request.headers.get("X-Custos-Timestamp", ""),
            signature=request.headers.get("X-Custos-Signature", ""),
        )
    except DomainError as exc:
        return JsonResponse(
            {"error": {"code": exc.code, "message": str(exc.message)}}, status=exc.status_code
        )
    return JsonResponse(
        {"ticket": result.ticket_ref, "status": result.status, "access_ended": result.ended}
    )
