"""A gateway order whose credentials are in the credential cache takes its publisher's row
from the process, as kept, and the order's write requires the row unchanged but for the
balance (PostgreSQL: its one statement; SQLite: one check in the write transaction): no read
comes before that write. Whatever changed the row
meanwhile (a new password, a deactivated account, new defaults, however it was changed), no
answer rests on the row as kept: the order is written and answered from the row as it is, and
a failure is answered only once the row is found unchanged. With
PRESSRUN_INTAKE_CACHED_PUBLISHER off, the row is read for every order. These tests run without
the test's own transaction around them, as the server runs."""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.db.models import F, Sum
from django.test import Client
from django.utils import timezone

from pressrun.accounts.models import KnownSignInAddress, Publisher
from pressrun.billing.models import LedgerEntry, StatusCallHour
from pressrun.billing.services import ledger_credit
from pressrun.core.prepared import PreparedUpdate
from pressrun.gateway import errors
from pressrun.orders.models import Order
from pressrun.orders.services import Refusal
from tests.billing.test_credit_and_holds import assert_ledger_matches_balance
from tests.gateway.helpers import nothing_written, order_fields, status, submit
from tests.orders.test_intake_cached_reads import statements
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)
SQLITE = connection.vendor == "sqlite"
threads_share_the_database = pytest.mark.skipif(
    SQLITE, reason="in-memory SQLite cannot be shared by threads; PostgreSQL runs this test"
)
PUBLISHER_TABLE = Publisher._meta.db_table


def order(client: Client, publisher: Any, project: Any, **fields: Any) -> dict[str, Any]:
    return submit(client, **order_fields(publisher, project, **fields))


@pytest.fixture
def kept(make_publisher: Any, make_project: Any) -> tuple[Client, Any, Any]:
    """A publisher with $50.00 and a project, ordered twice through the gateway (INV-1 and
    INV-2, $6.00 each): the credentials are cached and this process keeps the publisher's
    row."""
    publisher = make_publisher(balance="50.00")
    project = make_project(publisher)
    client = Client()
    for invoice in ("INV-1", "INV-2"):
        assert order(client, publisher, project, invoice=invoice)["SUCCESS"]
    return client, publisher, project


def assert_paid_without_reads(client: Client, publisher: Any, project: Any, invoice: str) -> None:
    """An order placed and paid: its write and nothing else (PostgreSQL: its one statement;
    SQLite: the check of the kept rows and the writes, in one transaction)."""
    with statements() as seen:
        reply = order(client, publisher, project, invoice=invoice)
    assert reply["SUCCESS"]
    assert reply["Status"] == "PROCESSING"
    assert seen == (["check", "write"] if SQLITE else ["WITH"])


def test_a_later_order_reads_no_publisher(kept: tuple[Client, Any, Any]) -> None:
    client, publisher, project = kept
    assert_paid_without_reads(client, publisher, project, "INV-3")
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("32.00")
    assert_ledger_matches_balance(publisher)


def test_the_switch_off_reads_the_publisher_for_every_order(
    kept: tuple[Client, Any, Any], settings: Any
) -> None:
    settings.INTAKE_CACHED_PUBLISHER = False
    client, publisher, project = kept
    with statements() as seen:
        assert order(client, publisher, project, invoice="INV-3")["SUCCESS"]
    assert seen[0] == PUBLISHER_TABLE


def change(publisher: Any, how: str) -> None:
    """Change the publisher's row behind the process's back, as another process or machine
    would: nothing here is told."""
    rows = Publisher.objects.filter(id=publisher.id)
    if how == "changed":
        rows.update(password=make_password("a new password"))
    else:
        rows.update(is_active=False)


