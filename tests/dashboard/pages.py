"""Reading dashboard pages in the Django test-client tests."""

from __future__ import annotations

import html
import re
from typing import Any

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def text(response: Any) -> str:
    """The page's text with tags removed and whitespace collapsed (none before punctuation)."""
    words = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())
    return re.sub(r" ([,.:;])", r"\1", words)
