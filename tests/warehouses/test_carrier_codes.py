"""Carrier-code tables and Shipping Description Transformer rules: the CSV's per-row errors
and all-or-nothing import, `pressrun importcarriercodes`, which rule decides a description
(examples and properties), and the error of a description no rule transforms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import given
from hypothesis import strategies as st

from pressrun.warehouses.carrier_codes import (
    CarrierCodesChanged,
    CarrierCodesInvalid,
    Code,
    DescriptionRuleInvalid,
    Rule,
    carrier_codes_confirm,
    carrier_codes_for,
    carrier_codes_import,
    carrier_codes_parse,
    carrier_codes_upload,
    description_carrier_code,
    description_rule_create,
    description_rule_delete,
    transform_description,
)
from pressrun.warehouses.models import CarrierCode, DescriptionRule, WarehouseConnection
from pressrun.warehouses.services import warehouse_create

HEAD = b"Carrier,Code,Description\n"
TABLE = HEAD + (
    b"USPS,USPS_PRIORITY,USPS Priority Mail\n"
    b"USPS,USPS_FIRST,USPS First Class\n"
    b'UPS,UPS_GROUND,"UPS Ground, residential"\n'
)


@pytest.fixture
def warehouse(publisher: Any) -> WarehouseConnection:
    return warehouse_create(name="Their 3PL", publisher_id=publisher.id).connection


# --- parsing -----------------------------------------------------------------------------


def test_a_good_file_is_read_in_order() -> None:
    parsed = carrier_codes_parse(b"\xef\xbb\xbf" + TABLE.replace(b"\n", b"\r\n") + b"\n \n")
    assert parsed.ok
    assert parsed.rows == 3
    assert parsed.codes == {
        "USPS_PRIORITY": Code("USPS", "USPS Priority Mail"),
        "USPS_FIRST": Code("USPS", "USPS First Class"),
        "UPS_GROUND": Code("UPS", "UPS Ground, residential"),
    }


def test_every_bad_row_is_reported_with_its_line() -> None:
    parsed = carrier_codes_parse(
        HEAD
        + b"USPS,USPS_PRIORITY,Priority\n"
        + b",NOCARRIER,x\n"
        + b"UPS,,\n"
        + b"UPS,UPS_GROUND\n"
        + b"USPS,USPS_PRIORITY,again\n"
        + b"UPS,=CMD,\n"
        + b"UPS,"
        + b"C" * 101
        + b",\n"
        + b'UPS,"TWO\nLINES",\n'
        + b"DHL,DHL_X,ok\n"
    )
    assert not parsed.ok
    assert parsed.codes == {}
    assert [str(error) for error in parsed.errors] == [
        "Line 3: Carrier is blank.",
        "Line 4: Code is blank.",
        "Line 5: expected 3 columns (Carrier, Code, Description), found 2.",
        "Line 6: Code 'USPS_PRIORITY' is already on line 2.",
        "Line 7: Code '=CMD' starts with '=', which a spreadsheet would run as a formula.",
        "Line 8: Code is longer than 100 characters.",
        "Line 9: Code contains a line break or a control character.",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty: its first line must be the header Carrier,Code,Description."),
        (
            b"carrier,code,description\nUSPS,X,\n",
            "Line 1: the header must be Carrier,Code,Description (found: "
            "carrier,code,description).",
        ),
        (
            b"Carrier,Code\nUSPS,X\n",
            "Line 1: the header must be Carrier,Code,Description (found: Carrier,Code).",
        ),
        (
            HEAD + b"USPS,\xff,\n",
            "Line 2: the file is not UTF-8 text (byte 31 of the file): save it as CSV UTF-8.",
        ),
        (
            HEAD + b"USPS,\x00,\n",
            "Line 2: the file contains a NUL character: it is not a CSV file.",
        ),
    ],
)
def test_a_file_that_cannot_be_read(data: bytes, message: str) -> None:
    parsed = carrier_codes_parse(data)
    assert [str(error) for error in parsed.errors] == [message]


@given(st.binary(max_size=400))
def test_any_bytes_parse_without_raising(data: bytes) -> None:
    parsed = carrier_codes_parse(data)
    assert parsed.ok or parsed.errors
    assert parsed.ok or not parsed.codes


@given(
    st.lists(
        st.tuples(
            st.text(st.characters(codec="utf-8"), max_size=12),
            st.text(st.characters(codec="utf-8"), max_size=12),
            st.text(st.characters(codec="utf-8"), max_size=12),
        ),
        max_size=6,
    )
)
def test_rows_written_by_a_csv_writer_parse_or_name_their_line(
    rows: list[tuple[str, str, str]],
) -> None:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Carrier", "Code", "Description"])
    writer.writerows(rows)
    parsed = carrier_codes_parse(out.getvalue().encode())
    for error in parsed.errors:
        assert error.line >= 2
    if parsed.ok:
        assert set(parsed.codes) == {code.strip() for _, code, _ in rows if code.strip()} or (
            not rows
        )


# --- import ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_adds_and_updates_and_keeps_the_others(warehouse: WarehouseConnection) -> None:
    first = carrier_codes_import(connection_id=warehouse.id, data=TABLE)
    assert [c.code for c in first.added] == ["USPS_PRIORITY", "USPS_FIRST", "UPS_GROUND"]
    second = carrier_codes_import(
        connection_id=warehouse.id,
        data=HEAD + b"USPS,USPS_PRIORITY,Priority Mail 1-3 days\nFedEx,FEDEX_2DAY,\n",
    )
    assert ([c.code for c in second.added], [c.code for c in second.changed]) == (
        ["FEDEX_2DAY"],
        ["USPS_PRIORITY"],
    )
    assert second.unchanged == 0
    assert carrier_codes_for(warehouse) == {
        "FEDEX_2DAY": Code("FedEx", ""),
        "UPS_GROUND": Code("UPS", "UPS Ground, residential"),
        "USPS_FIRST": Code("USPS", "USPS First Class"),
        "USPS_PRIORITY": Code("USPS", "Priority Mail 1-3 days"),
    }


@pytest.mark.django_db
def test_a_file_with_one_bad_row_imports_nothing(warehouse: WarehouseConnection) -> None:
    with pytest.raises(CarrierCodesInvalid) as raised:
        carrier_codes_import(connection_id=warehouse.id, data=TABLE + b",BAD,\n")
    assert raised.value.message == "The file has 1 error(s): nothing was imported."
    assert [str(e) for e in raised.value.errors] == ["Line 5: Carrier is blank."]
    assert not CarrierCode.objects.exists()


@pytest.mark.django_db
def test_an_upload_is_confirmed_once_and_refused_when_the_table_changed(
    warehouse: WarehouseConnection,
) -> None:
    upload = carrier_codes_upload(connection_id=warehouse.id, data=TABLE)
    assert upload.upload is not None
    assert upload.preview is not None
    assert not CarrierCode.objects.exists()
    stale = carrier_codes_upload(connection_id=warehouse.id, data=HEAD + b"UPS,UPS_GROUND,\n")
    assert stale.upload is not None
    carrier_codes_confirm(connection_id=warehouse.id, upload_id=upload.upload.id)
    assert CarrierCode.objects.count() == 3
    with pytest.raises(CarrierCodesChanged, match="imported already"):
        carrier_codes_confirm(connection_id=warehouse.id, upload_id=upload.upload.id)
    with pytest.raises(CarrierCodesChanged, match="changed since this preview"):
        carrier_codes_confirm(connection_id=warehouse.id, upload_id=stale.upload.id)
    assert carrier_codes_for(warehouse)["UPS_GROUND"] == Code("UPS", "UPS Ground, residential")


# --- which rule decides ------------------------------------------------------------------

RULES = [
    Rule("starts_with", "Free", "USPS_FIRST"),
    Rule("starts_with", "Free Shipping (", "USPS_PRIORITY"),
    Rule("is", "Free Shipping", "UPS_GROUND"),
    Rule("is", "Express", "FEDEX_2DAY"),
]


@pytest.mark.parametrize(
    ("description", "code"),
    [
        ("Free Shipping", "UPS_GROUND"),  # `is` beats the `starts with` rules that also fit
        ("Free Shipping (3-5 days)", "USPS_PRIORITY"),  # the longest beginning wins
        ("Free shipping", "USPS_FIRST"),  # case counts
        ("Freebie", "USPS_FIRST"),
        ("Express", "FEDEX_2DAY"),
        ("Express ", None),  # a space counts
        ("express", None),
        ("free", None),
        ("", None),
    ],
)
def test_which_rule_decides(description: str, code: str | None) -> None:
    found = transform_description(description, RULES)
    assert (found.code if found else None) == code


texts = st.text(st.sampled_from("aAb -("), max_size=6)
rules_strategy = st.lists(
    st.builds(Rule, st.sampled_from(["is", "starts_with"]), texts, st.sampled_from("XYZ")),
    max_size=8,
    unique_by=lambda rule: (rule.match, rule.text),
)


@given(texts, rules_strategy, st.randoms())
def test_the_decision_follows_the_documented_precedence(
    description: str, rules: list[Rule], random: Any
) -> None:
    found = transform_description(description, rules)
    shuffled = list(rules)
    random.shuffle(shuffled)
    assert transform_description(description, shuffled) == found  # order does not matter
    exact = [r for r in rules if r.match == "is" and r.text and r.text == description]
    prefixes = [
        r for r in rules if r.match == "starts_with" and r.text and description.startswith(r.text)
    ]
    if exact:
        assert found is not None
        assert found.rule == exact[0]
    elif prefixes:
        assert found is not None
        assert found.rule.match == "starts_with"
        assert len(found.rule.text) == max(len(r.text) for r in prefixes)
        assert description.startswith(found.rule.text)
    else:
        assert found is None


@given(texts, rules_strategy)
def test_adding_an_is_rule_for_a_description_makes_it_decide(
    description: str, rules: list[Rule]
) -> None:
    rules = [r for r in rules if not (r.match == "is" and r.text == description)]
    if description:
        found = transform_description(description, [*rules, Rule("is", description, "NEW")])
        assert found is not None
        assert found.code == "NEW"


# --- rules in the database ---------------------------------------------------------------


@pytest.mark.django_db
def test_no_rule_is_an_error_naming_the_description_until_a_rule_exists(
    warehouse: WarehouseConnection,
) -> None:
    carrier_codes_import(connection_id=warehouse.id, data=TABLE)
    missing = description_carrier_code(connection_id=warehouse.id, description="Free Shipping")
    assert (missing.ok, missing.code) == (False, None)
    assert missing.error == (
        "The shipping description “Free Shipping” matches no Shipping Description Transformer "
        "rule of this warehouse: add a rule that turns it into one of the warehouse's carrier "
        "codes."
    )
    empty = description_carrier_code(connection_id=warehouse.id, description="")
    assert empty.error.startswith("The order has no shipping description")
    description_rule_create(
        connection_id=warehouse.id, match="starts_with", text="Free", carrier_code="USPS_FIRST"
    )
    rule = description_rule_create(
        connection_id=warehouse.id, match="is", text="Free Shipping", carrier_code="UPS_GROUND"
    )
    found = description_carrier_code(connection_id=warehouse.id, description="Free Shipping")
    assert (found.ok, found.code, found.error) == (True, "UPS_GROUND", "")
    assert found.rule is not None
    assert found.rule.id == rule.id
    assert (
        description_carrier_code(connection_id=warehouse.id, description="Free 2-day").code
        == "USPS_FIRST"
    )
    assert description_rule_delete(connection_id=warehouse.id, rule_id=rule.id)
    assert (
        description_carrier_code(connection_id=warehouse.id, description="Free Shipping").code
        == "USPS_FIRST"
    )


@pytest.mark.django_db
def test_rules_of_one_warehouse_do_not_apply_to_another(
    warehouse: WarehouseConnection, publisher: Any
) -> None:
    other = warehouse_create(name="Other", publisher_id=publisher.id).connection
    carrier_codes_import(connection_id=warehouse.id, data=TABLE)
    carrier_codes_import(connection_id=other.id, data=TABLE)
    description_rule_create(
        connection_id=warehouse.id, match="is", text="Express", carrier_code="USPS_PRIORITY"
    )
    assert description_carrier_code(connection_id=other.id, description="Express").code is None
    # A code of another connection's table cannot be picked, nor its rule deleted.
    CarrierCode.objects.filter(connection=warehouse, code="UPS_GROUND").delete()
    with pytest.raises(DescriptionRuleInvalid, match="carrier code of this warehouse"):
        description_rule_create(
            connection_id=warehouse.id, match="is", text="Ground", carrier_code="UPS_GROUND"
        )
    rule = DescriptionRule.objects.get()
    assert not description_rule_delete(connection_id=other.id, rule_id=rule.id)
    assert DescriptionRule.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("match", "text", "code", "message"),
    [
        ("contains", "Free", "USPS_FIRST", "Choose “is” or “starts with”."),
        ("is", "", "USPS_FIRST", "The text is blank."),
        ("is", "x" * 201, "USPS_FIRST", "The text is longer than 200 characters."),
        ("is", "a\nb", "USPS_FIRST", "The text contains a line break or a control character."),
        ("is", "Free", "NOPE", "Choose a carrier code of this warehouse's table."),
        (
            "is",
            "Express",
            "USPS_FIRST",
            "There is already a rule: description is “Express”. Delete it first to change "
            "its code.",
        ),
    ],
)
def test_a_bad_rule_is_refused_and_nothing_written(
    warehouse: WarehouseConnection, match: str, text: str, code: str, message: str
) -> None:
    carrier_codes_import(connection_id=warehouse.id, data=TABLE)
    description_rule_create(
        connection_id=warehouse.id, match="is", text="Express", carrier_code="USPS_PRIORITY"
    )
    with pytest.raises(DescriptionRuleInvalid) as raised:
        description_rule_create(
            connection_id=warehouse.id, match=match, text=text, carrier_code=code
        )
    assert raised.value.message == message
    assert DescriptionRule.objects.count() == 1


# --- the command -------------------------------------------------------------------------


@pytest.mark.django_db
def test_importcarriercodes_prints_what_changed(
    warehouse: WarehouseConnection, tmp_path: Path, capsys: Any
) -> None:
    path = tmp_path / "codes.csv"
    path.write_bytes(TABLE)
    call_command("importcarriercodes", "--warehouse", str(warehouse.id), "--dry-run", str(path))
    assert capsys.readouterr().out == (
        "add     USPS_PRIORITY (USPS) USPS Priority Mail\n"
        "add     USPS_FIRST (USPS) USPS First Class\n"
        "add     UPS_GROUND (UPS) UPS Ground, residential\n"
        "3 added, 0 changed, 0 unchanged\n"
        "Dry run: nothing was changed.\n"
    )
    assert not CarrierCode.objects.exists()
    call_command("importcarriercodes", "--warehouse", str(warehouse.id), str(path))
    assert capsys.readouterr().out.endswith("3 added, 0 changed, 0 unchanged\n")
    path.write_bytes(HEAD + b"USPS,USPS_FIRST,First Class\nUSPS,USPS_PRIORITY,USPS Priority Mail\n")
    call_command("importcarriercodes", "--warehouse", str(warehouse.id), str(path))
    assert capsys.readouterr().out == (
        "change  USPS_FIRST: (USPS) USPS First Class -> (USPS) First Class\n"
        "0 added, 1 changed, 1 unchanged\n"
    )


@pytest.mark.django_db
def test_importcarriercodes_with_errors_imports_nothing(
    warehouse: WarehouseConnection, tmp_path: Path, capsys: Any
) -> None:
    path = tmp_path / "codes.csv"
    path.write_bytes(TABLE + b"UPS,,\nUPS,UPS_GROUND,again\n")
    for dry_run in ([], ["--dry-run"]):
        with pytest.raises(CommandError, match=r"^2 error\(s\): nothing was imported\.$"):
            call_command(
                "importcarriercodes", "--warehouse", str(warehouse.id), *dry_run, str(path)
            )
        assert capsys.readouterr().err == (
            "Line 5: Code is blank.\nLine 6: Code 'UPS_GROUND' is already on line 4.\n"
        )
    assert not CarrierCode.objects.exists()


@pytest.mark.django_db
def test_importcarriercodes_refuses_an_unknown_or_own_station(
    publisher: Any, tmp_path: Path
) -> None:
    path = tmp_path / "codes.csv"
    path.write_bytes(TABLE)
    with pytest.raises(CommandError, match=r"^There is no warehouse connection 999999\.$"):
        call_command("importcarriercodes", "--warehouse", "999999", str(path))
    station = warehouse_create(name="Main station").connection
    with pytest.raises(CommandError, match="pressrun's own shipping station"):
        call_command("importcarriercodes", "--warehouse", str(station.id), str(path))
    theirs = warehouse_create(name="Their 3PL", publisher_id=publisher.id).connection
    with pytest.raises(CommandError, match=r"^Cannot read .*/nope\.csv: No such file"):
        call_command(
            "importcarriercodes", "--warehouse", str(theirs.id), str(tmp_path / "nope.csv")
        )
    assert not CarrierCode.objects.exists()
