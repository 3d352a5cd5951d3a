"""docs/gateway.md lists exactly the error codes the code uses."""

from __future__ import annotations

import re
from pathlib import Path

from pressrun.gateway.docs import error_tables, status_map
from pressrun.gateway.errors import ALL_ERRORS, BY_REFUSAL
from pressrun.gateway.status import STATUS_REPLIES
from pressrun.orders.models import OrderStatus
from pressrun.orders.services import Refusal

DOC = Path(__file__).resolve().parent.parent / "docs" / "gateway.md"


def test_doc_tables_are_current() -> None:
    assert error_tables() in DOC.read_text(encoding="utf-8")
    assert status_map() in DOC.read_text(encoding="utf-8")


def test_every_status_has_a_status_reply() -> None:
    assert set(STATUS_REPLIES) == set(OrderStatus.values)


def test_codes_are_unique_and_six_digits() -> None:
    codes = [error.code for error in ALL_ERRORS]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"\d{6}", code) for code in codes)


def test_spec_codes_keep_their_numbers() -> None:
    spec = {e.code for e in ALL_ERRORS if e.from_spec}
    assert spec == {
        "000002",
        "000010",
        "000013",
        "000035",
        "000101",
        "000503",
        "000505",
        "000601",
        "003101",
    }


def test_every_refusal_has_a_gateway_code() -> None:
    assert set(BY_REFUSAL) == set(Refusal)
