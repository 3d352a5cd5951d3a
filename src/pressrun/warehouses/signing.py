"""How the push protocol's messages are signed, both ways (docs/warehouses.md, "A WMS with an
API, step by step"):

    X-Pressrun-Timestamp: <unix seconds>
    X-Pressrun-Signature: sha256=<hex HMAC-SHA256>

The HMAC's key is the connection's secret (the whole string, as UTF-8); its message is the
timestamp in decimal, a full stop and the body's exact bytes: `f"{t}.".encode() + body`.
pressrun signs every order it pushes (each attempt anew); the warehouse signs every shipment
confirmation and stock report it posts. The receiver recomputes the HMAC, compares in
constant time and refuses a timestamp more than five minutes from its clock, so a captured
request cannot be replayed later (within the five minutes a replay is harmless: every message
is idempotent).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pressrun.core.errors import DomainError

TIMESTAMP_HEADER = "X-Pressrun-Timestamp"
SIGNATURE_HEADER = "X-Pressrun-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
ATTEMPT_HEADER = "X-Pressrun-Attempt"
SIGNATURE_SCHEME = "sha256="
SECRET_PREFIX = "wmssec_"  # noqa: S105 - the prefix of generated secrets, not one
TOLERANCE_SECONDS = 300
# Longer timestamps are not read (a Unix time in seconds has 10 digits until 2286).
_MAX_TIMESTAMP_DIGITS = 12


class SignatureInvalid(DomainError):
    """The request is not signed by the connection's secret, or not recently; the message
    says which, without telling anything of the secret."""


def secret_generate() -> str:
    """A new signing secret: `wmssec_` and 43 URL-safe characters (256 random bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of
    `f"{timestamp}.".encode() + body` under `secret`."""
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return SIGNATURE_SCHEME + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_verify(
    *,
    secret: str,
    timestamp: str,
    signed: str,
    body: bytes,
    now: float,
    tolerance_seconds: int = TOLERANCE_SECONDS,
) -> None:
    """Check the headers' `timestamp` and `signed` (the signature) of `body` against
    `secret` at `now` (Unix seconds). Raises SignatureInvalid; compares in constant time."""
    timestamp = timestamp.strip()
    signed = signed.strip()
    if not timestamp or not signed:
        raise SignatureInvalid(
            f"Sign the request: the {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required."
        )
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise SignatureInvalid(f"{TIMESTAMP_HEADER} must be the time in Unix seconds.")
    if abs(now - int(timestamp)) > tolerance_seconds:
        raise SignatureInvalid(
            f"{TIMESTAMP_HEADER} is more than {tolerance_seconds} seconds from pressrun's "
            "clock: sign each request when sending it (and keep the clock right)."
        )
    expected = signature(secret=secret, timestamp=int(timestamp), body=body)
    if not secret or not hmac.compare_digest(
        expected.encode("ascii"), signed.encode("utf-8", "surrogatepass")
    ):
        raise SignatureInvalid(
            f"{SIGNATURE_HEADER} does not match: it must be sha256= and the hex HMAC-SHA256 "
            "of the timestamp, a full stop and the body, keyed with the connection's secret."
        )


__all__ = [
    "ATTEMPT_HEADER",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "SignatureInvalid",
    "secret_generate",
    "signature",
    "signature_verify",
]