@pytest.mark.parametrize("mode", ["prod", "test"])
@pytest.mark.parametrize("how", ["changed", "deactivated"])
def test_old_credentials_are_refused_at_once_and_nothing_is_written(
    kept: tuple[Client, Any, Any], how: str, mode: str
) -> None:
    client, publisher, project = kept
    change(publisher, how)
    with nothing_written(), statements() as seen:
        reply = order(client, publisher, project, invoice="INV-3", mode=mode)
    assert reply["ERRCODE"] == errors.CREDENTIALS_INVALID.code
    # The order's statement (SQLite: its check) failed on the kept row, then the row was
    # read as it is.
    assert seen[:2] == ["check" if SQLITE else "WITH", PUBLISHER_TABLE]
    if how == "changed":
        reply = order(
            client, publisher, project, invoice="INV-3", mode=mode, CoLoginPassword="a new password"
        )
        assert reply["SUCCESS"]
        assert Order.objects.filter(invoice="INV-3").count() == 1


def test_old_credentials_with_a_spent_balance_are_refused(kept: tuple[Client, Any, Any]) -> None:
    """The kept balance guesses wrong and the password changed: the debit-first retry checks
    the kept row in its transaction before it debits anything."""
    client, publisher, project = kept
    Publisher.objects.filter(id=publisher.id).update(balance=Decimal("1.00"))
    change(publisher, "changed")
    with nothing_written():
        reply = order(client, publisher, project, invoice="INV-3")
    assert reply["ERRCODE"] == errors.CREDENTIALS_INVALID.code


def test_old_credentials_from_a_new_address_record_no_known_address(
    kept: tuple[Client, Any, Any],
) -> None:
    """A known address is spared the account-wide throttle: it is recorded only from
    credentials checked against the row as it is, never from a kept one."""
    _, publisher, project = kept
    known = sorted(KnownSignInAddress.objects.values_list("login", "client_address"))
    change(publisher, "changed")
    stranger = Client(REMOTE_ADDR="198.51.100.9")
    with nothing_written():
        reply = order(stranger, publisher, project, invoice="INV-3")
    assert reply["ERRCODE"] == errors.CREDENTIALS_INVALID.code
    assert sorted(KnownSignInAddress.objects.values_list("login", "client_address")) == known
    # With the right password, the new address is recorded, and its next order is kept.
    reply = order(stranger, publisher, project, invoice="INV-3", CoLoginPassword="a new password")
    assert reply["SUCCESS"]
    assert (publisher.email, "198.51.100.9") in set(
        KnownSignInAddress.objects.values_list("login", "client_address")
    )


