"""Customer notifications per jurisdiction and language, deadlines with reminders (the beat
task), and policy changes recorded against the incident."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from apps.access.models import PolicyRule, StandingAccessPolicy
from apps.core.tenancy import tenant_context
from apps.identity.models import User
from apps.incidents import services
from apps.incidents.models import CustomerNotification, NotificationStatus, PolicyChange
from apps.incidents.tasks import incident_notifications_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(world: Any, security_officer: User) -> Any:
    return services.incident_open(
        actor=security_officer, title="Data exposure", severity="high", tenants=[world.tenant_a]
    )


@pytest.mark.parametrize(
    ("language", "phrase"),
    [("en", "Dear administrators"), ("de", "Sehr geehrte"), ("fr", "Madame, Monsieur")],
)
def test_gdpr_template_in_the_customers_language_with_72_hours(
    world: Any, incident: Any, security_officer: User, admin_a: User, language: str, phrase: str
) -> None:
    notice = services.notification_draft(
        actor=security_officer,
        incident=incident,
        tenant=world.tenant_a,
        jurisdiction="gdpr",
        language=language,
    )
    assert notice.deadline_at == incident.detected_at + timedelta(hours=72)
    assert notice.recipients == [admin_a.email]
    assert phrase in notice.body
    assert incident.reference in notice.subject
    assert "33" in notice.body
    assert "72" in notice.body


def test_reminders_before_the_deadline_then_sent_once(
    world: Any, incident: Any, security_officer: User
) -> None:
    notice = services.notification_draft(
        actor=security_officer,
        incident=incident,
        tenant=world.tenant_a,
        jurisdiction="gdpr",
        language="en",
    )
    assert notice.remind_at == notice.deadline_at - timedelta(hours=24)
    with time_machine.travel(notice.deadline_at - timedelta(hours=23), tick=False):
        assert incident_notifications_task() == {"sent": 0, "reminded": 1}
        assert incident_notifications_task() == {"sent": 0, "reminded": 0}
    assert mail.outbox[-1].to == [security_officer.email]
    assert "Reminder" in mail.outbox[-1].subject
    with time_machine.travel(notice.deadline_at + timedelta(minutes=1), tick=False):
        assert incident_notifications_task()["reminded"] == 1
        assert "OVERDUE" in mail.outbox[-1].subject
    services.notification_send(actor=security_officer, notification=notice)
    with pytest.raises(services.IncidentConflict):
        services.notification_send(actor=security_officer, notification=notice)
    mail.outbox.clear()
    assert incident_notifications_task()["sent"] == 1
    assert incident_notifications_task()["sent"] == 0
    (sent,) = mail.outbox
    assert sent.to == notice.recipients
    with tenant_context(world.tenant_a):
        notice = CustomerNotification.objects.get(pk=notice.pk)
    assert notice.status == NotificationStatus.SENT
    assert notice.remind_at is None


def test_contract_jurisdiction_needs_a_deadline(
    world: Any, incident: Any, security_officer: User
) -> None:
    with pytest.raises(services.IncidentError, match="no fixed deadline"):
        services.notification_draft(
            actor=security_officer,
            incident=incident,
            tenant=world.tenant_a,
            jurisdiction="contract",
            language="fr",
        )
    with pytest.raises(services.IncidentError, match="Unknown jurisdiction"):
        services.notification_draft(
            actor=security_officer,
            incident=incident,
            tenant=world.tenant_a,
            jurisdiction="mars",
            language="fr",
        )


def test_policy_changes_are_made_and_recorded(
    world: Any, incident: Any, security_officer: User
) -> None:
    services.policy_change_apply(
        actor=security_officer,
        incident=incident,
        tenant=world.tenant_a,
        kind="require_mfa",
        finding="Password-only sign-ins were abused.",
    )
    services.policy_change_apply(
        actor=security_officer,
        incident=incident,
        tenant=world.tenant_a,
        kind="max_duration",
        finding="Standing access too long.",
        risk_level="high",
        max_hours=8,
    )
    with pytest.raises(services.IncidentError, match="would not shorten"):
        services.policy_change_apply(
            actor=security_officer,
            incident=incident,
            tenant=world.tenant_a,
            kind="max_duration",
            finding="again",
            risk_level="high",
            max_hours=24,
        )
    with tenant_context(world.tenant_a):
        assert PolicyChange.objects.filter(incident=incident).count() == 2
        rule = PolicyRule.objects.get(is_current=True, key__startswith="incident-")
        policy = StandingAccessPolicy.objects.get(risk_level="high")
    assert rule.effect == "deny"
    assert policy.max_duration == timedelta(hours=8)
    assert timezone.now()  # the change is in force at once (policy version bumped by access)
