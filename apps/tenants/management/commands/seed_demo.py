"""`manage.py seed_demo`: the demo tenants, environments, contracts, people and vendor staff.

Idempotent: whatever exists already (matched by slug, email or reference) is left exactly as it
is, so re-running changes nothing. Writes go through the tenant services, so the demo's audit
log starts with a realistic trail (tenant.created, membership.added, ...). Refuses to touch a
non-SQLite database of a non-DEBUG deployment unless --force: it is demo data with a published
password and published TOTP secrets.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core.audit.services import audit_event_record
from apps.core.tenancy import tenant_context
from apps.identity import services as identity_services
from apps.identity.mfa import mfa_required_for
from apps.identity.models import User, UserKind
from apps.tenants import services as tenant_services
from apps.tenants.management.demo_data import (
    DEMO_PASSWORD,
    OPERATOR,
    STAFF,
    TENANTS,
    Person,
    StaffSpec,
    TenantSpec,
    demo_totp_key,
)
from apps.tenants.models import Contract, Environment, Membership, Tenant

TOTP_COMMAND = ".venv/bin/python manage.py demo_totp EMAIL"


class Command(BaseCommand):
    help = "Create the demo data set (idempotent). Refuses production databases unless --force."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even though DEBUG is off and the database is not SQLite.",
        )
        parser.add_argument(
            "--all-logins",
            action="store_true",
            help="List every demo account, not only one per persona.",
        )
        parser.add_argument(
            "--no-logins", action="store_true", help="Do not print the table of demo logins."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and connection.vendor != "sqlite" and not options["force"]:
            raise CommandError(
                "seed_demo creates accounts with a published password and published MFA "
                "secrets. This database is not SQLite and DEBUG is off: refusing. "
                "Use --force if this really is a demo installation."
            )
        self.created: dict[str, int] = defaultdict(int)
        self._password_hash = ""
        with transaction.atomic():
            operator = self._staff(OPERATOR, superuser=True, actor=None)
            for staff in STAFF:
                self._staff(staff, superuser=False, actor=operator)
            for tenant in TENANTS:
                self._tenant(tenant, operator)
            from apps.licenses.demo_data import seed_licenses

            if pools := seed_licenses(operator=operator):
                self.created["licence pools"] += pools
            from apps.access.demo_data import seed_access

            if grants := seed_access(operator=operator):
                self.created["access grants"] += grants
            from apps.requests.demo_data import seed_requests

            if made := seed_requests(operator=operator):
                self.created["access requests"] += made
        if self.created:
            summary = ", ".join(f"{n} {what}" for what, n in sorted(self.created.items()))
            self.stdout.write(self.style.SUCCESS(f"Demo data created: {summary}."))
        else:
            self.stdout.write("Demo data is present already; nothing changed.")
        if not options["no_logins"]:
            self._print_logins(all_logins=options["all_logins"])

    # --- users ----------------------------------------------------------------------------

    def _demo_password_hash(self) -> str:
        # One hash for every demo account: they share the documented password anyway, and
        # hashing it per account would add tens of seconds to `make demo`.
        if not self._password_hash:
            self._password_hash = make_password(DEMO_PASSWORD)
        return self._password_hash

    def _user(self, *, email: str, actor: User | None, **fields: Any) -> User:
        user = User.objects.filter(email__iexact=email).first()
        if user is not None:
            return user
        manager = User.objects
        create = manager.create_superuser if fields.pop("superuser", False) else manager.create_user
        user = create(email=email, password=None, **fields)
        user.password = self._demo_password_hash()
        user.save(update_fields=["password"])
        audit_event_record(
            action="user.created",
            actor=actor or user,
            target=user,
            after={"email": user.email, "kind": user.kind, "staff_role": user.staff_role},
            details={"via": "seed_demo"},
            use_current_tenant=False,
        )
        self.created["users"] += 1
        return user

    def _ensure_demo_mfa(self, user: User) -> None:
        """A confirmed authenticator with the demo-derived secret, for accounts that must use
        MFA and have none yet (an account that enrolled its own device keeps it)."""
        if not mfa_required_for(user) or TOTPDevice.objects.filter(user=user).exists():
            return
        device = TOTPDevice.objects.create(
            user=user,
            name=identity_services.TOTP_DEVICE_NAME,
            key=demo_totp_key(user.email),
            confirmed=True,
        )
        audit_event_record(
            action="mfa.enrolled",
            actor=user,
            target=user,
            details={"device": "totp", "device_id": device.pk, "via": "seed_demo"},
            use_current_tenant=False,
        )
        self.created["authenticators"] += 1

    def _staff(self, spec: StaffSpec, *, superuser: bool, actor: User | None) -> User:
        fields: dict[str, Any] = {
            "full_name": spec.name,
            "country": spec.country,
            "language": spec.language,
            "time_zone": spec.time_zone,
        }
        if superuser:
            fields["superuser"] = True
        else:
            fields.update(kind=UserKind.STAFF, staff_role=spec.staff_role)
        user = self._user(email=spec.email, actor=actor, **fields)
        self._ensure_demo_mfa(user)
        return user

    # --- tenants --------------------------------------------------------------------------

    def _tenant(self, spec: TenantSpec, operator: User) -> None:
        tenant = Tenant.objects.filter(slug=spec.slug).first()
        new_tenant = tenant is None
        if tenant is None:
            parent = Tenant.objects.get(slug=spec.parent) if spec.parent else None
            tenant = tenant_services.tenant_create(
                actor=operator,
                slug=spec.slug,
                name=spec.name,
                tier=spec.tier,
                region=spec.region,
                data_residency=spec.data_residency,
                time_zone=spec.time_zone,
                parent=parent,
            )
            self.created["tenants"] += 1
        for contract in spec.contracts:
            with tenant_context(tenant):
                exists = Contract.objects.filter(reference=contract.reference).exists()
            if not exists:
                tenant_services.contract_create(
                    actor=operator,
                    tenant=tenant,
                    reference=contract.reference,
                    starts_on=contract.starts_on,
                    ends_on=contract.ends_on,
                    sla_hours=contract.sla_hours,
                )
                self.created["contracts"] += 1
        people = {p.email: self._person(p, tenant, operator) for p in spec.people}
        for email, role in spec.extra_members:
            self._membership(tenant, operator, User.objects.get(email=email), role=role)
        for env in spec.environments:
            with tenant_context(tenant):
                exists = Environment.objects.filter(slug=env.slug).exists()
            if exists:
                continue
            tenant_services.environment_create(
                actor=operator,
                tenant=tenant,
                slug=env.slug,
                name=env.name,
                kind=env.kind,
                sensitivity=env.sensitivity,
                region=env.region,
                on_premises=env.on_premises,
                owner=people.get(env.owner),
                description=env.description,
            )
            self.created["environments"] += 1
        # Statuses and leavers only when the tenant is new: a re-run must not undo what
        # somebody changed in the demo since.
        if new_tenant:
            for person in spec.people:
                if person.leaver:
                    self._offboard(people[person.email], tenant, operator)
            if spec.status != "active":
                tenant_services.tenant_set_status(
                    actor=operator, tenant=tenant, status=spec.status, reason=spec.status_reason
                )

    def _person(self, person: Person, tenant: Tenant, operator: User) -> User:
        user = self._user(
            email=person.email,
            actor=operator,
            full_name=person.name,
            country=person.country,
            language=person.language,
            time_zone=tenant.time_zone,
        )
        manager = User.objects.get(email=person.manager) if person.manager else None
        self._membership(
            tenant,
            operator,
            user,
            role=person.role,
            department=person.department,
            title=person.title,
            manager=manager,
        )
        self._ensure_demo_mfa(user)
        return user

    def _membership(
        self, tenant: Tenant, operator: User, user: User, *, role: str, **fields: Any
    ) -> None:
        with tenant_context(tenant):
            if Membership.objects.filter(user=user).exists():
                return
        tenant_services.membership_add(
            actor=operator, tenant=tenant, user=user, role=role, **fields
        )
        self.created["memberships"] += 1

    def _offboard(self, user: User, tenant: Tenant, operator: User) -> None:
        with tenant_context(tenant):
            membership = Membership.objects.get(user=user)
        tenant_services.membership_remove(actor=operator, membership=membership)
        identity_services.user_disable(
            actor=operator, user=user, reason="Left the company (demo leaver)."
        )

    # --- output ---------------------------------------------------------------------------

    def _print_logins(self, *, all_logins: bool) -> None:
        rows: list[tuple[str, str, str, str]] = [
            (spec.email, spec.featured or spec.staff_role.replace("_", " "), "—", "yes")
            for spec in (OPERATOR, *STAFF)
            if all_logins or spec.featured
        ]
        tenants_of: dict[str, list[str]] = defaultdict(list)
        for tenant_spec in TENANTS:
            for person in tenant_spec.people:
                tenants_of[person.email].append(tenant_spec.slug)
            for email, _role in tenant_spec.extra_members:
                tenants_of[email].append(tenant_spec.slug)
        for tenant_spec in TENANTS:
            for person in tenant_spec.people:
                if person.leaver or not (all_logins or person.featured):
                    continue
                mfa = "yes" if person.role in ("customer_admin", "delegated_admin") else "no"
                label = person.featured or person.role.replace("_", " ")
                if tenant_spec.status != "active":
                    label += f" ({tenant_spec.status} tenant)"
                rows.append((person.email, label, ", ".join(tenants_of[person.email]), mfa))
        headers = ("Email", "Persona", "Tenant", "Password", "MFA")
        table = [
            (email, persona, tenants, DEMO_PASSWORD, mfa) for email, persona, tenants, mfa in rows
        ]
        widths = [max(len(str(r[i])) for r in (headers, *table)) for i in range(len(headers))]
        line = "  ".join("{:<%d}" % w for w in widths)  # noqa: UP031 -- column widths
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING("Demo logins"))
        self.stdout.write(line.format(*headers))
        self.stdout.write(line.format(*("-" * w for w in widths)))
        for row in table:
            self.stdout.write(line.format(*row))
        self.stdout.write("")
        self.stdout.write(f"Every demo account's password: {DEMO_PASSWORD}")
        self.stdout.write(
            f"MFA: run `{TOTP_COMMAND}` for the current six-digit code (demo accounts only)."
        )
        if not all_logins:
            self.stdout.write(
                "More accounts (every tenant's approvers, reviewers and members): "
                "`.venv/bin/python manage.py seed_demo --all-logins`."
            )
