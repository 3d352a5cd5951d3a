"""The post-back's documentation says what the code does: the GraphQL documents in
docs/carts/shopify.md are the ones sent, the carrier table and the example in
docs/fulfillment.md are the code's."""

from __future__ import annotations

import re
from pathlib import Path

from pressrun.carts.shopify.client import FULFILLMENT_CREATE_MUTATION, ORDER_FULFILLMENT_QUERY
from pressrun.orders.tracking import CARRIERS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_shopify_guide_shows_the_graphql_sent() -> None:
    text = (DOCS / "carts" / "shopify.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```graphql\n(.*?)```", text, re.S)
    assert [block.strip() for block in blocks] == [
        ORDER_FULFILLMENT_QUERY,
        FULFILLMENT_CREATE_MUTATION,
    ]


def test_the_carrier_table_and_example_in_fulfillment_md() -> None:
    text = (DOCS / "fulfillment.md").read_text(encoding="utf-8")
    for carrier in CARRIERS:
        row = f"| {carrier.name} ("
        assert row in text, carrier.name
        page = carrier.url_template.replace("{}", "<number>")
        assert f"| `{page}` |" in text
    section = text[text.index("### Carriers and their tracking pages") :]
    (example,) = re.findall(r"```python\n(.*?)```", section, re.S)[:1]
    namespace: dict[str, object] = {}
    lines = []
    for line in example.splitlines():
        code, _, expected = line.partition("  # ")
        if expected and not expected.startswith("("):
            lines.append(f"assert {code.strip()} == {expected.split(' (')[0]}")
        elif expected:
            lines.append(f"assert ({code.strip()}) == {expected}")
        else:
            lines.append(code)
    exec("\n".join(lines), namespace)  # noqa: S102 - the document's own example
