"""Report the projects saved before media and packaging were checked whose packaging does
not fit their media (a DVD in a USB ecomailer). Nothing is changed: the packaging is what
the publisher asked for, and only the publisher can say which one is wrong. Operators find
them in the admin (Projects → "packaging fits media: No") and settle them with the
publisher; the dashboard refuses saving a new pair that does not fit.
"""

import logging
from typing import Any

from django.db import migrations

logger = logging.getLogger("pressrun.catalog.migrations")

# The table as it was when this migration was written (catalog.models.PACKAGING_FOR_MEDIA).
PACKAGING_FOR_MEDIA = {
    "cd": ("sleeve", "jewel-case"),
    "dvd": ("sleeve", "dvd-case"),
    "usb": ("usb-ecomailer",),
}


def misfits(apps: Any) -> list[tuple[int, int, str, str]]:
    """(project ID, publisher ID, media, packaging) of every project that does not fit."""
    project_model = apps.get_model("catalog", "Project")
    rows = project_model.objects.values_list("id", "publisher_id", "media", "packaging")
    return [
        (project_id, publisher_id, media, packaging)
        for project_id, publisher_id, media, packaging in rows.order_by("id").iterator()
        if packaging not in PACKAGING_FOR_MEDIA.get(media, ())
    ]


def report(apps: Any, schema_editor: Any) -> None:
    found = misfits(apps)
    for project_id, publisher_id, media, packaging in found:
        logger.warning(
            "project %s of publisher %s: media %s does not fit packaging %s (left unchanged; "
            "see the admin's filter 'packaging fits media')",
            project_id,
            publisher_id,
            media,
            packaging,
        )
    if found:
        print(  # noqa: T201 - shown to the operator running migrate
            f"\n  {len(found)} project(s) have packaging that does not fit their media; "
            "they are left unchanged. Admin → Projects → packaging fits media: No."
        )


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_parse_existing_ecommerce_ids")]

    operations = [migrations.RunPython(report, migrations.RunPython.noop, elidable=True)]
