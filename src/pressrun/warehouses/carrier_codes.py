"""Shipping descriptions → carrier codes: each warehouse connection's carrier-code table and
its Shipping Description Transformer rules (as DropStream's).

The **carrier-code table** lists the shipping methods the warehouse understands. It is
imported as DropStream's CSV, header `Carrier,Code,Description`, one row per code (the
code unique in the file and in the table). A file is parsed in full first
(`carrier_codes_parse`: every row's error with its line number), shown as a preview
(`carrier_codes_preview`: added, changed, unchanged) and applied all at once
(`carrier_codes_import`) or not at all. An import adds the file's new codes and updates the
carrier and description of the codes it names; codes it does not name stay (rules may point
at them).

A **rule** says: a cart's shipping description that `is` (character for character) or
`starts with` a text is sent to the warehouse as one code of the table. Which rule decides
(`transform_description`, pure): a rule `is` equal to the description; else the `starts
with` rule with the longest text that begins the description. A connection has at most one
rule per (match, text), so no two rules can tie. Every description must be transformed
before an order goes to the warehouse: `description_carrier_code` gives the code, or an
error text naming the description when no rule fits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from pressrun.core.errors import DomainError
from pressrun.core.text import is_one_line, one_line
from pressrun.warehouses.csv_files import CsvReport, RowError, cell_error, csv_rows
from pressrun.warehouses.listings import UPLOAD_VALID_FOR
from pressrun.warehouses.models import (
    MAX_CARRIER_LENGTH,
    MAX_CODE_DESCRIPTION_LENGTH,
    MAX_CODE_LENGTH,
    MAX_RULE_TEXT_LENGTH,
    CarrierCode,
    CarrierCodeUpload,
    DescriptionMatch,
    DescriptionRule,
    WarehouseConnection,
)

COLUMNS = ("Carrier", "Code", "Description")
HEADER = ",".join(COLUMNS)
MAX_ROWS = 2_000

# --- resolution (pure) -------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A rule as `transform_description` reads it."""

    match: str  # DescriptionMatch: "is" or "starts_with"
    text: str
    code: str
    id: int | None = None


@dataclass(frozen=True)
class RuleMatch:
    """The rule that decides a description, and the carrier code it gives."""

    rule: Rule

    @property
    def code(self) -> str:
        return self.rule.code


def transform_description(description: str, rules: Iterable[Rule]) -> RuleMatch | None:
    """The rule that decides `description`, or None when none fits: a rule that `is` the
    description (character for character: case and spaces count); else the `starts with`
    rule whose text is the longest beginning of the description. Rules are unique per
    (match, text), so the answer does not depend on their order. An empty rule text never
    matches."""
    best: Rule | None = None
    for rule in rules:
        if not rule.text:
            continue
        if rule.match == DescriptionMatch.IS and description == rule.text:
            return RuleMatch(rule)
        if (
            rule.match == DescriptionMatch.STARTS_WITH
            and description.startswith(rule.text)
            and (best is None or len(rule.text) > len(best.text))
        ):
            best = rule
    return RuleMatch(best) if best else None


# --- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Code:
    """One row of a carrier-code table."""

    carrier: str
    description: str


def carrier_codes_for(connection: WarehouseConnection | int) -> dict[str, Code]:
    """A connection's carrier codes by code, ordered by carrier then code."""
    connection_id = connection if isinstance(connection, int) else connection.id
    rows = (
        CarrierCode.objects.filter(connection_id=connection_id)
        .order_by("carrier", "code")
        .values_list("code", "carrier", "description")
    )
    return {code: Code(carrier, description) for code, carrier, description in rows}


def description_rules_for(connection: WarehouseConnection | int) -> list[Rule]:
    """A connection's rules: `is` rules first, then `starts with`, each by text."""
    connection_id = connection if isinstance(connection, int) else connection.id
    rows = (
        DescriptionRule.objects.filter(connection_id=connection_id)
        .order_by("match", "text")
        .values_list("id", "match", "text", "carrier_code__code")
    )
    return [Rule(match=match, text=text, code=code, id=id_) for id_, match, text, code in rows]


def carrier_codes_state(codes: Mapping[str, Code]) -> str:
    digest = hashlib.sha256()
    for code in sorted(codes):
        digest.update(f"{code}\x00{codes[code].carrier}\x00{codes[code].description}\x01".encode())
    return digest.hexdigest()


# --- every description must be transformed -----------------------------------------------


@dataclass(frozen=True)
class Transformed:
    """What a description becomes at a warehouse: `code` (and the rule that gave it), or
    `error`, a sentence for the order's error that names the description."""

    code: str | None
    rule: Rule | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.code is not None


def _quoted(description: str) -> str:
    shown = one_line(description)
    if len(shown) > 200:
        shown = shown[:200] + "…"
    return f"“{shown}”"


