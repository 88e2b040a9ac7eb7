"""Welcome mails leave the request as Celery messages after commit: one per transaction by
default, or one per LICENSES_WELCOME_BUFFER_SIZE people (per process, flushed by size or age)."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest

from apps.licenses import notify
from tests.licenses.conftest import bearer

URL = "/api/v1/tenants/acme/users"
pytestmark = pytest.mark.django_db


@pytest.fixture
def published() -> Any:
    notify.welcome_flush()
    with (
        mock.patch("apps.licenses.tasks.welcome_notify_task.delay") as single,
        mock.patch("apps.licenses.tasks.welcomes_notify_task.delay") as grouped,
    ):
        yield single, grouped
    notify.welcome_flush()


def onboard(client: Any, email: str) -> None:
    response = client.post(
        URL,
        data=json.dumps({"email": email, "products": ["office"]}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content


def test_one_message_per_onboarding_by_default(
    api_token, make_pool, published, django_capture_on_commit_callbacks
):
    make_pool(capacity=5)
    client = bearer(api_token())
    with django_capture_on_commit_callbacks(execute=True):
        onboard(client, "one@acme.test")
        onboard(client, "two@acme.test")
    single, grouped = published
    assert single.call_count == 2
    assert not grouped.called


def test_buffered_welcomes_go_out_in_one_message(
    settings, api_token, make_pool, published, tenant_a, django_capture_on_commit_callbacks
):
    settings.LICENSES_WELCOME_BUFFER_SIZE = 3
    settings.LICENSES_WELCOME_MAX_AGE_SECONDS = 60
    make_pool(capacity=5)
    client = bearer(api_token())
    single, grouped = published
    with django_capture_on_commit_callbacks(execute=True):
        onboard(client, "a@acme.test")
        onboard(client, "b@acme.test")
    assert not single.called  # buffered: two people, the buffer holds three
    with django_capture_on_commit_callbacks(execute=True):
        onboard(client, "c@acme.test")
    assert single.call_count == 1  # full: one message for the three (one tenant)
    assert not grouped.called
    tenant_id, welcomes = single.call_args.args
    assert tenant_id == tenant_a.pk
    assert len(welcomes) == 3
    assert all(products == ["Office Suite"] for _user_id, products in welcomes)


def test_buffer_flush_groups_tenants_and_sends(settings, tenant_a, tenant_b, member_a, outsider_b):
    from django.core import mail

    settings.LICENSES_WELCOME_BUFFER_SIZE = 50
    settings.LICENSES_WELCOME_MAX_AGE_SECONDS = 60
    notify.welcome_flush()
    with mock.patch("apps.licenses.tasks.welcomes_notify_task.delay") as grouped:
        notify._welcome_committed(tenant_a.pk, [[member_a.pk, ["Office"]]])
        notify._welcome_committed(tenant_b.pk, [[outsider_b.pk, []]])
        notify._welcome_committed(tenant_a.pk, [[member_a.pk, ["CRM"]]])
        assert notify.welcome_flush() == 3
    (groups,), _kwargs = grouped.call_args
    assert sorted(t for t, _w in groups) == sorted([tenant_a.pk, tenant_b.pk])
    # the task sends each tenant's mails
    from apps.licenses.tasks import welcomes_notify_task

    mail.outbox.clear()
    assert welcomes_notify_task(groups) == 3
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [member_a.email, member_a.email, outsider_b.email]
    )


def test_nothing_is_buffered_when_mails_are_off(settings, tenant_a, published):
    settings.LICENSES_NOTIFY = "off"
    settings.LICENSES_WELCOME_BUFFER_SIZE = 2
    notify.welcome_queue(tenant=tenant_a, welcomes=[(1, [])])
    assert notify.welcome_flush() == 0
