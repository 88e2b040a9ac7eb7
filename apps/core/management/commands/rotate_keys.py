"""Rotate the key-encryption key (and optionally data keys) without downtime.

    manage.py rotate_keys                 # new KEK version, re-wrap every data key onto it
    manage.py rotate_keys --data-keys     # also a new data key per tenant (and platform)
    manage.py rotate_keys --reencrypt     # move every stored secret onto the active data keys
    manage.py rotate_keys --retire-old    # destroy KEK versions nothing is wrapped with

An interrupted run is resumed by running the command again: while data keys remain on an older
KEK version no new version is created, the re-wrap just continues. Old KEK versions keep
unwrapping until `--retire-old` (run it once you are sure every process has seen the rotation).
See docs/keys.md.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from apps.core.audit.services import audit_event_record
from apps.core.crypto.envelope import data_keys_rewrap, kek_version_usage
from apps.core.crypto.providers import get_key_provider
from apps.core.crypto.rotation import (
    data_keys_rotate_all,
    kek_versions_retire_unused,
    values_reencrypt,
)


class Command(BaseCommand):
    help = "Rotate the key-encryption key and re-wrap every data key (resumable, online)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--skip-kek",
            action="store_true",
            help="Do not create a new KEK version; only re-wrap data keys onto the current one.",
        )
        parser.add_argument(
            "--data-keys",
            action="store_true",
            help="Create a new data key version for every tenant and the platform.",
        )
        parser.add_argument(
            "--reencrypt",
            action="store_true",
            help="Re-encrypt stored secrets that are not under their active data key.",
        )
        parser.add_argument(
            "--retire-old",
            action="store_true",
            help="Destroy the material of KEK versions that no data key uses any more.",
        )
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args: Any, **options: Any) -> None:
        provider = get_key_provider()
        batch = max(1, int(options["batch_size"]))
        before = provider.current_version()
        usage = kek_version_usage()
        stale = {version: n for version, n in usage.items() if version != before}
        created = ""
        if stale:
            self.stdout.write(
                f"Resuming an unfinished rotation: {sum(stale.values())} data key(s) still on "
                f"{', '.join(sorted(stale))}; re-wrapping onto {before}."
            )
        elif not options["skip_kek"]:
            try:
                created = provider.create_version()
                self.stdout.write(f"New key-encryption key version {created}.")
            except NotImplementedError:
                self.stdout.write(
                    f"{provider.label} rotates its keys itself; re-wrapping onto {before}."
                )
        report = data_keys_rewrap(batch_size=batch)
        self.stdout.write(
            f"Re-wrapped {report.rewrapped} data key(s) onto {report.kek_version} "
            f"({report.already_current} already there)."
        )
        if report.rewrapped or created:
            with transaction.atomic():
                audit_event_record(
                    action="keys.kek_rotated",
                    use_current_tenant=False,
                    target_type="keys.kek",
                    target_id=report.kek_version,
                    details={
                        "from": sorted(stale) or [before],
                        "to": report.kek_version,
                        "rewrapped": report.rewrapped,
                        "provider": provider.label,
                    },
                )
        if report.remaining_by_version:
            raise CommandError(
                "Some data keys are still wrapped with an older version: "
                f"{report.remaining_by_version}. Run the command again."
            )

        if options["data_keys"]:
            rotated = data_keys_rotate_all()
            self.stdout.write(f"New data key version for {len(rotated)} scope(s).")
            with transaction.atomic():
                audit_event_record(
                    action="keys.data_keys_rotated",
                    use_current_tenant=False,
                    target_type="keys.datakey",
                    details={"scopes": [dk.scope for dk in rotated]},
                )

        if options["reencrypt"]:
            result = values_reencrypt(batch_size=batch)
            self.stdout.write(
                f"Re-encrypted {result.reencrypted} value(s), {result.unchanged} already current, "
                f"{result.failed} failed."
            )
            with transaction.atomic():
                audit_event_record(
                    action="keys.values_reencrypted",
                    use_current_tenant=False,
                    target_type="keys.datakey",
                    outcome="failure" if result.failed else "success",
                    details={
                        "reencrypted": result.reencrypted,
                        "failed": result.failed,
                        "by_field": result.by_field,
                    },
                )
            if result.failed:
                raise CommandError(f"{result.failed} value(s) could not be re-encrypted.")

        if options["retire_old"]:
            retired = kek_versions_retire_unused()
            self.stdout.write(
                f"Retired KEK version(s): {', '.join(retired)}."
                if retired
                else "Nothing to retire."
            )
            if retired:
                with transaction.atomic():
                    audit_event_record(
                        action="keys.kek_retired",
                        use_current_tenant=False,
                        target_type="keys.kek",
                        details={"versions": retired},
                    )
