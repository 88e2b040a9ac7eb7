"""Error pages: a clear page with the right status, never a stack trace."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def _render(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    return render(
        request,
        "error.html",
        {"status": status, "title": title, "message": message},
        status=status,
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(request, 400, _("Bad request"), _("The request could not be understood."))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = (
        str(exception)
        if exception and str(exception)
        else _("You do not have permission to do this.")
    )
    return _render(request, 403, _("Not allowed"), message)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(request, 404, _("Not found"), _("There is nothing here, or not for you."))


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "500.html", status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _render(
        request,
        403,
        _("Form expired"),
        _("The form was stale or came from elsewhere. Reload the page and try again."),
    )
