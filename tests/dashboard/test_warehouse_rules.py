"""Integrations → Warehouses → carrier codes and shipping rules: the carrier-code upload's
preview → confirm and per-row errors, adding and deleting rules, the description tester,
escaping, CSRF and another publisher's objects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pressrun.accounts.models import Publisher
from pressrun.warehouses.carrier_codes import carrier_codes_import, description_rule_create
from pressrun.warehouses.models import (
    CarrierCode,
    CarrierCodeUpload,
    DescriptionRule,
    WarehouseConnection,
)
from pressrun.warehouses.services import warehouse_create

pytestmark = pytest.mark.django_db

HEAD = b"Carrier,Code,Description\n"
TABLE = HEAD + b"USPS,USPS_PRIORITY,USPS Priority Mail\nUPS,UPS_GROUND,UPS Ground\n"


def text(response: Any) -> str:
    return str(response.content.decode())


@pytest.fixture
def connection(publisher: Publisher) -> WarehouseConnection:
    return warehouse_create(name="Acme 3PL", publisher_id=publisher.id).connection


def upload(client: Client, connection_id: int, data: bytes) -> Any:
    return client.post(
        f"/integrations/warehouses/{connection_id}/carrier-codes",
        {"action": "preview", "file": SimpleUploadedFile("c.csv", data, "text/csv")},
    )


def test_the_warehouses_page_links_both_pages(
    signed_in: Client, connection: WarehouseConnection
) -> None:
    body = text(signed_in.get("/integrations/warehouses"))
    assert f'href="/integrations/warehouses/{connection.id}/shipping-rules"' in body
    assert f'href="/integrations/warehouses/{connection.id}/carrier-codes"' in body


def test_carrier_codes_upload_preview_confirm(
    signed_in: Client, connection: WarehouseConnection
) -> None:
    carrier_codes_import(connection_id=connection.id, data=HEAD + b"UPS,UPS_GROUND,Ground\n")
    page = signed_in.get(f"/integrations/warehouses/{connection.id}/carrier-codes")
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store, private"
    assert "Carrier codes (1)" in text(page)
    previewed = upload(signed_in, connection.id, TABLE)
    assert previewed.status_code == 200
    body = text(previewed)
    assert "1 added, 1 changed,\n      0 unchanged." in body
    assert "<td>added</td><td><code>USPS_PRIORITY</code></td>" in body
    assert "<td>UPS · Ground</td>\n                <td>UPS · UPS Ground</td>" in body
    assert CarrierCode.objects.get().description == "Ground"  # nothing imported yet
    pending = CarrierCodeUpload.objects.get()
    confirmed = signed_in.post(
        f"/integrations/warehouses/{connection.id}/carrier-codes",
        {"action": "confirm", "upload": str(pending.id)},
    )
    assert confirmed.status_code == 302
    after = text(signed_in.get(confirmed["Location"]))
    assert "Carrier codes imported: 1 added, 1 changed, 0 unchanged." in after
    assert list(CarrierCode.objects.values_list("carrier", "code", "description")) == [
        ("UPS", "UPS_GROUND", "UPS Ground"),
        ("USPS", "USPS_PRIORITY", "USPS Priority Mail"),
    ]
    again = signed_in.post(
        f"/integrations/warehouses/{connection.id}/carrier-codes",
        {"action": "confirm", "upload": str(pending.id)},
        follow=True,
    )
    assert "Nothing was imported: This file was imported already" in text(again)


def test_a_carrier_codes_file_with_errors_imports_nothing(
    signed_in: Client, connection: WarehouseConnection
) -> None:
    refused = upload(
        signed_in, connection.id, TABLE + b",NOCARRIER,\nUPS,UPS_GROUND,again\n<b>X</b>,<i>,\n"
    )
    assert refused.status_code == 400
    assert refused["Cache-Control"] == "no-store, private"
    body = text(refused)
    assert "The file has 2 error(s): nothing was imported. Fix them and upload it again." in body
    assert "<li>Line 4: Carrier is blank.</li>" in body
    assert "<li>Line 5: Code &#x27;UPS_GROUND&#x27; is already on line 3.</li>" in body
    assert "<b>X</b>" not in body
    assert not CarrierCode.objects.exists()
    assert not CarrierCodeUpload.objects.exists()
    missing = signed_in.post(
        f"/integrations/warehouses/{connection.id}/carrier-codes", {"action": "preview"}
    )
    assert missing.status_code == 400
    for value in ("", "x", "99999999999999999999999", "-1"):
        bad = signed_in.post(
            f"/integrations/warehouses/{connection.id}/carrier-codes",
            {"action": "confirm", "upload": value},
            follow=True,
        )
        assert "Nothing was imported: This file was imported already, or is not this " in text(bad)
    assert not CarrierCode.objects.exists()


def test_rules_need_codes_first(signed_in: Client, connection: WarehouseConnection) -> None:
    page = signed_in.get(f"/integrations/warehouses/{connection.id}/shipping-rules")
    assert page.status_code == 200
    assert 'data-testid="no-codes"' in text(page)
    refused = signed_in.post(
        f"/integrations/warehouses/{connection.id}/shipping-rules",
        {"match": "is", "text": "Free Shipping", "carrier_code": "UPS_GROUND"},
    )
    assert refused.status_code == 400
    assert not DescriptionRule.objects.exists()


def test_add_try_and_delete_rules(signed_in: Client, connection: WarehouseConnection) -> None:
    carrier_codes_import(connection_id=connection.id, data=TABLE)
    url = f"/integrations/warehouses/{connection.id}/shipping-rules"
    page = text(signed_in.get(url))
    assert '<option value="UPS_GROUND">UPS_GROUND — UPS UPS Ground</option>' in page
    added = signed_in.post(
        url, {"match": "starts_with", "text": "Free", "carrier_code": "USPS_PRIORITY"}
    )
    assert added.status_code == 302
    assert "Rule added: description starts with “Free” → USPS_PRIORITY." in text(
        signed_in.get(added["Location"])
    )
    signed_in.post(url, {"match": "is", "text": "Free Shipping", "carrier_code": "UPS_GROUND"})
    duplicate = signed_in.post(
        url, {"match": "is", "text": "Free Shipping", "carrier_code": "USPS_PRIORITY"}
    )
    assert duplicate.status_code == 400
    assert "There is already a rule: description is “Free Shipping”." in text(duplicate)
    unknown = signed_in.post(url, {"match": "is", "text": "X", "carrier_code": "NOPE"})
    assert unknown.status_code == 400
    assert DescriptionRule.objects.count() == 2

    exact = text(signed_in.get(url, {"description": "Free Shipping"}))
    assert (
        "“Free Shipping” is sent as\n        <strong><code>UPS_GROUND</code></strong> (UPS · UPS "
        "Ground):\n        your rule description is “Free Shipping” → UPS_GROUND." in exact
    )
    prefix = text(signed_in.get(url, {"description": "Free Shipping (3-5 days)"}))
    assert "your rule description starts with “Free” → USPS_PRIORITY." in prefix
    # The tester does not trim: a trailing space makes `is` fail and `starts with` decide.
    spaced = text(signed_in.get(url, {"description": "Free Shipping "}))
    assert "<code>USPS_PRIORITY</code>" in spaced
    none = text(signed_in.get(url, {"description": "Express <b>now</b>"}))
    assert (
        "The shipping description “Express &lt;b&gt;now&lt;/b&gt;” matches no Shipping "
        "Description Transformer rule of this warehouse" in none
    )

    rule = DescriptionRule.objects.get(match="is")
    deleted = signed_in.post(f"{url}/{rule.id}/delete")
    assert deleted.status_code == 302
    assert "Rule deleted: description is “Free Shipping” → UPS_GROUND." in text(
        signed_in.get(deleted["Location"])
    )
    assert list(DescriptionRule.objects.values_list("text", flat=True)) == ["Free"]
    assert signed_in.get(f"{url}/{rule.id}/delete").status_code == 405


def test_another_publishers_warehouse_rule_and_upload_are_refused(
    signed_in: Client,
    connection: WarehouseConnection,
    make_publisher: Callable[..., Any],
    client_for: Callable[..., Client],
) -> None:
    other = make_publisher(email="other@example.com", company="Other")
    theirs = warehouse_create(name="Theirs", publisher_id=other.id).connection
    carrier_codes_import(connection_id=theirs.id, data=TABLE)
    carrier_codes_import(connection_id=connection.id, data=TABLE)
    their_rule = description_rule_create(
        connection_id=theirs.id, match="is", text="Theirs", carrier_code="UPS_GROUND"
    )
    upload(client_for(other), theirs.id, HEAD + b"UPS,HACKED,\n")
    pending = CarrierCodeUpload.objects.get()
    own_station = warehouse_create(name="Main desk").connection
    for target in (theirs, own_station):
        base = f"/integrations/warehouses/{target.id}"
        assert signed_in.get(f"{base}/shipping-rules").status_code == 404
        assert signed_in.get(f"{base}/carrier-codes").status_code == 404
        assert (
            signed_in.post(
                f"{base}/shipping-rules", {"match": "is", "text": "x", "carrier_code": "UPS_GROUND"}
            ).status_code
            == 404
        )
        assert signed_in.post(f"{base}/shipping-rules/{their_rule.id}/delete").status_code == 404
        assert upload(signed_in, target.id, HEAD + b"UPS,HACKED,\n").status_code == 404
    # Their rule through my connection's URL, their upload confirmed through my connection.
    mine = f"/integrations/warehouses/{connection.id}"
    assert signed_in.post(f"{mine}/shipping-rules/{their_rule.id}/delete").status_code == 404
    refused = signed_in.post(
        f"{mine}/carrier-codes", {"action": "confirm", "upload": str(pending.id)}, follow=True
    )
    assert "Nothing was imported" in text(refused)
    assert DescriptionRule.objects.get().id == their_rule.id
    assert not CarrierCode.objects.filter(code="HACKED").exists()
    assert CarrierCodeUpload.objects.get().applied_at is None


def test_forms_need_a_csrf_token(signed_in: Client, connection: WarehouseConnection) -> None:
    carrier_codes_import(connection_id=connection.id, data=TABLE)
    rule = description_rule_create(
        connection_id=connection.id, match="is", text="Free", carrier_code="UPS_GROUND"
    )
    client = Client(enforce_csrf_checks=True)
    client.cookies = signed_in.cookies  # the same signed-in session, without a token
    base = f"/integrations/warehouses/{connection.id}"
    assert (
        client.post(
            f"{base}/shipping-rules", {"match": "is", "text": "x", "carrier_code": "UPS_GROUND"}
        ).status_code
        == 403
    )
    assert client.post(f"{base}/shipping-rules/{rule.id}/delete").status_code == 403
    assert upload(client, connection.id, HEAD + b"UPS,NEW,\n").status_code == 403
    assert DescriptionRule.objects.count() == 1
    assert not CarrierCodeUpload.objects.exists()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    description=st.text(max_size=220),
    rule_text=st.text(max_size=220),
    match=st.sampled_from(["is", "starts_with", "contains", ""]),
)
def test_any_input_is_answered_without_a_server_error(
    signed_in: Client, connection: WarehouseConnection, description: str, rule_text: str, match: str
) -> None:
    if not CarrierCode.objects.exists():
        carrier_codes_import(connection_id=connection.id, data=TABLE)
    url = f"/integrations/warehouses/{connection.id}/shipping-rules"
    assert signed_in.get(url, {"description": description}).status_code == 200
    before = DescriptionRule.objects.count()
    added = signed_in.post(url, {"match": match, "text": rule_text, "carrier_code": "UPS_GROUND"})
    assert added.status_code in (302, 400)
    assert DescriptionRule.objects.count() == before + (added.status_code == 302)
