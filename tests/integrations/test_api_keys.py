"""API keys as an integrator meets them: shown once, stored hashed, scoped, expiring, rotating
with an overlap, revocable at once, bound to networks, rate limited, tenant-bound."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.core.tenancy import tenant_context, unscoped
from apps.integrations.models import ApiCallRecord, ApiKey, CredentialState, SecurityAlert
from apps.integrations.services.api_keys import (
    api_key_revoke,
    api_key_rotate,
    api_keys_expire_due,
    api_keys_notify_due,
    api_keys_revoke_owned_by,
)
from apps.integrations.tokens import token_hash
from tests._ci import require_postgres, require_redis
from tests.integrations.conftest import bearer

AUDIT = "/api/v1/tenants/acme/audit-events"
pytestmark = pytest.mark.django_db


def test_key_is_shown_once_and_only_its_hash_is_stored(issue_key, client_for, admin_a):
    issued = issue_key()
    token = issued.token
    assert token.startswith(f"cus_{issued.key.prefix}_")
    with unscoped(reason="test: raw rows"), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM integrations_apikey")
        rows = cursor.fetchall()
    assert len(rows) == 1
    row_text = repr(rows)
    secret_part = token.rsplit("_", 1)[1]
    assert secret_part not in row_text
    assert token not in row_text
    with tenant_context(issued.key.tenant):
        stored = ApiKey.objects.get(pk=issued.key.pk)
    assert stored.secret_hash == token_hash(token)
    # The list page shows the prefix, never the key.
    page = client_for(admin_a).get("/t/acme/integrations/keys/")
    assert page.status_code == 200
    assert issued.key.prefix in page.content.decode()
    assert secret_part not in page.content.decode()


def test_key_authenticates_and_me_describes_it(issue_key):
    issued = issue_key(scopes=["audit:read"])
    response = bearer(issued.token).get("/api/v1/me")
    assert response.status_code == 200
    body = response.json()
    assert body["user"] is None
    assert body["credential"]["kind"] == "api_key"
    assert body["credential"]["scopes"] == ["audit:read"]
    assert body["tenants"][0]["slug"] == "acme"


def test_scopes_are_enforced(issue_key):
    reader = issue_key(scopes=["audit:read"])
    other = issue_key(scopes=["users:read"])
    assert bearer(reader.token).get(AUDIT).status_code == 200
    refused = bearer(other.token).get(AUDIT)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"
    assert refused.json()["error"]["details"] == {"required_scope": "audit:read"}
    assert bearer(reader.token).get("/api/v1/tenants/acme/webhooks").status_code == 403


def test_wrong_tenant_key_answers_404_like_an_unknown_tenant(issue_key, tenant_b):
    issued = issue_key(scopes=["audit:read"])
    for path in ("/api/v1/tenants/globex/audit-events", "/api/v1/tenants/nope/audit-events"):
        response = bearer(issued.token).get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "token",
    [
        "cus_000000000000_" + "A" * 43,  # well-formed, unknown prefix
        "cus_short",
        "cus_" + "x" * 100,
    ],
)
def test_unknown_or_malformed_key_is_401_with_error_shape(token):
    response = bearer(token).get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert "Bearer" in response["WWW-Authenticate"]


def test_right_prefix_wrong_secret_is_refused(issue_key):
    issued = issue_key()
    forged = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")
    response = bearer(forged).get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_expired_key_is_refused_even_before_the_sweeper_runs(issue_key):
    issued = issue_key(expires_at=timezone.now() + timedelta(days=1))
    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        response = bearer(issued.token).get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "credential_expired"


def test_revocation_is_immediate_and_audited(issue_key, admin_a):
    issued = issue_key()
    client = bearer(issued.token)
    assert client.get("/api/v1/me").status_code == 200
    assert api_key_revoke(actor=admin_a, key=issued.key, reason="leaked in a log")
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "credential_revoked"
    with tenant_context(issued.key.tenant):
        assert AuditEvent.objects.filter(action="api_key.revoked").exists()
    assert not api_key_revoke(actor=admin_a, key=issued.key)  # twice: no-op


def test_only_admins_manage_keys(issue_key, member_a):
    from apps.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        issue_key(actor=member_a)


def test_rotation_overlap_then_old_key_dies_on_schedule(issue_key, admin_a):
    old = issue_key()
    new = api_key_rotate(actor=admin_a, key=old.key, overlap_hours=2)
    assert new.token != old.token
    assert bearer(old.token).get("/api/v1/me").status_code == 200  # both work
    assert bearer(new.token).get("/api/v1/me").status_code == 200
    later = timezone.now() + timedelta(hours=2, minutes=1)
    with time_machine.travel(later):
        response = bearer(old.token).get("/api/v1/me")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "credential_expired"
        assert bearer(new.token).get("/api/v1/me").status_code == 200
        assert api_keys_expire_due() == 1
    with tenant_context(old.key.tenant):
        ended = ApiKey.objects.get(pk=old.key.pk)
        assert ended.state == CredentialState.EXPIRED
        assert ended.replaced_by_id == new.key.pk
        assert AuditEvent.objects.filter(action="api_key.rotated_out").exists()
    with pytest.raises(Exception, match="rotated"):
        api_key_rotate(actor=admin_a, key=old.key)


def test_ip_allow_list(issue_key):
    issued = issue_key(allowed_cidrs="10.1.0.0/16\n192.0.2.7")
    assert bearer(issued.token, REMOTE_ADDR="10.1.200.3").get("/api/v1/me").status_code == 200
    assert bearer(issued.token, REMOTE_ADDR="192.0.2.7").get("/api/v1/me").status_code == 200
    refused = bearer(issued.token, REMOTE_ADDR="10.2.0.1").get("/api/v1/me")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "ip_not_allowed"


def test_rate_limit_answers_429_with_retry_after(issue_key):
    issued = issue_key(rate_limit_per_minute=60, rate_limit_burst=3)
    client = bearer(issued.token)
    assert [client.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 200]
    limited = client.get("/api/v1/me")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    # Another key of the same tenant has its own bucket.
    assert bearer(issue_key().token).get("/api/v1/me").status_code == 200


def test_last_used_is_written_at_most_once_a_minute(issue_key, django_assert_max_num_queries):
    issued = issue_key()
    client = bearer(issued.token)
    client.get("/api/v1/me")
    with tenant_context(issued.key.tenant):
        first = ApiKey.objects.get(pk=issued.key.pk).last_used_at
    assert first is not None
    client.get("/api/v1/me")
    with tenant_context(issued.key.tenant):
        assert ApiKey.objects.get(pk=issued.key.pk).last_used_at == first
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        client.get("/api/v1/me")
    with tenant_context(issued.key.tenant):
        assert ApiKey.objects.get(pk=issued.key.pk).last_used_at > first


def test_every_call_is_recorded(issue_key):
    issued = issue_key(scopes=["audit:read"])
    bearer(issued.token).get(AUDIT)
    bearer(issued.token).get("/api/v1/tenants/acme/webhooks")
    bearer("cus_000000000000_" + "A" * 43).get("/api/v1/me")
    with unscoped(reason="test"):
        records = list(ApiCallRecord.objects.order_by("pk"))
    ok, forbidden, anonymous = records
    assert ok.principal_kind == "api_key"
    assert ok.status_code == 200
    assert ok.tenant_id == issued.key.tenant_id
    assert ok.endpoint == "api/v1/tenants/<tenant_slug>/audit-events"
    assert ok.credential == issued.key.display_token
    assert ok.latency_ms > 0
    assert forbidden.status_code == 403
    assert anonymous.principal_kind == "anonymous"
    assert anonymous.status_code == 401


def test_repeated_failed_authentication_raises_an_alert(
    issue_key, settings, tenant_a, django_capture_on_commit_callbacks
):
    settings.API_AUTH_FAILURE_THRESHOLD = 5
    issued = issue_key()
    forged = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(6):
            assert bearer(forged).get("/api/v1/me").status_code == 401
    with unscoped(reason="test"):
        alerts = list(SecurityAlert.objects.order_by("kind"))
    kinds = [a.kind for a in alerts]
    assert kinds == ["api.auth_failures", "api.auth_failures_ip"]  # tenant and platform
    tenant_alert = alerts[0]
    assert tenant_alert.tenant_id == tenant_a.pk
    assert tenant_alert.notified_at is not None
    assert any("alice@acme.test" in m.to for m in mail.outbox)
    with tenant_context(tenant_a):
        assert AuditEvent.objects.filter(action="security_alert.raised").exists()


def test_bulk_extraction_raises_one_alert_per_window(issue_key, settings, tenant_a):
    settings.API_BULK_READ_THRESHOLD = 5
    issued = issue_key(scopes=["audit:read"])
    client = bearer(issued.token)
    for _ in range(8):
        assert client.get(AUDIT).status_code == 200
    with tenant_context(tenant_a):
        alerts = list(SecurityAlert.objects.filter(kind="api.bulk_extraction"))
    assert len(alerts) == 1
    assert alerts[0].details["reads"] == 5


def test_expiry_notice_goes_to_the_technical_contact_in_their_language(issue_key):
    issued = issue_key(
        expires_at=timezone.now() + timedelta(days=20),
        technical_contact_email="integrations@acme.test",
        contact_language="de",
    )
    assert api_keys_notify_due() == 0  # 14 days before: not yet
    with time_machine.travel(timezone.now() + timedelta(days=7)):
        assert api_keys_notify_due() == 1
        assert api_keys_notify_due() == 0  # claimed: sent once
    assert mail.outbox[-1].to == ["integrations@acme.test"]
    assert issued.key.prefix in mail.outbox[-1].body
    with time_machine.travel(timezone.now() + timedelta(days=17, hours=1)):
        assert api_keys_notify_due() == 1  # the 3-day reminder
    assert len(mail.outbox) == 2


def test_keys_owned_by_a_leaver_are_revoked_everywhere(issue_key, admin_a):
    issued = issue_key()
    assert api_keys_revoke_owned_by(actor=None, user=admin_a, reason="offboarded") == 1
    assert bearer(issued.token).get("/api/v1/me").status_code == 401


def test_key_of_a_disabled_owner_stops_working(issue_key, admin_a):
    issued = issue_key()
    admin_a.is_active = False
    admin_a.save()
    response = bearer(issued.token).get("/api/v1/me")
    assert response.json()["error"]["code"] == "credential_revoked"


def test_suspended_tenant_keys_are_refused(issue_key, tenant_a):
    issued = issue_key()
    tenant_a.status = "suspended"
    tenant_a.save()
    response = bearer(issued.token).get("/api/v1/me")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tenant_unavailable"


def test_bearer_key_never_falls_back_to_the_session(client_for, admin_a):
    client = client_for(admin_a)
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer cus_bad"})
    assert response.status_code == 401


def test_session_callers_get_scopes_from_their_role(client_for, admin_a, member_a):
    assert client_for(admin_a).get(AUDIT).status_code == 200
    response = client_for(member_a).get(AUDIT)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"


@pytest.mark.skipif(not os.environ.get("REDIS_PORT"), reason="needs the CI Redis (.ci/pg-up.sh)")
def test_rate_limit_on_redis_is_atomic_and_answers_retry_after(issue_key, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{os.environ['REDIS_PORT']}/7",
        }
    }
    cache.clear()
    issued = issue_key(rate_limit_per_minute=60, rate_limit_burst=2)
    client = bearer(issued.token)
    assert [client.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 429]
    assert 1 <= int(client.get("/api/v1/me")["Retry-After"]) <= 2
    cache.clear()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_key_lookup_on_postgres_leaves_no_cross_tenant_scope_behind(issue_key):
    require_postgres()  # PostgreSQL row-level security
    issued = issue_key()
    assert bearer(issued.token).get("/api/v1/me").status_code == 200
    with connection.cursor() as cursor:  # same connection, no tenant context: RLS hides all
        cursor.execute("SELECT count(*) FROM integrations_apikey")
        assert cursor.fetchone()[0] == 0
    with unscoped(reason="test"):
        assert ApiKey.objects.count() == 1


def test_buffered_call_log_writes_in_bulk(issue_key, settings):
    settings.API_CALL_LOG_BUFFER_SIZE = 3
    settings.API_CALL_LOG_MAX_AGE_SECONDS = 3600
    client = bearer(issue_key().token)
    client.get("/api/v1/me")
    client.get("/api/v1/me")
    with unscoped(reason="test"):
        assert ApiCallRecord.objects.count() == 0  # still buffered
    client.get("/api/v1/me")
    with unscoped(reason="test"):
        assert ApiCallRecord.objects.count() == 3


def test_the_one_time_key_hides_in_reprs(issue_key):
    issued = issue_key()
    assert issued.token.startswith("cus_")  # renders as itself
    assert issued.token not in repr(issued.token)
    assert issued.token not in repr(issued)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_call_log_on_postgres_is_one_message_and_lands_in_the_tenant(issue_key, tenant_a):
    """Outside a transaction the call record goes out as one message (scope + INSERT); the row
    is the tenant's and row-level security lets the tenant read it."""
    require_postgres()
    from django.db import connection

    issued = issue_key(scopes=["audit:read"])
    statements: list[str] = []

    def spy(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        assert bearer(issued.token).get(AUDIT).status_code == 200
    inserts = [s for s in statements if "INSERT INTO" in s and "apicallrecord" in s.lower()]
    assert len(inserts) == 1
    assert "set_config" in inserts[0]
    with tenant_context(tenant_a):
        assert ApiCallRecord.objects.filter(endpoint__contains="audit-events").count() == 1


def test_misuse_counter_on_redis_is_one_round_trip(issue_key, settings, tenant_a):
    url = require_redis().rsplit("/", 1)[0] + "/6"  # not the broker's database
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    cache.clear()
    settings.API_BULK_READ_THRESHOLD = 3
    client = bearer(issue_key(scopes=["audit:read"]).token)
    for _ in range(5):
        assert client.get(AUDIT).status_code == 200
    with tenant_context(tenant_a):
        alerts = list(SecurityAlert.objects.filter(kind="api.bulk_extraction"))
    assert len(alerts) == 1
    assert alerts[0].details["reads"] == 3
    cache.clear()
