"""Second factors: enforced enrolment, the QR code, backup codes, resets, and a code that works
once even when two requests race."""

from __future__ import annotations

import re
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core.exceptions import PermissionDenied
from apps.identity import selectors, services
from apps.identity.models import User
from tests._ci import require_postgres
from tests.conftest import PASSWORD
from tests.identity.conftest import (
    SECOND_FACTOR_ERROR,
    code_for,
    code_step,
    enrol,
    events,
    is_signed_in,
    password_step,
)


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["admin_a", "staff_engineer", "compliance_officer", "operator"])
def test_roles_that_require_mfa_must_enrol_before_anything_else(request, client, who):
    user = request.getfixturevalue(who)

    response = password_step(client, user.email)

    assert response["Location"] == reverse("identity:mfa_setup")
    for url in ("/", "/t/acme/", reverse("identity:account"), "/staff/"):
        assert client.get(url)["Location"] == reverse("identity:mfa_setup"), url
    assert client.get(reverse("identity:mfa_setup")).status_code == 200
    [event] = events("login.succeeded")
    assert event.personal["details"] == {"second_factor": "enrolment_required"}


@pytest.mark.django_db
def test_member_is_not_forced_to_enrol(client, member_a):
    password_step(client, member_a.email)
    assert client.get("/t/acme/").status_code == 200


@pytest.mark.django_db
def test_enrolment_with_qr_code_then_backup_codes_shown_once(client, clock, admin_a):
    password_step(client, admin_a.email)

    page = client.get(reverse("identity:mfa_setup"))
    body = page.content.decode()
    device = TOTPDevice.objects.get(user=admin_a)
    assert not device.confirmed
    assert "<svg" in body
    assert "<title>" in body  # the QR code has an accessible name
    secret = selectors.totp_secret_text(device)
    assert secret in body
    assert 'autocomplete="one-time-code"' in body
    # A reload shows the same secret (the app may have scanned it already).
    assert secret in client.get(reverse("identity:mfa_setup")).content.decode()

    wrong = client.post(reverse("identity:mfa_setup"), {"code": "000000"})
    assert wrong.status_code == 400
    assert "This code is not valid" in wrong.content.decode()

    response = client.post(reverse("identity:mfa_setup"), {"code": code_for(device)})
    assert response["Location"] == reverse("identity:mfa_backup_codes")
    page = client.get(reverse("identity:mfa_backup_codes")).content.decode()
    codes = re.findall(r"<li><code>([a-z2-7]{4}-[a-z2-7]{4})</code></li>", page)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    # Shown once: a reload shows none of them.
    again = client.get(reverse("identity:mfa_backup_codes")).content.decode()
    assert not any(code in again for code in codes)
    # The session is verified now: the portal opens.
    assert client.get("/t/acme/").status_code == 200
    assert [e.actor_id for e in events("mfa.enrolled")] == [admin_a.pk]
    assert [e.actor_id for e in events("mfa.backup_codes_generated")] == [admin_a.pk]
    # Backup codes are not stored in the clear.
    stored = set(StaticDevice.objects.get(user=admin_a).token_set.values_list("token", flat=True))
    assert not stored & {code.replace("-", "") for code in codes}


@pytest.mark.django_db
def test_enrolled_admin_signs_in_with_code_and_reaches_the_portal(client, clock, admin_a):
    device, _codes = enrol(admin_a)
    clock.shift(30)
    assert password_step(client, admin_a.email)["Location"] == reverse("identity:login_mfa")
    assert code_step(client, code_for(device)).status_code == 302
    assert client.get("/t/acme/").status_code == 200


@pytest.mark.django_db
def test_backup_code_works_once(clock, admin_a):
    _device, codes = enrol(admin_a)

    first = Client()
    password_step(first, admin_a.email)
    response = code_step(first, codes[0].upper().replace("-", " "))  # as people type it
    assert response.status_code == 302
    assert first.get("/t/acme/").status_code == 200
    assert events("login.succeeded")[-1].personal["details"] == {"second_factor": "backup_code"}

    second = Client()
    password_step(second, admin_a.email)
    response = code_step(second, codes[0])
    assert response.status_code == 401
    assert SECOND_FACTOR_ERROR in response.content.decode()
    assert code_step(second, codes[1]).status_code == 302
    assert selectors.mfa_backup_codes_remaining(user=admin_a) == 8


