"""Outbound HTTP to customer-supplied URLs (webhooks, JWKS) without becoming an SSRF proxy.

The host name is resolved once, every address is checked (no private, loopback, link-local,
multicast or reserved ranges unless OUTBOUND_ALLOW_PRIVATE_NETWORKS), and the connection goes
to that checked address (TLS still verifies the certificate for the host name), so a DNS answer
that changes between check and connect (rebinding) cannot redirect the request. No redirects are
followed; responses are read up to a size limit; timeouts are short.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from apps.integrations.conf import conf


class OutboundError(Exception):
    """The URL may not be fetched, or the fetch failed (message is safe to show)."""


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    body: bytes
    headers: dict[str, str]


def _address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if conf("OUTBOUND_ALLOW_PRIVATE_NETWORKS"):
        return True
    return ip.is_global and not ip.is_multicast


def url_check(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, path+query, pinned IP) or OutboundError."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    allow_plain = bool(conf("OUTBOUND_ALLOW_PRIVATE_NETWORKS"))
    if scheme not in ("https", "http") or (scheme == "http" and not allow_plain):
        raise OutboundError("only https:// URLs are allowed")
    if not parts.hostname or parts.username or parts.password:
        raise OutboundError("the URL needs a host name and no credentials")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise OutboundError("the URL has an invalid port") from exc
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OutboundError("the host name does not resolve") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not addresses or not all(_address_allowed(a) for a in addresses):
        raise OutboundError("the host resolves to an address that is not public")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port, path, addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def outbound_request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float | None = None,
    max_bytes: int | None = None,
) -> OutboundResponse:
    scheme, host, port, path, ip = url_check(url)
    timeout = float(timeout or conf("OUTBOUND_TIMEOUT_SECONDS"))
    limit = int(max_bytes or conf("OUTBOUND_MAX_RESPONSE_BYTES"))
    cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = cls(host, port, ip, timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read(limit + 1)
        if len(data) > limit:
            raise OutboundError("the response is too large")
        return OutboundResponse(
            status=response.status,
            body=data,
            headers={k.lower(): v for k, v in response.getheaders()},
        )
    except (OSError, http.client.HTTPException) as exc:
        raise OutboundError(f"request failed: {type(exc).__name__}") from exc
    finally:
        connection.close()
