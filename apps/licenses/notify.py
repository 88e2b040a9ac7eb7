"""Localised emails of the licences app (sent after commit; a failure is logged, never raised)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone, translation

from apps.core.tenancy import tenant_context
from apps.licenses.conf import conf

logger = logging.getLogger("custos.licenses")


def mail_send(*, to: list[str], language: str, template: str, context: dict[str, Any]) -> bool:
    if not to or conf("LICENSES_NOTIFY") == "off":
        return False
    languages = {code for code, _ in settings.LANGUAGES}
    with translation.override(language if language in languages else settings.LANGUAGE_CODE):
        subject = render_to_string(f"licenses/email/{template}_subject.txt", context)
        body = render_to_string(f"licenses/email/{template}.txt", context)
    try:
        send_mail(" ".join(subject.split()), body, None, to)
    except Exception:
        logger.warning("could not send %s mail to %d recipient(s)", template, len(to))
        return False
    return True


def _admins(tenant: Any) -> list[Any]:
    from apps.tenants.models import ADMIN_ROLES, Membership

    with tenant_context(tenant):
        return [
            m.user
            for m in Membership.objects.filter(role__in=ADMIN_ROLES, is_active=True).select_related(
                "user"
            )
            if m.user.is_active
        ]


def alert_notify(*, alert_id: int, tenant_id: int) -> None:
    from apps.licenses.models import LicenseAlert
    from apps.tenants.models import Tenant

    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return
    with tenant_context(tenant):
        alert = LicenseAlert.objects.filter(pk=alert_id, notified_at__isnull=True).first()
        if alert is None:
            return
        for admin in _admins(tenant):
            mail_send(
                to=[admin.email],
                language=admin.language or "en",
                template="alert",
                context={"tenant": tenant, "alert": alert, "user": admin},
            )
        LicenseAlert.objects.filter(pk=alert_id).update(notified_at=timezone.now())


def welcome_notify(*, tenant: Any, user: Any, products: list[str]) -> None:
    mail_send(
        to=[user.email],
        language=user.language or "en",
        template="welcome",
        context={"tenant": tenant, "user": user, "products": products},
    )


def welcome_queue(*, tenant: Any, welcomes: list[tuple[int, list[str]]]) -> None:
    """Queue welcome mails (user id, product names) for when the current transaction commits:
    the request never renders or sends mail itself. Nothing is queued when mails are off; a
    broker that cannot take the message loses only the mail (logged), never the onboarding."""
    if not welcomes or conf("LICENSES_NOTIFY") == "off":
        return
    from django.db import transaction

    tenant_id = tenant.pk
    payload = [[user_id, list(products)] for user_id, products in welcomes]

    def send() -> None:
        from apps.licenses.tasks import welcome_notify_task

        try:
            welcome_notify_task.delay(tenant_id, payload)
        except Exception:
            logger.warning("could not queue %d welcome mail(s)", len(payload))

    transaction.on_commit(send)


def welcome_send_many(*, tenant_id: int, welcomes: list[list[Any]]) -> int:
    """The queued side of `welcome_queue` (the Celery task calls this)."""
    from apps.identity.models import User
    from apps.tenants.models import Tenant

    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return 0
    users = User.objects.in_bulk([int(user_id) for user_id, _products in welcomes])
    sent = 0
    for user_id, products in welcomes:
        user = users.get(int(user_id))
        if user is not None and user.is_active:
            welcome_notify(tenant=tenant, user=user, products=list(products))
            sent += 1
    return sent
