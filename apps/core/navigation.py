"""Portal navigation as a registry: each app adds its entries in `AppConfig.ready`, so core
never imports the apps above it. The base template shows the entries whose predicate
accepts the request (per persona)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavEntry:
    key: str
    label: Any  # lazy translation
    url_name: str
    section: str  # "tenant" (needs request.tenant), "staff" or "account"
    visible: Callable[[HttpRequest], bool]
    order: int = 100


_registry: dict[str, NavEntry] = {}


def register(entry: NavEntry) -> None:
    _registry[entry.key] = entry


def entries_for(request: HttpRequest) -> dict[str, list[dict[str, Any]]]:
    sections: dict[str, list[dict[str, Any]]] = {"tenant": [], "staff": [], "account": []}
    tenant = getattr(request, "tenant", None)
    current = getattr(getattr(request, "resolver_match", None), "view_name", "")
    for entry in sorted(_registry.values(), key=lambda e: (e.order, e.key)):
        if entry.section == "tenant" and tenant is None:
            continue
        try:
            if not entry.visible(request):
                continue
            kwargs = {"tenant_slug": tenant.slug} if entry.section == "tenant" and tenant else {}
            url = reverse(entry.url_name, kwargs=kwargs)
        except NoReverseMatch:
            continue
        sections[entry.section].append(
            {
                "key": entry.key,
                "label": entry.label,
                "url": url,
                "active": current == entry.url_name,
            }
        )
    return sections
