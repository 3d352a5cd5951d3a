"""Rules between a project's fields, the same in the dashboard, `pressrun createproject` and
the admin: an eCommerce ID String that uses IDs other projects answer to needs a
confirmation naming them, and media and packaging must fit."""

from __future__ import annotations

import importlib
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from pressrun.catalog.models import PACKAGING_FOR_MEDIA, Project, ProjectCartId
from pressrun.catalog.services import (
    ProjectIdsShared,
    ProjectInvalid,
    project_create,
    project_update,
)
from tests.catalog.test_admin import form_data
from tests.dashboard.conftest import sign_in
from tests.dashboard.pages import text

pytestmark = pytest.mark.django_db

TAKES_66750 = (
    "This eCommerce ID String uses IDs of your other projects: '66750' is the project ID of "
    "project 66750 “Greatest Hits” (a Shopify SKU 66750 would order this project instead of "
    "that one)."
)
CONFIRM = " Confirm to save it anyway (a bonus disc ordered by the same SKU is fine)."
DVD_IN_ECOMAILER = "A DVD cannot ship in a USB ecomailer: a DVD ships in a sleeve or a DVD case."


@pytest.fixture
def publisher(make_publisher: Any) -> Any:
    return make_publisher(email="owner@example.com")


@pytest.fixture
def greatest_hits(publisher: Any) -> Project:
    return project_create(
        publisher=publisher,
        title="Greatest Hits",
        media="cd",
        packaging="sleeve",
        price=Decimal("4.50"),
        project_id=66750,
    )


def snapshot() -> tuple[list[Any], list[Any]]:
    return (
        list(Project.objects.order_by("id").values()),
        list(ProjectCartId.objects.order_by("id").values()),
    )


def new_project(publisher: Any, **kwargs: Any) -> Project:
    values: dict[str, Any] = {
        "title": "Live DVD",
        "media": "dvd",
        "packaging": "dvd-case",
        "price": Decimal("6.25"),
    }
    values.update(kwargs)
    return project_create(publisher=publisher, **values)


# --- shared IDs: the service ---------------------------------------------------------------


def test_a_new_project_cannot_silently_take_over_sku_66750(
    publisher: Any, greatest_hits: Project
) -> None:
    before = snapshot()
    with pytest.raises(ProjectIdsShared) as refused:
        new_project(publisher, ecommerce_ids="66750")
    assert refused.value.message == TAKES_66750 + CONFIRM
    assert refused.value.field == "ecommerce_ids"
    assert [(item.cart_id, item.other.id, item.kind) for item in refused.value.shared] == [
        ("66750", 66750, "project_id")
    ]
    assert snapshot() == before

    confirmed = new_project(publisher, ecommerce_ids="66750", confirm_shared_ids=True)
    assert list(confirmed.cart_ids.values_list("cart_id", flat=True)) == ["66750"]


def test_a_bonus_disc_needs_the_confirmation_and_stays_possible(
    publisher: Any, greatest_hits: Project
) -> None:
    project_update(project=greatest_hits, ecommerce_ids="<5000-A> <6000-B>")
    with pytest.raises(ProjectIdsShared) as refused:
        new_project(publisher, title="Bonus", ecommerce_ids="<4000-C> <6000-b>")
    assert refused.value.message == (
        "This eCommerce ID String uses IDs of your other projects: '6000-b' is also listed by "
        "project 66750 “Greatest Hits” (a cart order for it orders both, in one box)." + CONFIRM
    )
    bonus = new_project(
        publisher, title="Bonus", ecommerce_ids="<4000-C> <6000-b>", confirm_shared_ids=True
    )
    # Once confirmed, editing the project otherwise does not ask again...
    project_update(project=bonus, title="Bonus DVD", ecommerce_ids="<6000-b> <4000-C>")
    # ...but a further shared ID does.
    with pytest.raises(ProjectIdsShared, match="'5000-A' is also listed by project 66750"):
        project_update(project=bonus, ecommerce_ids="<6000-b> <4000-C> <5000-A>")
    assert Project.objects.get(id=bonus.id).ecommerce_ids == "<6000-b> <4000-C>"


