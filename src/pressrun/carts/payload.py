"""Small helpers every cart parser shares: decoding JSON safely, reading loose JSON values,
and the shipping rule."""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from pressrun.accounts.models import MailMethod
from pressrun.core.text import one_line

# Real cart payloads nest a handful of levels; Python's JSON decoder recurses once per level
# and raises RecursionError near 1,000, so anything deeper is refused before decoding.
MAX_NESTING_DEPTH = 64
NESTED_TOO_DEEPLY = f"The body is nested too deeply (more than {MAX_NESTING_DEPTH} levels)."
# A string (its closing quote optional, so that an unterminated one is consumed once rather
# than rescanned from every later quote) or a bracket: one linear pass over the text.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]+|\\.)*"?|[\[\]{}]', re.DOTALL)
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonInvalid(ValueError):
    """The text is not JSON a cart could have sent; the message says why."""


def json_nesting_depth(text: str) -> int:
    """How deeply the arrays and objects of a JSON text nest, without recursing (brackets
    inside strings do not count)."""
    steps = (_DEPTH_STEP.get(token[0], 0) for token in _JSON_TOKEN.findall(text))
    return max(accumulate(steps, initial=0))


def load_json(text: str) -> Any:
    """Decode a cart's JSON with every integer kept as its decimal text (ids exceed 2^53).

    Raises JsonInvalid for text that is not JSON or nests deeper than MAX_NESTING_DEPTH.
    """
    if json_nesting_depth(text) > MAX_NESTING_DEPTH:
        raise JsonInvalid(NESTED_TOO_DEEPLY)
    try:
        return json.loads(text, parse_int=str)
    except ValueError as exc:
        raise JsonInvalid(f"The body is not valid JSON: {exc}") from exc


def text(value: Any) -> str:
    """A scalar as one line of single-spaced text; '' for null, objects and lists (carts send
    all three where a string is expected). Line breaks and control characters become spaces:
    a cart cannot be asked to send its order again, so its one-line values are cleaned
    rather than refused (`core.text.one_line`)."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "true" if value else ""
    return one_line(str(value))


def mail_method_from_description(description: str) -> str | None:
    """The specs' keyword rule: a shipping description containing "express" (any case) asks
    for express, else one containing "priority" for priority; anything else asks for nothing
    (None: the cart's default applies).

    "express" is read first because USPS now names its express service "Priority Mail
    Express" ("priority-express", as the 1ShoppingCart spec notes): such a description asks
    for express, not priority.
    """
    lowered = description.lower()
    if "express" in lowered:
        return MailMethod.EXPRESS
    if "priority" in lowered:
        return MailMethod.PRIORITY
    return None
