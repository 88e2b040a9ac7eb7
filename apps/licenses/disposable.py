"""The list of disposable email domains: the maintained file in the repository plus the copy
refreshed from LICENSES_DISPOSABLE_URL (kept in the var folder). Re-read when a file changes."""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings

from apps.licenses.conf import conf

SHIPPED = Path(__file__).resolve().parent / "data" / "disposable_domains.txt"
_cache: dict[str, tuple[tuple[float, float], frozenset[str]]] = {}
_checked: dict[str, float] = {}


def refreshed_file() -> Path:
    configured = str(conf("LICENSES_DISPOSABLE_FILE") or "")
    if configured:
        return Path(configured)
    return Path(settings.VAR_DIR) / "licenses" / "disposable_domains.txt"


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def parse_domains(text: str) -> set[str]:
    domains = set()
    for line in text.splitlines():
        item = line.split("#", 1)[0].strip().lower().lstrip("@")
        if item and "." in item and " " not in item:
            domains.add(item)
    return domains


_RECHECK_SECONDS = 5.0


def disposable_domains() -> frozenset[str]:
    """The merged list, re-read when a file changed (checked at most every 5 s: an import
    asks once per row)."""
    cached = _cache.get("domains")
    now = time.monotonic()
    if cached is not None and now - _checked.get("at", -1e9) < _RECHECK_SECONDS:
        return cached[1]
    _checked["at"] = now
    extra = refreshed_file()
    stamp = (_mtime(SHIPPED), _mtime(extra))
    cached = _cache.get("domains")
    if cached is not None and cached[0] == stamp:
        return cached[1]
    domains = parse_domains(SHIPPED.read_text(encoding="utf-8"))
    if stamp[1]:
        domains |= parse_domains(extra.read_text(encoding="utf-8"))
    result = frozenset(domains)
    _cache["domains"] = (stamp, result)
    return result


def disposable_cache_clear() -> None:
    _cache.clear()
    _checked.clear()


def is_disposable(email: str) -> bool:
    domain = email.rsplit("@", 1)[-1].strip().lower()
    if not domain:
        return False
    known = disposable_domains()
    parts = domain.split(".")
    # Sub-domains of a listed domain count too (x.mailinator.com).
    return any(".".join(parts[i:]) in known for i in range(len(parts) - 1))
