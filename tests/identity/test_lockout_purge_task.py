"""Old lockout counters are purged on a schedule (beat), not only when someone calls
`lockout_purge()`."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from apps.identity import lockout
from apps.identity.models import LoginThrottle
from apps.identity.tasks import login_throttle_purge_task
from config.celery_app import app as celery_app

pytestmark = pytest.mark.django_db


def test_beat_sends_the_purge_hourly() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["identity-login-throttle-purge"]
    assert entry["task"] == "apps.identity.tasks.login_throttle_purge_task"
    assert entry["schedule"] == 3600
    celery_app.loader.import_default_modules()
    assert entry["task"] in celery_app.tasks


def test_the_task_forgets_cooled_off_counters(time_machine: Any) -> None:
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)
    lockout.lockout_register_failure(email="nobody@acme.test", ip="203.0.113.9")
    assert LoginThrottle.objects.count() == 2  # the account and the (account, IP) pair
    assert login_throttle_purge_task() == 0  # still within the cool-off
    time_machine.shift(settings.LOCKOUT_COOLOFF.total_seconds() + 1)
    assert login_throttle_purge_task.apply().get() == 2
    assert LoginThrottle.objects.count() == 0
