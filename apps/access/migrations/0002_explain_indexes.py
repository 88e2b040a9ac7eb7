"""Indexes for the explain pages and the inventory (h3b-visibility): a keyset over one tenant's
grants, newest first (`WHERE tenant_id = %s AND id < %s ORDER BY id DESC LIMIT n`), so the
vendor-access page, the filtered who-can-access pages and the inventory stream read one
tenant's rows only, however many grants the other tenants hold.

Raw SQL without model state on purpose: the index is a read-path detail of the explain
pages, not part of the Grant model's definition (apps/access/models.py is h3-access's), so the
autodetector has nothing to add or remove.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("access", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql="CREATE INDEX IF NOT EXISTS grant_tenant_keyset ON access_grant (tenant_id, id)",
            reverse_sql="DROP INDEX IF EXISTS grant_tenant_keyset",
            elidable=False,
        ),
    ]
