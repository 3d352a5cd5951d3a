"""Sign-in throttling for publishers (dashboard and gateway) and operators (admin console).

Guessing passwords must be slow, but someone who only knows a login must not be able to lock
its owner out. So failures are counted per (account, client address) pair first, with growing
delays, and the account-wide count is only a much higher ceiling that never applies to an
address the account has signed in from before. The rules, with their settings and defaults
(failures are remembered for `LOGIN_FAILURE_WINDOW_SECONDS`, 900 s):

1. **One account from one address** (the pair): `LOGIN_FAILURES_FREE_PER_ADDRESS` (5) free
   failures; after that each further attempt waits 1 s after the latest failure, then 2 s,
   4 s, … (doubling with every failure, at most the window; the scheme of e.g. AWS
   Cognito). An attempt made sooner is refused without checking the password.
2. **One account from all addresses**: at most `LOGIN_FAILURES_PER_ACCOUNT` (100) failures.
3. **One address for all accounts**: at most `LOGIN_FAILURES_PER_ADDRESS` (30) failures.

A **known address** — one from which the account signed in successfully within
`KNOWN_ADDRESS_DAYS` (90) days (`KnownSignInAddress`) — is subject to rule 1 only: wrong
passwords sent from anywhere else never refuse it. A success clears the pair's failures.
IPv6 clients count by their /64 network.

Only *different* wrong passwords count (as Microsoft's smart lockout does): a password already
found wrong for the pair within the window is refused again at once, without hashing and
without counting, so a script that keeps sending an outdated password uses up no attempts
and works as soon as it is given the right one. Each failure keeps a keyed digest of the
password and of the password hash it was checked against (HMAC with the secret key, like
the credential cache), so a password that becomes right after a change is checked again.

Each attempt is *reserved* before the password is checked: under a lock on the account's and
the address's names (`core.locks.lock_names`) the rules are applied and a pending
`LoginFailure` row is written and committed; a right password removes it, a wrong one marks
it checked. So N concurrent attempts with different passwords against a limit L get exactly
L password checks, on SQLite and PostgreSQL alike. Concurrent attempts with the *same*
password from the same pair (a busy script whose cached credentials just expired) do not
reserve again: they wait for the first one's outcome, so a burst of right passwords is never
refused and a burst of one wrong password costs one check.

Recently verified credentials are accepted from the credential cache before any of this
(accounts/services.py): a publisher's busy order script costs no write here.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from pressrun.accounts.models import MAX_KNOWN_ADDRESSES, KnownSignInAddress, LoginFailure
from pressrun.core.client_address import throttle_address
from pressrun.core.errors import DomainError
from pressrun.core.locks import lock_names

# A known address's last success is written again at most this often (not on every sign-in).
KNOWN_ADDRESS_REFRESH = timedelta(days=1)
# The growing delay doubles with each failure; it stops growing at the window anyway.
_MAX_DOUBLINGS = 30
# An identical attempt still pending after this long was abandoned (its process died):
# nobody waits for it any more (it still counts as a failure until the window passes).
PENDING_ABANDONED_AFTER = timedelta(seconds=15)
# How long an attempt keeps waiting for identical attempts ahead of it, in all.
SIGN_IN_WAIT_SECONDS = 30.0
_FIRST_POLL_SECONDS = 0.01
_MAX_POLL_SECONDS = 0.1


class SignInThrottled(DomainError):
    """Too many failed attempts for this account or client address; try again later."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class RepeatedWrongPassword(DomainError):
    """This password was already found wrong for this account from this address lately."""


@dataclass(frozen=True)
class SignInAttempt:
    """One reserved attempt: settle it with `sign_in_settle` (or give it back with
    `sign_in_release` when the check itself failed)."""

    realm: str
    login: str
    address: str
    known_address: bool
    reservation_id: int


def sign_in_rounds() -> Iterator[bool]:
    """The `join_identical` value for each call of `sign_in_reserve` by a caller that loops
    while identical attempts are being checked: True while there is time, then False once
    (so the loop always ends with a reservation or a refusal)."""
    deadline = time.monotonic() + SIGN_IN_WAIT_SECONDS
    while time.monotonic() < deadline:
        yield True
    yield False


