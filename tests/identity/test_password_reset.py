"""Password reset by email: no hint whether an address is known; a used link ends sessions."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.identity import services
from apps.identity.models import LoginThrottle
from tests.conftest import PASSWORD
from tests.identity.conftest import events, is_signed_in, password_step, visible_text

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase 2026"


def ask_for_reset(email: str) -> tuple[object, object]:
    client = Client()
    response = client.post(reverse("identity:password_reset"), {"email": email})
    return response, client.get(response["Location"])


def reset_link() -> str:
    [message] = mail.outbox
    return re.search(r"https?://testserver(/\S+)", message.body).group(1)


def test_same_answer_whether_or_not_the_address_is_known(member_a):
    known, known_page = ask_for_reset(member_a.email)
    unknown, unknown_page = ask_for_reset("nobody@acme.test")

    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("identity:password_reset_done")
    assert visible_text(known_page) == visible_text(unknown_page)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [member_a.email]
    details = [e.personal["details"] for e in events("password.reset_requested")]
    assert details == [
        {"email": member_a.email, "known_account": True},
        {"email": "nobody@acme.test", "known_account": False},
    ]


def test_reset_link_sets_a_new_password_and_ends_sessions(member_a):
    session = Client()
    password_step(session, member_a.email)
    ask_for_reset(member_a.email)

    client = Client()
    form_page = client.get(reset_link(), follow=True)
    assert form_page.status_code == 200
    body = form_page.content.decode()
    assert 'autocomplete="new-password"' in body
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response["Location"] == reverse("identity:password_reset_complete")
    assert not is_signed_in(session)
    assert password_step(Client(), member_a.email, PASSWORD).status_code == 401
    assert password_step(Client(), member_a.email, NEW_PASSWORD).status_code == 302
    [event] = events("password.changed")
    assert event.personal["details"] == {"via": "reset"}
    assert NEW_PASSWORD not in repr(event.personal)


def test_reset_lifts_the_account_lock(settings, member_a):
    settings.LOCKOUT_ACCOUNT_THRESHOLD = 2
    for n in range(2):
        password_step(Client(), member_a.email, "wrong", REMOTE_ADDR=f"203.0.113.{n}")
    assert password_step(Client(), member_a.email, PASSWORD).status_code == 401

    ask_for_reset(member_a.email)
    client = Client()
    url = client.get(reset_link(), follow=True).redirect_chain[-1][0]
    client.post(url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert password_step(Client(), member_a.email, NEW_PASSWORD).status_code == 302
    assert LoginThrottle.objects.filter(failures__gt=0).count() == 2  # the attacker's pairs


def test_a_bad_or_used_link_gives_a_clear_page(member_a):
    response = Client().get(
        reverse(
            "identity:password_reset_confirm", kwargs={"uidb64": "garbage", "token": "nope-nope"}
        )
    )
    assert response.status_code == 200
    assert "This link does not work" in response.content.decode()

    ask_for_reset(member_a.email)
    link = reset_link()
    client = Client()
    url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    again = Client().get(link, follow=True)
    assert "This link does not work" in again.content.decode()


def test_disabled_accounts_get_no_mail_and_old_links_stop_working(operator, member_a):
    ask_for_reset(member_a.email)
    link = reset_link()
    services.user_disable(actor=operator, user=member_a, reason="left")

    ask_for_reset(member_a.email)
    assert len(mail.outbox) == 1  # nothing new
    assert "This link does not work" in Client().get(link, follow=True).content.decode()


def test_weak_new_password_is_refused_with_field_errors(member_a):
    ask_for_reset(member_a.email)
    client = Client()
    url = client.get(reset_link(), follow=True).redirect_chain[-1][0]
    response = client.post(url, {"new_password1": "short", "new_password2": "short"})
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.content.decode()
    assert not events("password.changed")
