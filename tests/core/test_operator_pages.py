"""The operator pages' frame: staff only, the shared bar, /operator/ lands on the first page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from pressrun.core.operator_pages import operator_pages

pytestmark = pytest.mark.django_db


def test_signed_out_visitor_is_sent_to_the_operator_sign_in() -> None:
    response = Client().get("/operator/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/operator/"


def test_a_user_who_is_not_staff_gets_a_404() -> None:
    user = User.objects.create_user("clerk", password="a long enough password")
    client = Client()
    client.force_login(user)
    response = client.get("/operator/")
    assert response.status_code == 404


def test_staff_land_on_the_first_page_of_the_bar() -> None:
    user = User.objects.create_user("op", password="a long enough password", is_staff=True)
    client = Client()
    client.force_login(user)
    response = client.get("/operator/")
    # The production floor's queue comes first (fulfillment registers it with order 10).
    assert operator_pages()[0].url_name == "floor:queue"
    assert response.status_code == 302
    assert response["Location"] == "/operator/floor/"
    assert response["Cache-Control"] == "no-store, private"
