"""How a webhook is signed (docs/webhooks.md, "Verifying the signature").

    Pressrun-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>

The HMAC's key is the endpoint's secret (the whole string, `whsec_` included, as UTF-8);
its message is the timestamp in decimal, a full stop, and the request body's exact bytes:
`f"{t}.".encode() + body`. The timestamp is the time of the attempt (each retry is signed
anew), so a receiver can refuse stale requests (five minutes is a sensible tolerance) as
well as forged ones.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Pressrun-Signature"
EVENT_ID_HEADER = "Pressrun-Event-Id"
EVENT_TYPE_HEADER = "Pressrun-Event-Type"
ATTEMPT_HEADER = "Pressrun-Delivery-Attempt"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of generated secrets, not one
DEFAULT_TOLERANCE_SECONDS = 300


def secret_generate() -> str:
    """A new signing secret: `whsec_` and 43 URL-safe characters (256 random bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The v1 signature: hex HMAC-SHA256 of `f"{timestamp}.".encode() + body`."""
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    """The value of the Pressrun-Signature header."""
    return f"t={int(timestamp)},v1={signature(secret=secret, timestamp=timestamp, body=body)}"


def signature_verify(
    *,
    secret: str,
    header: str,
    body: bytes,
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Whether `header` is a valid signature of `body` under `secret`, made within
    `tolerance_seconds` of `now`. Compares in constant time. (The receivers' side; pressrun
    uses it in its tests, and docs/webhooks.md shows the same steps in plain Python.)"""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or abs(now - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret=secret, timestamp=timestamp, body=body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
