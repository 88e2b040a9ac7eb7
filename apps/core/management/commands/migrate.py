"""`migrate` as the database owner: DDL and RLS policies need it; the application itself runs
as the unprivileged application role (apps.core.db.base)."""

from typing import Any

from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import connections


class Command(MigrateCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options["database"]]
        switch = getattr(connection, "use_owner_role", None)
        if switch is not None:
            switch(True)
        try:
            super().handle(*args, **options)
        finally:
            if switch is not None:
                switch(False)