def password_digest(*, realm: str, login: str, password: str, password_hash: str) -> str:
    """Keyed digest identifying `password` tried for `login` against `password_hash` (the
    account's current hash, "" when there is no account)."""
    return hmac.new(
        settings.SECRET_KEY.encode(),
        b"\x00".join(
            (
                b"sign-in",
                realm.encode(),
                login.encode(),
                password_hash.encode(),
                password.encode("utf-8", "surrogatepass"),
            )
        ),
        hashlib.sha256,
    ).hexdigest()


def sign_in_reserve(
    *,
    realm: str,
    login: str,
    client_address: str,
    password: str,
    password_hash: str,
    join_identical: bool = True,
) -> SignInAttempt | None:
    """Reserve one attempt of `password` for `login` from `client_address`, to be checked
    against the account's current `password_hash` ("" for no account).

    Raises SignInThrottled when a rule refuses it, or RepeatedWrongPassword when this password
    already failed for the pair; neither writes anything. When an identical attempt of the
    pair is being checked right now, waits for it: RepeatedWrongPassword if it failed, None if
    it did not (the caller looks in the credential cache and tries again; with
    `join_identical=False` it reserves regardless). Otherwise returns the reservation.
    """
    address = throttle_address(client_address)
    login = login[:254]
    digest = password_digest(
        realm=realm, login=login, password=password, password_hash=password_hash
    )
    known = known_address_check(realm=realm, login=login, address=address)
    with transaction.atomic():
        lock_names(f"sign-in:{realm}:{login}", f"sign-in-address:{address}")
        now = timezone.now()
        recent = LoginFailure.objects.filter(at__gte=now - _window())
        pair = recent.filter(realm=realm, login=login, client_address=address)
        # One statement, so an identical attempt settled meanwhile is seen either as pending
        # or as failed, never as neither.
        same = list(pair.filter(password_digest=digest).values_list("id", "checked", "at"))
        if any(checked for _, checked, _ in same):
            raise RepeatedWrongPassword("This password was already found wrong.")
        abandoned_before = now - PENDING_ABANDONED_AFTER
        pending_id = next((id_ for id_, _, at in same if at >= abandoned_before), None)
        if pending_id is None or not join_identical:
            _apply_rules(realm=realm, login=login, address=address, known=known, now=now)
            reservation = LoginFailure.objects.create(
                realm=realm,
                login=login,
                client_address=address,
                at=now,
                password_digest=digest,
                checked=False,
            )
            return SignInAttempt(
                realm=realm,
                login=login,
                address=address,
                known_address=known,
                reservation_id=reservation.id,
            )
    # Outside the transaction: wait for the identical attempt that is being checked.
    if _pending_outcome(pending_id) == "failed":
        raise RepeatedWrongPassword("This password was already found wrong.")
    return None


def sign_in_settle(*, attempt: SignInAttempt, succeeded: bool) -> None:
    """Record the checked attempt's outcome. A success clears the pair's failures and makes
    (or keeps) the address known; a failure stays recorded for the window."""
    if succeeded:
        with transaction.atomic():
            LoginFailure.objects.filter(id=attempt.reservation_id).delete()
            LoginFailure.objects.filter(
                realm=attempt.realm,
                login=attempt.login,
                client_address=attempt.address,
                checked=True,
            ).delete()
            known_address_remember(
                realm=attempt.realm, login=attempt.login, address=attempt.address
            )
        return
    now = timezone.now()
    # Dated when the check ended: the next delay counts from the failure, not the request.
    LoginFailure.objects.filter(id=attempt.reservation_id).update(checked=True, at=now)
    # Keep the table small: failures older than the window no longer count.
    LoginFailure.objects.filter(at__lt=now - _window()).delete()


def sign_in_release(*, attempt: SignInAttempt) -> None:
    """Give the reservation back: the check did not happen (a fault, not a wrong password)."""
    try:
        LoginFailure.objects.filter(id=attempt.reservation_id).delete()
    except DatabaseError:
        # The database is what failed; the reservation then counts as one failure.
        return


def known_address_check(*, realm: str, login: str, address: str) -> bool:
    """Whether `login` signed in successfully from `address` (a throttle address) lately."""
    since = timezone.now() - timedelta(days=settings.KNOWN_ADDRESS_DAYS)
    return KnownSignInAddress.objects.filter(
        realm=realm, login=login, client_address=address, last_seen__gte=since
    ).exists()


