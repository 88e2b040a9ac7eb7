"""The API call log's per-process buffer (the default outside tests): one pending flush timer
per process, however many buffers fill while it waits, and nothing held back longer than
API_CALL_LOG_MAX_AGE_SECONDS."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.utils import timezone

from apps.integrations import conf as integrations_conf
from apps.integrations.models import ApiCallRecord, PrincipalKind
from apps.integrations.services import calls


def _record() -> ApiCallRecord:
    return ApiCallRecord(
        occurred_at=timezone.now(),
        principal_kind=PrincipalKind.ANONYMOUS,
        method="GET",
        endpoint="api/v1/me",
        status_code=200,
        latency_ms=1.0,
    )


class _FakeTimer:
    started: list[_FakeTimer] = []

    def __init__(self, interval: float, function: Any) -> None:
        self.interval, self.function, self.daemon = interval, function, False
        _FakeTimer.started.append(self)

    def start(self) -> None:
        pass

    def cancel(self) -> None:
        pass


@pytest.fixture
def fake_timer(monkeypatch: Any) -> list[_FakeTimer]:
    _FakeTimer.started = []
    monkeypatch.setattr(calls.threading, "Timer", _FakeTimer)
    return _FakeTimer.started


def test_buffering_is_the_default_outside_tests() -> None:
    assert integrations_conf.DEFAULTS["API_CALL_LOG_BUFFER_SIZE"] > 1
    assert integrations_conf.DEFAULTS["API_CALL_LOG_MAX_AGE_SECONDS"] <= 2


def test_one_pending_timer_per_process(
    settings: Any, monkeypatch: Any, fake_timer: list[_FakeTimer]
) -> None:
    settings.API_CALL_LOG_BUFFER_SIZE = 2
    settings.API_CALL_LOG_MAX_AGE_SECONDS = 2
    written: list[int] = []
    monkeypatch.setattr(
        calls, "_write", lambda records: written.append(len(records)) if records else None
    )
    for _ in range(5):  # two full buffers written by the requests, one record left
        calls.call_log_record(_record())
    assert written == [2, 2]
    assert len(fake_timer) == 1
    assert fake_timer[0].interval == 2

    # The timer fires (in its own thread, like threading.Timer): it writes what is left ...
    thread = threading.Thread(target=fake_timer[0].function)
    thread.start()
    thread.join()
    assert written == [2, 2, 1]
    # ... and the next record arms a new one.
    calls.call_log_record(_record())
    assert len(fake_timer) == 2


def test_discard_forgets_records_and_timer(settings: Any, fake_timer: list[_FakeTimer]) -> None:
    settings.API_CALL_LOG_BUFFER_SIZE = 10
    calls.call_log_record(_record())
    calls.call_log_discard()
    assert calls.call_log_flush() == 0
    calls.call_log_record(_record())
    assert len(fake_timer) == 2
    calls.call_log_discard()