def test_another_publishers_ids_and_inactive_projects_need_no_confirmation(
    publisher: Any, greatest_hits: Project, make_publisher: Any
) -> None:
    other = make_publisher()
    project_create(
        publisher=other,
        title="Theirs",
        media="cd",
        packaging="sleeve",
        price="4.50",
        ecommerce_ids="<X-1>",
    )
    project_update(project=greatest_hits, is_active=False)
    project = new_project(publisher, ecommerce_ids="<X-1> {66750}")
    assert project.ecommerce_ids == "<X-1> {66750}"


# --- shared IDs: the three channels ----------------------------------------------------------


def test_createproject_refuses_with_the_names_until_confirmed(
    publisher: Any, greatest_hits: Project
) -> None:
    arguments = [
        "createproject",
        f"--publisher={publisher.id}",
        "--title=Live DVD",
        "--media=dvd",
        "--packaging=dvd-case",
        "--price=6.25",
        "--ecommerce-ids=66750",
    ]
    before = snapshot()
    with pytest.raises(CommandError) as refused:
        call_command(*arguments)
    assert str(refused.value) == (
        TAKES_66750 + " Nothing was created. Run it again with --confirm-shared-ids to save it "
        "anyway (a bonus disc ordered by the same SKU is fine)."
    )
    assert snapshot() == before
    out = StringIO()
    call_command(*arguments, "--confirm-shared-ids", stdout=out)
    created = Project.objects.get(id=int(out.getvalue()))
    assert created.ecommerce_ids == "66750"


