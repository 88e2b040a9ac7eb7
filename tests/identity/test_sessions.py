"""Sessions end when they must: sign out everywhere, a disabled account, a new password."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

from apps.core.exceptions import PermissionDenied
from apps.identity import services
from tests.conftest import PASSWORD
from tests.identity.conftest import GENERIC_SIGN_IN_ERROR, events, is_signed_in, password_step

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/identity/user/"


def signed_in_client(email: str) -> Client:
    client = Client()
    assert password_step(client, email).status_code == 302
    return client


def test_sign_out_everywhere_ends_every_session(member_a):
    laptop = signed_in_client(member_a.email)
    phone = signed_in_client(member_a.email)
    assert is_signed_in(phone)

    response = laptop.post(reverse("identity:sign_out_everywhere"))

    assert response.status_code == 302
    assert response["Location"] == reverse("identity:login")
    assert not is_signed_in(laptop)  # this session too
    assert not is_signed_in(phone)
    assert phone.get("/t/acme/")["Location"].startswith(reverse("identity:login"))
    [event] = events("sessions.revoked")
    assert event.actor_id == member_a.pk
    # Signing in again works.
    assert is_signed_in(signed_in_client(member_a.email))


def test_sign_out_everywhere_needs_post(member_a):
    client = signed_in_client(member_a.email)
    assert client.get(reverse("identity:sign_out_everywhere")).status_code == 405
    assert is_signed_in(client)


def test_disabling_ends_all_sessions_and_blocks_sign_in(operator, member_a):
    session = signed_in_client(member_a.email)

    services.user_disable(actor=operator, user=member_a, reason="left the company")

    assert not is_signed_in(session)
    response = password_step(Client(), member_a.email)
    assert response.status_code == 401
    assert GENERIC_SIGN_IN_ERROR in response.content.decode()
    member_a.refresh_from_db()
    assert member_a.disabled_at is not None
    [event] = events("user.disabled")
    assert event.actor_id == operator.pk
    assert event.personal["details"] == {"reason": "left the company"}

    services.user_enable(actor=operator, user=member_a, reason="came back")
    assert is_signed_in(signed_in_client(member_a.email))
    assert len(events("user.enabled")) == 1


def test_disable_and_enable_are_idempotent(operator, member_a):
    services.user_disable(actor=operator, user=member_a, reason="x")
    services.user_disable(actor=operator, user=member_a, reason="x")
    assert len(events("user.disabled")) == 1


def test_only_operators_disable_accounts(admin_a, member_a):
    with pytest.raises(PermissionDenied):
        services.user_disable(actor=admin_a, user=member_a, reason="no")
    with pytest.raises(PermissionDenied):
        services.user_sign_out_everywhere(actor=admin_a, user=member_a)


def test_operator_disables_from_the_django_admin_with_a_reason(client_for, operator, member_a):
    session = signed_in_client(member_a.email)
    admin = client_for(operator)
    data = {"action": "disable_users", ACTION_CHECKBOX_NAME: [member_a.pk]}

    confirm = admin.post(CHANGELIST, data)
    assert confirm.status_code == 200
    assert "mia@acme.test" in confirm.content.decode()
    assert is_signed_in(session)  # nothing happens before the confirmation

    missing_reason = admin.post(CHANGELIST, {**data, "confirm": "yes", "reason": ""})
    assert missing_reason.status_code == 200
    assert is_signed_in(session)

    done = admin.post(CHANGELIST, {**data, "confirm": "yes", "reason": "ticket 7: fraud"})
    assert done.status_code == 302
    member_a.refresh_from_db()
    assert not member_a.is_active
    assert not is_signed_in(session)
    assert events("user.disabled")[0].personal["details"] == {"reason": "ticket 7: fraud"}

    admin.post(
        CHANGELIST,
        {
            "action": "enable_users",
            ACTION_CHECKBOX_NAME: [member_a.pk],
            "confirm": "yes",
            "reason": "cleared",
        },
    )
    member_a.refresh_from_db()
    assert member_a.is_active


def test_admin_change_form_does_not_toggle_active_directly(client_for, operator, member_a):
    page = client_for(operator).get(f"{CHANGELIST}{member_a.pk}/change/").content.decode()
    assert 'name="is_active"' not in page


def test_password_change_ends_other_sessions_but_keeps_this_one(member_a):
    other = signed_in_client(member_a.email)
    client = signed_in_client(member_a.email)
    new_password = "a completely new passphrase 7"

    response = client.post(
        reverse("identity:password_change"),
        {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )

    assert response["Location"] == reverse("identity:account")
    assert is_signed_in(client)
    assert not is_signed_in(other)
    assert events("password.changed")[0].personal["details"] == {"via": "change"}
    assert password_step(Client(), member_a.email, new_password).status_code == 302


def test_account_page_shows_mfa_status_and_the_sign_out_button(member_a):
    body = signed_in_client(member_a.email).get(reverse("identity:account")).content.decode()
    assert reverse("identity:sign_out_everywhere") in body
    assert reverse("identity:mfa_setup") in body


def test_anonymous_is_sent_to_login_from_account_pages(client):
    for name in ("identity:account", "identity:mfa_setup", "identity:mfa_backup_codes"):
        response = client.get(reverse(name))
        assert response["Location"].startswith(reverse("identity:login")), name


def test_signing_in_replaces_the_anonymous_session_row(member_a):
    """No session fixation: the key a visitor had before signing in is deleted from the store,
    and the signed-in session lives under a new key."""
    from django.contrib.sessions.models import Session

    client = Client()
    client.get(reverse("identity:login"))
    session = client.session
    session["probe"] = "before sign-in"
    session.save()
    before = session.session_key
    assert Session.objects.filter(session_key=before).exists()
    assert password_step(client, member_a.email).status_code == 302
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    assert Session.objects.filter(session_key=after).exists()


def test_a_session_key_collision_draws_another_key(monkeypatch):
    """The INSERT is the uniqueness check: a key already taken makes the store draw again."""
    from django.contrib.sessions.models import Session

    from apps.core import sessions

    taken = sessions.SessionStore()
    taken["who"] = "first"
    taken.create()
    keys = iter([taken.session_key, "z" * 32])
    monkeypatch.setattr(sessions, "get_random_string", lambda *_a, **_k: next(keys))
    store = sessions.SessionStore()
    store["who"] = "second"
    store.create()
    assert store.session_key == "z" * 32
    assert Session.objects.get(session_key=taken.session_key).get_decoded() == {"who": "first"}
