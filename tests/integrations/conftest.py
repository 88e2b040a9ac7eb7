"""Fixtures for the integrations tests: isolated key file and cache, API keys issued through the
service, and a real local HTTP server (stdlib) for webhooks and JWKS."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from apps.core.crypto.envelope import crypto_caches_clear
from apps.integrations.scopes import SCOPES
from apps.integrations.services.api_keys import IssuedKey, api_key_create
from apps.integrations.services.calls import call_log_discard


@pytest.fixture(autouse=True)
def _isolated_integrations(settings: Any, tmp_path: Any) -> Iterator[None]:
    settings.KEK_FILE = tmp_path / "keys" / "kek.json"
    settings.API_CALL_LOG_BUFFER_SIZE = 1
    cache.clear()
    crypto_caches_clear()
    call_log_discard()
    yield
    cache.clear()
    call_log_discard()


@pytest.fixture
def issue_key(admin_a: Any, tenant_a: Any) -> Callable[..., IssuedKey]:
    def issue(*, tenant: Any = None, actor: Any = None, **extra: Any) -> IssuedKey:
        params: dict[str, Any] = {
            "name": "CI pipeline",
            "scopes": list(SCOPES),
            "technical_contact_email": "ops@acme.test",
        }
        params.update(extra)
        return api_key_create(actor=actor or admin_a, tenant=tenant or tenant_a, **params)

    return issue


def bearer(token: str, **extra: Any) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}", **extra)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalServer:
    """A real HTTP server on a random loopback port. `statuses` are answered in order (then
    200); `routes` maps a GET path to a JSON document."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    routes: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def local_server(settings: Any) -> Iterator[LocalServer]:
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = True
    state: dict[str, LocalServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> Received:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            item = Received(self.command, self.path, dict(self.headers.items()), body)
            with state["server"].lock:
                state["server"].received.append(item)
            return item

        def do_POST(self) -> None:
            self._record()
            with state["server"].lock:
                status = state["server"].statuses.pop(0) if state["server"].statuses else 200
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"nope")

        def do_GET(self) -> None:
            self._record()
            doc = state["server"].routes.get(self.path)
            if doc is None:
                self.send_response(404)
                self.end_headers()
                return
            payload = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host, port = httpd.server_address[:2]
    server = LocalServer(url=f"http://{host}:{port}")
    state["server"] = server
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
