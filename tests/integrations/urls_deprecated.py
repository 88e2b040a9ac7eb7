"""A URLconf with a second NinjaAPI whose endpoint is deprecated in code (the decorator), for
the deprecation tests; everything else is the real URLconf."""

from datetime import date

from django.http import HttpRequest
from django.urls import path
from ninja import NinjaAPI

from apps.integrations.auth import ApiKeyAuth
from apps.integrations.deprecation import deprecated
from config.urls import urlpatterns as real_patterns

legacy = NinjaAPI(urls_namespace="api-legacy-test", auth=[ApiKeyAuth()], docs_url=None)


@legacy.get("/ping")
@deprecated(since=date(2026, 1, 1), sunset=date(2027, 6, 30), link="https://docs.example/api")
def ping(request: HttpRequest) -> dict[str, str]:
    return {"pong": "yes"}


urlpatterns = [path("api/v0/", legacy.urls), *real_patterns]
