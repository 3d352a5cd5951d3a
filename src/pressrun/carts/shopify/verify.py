"""Shopify webhook signatures: base64 HMAC-SHA256 of the raw body, checked in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac


def shopify_signature(*, key: str, body: bytes) -> str:
    """The X-Shopify-Hmac-Sha256 value Shopify sends for `body` signed with `key`."""
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_valid(*, key: str, body: bytes, signature: str) -> bool:
    """True when `signature` is the header Shopify would send. Call before parsing the body."""
    expected = shopify_signature(key=key, body=body)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8"))
