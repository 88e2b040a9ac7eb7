"""Audit actions are shown by their human name, in the reader's language."""

import pytest
from django.conf import settings

from apps.core.audit.labels import ACTION_LABELS, action_label


@pytest.mark.parametrize(
    ("language", "label"),
    [("en", "Member added"), ("de", "Mitglied hinzugefügt"), ("fr", "Membre ajouté")],
)
@pytest.mark.django_db
def test_dashboard_and_audit_log_name_actions_in_the_readers_language(
    client_for, admin_a, language, label
):
    client = client_for(admin_a)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    for url in ("/t/acme/", "/t/acme/audit/"):
        body = client.get(url).content.decode()
        assert label in body, url
        assert "membership.added" in body, url  # the machine name stays visible for filtering


def test_an_action_without_a_label_keeps_its_machine_name():
    assert action_label("brand_new.thing") == "brand_new.thing"
    assert all("." in key or key == "logout" for key in ACTION_LABELS)