def description_carrier_code(*, connection_id: int, description: str) -> Transformed:
    """The carrier code an order with this shipping description is sent to the connection's
    warehouse with, or the error that stops the order until a rule fits (the order is
    processed again once one exists)."""
    found = transform_description(description, description_rules_for(connection_id))
    if found is not None:
        return Transformed(code=found.code, rule=found.rule)
    if not description:
        error = (
            "The order has no shipping description, and every order needs one that a "
            "Shipping Description Transformer rule turns into the warehouse's carrier code."
        )
    else:
        error = (
            f"The shipping description {_quoted(description)} matches no Shipping "
            "Description Transformer rule of this warehouse: add a rule that turns it into "
            "one of the warehouse's carrier codes."
        )
    return Transformed(code=None, error=error)


# --- rules -------------------------------------------------------------------------------


class DescriptionRuleInvalid(DomainError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def description_rule_create(
    *, connection_id: int, match: str, text: str, carrier_code: str
) -> DescriptionRule:
    """Add a rule to the connection. Raises DescriptionRuleInvalid (nothing written) for an
    unknown match, a blank, too long or multi-line text, a code not in the connection's
    table, or a rule with the same match and text."""
    if match not in DescriptionMatch.values:
        raise DescriptionRuleInvalid("Choose “is” or “starts with”.", "match")
    if not text:
        raise DescriptionRuleInvalid("The text is blank.", "text")
    if len(text) > MAX_RULE_TEXT_LENGTH:
        raise DescriptionRuleInvalid(
            f"The text is longer than {MAX_RULE_TEXT_LENGTH} characters.", "text"
        )
    if not is_one_line(text):
        raise DescriptionRuleInvalid(
            "The text contains a line break or a control character.", "text"
        )
    code = CarrierCode.objects.filter(connection_id=connection_id, code=carrier_code).first()
    if code is None:
        raise DescriptionRuleInvalid(
            "Choose a carrier code of this warehouse's table.", "carrier_code"
        )
    try:
        with transaction.atomic():
            rule = DescriptionRule.objects.create(
                connection_id=connection_id, match=match, text=text, carrier_code=code
            )
    except IntegrityError:
        raise DescriptionRuleInvalid(
            f"There is already a rule: description {DescriptionMatch(match).label} "
            f"“{text}”. Delete it first to change its code.",
            "text",
        ) from None
    # Every order stopped for a description this rule now fits goes on (to open).
    from pressrun.warehouses.orders import warehouse_orders_recheck

    warehouse_orders_recheck(connection_id=connection_id)
    return rule


def description_rule_delete(*, connection_id: int, rule_id: int) -> bool:
    """Remove the connection's rule; False when it has no such rule."""
    deleted, _ = DescriptionRule.objects.filter(id=rule_id, connection_id=connection_id).delete()
    return bool(deleted)


# --- parsing -----------------------------------------------------------------------------


@dataclass
class ParsedCodes(CsvReport):
    """A file's carrier codes by code (in the file's order), or its errors."""

    codes: dict[str, Code] = field(default_factory=dict)


def carrier_codes_parse(data: bytes) -> ParsedCodes:
    """Read a carrier-code CSV (`csv_files`: UTF-8, header exactly `Carrier,Code,Description`).
    Every row is checked; an error names its line (the file's physical line, the header
    being line 1)."""
    parsed = ParsedCodes()
    codes: dict[str, Code] = {}
    first_line: dict[str, int] = {}
    for line, (carrier, code, description) in csv_rows(
        data, parsed, columns=COLUMNS, max_rows=MAX_ROWS
    ):
        problems = [
            problem
            for problem in (
                cell_error("Carrier", carrier, MAX_CARRIER_LENGTH, required=True),
                cell_error("Code", code, MAX_CODE_LENGTH, required=True),
                cell_error("Description", description, MAX_CODE_DESCRIPTION_LENGTH, required=False),
            )
            if problem
        ]
        if problems:
            for problem in problems:
                parsed.error(line, problem)
            continue
        if code in first_line:
            parsed.error(line, f"Code {code!r} is already on line {first_line[code]}.")
            continue
        first_line[code] = line
        codes[code] = Code(carrier, description)
    if parsed.ok:
        parsed.codes = codes
    return parsed


# --- preview and import ------------------------------------------------------------------


@dataclass(frozen=True)
class CodeChange:
    code: str
    before: Code | None  # None: added
    after: Code


@dataclass(frozen=True)
class CodesPreview:
    added: list[CodeChange]
    changed: list[CodeChange]
    unchanged: int
    state: str

    @property
    def changes(self) -> int:
        return len(self.added) + len(self.changed)


def _preview(current: Mapping[str, Code], incoming: Mapping[str, Code]) -> CodesPreview:
    added: list[CodeChange] = []
    changed: list[CodeChange] = []
    unchanged = 0
    for code, after in incoming.items():
        before = current.get(code)
        if before is None:
            added.append(CodeChange(code, None, after))
        elif before != after:
            changed.append(CodeChange(code, before, after))
        else:
            unchanged += 1
    return CodesPreview(added, changed, unchanged, carrier_codes_state(current))


def carrier_codes_preview(*, connection_id: int, codes: Mapping[str, Code]) -> CodesPreview:
    """What importing `codes` (a parsed file) would change in the connection's table."""
    return _preview(carrier_codes_for(connection_id), codes)


class CarrierCodesInvalid(DomainError):
    """The file has errors (`errors`): nothing was imported."""

    def __init__(self, message: str, errors: list[RowError], more_errors: int = 0) -> None:
        super().__init__(message)
        self.errors = errors
        self.more_errors = more_errors


class CarrierCodesChanged(DomainError):
    """The table changed since the preview was made: nothing was imported."""


def invalid(parsed: ParsedCodes) -> CarrierCodesInvalid:
    return CarrierCodesInvalid(
        f"The file has {len(parsed.errors) + parsed.more_errors} error(s): nothing was imported.",
        parsed.errors,
        parsed.more_errors,
    )


def carrier_codes_import(
    *, connection_id: int, data: bytes, expected_state: str | None = None
) -> CodesPreview:
    """Import a carrier-code CSV into the connection, all or nothing, and return what
    changed. Raises CarrierCodesInvalid (any row error) or CarrierCodesChanged
    (`expected_state` given and the table is no longer the one previewed). Concurrent
    imports into one connection are serialised on the connection's row."""
    parsed = carrier_codes_parse(data)
    if not parsed.ok:
        raise invalid(parsed)
    with transaction.atomic():
        WarehouseConnection.objects.select_for_update().get(id=connection_id)
        preview = _preview(carrier_codes_for(connection_id), parsed.codes)
        if expected_state is not None and preview.state != expected_state:
            raise CarrierCodesChanged(
                "The carrier codes changed since this preview was made: look at the new "
                "preview and confirm again."
            )
        for change in preview.changed:
            CarrierCode.objects.filter(connection_id=connection_id, code=change.code).update(
                carrier=change.after.carrier, description=change.after.description
            )
        CarrierCode.objects.bulk_create(
            [
                CarrierCode(
                    connection_id=connection_id,
                    code=change.code,
                    carrier=change.after.carrier,
                    description=change.after.description,
                )
                for change in preview.added
            ],
            batch_size=500,
        )
    return preview


@dataclass(frozen=True)
class CodesUpload:
    parsed: ParsedCodes
    preview: CodesPreview | None = None
    upload: CarrierCodeUpload | None = None


def carrier_codes_upload(*, connection_id: int, data: bytes) -> CodesUpload:
    """Parse a file for the connection; when it has no error, keep it as a
    `CarrierCodeUpload` and return its preview (nothing imported until
    `carrier_codes_confirm`)."""
    parsed = carrier_codes_parse(data)
    if not parsed.ok:
        return CodesUpload(parsed=parsed)
    now = timezone.now()
    preview = carrier_codes_preview(connection_id=connection_id, codes=parsed.codes)
    with transaction.atomic():
        CarrierCodeUpload.objects.filter(
            connection_id=connection_id, created_at__lt=now - UPLOAD_VALID_FOR
        ).delete()
        upload = CarrierCodeUpload.objects.create(
            connection_id=connection_id, data=data, state=preview.state, created_at=now
        )
    return CodesUpload(parsed=parsed, preview=preview, upload=upload)


def carrier_codes_confirm(*, connection_id: int, upload_id: int) -> CodesPreview:
    """Import the upload the publisher confirmed, as previewed. Raises CarrierCodesChanged
    when the upload is unknown for this connection, already imported, older than an hour,
    or the table changed since its preview."""
    with transaction.atomic():
        upload = (
            CarrierCodeUpload.objects.select_for_update()
            .filter(id=upload_id, connection_id=connection_id)
            .first()
        )
        if upload is None or upload.applied_at is not None:
            raise CarrierCodesChanged("This file was imported already, or is not this warehouse's.")
        if upload.created_at < timezone.now() - UPLOAD_VALID_FOR:
            raise CarrierCodesChanged(
                "This preview is more than an hour old: upload the file again."
            )
        preview = carrier_codes_import(
            connection_id=connection_id, data=bytes(upload.data), expected_state=upload.state
        )
        upload.applied_at = timezone.now()
        upload.save(update_fields=["applied_at"])
    return preview


__all__ = [
    "COLUMNS",
    "CarrierCodesChanged",
    "CarrierCodesInvalid",
    "Code",
    "CodeChange",
    "CodesPreview",
    "CodesUpload",
    "DescriptionRuleInvalid",
    "ParsedCodes",
    "Rule",
    "RuleMatch",
    "Transformed",
    "carrier_codes_confirm",
    "carrier_codes_for",
    "carrier_codes_import",
    "carrier_codes_parse",
    "carrier_codes_preview",
    "carrier_codes_upload",
    "description_carrier_code",
    "description_rule_create",
    "description_rule_delete",
    "description_rules_for",
    "transform_description",
]
