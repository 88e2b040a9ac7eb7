"""Report kinds. Importing the package registers every kind (see base.register)."""

from apps.reports.kinds import compliance, inventory, lazy, vendor_access
from apps.reports.kinds.base import (
    BuildContext,
    Column,
    ReportData,
    ReportKind,
    kind_get,
    kind_label,
    kinds_available,
)

__all__ = [
    "BuildContext",
    "Column",
    "ReportData",
    "ReportKind",
    "compliance",
    "inventory",
    "kind_get",
    "kind_label",
    "kinds_available",
    "lazy",
    "vendor_access",
]
