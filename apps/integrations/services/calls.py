"""Recording API calls and spotting misuse.

Every call becomes an `ApiCallRecord`, by default through a per-process buffer written in bulk
(API_CALL_LOG_BUFFER_SIZE=50 records or API_CALL_LOG_MAX_AGE_SECONDS=2 after the first:
~0.005 ms per call; a process killed outright loses at most its buffer), or one INSERT per
call with API_CALL_LOG_BUFFER_SIZE=1 (~0.2-0.4 ms on PostgreSQL; bench/api_auth.py measures
both). Misuse detection works on
cache counters in fixed windows, so it costs one cache increment per call:

* bulk extraction: more than API_BULK_READ_THRESHOLD successful reads by one credential in
  API_BULK_READ_WINDOW_SECONDS;
* repeated failed authentication: API_AUTH_FAILURE_THRESHOLD failures in a window, per known
  credential (alert to the tenant) and per source IP (platform alert to security staff).

Each raises one alert per window (the counter crosses the threshold exactly once).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from typing import Any

from django.core.cache import cache, caches
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.tenancy import tenant_context, unscoped
from apps.integrations.conf import conf
from apps.integrations.models import AlertSeverity, ApiCallRecord, ApiDeprecatedCall
from apps.integrations.principals import ApiPrincipal

logger = logging.getLogger("custos.integrations")

# --- the call log ------------------------------------------------------------------------------
_buffer: list[ApiCallRecord] = []
_buffer_since = 0.0
_buffer_lock = threading.Lock()
_timer: threading.Timer | None = None  # at most one pending per process


def _insert_one_message(record: ApiCallRecord) -> bool:
    """On PostgreSQL in autocommit mode: the cross-tenant scope setting and the INSERT in one
    message — one implicit transaction and one round trip instead of BEGIN / set_config /
    INSERT / COMMIT (the technique of the API-key lookup in services/authn.py). False when
    not applicable (another database, inside a transaction): the caller uses the ORM."""
    from django.db import connections

    connection = connections[ApiCallRecord.objects.db]
    if not (
        connection.vendor == "postgresql"
        and connection.get_autocommit()
        and not connection.in_atomic_block
    ):
        return False
    import psycopg
    from django.db.models.sql import InsertQuery

    from apps.core.db.base import SET_SCOPE_SQL

    query = InsertQuery(ApiCallRecord)
    query.insert_values(
        [f for f in ApiCallRecord._meta.concrete_fields if not f.primary_key], [record]
    )
    sql, params = query.get_compiler(connection=connection).as_sql()[0]
    with connection.cursor() as cursor:
        if not isinstance(cursor.cursor, psycopg.ClientCursor):
            return False
        cursor.execute(f"{SET_SCOPE_SQL}; {sql}", ["", "on", *params])
    return True


def _write(records: list[ApiCallRecord]) -> None:
    if not records:
        return
    try:
        if len(records) == 1 and _insert_one_message(records[0]):
            return
        with unscoped(reason="API call log: rows of many tenants"), transaction.atomic():
            ApiCallRecord.objects.bulk_create(records)
    except Exception:  # the log must never break the API
        logger.warning("API call log: %d record(s) could not be written", len(records))


def _flush_from_timer() -> None:
    global _timer
    from django.db import connection

    with _buffer_lock:
        _timer = None
    try:
        call_log_flush()
    finally:
        connection.close()  # this thread's own connection


def call_log_record(record: ApiCallRecord) -> None:
    """Write the record now (buffer size 1) or buffer it; a buffer is written when full, or by
    a timer at most API_CALL_LOG_MAX_AGE_SECONDS after its first record, so quiet periods do
    not hold records back. A crash loses at most one buffer per process. One timer per process
    at a time: it writes whatever is buffered when it fires, so no record waits longer, and a
    busy process does not start a thread (and a database connection) per buffer."""
    global _buffer_since, _timer
    size = int(conf("API_CALL_LOG_BUFFER_SIZE"))
    if size <= 1:
        _write([record])
        return
    now = time.monotonic()
    max_age = float(conf("API_CALL_LOG_MAX_AGE_SECONDS"))
    with _buffer_lock:
        if not _buffer:
            _buffer_since = now
        if _timer is None:
            _timer = threading.Timer(max_age, _flush_from_timer)
            _timer.daemon = True
            _timer.start()
        _buffer.append(record)
        due = len(_buffer) >= size or now - _buffer_since >= max_age
        batch = _buffer[:] if due else []
        if due:
            _buffer.clear()
    _write(batch)


def call_log_flush() -> int:
    with _buffer_lock:
        batch = _buffer[:]
        _buffer.clear()
    _write(batch)
    return len(batch)


def call_log_discard() -> None:
    """Forget buffered records and the pending timer (tests)."""
    global _timer
    with _buffer_lock:
        _buffer.clear()
        if _timer is not None:
            _timer.cancel()
            _timer = None


atexit.register(call_log_flush)


# --- misuse detection --------------------------------------------------------------------------
def _window_count(name: str, window: int) -> int:
    bucket = int(time.time() // window)
    key = f"custos:misuse:{name}:{bucket}"
    backend = caches["default"]
    if type(backend).__name__ == "RedisCache":
        # One round trip: INCR creates the counter, EXPIRE NX sets its lifetime once.
        from apps.integrations.ratelimit import redis_write_client

        full_key = backend.make_and_validate_key(key)
        client = redis_write_client(backend)
        pipe = client.pipeline(transaction=False)
        pipe.incr(full_key)
        pipe.expire(full_key, window + 5, nx=True)
        return int(pipe.execute()[0])
    cache.add(key, 0, timeout=window + 5)
    try:
        return int(cache.incr(key))
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=window + 5)
        return 1


def read_volume_note(*, principal: ApiPrincipal) -> None:
    threshold = int(conf("API_BULK_READ_THRESHOLD"))
    window = int(conf("API_BULK_READ_WINDOW_SECONDS"))
    count = _window_count(f"reads:{principal.kind}:{principal.credential_id}", window)
    if count != threshold:
        return
    from apps.integrations.services.alerts import security_alert_raise

    security_alert_raise(
        tenant=principal.tenant,
        kind="api.bulk_extraction",
        severity=AlertSeverity.HIGH,
        summary=_("Unusual read volume by %(name)s: %(count)d reads in %(minutes)d minutes")
        % {"name": principal.name, "count": count, "minutes": window // 60},
        details={"credential": principal.credential, "reads": count, "window_seconds": window},
        subject_type=principal.subject_type,
        subject_id=principal.credential_id,
    )


def auth_failure_note(
    *, ip: str, reason: str, tenant_id: int | None = None, credential: str = "", subject: Any = None
) -> None:
    """Count a failed authentication; at the threshold raise an alert (once per window). Never
    raises: the caller still answers 401, whatever happens to the bookkeeping."""
    try:
        _auth_failure_note(
            ip=ip, reason=reason, tenant_id=tenant_id, credential=credential, subject=subject
        )
    except Exception:
        logger.exception("failed-authentication bookkeeping failed")


def _auth_failure_note(
    *, ip: str, reason: str, tenant_id: int | None, credential: str, subject: Any
) -> None:
    from apps.integrations.services.alerts import security_alert_raise

    threshold = int(conf("API_AUTH_FAILURE_THRESHOLD"))
    window = int(conf("API_AUTH_FAILURE_WINDOW_SECONDS"))
    if tenant_id is not None and credential:
        count = _window_count(f"authfail:cred:{credential}", window)
        if count == threshold:
            security_alert_raise(
                tenant=tenant_id,
                kind="api.auth_failures",
                severity=AlertSeverity.HIGH,
                summary=_("Repeated failed authentication with %(credential)s")
                % {"credential": credential},
                details={
                    "credential": credential,
                    "failures": count,
                    "last_reason": reason,
                    "last_ip": ip,
                    "window_seconds": window,
                },
                subject_type=subject._meta.label_lower if subject is not None else "",
                subject_id=getattr(subject, "pk", "") or "",
            )
    if ip:
        count = _window_count(f"authfail:ip:{ip}", window)
        if count == threshold:
            security_alert_raise(
                tenant=None,
                kind="api.auth_failures_ip",
                severity=AlertSeverity.MEDIUM,
                summary=_("Repeated failed API authentication from %(ip)s") % {"ip": ip},
                details={
                    "ip": ip,
                    "failures": count,
                    "last_reason": reason,
                    "window_seconds": window,
                },
            )


# --- deprecated endpoints ---------------------------------------------------------------------
def deprecated_call_note(
    *, principal: ApiPrincipal, method: str, endpoint: str, sunset: Any
) -> None:
    now = timezone.now()
    with tenant_context(principal.tenant):
        lookup = {
            "principal_kind": principal.kind,
            "credential_id": principal.credential_id,
            "method": method,
            "endpoint": endpoint,
        }
        updated = ApiDeprecatedCall.objects.filter(**lookup).update(
            calls=F("calls") + 1, last_seen_at=now, sunset=sunset
        )
        if updated:
            return
        try:
            with transaction.atomic():
                ApiDeprecatedCall.objects.create(
                    **lookup,
                    tenant=principal.tenant,
                    credential_label=principal.name[:120],
                    technical_contact_email=principal.contact_email,
                    contact_language=principal.contact_language,
                    sunset=sunset,
                    first_seen_at=now,
                    last_seen_at=now,
                    calls=1,
                )
        except IntegrityError:  # created by a concurrent call
            ApiDeprecatedCall.objects.filter(**lookup).update(
                calls=F("calls") + 1, last_seen_at=now
            )
