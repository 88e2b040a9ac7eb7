"""Localised emails of the licences app (sent after commit; a failure is logged, never raised)."""

from __future__ import annotations

import atexit
import logging
import threading
import time
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
    broker that cannot take the message loses only the mail (logged), never the onboarding.

    One Celery message per transaction by default. With LICENSES_WELCOME_BUFFER_SIZE > 1 the
    committed welcomes wait in a per-process buffer and go out as ONE message when it holds
    that many people, or at most LICENSES_WELCOME_MAX_AGE_SECONDS after the first (publishing
    costs about as much CPU as a small onboarding statement; a busy API then pays it once per
    buffer). A crashed process loses at most one buffer of welcome mails."""
    if not welcomes or conf("LICENSES_NOTIFY") == "off":
        return
    from django.db import transaction

    tenant_id = int(tenant.pk)
    payload = [[user_id, list(products)] for user_id, products in welcomes]
    transaction.on_commit(lambda: _welcome_committed(tenant_id, payload))


_buffer: list[tuple[int, list[list[Any]]]] = []
_buffer_people = 0
_buffer_since = 0.0
_buffer_lock = threading.Lock()


def _welcome_committed(tenant_id: int, payload: list[list[Any]]) -> None:
    global _buffer_people, _buffer_since
    size = int(conf("LICENSES_WELCOME_BUFFER_SIZE"))
    if size <= 1:
        _publish([(tenant_id, payload)])
        return
    now = time.monotonic()
    max_age = float(conf("LICENSES_WELCOME_MAX_AGE_SECONDS"))
    with _buffer_lock:
        if not _buffer:
            _buffer_since = now
            timer = threading.Timer(max_age, welcome_flush)
            timer.daemon = True
            timer.start()
        _buffer.append((tenant_id, payload))
        _buffer_people += len(payload)
        due = _buffer_people >= size or now - _buffer_since >= max_age
        batch = _buffer[:] if due else []
        if due:
            _buffer.clear()
            _buffer_people = 0
    if batch:
        _publish(batch)


def welcome_flush() -> int:
    """Publish the buffered welcomes now (timer, process exit, tests). Returns the people."""
    global _buffer_people
    with _buffer_lock:
        batch = _buffer[:]
        _buffer.clear()
        _buffer_people = 0
    _publish(batch)
    return sum(len(payload) for _tenant_id, payload in batch)


def _publish(batch: list[tuple[int, list[list[Any]]]]) -> None:
    if not batch:
        return
    from apps.licenses.tasks import welcome_notify_task, welcomes_notify_task

    people = sum(len(payload) for _tenant_id, payload in batch)
    by_tenant: dict[int, list[list[Any]]] = {}
    for tenant_id, payload in batch:
        by_tenant.setdefault(tenant_id, []).extend(payload)
    try:
        if len(by_tenant) == 1:
            ((tenant_id, welcomes),) = by_tenant.items()
            welcome_notify_task.delay(tenant_id, welcomes)
        else:
            welcomes_notify_task.delay([[t, w] for t, w in by_tenant.items()])
    except Exception:
        logger.warning("could not queue %d welcome mail(s)", people)


atexit.register(welcome_flush)


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
