"""The address-error flow, end to end through the database's task queue (as under `pressrun
worker`; `run_queued` plays the worker): the check queued with the payment, a failed check
or a report stopping the order (ERROR / 10 in the status call), the customer's email with the
reopened link, the correction over HTTP by the customer, the publisher or an operator putting
the order back to ready with who fixed it, the reminder sent once, and the link reopened for
the stopped order only."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from pressrun.billing.services import ledger_credit
from pressrun.core.tasks import relays_run
from pressrun.fulfillment.address.selectors import address_verified_q
from pressrun.fulfillment.address.services import (
    address_check_order,
    address_error_reminders_send,
    address_problem_report,
)
from pressrun.fulfillment.address.tasks import check_order_address, queue_missed_checks
from pressrun.fulfillment.address.verifiers import AddressToCheck, CheckResult
from pressrun.fulfillment.selectors import effective_state
from pressrun.fulfillment.services import FulfillmentRefused, Refusal, fulfillment_move
from pressrun.notifications.models import EmailKind, OutgoingEmail
from pressrun.orders.models import Order, OrderEvent
from pressrun.orders.relay import placed_orders_relay
from tests import intake
from tests.conftest import PASSWORD
from tests.dashboard.conftest import sign_in
from tests.fulfillment.support import close_window
from tests.gateway.helpers import status

pytestmark = pytest.mark.django_db

BASE_URL = "https://press.example"
CHECK_TASK = "pressrun.fulfillment.address.tasks.check_order_address"
MISMATCH = "ZIP code 78701 is not in Minnesota (MN); check the state and the ZIP code."
FIXED = {
    "name": "Ann Buyer",
    "company": "",
    "address": "1 Main St",
    "city": "Austin",
    "state": "TX",
    "postal_code": "78701",
    "country": "United States",
}


@pytest.fixture(autouse=True)
def _tasks_in_the_database(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "pressrun.core.task_backend.DatabaseBackend"}}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DEFAULT_FROM_EMAIL = "orders@press.example"
    settings.PRESSRUN_PUBLIC_BASE_URL = BASE_URL
    settings.ADDRESS_VERIFIER = "offline"


def run_queued() -> list[str]:
    """Relay the placed orders and run every task that is due, as a worker would, until none
    is left; returns the paths of what ran (periodic runs scheduled for later are left
    alone)."""
    ran: list[str] = []
    while True:
        relays_run()
        due = DBTaskResult.objects.ready().order_by("enqueued_at").first()
        if due is None:
            return ran
        DBTaskResult.objects.filter(id=due.id).update(status=TaskResultStatus.RUNNING)
        import_string(due.task_path).call(*due.args_kwargs["args"], **due.args_kwargs["kwargs"])
        DBTaskResult.objects.filter(id=due.id).update(
            status=TaskResultStatus.SUCCESSFUL, finished_at=timezone.now()
        )
        ran.append(due.task_path)


def queued_checks() -> list[int]:
    return [
        row.args_kwargs["kwargs"]["order_id"]
        for row in DBTaskResult.objects.filter(task_path=CHECK_TASK, status="READY")
    ]


_INVOICES = iter(range(1, 1_000_000))


def place_order(publisher: Any, project: Any, *, state: str = "TX", **kwargs: Any) -> Order:
    recipient = {**intake.ANN, "state": state, "email": kwargs.pop("email", intake.ANN["email"])}
    invoice = kwargs.pop("invoice", "") or f"AUTO-{next(_INVOICES)}"
    return intake.place(publisher, [(project, 1)], recipient=recipient, invoice=invoice, **kwargs)


def history(order: Order) -> list[tuple[str, str, str]]:
    return [
        (event.kind, event.message, event.actor)
        for event in OrderEvent.objects.filter(order=order).order_by("at", "id")
    ]


def link_of(message: Any) -> str:
    match = re.search(rf"{re.escape(BASE_URL)}(/c/[A-Za-z0-9_-]+)", message.body)
    assert match is not None, message.body
    return match.group(1)


@pytest.fixture
def operator() -> Client:
    user = User.objects.create_user("op", password="a long enough password", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


# --- when the check runs -------------------------------------------------------------------


def test_a_paid_order_is_checked_by_a_task_its_relay_queues(publisher: Any, cd: Any) -> None:
    order = place_order(publisher, cd, invoice="A-1")
    assert queued_checks() == []  # intake's transaction writes no task row
    assert placed_orders_relay() == 1  # the worker's relay, from the placed event
    assert queued_checks() == [order.id]
    assert placed_orders_relay() == 0  # once
    assert not Order.objects.filter(address_verified_q(), id=order.id).exists()
    run_queued()
    order.refresh_from_db()
    assert order.address_checked_at is not None
    assert order.address_check_note == "Offline check passed."
    assert (order.status, order.fulfillment_state) == ("PROCESSING", "waiting")
    assert Order.objects.filter(address_verified_q(), id=order.id).exists()
    # A second run of the same check changes nothing.
    checked_at = order.address_checked_at
    assert address_check_order(order_id=order.id) == "already_checked"
    order.refresh_from_db()
    assert order.address_checked_at == checked_at


def test_hold_and_test_orders_are_checked_only_once_paid(
    make_publisher: Any, make_project: Any
) -> None:
    poor = make_publisher(balance="0")
    project = make_project(poor)
    hold = place_order(poor, project, invoice="H-1")
    test = place_order(poor, project, invoice="T-1", mode="test")
    assert (hold.status, test.status) == ("HOLD", "TEST")
    assert placed_orders_relay() == 2
    assert queued_checks() == []
    ledger_credit(publisher_id=poor.id, amount=hold.total_cost, description="t", actor="test")
    hold.refresh_from_db()
    assert hold.status == "PROCESSING"  # the credit released it (OrderPaid)
    assert queued_checks() == [hold.id]


def test_missed_checks_are_queued_by_the_sweep_once(publisher: Any, cd: Any) -> None:
    order = place_order(publisher, cd)
    assert queue_missed_checks() == 0  # not relayed yet: its relay queues the check
    assert placed_orders_relay() == 1
    DBTaskResult.objects.all().delete()  # the task was lost
    assert queue_missed_checks() == 1
    assert queue_missed_checks() == 0  # one is pending now
    assert queued_checks() == [order.id]


def test_an_address_corrected_while_the_verifier_ran_is_not_recorded(
    publisher: Any, cd: Any
) -> None:
    order = place_order(publisher, cd)

    class Slow:
        name = "slow"

        def verify(self, address: AddressToCheck) -> CheckResult:
            Order.objects.filter(id=order.id).update(address="2 Main St")
            return CheckResult(ok=False, verifier="slow", description="Bad.")

    assert address_check_order(order_id=order.id, verifier=Slow()) == "address_changed"
    order.refresh_from_db()
    assert (order.fulfillment_state, order.address_checked_at) == ("waiting", None)


# --- a failed check, the email, the customer's correction ----------------------------------


def test_failed_check_email_link_correction_back_to_ready(publisher: Any, cd: Any) -> None:
    order = place_order(publisher, cd, state="MN", invoice="INV-7")
    other = place_order(publisher, cd, invoice="INV-8")
    close_window(order)
    close_window(other)
    mail.outbox.clear()
    run_queued()
    order.refresh_from_db()
    assert (order.status, order.fulfillment_state) == ("ERROR", "address_error")
    assert order.error_description == MISMATCH
    assert order.address_check_note == "The offline check found a problem."
    assert history(order)[-1] == (
        "fulfillment",
        f"Address problem: {MISMATCH}",
        "address check (offline)",
    )
    # The publisher's status call: ERROR / 10 with the description.
    [section] = status(Client(), ["INV-7"], publisher=publisher)
    assert (section["OrderStatus"], section["OrderStatusErrNum"]) == ("ERROR", "10")
    assert section["OrderStatusErrDesc"] == f"Error with address. {MISMATCH}"
    # The publisher's dashboard: "Needs attention".
    dashboard = Client()
    sign_in(dashboard, publisher)
    home = dashboard.get("/home").content.decode()
    assert f"/orders/{order.id}/address" in home
    assert MISMATCH in home
    # The customer's email with the reopened link (the other order gets none).
    [message] = [m for m in mail.outbox if "check the address" in m.subject]
    assert message.subject == f"Please check the address of your order {order.id}"
    assert message.to == ["ann@example.com"]
    assert MISMATCH in message.body
    link = link_of(message)
    assert link == f"/c/{order.customer_token}"
    assert OutgoingEmail.objects.filter(kind=EmailKind.ADDRESS_ERROR, order=other).count() == 0
    # The link is open again for this order (its postage window is over).
    customer = Client()
    page = customer.get(link).content.decode()
    assert "We cannot ship this order to this address yet." in page
    assert MISMATCH in page
    assert 'name="postal_code"' in page
    # A correction the offline check refuses is shown and writes nothing.
    before = history(order)
    refused = customer.post(link, {**FIXED, "postal_code": "7870"})
    assert refused.status_code == 200
    assert "ZIP code &#x27;7870&#x27; is not a valid US ZIP code" in refused.content.decode()
    assert history(order) == before
    # The customer corrects it: back to ready, recorded as the customer's doing.
    response = customer.post(link, FIXED)
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.fulfillment_state, order.error_description) == (
        "PROCESSING",
        "ready",
        "",
    )
    assert (order.state, order.address_checked_at) == ("TX", None)
    assert history(order)[-2:] == [
        (
            "address_corrected",
            "Address corrected: Ann Buyer, 1 Main St, Austin, MN 78701, US → "
            "Ann Buyer, 1 Main St, Austin, TX 78701, US.",
            "customer",
        ),
        ("fulfillment", "Address corrected: ready to be made.", "customer"),
    ]
    [section] = status(Client(), ["INV-7"], publisher=publisher)
    assert (section["OrderStatus"], section["OrderStatusErrNum"]) == ("PROCESSING", "0")
    # The link closes again.
    page = customer.get(link).content.decode()
    assert 'name="postal_code"' not in page
    assert "Too late to change the address" in page
    late = customer.post(link, {**FIXED, "address": "5 Main St"})
    assert late.status_code == 200
    order.refresh_from_db()
    assert order.address == "1 Main St"
    # The new address is checked again and passes.
    assert queued_checks() == [order.id]
    run_queued()
    order.refresh_from_db()
    assert order.address_check_note == "Offline check passed."
    assert Order.objects.filter(address_verified_q(), id=order.id).exists()


def test_a_correction_inside_the_postage_window_goes_back_to_waiting(
    publisher: Any, cd: Any
) -> None:
    order = place_order(publisher, cd, state="MN")
    run_queued()
    order.refresh_from_db()
    assert order.fulfillment_state == "address_error"
    Client().post(f"/c/{order.customer_token}", FIXED)
    order.refresh_from_db()
    assert (order.status, order.fulfillment_state) == ("PROCESSING", "waiting")
    assert history(order)[-1] == (
        "fulfillment",
        "Address corrected: waiting for the postage window.",
        "customer",
    )


def test_the_reopened_link_is_this_order_s_only(publisher: Any, cd: Any) -> None:
    stopped = place_order(publisher, cd, state="MN")
    other = place_order(publisher, cd)
    close_window(stopped)
    close_window(other)
    run_queued()
    other.refresh_from_db()
    assert effective_state(other) == "ready"
    customer = Client()
    assert 'name="postal_code"' in customer.get(f"/c/{stopped.customer_token}").content.decode()
    page = customer.get(f"/c/{other.customer_token}").content.decode()
    assert 'name="postal_code"' not in page
    before = history(other)
    customer.post(f"/c/{other.customer_token}", {**FIXED, "address": "7 Elm St"})
    other.refresh_from_db()
    assert other.address == "1 Main St"
    assert history(other) == before


def test_no_customer_email_when_the_order_asks_for_none(publisher: Any, cd: Any) -> None:
    order = place_order(publisher, cd, state="MN", email="")
    mail.outbox.clear()
    run_queued()
    order.refresh_from_db()
    assert order.fulfillment_state == "address_error"
    assert not OutgoingEmail.objects.filter(kind=EmailKind.ADDRESS_ERROR).exists()


# --- reports, and corrections by the publisher and the operators ----------------------------


def test_a_shipping_station_reports_a_bad_address(publisher: Any, cd: Any) -> None:
    order = place_order(publisher, cd)
    close_window(order)
    run_queued()
    mail.outbox.clear()
    result = address_problem_report(
        order_id=order.id, description="Returned: no such street number.", actor="shipstation:3"
    )
    assert result.changed
    run_queued()
    order.refresh_from_db()
    assert (order.status, order.error_description) == ("ERROR", "Returned: no such street number.")
    assert order.address_check_note == "Stopped by shipstation:3: Returned: no such street number."
    assert not Order.objects.filter(address_verified_q(), id=order.id).exists()
    assert [m.subject for m in mail.outbox] == [
        f"Please check the address of your order {order.id}"
    ]
    # The same report again is a no-op; another one is refused.
    again = address_problem_report(
        order_id=order.id, description="Returned: no such street number.", actor="shipstation:3"
    )
    assert not again.changed
    with pytest.raises(FulfillmentRefused) as refused:
        address_problem_report(order_id=order.id, description="Other.", actor="operator:x")
    assert refused.value.reason == Refusal.CONFLICT
    with pytest.raises(FulfillmentRefused) as blank:
        address_problem_report(order_id=order.id, description="  ", actor="operator:x")
    assert blank.value.reason == Refusal.DETAILS_MISSING


def test_the_publisher_corrects_it_on_the_dashboard(
    publisher: Any, cd: Any, make_publisher: Any
) -> None:
    order = place_order(publisher, cd)
    close_window(order)
    run_queued()
    address_problem_report(order_id=order.id, description="No such street.", actor="operator:x")
    dashboard = Client()
    sign_in(dashboard, publisher)
    page = dashboard.get(f"/orders/{order.id}/address")
    assert page.status_code == 200
    assert "No such street." in page.content.decode()
    # Another publisher cannot see or correct it.
    stranger = make_publisher(email="stranger@example.com")
    other = Client()
    sign_in(other, stranger)
    assert other.get(f"/orders/{order.id}/address").status_code == 404
    assert other.post(f"/orders/{order.id}/address", FIXED).status_code == 404
    response = dashboard.post(f"/orders/{order.id}/address", {**FIXED, "address": "10 Main St"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.fulfillment_state, order.address) == ("ready", "10 Main St")
    actor = f"dashboard ({publisher.email})"
    assert history(order)[-1] == ("fulfillment", "Address corrected: ready to be made.", actor)
    # Not stopped any more: the page says so and changes nothing.
    assert dashboard.post(f"/orders/{order.id}/address", FIXED).status_code == 409
    order.refresh_from_db()
    assert order.address == "10 Main St"


def test_the_operator_page_lists_reports_and_corrects(
    publisher: Any, cd: Any, operator: Client
) -> None:
    stopped = place_order(publisher, cd, state="MN")
    fine = place_order(publisher, cd)
    close_window(stopped)
    close_window(fine)
    run_queued()
    page = operator.get("/operator/address-errors/")
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store, private"
    text = page.content.decode()
    assert f'data-order="{stopped.id}"' in text
    assert MISMATCH in text
    assert f'data-order="{fine.id}"' not in text
    # Report a problem on another open order by its number.
    response = operator.post(
        "/operator/address-errors/report",
        {"order_id": fine.id, "description": "Customer says: wrong city."},
    )
    assert response.status_code == 302
    fine.refresh_from_db()
    assert (fine.status, fine.error_description) == ("ERROR", "Customer says: wrong city.")
    assert history(fine)[-1][2] == "operator:op"
    # Bad input: a clear 400 and nothing written.
    before = Order.objects.filter(fulfillment_state="address_error").count()
    missing = operator.post(
        "/operator/address-errors/report", {"order_id": 999999, "description": "x"}
    )
    assert missing.status_code == 400
    assert "There is no order 999999." in missing.content.decode()
    blank = operator.post("/operator/address-errors/report", {"order_id": "abc"})
    assert blank.status_code == 400
    assert Order.objects.filter(fulfillment_state="address_error").count() == before
    # Correct the first one.
    form = operator.get(f"/operator/address-errors/{stopped.id}/correct")
    assert form.status_code == 200
    response = operator.post(f"/operator/address-errors/{stopped.id}/correct", FIXED)
    assert response.status_code == 302
    stopped.refresh_from_db()
    assert stopped.fulfillment_state == "ready"
    assert history(stopped)[-1] == (
        "fulfillment",
        "Address corrected: ready to be made.",
        "operator:op",
    )
    assert operator.get(f"/operator/address-errors/{stopped.id}/correct").status_code == 404


def test_the_operator_page_is_for_staff_only(db: None) -> None:
    assert Client().get("/operator/address-errors/").status_code == 302
    clerk = User.objects.create_user("clerk", password="a long enough password")
    client = Client()
    client.force_login(clerk)
    assert client.get("/operator/address-errors/").status_code == 404
    assert client.post("/operator/address-errors/report", {"order_id": 1}).status_code == 404


def test_an_operator_accepting_the_address_as_it_is_is_not_stopped_again(
    publisher: Any, cd: Any
) -> None:
    order = place_order(publisher, cd, state="MN")
    close_window(order)
    run_queued()
    fulfillment_move(order_id=order.id, to="ready", actor="operator:ann")
    order.refresh_from_db()
    assert order.address_check_note == "Accepted as it is by operator:ann."
    assert Order.objects.filter(address_verified_q(), id=order.id).exists()
    assert queue_missed_checks() == 0


# --- the reminder -----------------------------------------------------------------------------


def _stop_days_ago(order: Order, days: int) -> None:
    Order.objects.filter(id=order.id).update(
        fulfillment_updated_at=timezone.now() - timedelta(days=days)
    )


def test_the_publisher_is_reminded_once(publisher: Any, cd: Any) -> None:
    order = place_order(publisher, cd, state="MN", invoice="R-1")
    run_queued()
    mail.outbox.clear()
    assert address_error_reminders_send() == 0  # 14 days have not passed
    _stop_days_ago(order, 15)
    assert address_error_reminders_send() == 1
    assert address_error_reminders_send() == 0
    run_queued()
    [message] = mail.outbox
    assert message.to == [publisher.email]
    assert message.subject == f"Order {order.id} is still stopped for an address problem"
    assert MISMATCH in message.body
    assert f"{BASE_URL}/orders/{order.id}" in message.body
    assert "The customer was emailed a link to correct it." in message.body
    assert "nobody has corrected it in 14 days" in message.body
    # Fixed, then stopped again later: that stop gets its own reminder.
    Client().post(f"/c/{order.customer_token}", FIXED)
    address_problem_report(order_id=order.id, description="Returned.", actor="operator:x")
    order.refresh_from_db()
    assert address_error_reminders_send() == 0
    # As if the first reminder went 16 days ago and this stop is 15 days old.
    Order.objects.filter(id=order.id).update(
        address_error_reminded_at=timezone.now() - timedelta(days=16)
    )
    _stop_days_ago(order, 15)
    assert address_error_reminders_send() == 1
    assert address_error_reminders_send() == 0
    assert OutgoingEmail.objects.filter(kind=EmailKind.ADDRESS_ERROR_REMINDER).count() == 2


def test_the_reminder_follows_the_publisher_s_setting(
    make_publisher: Any, make_project: Any
) -> None:
    patient = make_publisher(balance="100", address_error_reminder_days=30)
    order = place_order(patient, make_project(patient), state="MN")
    run_queued()
    _stop_days_ago(order, 20)
    assert address_error_reminders_send() == 0
    _stop_days_ago(order, 31)
    assert address_error_reminders_send() == 1


def test_the_sweep_task_runs_both_and_schedules_itself(publisher: Any, cd: Any) -> None:
    from pressrun.fulfillment.address.tasks import address_sweep

    order = place_order(publisher, cd, state="MN")
    run_queued()
    _stop_days_ago(order, 15)
    assert address_sweep.call() == {"checks_queued": 0, "reminders_sent": 1}
    assert DBTaskResult.objects.filter(task_path=address_sweep.module_path, status="READY").exists()


# --- the API down: fall back, record it -----------------------------------------------------


def test_api_down_falls_back_to_offline_and_records_it(
    publisher: Any, cd: Any, settings: Any
) -> None:
    from tests.fulfillment.easypost_emulator import running

    with running() as server:
        url = server.url
    settings.ADDRESS_VERIFIER = "easypost"
    settings.EASYPOST_API_KEY = "EZTK123"
    settings.EASYPOST_API_URL = url  # nothing listens there now
    settings.ADDRESS_API_ATTEMPTS = 2
    settings.ADDRESS_API_RETRY_SECONDS = 0
    settings.ADDRESS_API_TIMEOUT_SECONDS = 0.5
    order = place_order(publisher, cd)
    assert check_order_address.call(order_id=order.id) == "passed"
    order.refresh_from_db()
    assert order.fulfillment_state == "waiting"
    assert order.address_check_note.startswith(
        "EasyPost could not answer (EasyPost could not be reached ("
    )
    assert order.address_check_note.endswith("(2 attempts)); the offline check decided.")
    kind, message, actor = history(order)[-1]
    assert (kind, actor) == ("address_checked", "address check")
    assert message == f"Address check: {order.address_check_note}"


def test_createpublisher_takes_the_reminder_delay(db: None) -> None:
    from io import StringIO

    from django.core.management import call_command

    from pressrun.accounts.models import Publisher

    out = StringIO()
    call_command(
        "createpublisher",
        "--email=a@example.com",
        f"--password={PASSWORD}",
        "--address-error-reminder-days=3",
        stdout=out,
    )
    publisher = Publisher.objects.get(id=int(out.getvalue()))
    assert publisher.address_error_reminder_days == 3


# --- the publisher's setting ----------------------------------------------------------------

SETTINGS_FORM = {
    "company": "Acme Discs",
    "default_mail_method": "standard",
    "customer_address_changes": "on",
    "postage_delay_hours": "12",
    "error_email": "",
    "customer_contact_email": "",
    "shopify_topics": ["orders/fulfilled"],
}


def test_the_reminder_delay_is_a_setting_on_the_settings_page(publisher: Any) -> None:
    from pressrun.accounts.models import Publisher

    dashboard = Client()
    sign_in(dashboard, publisher)
    page = dashboard.get("/settings").content.decode()
    assert 'name="address_error_reminder_days" value="14"' in page
    response = dashboard.post("/settings", {**SETTINGS_FORM, "address_error_reminder_days": "5"})
    assert response.status_code == 302
    assert Publisher.objects.get(id=publisher.id).address_error_reminder_days == 5
    # Left out, it stays as it is; out of range, it is refused and nothing is saved.
    dashboard.post("/settings", SETTINGS_FORM)
    assert Publisher.objects.get(id=publisher.id).address_error_reminder_days == 5
    for value, message in (
        ("0", "Ensure this value is greater than or equal to 1."),
        ("366", "Ensure this value is less than or equal to 365."),
    ):
        refused = dashboard.post(
            "/settings", {**SETTINGS_FORM, "address_error_reminder_days": value}
        )
        assert refused.status_code == 400
        assert message in refused.content.decode()
        assert Publisher.objects.get(id=publisher.id).address_error_reminder_days == 5


def test_createpublisher_refuses_a_reminder_delay_out_of_range(db: None) -> None:
    from django.core.management import CommandError, call_command

    from pressrun.accounts.models import Publisher

    with pytest.raises(CommandError, match="after 1 to 365 days"):
        call_command(
            "createpublisher",
            "--email=b@example.com",
            f"--password={PASSWORD}",
            "--address-error-reminder-days=0",
        )
    assert not Publisher.objects.filter(email="b@example.com").exists()


def test_the_admin_shows_the_check_but_does_not_let_it_be_edited(publisher: Any, cd: Any) -> None:
    from django.contrib import admin

    order = place_order(publisher, cd)
    model_admin = admin.site._registry[Order]
    readonly = set(model_admin.get_readonly_fields(None, order))  # type: ignore[arg-type]
    assert {"address_checked_at", "address_check_note", "address_error_reminded_at"} <= readonly


def test_a_correction_inside_the_window_is_checked_again(publisher: Any, cd: Any) -> None:
    order = place_order(publisher, cd)
    run_queued()
    order.refresh_from_db()
    assert order.address_checked_at is not None
    customer = Client()
    page = customer.get(f"/c/{order.customer_token}").content.decode()
    assert "We cannot ship this order" not in page  # the usual window, no problem shown
    customer.post(f"/c/{order.customer_token}", {**FIXED, "address": "3 Main St"})
    order.refresh_from_db()
    assert (order.address, order.address_checked_at, order.fulfillment_state) == (
        "3 Main St",
        None,
        "waiting",
    )
    assert queued_checks() == [order.id]
    run_queued()
    order.refresh_from_db()
    assert order.address_checked_at is not None


def test_the_customer_page_of_a_stopped_order_says_what_is_wrong(publisher: Any, cd: Any) -> None:
    order = place_order(publisher, cd, state="MN")
    run_queued()
    page = Client().get(f"/c/{order.customer_token}").content.decode()
    assert "On hold: the address needs correcting" in page
    assert f"<strong>We cannot ship this order to this address yet.</strong> {MISMATCH}" in page


def test_the_problem_is_escaped_in_the_html_email_and_pages(
    publisher: Any, cd: Any, operator: Client
) -> None:
    order = place_order(publisher, cd)
    close_window(order)
    run_queued()
    mail.outbox.clear()
    address_problem_report(
        order_id=order.id, description='Box <b>"7"</b> & more', actor="operator:x"
    )
    run_queued()
    [message] = mail.outbox
    assert 'Box <b>"7"</b> & more' in message.body  # plain text as typed
    html_part = message.alternatives[0][0]
    assert "Box &lt;b&gt;&quot;7&quot;&lt;/b&gt; &amp; more" in html_part
    assert '<b>"7"</b>' not in html_part
    page = operator.get("/operator/address-errors/").content.decode()
    assert "Box &lt;b&gt;&quot;7&quot;&lt;/b&gt; &amp; more" in page
    customer = Client().get(f"/c/{order.customer_token}").content.decode()
    assert "Box &lt;b&gt;&quot;7&quot;&lt;/b&gt; &amp; more" in customer


def test_fuzz_the_address_forms_never_answer_500(publisher: Any, cd: Any, operator: Client) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    order = place_order(publisher, cd)
    close_window(order)
    run_queued()
    address_problem_report(order_id=order.id, description="No such street.", actor="t")
    dashboard = Client()
    sign_in(dashboard, publisher)
    field = st.text(max_size=80)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        order_id=st.one_of(field, st.integers(min_value=-(2**70), max_value=2**70).map(str)),
        description=field,
        street=field,
        state=field,
        postal_code=field,
        country=field,
    )
    def run(
        *,
        order_id: str,
        description: str,
        street: str,
        state: str,
        postal_code: str,
        country: str,
    ) -> None:
        report = operator.post(
            "/operator/address-errors/report", {"order_id": order_id, "description": description}
        )
        assert report.status_code in (302, 400)
        form = {**FIXED, "address": street, "state": state, "postal_code": postal_code}
        form["country"] = country
        for client, url in (
            (operator, f"/operator/address-errors/{order.id}/correct"),
            (dashboard, f"/orders/{order.id}/address"),
            (Client(), f"/c/{order.customer_token}"),
        ):
            response = client.post(url, form)
            assert response.status_code in (200, 302, 400, 404, 409), (url, response.status_code)

    run()
