"""`Idempotency-Key` for API writes (the Stripe model).

The first request with a key inserts the record (in flight) in its own short transaction, so
every other request sees it at once: the same key and body again while the first runs gets 409,
after it finished gets the stored response (a replay), and the same key with another body gets
422. The response is stored in the transaction that did the work, so a crash never leaves
"done" without the work or the work without "done"; an in-flight record older than
LICENSES_IDEMPOTENCY_STALE_SECONDS (a killed worker) may be taken over.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.exceptions import Conflict, DomainError
from apps.licenses.conf import conf
from apps.licenses.fastsql import autocommit_statement, idempotency_claim_sql
from apps.licenses.models import IdempotencyRecord, IdempotencyState

MAX_KEY_LENGTH = 200


class IdempotencyMismatch(DomainError):
    status_code = 422

    def __init__(self) -> None:
        super().__init__(
            _("This Idempotency-Key was used with a different request body."),
            code="idempotency_key_reused",
        )


class IdempotencyInFlight(Conflict):
    def __init__(self) -> None:
        super().__init__(
            _("A request with this Idempotency-Key is still being processed; retry shortly."),
            code="idempotency_in_flight",
        )


@dataclass
class Begun:
    record: IdempotencyRecord
    replay: bool


def request_hash(payload: Any) -> str:
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def key_clean(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > MAX_KEY_LENGTH or any(ord(c) < 33 or ord(c) > 126 for c in key):
        raise DomainError(
            _("The Idempotency-Key must be 1 to 200 visible ASCII characters."),
            code="invalid_idempotency_key",
        )
    return key


def idempotency_begin(*, tenant: Any, scope: str, key: str, digest: str) -> Begun:
    """Claim `key` (raises IdempotencyMismatch / IdempotencyInFlight), or return the finished
    record for a replay. Runs in autocommit: the claim is visible to other requests at once."""
    key = key_clean(key)
    record = IdempotencyRecord(tenant=tenant, scope=scope, key=key, request_hash=digest)
    if connections[IdempotencyRecord.objects.db].vendor == "postgresql":
        # One round trip: INSERT … ON CONFLICT DO NOTHING RETURNING id, with the scope setting,
        # committed at once (the claim must be visible to a concurrent request).
        sql, params = idempotency_claim_sql(record)
        row = autocommit_statement(sql, params)
        if row is not None:
            record.pk = row[0]
            record._state.adding = False
            return Begun(record, replay=False)
    else:
        try:
            with transaction.atomic():
                record.save(force_insert=True)
            return Begun(record, replay=False)
        except IntegrityError:
            pass
    record = IdempotencyRecord.objects.get(scope=scope, key=key)
    if record.request_hash != digest:
        raise IdempotencyMismatch
    if record.state == IdempotencyState.DONE:
        return Begun(record, replay=True)
    stale = timezone.now() - timedelta(seconds=int(conf("LICENSES_IDEMPOTENCY_STALE_SECONDS")))
    if record.created_at < stale:
        taken = IdempotencyRecord.objects.filter(
            pk=record.pk, state=IdempotencyState.IN_FLIGHT, created_at=record.created_at
        ).update(created_at=timezone.now())
        if taken:
            record.refresh_from_db()
            return Begun(record, replay=False)
    raise IdempotencyInFlight


def idempotency_complete(*, record: IdempotencyRecord, status: int, body: Any) -> None:
    """Store the response (call inside the transaction that did the work)."""
    now = timezone.now()
    connection = connections[IdempotencyRecord.objects.db]
    if connection.vendor == "postgresql":
        # The hot path's last statement, as plain SQL (the ORM's UPDATE costs ~0.5 ms of CPU
        # to build); values prepared by the model's own fields, the tenant in the WHERE.
        opts = IdempotencyRecord._meta
        fields = {f.name: f for f in opts.concrete_fields}
        values = [
            fields[name].get_db_prep_save(value, connection)
            for name, value in (
                ("state", IdempotencyState.DONE),
                ("response_status", status),
                ("response_body", body),
                ("completed_at", now),
            )
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {opts.db_table} SET state = %s, response_status = %s, "  # noqa: S608
                "response_body = %s, completed_at = %s WHERE id = %s AND tenant_id = %s",
                [*values, record.pk, record.tenant_id],
            )
    else:
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            state=IdempotencyState.DONE,
            response_status=status,
            response_body=body,
            completed_at=now,
        )
    record.state = IdempotencyState.DONE
    record.response_status = status
    record.response_body = body


def idempotency_abandon(*, record: IdempotencyRecord) -> None:
    """Forget an in-flight key whose request failed on our side, so a retry can run."""
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyState.IN_FLIGHT).delete()


def idempotency_purge(*, older_than_hours: int | None = None) -> int:
    from apps.core.tenancy import unscoped

    hours = older_than_hours or int(conf("LICENSES_IDEMPOTENCY_RETENTION_HOURS"))
    with unscoped(reason="licences housekeeping: old idempotency records"):
        deleted, _details = IdempotencyRecord.objects.filter(
            created_at__lt=timezone.now() - timedelta(hours=hours)
        ).delete()
    return deleted
