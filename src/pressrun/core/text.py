"""What may appear in one line of text that pressrun stores and prints back.

Order fields other than the customer's free text (SpecialText) are one line each: they are
echoed in replies that scripts read line by line (the gateway's `[SUCCESS]` block), in
emails and on packing slips. A line break there would let a sender forge a line of the
reply ("Status: SHIPPED"); a control character is invisible junk at best.
"""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls, except tab, line feed, carriage return and NEL (tab is
# harmless, and the line breaks are told apart below).
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f]")
# What ends a line for the programs that read our replies (Python's str.splitlines and most
# languages' line readers): CR, LF, NEL, and Unicode's line and paragraph separators.
LINE_BREAKS = re.compile("[\n\r\x85\u2028\u2029]")


def is_one_line(text: str) -> bool:
    """Whether `text` has neither a line break nor a control character (tabs are allowed)."""
    return not (LINE_BREAKS.search(text) or CONTROL_CHARACTERS.search(text))


def one_line(text: str) -> str:
    """`text` made one line: control characters and line breaks become spaces, runs of white
    space one space, and the ends are stripped. For values that cannot be refused (a cart
    cannot be asked to send its order again)."""
    return " ".join(CONTROL_CHARACTERS.sub(" ", text).split())
