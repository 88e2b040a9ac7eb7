"""Lockout: growing, bounded waits with a cool-off; nobody can be locked out for good."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from apps.identity import lockout
from apps.identity.models import LoginThrottle
from tests.conftest import PASSWORD
from tests.identity.conftest import (
    GENERIC_SIGN_IN_ERROR,
    code_for,
    code_step,
    enrol,
    events,
    password_step,
)

pytestmark = pytest.mark.django_db

ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}


@pytest.fixture
def small_limits(settings):
    settings.LOCKOUT_THRESHOLD = 3
    settings.LOCKOUT_ACCOUNT_THRESHOLD = 6
    settings.LOCKOUT_BASE_SECONDS = 30
    settings.LOCKOUT_MAX_SECONDS = 120
    settings.LOCKOUT_COOLOFF = timedelta(hours=24)
    return settings


def fail(email: str, times: int = 1, **extra) -> None:
    for _ in range(times):
        assert password_step(Client(), email, "wrong password", **extra).status_code == 401


def signs_in(email: str, password: str = PASSWORD, **extra) -> bool:
    return password_step(Client(), email, password, **extra).status_code == 302


def test_wait_grows_and_is_bounded(clock, small_limits, member_a):
    fail(member_a.email, 3)  # third failure: locked for 30 s
    response = password_step(Client(), member_a.email, PASSWORD)
    assert response.status_code == 401
    assert GENERIC_SIGN_IN_ERROR in response.content.decode()

    clock.shift(31)
    fail(member_a.email)  # fourth failure: 60 s
    clock.shift(59)
    assert not signs_in(member_a.email)
    clock.shift(2)
    fail(member_a.email)  # fifth: 120 s (the maximum)
    clock.shift(119)
    assert not signs_in(member_a.email)
    clock.shift(2)
    fail(member_a.email)  # sixth: still 120 s, never more
    clock.shift(121)
    assert signs_in(member_a.email)


def test_attempts_during_a_wait_do_not_extend_it(clock, small_limits, member_a):
    fail(member_a.email, 3)
    for _ in range(20):
        fail(member_a.email)
        clock.shift(1)
    clock.shift(11)  # 31 s after the lock began
    assert signs_in(member_a.email)


def test_counters_cool_off(clock, small_limits, member_a):
    fail(member_a.email, 3)
    clock.shift(31)
    fail(member_a.email)  # 4 failures on record
    clock.shift(24 * 3600 + 1)
    fail(member_a.email, 2)  # counted from zero again: not locked
    assert signs_in(member_a.email)


def test_success_resets_the_account_ip_counter(clock, small_limits, member_a):
    fail(member_a.email, 2)
    assert signs_in(member_a.email)
    fail(member_a.email, 2)
    assert signs_in(member_a.email)


def test_other_ips_are_not_held_back_by_an_ip_lock(clock, small_limits, member_a):
    fail(member_a.email, 3, **ATTACKER)
    assert not signs_in(member_a.email, **ATTACKER)
    assert signs_in(member_a.email, REMOTE_ADDR="198.51.100.7")


def test_account_lock_from_many_ips_spares_a_known_ip(clock, small_limits, member_a):
    home = {"REMOTE_ADDR": "198.51.100.7"}
    assert signs_in(member_a.email, **home)  # the owner's usual address
    for n in range(6):
        fail(member_a.email, REMOTE_ADDR=f"203.0.113.{n + 1}")

    # A new address faces the account-wide lock ...
    assert not signs_in(member_a.email, REMOTE_ADDR="192.0.2.1")
    # ... the owner's known address does not.
    assert signs_in(member_a.email, **home)
    # And the account-wide wait ends too.
    clock.shift(31)
    assert signs_in(member_a.email, REMOTE_ADDR="192.0.2.1")
    account_events = [
        e.personal["details"]["reason"]
        for e in events("login.locked")
        if e.personal["details"]["scope"] == "account"
    ]
    assert account_events == ["threshold_reached", "attempt_while_locked"]


def test_unknown_accounts_are_locked_like_real_ones(clock, small_limits):
    fail("nobody@acme.test", 3)
    assert events("login.locked")[0].personal["details"]["email"] == "nobody@acme.test"
    assert LoginThrottle.objects.filter(failures=3).count() == 2  # pair and account


def test_failed_codes_count_and_a_lock_stops_the_second_step(clock, small_limits, member_a):
    device, _codes = enrol(member_a)
    clock.shift(30)
    client = Client()
    password_step(client, member_a.email)
    for _ in range(3):
        assert code_step(client, "000000").status_code == 401
    assert len(events("login.mfa_failed")) == 3

    # Locked: even the right code is refused (and not used up) ...
    assert code_step(client, code_for(device)).status_code == 401
    assert not signs_in(member_a.email)
    # ... until the wait is over.
    clock.shift(31)
    client = Client()
    password_step(client, member_a.email)
    assert code_step(client, code_for(device)).status_code == 302


def test_lock_events_are_audited(clock, small_limits, member_a):
    fail(member_a.email, 3)
    password_step(Client(), member_a.email, PASSWORD)
    reasons = [e.personal["details"]["reason"] for e in events("login.locked")]
    assert reasons == ["threshold_reached", "attempt_while_locked"]
    assert all(e.outcome == "failure" for e in events("login.locked"))


def test_the_table_names_nobody(small_limits, member_a):
    fail(member_a.email)
    keys = list(LoginThrottle.objects.values_list("key", flat=True))
    assert keys
    assert all(member_a.email not in key and len(key) == 64 for key in keys)


def test_purge_forgets_old_rows(clock, small_limits, member_a):
    fail("nobody@acme.test", 2)
    assert signs_in(member_a.email)
    clock.shift(24 * 3600 + 1)
    assert lockout.lockout_purge() == 2  # the stranger's rows; the known pair stays
    assert LoginThrottle.objects.count() == 1
