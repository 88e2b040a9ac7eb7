"""Human sentences for alerts and findings, rendered in the reader's language from the facts
stored with them (so a German and a French reader see the same alert in their language)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.formats import date_format
from django.utils.translation import gettext as _


def _event_kind(value: str) -> str:
    from apps.certification.analytics.models import EventKind

    try:
        return str(EventKind(value).label)
    except ValueError:
        return value


def _local_time(d: dict[str, Any]) -> str:
    """The weekday and time in the tenant's zone, in the reader's language ("jeu. 02:13")."""
    try:
        return date_format(datetime.fromisoformat(d["local_at"]), "D H:i")
    except (KeyError, TypeError, ValueError):
        return str(d.get("local_time", ""))  # alerts stored before local_at existed


def alert_summary(kind: str, d: dict[str, Any]) -> str:
    who = d.get("person") or d.get("principal") or _("unknown person")
    if kind == "off_hours":
        return _("%(who)s: %(action)s at %(local)s local time, outside business hours") % {
            "who": who,
            "action": _event_kind(d.get("event_kind", "")),
            "local": _local_time(d),
        }
    if kind == "new_country":
        return _("%(who)s: first access from %(country)s (known: %(known)s)") % {
            "who": who,
            "country": d.get("country", "?"),
            "known": ", ".join(d.get("known", [])) or "—",
        }
    if kind == "impossible_travel":
        return _(
            "%(who)s: %(from)s → %(to)s, %(km)s km in %(minutes)s minutes (impossible travel)"
        ) % {
            "who": who,
            "from": d.get("from", "?"),
            "to": d.get("to", "?"),
            "km": d.get("km", "?"),
            "minutes": d.get("minutes", "?"),
        }
    if kind == "bulk_export":
        return _("%(who)s: %(rows)s rows / %(mb)s MB exported within %(window)s minutes") % {
            "who": who,
            "rows": d.get("rows", 0),
            "mb": d.get("mb", 0),
            "window": d.get("window_minutes", "?"),
        }
    if kind == "auth_failures":
        return _("%(who)s: %(count)s failed authentications within %(window)s minutes") % {
            "who": who,
            "count": d.get("count", "?"),
            "window": d.get("window_minutes", "?"),
        }
    return str(kind)


def finding_description(kind: str, d: dict[str, Any]) -> str:
    if kind == "widened":
        return _(
            "%(environment)s: %(original)s at first (%(original_source)s, %(original_date)s), "
            "now also %(wider)s (%(source)s, %(date)s)"
        ) % {
            "environment": d.get("environment", "?"),
            "original": ", ".join(d.get("original_levels", [])),
            "original_source": d.get("original_source", ""),
            "original_date": d.get("original_date", ""),
            "wider": ", ".join(d.get("wider_levels", [])),
            "source": d.get("source", ""),
            "date": d.get("date", ""),
        }
    if kind == "standing":
        if d.get("reason") == "policy":
            return _(
                "%(target)s: open-ended, but the tenant's policy now requires %(risk)s-risk "
                "access to be time-bound"
            ) % {"target": d.get("target", "?"), "risk": d.get("risk", "")}
        return _("%(target)s: open-ended for %(days)s days (policy: at most %(max)s)") % {
            "target": d.get("target", "?"),
            "days": d.get("days", "?"),
            "max": d.get("max_days", "?"),
        }
    if kind == "unused":
        if d.get("last_used"):
            return _("%(target)s: last used %(last)s (%(days)s days ago)") % {
                "target": d.get("target", "?"),
                "last": d.get("last_used"),
                "days": d.get("days", "?"),
            }
        return _("%(target)s: never used in %(days)s days") % {
            "target": d.get("target", "?"),
            "days": d.get("days", "?"),
        }
    if kind == "toxic":
        return _("Rule “%(rule)s”: holds %(held)s of %(items)s (%(threshold)s are toxic)") % {
            "rule": d.get("rule", "?"),
            "held": d.get("held", "?"),
            "items": ", ".join(d.get("items", [])),
            "threshold": d.get("threshold", "?"),
        }
    return str(kind)
