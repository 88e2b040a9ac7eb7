"""Template helpers of the report PDFs."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def css_string(value: object) -> SafeString:
    """`value` as the inside of a double-quoted CSS string in a <style> element: quotes and
    backslashes escaped, and no `<` or `>` that could close the element."""
    text = " ".join(str(value).split())
    for raw, escaped in (("\\", "\\\\"), ('"', '\\"'), ("<", "\\3C "), (">", "\\3E ")):
        text = text.replace(raw, escaped)
    return mark_safe(text)
