"""A tiny but real OpenID Connect provider for tests, served over HTTP from a thread:
discovery document, JWKS (rotatable), token endpoint checking the client secret, the
authorization code and the PKCE verifier (S256), ID tokens signed RS256 with PyJWT."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


class Key:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        data = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        data.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return data


class LocalProvider:
    def __init__(
        self,
        client_id: str = "custos-client",
        client_secret: str = "s3cret-value",  # noqa: S107
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.keys = [Key("k1")]
        self.signing_key = self.keys[0]
        self.codes: dict[str, dict[str, Any]] = {}
        self.claims_override: dict[str, Any] = {}
        self.token_mutator: Any = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def rotate(self) -> None:
        new = Key(f"k{len(self.keys) + 1}")
        self.keys.append(new)
        self.signing_key = new

    def authorize(
        self, *, auth_url: str, sub: str, email: str, extra: dict[str, Any] | None = None
    ) -> str:
        """What the browser + login form at the IdP would do: returns the code."""
        from urllib.parse import urlsplit

        q = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
        assert q["response_type"] == "code"
        assert q["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "nonce": q.get("nonce"),
            "challenge": q["code_challenge"],
            "redirect_uri": q["redirect_uri"],
            "sub": sub,
            "email": email,
            "extra": extra or {},
        }
        return code

    def id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": grant["sub"],
            "email": grant["email"],
            "name": "Olly Oidc",
            "nonce": grant["nonce"],
            "iat": now,
            "exp": now + 300,
            **grant["extra"],
            **self.claims_override,
        }
        if self.token_mutator:
            return self.token_mutator(claims, self)
        return jwt.encode(
            claims,
            self.signing_key.private,
            algorithm="RS256",
            headers={"kid": self.signing_key.kid},
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        op = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    self._json(
                        200,
                        {
                            "issuer": op.issuer,
                            "authorization_endpoint": op.issuer + "/authorize",
                            "token_endpoint": op.issuer + "/token",
                            "jwks_uri": op.issuer + "/jwks",
                            "userinfo_endpoint": op.issuer + "/userinfo",
                            "response_types_supported": ["code"],
                            "id_token_signing_alg_values_supported": ["RS256"],
                            "code_challenge_methods_supported": ["S256"],
                            "token_endpoint_auth_methods_supported": [
                                "client_secret_basic",
                                "client_secret_post",
                            ],
                        },
                    )
                elif self.path == "/jwks":
                    self._json(200, {"keys": [k.jwk() for k in op.keys]})
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                client_id, secret = form.get("client_id"), form.get("client_secret")
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                if client_id != op.client_id or secret != op.client_secret:
                    self._json(401, {"error": "invalid_client"})
                    return
                grant = op.codes.pop(form.get("code", ""), None)
                if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                    self._json(400, {"error": "invalid_grant"})
                    return
                verifier = form.get("code_verifier", "")
                challenge = (
                    base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                    .rstrip(b"=")
                    .decode()
                )
                if challenge != grant["challenge"]:
                    self._json(400, {"error": "invalid_grant", "error_description": "PKCE"})
                    return
                self._json(
                    200,
                    {
                        "access_token": secrets.token_urlsafe(24),
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": op.id_token(grant),
                    },
                )

        return Handler
