"""The only code that calls EasyPost's address verification.

`POST {PRESSRUN_EASYPOST_API_URL}/v2/addresses` with HTTP Basic auth (the API key as the
user name, no password) and the JSON body `{"address": {street1, street2, city, state, zip,
country, name, company}, "verify": true}`. EasyPost answers the Address object (201), whose
`verifications.delivery` says `{"success": true|false, "errors": [{"code", "field",
"message", "suggestion"}], "details": {...}}`; with `verify_strict` an address that cannot be
verified is instead a 422 `{"error": {"code": "ADDRESS.VERIFY.FAILURE", "message",
"errors": [...]}}` — both are understood. Other errors come as `{"error": {"code",
"message", "errors"}}` with their HTTP status (401 a bad key, 422, 429, 5xx).

What counts as what:

- `delivery.success` true: the address is deliverable; the returned street/city/state/ZIP
  are the normalized suggestion;
- `delivery.success` false with at least one error about the address itself, or a 422
  ADDRESS.VERIFY.FAILURE: a problem, described by EasyPost's messages;
- a timeout, a refused or reset connection, a 5xx or 429, a reply that is not the expected
  JSON, or errors that say EasyPost could not check this country (E.COUNTRY.UNSUPPORTED,
  E.ENGINE.UNAVAILABLE, E.QUERY.UNANSWERABLE): EasyPost could not answer. The request is
  tried PRESSRUN_ADDRESS_API_ATTEMPTS times in all (the transient ones), each with a
  timeout of PRESSRUN_ADDRESS_API_TIMEOUT_SECONDS, then the offline verifier decides and the
  result says so (`fell_back`): an address is never called bad because the API was down;
- another 4xx (a wrong key, 402, ...): not retried; the offline verifier decides, and the
  note names EasyPost's error so an operator can fix the setting.

The offline checks run first: an address they refuse (no street, a malformed ZIP code) is a
problem without asking EasyPost.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from pressrun.fulfillment.address.verifiers import (
    MAX_DESCRIPTION_LENGTH,
    AddressToCheck,
    CheckResult,
    OfflineVerifier,
)

logger = logging.getLogger(__name__)

DEFAULT_API_URL: Final = "https://api.easypost.com"
MAX_REPLY_BYTES: Final = 1_000_000
USER_AGENT: Final = "pressrun/1 (+order fulfillment)"
# Codes in `verifications.delivery.errors` that say EasyPost could not check, not that the
# address is wrong.
NOT_CHECKABLE_CODES: Final = frozenset(
    {"E.COUNTRY.UNSUPPORTED", "E.ENGINE.UNAVAILABLE", "E.QUERY.UNANSWERABLE"}
)
# Codes that are only advice on an otherwise verified address.
ADVICE_CODES: Final = frozenset(
    {"E.SECONDARY_INFORMATION.INVALID", "E.SECONDARY_INFORMATION.MISSING"}
)


class EasyPostUnavailable(Exception):
    """EasyPost could not be reached or could not answer (worth trying again)."""


class EasyPostRefused(Exception):
    """EasyPost refused the request itself (a wrong key, ...): trying again would not help."""


@dataclass(frozen=True)
class VerificationReply:
    """What EasyPost said of one address."""

    success: bool
    errors: tuple[tuple[str, str, str], ...]  # (code, field, message)
    address: dict[str, Any]


class EasyPostClient:
    """POST /v2/addresses with timeouts and retries (see the module docstring)."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_API_URL,
        timeout: float = 10.0,
        attempts: int = 3,
        retry_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_key = api_key.strip()
        self.base_url = base_url.strip().rstrip("/")
        if not self.base_url.startswith(("https://", "http://")):
            raise ImproperlyConfigured("PRESSRUN_EASYPOST_API_URL must start with https://.")
        if not self.api_key:
            raise ImproperlyConfigured(
                "PRESSRUN_ADDRESS_VERIFIER=easypost needs PRESSRUN_EASYPOST_API_KEY."
            )
        self.timeout = max(timeout, 0.1)
        self.attempts = max(attempts, 1)
        self.retry_seconds = max(retry_seconds, 0.0)
        self._sleep = sleep

    def verify(self, address: AddressToCheck) -> VerificationReply:
        """Raises EasyPostUnavailable after the last attempt, EasyPostRefused at once."""
        body = json.dumps(
            {
                "address": {
                    "name": address.name,
                    "company": address.company,
                    "street1": address.address,
                    "street2": "",
                    "city": address.city,
                    "state": address.state,
                    "zip": address.postal_code,
                    "country": address.country,
                },
                "verify": True,
            }
        ).encode()
        last: EasyPostUnavailable | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                return self._post(body)
            except EasyPostUnavailable as exc:
                last = exc
                logger.warning("EasyPost attempt %d of %d: %s", attempt, self.attempts, exc)
                if attempt < self.attempts:
                    self._sleep(self.retry_seconds * (2 ** (attempt - 1)))
        assert last is not None
        raise EasyPostUnavailable(f"{last} ({self.attempts} attempts)") from last

    def _post(self, body: bytes) -> VerificationReply:
        credentials = base64.b64encode(f"{self.api_key}:".encode()).decode()
        # The base URL's scheme is checked to be http(s) in __init__.
        request = urllib.request.Request(  # noqa: S310
            f"{self.base_url}/v2/addresses",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Basic {credentials}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:  # noqa: S310
                status = reply.status
                raw = reply.read(MAX_REPLY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                raw = exc.read(MAX_REPLY_BYTES + 1)
            except (OSError, http.client.HTTPException) as read_error:
                raise EasyPostUnavailable(f"the reply broke off ({read_error})") from read_error
            if status >= 500 or status == 429:
                raise EasyPostUnavailable(f"EasyPost answered HTTP {status}") from exc
        except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise EasyPostUnavailable(f"EasyPost could not be reached ({reason})") from exc
        if len(raw) > MAX_REPLY_BYTES:
            raise EasyPostUnavailable("EasyPost's reply was too large")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EasyPostUnavailable(f"EasyPost's reply (HTTP {status}) was not JSON") from exc
        if not isinstance(data, dict):
            raise EasyPostUnavailable(f"EasyPost's reply (HTTP {status}) was not an object")
        if status >= 400:
            return self._error_reply(status, data)
        return _address_reply(data)

    @staticmethod
    def _error_reply(status: int, data: dict[str, Any]) -> VerificationReply:
        error = data.get("error")
        if not isinstance(error, dict):
            raise EasyPostRefused(f"EasyPost answered HTTP {status}")
        code = str(error.get("code") or "")
        message = str(error.get("message") or "")
        if status == 422 and code == "ADDRESS.VERIFY.FAILURE":
            return VerificationReply(False, _errors(error.get("errors")), {})
        raise EasyPostRefused(f"EasyPost answered HTTP {status} {code[:60]}: {message[:200]}")


def _errors(raw: object) -> tuple[tuple[str, str, str], ...]:
    if not isinstance(raw, list):
        return ()
    found = []
    for item in raw:
        if isinstance(item, dict):
            found.append(
                (
                    str(item.get("code") or ""),
                    str(item.get("field") or ""),
                    str(item.get("message") or ""),
                )
            )
    return tuple(found)


def _address_reply(data: dict[str, Any]) -> VerificationReply:
    verifications = data.get("verifications")
    delivery = verifications.get("delivery") if isinstance(verifications, dict) else None
    if not isinstance(delivery, dict) or not isinstance(delivery.get("success"), bool):
        raise EasyPostUnavailable("EasyPost's reply carried no delivery verification")
    return VerificationReply(delivery["success"], _errors(delivery.get("errors")), data)


def _text(value: object) -> str:
    return " ".join(str(value).split()) if isinstance(value, str) else ""


class EasyPostVerifier:
    """The offline checks, then EasyPost's delivery verification (see the module docstring)."""

    name = "easypost"

    def __init__(self, client: EasyPostClient) -> None:
        self.client = client
        self.offline = OfflineVerifier()

    @classmethod
    def from_settings(cls) -> EasyPostVerifier:
        return cls(
            EasyPostClient(
                api_key=str(settings.EASYPOST_API_KEY),
                base_url=str(settings.EASYPOST_API_URL),
                timeout=float(settings.ADDRESS_API_TIMEOUT_SECONDS),
                attempts=int(settings.ADDRESS_API_ATTEMPTS),
                retry_seconds=float(settings.ADDRESS_API_RETRY_SECONDS),
            )
        )

    def verify(self, address: AddressToCheck) -> CheckResult:
        offline = self.offline.verify(address)
        if not offline.ok:
            return offline
        try:
            reply = self.client.verify(address)
        except (EasyPostUnavailable, EasyPostRefused) as exc:
            return self._fallback(offline, str(exc))
        except Exception as exc:  # never raise, never block the order
            logger.exception("EasyPost verification failed unexpectedly")
            return self._fallback(offline, f"unexpected {type(exc).__name__}")
        problems = [
            (code, field, message)
            for code, field, message in reply.errors
            if code not in ADVICE_CODES
        ]
        if not reply.success:
            if not problems or all(code in NOT_CHECKABLE_CODES for code, _, _ in problems):
                codes = ", ".join(code for code, _, _ in reply.errors) or "no reason"
                return self._fallback(offline, f"EasyPost could not check this address ({codes})")
            messages = []
            for _code, _field, message in problems:
                text = _text(message).rstrip(".")
                if text and text not in messages:
                    messages.append(text)
            description = "The carrier's address check did not find this address: " + (
                ". ".join(messages) or "no reason given"
            )
            description = description[: MAX_DESCRIPTION_LENGTH - 1].rstrip() + "."
            return CheckResult(
                ok=False,
                verifier=self.name,
                description=description,
                note="EasyPost: " + ", ".join(code for code, _, _ in problems)[:300],
            )
        return CheckResult(
            ok=True,
            verifier=self.name,
            note="EasyPost verified the address.",
            suggestion=self._suggestion(address, reply.address),
        )

    def _fallback(self, offline: CheckResult, why: str) -> CheckResult:
        return CheckResult(
            ok=offline.ok,
            verifier=offline.verifier,
            description=offline.description,
            note=f"EasyPost could not answer ({why[:300]}); the offline check decided.",
            suggestion=offline.suggestion,
            fell_back=True,
        )

    @staticmethod
    def _suggestion(given: AddressToCheck, found: dict[str, Any]) -> AddressToCheck | None:
        street = " ".join(
            part for part in (_text(found.get("street1")), _text(found.get("street2"))) if part
        )
        suggestion = AddressToCheck(
            name=given.name,
            company=given.company,
            address=street or given.address,
            city=_text(found.get("city")) or given.city,
            state=_text(found.get("state")) or given.state,
            postal_code=_text(found.get("zip")) or given.postal_code,
            country=_text(found.get("country")) or given.country,
        )
        return suggestion if suggestion != given else None
