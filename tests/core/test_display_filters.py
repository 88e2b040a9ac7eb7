"""Durations, levels, risks and audit actions read as words in the reader's language."""

from datetime import timedelta

from django.utils import translation

from apps.core.audit.labels import action_label
from apps.core.templatetags.custos_format import duration, level_label, risk_label


def test_durations_in_the_largest_whole_unit_and_in_german():
    assert duration(timedelta(days=7)) == "7 days"
    assert duration(timedelta(hours=36)) == "36 hours"
    assert duration(timedelta(minutes=45)) == "45 minutes"
    assert duration(None) == "—"
    with translation.override("de"):
        assert duration(timedelta(days=30)) == "30 Tage"
        assert duration(timedelta(hours=1)) == "1 Stunde"
    with translation.override("fr"):
        assert duration(timedelta(days=1, hours=12)) == "36 heures"


def test_levels_and_risks_are_translated_and_unknown_values_pass_through():
    with translation.override("de"):
        assert level_label("write") == "Schreiben"
        assert risk_label("high") == "Hoch"
        assert risk_label("weird") == "weird"


def test_request_and_break_glass_actions_have_names_in_every_language():
    with translation.override("de"):
        assert action_label("break_glass.activated") == "Notfallzugriff aktiviert"
        assert action_label("access_request.step_approved") == "Genehmigungsschritt erteilt"
    with translation.override("fr"):
        assert action_label("policy.bypassed") == "Politique contournée (urgence)"
    assert action_label("something.unknown") == "something.unknown"
