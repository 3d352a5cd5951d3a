"""The public base URL belongs to the installation: the environment variable overrides, else
what an operator saved, else where `pressrun serve` last started, else 127.0.0.1:8000. Every
URL pressrun prints or sends comes from `core.selectors.public_base_url`."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client

from pressrun.core.models import Installation
from pressrun.core.selectors import BaseUrlOrigin, public_base_url, public_base_url_reading
from pressrun.core.services import (
    PublicBaseUrlInvalid,
    clean_public_base_url,
    installation_record_served_address,
    installation_set_public_base_url,
    served_address,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_environment_override(settings: Any) -> None:
    settings.PRESSRUN_PUBLIC_BASE_URL = ""


def test_nothing_saved_and_never_served_is_the_default() -> None:
    reading = public_base_url_reading()
    assert (reading.url, reading.origin) == ("http://127.0.0.1:8000", BaseUrlOrigin.DEFAULT)


def test_a_database_not_yet_migrated_counts_as_nothing_saved() -> None:
    installation_record_served_address(host="127.0.0.1", port=8101)
    # As before `pressrun migrate` made the table: the read fails, and the default is used.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE core_installation RENAME TO core_installation_away")
        reading = public_base_url_reading()
        transaction.set_rollback(True)
    assert (reading.url, reading.origin) == ("http://127.0.0.1:8000", BaseUrlOrigin.DEFAULT)
    assert public_base_url() == "http://127.0.0.1:8101"


def test_the_address_serve_started_on_is_used_while_nothing_is_saved() -> None:
    assert installation_record_served_address(host="127.0.0.1", port=8101) == (
        "http://127.0.0.1:8101"
    )
    reading = public_base_url_reading()
    assert (reading.url, reading.origin) == ("http://127.0.0.1:8101", BaseUrlOrigin.SERVED)
    installation_record_served_address(host="0.0.0.0", port=8102)  # noqa: S104 - an address
    assert public_base_url() == "http://127.0.0.1:8102"
    assert Installation.objects.count() == 1


def test_a_saved_url_wins_over_the_served_address_and_clearing_it_restores_it() -> None:
    installation_record_served_address(host="127.0.0.1", port=8101)
    installation_set_public_base_url(url=" https://orders.example.com/ ", actor="operator:ann")
    reading = public_base_url_reading()
    assert (reading.url, reading.origin) == ("https://orders.example.com", BaseUrlOrigin.SAVED)
    row = Installation.objects.get()
    assert (row.public_base_url, row.public_base_url_changed_by) == (
        "https://orders.example.com",
        "operator:ann",
    )
    assert row.public_base_url_changed_at is not None
    installation_set_public_base_url(url="", actor="operator:ann")
    assert public_base_url() == "http://127.0.0.1:8101"


def test_the_environment_variable_overrides_everything(settings: Any) -> None:
    installation_set_public_base_url(url="https://orders.example.com", actor="operator:ann")
    settings.PRESSRUN_PUBLIC_BASE_URL = "http://127.0.0.1:9999/"
    reading = public_base_url_reading()
    assert (reading.url, reading.origin) == ("http://127.0.0.1:9999", BaseUrlOrigin.ENVIRONMENT)


@pytest.mark.parametrize(
    ("given", "saved"),
    [
        ("https://orders.example.com", "https://orders.example.com"),
        ("  http://127.0.0.1:8101/  ", "http://127.0.0.1:8101"),
        ("https://example.com/pressrun/", "https://example.com/pressrun"),
        ("HTTPS://Orders.Example.com", "HTTPS://Orders.Example.com"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("", ""),
    ],
)
def test_urls_that_carts_can_reach_are_saved_cleaned(given: str, saved: str) -> None:
    assert clean_public_base_url(given) == saved


@pytest.mark.parametrize(
    "given",
    [
        "orders.example.com",
        "ftp://orders.example.com",
        "https://",
        "https://user:pw@orders.example.com",
        "https://orders.example.com/?a=1",
        "https://orders.example.com/#x",
        "https://orders example.com",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:0",
        "https://" + "a" * 200 + ".com",
        "javascript:alert(1)",
    ],
)
def test_anything_else_is_refused_and_nothing_saved(given: str) -> None:
    with pytest.raises(PublicBaseUrlInvalid):
        installation_set_public_base_url(url=given, actor="operator:ann")
    assert not Installation.objects.exists()


@pytest.mark.parametrize(
    ("host", "port", "address"),
    [
        ("127.0.0.1", 8101, "http://127.0.0.1:8101"),
        ("0.0.0.0", 8000, "http://127.0.0.1:8000"),  # noqa: S104 - an address, not a bind
        ("::", 8000, "http://[::1]:8000"),
        ("::1", 8000, "http://[::1]:8000"),
        ("localhost", 8080, "http://localhost:8080"),
        ("pressrun.internal", 80, "http://pressrun.internal:80"),
    ],
)
def test_the_served_address_is_where_the_server_answers_locally(
    host: str, port: int, address: str
) -> None:
    assert served_address(host=host, port=port) == address


def test_carturls_uses_the_saved_url(make_publisher: Any, capsys: Any) -> None:
    publisher = make_publisher()
    installation_record_served_address(host="127.0.0.1", port=8101)
    call_command("carturls", "--publisher", str(publisher.id))
    lines = capsys.readouterr().out.splitlines()
    assert all(line.split(": ", 1)[1].startswith("http://127.0.0.1:8101/carts/") for line in lines)
    installation_set_public_base_url(url="https://orders.example.com", actor="test")
    call_command("carturls", "--publisher", str(publisher.id))
    lines = capsys.readouterr().out.splitlines()
    assert all(
        line.split(": ", 1)[1].startswith("https://orders.example.com/carts/") for line in lines
    )


class TestOperatorForm:
    URL = "/admin/core/installation/"

    def test_shows_what_is_in_use_and_saves_a_new_url(self, admin_client: Client) -> None:
        installation_record_served_address(host="127.0.0.1", port=8101)
        page = admin_client.get(self.URL).content.decode()
        assert (
            "In use now: http://127.0.0.1:8101 (the address pressrun serve last started on)."
            in page
        )
        response = admin_client.post(
            self.URL, {"public_base_url": "https://orders.example.com/"}, follow=True
        )
        assert response.status_code == 200
        assert (
            "Saved the public base URL https://orders.example.com. URLs now start with "
            "https://orders.example.com (saved by an operator)."
        ) in response.content.decode()
        row = Installation.objects.get()
        assert (row.public_base_url, row.public_base_url_changed_by) == (
            "https://orders.example.com",
            "operator:admin",
        )

    def test_refuses_a_bad_url_next_to_the_field_and_saves_nothing(
        self, admin_client: Client
    ) -> None:
        installation_set_public_base_url(url="https://orders.example.com", actor="test")
        response = admin_client.post(self.URL, {"public_base_url": "orders.example.org"})
        assert response.status_code == 200
        assert "must start with http:// or https://" in response.content.decode()
        assert Installation.objects.get().public_base_url == "https://orders.example.com"

    def test_the_change_page_leads_to_the_form_and_nothing_can_be_added_or_deleted(
        self, admin_client: Client
    ) -> None:
        installation_set_public_base_url(url="https://orders.example.com", actor="test")
        assert admin_client.get(f"{self.URL}1/change/").url == self.URL
        assert admin_client.get(f"{self.URL}add/").status_code == 403
        admin_client.post(f"{self.URL}1/delete/", {"post": "yes"})
        assert Installation.objects.count() == 1

    def test_a_publisher_cannot_reach_it(self, make_publisher: Any) -> None:
        assert Client().get(self.URL).status_code == 302
        assert not Installation.objects.exists()


def test_the_publishers_settings_page_shows_it_read_only(
    make_publisher: Any, settings: Any
) -> None:
    from tests.conftest import PASSWORD

    publisher = make_publisher()
    client = Client()
    client.post("/sign-in", {"email": publisher.email, "password": PASSWORD})
    installation_set_public_base_url(url="https://orders.example.com", actor="test")
    page = client.get("/settings").content.decode()
    assert '<code data-testid="public-base-url">https://orders.example.com</code>' in page
    assert "its operator sets it (saved by an operator)" in page
    assert 'name="public_base_url"' not in page


class TestSecureCookies:
    """Cookies are sent over HTTPS only once the installation is published on https://,
    also when that address is saved rather than set in the environment."""

    def sign_in_cookie(self, make_publisher: Any) -> Any:
        from tests.conftest import PASSWORD

        publisher = make_publisher()
        response = Client().post("/sign-in", {"email": publisher.email, "password": PASSWORD})
        assert response.status_code == 302
        return response.cookies["sessionid"]

    def test_a_saved_https_address_makes_the_session_cookie_secure(
        self, make_publisher: Any, settings: Any
    ) -> None:
        settings.SESSION_COOKIE_SECURE = False
        settings.PRESSRUN_SECURE_COOKIES_EXPLICIT = False
        installation_set_public_base_url(url="https://orders.example.com", actor="test")
        assert self.sign_in_cookie(make_publisher)["secure"] is True

    def test_an_http_address_leaves_it_as_it_is(self, make_publisher: Any, settings: Any) -> None:
        settings.SESSION_COOKIE_SECURE = False
        settings.PRESSRUN_SECURE_COOKIES_EXPLICIT = False
        installation_set_public_base_url(url="http://127.0.0.1:8101", actor="test")
        assert not self.sign_in_cookie(make_publisher)["secure"]

    def test_an_explicit_choice_in_the_environment_wins(
        self, make_publisher: Any, settings: Any
    ) -> None:
        settings.SESSION_COOKIE_SECURE = False
        settings.PRESSRUN_SECURE_COOKIES_EXPLICIT = True  # PRESSRUN_SECURE_COOKIES=0
        installation_set_public_base_url(url="https://orders.example.com", actor="test")
        assert not self.sign_in_cookie(make_publisher)["secure"]


def test_email_links_start_with_the_installations_address(
    make_publisher: Any,
    make_project: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django.core import mail

    from pressrun.orders.requests import LineRequest, OrderRequest, RecipientRequest
    from pressrun.orders.services import order_place

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    installation_record_served_address(host="127.0.0.1", port=8101)
    publisher = make_publisher(balance="100")
    project = make_project(publisher)
    request = OrderRequest(
        publisher_id=publisher.id,
        lines=(LineRequest(project_id=project.id, quantity=1),),
        recipient=RecipientRequest(
            name="Ann Buyer",
            address="1 Main St",
            city="Austin",
            state="TX",
            postal_code="78701",
            email="ann@example.com",
        ),
        mode="prod",
        source="gateway",
    )
    with django_capture_on_commit_callbacks(execute=True):
        order = order_place(request=request, publisher=publisher)
    (message,) = [m for m in mail.outbox if m.to == ["ann@example.com"]]
    assert f"\nhttp://127.0.0.1:8101/c/{order.customer_token}\n" in message.body
