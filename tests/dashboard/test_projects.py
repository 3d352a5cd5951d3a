"""Dashboard Projects: the list with project IDs, creating and editing a project (the price
is the operators'), and the live check of the eCommerce ID String."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from pressrun.accounts.models import Publisher
from pressrun.catalog.models import Project, ProjectCartId
from tests.dashboard.pages import ESCAPED, SCRIPT, text

pytestmark = pytest.mark.django_db


def cart_ids(project: Project) -> list[str]:
    return list(ProjectCartId.objects.filter(project=project).values_list("cart_id", flat=True))


def form_data(**overrides: str) -> dict[str, str]:
    data = {
        "title": "Greatest Hits",
        "media": "cd",
        "packaging": "sleeve",
        "special_text": "",
        "ecommerce_ids": "",
    }
    data.update(overrides)
    return data


def test_list_shows_each_project_id_next_to_its_title_and_only_mine(
    signed_in: Client,
    publisher: Publisher,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
) -> None:
    first = make_project(publisher, title="Greatest Hits", ecommerce_ids="<5000-A> <6000-B>")
    second = make_project(publisher, title="Live DVD", media="dvd", packaging="dvd-case")
    make_project(make_publisher(), title="Someone Else's Album")
    response = signed_in.get("/projects")
    assert response.status_code == 200
    page = text(response)
    assert (
        f"{first.id} Greatest Hits CD Sleeve $4.50 5000-A 6000-B Active "
        f"{second.id} Live DVD DVD DVD case $4.50 — Active"
    ) in page
    assert "Someone Else" not in page
    assert 'aria-current="page">Projects<' in response.content.decode()


def test_create_a_project_at_the_standard_price_with_its_cart_ids(
    signed_in: Client, publisher: Publisher
) -> None:
    response = signed_in.post(
        "/projects/new",
        form_data(
            title="  Complete Works ",
            media="usb",
            packaging="usb-ecomailer",
            special_text="Unlock code 1234",
            ecommerce_ids="{294010}{298020}",
        ),
    )
    project = Project.objects.get(publisher=publisher)
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.id}"
    assert (project.title, project.media, project.packaging, project.price) == (
        "Complete Works",
        "usb",
        "usb-ecomailer",
        Decimal("9.00"),
    )
    assert project.special_text == "Unlock code 1234"
    assert cart_ids(project) == ["294010", "298020"]
    page = text(signed_in.get(response["Location"]))
    assert f"Project “Complete Works” is created; its project ID is {project.id}." in page
    assert "$9.00 per unit" in page
    assert "2 IDs: 294010, 298020" in page


def test_a_price_posted_by_the_publisher_is_ignored(
    signed_in: Client, publisher: Publisher
) -> None:
    signed_in.post("/projects/new", {**form_data(), "price": "0.01"})
    assert Project.objects.get(publisher=publisher).price == Decimal("4.50")


@pytest.mark.parametrize(
    ("ecommerce_ids", "message"),
    [
        ("<5000-A", "The '<' at position 1 is never closed; add '>' after the ID."),
        (
            "5000-A 6000-B",
            "'5000-A' (position 1) and '6000-B' (position 8) are not in brackets, so it is "
            "unclear where one ID ends; wrap each ID in <>, e.g. <5000-A> <6000-B>.",
        ),
    ],
)
def test_a_malformed_ecommerce_id_string_is_refused_and_nothing_is_written(
    signed_in: Client, publisher: Publisher, ecommerce_ids: str, message: str
) -> None:
    response = signed_in.post("/projects/new", form_data(ecommerce_ids=ecommerce_ids))
    assert response.status_code == 400
    assert message in text(response)
    assert 'id="id_ecommerce_ids_error"' in response.content.decode()
    assert Project.objects.count() == 0
    assert ProjectCartId.objects.count() == 0


def test_blank_title_and_unknown_media_are_refused(signed_in: Client) -> None:
    response = signed_in.post("/projects/new", form_data(title="  ", media="vinyl"))
    assert response.status_code == 400
    page = text(response)
    assert "This field is required." in page
    assert "Select a valid choice. vinyl is not one of the available choices." in page
    assert Project.objects.count() == 0


def test_edit_a_project_and_its_ecommerce_id_string(
    signed_in: Client, publisher: Publisher, make_project: Callable[..., Any]
) -> None:
    project = make_project(publisher, ecommerce_ids="<OLD-1>")
    page = signed_in.get(f"/projects/{project.id}")
    assert page.status_code == 200
    assert "1 ID: OLD-1" in text(page)
    response = signed_in.post(
        f"/projects/{project.id}",
        form_data(
            title="Greatest Hits (remastered)",
            packaging="jewel-case",
            special_text="Thanks!",
            ecommerce_ids="<5000-A>, <6000-B>",
        ),
    )
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.id}"
    project.refresh_from_db()
    assert (project.title, project.packaging, project.special_text, project.ecommerce_ids) == (
        "Greatest Hits (remastered)",
        "jewel-case",
        "Thanks!",
        "<5000-A>, <6000-B>",
    )
    assert project.price == Decimal("4.50")
    assert cart_ids(project) == ["5000-A", "6000-B"]
    assert f"Project {project.id} “Greatest Hits (remastered)” is saved." in text(
        signed_in.get(f"/projects/{project.id}")
    )


def test_a_refused_edit_changes_nothing(
    signed_in: Client, publisher: Publisher, make_project: Callable[..., Any]
) -> None:
    project = make_project(publisher, ecommerce_ids="<KEEP>")
    before = Project.objects.filter(id=project.id).values().get()
    response = signed_in.post(
        f"/projects/{project.id}", form_data(title="New title", ecommerce_ids="<A>{B")
    )
    assert response.status_code == 400
    assert "The '{' at position 4 is never closed; add '}' after the ID." in text(response)
    assert Project.objects.filter(id=project.id).values().get() == before
    assert cart_ids(project) == ["KEEP"]


def test_a_standard_price_follows_the_media_and_an_operator_price_is_kept(
    signed_in: Client, publisher: Publisher, make_project: Callable[..., Any]
) -> None:
    standard = make_project(publisher)
    operator_priced = make_project(publisher, price=Decimal("3.10"))
    signed_in.post(f"/projects/{standard.id}", form_data(media="usb", packaging="usb-ecomailer"))
    signed_in.post(
        f"/projects/{operator_priced.id}", form_data(media="usb", packaging="usb-ecomailer")
    )
    standard.refresh_from_db()
    operator_priced.refresh_from_db()
    assert (standard.media, standard.price) == ("usb", Decimal("9.00"))
    assert (operator_priced.media, operator_priced.price) == ("usb", Decimal("3.10"))
    assert "Set for this project by pressrun; contact us to change it." in text(
        signed_in.get(f"/projects/{operator_priced.id}")
    )
    assert "This is the standard price for USB drive" in text(
        signed_in.get(f"/projects/{standard.id}")
    )
    # The form has no price field at all.
    assert 'name="price"' not in signed_in.get(f"/projects/{standard.id}").content.decode()


def test_another_publishers_project_is_404_and_unchanged(
    signed_in: Client, make_publisher: Callable[..., Any], make_project: Callable[..., Any]
) -> None:
    theirs = make_project(make_publisher(), title="Theirs", ecommerce_ids="<T>")
    before = Project.objects.filter(id=theirs.id).values().get()
    assert signed_in.get(f"/projects/{theirs.id}").status_code == 404
    response = signed_in.post(f"/projects/{theirs.id}", form_data(title="Mine now"))
    assert response.status_code == 404
    assert Project.objects.filter(id=theirs.id).values().get() == before
    assert cart_ids(theirs) == ["T"]


def test_live_check_lists_ids_and_projects_sharing_them(
    signed_in: Client,
    publisher: Publisher,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
) -> None:
    editing = make_project(publisher, title="Editing", ecommerce_ids="<6000-B>")
    bonus = make_project(
        publisher, title="Bonus Disc", ecommerce_ids="<4000-C> <6000-b>", confirm_shared_ids=True
    )
    make_project(publisher, title="Retired", ecommerce_ids="<5000-A>", is_active=False)
    make_project(make_publisher(), title="Other Publisher", ecommerce_ids="<5000-A> <6000-B>")
    response = signed_in.get(
        "/projects/ecommerce-ids",
        {"ecommerce_ids": f"<5000-A> <6000-B> {{{bonus.id}}}", "project": str(editing.id)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    fragment = text(response)
    assert "<html" not in response.content.decode()
    assert fragment == (
        f"3 IDs: 5000-A, 6000-B, {bonus.id} "
        f"6000-B also orders project {bonus.id} “Bonus Disc”: a cart order for it ships both "
        "in one box (fine for a bonus disc). "
        f"{bonus.id} is the project ID of project {bonus.id} “Bonus Disc”: a Shopify SKU "
        f"{bonus.id} would order this project instead of that one. "
        "Saving asks you to confirm IDs that your other projects do not use yet."
    )
    assert "Other Publisher" not in fragment
    assert "Retired" not in fragment


def test_live_check_of_a_new_project_counts_every_other_project(
    signed_in: Client, publisher: Publisher, make_project: Callable[..., Any]
) -> None:
    existing = make_project(publisher, title="Existing", ecommerce_ids="<6000-B>")
    fragment = text(signed_in.get("/projects/ecommerce-ids", {"ecommerce_ids": "6000-b"}))
    assert fragment.startswith("1 ID: 6000-b ")
    assert f"6000-b also orders project {existing.id} “Existing”" in fragment


def test_live_check_shows_the_parsers_message(signed_in: Client) -> None:
    response = signed_in.get("/projects/ecommerce-ids", {"ecommerce_ids": "<A}"})
    assert (
        text(response) == "The '<' at position 1 is closed by '}' at position 3; use <ID> or {ID}."
    )
    assert text(signed_in.get("/projects/ecommerce-ids", {"ecommerce_ids": "x" * 1001})) == (
        "The eCommerce ID String must have at most 1000 characters."
    )
    assert text(signed_in.get("/projects/ecommerce-ids")) == (
        "No IDs: carts order this project only by its project ID."
    )


def test_live_check_ignores_another_publishers_project_id(
    signed_in: Client,
    publisher: Publisher,
    make_publisher: Callable[..., Any],
    make_project: Callable[..., Any],
) -> None:
    mine = make_project(publisher, title="Mine", ecommerce_ids="<S>")
    theirs = make_project(make_publisher(), title="Theirs", ecommerce_ids="<S>")
    # Naming their project as "the one being edited" must not hide my own project's use.
    fragment = text(
        signed_in.get("/projects/ecommerce-ids", {"ecommerce_ids": "<S>", "project": theirs.id})
    )
    assert f"S also orders project {mine.id} “Mine”" in fragment
    assert "Theirs" not in fragment
    for junk in ("abc", "-1", "9" * 40, "٣"):
        response = signed_in.get(
            "/projects/ecommerce-ids", {"ecommerce_ids": "<S>", "project": junk}
        )
        assert response.status_code == 200, junk


def test_the_edit_page_wires_the_live_check(
    signed_in: Client, publisher: Publisher, make_project: Callable[..., Any]
) -> None:
    project = make_project(publisher)
    page = signed_in.get(f"/projects/{project.id}").content.decode()
    assert 'hx-get="/projects/ecommerce-ids"' in page
    assert f'hx-vals="{{&quot;project&quot;: {project.id}}}"' in page
    assert 'hx-target="#ecommerce-ids-check"' in page
    assert 'id="ecommerce-ids-check"' in page
    assert 'aria-live="polite"' in page


def test_html_in_project_text_is_shown_escaped(
    signed_in: Client, publisher: Publisher, make_project: Callable[..., Any]
) -> None:
    project = make_project(
        publisher, title=SCRIPT, special_text="a < b", ecommerce_ids="<x&lt;y> {\"'}"
    )
    make_project(publisher, title=SCRIPT + " bonus", ecommerce_ids="{\"'}", confirm_shared_ids=True)
    for path in ("/projects", f"/projects/{project.id}"):
        page = signed_in.get(path).content.decode()
        assert SCRIPT not in page, path
        assert ESCAPED in page, path
    fragment = signed_in.get(
        "/projects/ecommerce-ids", {"ecommerce_ids": "{<b>bold</b>"}
    ).content.decode()
    assert "<b>" not in fragment
    fragment = signed_in.get(
        "/projects/ecommerce-ids", {"ecommerce_ids": "{\"'}", "project": project.id}
    ).content.decode()
    assert ESCAPED in fragment
    assert SCRIPT not in fragment


def test_pages_have_no_inline_script_or_style(
    signed_in: Client, publisher: Publisher, make_project: Callable[..., Any]
) -> None:
    project = make_project(publisher)
    for path in ("/projects", "/projects/new", f"/projects/{project.id}"):
        page = signed_in.get(path).content.decode()
        assert "<script>" not in page, path
        assert " style=" not in page, path
        assert "<style" not in page, path


def test_forms_need_a_csrf_token(signed_in: Client) -> None:
    client = Client(enforce_csrf_checks=True)
    client.cookies = signed_in.cookies  # the same signed-in session, without a token
    assert client.get("/projects/new").status_code == 200
    assert client.post("/projects/new", form_data()).status_code == 403
    assert Project.objects.count() == 0
