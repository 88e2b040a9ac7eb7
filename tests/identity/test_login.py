"""Signing in: password, then a second factor where the account has one."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from apps.identity import services
from tests.conftest import PASSWORD
from tests.identity.conftest import (
    GENERIC_SIGN_IN_ERROR,
    SECOND_FACTOR_ERROR,
    CountingHasher,
    code_for,
    code_step,
    enrol,
    events,
    is_signed_in,
    password_step,
    visible_text,
)

pytestmark = pytest.mark.django_db


def test_login_page_is_accessible_and_translated_markup(client):
    body = client.get(reverse("identity:login")).content.decode()
    assert 'class="auth"' in body
    assert 'autocomplete="username"' in body
    assert 'autocomplete="current-password"' in body
    assert '<label for="id_email">' in body
    assert '<label for="id_password">' in body


def test_member_without_second_factor_signs_in_with_password(client, member_a):
    response = password_step(client, member_a.email)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.get("/t/acme/").status_code == 200
    [event] = events("login.succeeded")
    assert event.actor_id == member_a.pk
    assert event.personal["details"] == {"second_factor": "none"}


def test_password_then_totp_signs_in(client, clock, member_a):
    device, _codes = enrol(member_a)
    clock.shift(30)

    response = password_step(client, member_a.email)
    assert response.status_code == 302
    assert response["Location"] == reverse("identity:login_mfa")
    # The password alone does not sign in an account that has a second factor.
    assert not is_signed_in(client)
    assert client.get("/t/acme/")["Location"].startswith(reverse("identity:login"))

    response = client.get(reverse("identity:login_mfa"))
    assert 'autocomplete="one-time-code"' in response.content.decode()
    response = code_step(client, code_for(device))
    assert response.status_code == 302
    assert client.get("/t/acme/").status_code == 200
    assert events("login.succeeded")[-1].personal["details"] == {"second_factor": "totp"}


def test_wrong_totp_is_refused_with_a_clear_error(client, clock, member_a):
    device, _codes = enrol(member_a)
    clock.shift(30)
    password_step(client, member_a.email)
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"

    response = code_step(client, wrong)

    assert response.status_code == 401
    body = response.content.decode()
    assert SECOND_FACTOR_ERROR in body
    assert 'aria-invalid="true"' in body
    assert not is_signed_in(client)
    [event] = events("login.mfa_failed")
    assert event.outcome == "failure"
    assert event.personal["details"]["reason"] == "bad_code"


def test_a_totp_code_works_only_once(clock, member_a):
    device, _codes = enrol(member_a)
    clock.shift(30)
    code = code_for(device)

    first = Client()
    password_step(first, member_a.email)
    assert code_step(first, code).status_code == 302

    second = Client()
    password_step(second, member_a.email)
    response = code_step(second, code)
    assert response.status_code == 401
    assert not is_signed_in(second)
    # The next time step's code works again.
    clock.shift(30)
    assert code_step(second, code_for(device)).status_code == 302


def test_next_url_is_followed_only_when_local(client, member_a):
    response = password_step(client, member_a.email, next_url="/t/acme/")
    assert response["Location"] == "/t/acme/"
    client.post(reverse("identity:logout"))
    response = password_step(client, member_a.email, next_url="https://evil.example/")
    assert response["Location"] == reverse("home")


def test_next_url_survives_the_second_factor(client, clock, member_a):
    device, _codes = enrol(member_a)
    clock.shift(30)
    password_step(client, member_a.email, next_url="/t/acme/")
    assert code_step(client, code_for(device))["Location"] == "/t/acme/"


def test_same_answer_for_unknown_email_wrong_password_locked_and_disabled(
    settings, operator, member_a, approver_a
):
    settings.LOCKOUT_THRESHOLD = 2
    for _ in range(2):
        password_step(Client(), approver_a.email, "wrong password!")
    services.user_disable(actor=operator, user=member_a, reason="left the company")

    responses = {
        "unknown": password_step(Client(), "nobody@acme.test", "whatever it is"),
        "wrong_password": password_step(Client(), "arno@acme.test", "not the password"),
        "locked_right_password": password_step(Client(), "arno@acme.test", PASSWORD),
        "disabled_right_password": password_step(Client(), "mia@acme.test", PASSWORD),
    }

    for response in responses.values():
        assert response.status_code == 401
    texts = {
        name: visible_text(response).replace(email, "EMAIL")
        for (name, response), email in zip(
            responses.items(),
            ["nobody@acme.test", "arno@acme.test", "arno@acme.test", "mia@acme.test"],
            strict=True,
        )
    }
    assert GENERIC_SIGN_IN_ERROR in texts["unknown"]
    assert len(set(texts.values())) == 1
    # The audit log knows the difference.
    reasons = [e.personal["details"]["reason"] for e in events("login.failed")]
    assert {"unknown_account", "bad_password", "account_disabled"} <= set(reasons)
    assert events("login.locked")


def test_failed_login_audit_names_the_email_but_never_the_password(client, member_a):
    password_step(client, "ghost@nowhere.test", "Sup3r-secret-guess")
    password_step(client, member_a.email, "An0ther-secret-guess")

    failed = events("login.failed")
    assert [e.personal["details"]["email"] for e in failed] == [
        "ghost@nowhere.test",
        member_a.email,
    ]
    assert all(e.outcome == "failure" for e in failed)
    assert failed[0].target_id == ""
    assert failed[1].target_id == str(member_a.pk)
    dumped = repr([e.personal for e in failed])
    assert "Sup3r-secret-guess" not in dumped
    assert "An0ther-secret-guess" not in dumped


def test_user_language_is_applied_at_sign_in(client, member_a):
    member_a.language = "de"
    member_a.save()
    response = password_step(client, member_a.email)
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    assert '<html lang="de">' in client.get(reverse("identity:account")).content.decode()


def test_second_step_expires(client, clock, member_a):
    device, _codes = enrol(member_a)
    clock.shift(30)
    password_step(client, member_a.email)
    clock.shift(6 * 60)

    response = code_step(client, code_for(device))

    assert response.status_code == 302
    assert response["Location"] == reverse("identity:login")
    assert not is_signed_in(client)


def test_account_disabled_between_the_steps_cannot_finish(client, clock, operator, member_a):
    device, _codes = enrol(member_a)
    clock.shift(30)
    password_step(client, member_a.email)
    services.user_disable(actor=operator, user=member_a, reason="test")

    response = code_step(client, code_for(device))

    assert response["Location"] == reverse("identity:login")
    assert not is_signed_in(client)


def test_second_step_without_first_step_sends_to_login(client):
    response = client.get(reverse("identity:login_mfa"))
    assert response.status_code == 302
    assert response["Location"] == reverse("identity:login")


def test_tampered_session_cookie_gives_the_login_page_not_an_error(client, member_a):
    password_step(client, member_a.email)
    client.cookies[settings.SESSION_COOKIE_NAME] = "tampered" + "x" * 24

    response = client.get(reverse("identity:account"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("identity:login"))
    assert client.get(response["Location"]).status_code == 200
    assert client.get(reverse("identity:login_mfa")).status_code == 302


def test_garbage_pending_state_is_handled(client, member_a):
    session = client.session
    session["identity_pending_sign_in"] = {"user_id": "not-a-number"}
    session.save()
    response = client.post(reverse("identity:login_mfa"), {"code": "123456"})
    assert response.status_code == 302
    assert response["Location"] == reverse("identity:login")


def test_logout_ends_the_session_and_is_audited(client, member_a):
    password_step(client, member_a.email)
    assert client.get(reverse("identity:logout")).status_code == 200  # a confirm page
    assert is_signed_in(client)

    response = client.post(reverse("identity:logout"))

    assert response["Location"] == reverse("identity:login")
    assert not is_signed_in(client)
    [event] = events("logout")
    assert event.actor_id == member_a.pk


def test_django_admin_signs_in_through_our_login(client):
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("identity:login") + "?next=")
    assert response.status_code == 200


def test_django_admin_sign_out_goes_through_our_logout(client_for, operator):
    admin = client_for(operator)
    assert admin.get("/admin/").status_code == 200
    response = admin.post("/admin/logout/")
    assert response["Location"] == reverse("identity:login")
    assert admin.get("/admin/").status_code == 302
    assert [e.actor_id for e in events("logout")] == [operator.pk]


def test_signed_in_person_visiting_login_goes_on(client, member_a):
    password_step(client, member_a.email)
    response = client.get(reverse("identity:login") + "?next=/t/acme/")
    assert response["Location"] == "/t/acme/"


def test_every_refusal_costs_one_run_of_the_password_hasher(settings, operator, member_a):
    settings.PASSWORD_HASHERS = ["tests.identity.conftest.CountingHasher"]
    settings.LOCKOUT_THRESHOLD = 1
    password_step(Client(), "arno@acme.test", "wrong")  # locks arno (unknown) from here
    services.user_disable(actor=operator, user=member_a, reason="test")
    runs = {}
    for case, email, password in [
        ("unknown", "nobody@acme.test", "guess"),
        ("wrong_password", operator.email, "guess"),
        ("locked", "arno@acme.test", "guess"),
        ("disabled", member_a.email, PASSWORD),
    ]:
        CountingHasher.runs = 0
        assert password_step(Client(), email, password).status_code == 401
        runs[case] = CountingHasher.runs
    assert set(runs.values()) == {1}, runs