def change_once_after(monkeypatch: pytest.MonkeyPatch, name: str, publisher: Any, how: str) -> None:
    """Have `accounts.services.<name>` change the publisher's row right after its first call
    returns, as another process could while the order is on its way to its write."""
    from pressrun.accounts import services

    original = getattr(services, name)
    done: list[bool] = []

    def then_change(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not done:
            done.append(True)
            change(publisher, how)
        return result

    monkeypatch.setattr(services, name, then_change)


@pytest.mark.parametrize("how", ["changed", "deactivated"])
def test_credentials_changed_after_their_full_check_place_nothing(
    make_publisher: Any, make_project: Any, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Not cached, the credentials are checked against a row read before the password's hash
    (tens of milliseconds): a change committed after that read and before the write fails
    the write, and the order is refused on the row as it is."""
    publisher = make_publisher(balance="50.00")
    project = make_project(publisher)
    change_once_after(monkeypatch, "check_password", publisher, how)
    with nothing_written():
        reply = order(Client(), publisher, project, invoice="INV-1")
    assert reply["ERRCODE"] == errors.CREDENTIALS_INVALID.code


def test_credentials_changed_after_a_new_address_is_checked_place_nothing(
    kept: tuple[Client, Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a new address the row is read (not kept) and the address recorded: a password
    changed after that read and before the write fails the write likewise."""
    _, publisher, project = kept
    change_once_after(monkeypatch, "known_address_remember", publisher, "changed")
    orders_before = Order.objects.count()
    reply = order(Client(REMOTE_ADDR="198.51.100.9"), publisher, project, invoice="INV-3")
    assert reply["ERRCODE"] == errors.CREDENTIALS_INVALID.code
    assert Order.objects.count() == orders_before
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("38.00")


def test_credentials_changed_after_the_retry_reads_the_row_place_nothing(
    kept: tuple[Client, Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept row has changed (a new company name), so the order starts again from the
    credentials, checked against the row read again; a password changed right after that
    read fails the retry's write too, and the third attempt finds the new password."""
    from pressrun.accounts import services

    client, publisher, project = kept
    Publisher.objects.filter(id=publisher.id).update(company="Renamed Ltd")
    read = services._active_publisher.get
    reads: list[int] = []

    def read_then_change(*args: Any, **kwargs: Any) -> Any:
        found = read(*args, **kwargs)
        reads.append(1)
        if len(reads) == 1:
            change(publisher, "changed")
        return found

    monkeypatch.setattr(services._active_publisher, "get", read_then_change)
    with nothing_written():
        reply = order(client, publisher, project, invoice="INV-3")
    assert reply["ERRCODE"] == errors.CREDENTIALS_INVALID.code
    assert len(reads) == 2


def test_rows_that_keep_changing_are_answered_as_unavailable(
    kept: tuple[Client, Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each attempt's rows changed under it (the company renamed before every write): after
    the third, the order is refused as a temporary fault, with nothing written, and the next
    order goes through."""
    from pressrun.gateway import views

    client, publisher, project = kept
    renames: list[int] = []
    original = views.order_place

    def rename_then_place(**kwargs: Any) -> Any:
        renames.append(1)
        Publisher.objects.filter(id=publisher.id).update(company=f"Renamed {len(renames)}")
        return original(**kwargs)

    monkeypatch.setattr(views, "order_place", rename_then_place)
    with nothing_written():
        reply = order(client, publisher, project, invoice="INV-3")
    assert reply["ERRCODE"] == errors.SERVICE_UNAVAILABLE.code
    assert len(renames) == views.SUBMIT_ATTEMPTS
    monkeypatch.undo()
    assert order(client, publisher, project, invoice="INV-3")["SUCCESS"]


@pytest.mark.parametrize("how", ["changed", "deactivated"])
@pytest.mark.parametrize(
    ("failure", "fields"),
    [
        # Found before the write: a field the order cannot be made of.
        (errors.QUANTITY_INVALID, {"quantity": "0"}),
        # Found by intake: refusals of the order, before its statement and by it.
        (errors.BY_REFUSAL[Refusal.PRODUCT_UNKNOWN], {"productid": "999999"}),
        (errors.DUPLICATE, {"invoice": "INV-1"}),
        # Without an invoice, the five-day check by email, in the order's transaction.
        (errors.DUPLICATE, {"invoice": None, "email": "fan@example.com"}),
    ],
)
def test_no_failure_is_answered_to_old_credentials(
    kept: tuple[Client, Any, Any], failure: Any, fields: dict[str, str], how: str
) -> None:
    client, publisher, project = kept
    if fields.get("email"):
        assert order(client, publisher, project, **fields)["SUCCESS"]
    # The answer with the current credentials is the failure...
    with nothing_written():
        assert order(client, publisher, project, **fields)["ERRCODE"] == failure.code
    change(publisher, how)
    # ... and with the old ones, after the change, the credentials' own.
    with nothing_written():
        reply = order(client, publisher, project, **fields)
    assert reply["ERRCODE"] == errors.CREDENTIALS_INVALID.code
    if how == "changed":
        with nothing_written():
            reply = order(client, publisher, project, CoLoginPassword="a new password", **fields)
        assert reply["ERRCODE"] == failure.code


def test_a_failure_on_a_row_that_holds_keeps_it(kept: tuple[Client, Any, Any]) -> None:
    client, publisher, project = kept
    with nothing_written():
        assert order(client, publisher, project, quantity="0")["SUCCESS"] is False
    with statements() as seen:
        assert order(client, publisher, project, invoice="INV-3")["SUCCESS"]
    assert PUBLISHER_TABLE not in seen


def test_an_order_after_the_defaults_changed_takes_the_new_ones(
    kept: tuple[Client, Any, Any],
) -> None:
    client, publisher, project = kept
    # Enough for three orders by priority mail (a balance that falls short is another test).
    ledger_credit(publisher_id=publisher.id, amount=Decimal("100.00"), description="t", actor="t")
    Publisher.objects.filter(id=publisher.id).update(default_mail_method="priority")
    reply = order(client, publisher, project, invoice="INV-3")
    assert reply["SUCCESS"]
    assert reply["ShippingMethod"] == "priority"
    stored = Order.objects.get(invoice="INV-3")
    assert stored.mail_method == "priority"
    assert Order.objects.count() == 3
    assert_ledger_matches_balance(publisher)
    # The order after it keeps the row as it is now, and the one after that reads nothing.
    with statements() as seen:
        assert order(client, publisher, project, invoice="INV-4")["SUCCESS"]
    assert PUBLISHER_TABLE in seen
    with statements() as seen:
        assert order(client, publisher, project, invoice="INV-5")["SUCCESS"]
    assert PUBLISHER_TABLE not in seen


def test_a_balance_changed_elsewhere_is_not_a_change(kept: tuple[Client, Any, Any]) -> None:
    """Every paid order changes the balance: the kept row does not require it, and the debit
    decides as it always does."""
    client, publisher, project = kept
    # Another process's order, or a payment: only the balance moves.
    Publisher.objects.filter(id=publisher.id).update(balance=F("balance") - Decimal("10.00"))
    assert_paid_without_reads(client, publisher, project, "INV-3")
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("22.00")


def test_a_balance_spent_elsewhere_holds_the_order(kept: tuple[Client, Any, Any]) -> None:
    """The kept balance says the order is covered; the debit finds it is not: the order is
    written once, HOLD, and the next order reads the publisher's balance again."""
    client, publisher, project = kept
    Publisher.objects.filter(id=publisher.id).update(balance=Decimal("5.00"))
    reply = order(client, publisher, project, invoice="INV-3")
    assert reply["SUCCESS"]
    assert reply["Status"] == "HOLD"
    assert Order.objects.filter(invoice="INV-3").count() == 1
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("5.00")
    with statements() as seen:
        assert order(client, publisher, project, invoice="INV-4")["Status"] == "HOLD"
    # Read again after the wrong guess: HOLD guessed right, the write alone.
    assert seen == [PUBLISHER_TABLE, *(["check", "write"] if SQLITE else ["WITH"])]


@pytest.fixture
def credited(make_publisher: Any, make_project: Any) -> tuple[Client, Any, Any]:
    """A publisher without money whose two orders (INV-1, INV-2) are held, its row kept by
    this process with that balance, then credited $20.00 elsewhere: the kept balance says
    the next order must wait."""
    publisher = make_publisher(balance="0")
    project = make_project(publisher)
    client = Client()
    for invoice in ("INV-1", "INV-2"):
        assert order(client, publisher, project, invoice=invoice)["Status"] == "HOLD"
    ledger_credit(publisher_id=publisher.id, amount=Decimal("20.00"), description="t", actor="test")
    return client, publisher, project


def test_a_credit_made_elsewhere_pays_the_order(credited: tuple[Client, Any, Any]) -> None:
    """The kept balance says the order must wait; a credit came meanwhile: the order is
    paid at once."""
    client, publisher, project = credited
    reply = order(client, publisher, project, invoice="INV-3")
    assert reply["SUCCESS"]
    assert reply["Status"] == "PROCESSING"
    # The credit paid the two held orders first ($12.00), then this one.
    assert Publisher.objects.get(id=publisher.id).balance == Decimal("2.00")
    assert_ledger_matches_balance(publisher)


@threads_share_the_database
def test_concurrent_orders_while_the_row_changes(kept: tuple[Client, Any, Any]) -> None:
    """4 threads place 40 orders while a fifth credits the balance and renames the company
    8 times: every order is written once, the balance equals the ledger, and every order
    answered as placed exists. An order whose rows changed under each of its three attempts
    (a slow machine, renames in quick succession) is answered 009001 and written nowhere,
    as designed (test_rows_that_keep_changing_are_answered_as_unavailable)."""
    _, publisher, project = kept
    placed: list[str] = []
    unavailable: list[str] = []
    refused: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def orders(thread: int) -> None:
        client = Client()
        for number in range(10):
            invoice = f"T{thread}-{number}"
            reply = order(client, publisher, project, invoice=invoice)
            with lock:
                if reply["SUCCESS"]:
                    placed.append(invoice)
                elif reply["ERRCODE"] == errors.SERVICE_UNAVAILABLE.code:
                    unavailable.append(invoice)
                else:
                    refused.append((invoice, reply))

    def changes() -> None:
        for number in range(8):
            ledger_credit(
                publisher_id=publisher.id, amount=Decimal("3.00"), description="t", actor="t"
            )
            Publisher.objects.filter(id=publisher.id).update(company=f"Company {number}")

    assert run_together(*(partial(orders, n) for n in range(4)), changes) == []
    assert refused == []
    assert len(placed) + len(unavailable) == 40
    assert Order.objects.filter(invoice__in=placed).count() == len(placed)
    assert not Order.objects.filter(invoice__in=unavailable).exists()
    assert Order.objects.count() == 2 + len(placed)
    assert_ledger_matches_balance(publisher)
    charged = LedgerEntry.objects.filter(publisher_id=publisher.id, amount__lt=0).count()
    paid = Order.objects.filter(publisher_id=publisher.id, status="PROCESSING").count()
    assert charged == paid


@threads_share_the_database
def test_a_password_changed_before_the_debit_is_seen_by_the_check(
    credited: tuple[Client, Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept balance guessed HOLD and a credit came meanwhile: the order is written by
    statements of their own, the debit first. A password change committed by another
    connection just before that debit fails the order's check of the kept row (on
    PostgreSQL the check follows the debit, whose lock on the row keeps any later change
    waiting until COMMIT): refused, nothing written."""
    client, publisher, project = credited
    original = PreparedUpdate.execute
    changed: list[bool] = []

    def change_first(update: PreparedUpdate) -> int:
        if not changed and '"accounts_publisher"' in update.sql:
            changed.append(True)
            assert run_together(partial(change, publisher, "changed")) == []
        return original(update)

    monkeypatch.setattr(PreparedUpdate, "execute", change_first)
    with nothing_written():
        reply = order(client, publisher, project, invoice="INV-3")
    assert changed == [True]
    assert reply["ERRCODE"] == errors.CREDENTIALS_INVALID.code


@threads_share_the_database
def test_a_password_changed_while_orders_arrive_stops_them_at_once(
    kept: tuple[Client, Any, Any],
) -> None:
    """4 threads keep ordering with the password while a fifth changes it (as another
    machine would): every order answered as placed was made before the change was
    committed, and each thread's next order after it is refused, with nothing written."""
    _, publisher, project = kept
    replies: list[tuple[str, dict[str, Any]]] = []
    changed_at: list[datetime] = []
    lock = threading.Lock()
    started = threading.Event()

    def orders(thread: int) -> None:
        client = Client()
        for number in range(200):
            invoice = f"P{thread}-{number}"
            reply = order(client, publisher, project, invoice=invoice)
            with lock:
                replies.append((invoice, reply))
            if number == 3:
                started.set()
            if not reply["SUCCESS"]:
                return

    def change() -> None:
        assert started.wait(timeout=30)
        Publisher.objects.filter(id=publisher.id).update(password=make_password("a new password"))
        changed_at.append(timezone.now())

    assert run_together(*(partial(orders, n) for n in range(4)), change) == []
    refused = [reply for _, reply in replies if not reply["SUCCESS"]]
    # Each thread went on until its first refusal, the credentials' own.
    assert [reply["ERRCODE"] for reply in refused] == [errors.CREDENTIALS_INVALID.code] * 4
    placed = [invoice for invoice, reply in replies if reply["SUCCESS"]]
    assert len(placed) >= 4
    stored = Order.objects.filter(invoice__in=placed)
    assert stored.count() == len(placed)
    assert Order.objects.count() == 2 + len(placed)
    assert max(stored.values_list("created_at", flat=True)) < changed_at[0]
    assert_ledger_matches_balance(publisher)


def metered(publisher: Any) -> int:
    """The status calls counted for `publisher`."""
    counted = StatusCallHour.objects.filter(publisher_id=publisher.id).aggregate(n=Sum("calls"))
    return int(counted["n"] or 0)


def error_nums(sections: list[dict[str, str]]) -> list[int]:
    return [int(section["ErrorNum"]) for section in sections]


def test_a_status_call_reads_no_publisher(kept: tuple[Client, Any, Any]) -> None:
    """A status call takes the kept publisher too: its metering statement requires the row
    unchanged (PostgreSQL: the metering and the read, nothing else)."""
    client, publisher, _ = kept
    assert error_nums(status(client, ["INV-1"], publisher=publisher)) == [errors.STATUS_OK]
    with statements() as seen:
        sections = status(client, ["INV-1", "INV-2"], publisher=publisher)
    assert error_nums(sections) == [errors.STATUS_OK] * 2
    assert PUBLISHER_TABLE not in seen
    if not SQLITE:
        assert seen == ["WITH", "orders_order"]
    assert metered(publisher) == 2


@pytest.mark.parametrize("how", ["changed", "deactivated"])
def test_a_status_call_on_old_credentials_is_refused_and_not_counted(
    kept: tuple[Client, Any, Any], how: str
) -> None:
    client, publisher, _ = kept
    assert error_nums(status(client, ["INV-1"], publisher=publisher)) == [errors.STATUS_OK]
    change(publisher, how)
    sections = status(client, ["INV-1", "INV-2"], publisher=publisher)
    assert error_nums(sections) == [errors.STATUS_BAD_CREDENTIALS] * 2
    assert metered(publisher) == 1


def test_a_password_changed_after_a_status_call_authenticated_is_seen_by_its_metering(
    kept: tuple[Client, Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The password changes right after the call's credentials were checked against the
    kept row: its metering fails, nothing is counted, and the call is answered from the row
    as it is."""
    from pressrun.gateway import views

    client, publisher, _ = kept
    assert error_nums(status(client, ["INV-1"], publisher=publisher)) == [errors.STATUS_OK]
    authenticate = views.publisher_authenticate_kept
    changed: list[bool] = []

    def then_change(**kwargs: Any) -> Any:
        found = authenticate(**kwargs)
        if not changed:
            changed.append(True)
            change(publisher, "changed")
        return found

    monkeypatch.setattr(views, "publisher_authenticate_kept", then_change)
    sections = status(client, ["INV-1"], publisher=publisher)
    assert error_nums(sections) == [errors.STATUS_BAD_CREDENTIALS]
    assert metered(publisher) == 1


def test_a_status_call_whose_row_keeps_changing_is_answered_as_unavailable(
    kept: tuple[Client, Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pressrun.gateway import views

    client, publisher, _ = kept
    assert error_nums(status(client, ["INV-1"], publisher=publisher)) == [errors.STATUS_OK]
    record = views.status_call_record
    renames: list[int] = []

    def rename_then_record(**kwargs: Any) -> Any:
        renames.append(1)
        Publisher.objects.filter(id=publisher.id).update(company=f"Renamed {len(renames)}")
        return record(**kwargs)

    monkeypatch.setattr(views, "status_call_record", rename_then_record)
    sections = status(client, ["INV-1", "INV-2"], publisher=publisher)
    assert error_nums(sections) == [errors.STATUS_UNAVAILABLE] * 2
    assert len(renames) == views.SUBMIT_ATTEMPTS
    assert metered(publisher) == 1
    monkeypatch.undo()
    assert error_nums(status(client, ["INV-1"], publisher=publisher)) == [errors.STATUS_OK]
