"""Display filters shared by every app's templates: durations and catalogue choices in the
reader's language (`{% load custos_format %}`)."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.translation import ngettext

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """ "7 days", "36 hours", "45 minutes" — the largest whole unit, translated."""
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    if (minutes >= 2 * 24 * 60 and minutes % (24 * 60) == 0) or minutes >= 14 * 24 * 60:
        days = round(minutes / (24 * 60))
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    if minutes >= 60:
        hours = round(minutes / 60)
        return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
    return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}


@register.filter
def level_label(value: str) -> str:
    """The translated name of a permission level ("read" → "Lesen")."""
    from apps.access.models import PermissionLevel

    try:
        return str(PermissionLevel(value).label)
    except ValueError:
        return value


@register.filter
def risk_label(value: str) -> str:
    """The translated name of a risk level ("high" → "Hoch")."""
    from apps.access.models import RiskLevel

    try:
        return str(RiskLevel(value).label)
    except ValueError:
        return value
