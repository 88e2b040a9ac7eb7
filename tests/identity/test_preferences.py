"""Language and time zone preferences."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.identity.conftest import events, password_step

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(member_a) -> Client:
    client = Client()
    password_step(client, member_a.email)
    return client


def test_account_page_changes_language_and_time_zone(member_client, member_a):
    response = member_client.post(
        reverse("identity:account"), {"language": "fr", "time_zone": "America/Chicago"}
    )

    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    member_a.refresh_from_db()
    assert (member_a.language, member_a.time_zone) == ("fr", "America/Chicago")
    page = member_client.get(reverse("identity:account")).content.decode()
    assert '<html lang="fr">' in page
    assert "America/Chicago" in page  # the footer shows the user's time zone
    [event] = events("preferences.changed")
    assert event.personal["before"] == {"language": "", "time_zone": "UTC"}
    assert event.personal["after"] == {"language": "fr", "time_zone": "America/Chicago"}


def test_unknown_time_zone_is_a_form_error(member_client, member_a):
    response = member_client.post(
        reverse("identity:account"), {"language": "de", "time_zone": "Mars/Olympus_Mons"}
    )
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    member_a.refresh_from_db()
    assert member_a.time_zone == "UTC"
    assert not events("preferences.changed")


def test_language_switcher_keeps_the_choice_for_signed_in_people(member_client, member_a):
    response = member_client.post(
        reverse("identity:set_language"), {"language": "de", "next": "/accounts/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    member_a.refresh_from_db()
    assert member_a.language == "de"
    # A new browser gets the preference at sign-in.
    fresh = Client()
    assert password_step(fresh, member_a.email).cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"


def test_language_switcher_for_anonymous_only_sets_the_cookie(client):
    response = client.post(reverse("identity:set_language"), {"language": "fr"})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    assert not events("preferences.changed")


def test_unknown_language_is_ignored(member_client, member_a):
    member_client.post(reverse("identity:set_language"), {"language": "xx"})
    member_a.refresh_from_db()
    assert member_a.language == ""


def test_base_template_switcher_posts_to_our_view(client):
    body = client.get(reverse("identity:login")).content.decode()
    assert f'action="{reverse("identity:set_language")}"' in body
