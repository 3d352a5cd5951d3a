"""Secrets kept in the database (cart API keys) are sealed with Fernet (AES-128-CBC +
HMAC-SHA256), so a copied database or backup does not hand out publishers' cart credentials.

The key comes from PRESSRUN_FIELD_KEY when set (a Fernet key, or any passphrase), else it is
derived from the SECRET_KEY. Changing either makes stored values unreadable: `unseal` then
returns "" and the publisher is asked to enter the value again, which is safer than failing.
"""

from __future__ import annotations

import base64
import hashlib
import os
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
    """What may be shown back of a secret: its last four characters."""
    if not plain:
        return ""
    return "•" * 8 + plain[-4:] if len(plain) > 8 else "•" * 8
