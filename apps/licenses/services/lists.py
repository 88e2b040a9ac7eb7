"""Refreshing the disposable-domain list from LICENSES_DISPOSABLE_URL (one domain per line),
through the SSRF-safe outbound fetcher. The result goes to the var folder, next to (never
over) the list maintained in the repository."""

from __future__ import annotations

import logging

from apps.licenses.conf import conf
from apps.licenses.disposable import disposable_cache_clear, parse_domains, refreshed_file

logger = logging.getLogger("custos.licenses")


class ListRefreshError(Exception):
    pass


def disposable_list_refresh(*, url: str = "", text: str | None = None) -> int:
    """Fetch (or take `text`), validate and store the list; returns the number of domains.
    Nothing is replaced when the download fails or looks wrong (fewer than 10 domains)."""
    if text is None:
        url = url or str(conf("LICENSES_DISPOSABLE_URL") or "")
        if not url:
            return 0
        from apps.integrations.netfetch import OutboundError, outbound_request

        try:
            response = outbound_request("GET", url, max_bytes=5_000_000)
        except OutboundError as exc:
            raise ListRefreshError(str(exc)) from exc
        if response.status != 200:
            raise ListRefreshError(f"HTTP {response.status}")
        text = response.body.decode("utf-8", errors="replace")
    domains = parse_domains(text)
    if len(domains) < 10:
        raise ListRefreshError("the list has fewer than 10 domains; keeping the current one")
    target = refreshed_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text("\n".join(sorted(domains)) + "\n", encoding="utf-8")
    tmp.replace(target)
    disposable_cache_clear()
    logger.info("disposable domain list refreshed: %d domains", len(domains))
    return len(domains)