def test_the_dashboard_shows_the_conflict_and_a_confirmation(
    client: Client, publisher: Any, greatest_hits: Project, settings: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    sign_in(client, publisher)
    data = {
        "title": "Live DVD",
        "media": "dvd",
        "packaging": "dvd-case",
        "special_text": "",
        "ecommerce_ids": "66750",
    }
    before = snapshot()
    response = client.post("/projects/new", data)
    assert response.status_code == 400
    assert TAKES_66750 + CONFIRM in text(response)
    page = response.content.decode()
    assert 'type="checkbox" name="confirm_shared_ids"' in page
    assert "Yes, save it: these IDs may also order the other projects named above" in page
    assert response["Cache-Control"] == "no-store, private"
    assert snapshot() == before

    response = client.post("/projects/new", {**data, "confirm_shared_ids": "on"})
    assert response.status_code == 302
    created = Project.objects.exclude(id=66750).get()
    assert created.ecommerce_ids == "66750"
    # Saving it again (title changed) does not ask again: the shared ID was confirmed.
    response = client.post(f"/projects/{created.id}", {**data, "title": "Live DVD 2"})
    assert response.status_code == 302
    assert Project.objects.get(id=created.id).title == "Live DVD 2"


def test_the_admin_asks_for_the_same_confirmation(
    client: Client, publisher: Any, greatest_hits: Project
) -> None:
    user = get_user_model().objects.create_superuser("op", "", "operator-pass")
    client.force_login(user)
    before = snapshot()
    reply = client.post(
        "/admin/catalog/project/add/", form_data(publisher.id, ecommerce_ids="66750")
    )
    assert reply.status_code == 200
    assert "project 66750 “Greatest Hits”" in reply.content.decode()
    assert snapshot() == before
    reply = client.post(
        "/admin/catalog/project/add/",
        form_data(publisher.id, ecommerce_ids="66750", confirm_shared_ids="on"),
    )
    assert reply.status_code == 302
    assert Project.objects.filter(ecommerce_ids="66750", title="Live DVD").count() == 1


# --- media and packaging ----------------------------------------------------------------------


def test_the_table_of_media_and_packaging() -> None:
    assert PACKAGING_FOR_MEDIA == {
        "cd": ("sleeve", "jewel-case"),
        "dvd": ("sleeve", "dvd-case"),
        "usb": ("usb-ecomailer",),
    }


@pytest.mark.parametrize(
    ("media", "packaging", "message"),
    [
        ("dvd", "usb-ecomailer", DVD_IN_ECOMAILER),
        (
            "usb",
            "sleeve",
            "A USB drive cannot ship in a sleeve: a USB drive ships in a USB ecomailer.",
        ),
        (
            "cd",
            "dvd-case",
            "A CD cannot ship in a DVD case: a CD ships in a sleeve or a jewel case.",
        ),
    ],
)
def test_the_service_refuses_packaging_that_does_not_fit(
    publisher: Any, media: str, packaging: str, message: str
) -> None:
    before = snapshot()
    with pytest.raises(ProjectInvalid) as refused:
        new_project(publisher, media=media, packaging=packaging)
    assert (refused.value.message, refused.value.field) == (message, "packaging")
    assert snapshot() == before


def test_a_change_to_a_pair_that_does_not_fit_is_refused(
    publisher: Any, greatest_hits: Project
) -> None:
    with pytest.raises(ProjectInvalid, match="A CD cannot ship in a USB ecomailer"):
        project_update(project=greatest_hits, packaging="usb-ecomailer")
    with pytest.raises(ProjectInvalid, match="A USB drive cannot ship in a sleeve"):
        project_update(project=greatest_hits, media="usb", packaging="sleeve")
    project_update(project=greatest_hits, media="dvd", packaging="dvd-case")
    assert Project.objects.filter(id=66750).values_list("media", "packaging").get() == (
        "dvd",
        "dvd-case",
    )


def test_an_old_project_that_does_not_fit_can_still_be_edited_otherwise(
    publisher: Any, greatest_hits: Project
) -> None:
    Project.objects.filter(id=66750).update(media="dvd", packaging="usb-ecomailer")
    greatest_hits.refresh_from_db()
    project_update(project=greatest_hits, title="Greatest Hits (2024)")
    assert Project.objects.get(id=66750).title == "Greatest Hits (2024)"


def test_the_three_channels_refuse_a_dvd_in_a_usb_ecomailer(client: Client, publisher: Any) -> None:
    before = snapshot()
    with pytest.raises(CommandError) as refused:
        call_command(
            "createproject",
            f"--publisher={publisher.id}",
            "--title=Live DVD",
            "--media=dvd",
            "--packaging=usb-ecomailer",
            "--price=6.25",
        )
    assert str(refused.value) == DVD_IN_ECOMAILER

    sign_in(client, publisher)
    response = client.post(
        "/projects/new",
        {"title": "Live DVD", "media": "dvd", "packaging": "usb-ecomailer", "ecommerce_ids": ""},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert f'<p class="error" id="id_packaging_error">{DVD_IN_ECOMAILER}</p>' in page

    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("op", "", "operator-pass"))
    reply = admin.post(
        "/admin/catalog/project/add/", form_data(publisher.id, packaging="usb-ecomailer")
    )
    assert reply.status_code == 200
    assert DVD_IN_ECOMAILER in reply.content.decode()
    assert snapshot() == before


def test_the_migration_reports_projects_that_do_not_fit_and_changes_nothing(
    publisher: Any, greatest_hits: Project, capsys: Any
) -> None:
    Project.objects.filter(id=66750).update(media="dvd", packaging="usb-ecomailer")
    migration = importlib.import_module(
        "pressrun.catalog.migrations.0004_report_packaging_that_does_not_fit"
    )
    assert migration.misfits(apps) == [(66750, publisher.id, "dvd", "usb-ecomailer")]
    before = snapshot()
    migration.report(apps, None)
    assert "1 project(s) have packaging that does not fit their media" in capsys.readouterr().out
    assert snapshot() == before
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("op", "", "operator-pass"))
    listed = admin.get("/admin/catalog/project/?packaging_fits=no").content.decode()
    assert "/admin/catalog/project/66750/change/" in listed
    assert (
        "/admin/catalog/project/66750/change/"
        not in admin.get("/admin/catalog/project/?packaging_fits=yes").content.decode()
    )