def known_address_remember(*, realm: str, login: str, address: str) -> None:
    """Record a successful sign-in of `login` from `address` (a throttle address).

    Writes only when the address is new or its last success is over a day old; a new one
    pushes out the account's least recently used beyond `MAX_KNOWN_ADDRESSES`.
    """
    now = timezone.now()
    rows = KnownSignInAddress.objects.filter(realm=realm, login=login)
    last_seen = rows.filter(client_address=address).values_list("last_seen", flat=True).first()
    if last_seen is not None:
        if last_seen < now - KNOWN_ADDRESS_REFRESH:
            rows.filter(client_address=address).update(last_seen=now)
        return
    try:
        with transaction.atomic():
            KnownSignInAddress.objects.create(
                realm=realm, login=login, client_address=address, first_seen=now, last_seen=now
            )
    except IntegrityError:  # another request recorded it at the same moment
        return
    beyond = rows.order_by("-last_seen", "-id").values_list("id", flat=True)[MAX_KNOWN_ADDRESSES:]
    stale = list(beyond)
    if stale:
        KnownSignInAddress.objects.filter(id__in=stale).delete()


def _window() -> timedelta:
    return timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)


def _apply_rules(*, realm: str, login: str, address: str, known: bool, now: datetime) -> None:
    """Raise SignInThrottled when one of the three rules refuses an attempt now."""
    recent = LoginFailure.objects.filter(at__gte=now - _window())
    wait = _pair_wait(recent.filter(realm=realm, login=login, client_address=address), now)
    if wait > 0:
        raise SignInThrottled(
            "Too many failed sign-in attempts for this account from your address. "
            f"Try again in {_duration(wait)}.",
            retry_after_seconds=wait,
        )
    if known:
        return
    ceilings = (
        (
            recent.filter(realm=realm, login=login),
            settings.LOGIN_FAILURES_PER_ACCOUNT,
            "for this account",
        ),
        (
            recent.filter(client_address=address),
            settings.LOGIN_FAILURES_PER_ADDRESS,
            "from your address",
        ),
    )
    for failures, limit, whom in ceilings:
        wait = _ceiling_wait(failures, limit, now)
        if wait > 0:
            raise SignInThrottled(
                f"Too many failed sign-in attempts {whom}. Try again in {_duration(wait)}.",
                retry_after_seconds=wait,
            )


def _pair_wait(failures: QuerySet[LoginFailure], now: datetime) -> int:
    """Seconds until the pair may try again (0: now). Free failures first, then a delay that
    doubles with each further failure, counted from the latest one."""
    free = settings.LOGIN_FAILURES_FREE_PER_ADDRESS
    # Beyond free + _MAX_DOUBLINGS failures the delay is the cap anyway: no need to count on.
    times = list(failures.order_by("-at").values_list("at", flat=True)[: free + _MAX_DOUBLINGS + 1])
    if not times or len(times) < free:
        return 0
    delay = min(2.0 ** min(len(times) - free, _MAX_DOUBLINGS), _window().total_seconds())
    remaining = (times[0] + timedelta(seconds=delay) - now).total_seconds()
    return math.ceil(remaining) if remaining > 0 else 0


def _ceiling_wait(failures: QuerySet[LoginFailure], limit: int, now: datetime) -> int:
    """Seconds until fewer than `limit` of `failures` are in the window (0: now)."""
    times = list(failures.order_by("-at").values_list("at", flat=True)[:limit])
    if len(times) < limit:
        return 0
    remaining = (times[-1] + _window() - now).total_seconds()
    return max(1, math.ceil(remaining))


def _pending_outcome(reservation_id: int) -> str:
    """Wait until the pending attempt `reservation_id` is settled: "failed", or "gone" (it
    succeeded or was given back), or "gone" too when it was abandoned."""
    deadline = time.monotonic() + PENDING_ABANDONED_AFTER.total_seconds()
    pause = _FIRST_POLL_SECONDS
    while time.monotonic() < deadline:
        checked = (
            LoginFailure.objects.filter(id=reservation_id).values_list("checked", flat=True).first()
        )
        if checked is None:
            return "gone"
        if checked:
            return "failed"
        time.sleep(pause)
        pause = min(pause * 2, _MAX_POLL_SECONDS)
    return "gone"


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
