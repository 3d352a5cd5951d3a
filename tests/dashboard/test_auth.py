"""Dashboard sessions: sign-in (throttled), sign-out, password change and reset."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from pressrun.accounts.models import LoginFailure, Publisher
from pressrun.accounts.services import publisher_set_password
from pressrun.dashboard.auth import SESSION_PUBLISHER_ID
from pressrun.dashboard.tokens import (
    encode_publisher_id,
    password_reset_token,
    password_reset_token_valid,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

WRONG = "The email and password do not match an account."


def test_root_sends_visitors_to_sign_in_and_publishers_home(
    client: Client, signed_in: Client
) -> None:
    assert client.get("/")["Location"] == "/sign-in"
    assert signed_in.get("/")["Location"] == "/home"


def test_sign_in_with_the_right_password_rotates_the_session(
    client: Client, publisher: Publisher
) -> None:
    session = client.session  # a session that exists before signing in
    session["probe"] = 1
    session.save()
    before = client.cookies["sessionid"].value
    response = client.post("/sign-in", {"email": "OWNER@example.com ", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/home"
    assert client.cookies["sessionid"].value != before
    assert client.session[SESSION_PUBLISHER_ID] == publisher.id
    assert client.get("/home").status_code == 200


def test_a_wrong_password_is_refused_and_recorded(client: Client, publisher: Publisher) -> None:
    response = client.post("/sign-in", {"email": publisher.email, "password": "nope nope"})
    assert response.status_code == 200
    assert WRONG in response.content.decode()
    assert SESSION_PUBLISHER_ID not in client.session
    assert list(LoginFailure.objects.values_list("login", flat=True)) == [publisher.email]


def test_an_unknown_email_gets_the_same_answer(client: Client, publisher: Publisher) -> None:
    response = client.post("/sign-in", {"email": "nobody@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert WRONG in response.content.decode()


def test_a_blank_form_explains_each_field(client: Client, publisher: Publisher) -> None:
    response = client.post("/sign-in", {"email": "", "password": ""})
    assert response.status_code == 200
    assert response.content.decode().count("This field is required.") == 2
    assert LoginFailure.objects.count() == 0


def test_sign_in_is_throttled_per_account(
    client: Client, publisher: Publisher, settings: Any
) -> None:
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    for n in range(3):
        client.post("/sign-in", {"email": publisher.email, "password": f"wrong wrong {n}"})
    response = client.post("/sign-in", {"email": publisher.email, "password": PASSWORD})
    assert response.status_code == 429
    # The oldest counted failure was just now: it leaves the 900-second window in 900 s
    # (one more second is added so that a client retrying on time is never still refused).
    assert int(response["Retry-After"]) in (900, 901)
    assert (
        "Too many failed sign-in attempts for this account. Try again in 15 minutes."
        in response.content.decode()
    )
    assert SESSION_PUBLISHER_ID not in client.session


def test_next_is_followed_only_within_the_site(client: Client, publisher: Publisher) -> None:
    response = client.get("/billing?page=2")
    assert response["Location"] == "/sign-in?next=%2Fbilling%3Fpage%3D2"
    response = client.post(
        "/sign-in", {"email": publisher.email, "password": PASSWORD, "next": "/billing?page=2"}
    )
    assert response["Location"] == "/billing?page=2"
    other = Client()
    response = other.post(
        "/sign-in",
        {"email": publisher.email, "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/home"


def test_sign_out_needs_a_post(signed_in: Client) -> None:
    assert signed_in.get("/sign-out").status_code == 405
    assert signed_in.get("/home").status_code == 200
    response = signed_in.post("/sign-out")
    assert response["Location"] == "/sign-in"
    assert signed_in.get("/home")["Location"] == "/sign-in?next=%2Fhome"


def test_a_password_changed_elsewhere_ends_the_session(
    signed_in: Client, publisher: Publisher
) -> None:
    publisher_set_password(publisher=publisher, password="changed by an operator")
    assert signed_in.get("/home")["Location"] == "/sign-in?next=%2Fhome"


def test_a_deactivated_account_is_signed_out(signed_in: Client, publisher: Publisher) -> None:
    Publisher.objects.filter(id=publisher.id).update(is_active=False)
    assert signed_in.get("/settings")["Location"] == "/sign-in?next=%2Fsettings"


def test_password_change_keeps_this_session_and_ends_the_others(
    publisher: Publisher, client_for: Callable[..., Client]
) -> None:
    here, elsewhere = client_for(publisher), client_for(publisher)
    response = here.post(
        "/settings/password",
        {
            "current_password": "not my password",
            "new_password": "new secret words",
            "new_password_again": "new secret words",
        },
    )
    assert response.status_code == 200
    assert "This is not your current password." in response.content.decode()
    # The old password still works: nothing was changed.
    assert (
        Client().post("/sign-in", {"email": publisher.email, "password": PASSWORD})["Location"]
        == "/home"
    )

    response = here.post(
        "/settings/password",
        {
            "current_password": PASSWORD,
            "new_password": "new secret words",
            "new_password_again": "new secret words",
        },
    )
    assert response["Location"] == "/settings"
    assert here.get("/home").status_code == 200
    assert elsewhere.get("/home")["Location"] == "/sign-in?next=%2Fhome"
    fresh = Client()
    refused = fresh.post("/sign-in", {"email": publisher.email, "password": PASSWORD})
    assert WRONG in refused.content.decode()
    accepted = fresh.post("/sign-in", {"email": publisher.email, "password": "new secret words"})
    assert accepted["Location"] == "/home"


def test_password_change_refuses_a_mismatch_and_a_short_password(
    signed_in: Client, publisher: Publisher
) -> None:
    before = Publisher.objects.get(id=publisher.id).password
    response = signed_in.post(
        "/settings/password",
        {"current_password": PASSWORD, "new_password": "short", "new_password_again": "short"},
    )
    assert response.status_code == 200
    assert "Ensure this value has at least 8 characters (it has 5)." in response.content.decode()
    response = signed_in.post(
        "/settings/password",
        {
            "current_password": PASSWORD,
            "new_password": "long enough one",
            "new_password_again": "long enough two",
        },
    )
    assert "The two passwords differ." in response.content.decode()
    assert Publisher.objects.get(id=publisher.id).password == before


def _reset_link(body: str) -> str:
    match = re.search(
        r"http://127\.0\.0\.1:8000(/password-reset/[0-9a-z]+/[0-9a-z]+-[0-9a-f]+)", body
    )
    assert match, body
    return match.group(1)


def test_password_reset_by_email_works_once(
    client: Client, publisher: Publisher, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/password-reset", {"email": "Owner@Example.com"})
    assert response["Location"] == "/sign-in"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["owner@example.com"]
    assert message.subject == "Reset your pressrun password"
    link = _reset_link(message.body)
    assert "works once, for 60 minutes" in message.body

    page = client.get(link)
    assert page.status_code == 200
    assert "Choose a new password" in page.content.decode()
    response = client.post(
        link, {"new_password": "fresh password 1", "new_password_again": "fresh password 1"}
    )
    assert response["Location"] == "/sign-in"
    # Used: the password hash it was made from is gone.
    assert client.get(link).status_code == 400
    assert (
        client.post(link, {"new_password": "x" * 10, "new_password_again": "x" * 10}).status_code
        == 400
    )
    signed = client.post("/sign-in", {"email": publisher.email, "password": "fresh password 1"})
    assert signed["Location"] == "/home"


def test_password_reset_for_an_unknown_email_says_the_same_and_sends_nothing(
    client: Client, publisher: Publisher, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        known = client.post("/password-reset", {"email": publisher.email}, follow=True)
        unknown = client.post("/password-reset", {"email": "who@example.com"}, follow=True)
    known_text = known.content.decode()
    unknown_text = unknown.content.decode()
    assert "If an account uses that email, a link to choose a new password" in known_text
    assert "If an account uses that email, a link to choose a new password" in unknown_text
    assert [message.to for message in mail.outbox] == [[publisher.email]]


def test_password_reset_requests_are_limited_per_hour(
    client: Client, publisher: Publisher, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(7):
            client.post("/password-reset", {"email": publisher.email})
    assert len(mail.outbox) == 5


def test_reset_tokens_expire_and_belong_to_one_account(
    publisher: Publisher, make_publisher: Callable[..., Any], client: Client
) -> None:
    made = timezone.now()
    token = password_reset_token(publisher, now=made)
    assert password_reset_token_valid(publisher, token, now=made + timedelta(seconds=3600))
    assert not password_reset_token_valid(publisher, token, now=made + timedelta(seconds=3601))
    other = make_publisher()
    assert not password_reset_token_valid(other, token, now=made)
    assert not password_reset_token_valid(publisher, "zzz-" + token.split("-")[1], now=made)
    assert not password_reset_token_valid(publisher, "garbage", now=made)
    # Another account's id with this account's token: refused, nothing changed.
    before = Publisher.objects.get(id=other.id).password
    link = f"/password-reset/{encode_publisher_id(other)}/{token}"
    assert (
        client.post(link, {"new_password": "y" * 10, "new_password_again": "y" * 10}).status_code
        == 400
    )
    assert Publisher.objects.get(id=other.id).password == before
    assert client.get("/password-reset/!!/x-y").status_code == 400
