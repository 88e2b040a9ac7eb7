"""Room on each page of the grant snapshot for a second version of its rows (PostgreSQL).

The emergency suspension flags every snapshot row of the tenant `suspended_by_incident` in one
statement. The flag is in no index, so with free space on the page the update is a HOT update
(no new entry in any of the table's indexes); freshly inserted pages are full, which made each
of those updates a new tuple plus one insertion into every index. A storage parameter only: no
model state, so the autodetector has nothing to add or remove.
"""

from typing import Any

from django.db import migrations

FILLFACTOR = 50


def _set(fillfactor: int | None) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        action = "RESET (fillfactor)" if fillfactor is None else f"SET (fillfactor = {fillfactor})"
        schema_editor.execute(f"ALTER TABLE incidents_grantsnapshot {action}")

    return run


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]

    operations = [
        migrations.RunPython(_set(FILLFACTOR), _set(None), elidable=False),
    ]
