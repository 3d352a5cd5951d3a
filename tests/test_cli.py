"""The `pressrun` management commands: output, effects, and clear errors on bad arguments."""

from __future__ import annotations

import re
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from pressrun.accounts.models import Publisher
from pressrun.billing.models import LedgerEntry
from pressrun.catalog.models import Project
from pressrun.orders.models import Order, OrderStatus
from tests.billing.test_credit_and_holds import place

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_createpublisher_prints_the_id() -> None:
    output = run("createpublisher", "--email", "Label@Example.com", "--password", "secret-pass")
    publisher = Publisher.objects.get()
    assert output == str(publisher.id)
    assert publisher.email == "label@example.com"
    assert publisher.password != "secret-pass"


def test_createpublisher_with_id_and_company() -> None:
    output = run(
        "createpublisher",
        "--email=a@example.com",
        "--password=secret-pass",
        "--publisher-id=4321",
        "--company=Acme Audio",
    )
    assert output == "4321"
    assert Publisher.objects.get(id=4321).company == "Acme Audio"
    # the next automatic id does not collide with the explicit one (PostgreSQL sequences)
    assert int(run("createpublisher", "--email=b@example.com", "--password=secret-pass")) > 4321


@pytest.mark.parametrize(("hours", "stored"), [(None, 12), ("0", 0), ("1", 1), ("168", 168)])
def test_createpublisher_postage_delay_hours(hours: str | None, stored: int) -> None:
    args = ["--email=a@example.com", "--password=secret-pass"]
    if hours is not None:
        args.append(f"--postage-delay-hours={hours}")
    run("createpublisher", *args)
    assert Publisher.objects.get().postage_delay_hours == stored


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email=not-an-email", "--password=secret-pass"], "not a valid email"),
        (["--email=a@example.com", "--password=short"], "at least 8 characters"),
        (["--email=a@example.com", "--password=secret-pass", "--publisher-id=0"], "positive"),
        (
            ["--email=a@example.com", "--password=secret-pass", "--postage-delay-hours=169"],
            "The postage delay must be between 0 and 168 hours.",
        ),
        (
            ["--email=a@example.com", "--password=secret-pass", "--postage-delay-hours=-1"],
            "The postage delay must be between 0 and 168 hours.",
        ),
        (
            ["--email=a@example.com", "--password=secret-pass", "--postage-delay-hours=two"],
            "invalid int value: 'two'",
        ),
    ],
)
def test_createpublisher_errors(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("createpublisher", *args)
    assert not Publisher.objects.exists()


def test_createpublisher_duplicate_email_and_id() -> None:
    run("createpublisher", "--email=a@example.com", "--password=secret-pass", "--publisher-id=7")
    with pytest.raises(CommandError, match="already exists"):
        run("createpublisher", "--email=A@example.com", "--password=secret-pass")
    with pytest.raises(CommandError, match="already taken"):
        run(
            "createpublisher", "--email=c@example.com", "--password=secret-pass", "--publisher-id=7"
        )


def test_createproject(make_publisher: Any) -> None:
    publisher = make_publisher()
    output = run(
        "createproject",
        f"--publisher={publisher.id}",
        "--title=Live DVD",
        "--media=dvd",
        "--packaging=dvd-case",
        "--price=6.25",
        "--project-id=66760",
        "--ecommerce-ids=<5000-A> <6000-B>",
    )
    assert output == "66760"
    project = Project.objects.get(id=66760)
    assert (project.publisher_id, project.media, project.packaging, project.price) == (
        publisher.id,
        "dvd",
        "dvd-case",
        Decimal("6.25"),
    )
    assert project.ecommerce_ids == "<5000-A> <6000-B>"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--publisher=999999", "--price=1.00"], "No publisher has ID 999999"),
        (["--price=abc"], "not an amount"),
        (["--price=-1"], "'-1' is not an amount"),
        (["--price=100000"], "between 0.00 and 99999.99"),
        (["--price=1e3"], "'1e3' is not an amount"),
        (["--price=4,95"], "'4,95' is not an amount"),
        (["--title=  ", "--price=1.00"], "title must not be blank"),
    ],
)
def test_createproject_errors(make_publisher: Any, args: list[str], message: str) -> None:
    publisher = make_publisher()
    base = [f"--publisher={publisher.id}", "--title=T", "--media=cd", "--packaging=sleeve"]
    with pytest.raises(CommandError, match=message):
        run("createproject", *base, *args)
    assert not Project.objects.exists()


def test_createproject_rejects_unknown_media(make_publisher: Any) -> None:
    publisher = make_publisher()
    with pytest.raises(CommandError, match="invalid choice"):
        run(
            "createproject",
            f"--publisher={publisher.id}",
            "--title=T",
            "--media=vinyl",
            "--packaging=sleeve",
            "--price=1",
        )