@pytest.mark.django_db
def test_member_may_enrol_voluntarily_from_the_account_page(client, clock, member_a):
    password_step(client, member_a.email)
    account = client.get(reverse("identity:account")).content.decode()
    assert reverse("identity:mfa_setup") in account

    client.get(reverse("identity:mfa_setup"))
    device = TOTPDevice.objects.get(user=member_a)
    client.post(reverse("identity:mfa_setup"), {"code": code_for(device)})
    assert "unused backup codes" in client.get(reverse("identity:account")).content.decode()

    # From now on the password alone is not enough.
    clock.shift(30)
    other = Client()
    assert password_step(other, member_a.email)["Location"] == reverse("identity:login_mfa")
    assert not is_signed_in(other)


@pytest.mark.django_db
def test_new_backup_codes_replace_the_old_ones(client, clock, admin_a):
    device, old_codes = enrol(admin_a)
    clock.shift(30)
    password_step(client, admin_a.email)
    code_step(client, code_for(device))

    assert client.post(reverse("identity:mfa_backup_codes")).status_code == 302
    page = client.get(reverse("identity:mfa_backup_codes")).content.decode()
    assert page.count("<code>") == 10

    other = Client()
    password_step(other, admin_a.email)
    assert code_step(other, old_codes[0]).status_code == 401


@pytest.mark.django_db
def test_half_signed_in_session_cannot_make_backup_codes(client, clock, admin_a):
    password_step(client, admin_a.email)  # no device yet: signed in, not verified
    response = client.post(reverse("identity:mfa_backup_codes"))
    assert response.status_code == 403


@pytest.mark.django_db
def test_mfa_reset_removes_devices_and_ends_sessions(clock, operator, admin_a, client_for):
    enrol(admin_a)
    session = client_for(admin_a)
    assert session.get("/t/acme/").status_code == 200

    services.mfa_reset(actor=operator, user=admin_a, reason="lost phone, ticket 42")

    assert not TOTPDevice.objects.filter(user=admin_a).exists()
    assert not StaticDevice.objects.filter(user=admin_a).exists()
    assert session.get("/t/acme/")["Location"].startswith(reverse("identity:login"))
    [event] = events("mfa.reset")
    assert event.actor_id == operator.pk
    assert event.personal["details"]["reason"] == "lost phone, ticket 42"
    # Next sign-in: enrol again.
    fresh = Client()
    assert password_step(fresh, admin_a.email)["Location"] == reverse("identity:mfa_setup")


@pytest.mark.django_db
def test_only_operators_reset_somebody_elses_mfa(member_a, admin_a):
    with pytest.raises(PermissionDenied):
        services.mfa_reset(actor=member_a, user=admin_a, reason="no")


def _race(n: int, attempt) -> list[bool]:
    barrier = threading.Barrier(n)
    results: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            ok = attempt()
            with lock:
                results.append(ok)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["totp", "backup_code"])
def test_one_code_wins_a_race(clock, settings, kind):
    require_postgres()  # row locks need PostgreSQL (SQLite serialises whole transactions)
    settings.LOCKOUT_THRESHOLD = settings.LOCKOUT_ACCOUNT_THRESHOLD = 1000
    user = User.objects.create_user(email="racer@acme.test", password=PASSWORD)
    device, codes = enrol(user)
    clock.shift(30)
    code = code_for(device) if kind == "totp" else codes[0]

    def attempt() -> bool:
        try:
            services.login_second_factor_check(user=user, code=code, ip="10.0.0.9")
        except services.SecondFactorRefused:
            return False
        return True

    winners = []
    for _round in range(3):
        results = _race(8, attempt)
        assert len(results) == 8
        winners.append(results.count(True))
        if kind == "totp":
            clock.shift(30)
            code = code_for(device)
    # A fresh TOTP code each round: one winner each time. The same backup code: one winner ever.
    assert winners == ([1, 1, 1] if kind == "totp" else [1, 0, 0])
    assert len(events("login.mfa_failed")) == 3 * 8 - 3 if kind == "totp" else 3 * 8 - 1
