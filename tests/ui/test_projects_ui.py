"""Projects in a real browser: edit a project's eCommerce ID String, create a project while
the live check lists its IDs and the other project sharing one, and refuse a malformed string.

Values are read back through `pressrun shell` on the service's own database.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.live import Account, LiveService
from tests.ui.conftest import PHONE, screenshot, sign_in, text_of

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e


def stored_projects(service: LiveService, account: Account) -> list[dict[str, object]]:
    """The publisher's projects as stored: fields and parsed cart IDs, by project ID."""
    code = (
        "import json; from pressrun.catalog.models import Project; "
        f"rows = [dict(id=p.id, title=p.title, media=p.media, packaging=p.packaging, "
        "price=str(p.price), ecommerce_ids=p.ecommerce_ids, "
        "cart_ids=[c.cart_id for c in p.cart_ids.order_by('id')]) "
        f"for p in Project.objects.filter(publisher_id={account.id}).order_by('id')]; "
        "print(json.dumps(rows))"
    )
    rows: list[dict[str, object]] = json.loads(service.shell(code))
    return rows


def test_create_and_edit_projects_with_an_ecommerce_id_string(
    page: Page, ui_service: LiveService
) -> None:
    from playwright.sync_api import expect

    account = ui_service.create_publisher()
    (single_id,) = account.project_ids
    sign_in(page, ui_service, account)
    page.get_by_role("link", name="Projects", exact=True).click()
    page.wait_for_url(ui_service.url("/projects"))
    assert text_of(page, "project-id") == str(single_id)

    # Edit the existing project: its eCommerce ID String is checked as it is typed.
    page.get_by_role("link", name="Single (CD)").click()
    page.wait_for_url(ui_service.url(f"/projects/{single_id}"))
    assert text_of(page, "project-price").startswith("$4.50 per unit")
    ids_field = page.get_by_label("eCommerce ID String")
    check = page.get_by_test_id("ecommerce-ids-check")
    ids_field.fill("<6000-B")
    expect(check).to_have_text(
        "The '<' at position 1 is never closed; add '>' after the ID.", use_inner_text=True
    )
    ids_field.fill("<6000-B> <7150>")
    expect(check).to_contain_text("2 IDs: 6000-B, 7150")
    expect(check).to_contain_text("No other project of yours uses these IDs.")
    page.get_by_label("Default special text").fill("Unlock code 1234")
    page.get_by_role("button", name="Save project").click()
    expect(page.get_by_role("status")).to_have_text(f"Project {single_id} “Single (CD)” is saved.")
    screenshot(page, "project-edit")

    # Create a second project sharing 6000-B (a bonus disc): the live check says so.
    page.get_by_role("link", name="← Projects").click()
    page.get_by_role("link", name="New project").click()
    page.get_by_label("Title").fill("Bonus Disc")
    page.get_by_label("Media").select_option("dvd")
    page.get_by_label("Packaging").select_option("dvd-case")
    page.get_by_label("eCommerce ID String").fill("{5000-A}{6000-b}")
    expect(check).to_contain_text("2 IDs: 5000-A, 6000-b")
    expect(check).to_contain_text(
        f"6000-b also orders project {single_id} “Single (CD)”: a cart order for it ships "
        "both in one box (fine for a bonus disc)."
    )
    # Saving asks for a confirmation naming the other project; confirmed, it is created.
    page.get_by_role("button", name="Create project").click()
    expect(page.locator("#id_ecommerce_ids_error")).to_have_text(
        "This eCommerce ID String uses IDs of your other projects: '6000-b' is also listed by "
        f"project {single_id} “Single (CD)” (a cart order for it orders both, in one box). "
        "Confirm to save it anyway (a bonus disc ordered by the same SKU is fine)."
    )
    assert stored_projects(ui_service, account)[-1]["id"] == single_id
    page.get_by_label(
        "Yes, save it: these IDs may also order the other projects named above"
    ).check()
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(lambda url: "/projects/" in url and not url.endswith("/new"))
    new_id = int(text_of(page, "project-id"))
    expect(page.get_by_role("status")).to_have_text(
        f"Project “Bonus Disc” is created; its project ID is {new_id}."
    )
    assert text_of(page, "project-price").startswith("$6.25 per unit")

    assert stored_projects(ui_service, account) == [
        {
            "id": single_id,
            "title": "Single (CD)",
            "media": "cd",
            "packaging": "sleeve",
            "price": "4.50",
            "ecommerce_ids": "<6000-B> <7150>",
            "cart_ids": ["6000-B", "7150"],
        },
        {
            "id": new_id,
            "title": "Bonus Disc",
            "media": "dvd",
            "packaging": "dvd-case",
            "price": "6.25",
            "ecommerce_ids": "{5000-A}{6000-b}",
            "cart_ids": ["5000-A", "6000-b"],
        },
    ]
    page.get_by_role("link", name="Projects", exact=True).click()
    rows = page.get_by_test_id("projects").locator("tbody tr")
    assert [" ".join(rows.nth(n).inner_text().split()) for n in range(2)] == [
        f"{single_id} Single (CD) CD Sleeve $4.50 6000-B 7150 Active",
        f"{new_id} Bonus Disc DVD DVD case $6.25 5000-A 6000-b Active",
    ]
    screenshot(page, "projects")


def test_a_malformed_string_is_refused_on_save_without_script(
    page: Page, ui_service: LiveService
) -> None:
    account = ui_service.create_publisher()
    sign_in(page, ui_service, account)
    page.goto(ui_service.url("/projects/new"))
    page.get_by_label("Title").fill("Broken")
    page.get_by_label("eCommerce ID String").fill("5000-A 6000-B")
    # Submitted before the live check could answer: the server refuses it all the same.
    page.get_by_role("button", name="Create project").click()
    error = page.locator("#id_ecommerce_ids_error")
    assert error.inner_text() == (
        "'5000-A' (position 1) and '6000-B' (position 8) are not in brackets, so it is unclear "
        "where one ID ends; wrap each ID in <>, e.g. <5000-A> <6000-B>."
    )
    assert page.get_by_label("Title").input_value() == "Broken"
    assert [row["title"] for row in stored_projects(ui_service, account)] == ["Single (CD)"]


def test_projects_fit_a_phone(page: Page, ui_service: LiveService) -> None:
    account = ui_service.create_publisher()
    page.set_viewport_size(PHONE)
    sign_in(page, ui_service, account)
    for path in ("/projects", f"/projects/{account.project_ids[0]}", "/projects/new"):
        page.goto(ui_service.url(path))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (path, width)
