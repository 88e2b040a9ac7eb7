"""Deprecated endpoints: `Deprecation` (RFC 9745: `@<unix time>`), `Sunset` (RFC 8594:
HTTP-date) and `Link` headers, plus a record of which client still calls them.

Mark an endpoint in code (decorator *below* the route decorator):

    @router.get("/tenants/{tenant_slug}/things")
    @deprecated(since=date(2026, 12, 1), sunset=date(2027, 6, 30), link="https://…")
    def things(request, tenant_slug: str): ...

or by configuration, without a release: settings.API_DEPRECATIONS =
{"GET api/v1/tenants/<tenant_slug>/things": {"since": "2026-12-01", "sunset": "2027-06-30",
"link": "https://…"}} (the key is the method and the URL route as Django resolves it).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.http import http_date

from apps.integrations.conf import conf


@dataclass(frozen=True)
class Deprecation:
    since: date | None = None
    sunset: date | None = None
    link: str = ""

    def headers(self) -> dict[str, str]:
        result = {}
        if self.since is not None:
            moment = datetime.combine(self.since, time.min)
            result["Deprecation"] = f"@{calendar.timegm(moment.timetuple())}"
        else:
            result["Deprecation"] = "true"
        if self.sunset is not None:
            end = datetime.combine(self.sunset, time(23, 59, 59))
            result["Sunset"] = http_date(calendar.timegm(end.timetuple()))
        if self.link:
            links = [f'<{self.link}>; rel="deprecation"; type="text/html"']
            if self.sunset is not None:
                links.append(f'<{self.link}>; rel="sunset"; type="text/html"')
            result["Link"] = ", ".join(links)
        return result


def deprecated(
    *, since: date | None = None, sunset: date | None = None, link: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    info = Deprecation(since=since, sunset=sunset, link=link)

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            request.custos_deprecation = info  # type: ignore[attr-defined]
            return func(request, *args, **kwargs)

        wrapper.custos_deprecation = info  # type: ignore[attr-defined]
        return wrapper

    return decorator


def _parse_date(value: Any) -> date | None:
    if not value:
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def deprecation_for(request: HttpRequest, *, method: str, route: str) -> Deprecation | None:
    found = getattr(request, "custos_deprecation", None)
    if found is not None:
        return found
    configured = conf("API_DEPRECATIONS").get(f"{method} {route}")
    if not configured:
        return None
    return Deprecation(
        since=_parse_date(configured.get("since")),
        sunset=_parse_date(configured.get("sunset")),
        link=str(configured.get("link", "")),
    )


def deprecation_apply(response: HttpResponse, info: Deprecation) -> None:
    for name, value in info.headers().items():
        response[name] = value
