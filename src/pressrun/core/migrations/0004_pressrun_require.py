"""PostgreSQL: `pressrun_require(ok, reason)`, which fails the statement it is in (SQLSTATE
`PR001`, the message `reason`) unless `ok` holds. Intake's one statement runs on its own,
without a transaction around it, and uses it to undo itself when the debit decided against
the rows it wrote (`core.prepared.JoinedInsert`, `last_count`). Nothing on SQLite, where
the statement is not used."""

from typing import Any

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION pressrun_require(ok boolean, reason text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'PR001', MESSAGE = reason;
    END IF;
    RETURN true;
END
$$
"""

DROP = "DROP FUNCTION IF EXISTS pressrun_require(boolean, text)"


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_rate_window"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
