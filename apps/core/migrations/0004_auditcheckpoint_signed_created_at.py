# The checkpoint's created_at is part of the signed statement, so the checkpointer sets it
# (auto_now_add would overwrite it on insert and the trigger forbids a later UPDATE).

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_audit_append_only"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditcheckpoint",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
    ]
