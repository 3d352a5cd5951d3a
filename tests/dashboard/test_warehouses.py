"""Integrations → Warehouses: adding a connection (credentials shown once, disabled at first),
enabling it, a new password, and the listings page's upload → preview → confirm, errors and
download."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.hashers import check_password
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pressrun.accounts.models import Publisher
from pressrun.warehouses.listings import listings_import
from pressrun.warehouses.models import Listing, ListingUpload, WarehouseConnection
from pressrun.warehouses.services import warehouse_create

pytestmark = pytest.mark.django_db

HEAD = b"channel_sku,warehouse_sku,quantity\n"


def text(response: Any) -> str:
    return str(response.content.decode())


def test_the_integrations_page_links_to_warehouses(signed_in: Client) -> None:
    assert 'href="/integrations/warehouses"' in text(signed_in.get("/integrations"))


def test_adding_a_warehouse_shows_its_credentials_once(
    signed_in: Client, publisher: Publisher
) -> None:
    page = signed_in.get("/integrations/warehouses")
    assert page.status_code == 200
    assert "None yet." in text(page)
    added = signed_in.post("/integrations/warehouses", {"name": "Acme 3PL"})
    assert added.status_code == 200
    assert added["Cache-Control"] == "no-store, private"
    connection = WarehouseConnection.objects.get()
    assert (connection.name, connection.publisher_id, connection.enabled) == (
        "Acme 3PL",
        publisher.id,
        False,
    )
    password = re.search(r'data-testid="warehouse-password">([^<]+)<', text(added))
    assert password
    assert check_password(password.group(1), connection.password)
    assert f'data-testid="warehouse-username">{connection.username}<' in text(added)
    assert re.search(
        r'data-testid="endpoint-url">https?://[^<]+/warehouses/shipstation<', text(added)
    )
    # The list shows it without the password.
    listed = text(signed_in.get("/integrations/warehouses"))
    assert "Acme 3PL" in listed
    assert password.group(1) not in listed
    assert "disabled" in listed


def test_a_blank_name_is_refused_and_nothing_is_written(signed_in: Client) -> None:
    refused = signed_in.post("/integrations/warehouses", {"name": "  "})
    assert refused.status_code == 400
    assert "This field is required." in text(refused)
    assert not WarehouseConnection.objects.exists()


def test_enable_disable_and_a_new_password(signed_in: Client, publisher: Publisher) -> None:
    created = warehouse_create(name="Acme 3PL", publisher_id=publisher.id)
    url = f"/integrations/warehouses/{created.connection.id}"
    assert signed_in.post(f"{url}/enabled", {"enabled": "1"}).status_code == 302
    assert WarehouseConnection.objects.get().enabled is True
    assert signed_in.post(f"{url}/enabled", {"enabled": "0"}).status_code == 302
    assert WarehouseConnection.objects.get().enabled is False
    renewed = signed_in.post(f"{url}/password")
    assert renewed.status_code == 200
    password = re.search(r'data-testid="warehouse-password">([^<]+)<', text(renewed))
    assert password
    stored = WarehouseConnection.objects.get().password
    assert check_password(password.group(1), stored)
    assert not check_password(created.password, stored)


def upload(client: Client, connection_id: int, data: bytes, **extra: str) -> Any:
    return client.post(
        f"/integrations/warehouses/{connection_id}/listings",
        {"action": "preview", "file": SimpleUploadedFile("l.csv", data, "text/csv"), **extra},
    )


def test_upload_preview_confirm_and_download(signed_in: Client, publisher: Publisher) -> None:
    connection = warehouse_create(name="Acme 3PL", publisher_id=publisher.id).connection
    listings_import(connection_id=connection.id, data=HEAD + b"MUG,WH-MUG,1\nOLD,WH-OLD,1\n")
    page = signed_in.get(f"/integrations/warehouses/{connection.id}/listings")
    assert page.status_code == 200
    assert "Listings (2)" in text(page)
    previewed = upload(
        signed_in, connection.id, HEAD + b"SET,A,1\nSET,B,2\nMUG,WH-MUG-2,1\n", replace_all="on"
    )
    assert previewed.status_code == 200
    body = text(previewed)
    assert "1 added, 1 changed,\n      1 removed, 0 unchanged." in body
    assert "<td>added</td><td><code>SET</code></td><td></td><td>1 x A + 2 x B</td>" in body
    assert (
        "<td>changed</td><td><code>MUG</code></td><td>1 x WH-MUG</td><td>1 x WH-MUG-2</td>" in body
    )
    assert "<td>removed</td><td><code>OLD</code></td><td>1 x WH-OLD</td><td></td>" in body
    # Nothing is imported by the preview.
    assert Listing.objects.count() == 2
    pending = ListingUpload.objects.get()
    confirmed = signed_in.post(
        f"/integrations/warehouses/{connection.id}/listings",
        {"action": "confirm", "upload": str(pending.id)},
    )
    assert confirmed.status_code == 302
    after = text(signed_in.get(confirmed["Location"]))
    assert "Listings imported: 1 added, 1 changed, 1 removed, 0 unchanged." in after
    assert list(
        Listing.objects.order_by("channel_sku", "id").values_list(
            "channel_sku", "warehouse_sku", "quantity"
        )
    ) == [("MUG", "WH-MUG-2", 1), ("SET", "A", 1), ("SET", "B", 2)]
    # Confirming the same upload again does nothing.
    again = signed_in.post(
        f"/integrations/warehouses/{connection.id}/listings",
        {"action": "confirm", "upload": str(pending.id)},
        follow=True,
    )
    assert "Nothing was imported: This file was imported already" in text(again)
    download = signed_in.get(f"/integrations/warehouses/{connection.id}/listings.csv")
    assert download.status_code == 200
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    assert download["Content-Disposition"] == (
        f'attachment; filename="listings-warehouse-{connection.id}.csv"'
    )
    assert download.content == (
        b"channel_sku,warehouse_sku,quantity\r\nMUG,WH-MUG-2,1\r\nSET,A,1\r\nSET,B,2\r\n"
    )


def test_a_stale_preview_is_not_imported(signed_in: Client, publisher: Publisher) -> None:
    connection = warehouse_create(name="Acme 3PL", publisher_id=publisher.id).connection
    upload(signed_in, connection.id, HEAD + b"SET,A,1\n")
    listings_import(connection_id=connection.id, data=HEAD + b"MUG,WH-MUG,1\n")
    refused = signed_in.post(
        f"/integrations/warehouses/{connection.id}/listings",
        {"action": "confirm", "upload": str(ListingUpload.objects.get().id)},
        follow=True,
    )
    assert "Nothing was imported: The listings changed since this preview was made" in text(refused)
    assert list(Listing.objects.values_list("channel_sku", flat=True)) == ["MUG"]


def test_a_file_with_errors_shows_each_and_imports_nothing(
    signed_in: Client, publisher: Publisher
) -> None:
    connection = warehouse_create(name="Acme 3PL", publisher_id=publisher.id).connection
    refused = upload(signed_in, connection.id, HEAD + b"SET,A,1\n,B,2\nSET,A,x\n<b>X</b>,<i>,1\n")
    assert refused.status_code == 400
    assert refused["Cache-Control"] == "no-store, private"
    body = text(refused)
    assert "The file has 2 error(s): nothing was imported. Fix them and upload it again." in body
    assert "<li>Line 3: channel_sku is blank.</li>" in body
    assert "<li>Line 4: quantity &#x27;x&#x27; is not a whole number from 1 to 10,000.</li>" in body
    assert "<b>X</b>" not in body
    assert not Listing.objects.exists()
    assert not ListingUpload.objects.exists()
    not_utf8 = upload(signed_in, connection.id, HEAD + b"Caf\xe9,A,1\n")
    assert "Line 2: the file is not UTF-8 text (byte 39 of the file)" in text(not_utf8)
    missing = signed_in.post(
        f"/integrations/warehouses/{connection.id}/listings", {"action": "preview"}
    )
    assert missing.status_code == 400
    assert not Listing.objects.exists()


def test_user_text_is_escaped_on_the_listings_page(signed_in: Client, publisher: Publisher) -> None:
    connection = warehouse_create(
        name="<script>alert(1)</script>", publisher_id=publisher.id
    ).connection
    listings_import(connection_id=connection.id, data=HEAD + b"<img src=x>,<script>x</script>,1\n")
    for path in ("/integrations/warehouses", f"/integrations/warehouses/{connection.id}/listings"):
        body = text(signed_in.get(path))
        assert "<script>alert" not in body
        assert "<img src=x>" not in body


def test_another_publishers_connection_is_404_everywhere(
    signed_in: Client, make_publisher: Callable[..., Any]
) -> None:
    other = make_publisher(email="other@example.com", company="Other")
    theirs = warehouse_create(name="Their 3PL", publisher_id=other.id).connection
    listings_import(connection_id=theirs.id, data=HEAD + b"SET,A,1\n")
    own_station = warehouse_create(name="Main desk").connection
    assert "Their 3PL" not in text(signed_in.get("/integrations/warehouses"))
    for connection in (theirs, own_station):
        base = f"/integrations/warehouses/{connection.id}"
        assert signed_in.get(f"{base}/listings").status_code == 404
        assert signed_in.get(f"{base}/listings.csv").status_code == 404
        assert signed_in.post(f"{base}/enabled", {"enabled": "1"}).status_code == 404
        assert signed_in.post(f"{base}/password").status_code == 404
        assert upload(signed_in, connection.id, HEAD + b"SET,B,1\n").status_code == 404
    assert WarehouseConnection.objects.get(id=theirs.id).enabled is False
    assert list(Listing.objects.values_list("warehouse_sku", flat=True)) == ["A"]
    assert not ListingUpload.objects.exists()


def test_another_publishers_upload_cannot_be_confirmed_through_my_connection(
    signed_in: Client,
    publisher: Publisher,
    make_publisher: Callable[..., Any],
    client_for: Callable[..., Client],
) -> None:
    mine = warehouse_create(name="Mine", publisher_id=publisher.id).connection
    other = make_publisher(email="other@example.com", company="Other")
    theirs = warehouse_create(name="Theirs", publisher_id=other.id).connection
    other_client = client_for(other)
    upload(other_client, theirs.id, HEAD + b"SET,A,1\n")
    pending = ListingUpload.objects.get()
    refused = signed_in.post(
        f"/integrations/warehouses/{mine.id}/listings",
        {"action": "confirm", "upload": str(pending.id)},
        follow=True,
    )
    assert "Nothing was imported" in text(refused)
    assert not Listing.objects.exists()


def test_too_large_a_file_is_refused(signed_in: Client, publisher: Publisher) -> None:
    connection = warehouse_create(name="Acme 3PL", publisher_id=publisher.id).connection
    data = HEAD + b"SKU,WH,1\n" * (1024 * 1024 // 9 + 10)
    refused = upload(signed_in, connection.id, data)
    assert refused.status_code == 400
    assert "The file is larger than 1,048,576 bytes (1 MB): split it in parts." in text(refused)
    assert not Listing.objects.exists()
    assert not ListingUpload.objects.exists()


def test_confirm_without_a_valid_upload_imports_nothing(
    signed_in: Client, publisher: Publisher
) -> None:
    connection = warehouse_create(name="Acme 3PL", publisher_id=publisher.id).connection
    for value in ("", "x", "99999999999999999999999", "-1"):
        refused = signed_in.post(
            f"/integrations/warehouses/{connection.id}/listings",
            {"action": "confirm", "upload": value},
            follow=True,
        )
        assert refused.status_code == 200
        assert "Nothing was imported: This file was imported already, or is not this " in text(
            refused
        )
    assert not Listing.objects.exists()


csv_cells = st.sampled_from(
    ["", "SET", "A", " B ", "0", "1", "2", "x", "10001", "=1", '"', '""', "é", "\x00", "\r", "\n"]
) | st.text(max_size=12)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(st.lists(csv_cells, min_size=0, max_size=4), max_size=6),
    header=st.booleans(),
    action=st.sampled_from(["preview", "confirm", "", "PREVIEW"]),
    replace_all=st.sampled_from(["", "on", "x"]),
)
def test_the_listings_page_never_answers_500(
    *,
    signed_in: Client,
    publisher: Publisher,
    rows: list[list[str]],
    header: bool,
    action: str,
    replace_all: str,
) -> None:
    connection = WarehouseConnection.objects.filter(publisher=publisher).first()
    if connection is None:
        connection = warehouse_create(name="Acme 3PL", publisher_id=publisher.id).connection
    lines = [",".join(row) for row in rows]
    data = ((HEAD.decode() if header else "") + "\n".join(lines)).encode("utf-8", "surrogatepass")
    response = signed_in.post(
        f"/integrations/warehouses/{connection.id}/listings",
        {
            "action": action,
            "file": SimpleUploadedFile("l.csv", data, "text/csv"),
            "replace_all": replace_all,
        },
    )
    assert response.status_code in (200, 302, 400), response.status_code
