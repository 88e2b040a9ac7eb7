"""Key providers: where the key-encryption key (KEK) lives.

The KEK never leaves the provider in the KMS/HSM case, and never reaches the database in any
case. A provider wraps and unwraps *data keys* and knows its key versions; `rotate_keys` asks it
for a new version and re-wraps every data key with it.

`LocalFileKeyProvider` (the default) keeps the KEK versions in a JSON file outside the
database (settings.KEK_FILE), created with mode 0600 on first use. A cloud KMS or an HSM plugs in
by implementing `KeyProvider` (see docs/keys.md) and naming the class in settings.KEY_PROVIDER.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import stat
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

NONCE_BYTES = 12
KEY_BYTES = 32


class KeyProviderError(Exception):
    """The provider could not wrap or unwrap (unknown version, tampered blob, unreachable KMS).
    Messages never contain key material."""


@dataclass(frozen=True)
class KekVersion:
    version: str
    created_at: datetime | None
    state: str  # "current", "previous" (still unwraps), "retired" (material destroyed)
    retired_at: datetime | None = None


class KeyProvider(ABC):
    """What a KEK holder must do. Implementations must be thread-safe."""

    #: Short human description for the key-status page (never secret).
    label: str = "key provider"

    @abstractmethod
    def current_version(self) -> str:
        """The version new data keys are wrapped with."""

    @abstractmethod
    def wrap(self, key: bytes, *, context: bytes) -> tuple[str, bytes]:
        """Wrap `key` with the current version; `context` is bound as associated data.
        Returns (version, blob)."""

    @abstractmethod
    def unwrap(self, blob: bytes, *, version: str, context: bytes) -> bytes:
        """Unwrap a blob made by `wrap` with `version` and the same `context`."""

    @abstractmethod
    def versions(self) -> list[KekVersion]:
        """Every version the provider knows, oldest first."""

    def create_version(self) -> str:
        """Make a new version current and return it. Providers whose rotation is managed
        elsewhere (a KMS with automatic rotation) may raise NotImplementedError; rotate_keys
        then re-wraps onto whatever version is current."""
        raise NotImplementedError

    def retire_version(self, version: str) -> None:
        """Destroy the material of a version nothing is wrapped with any more."""
        raise NotImplementedError


def _now() -> datetime:
    return datetime.now(UTC)


def _b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64d(data: str) -> bytes:
    return base64.b64decode(data.encode("ascii"), validate=True)


class LocalFileKeyProvider(KeyProvider):
    """KEK versions in a 0600 JSON file outside the database:

    {"format": "custos-kek/1", "current": "v2",
     "versions": {"v1": {"key": <base64>, "created_at": ..., "retired_at": null}, ...}}

    Wrapping is AES-256-GCM (random 96-bit nonce, the context as associated data). Other
    processes pick up a rotation on their next wrap (the file's mtime is checked) or the first
    time they meet an unknown version.
    """

    FORMAT = "custos-kek/1"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path or settings.KEK_FILE)
        self.label = "local key file"
        self._lock = threading.RLock()
        self._data: dict[str, Any] | None = None
        self._stamp: tuple[int, int] | None = None

    # --- file handling -------------------------------------------------------------------
    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _check_permissions(self) -> None:
        if os.name != "posix":
            return
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            raise ImproperlyConfigured(
                f"The key-encryption key file {self.path} is readable by others "
                f"(mode {mode:o}); it must be 0600."
            )

    def _write(self, data: dict[str, Any], *, exclusive: bool = False) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        payload = json.dumps(data, indent=1, sort_keys=True).encode()
        if exclusive:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            return
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Serialises writers across processes (two rotate_keys runs, first-use creation)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.name == "posix":
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _create(self) -> None:
        with self._file_lock():
            if self.path.exists():
                return
            data = {
                "format": self.FORMAT,
                "current": "v1",
                "versions": {
                    "v1": {
                        "key": _b64e(AESGCM.generate_key(bit_length=256)),
                        "created_at": _now().isoformat(),
                        "retired_at": None,
                    }
                },
            }
            self._write(data, exclusive=True)

    def _load(self, *, force: bool = False) -> dict[str, Any]:
        with self._lock:
            stamp = self._file_stamp()
            if stamp is None:
                self._create()
                stamp = self._file_stamp()
            if force or self._data is None or stamp != self._stamp:
                self._check_permissions()
                data = json.loads(self.path.read_text())
                if data.get("format") != self.FORMAT:
                    raise ImproperlyConfigured(f"{self.path} is not a Custos KEK file")
                self._data = data
                self._stamp = stamp
            return self._data

    def _material(self, version: str) -> bytes:
        data = self._load()
        entry = data["versions"].get(version)
        if entry is None:  # a rotation by another process: read the file again
            data = self._load(force=True)
            entry = data["versions"].get(version)
        if entry is None or not entry.get("key"):
            raise KeyProviderError(f"key-encryption key version {version!r} is not available")
        return _b64d(entry["key"])

    # --- KeyProvider ---------------------------------------------------------------------
    def current_version(self) -> str:
        return str(self._load()["current"])

    def wrap(self, key: bytes, *, context: bytes) -> tuple[str, bytes]:
        version = self.current_version()
        nonce = secrets.token_bytes(NONCE_BYTES)
        blob = nonce + AESGCM(self._material(version)).encrypt(nonce, key, context)
        return version, blob

    def unwrap(self, blob: bytes, *, version: str, context: bytes) -> bytes:
        material = self._material(version)
        try:
            return AESGCM(material).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context)
        except InvalidTag as exc:
            raise KeyProviderError("wrapped data key failed authentication") from exc

    def versions(self) -> list[KekVersion]:
        data = self._load()
        result = []
        for name, entry in data["versions"].items():
            if name == data["current"]:
                state = "current"
            elif entry.get("key"):
                state = "previous"
            else:
                state = "retired"
            result.append(
                KekVersion(
                    version=name,
                    created_at=_parse(entry.get("created_at")),
                    state=state,
                    retired_at=_parse(entry.get("retired_at")),
                )
            )
        return sorted(result, key=lambda v: int(v.version.lstrip("v") or 0))

    def create_version(self) -> str:
        with self._lock, self._file_lock():
            data = json.loads(json.dumps(self._load(force=True)))
            numbers = [int(name.lstrip("v")) for name in data["versions"]]
            version = f"v{max(numbers, default=0) + 1}"
            data["versions"][version] = {
                "key": _b64e(AESGCM.generate_key(bit_length=256)),
                "created_at": _now().isoformat(),
                "retired_at": None,
            }
            data["current"] = version
            self._write(data)
            self._load(force=True)
            return version

    def retire_version(self, version: str) -> None:
        with self._lock, self._file_lock():
            data = json.loads(json.dumps(self._load(force=True)))
            if version == data["current"]:
                raise KeyProviderError("the current key-encryption key cannot be retired")
            entry = data["versions"].get(version)
            if entry is None or not entry.get("key"):
                return
            entry["key"] = None
            entry["retired_at"] = _now().isoformat()
            self._write(data)
            self._load(force=True)


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


_providers: dict[tuple[str, str], KeyProvider] = {}
_providers_lock = threading.Lock()


def get_key_provider() -> KeyProvider:
    """The configured provider (one instance per class and key file)."""
    path = str(getattr(settings, "KEY_PROVIDER", "apps.core.crypto.providers.LocalFileKeyProvider"))
    cache_key = (path, str(getattr(settings, "KEK_FILE", "")))
    with _providers_lock:
        provider = _providers.get(cache_key)
        if provider is None:
            provider = import_string(path)()
            _providers[cache_key] = provider
        return provider
