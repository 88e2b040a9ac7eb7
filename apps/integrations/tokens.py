"""Bearer credentials: generation, parsing and hashing.

    API key        cus_<prefix>_<secret>     prefix: 12 hex, secret: 43 base62 (~256 bits)
    access token   cat_<prefix>_<secret>

Only HMAC-SHA256(pepper, token) is stored. The secret is 256 random bits, so the hash is not
there to slow down guessing (nothing can) but to make the database alone useless: a stolen or
injected row is no credential without the pepper, which lives in the settings, not the DB.
Verification is one HMAC and one constant-time compare (a few microseconds).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.utils.crypto import salted_hmac

API_KEY_KIND = "cus"
ACCESS_TOKEN_KIND = "cat"  # noqa: S105 - a prefix, not a secret
PREFIX_LEN = 12
SECRET_LEN = 43
_ALPHABET = string.ascii_letters + string.digits
_HEX = frozenset("0123456789abcdef")
_SECRET_CHARS = frozenset(_ALPHABET)


class OneTimeSecret(str):
    """A secret shown once (a new key, a webhook secret): renders as itself in a template or a
    response, but its repr — what error reports, debuggers and log formatters of locals use —
    hides it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<secret shown once: hidden>"


@dataclass(frozen=True)
class ParsedToken:
    kind: str
    prefix: str
    token: str

    def __repr__(self) -> str:  # keeps the secret out of tracebacks and logs
        return f"ParsedToken({self.kind}_{self.prefix}_…)"


@lru_cache(maxsize=4)
def _pepper(configured: str, secret_key: str) -> bytes:
    if configured:
        return configured.encode()
    return salted_hmac(
        "custos.integrations.token-pepper", "v1", secret=secret_key, algorithm="sha256"
    ).digest()


def token_hash(token: str) -> str:
    pepper = _pepper(getattr(settings, "API_TOKEN_PEPPER", ""), settings.SECRET_KEY)
    return hmac.new(pepper, token.encode(), hashlib.sha256).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(token), stored_hash)


def token_generate(kind: str) -> ParsedToken:
    prefix = secrets.token_hex(PREFIX_LEN // 2)
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LEN))
    return ParsedToken(kind=kind, prefix=prefix, token=f"{kind}_{prefix}_{secret}")


def token_parse(value: str, *, kind: str) -> ParsedToken | None:
    """The token if it is well-formed for `kind`, else None (cheap; no DB)."""
    if len(value) != len(kind) + PREFIX_LEN + SECRET_LEN + 2:
        return None
    head, sep, rest = value.partition("_")
    if head != kind or not sep:
        return None
    prefix, sep, secret = rest.partition("_")
    if (
        not sep
        or len(prefix) != PREFIX_LEN
        or not _HEX.issuperset(prefix)
        or len(secret) != SECRET_LEN
        or not _SECRET_CHARS.issuperset(secret)
    ):
        return None
    return ParsedToken(kind=kind, prefix=prefix, token=value)


def random_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))
