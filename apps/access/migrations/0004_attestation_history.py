"""Compliance attestations get their services and page (issue 3): evidence, who recorded it,
and revocation that keeps the row as history (revoked_at/by/reason). At most one UNREVOKED
attestation per tenant, person and flag (the old constraint covered revoked rows too)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0003_grant_sweep_and_fewer_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="complianceattestation",
            name="compliance_attestation_unique",
        ),
        migrations.AddField(
            model_name="complianceattestation",
            name="evidence",
            field=models.CharField(
                blank=True,
                help_text="Certificate number, training record or ticket reference.",
                max_length=500,
                verbose_name="evidence",
            ),
        ),
        migrations.AddField(
            model_name="complianceattestation",
            name="recorded_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="recorded by",
            ),
        ),
        migrations.AddField(
            model_name="complianceattestation",
            name="revoke_reason",
            field=models.TextField(blank=True, verbose_name="revocation reason"),
        ),
        migrations.AddField(
            model_name="complianceattestation",
            name="revoked_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="revoked"),
        ),
        migrations.AddField(
            model_name="complianceattestation",
            name="revoked_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="revoked by",
            ),
        ),
        migrations.AddConstraint(
            model_name="complianceattestation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("revoked_at__isnull", True)),
                fields=("tenant", "user", "flag"),
                name="compliance_attestation_one_current",
                violation_error_message=(
                    "This person already holds this attestation: renew the existing one."
                ),
            ),
        ),
    ]
