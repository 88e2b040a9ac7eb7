"""/healthz: JSON with the database and broker status, 200 when both answer, 503 otherwise.
The load balancer and monitoring poll it (docs/operator-guide.md), so it needs no login, shows
no tenant data, is never cached, and answers quickly when the broker is gone."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_healthy_is_200_with_database_and_broker_ok(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    data = response.json()
    assert data["status"] == "ok"
    assert data["database"]["ok"] is True
    assert data["database"]["detail"] == "ok"
    assert data["broker"]["ok"] is True
    assert data["broker"]["detail"] == "ok"


def test_the_configured_broker_is_the_one_checked(client: Client) -> None:
    """On CI (Redis) and locally (filesystem broker in a tmp folder) alike."""
    data = client.get("/healthz").json()
    assert data["database"]["vendor"] in {"sqlite", "postgresql"}
    if str(django_settings.CELERY_BROKER_URL).startswith("redis"):
        assert data["broker"]["ok"] is True


def test_an_unreachable_broker_is_503(client: Client, settings: Any) -> None:
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    started = time.monotonic()
    response = client.get("/healthz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    data = response.json()
    assert data["status"] == "unavailable"
    assert data["broker"]["ok"] is False
    assert data["broker"]["detail"]  # the exception's class name, never a stack trace
    assert "Traceback" not in response.content.decode()
    assert data["database"]["ok"] is True
    assert elapsed < 10, f"/healthz took {elapsed:.1f} s with the broker down"


def test_a_missing_filesystem_broker_folder_is_503(
    client: Client, settings: Any, tmp_path: Path
) -> None:
    queue = tmp_path / "queue"
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "control_folder": str(tmp_path / "control"),
    }
    assert client.get("/healthz").status_code == 503
    queue.mkdir()
    (tmp_path / "control").mkdir()
    assert client.get("/healthz").status_code == 200


def test_healthz_is_read_only_and_anonymous(client: Client) -> None:
    assert client.post("/healthz").status_code == 405
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "sessionid" not in response.cookies
