"""Which mail method a cart's shipping description asks for.

A publisher's own rules (ShippingRule: the description *is* or *starts with* a text, compared
case-insensitively with spaces collapsed) are tried first, in their order; then the specs'
keyword rule (the description contains "express" — USPS's "Priority Mail Express" included —
else "priority"). None means the cart's default: the publisher's default mail method for
Shopify and SamCart, standard + tracking for 1ShoppingCart (its spec: "By default, we ship
standard first class + tracking").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pressrun.accounts.models import Publisher
from pressrun.carts.models import ShippingMatch, ShippingRule
from pressrun.carts.payload import mail_method_from_description


def normalize_description(description: str) -> str:
    """The form rules compare: spaces collapsed, trimmed, lower case."""
    return " ".join(description.split()).lower()


def rule_matches(*, match: str, text: str, description: str) -> bool:
    """Whether one rule (`match`, `text`) reads `description` (both compared normalized)."""
    wanted = normalize_description(description)
    expected = normalize_description(text)
    if not wanted or not expected:
        return False
    if match == ShippingMatch.IS:
        return wanted == expected
    if match == ShippingMatch.STARTS_WITH:
        return wanted.startswith(expected)
    return False


def mail_method_for(*, publisher_id: int, description: str) -> str | None:
    """The mail method for `description` under this publisher's rules, else the default rule."""
    return mail_method_for_descriptions(publisher_id=publisher_id, descriptions=[description])


def mail_method_for_descriptions(*, publisher_id: int, descriptions: Sequence[str]) -> str | None:
    """The mail method for a cart that names its shipping in several fields (Shopify: each
    shipping line's title and code; SamCart: method, description, name).

    The publisher's rules are tried in their order, each against every description, so the
    first rule that reads any of them wins; the default keyword rule then reads all of them
    together. One query; none when every description is blank.
    """
    texts = [text for text in descriptions if normalize_description(text)]
    if not texts:
        return None
    rule = _first_matching_rule(publisher_id=publisher_id, descriptions=texts)
    if rule is not None:
        return str(rule.mail_method)
    return mail_method_from_description(" ".join(texts))


def _first_matching_rule(*, publisher_id: int, descriptions: Sequence[str]) -> ShippingRule | None:
    """The publisher's first rule (in their order) that reads any of `descriptions`."""
    rules = ShippingRule.objects.filter(publisher_id=publisher_id).order_by("position", "id")
    for rule in rules:
        if any(rule_matches(match=rule.match, text=rule.text, description=d) for d in descriptions):
            return rule
    return None


@dataclass(frozen=True)
class ShippingReading:
    """How a description is read: the mail method, and why (`rule`, or the keyword rule, or
    the publisher's default when neither applies)."""

    mail_method: str
    rule: ShippingRule | None
    by_keyword: bool


def shipping_reading(*, publisher: Publisher, description: str) -> ShippingReading:
    """What `mail_method_for` gives `description`, with the reason (the dashboard's "try a
    description")."""
    rule = _first_matching_rule(publisher_id=publisher.id, descriptions=[description])
    if rule is not None:
        return ShippingReading(mail_method=str(rule.mail_method), rule=rule, by_keyword=False)
    keyword = mail_method_from_description(description)
    if keyword is not None:
        return ShippingReading(mail_method=str(keyword), rule=None, by_keyword=True)
    return ShippingReading(
        mail_method=str(publisher.default_mail_method), rule=None, by_keyword=False
    )
