"""What every report kind provides, and the registry of kinds.

A kind turns a `BuildContext` (who is covered, which period, the reader's language and time
zone) into `ReportData`: facts for the header, key figures, columns and a row source that is
read lazily (so a 10,000-row report never sits in memory). Kinds that depend on an app that
may not be installed yet (analytics alerts, certification campaigns) register with an
`available()` check that looks the model up at run time, never at import time.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.apps import apps
from django.db.models import Model
from django.utils import formats, timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from apps.core.tenancy import tenant_context, unscoped


@dataclass(frozen=True)
class Column:
    key: str
    label: Any  # lazy translation
    width: int  # characters in the compact (monospace) layout
    align: str = "left"


@dataclass
class Period:
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive
    label: str

    def contains_q(self, field_name: str) -> dict[str, datetime]:
        return {f"{field_name}__gte": self.start, f"{field_name}__lt": self.end}


@dataclass
class BuildContext:
    tenant: Any  # the tenant the report is for (None: platform-wide)
    tenants: list[Any]  # every tenant covered (the tenant, or it and its subsidiaries, or all)
    scope: str
    parameters: dict[str, Any]
    time_zone: str
    period: Period | None = None
    cross_reason: str = ""

    @property
    def multi(self) -> bool:
        return len(self.tenants) != 1 or self.tenant is None

    @property
    def tenant_ids(self) -> list[int]:
        return [t.pk for t in self.tenants]

    @contextmanager
    def reading(self) -> Iterator[None]:
        """The scope the kind's queries run in: the one tenant's own scope, or an explicit
        cross-tenant block whose queries the kind limits to `tenant_ids`."""
        if not self.multi:
            with tenant_context(self.tenants[0]):
                yield
            return
        with unscoped(reason=self.cross_reason or "report over several tenants"):
            yield


@dataclass
class ReportData:
    title: str
    columns: Sequence[Column]
    count: int
    records: Callable[[], Iterator[Any]]
    pdf_row: Callable[[Any], list[str]]
    csv_header: Sequence[str]
    csv_row: Callable[[Any], list[Any]]
    # Kinds whose CSV is not one line per record (the inventory: one line per entitlement a
    # grant gives) provide the lines themselves; `records`/`csv_row` are then used for the PDF.
    csv_lines: Callable[[], Iterator[list[Any]]] | None = None
    facts: list[tuple[Any, str]] = field(default_factory=list)
    figures: list[tuple[Any, str]] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class ReportKind:
    key: str
    label: Promise
    description: Promise
    build: Callable[[BuildContext], ReportData]
    scopes: frozenset[str] = frozenset({"tenant", "portfolio", "platform"})
    needs_period: bool = False
    available: Callable[[], bool] = lambda: True
    order: int = 100


_registry: dict[str, ReportKind] = {}


def register(kind: ReportKind) -> None:
    _registry[kind.key] = kind


def kind_get(key: str) -> ReportKind | None:
    kind = _registry.get(key)
    if kind is None or not kind.available():
        return None
    return kind


def kinds_available(scope: str) -> list[ReportKind]:
    return sorted(
        (k for k in _registry.values() if scope in k.scopes and k.available()),
        key=lambda k: (k.order, k.key),
    )


def kind_label(key: str) -> Any:
    kind = _registry.get(key)
    return kind.label if kind else key


def find_model(*names: str) -> type[Model] | None:
    """A model of another app by class name (`AnomalyAlert`, `Campaign`), or None while that
    app has not shipped it: lets a kind register itself before its data source exists."""
    wanted = {n.lower() for n in names}
    for model in apps.get_models():
        if model.__name__.lower() in wanted:
            return model
    return None


def has_field(model: type[Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except Exception:
        return False
    return True


# --- periods ----------------------------------------------------------------------------------


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def period_bounds(unit: str, start: date) -> tuple[date, date]:
    """[start, end) of the month or quarter containing `start`."""
    first = _month_start(start)
    if unit == "quarter":
        first = date(first.year, 3 * ((first.month - 1) // 3) + 1, 1)
        return first, _add_months(first, 3)
    return first, _add_months(first, 1)


def previous_period(unit: str, now: datetime, tz_name: str) -> tuple[date, date]:
    """The month or quarter that ended before `now` (in the tenant's time zone)."""
    local = now.astimezone(zoneinfo.ZoneInfo(tz_name)).date()
    current_start, _end = period_bounds(unit, local)
    return period_bounds(unit, current_start - timedelta(days=1))


def period_from_parameters(parameters: dict[str, Any], tz_name: str) -> Period:
    tz = zoneinfo.ZoneInfo(tz_name)
    unit = parameters.get("period", "month")
    start_day = date.fromisoformat(str(parameters.get("start")))
    if unit in ("month", "quarter"):
        first, end = period_bounds(unit, start_day)
    else:
        first = start_day
        end = date.fromisoformat(str(parameters.get("end"))) + timedelta(days=1)
    start_dt = datetime.combine(first, time.min, tzinfo=tz)
    end_dt = datetime.combine(end, time.min, tzinfo=tz)
    last = end - timedelta(days=1)
    label = f"{formats.date_format(first, 'SHORT_DATE_FORMAT')} \u2013 " + formats.date_format(
        last, "SHORT_DATE_FORMAT"
    )
    if unit == "month":
        label = formats.date_format(first, "YEAR_MONTH_FORMAT")
    elif unit == "quarter":
        label = _("Q%(q)d %(year)d") % {"q": (first.month - 1) // 3 + 1, "year": first.year}
    return Period(start=start_dt, end=end_dt, label=label)


# --- cell formatting (reader's language and time zone are active while rendering) -----------


def fmt_dt(value: datetime | None, empty: str = "") -> str:
    if value is None:
        return empty
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


def iso(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(zoneinfo.ZoneInfo("UTC")).isoformat(timespec="seconds")


def fmt_int(value: int) -> str:
    return formats.number_format(value, force_grouping=True)
