"""A deliberately leaky URLconf for the cross-tenant walker's self-test
(tests/security/test_cross_tenant_urls.py::test_the_walker_catches_a_leak). Never mounted."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from apps.core.audit.services import audit_event_record
from apps.core.tenancy import unscoped
from apps.tenants.models import Environment


def read_any_environment(
    request: HttpRequest, tenant_slug: str, environment_id: int
) -> HttpResponse:
    with unscoped(reason="test: a deliberate leak"):
        return HttpResponse(Environment.objects.get(pk=environment_id).name)


def write_for_anyone(request: HttpRequest, environment_id: int) -> HttpResponse:
    """Answers 404 as it should, but writes into the object's tenant first."""
    with unscoped(reason="test: a deliberate leak"):
        environment = Environment.objects.get(pk=environment_id)
    audit_event_record(action="test.leak", tenant=environment.tenant_id)
    return HttpResponse(status=404)


urlpatterns = [
    path("t/<slug:tenant_slug>/leak/<int:environment_id>/", read_any_environment),
    path("leak/write/<int:environment_id>/", write_for_anyone),
    path("", include("config.urls")),
]
