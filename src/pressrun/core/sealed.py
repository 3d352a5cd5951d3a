"""Secrets kept in the database (the 1ShoppingCart API key, the Shopify webhook signing key)
are sealed with Fernet (AES-128-CBC + HMAC-SHA256), so a copied database or backup does not
hand out publishers' cart credentials.

The key comes from PRESSRUN_FIELD_KEY when set (a Fernet key, or any passphrase), else it is
derived from the SECRET_KEY. Changing either makes stored values unreadable: `unseal` then
returns "" and the publisher is asked to enter the value again, which is safer than failing.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@cache
def _fernet() -> Fernet:
    passphrase = os.environ.get("PRESSRUN_FIELD_KEY", "").strip() or settings.SECRET_KEY
    digest = hashlib.sha256(b"pressrun sealed field\0" + passphrase.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(plain: str) -> str:
    """The sealed form of `plain` ("" stays "")."""
    if not plain:
        return ""
    return _fernet().encrypt(plain.encode()).decode("ascii")


def unseal(sealed: str) -> str:
    """The plain value, or "" when nothing is stored or it was sealed under another key."""
    if not sealed:
        return ""
    try:
        return _fernet().decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        return ""


def hint(plain: str) -> str:
    """What may be shown back of a secret: its last four characters (the dashboard and the
    operator console show nothing more of any secret)."""
    if not plain:
        return ""
    return "•" * 8 + plain[-4:] if len(plain) > 8 else "•" * 8


# Shorter values are not searched for in free text: masking every "abc" would garble it, and
# no secret pressrun makes or accepts from a cart is that short in practice.
MIN_MASKED_LENGTH = 6


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret replaced by its hint, longest first (so a
    secret that contains another is masked whole)."""
    for secret in sorted({s for s in secrets if len(s) >= MIN_MASKED_LENGTH}, key=len)[::-1]:
        text = text.replace(secret, hint(secret))
    return text
