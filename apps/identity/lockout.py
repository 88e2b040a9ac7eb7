"""Login lockout that protects without letting an attacker lock somebody out for good.

Two counters per attempt, both stored under a keyed hash (the table names nobody):

- the (account, IP) pair, locked after ``LOCKOUT_THRESHOLD`` failures;
- the account alone, from anywhere, locked after ``LOCKOUT_ACCOUNT_THRESHOLD`` failures.

Once a counter reaches its threshold the wait starts at ``LOCKOUT_BASE_SECONDS`` and doubles
with each further failure, never beyond ``LOCKOUT_MAX_SECONDS``. Attempts refused during a wait
are not counted, so hammering does not stretch it. A counter with no failure for
``LOCKOUT_COOLOFF`` is forgotten. A successful sign-in resets its (account, IP) counter and
marks that pair as known: for ``LOCKOUT_TRUSTED_FOR`` a known pair is not held back by an
account-wide lock (only by its own), so an attacker elsewhere cannot keep the owner out.

Unknown email addresses are counted exactly like real accounts: lockout behaviour tells
nothing about which accounts exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from apps.identity.models import LoginThrottle

PAIR = "pair"
ACCOUNT = "account"


@dataclass(frozen=True, slots=True)
class LockState:
    locked: bool
    until: datetime | None = None
    scope: str = ""  # PAIR or ACCOUNT when locked
    started: bool = False  # this failure started a (new) wait

    @property
    def seconds_left(self) -> int:
        if not self.locked or self.until is None:
            return 0
        return max(0, int((self.until - timezone.now()).total_seconds()))


UNLOCKED = LockState(locked=False)


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def _key(kind: str, email: str, ip: str = "") -> str:
    return salted_hmac(
        "custos.identity.lockout", f"{kind}:{normalise_email(email)}|{ip}", algorithm="sha256"
    ).hexdigest()


def pair_key(*, email: str, ip: str) -> str:
    return _key(PAIR, email, ip)


def account_key(*, email: str) -> str:
    return _key(ACCOUNT, email)


def _cooloff() -> timedelta:
    return settings.LOCKOUT_COOLOFF


def _trusted_for() -> timedelta:
    return getattr(settings, "LOCKOUT_TRUSTED_FOR", timedelta(days=30))


def _wait_seconds(failures: int, threshold: int) -> int:
    if failures < threshold:
        return 0
    doublings = min(failures - threshold, 30)
    return int(min(settings.LOCKOUT_BASE_SECONDS * 2**doublings, settings.LOCKOUT_MAX_SECONDS))


def _is_locked(row: LoginThrottle | None, now: datetime) -> bool:
    return row is not None and row.locked_until is not None and row.locked_until > now


def _is_trusted(row: LoginThrottle | None, now: datetime) -> bool:
    return (
        row is not None
        and row.last_success_at is not None
        and now - row.last_success_at < _trusted_for()
    )


def lockout_state(*, email: str, ip: str) -> LockState:
    """Is a sign-in for `email` from `ip` to be refused right now?"""
    now = timezone.now()
    keys = {pair_key(email=email, ip=ip): PAIR, account_key(email=email): ACCOUNT}
    rows = {keys[row.key]: row for row in LoginThrottle.objects.filter(key__in=keys)}
    pair, account = rows.get(PAIR), rows.get(ACCOUNT)
    if _is_locked(pair, now):
        return LockState(locked=True, until=pair.locked_until, scope=PAIR)  # type: ignore[union-attr]
    if _is_locked(account, now) and not _is_trusted(pair, now):
        return LockState(locked=True, until=account.locked_until, scope=ACCOUNT)  # type: ignore[union-attr]
    return UNLOCKED


def _locked_row(key: str) -> LoginThrottle:
    # Create-if-missing without a unique-violation race, then lock the row for the update.
    LoginThrottle.objects.bulk_create([LoginThrottle(key=key)], ignore_conflicts=True)
    return LoginThrottle.objects.select_for_update().get(key=key)


@transaction.atomic
def lockout_register_failure(*, email: str, ip: str) -> LockState:
    """Count one failed attempt (password or second factor) on both counters. Returns the
    resulting state; `started` is set when this failure began a wait."""
    now = timezone.now()
    result = UNLOCKED
    for key, scope, threshold in (
        (pair_key(email=email, ip=ip), PAIR, settings.LOCKOUT_THRESHOLD),
        (account_key(email=email), ACCOUNT, settings.LOCKOUT_ACCOUNT_THRESHOLD),
    ):
        row = _locked_row(key)
        if row.last_failure_at is None or now - row.last_failure_at >= _cooloff():
            row.failures = 0
            row.locked_until = None
        row.failures += 1
        row.last_failure_at = now
        wait = _wait_seconds(row.failures, threshold)
        if wait:
            row.locked_until = now + timedelta(seconds=wait)
            if not result.started:
                result = LockState(locked=True, until=row.locked_until, scope=scope, started=True)
        row.save(update_fields=["failures", "locked_until", "last_failure_at"])
    return result


def lockout_register_success(*, email: str, ip: str) -> None:
    """A complete sign-in: forget this pair's failures and remember the pair as known. One
    upsert (INSERT ... ON CONFLICT DO UPDATE): it row-locks like the failure path, without a
    savepoint, a read and a second write on every sign-in."""
    LoginThrottle.objects.bulk_create(
        [
            LoginThrottle(
                key=pair_key(email=email, ip=ip),
                failures=0,
                locked_until=None,
                last_success_at=timezone.now(),
            )
        ],
        update_conflicts=True,
        unique_fields=["key"],
        update_fields=["failures", "locked_until", "last_success_at"],
    )


def lockout_clear(*, email: str, ip: str = "") -> None:
    """The owner proved control of the account another way (password reset by email): drop
    the account-wide counter and the counter of the pair they came from."""
    keys = [account_key(email=email)]
    if ip:
        keys.append(pair_key(email=email, ip=ip))
    LoginThrottle.objects.filter(key__in=keys).delete()


def lockout_purge() -> int:
    """Delete rows that no longer matter (cooled off and not a recently known pair)."""
    now = timezone.now()
    failures_forgotten = now - _cooloff()
    trust_expired = now - _trusted_for()
    deleted, _ = (
        LoginThrottle.objects.exclude(last_failure_at__gte=failures_forgotten)
        .exclude(last_success_at__gte=trust_expired)
        .exclude(locked_until__gt=now)
        .delete()
    )
    return deleted
