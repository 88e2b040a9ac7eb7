"""Bulk onboarding files (CSV or XLSX, read with django-import-export's formats and a
`Resource` describing the columns): a dry-run preview with per-row errors, then a background
run (apps.lifecycle.joiner.joiner_import_run) whose progress and result file live on the
`OnboardingImport` row.

Per-row errors (code: message): malformed_row, invalid_email, duplicate_row, unknown_role,
unknown_product, disposable_email, already_member, pool_exhausted (at the row where the pool
would run out). A file that cannot be read at all (format, encoding, no `email` column, too
big) is refused as a whole, with the reason.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import tablib
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets
from import_export.formats.base_formats import CSV, XLSX
from tablib.core import InvalidDimensions

from apps.core.audit.services import audit_event_record
from apps.core.exceptions import Conflict, DomainError
from apps.core.tenancy import tenant_context, unscoped
from apps.licenses.conf import conf
from apps.licenses.disposable import is_disposable
from apps.licenses.models import ImportStatus, LicensePool, OnboardingImport, Product
from apps.licenses.services.provisioning import policy_for
from apps.licenses.services.seats import require_manager
from apps.tenants.models import Membership, Tenant, TenantRole

COLUMNS = [
    "email",
    "full_name",
    "role",
    "department",
    "title",
    "country",
    "language",
    "location",
    "products",
]


class OnboardingRowResource(resources.Resource):
    """The columns of an onboarding file (also the template offered for download)."""

    email = fields.Field(attribute="email", column_name="email", widget=widgets.CharWidget())
    full_name = fields.Field(
        attribute="full_name", column_name="full_name", widget=widgets.CharWidget()
    )
    role = fields.Field(attribute="role", column_name="role", widget=widgets.CharWidget())
    department = fields.Field(
        attribute="department", column_name="department", widget=widgets.CharWidget()
    )
    title = fields.Field(attribute="title", column_name="title", widget=widgets.CharWidget())
    country = fields.Field(attribute="country", column_name="country", widget=widgets.CharWidget())
    language = fields.Field(
        attribute="language", column_name="language", widget=widgets.CharWidget()
    )
    location = fields.Field(
        attribute="location", column_name="location", widget=widgets.CharWidget()
    )
    products = fields.Field(
        attribute="products", column_name="products", widget=widgets.CharWidget()
    )

    class Meta:
        fields = COLUMNS

    def clean_row(self, row: dict[str, Any]) -> dict[str, str]:
        cleaned = {}
        for f in self.fields.values():
            value = f.clean(row) if f.column_name in row else ""
            cleaned[f.attribute] = ("" if value is None else str(value)).strip()
        return cleaned


@dataclass
class RowSpec:
    row: int
    email: str
    full_name: str = ""
    role: str = TenantRole.MEMBER
    department: str = ""
    title: str = ""
    country: str = ""
    language: str = ""
    location: str = ""
    products: list[str] = field(default_factory=list)

    def as_payload(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "full_name": self.full_name,
            "role": self.role,
            "department": self.department,
            "title": self.title,
            "country": self.country,
            "language": self.language,
            "location": self.location,
            "products": self.products,
        }


@dataclass
class Checked:
    specs: list[RowSpec]
    errors: dict[int, list[dict[str, str]]]
    total: int


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def _format_of(filename: str) -> str:
    name = filename.lower()
    if name.endswith(".xlsx"):
        return "xlsx"
    if name.endswith((".csv", ".txt")):
        return "csv"
    raise DomainError(_("Upload a .csv or .xlsx file."), code="unsupported_format")


def _ragged_rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]], dict[int, str]]:
    """Fallback reader for a CSV whose rows do not all have the header's width: keeps the
    good rows, reports the others (row numbers count the header as row 1)."""
    reader = csv.reader(io.StringIO(text))
    try:
        headers = next(reader)
    except StopIteration:
        return [], [], {}
    good: list[tuple[int, list[str]]] = []
    bad: dict[int, str] = {}
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(headers):
            bad[number] = _("expected %(n)d columns, found %(m)d") % {
                "n": len(headers),
                "m": len(values),
            }
        else:
            good.append((number, values))
    return headers, good, bad


def file_read(
    *, filename: str, data: bytes
) -> tuple[list[tuple[int, dict[str, Any]]], dict[int, list[dict[str, str]]]]:
    """Rows as (row number, {column: value}) plus rows that could not be read."""
    if len(data) > int(conf("LICENSES_IMPORT_MAX_BYTES")):
        raise DomainError(_("The file is too large."), code="file_too_large")
    kind = _format_of(filename)
    errors: dict[int, list[dict[str, str]]] = {}
    numbered: list[tuple[int, list[Any]]] = []
    try:
        if kind == "xlsx":
            dataset = XLSX().create_dataset(data)
        else:
            text = data.decode("utf-8-sig")
            headers, good, bad = _ragged_rows(text)
            if bad:
                # Rows of the wrong width: report them, keep reading the good ones.
                dataset = tablib.Dataset(headers=headers)
                numbered = good
                for number, message in bad.items():
                    errors[number] = [_error("malformed_row", message)]
            else:
                dataset = CSV().create_dataset(text)
    except UnicodeDecodeError as exc:
        raise DomainError(
            _("The file is not UTF-8 text; save it as CSV UTF-8 or XLSX."), code="malformed_file"
        ) from exc
    except (csv.Error, InvalidDimensions, ValueError, KeyError, OSError) as exc:
        raise DomainError(
            _("The file could not be read: %(error)s") % {"error": str(exc)[:200]},
            code="malformed_file",
        ) from exc
    except Exception as exc:  # openpyxl raises a zoo of errors for a broken workbook
        raise DomainError(
            _("The file could not be read as a spreadsheet."), code="malformed_file"
        ) from exc
    headers = [str(h or "").strip().lower() for h in (dataset.headers or [])]
    if "email" not in headers:
        raise DomainError(
            _("The first row must name the columns, including %(column)s.") % {"column": "email"},
            code="malformed_file",
        )
    if not numbered:
        numbered = [(i + 2, list(values)) for i, values in enumerate(dataset)]
    rows: list[tuple[int, dict[str, Any]]] = []
    for number, values in numbered:
        if all(v is None or str(v).strip() == "" for v in values):
            continue
        rows.append((number, dict(zip(headers, values, strict=False))))
    if not rows and not errors:
        raise DomainError(_("The file has no rows below its header."), code="empty_file")
    if len(rows) + len(errors) > int(conf("LICENSES_IMPORT_MAX_ROWS")):
        raise DomainError(
            _("At most %(n)d rows per file.") % {"n": conf("LICENSES_IMPORT_MAX_ROWS")},
            code="too_many_rows",
        )
    return rows, errors


def _split_products(value: str) -> list[str]:
    for sep in (";", "|"):
        value = value.replace(sep, ",")
    seen: list[str] = []
    for item in value.split(","):
        key = item.strip().lower()
        if key and key not in seen:
            seen.append(key)
    return seen


def rows_check(
    *,
    tenant: Tenant,
    rows: list[tuple[int, dict[str, Any]]],
    errors: dict[int, list[dict[str, str]]],
    simulate_pools: bool,
) -> Checked:
    """Validate every row; with `simulate_pools`, also find the row at which a pool would
    run out (the dry run). The real run re-checks everything row by row."""
    resource = OnboardingRowResource()
    policy = policy_for(tenant)
    with tenant_context(tenant):
        products = {p.key: p for p in Product.objects.filter(is_active=True)}
        pools = list(
            LicensePool.objects.filter(is_reserve=False, closed_at__isnull=True).select_related(
                "product"
            )
        )
    malformed = len(errors)
    known_roles = set(TenantRole.values)
    errors = defaultdict(list, {k: list(v) for k, v in errors.items()})
    seen: dict[str, int] = {}
    specs: list[RowSpec] = []
    for number, raw in rows:
        cleaned = resource.clean_row(raw)
        problems: list[dict[str, str]] = []
        email = cleaned["email"].lower()
        try:
            validate_email(email)
        except ValidationError:
            problems.append(
                _error(
                    "invalid_email", _("“%(email)s” is not an email address.") % {"email": email}
                )
            )
        else:
            if email in seen:
                problems.append(
                    _error(
                        "duplicate_row",
                        _("%(email)s appears already in row %(row)d.")
                        % {"email": email, "row": seen[email]},
                    )
                )
            else:
                seen[email] = number
            if policy.reject_disposable_email and is_disposable(email):
                problems.append(
                    _error(
                        "disposable_email",
                        _("%(domain)s is a disposable email domain.")
                        % {"domain": email.rsplit("@", 1)[-1]},
                    )
                )
        role = cleaned["role"].lower() or TenantRole.MEMBER
        if role not in known_roles:
            problems.append(
                _error("unknown_role", _("There is no role %(role)s.") % {"role": role})
            )
        keys = _split_products(cleaned["products"])
        problems.extend(
            _error("unknown_product", _("There is no product %(key)s.") % {"key": key})
            for key in keys
            if key not in products
        )
        if problems:
            errors[number].extend(problems)
            continue
        specs.append(
            RowSpec(
                row=number,
                email=email,
                full_name=cleaned["full_name"],
                role=role,
                department=cleaned["department"],
                title=cleaned["title"],
                country=cleaned["country"].upper()[:2],
                language=cleaned["language"].lower()[:10],
                location=cleaned["location"],
                products=keys,
            )
        )
    members = _existing_members(tenant, [s.email for s in specs])
    kept: list[RowSpec] = []
    for spec in specs:
        if spec.email in members:
            errors[spec.row].append(
                _error(
                    "already_member",
                    _("%(email)s is a member of this tenant already.") % {"email": spec.email},
                )
            )
        else:
            kept.append(spec)
    if simulate_pools:
        kept = _simulate_pools(kept, pools, errors)
    total = len(rows) + malformed
    return Checked(specs=kept, errors=dict(errors), total=total)


def _existing_members(tenant: Tenant, emails: list[str]) -> set[str]:
    found: set[str] = set()
    with tenant_context(tenant):
        for start in range(0, len(emails), 1000):
            chunk = emails[start : start + 1000]
            found |= set(
                Membership.objects.filter(user__email__in=chunk).values_list(
                    "user__email", flat=True
                )
            )
    return found


def _pool_key(pools: list[LicensePool], product: str, location: str) -> LicensePool | None:
    candidates = [p for p in pools if p.product.key == product]
    wanted = location.strip().lower()
    for pool in candidates:
        if wanted and pool.location.lower() == wanted:
            return pool
    for pool in candidates:
        if not pool.location:
            return pool
    return candidates[0] if len(candidates) == 1 else None


def _simulate_pools(
    specs: list[RowSpec], pools: list[LicensePool], errors: dict[int, list[dict[str, str]]]
) -> list[RowSpec]:
    free = {p.pk: p.free for p in pools}
    kept = []
    for spec in specs:
        wanted = []
        problem = None
        for key in spec.products:
            pool = _pool_key(pools, key, spec.location)
            if pool is None:
                problem = _error(
                    "no_pool",
                    _("The product %(key)s has no pool for the location %(location)s.")
                    % {"key": key, "location": spec.location or "—"},
                )
                break
            if free[pool.pk] <= 0:
                problem = _error(
                    "pool_exhausted",
                    _("The licence pool %(pool)s runs out of seats at this row.")
                    % {"pool": pool.name},
                )
                break
            wanted.append(pool.pk)
        if problem is not None:
            errors[spec.row].append(problem)
            continue
        for pk in wanted:
            free[pk] -= 1
        kept.append(spec)
    return kept


def _errors_list(errors: dict[int, list[dict[str, str]]], rows: dict[int, str]) -> list[Any]:
    return [
        {"row": number, "email": rows.get(number, ""), "errors": problems}
        for number, problems in sorted(errors.items())
    ]


@transaction.atomic
def import_preview(*, actor: Any, tenant: Tenant, filename: str, data: bytes) -> OnboardingImport:
    """The dry run: read and check every row, store the file and the per-row errors. Nothing
    is created (the preview changes no user, seat or pool)."""
    require_manager(actor=actor, tenant=tenant)
    rows, read_errors = file_read(filename=filename, data=data)
    checked = rows_check(tenant=tenant, rows=rows, errors=read_errors, simulate_pools=True)
    emails = {n: str(raw.get("email") or "") for n, raw in rows}
    with tenant_context(tenant):
        imp = OnboardingImport.objects.create(
            tenant=tenant,
            filename=filename[:200],
            file_format=_format_of(filename),
            source=data,
            total_rows=checked.total,
            valid_rows=len(checked.specs),
            preview_errors=_errors_list(checked.errors, emails),
            created_by=actor if getattr(actor, "_meta", None) else None,
        )
        audit_event_record(
            action="onboarding_import.previewed",
            actor=actor,
            target=imp,
            after={"rows": checked.total, "valid": len(checked.specs), "file": filename},
        )
    return imp


def import_confirm(*, actor: Any, imp: OnboardingImport) -> OnboardingImport:
    """Start the background run of a previewed file (guarded: once)."""
    tenant = Tenant.objects.get(pk=imp.tenant_id)
    require_manager(actor=actor, tenant=tenant)
    with tenant_context(tenant), transaction.atomic():
        started = OnboardingImport.objects.filter(pk=imp.pk, status=ImportStatus.PREVIEWED).update(
            status=ImportStatus.QUEUED
        )
        if not started:
            raise Conflict(_("This import was started already."), code="already_started")
        imp.status = ImportStatus.QUEUED
        audit_event_record(action="onboarding_import.started", actor=actor, target=imp)
    return imp


def import_cancel(*, actor: Any, imp: OnboardingImport) -> bool:
    tenant = Tenant.objects.get(pk=imp.tenant_id)
    require_manager(actor=actor, tenant=tenant)
    with tenant_context(tenant), transaction.atomic():
        done = OnboardingImport.objects.filter(
            pk=imp.pk, status__in=(ImportStatus.PREVIEWED, ImportStatus.QUEUED)
        ).update(status=ImportStatus.CANCELLED, finished_at=timezone.now())
        if done:
            audit_event_record(action="onboarding_import.cancelled", actor=actor, target=imp)
    return bool(done)


def import_claim(*, import_id: int) -> OnboardingImport | None:
    """Take a queued import (or one whose worker died: lease expired) for this worker."""
    now = timezone.now()
    lease = now + timedelta(minutes=10)
    with unscoped(reason="import runner: claim a queued import"):
        taken = (
            OnboardingImport.objects.filter(pk=import_id)
            .filter(
                Q(status=ImportStatus.QUEUED) | Q(status=ImportStatus.RUNNING, lease_until__lt=now)
            )
            .update(status=ImportStatus.RUNNING, lease_until=lease, started_at=now)
        )
        if not taken:
            return None
        return OnboardingImport.objects.select_related("tenant").get(pk=import_id)


def imports_due() -> list[int]:
    now = timezone.now()
    with unscoped(reason="import sweeper: queued imports of every tenant"):
        return list(
            OnboardingImport.objects.filter(
                Q(status=ImportStatus.QUEUED) | Q(status=ImportStatus.RUNNING, lease_until__lt=now)
            ).values_list("pk", flat=True)[:20]
        )


def import_progress(*, imp: OnboardingImport, processed: int, created: int, failed: int) -> None:
    """Progress, committed on its own so the page polling it sees it move; renews the lease."""
    with unscoped(reason="import runner: progress"):
        OnboardingImport.objects.filter(pk=imp.pk).update(
            processed_rows=processed,
            created_count=created,
            failed_count=failed,
            lease_until=timezone.now() + timedelta(minutes=10),
        )


RESULT_HEADERS = ["row", "email", "status", "user_id", "seats", "error_code", "error"]


def result_file(results: list[dict[str, Any]]) -> bytes:
    dataset = tablib.Dataset(headers=RESULT_HEADERS)
    for r in results:
        dataset.append([r.get(h, "") for h in RESULT_HEADERS])
    return str(CSV().export_data(dataset)).encode("utf-8")


def import_finish(
    *, imp: OnboardingImport, results: list[dict[str, Any]], created: int, failed: int
) -> None:
    tenant = imp.tenant
    with tenant_context(tenant), transaction.atomic():
        OnboardingImport.objects.filter(pk=imp.pk).update(
            status=ImportStatus.DONE,
            processed_rows=len([r for r in results if r.get("status") != "skipped"]),
            created_count=created,
            failed_count=failed,
            result=result_file(results),
            finished_at=timezone.now(),
            lease_until=None,
        )
        audit_event_record(
            action="onboarding_import.finished",
            target=imp,
            after={"onboarded": created, "failed": failed},
        )


def import_fail(*, imp: OnboardingImport, error: str) -> None:
    with unscoped(reason="import runner: failure"):
        OnboardingImport.objects.filter(pk=imp.pk).update(
            status=ImportStatus.FAILED, error=error[:500], finished_at=timezone.now()
        )


def template_file() -> bytes:
    dataset = tablib.Dataset(headers=COLUMNS)
    dataset.append(
        ["jane.doe@example.com", "Jane Doe", "member", "Sales", "Account manager", "DE", "de",
         "Berlin", "office"]
    )  # fmt: skip
    return str(CSV().export_data(dataset)).encode("utf-8")
