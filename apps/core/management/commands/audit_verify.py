"""`manage.py audit_verify`: check the audit chains end to end and against the latest exported,
signed checkpoint. Exits non-zero and names the first broken link of each broken chain."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.audit.verify import audit_verify
from apps.core.models import PLATFORM_CHAIN, chain_key
from apps.core.tenancy import unscoped


class Command(BaseCommand):
    help = "Verify the audit log's hash chains and the latest signed checkpoint."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--chain",
            action="append",
            default=[],
            help=f"Only this chain ('{PLATFORM_CHAIN}' or 'tenant:<id>'); repeatable.",
        )
        parser.add_argument(
            "--tenant",
            action="append",
            default=[],
            help="Only this tenant's chain (slug or id); repeatable.",
        )
        parser.add_argument(
            "--public-key",
            default=None,
            help="PEM file with the checkpoint public key (default: derived from "
            "AUDIT_SIGNING_KEY_FILE).",
        )
        parser.add_argument(
            "--no-checkpoint",
            action="store_true",
            help="Check the hash chains only (skip the signed checkpoint).",
        )

    def _tenant_chain(self, ref: str) -> str:
        tenant_model = apps.get_model("tenants", "Tenant")
        lookup = {"pk": int(ref)} if ref.isdigit() else {"slug": ref}
        with unscoped(reason="audit_verify resolves a tenant"):
            tenant = tenant_model._default_manager.filter(**lookup).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {ref!r}")
        return chain_key(tenant.pk)

    def handle(self, *args: Any, **options: Any) -> None:
        chains = list(options["chain"]) + [self._tenant_chain(t) for t in options["tenant"]]
        report = audit_verify(
            chains=chains or None,
            public_key_path=options["public_key"],
            use_checkpoint=not options["no_checkpoint"],
        )
        rate = report.events_checked / report.seconds if report.seconds else 0.0
        self.stdout.write(
            f"Checked {report.events_checked:,} events in {report.chains_checked:,} chains "
            f"in {report.seconds:.2f} s ({rate:,.0f} events/s, {report.workers} process(es)); "
            f"{report.pseudonymised_events:,} pseudonymised."
        )
        if report.checkpoint is not None:
            statement = report.checkpoint
            self.stdout.write(
                f"Checkpoint of {statement['created_at']} (key {statement['key_id'][:16]}…, "
                f"{len(statement['heads']):,} chains, root {statement['merkle_root'][:16]}…): "
                "signature valid."
            )
        for note in report.notes:
            self.stdout.write(f"Note: {note}")
        if report.ok:
            self.stdout.write(self.style.SUCCESS("Audit log verified: OK"))
            return
        for problem in report.problems:
            self.stderr.write(f"BROKEN {problem}")
        raise CommandError(
            f"audit log verification FAILED ({len(report.problems)} problem(s)); "
            f"first: {report.problems[0]}"
        )