def test_addcredit_releases_holds_and_reports_them(make_publisher: Any, make_project: Any) -> None:
    publisher = make_publisher()
    project = make_project(publisher, price=Decimal("4.50"))
    first, second = place(publisher, project), place(publisher, project)  # 6.00 each
    output = run("addcredit", f"--publisher={publisher.id}", "--amount=10.00")
    assert output == f"Credited $10.00; balance $4.00. Released HOLD orders: {first.id}."
    assert Order.objects.get(id=first.id).status == OrderStatus.PROCESSING
    assert Order.objects.get(id=second.id).status == OrderStatus.HOLD


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("abc", "is not an amount"),
        ("-5", "is not an amount"),
        ("0", "positive"),
        # 0.001 wrote a $0.00 payment and 1e3 credited $1,000.00:
        ("0.001", "'0.001' is not an amount: use digits with an optional point and at most two"),
        ("1e3", "'1e3' is not an amount"),
        ("1,000", "'1,000' is not an amount"),
        ("١٢", "is not an amount"),
    ],
)
def test_addcredit_errors(make_publisher: Any, amount: str, message: str) -> None:
    publisher = make_publisher()
    with pytest.raises(CommandError, match=message):
        run("addcredit", f"--publisher={publisher.id}", f"--amount={amount}")
    assert not LedgerEntry.objects.exists()


def test_addcredit_unknown_publisher() -> None:
    with pytest.raises(CommandError, match="No publisher has ID 42"):
        run("addcredit", "--publisher=42", "--amount=5")


def test_demo_creates_data_once(settings: Any) -> None:
    settings.PRESSRUN_PUBLIC_BASE_URL = ""
    first = run("demo")
    assert "Created the demo publisher" in first
    assert "curl -s 'http://127.0.0.1:8000/gateway/order'" in first
    second = run("demo")
    assert "Created" not in second
    assert Publisher.objects.count() == 1
    assert sorted(Project.objects.values_list("id", "ecommerce_ids")) == [
        (66750, "{279813}"),
        (66760, ""),
        (66770, ""),
    ]
    demo = Publisher.objects.get()
    assert demo.balance == Decimal("100.00")
    # The fixed, documented values the cart guides' samples use.
    assert (demo.id, demo.cart_token, demo.shopify_webhook_key) == (
        66870,
        "demo-cart-token-66870",
        "demo-shopify-signing-key",
    )
    assert "cart URL token demo-cart-token-66870, Shopify signing key" in first


def test_demo_prints_the_address_the_server_last_started_on(settings: Any) -> None:
    from pressrun.core.services import installation_record_served_address

    settings.PRESSRUN_PUBLIC_BASE_URL = ""
    installation_record_served_address(host="127.0.0.1", port=8101)
    output = run("demo")
    assert "Publisher dashboard: http://127.0.0.1:8101/" in output
    assert "8000" not in output


OPERATOR_LINE = re.compile(r"\(user operator / (\S+) - shown only this once\)")


def test_demo_operator_gets_a_random_password_shown_once() -> None:
    first = run("demo")
    printed = OPERATOR_LINE.search(first)
    assert printed, first
    password = printed.group(1)
    assert len(password) >= 16
    operator = get_user_model().objects.get(username="operator")
    assert operator.is_superuser
    assert operator.check_password(password)
    assert not operator.check_password("operator-password")
    assert "operator-password" not in first
    again = run("demo")
    assert password not in again
    assert OPERATOR_LINE.search(again) is None
    assert "(user operator; its password was shown when it was made" in again
    assert "`pressrun changepassword operator` sets a new one" in again


def test_demo_replaces_the_password_earlier_versions_published() -> None:
    get_user_model().objects.create_superuser("operator", "", "operator-password")
    output = run("demo")
    printed = OPERATOR_LINE.search(output)
    assert printed, output
    operator = get_user_model().objects.get(username="operator")
    assert operator.check_password(printed.group(1))
    assert not operator.check_password("operator-password")


def test_demo_is_refused_on_a_database_with_real_publishers(make_publisher: Any) -> None:
    make_publisher(email="label@example.com")
    with pytest.raises(CommandError) as refused:
        run("demo")
    assert str(refused.value) == (
        "Refused: this database already has 1 publisher(s) of its own; demo data is only "
        "added to a new installation. To serve it, run `pressrun serve` and `pressrun worker`."
    )
    assert list(Publisher.objects.values_list("email", flat=True)) == ["label@example.com"]
    assert not Project.objects.exists()
    assert not get_user_model().objects.exists()
