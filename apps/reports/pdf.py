"""PDF reports with WeasyPrint: an HTML template (extending reports/pdf_base.html) rendered
with the reader's language and time zone, fonts and CSS embedded, no network access."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone


def _no_network(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Reports never fetch anything: a stray <img src="http://..."> must not leak or hang."""
    raise ValueError(f"report rendering does not fetch {url!r}")


def pdf_render(*, template: str, context: dict[str, Any], request: HttpRequest | None) -> bytes:
    import weasyprint  # heavy import: only when a PDF is asked for

    html = render_to_string(template, context, request=request)
    document = weasyprint.HTML(string=html, url_fetcher=_no_network, base_url=".")
    return bytes(document.write_pdf())


def pdf_response(data: bytes, *, basename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="{basename}-{stamp}.pdf"'
    response["Cache-Control"] = "no-store"
    return response
