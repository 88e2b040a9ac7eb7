# Every audit append pays for every index on core_auditevent. These three were redundant:
# occurred_at is covered by `audit_time`, tenant_id by the prefix of `audit_tenant_time`, and a
# unique index on the hash (plus its LIKE twin) guards nothing the (chain, seq) constraint and
# the chain itself do not.

from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_datakey"),
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="occurred_at",
            field=models.DateTimeField(editable=False, verbose_name="time"),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="tenant",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="tenants.tenant",
                verbose_name="tenant",
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(max_length=64),
        ),
    ]
