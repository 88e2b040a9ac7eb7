"""`migrate` as the database owner: DDL and RLS policies need it; the application itself runs
as the unprivileged application role (apps.core.db.base).

Two set-ups: the owner logs in and every application connection `SET ROLE`s to the
application role (the owner's credentials are in DATABASE_URL), or — least privilege — the
application logs in as its own role and only this command connects with the owner's
credentials (DATABASE_OWNER_URL, kept in `OWNER_CREDENTIALS` of the connection settings)."""

from typing import Any

from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import connections

CREDENTIAL_KEYS = ("NAME", "USER", "PASSWORD", "HOST", "PORT")


class Command(MigrateCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options["database"]]
        owner = connection.settings_dict.get("OWNER_CREDENTIALS")
        saved = {key: connection.settings_dict.get(key) for key in CREDENTIAL_KEYS}
        if owner:
            connection.close()  # reconnect below with the owner's credentials
            connection.settings_dict.update(owner)
        switch = getattr(connection, "use_owner_role", None)
        if switch is not None:
            switch(True)
        try:
            super().handle(*args, **options)
        finally:
            if switch is not None:
                switch(False)
            if owner:
                connection.close()  # the next query logs in as the application again
                connection.settings_dict.update(saved)
