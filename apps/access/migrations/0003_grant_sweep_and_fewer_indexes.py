"""Issue 4 (100,000 grants ending in one minute): the expiry sweeper's UPDATE clears the indexed
`ends_at_due`, so it rewrites an entry in every index of access_grant whose condition the row
meets. The single-column indexes on mostly-NULL foreign keys become partial (only rows that set
them: lookups by a value still use them), `tenant` loses its own index (grant_mapping_key and
grant_tenant_keyset lead with it), and the sweeper's claim of one tenant's due rows gets its
partial index (neither partial index on ends_at_due is written when a grant ends)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0002_explain_indexes"),
        ("integrations", "0002_credential_rotation_mark"),
        ("tenants", "0002_accessteam_accessteammember_and_more"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="grant",
            name="tenant",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="tenants.tenant",
                verbose_name="tenant",
            ),
        ),
        migrations.AlterField(
            model_name="grant",
            name="service_account",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="grants",
                to="access.serviceaccount",
                verbose_name="service account",
            ),
        ),
        migrations.AlterField(
            model_name="grant",
            name="api_key",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="access_grants",
                to="integrations.apikey",
                verbose_name="API key",
            ),
        ),
        migrations.AlterField(
            model_name="grant",
            name="entitlement",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="grants",
                to="access.entitlement",
                verbose_name="entitlement",
            ),
        ),
        migrations.AlterField(
            model_name="grant",
            name="role",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="grants",
                to="access.role",
                verbose_name="role",
            ),
        ),
        migrations.AlterField(
            model_name="grant",
            name="revoked_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="revoked by",
            ),
        ),
        migrations.AlterField(
            model_name="grant",
            name="suspended_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="suspended by",
            ),
        ),
        migrations.AddIndex(
            model_name="grant",
            index=models.Index(
                condition=models.Q(("ends_at_due__isnull", False)),
                fields=["tenant", "ends_at_due", "id"],
                name="grant_sweep_due_tenant",
            ),
        ),
        migrations.AddIndex(
            model_name="grant",
            index=models.Index(
                condition=models.Q(("service_account__isnull", False)),
                fields=["service_account"],
                name="grant_service_account",
            ),
        ),
        migrations.AddIndex(
            model_name="grant",
            index=models.Index(
                condition=models.Q(("api_key__isnull", False)),
                fields=["api_key"],
                name="grant_api_key",
            ),
        ),
        migrations.AddIndex(
            model_name="grant",
            index=models.Index(
                condition=models.Q(("entitlement__isnull", False)),
                fields=["entitlement"],
                name="grant_entitlement",
            ),
        ),
        migrations.AddIndex(
            model_name="grant",
            index=models.Index(
                condition=models.Q(("role__isnull", False)),
                fields=["role"],
                name="grant_role",
            ),
        ),
        migrations.AddIndex(
            model_name="grant",
            index=models.Index(
                condition=models.Q(("revoked_by__isnull", False)),
                fields=["revoked_by"],
                name="grant_revoked_by",
            ),
        ),
        migrations.AddIndex(
            model_name="grant",
            index=models.Index(
                condition=models.Q(("suspended_by__isnull", False)),
                fields=["suspended_by"],
                name="grant_suspended_by",
            ),
        ),
    ]
