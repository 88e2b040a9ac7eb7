"""`manage.py licenses_refresh_disposable [--url URL | --file PATH]`: refresh the list of
disposable email domains (also run daily by beat when LICENSES_DISPOSABLE_URL is set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.licenses.services.lists import ListRefreshError, disposable_list_refresh


class Command(BaseCommand):
    help = "Refresh the disposable email domain list from a URL (or a local file)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="", help="Defaults to LICENSES_DISPOSABLE_URL.")
        parser.add_argument("--file", default="", help="Read the list from a local file.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["file"]:
                text = Path(options["file"]).read_text(encoding="utf-8")
                count = disposable_list_refresh(text=text)
            else:
                count = disposable_list_refresh(url=options["url"])
        except (ListRefreshError, OSError) as exc:
            raise CommandError(f"not refreshed: {exc}") from exc
        if count == 0:
            self.stdout.write("No URL configured (LICENSES_DISPOSABLE_URL); nothing to do.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Disposable domain list: {count} domains."))
