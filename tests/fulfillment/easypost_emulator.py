"""A local stand-in for EasyPost's address verification, for tests.

It speaks the real API's JSON:

- `POST /v2/addresses` with HTTP Basic auth (the API key as the user name) and the body
  `{"address": {name, company, street1, street2, city, state, zip, country}, "verify": true}`
  (or `"verify_strict": true`) answers 201 with an Address object: `id` ("adr_…"),
  `object` "Address", `mode` "test", the address fields as EasyPost writes them (upper
  case, ZIP+4), `residential`, and `verifications` `{"zip4": {...}, "delivery": {"success",
  "errors": [{"code", "field", "message", "suggestion"}], "details": {"latitude",
  "longitude", "time_zone"}}}`.
- What it knows of addresses: a US street with a house number in a known ZIP code
  (`KNOWN_ZIPS`) is deliverable; "NOWHERE" in the street or an unknown ZIP code is
  E.ADDRESS.NOT_FOUND; a street without a number adds E.HOUSE_NUMBER.MISSING; an
  address outside the US is E.COUNTRY.UNSUPPORTED (as in EasyPost's test mode).
- With `verify_strict`, an address that fails is a 422 `{"error": {"code":
  "ADDRESS.VERIFY.FAILURE", "message": "Unable to verify address.", "errors": [...]}}`.
- Errors as EasyPost sends them: 401 `APIKEY.REQUIRED` (no key) / `APIKEY.INACTIVE` (a key
  it does not know), 422 `PARAMETER.REQUIRED` (no `address`), 404 `NOT_FOUND`.
- Faults, scripted per request for tests (`fail_next("500", "timeout", ...)`): "500" and
  "503" (EasyPost's error JSON), "429", "html" (a proxy's HTML page with 502), "timeout"
  (answers after `slow_seconds`), "reset" (closes the connection without a reply),
  "garbage" (201 with a body that is not JSON).

Run it in a thread with `running()`; `emulator.requests` lists what it received.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "EZTK0123456789abcdef0123456789abcdef"
KNOWN_ZIPS = {
    "78701": ("AUSTIN", "TX", "30.2711", "-97.7437", "America/Chicago"),
    "55401": ("MINNEAPOLIS", "MN", "44.9833", "-93.2667", "America/Chicago"),
    "10001": ("NEW YORK", "NY", "40.7506", "-73.9972", "America/New_York"),
}
NOT_FOUND = {
    "code": "E.ADDRESS.NOT_FOUND",
    "field": "address",
    "message": "Address not found",
    "suggestion": None,
}
HOUSE_NUMBER_MISSING = {
    "code": "E.HOUSE_NUMBER.MISSING",
    "field": "street1",
    "message": "House number is missing",
    "suggestion": None,
}
COUNTRY_UNSUPPORTED = {
    "code": "E.COUNTRY.UNSUPPORTED",
    "field": "address",
    "message": "This country is not supported in this mode. Try in production mode.",
    "suggestion": None,
}


@dataclass
class EasyPostEmulator:
    api_key: str = API_KEY
    slow_seconds: float = 2.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    _faults: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def fail_next(self, *faults: str) -> None:
        with self._lock:
            self._faults.extend(faults)

    def next_fault(self) -> str:
        with self._lock:
            return self._faults.pop(0) if self._faults else ""

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    # --- the API's answers -----------------------------------------------------------------

    def verify(self, given: dict[str, Any]) -> tuple[bool, list[dict[str, Any]], dict[str, Any]]:
        """(success, errors, the address as EasyPost writes it)."""
        street = str(given.get("street1") or "").strip()
        country = str(given.get("country") or "US").strip().upper() or "US"
        zip_code = str(given.get("zip") or "").strip()[:5]
        written = {
            "name": (given.get("name") or "").upper() or None,
            "company": (given.get("company") or "").upper() or None,
            "street1": street.upper(),
            "street2": (given.get("street2") or "").upper() or None,
            "city": str(given.get("city") or "").upper(),
            "state": str(given.get("state") or "").upper(),
            "zip": str(given.get("zip") or ""),
            "country": country,
        }
        if country != "US":
            return False, [COUNTRY_UNSUPPORTED], written
        errors = []
        if not street[:1].isdigit():
            errors.append(HOUSE_NUMBER_MISSING)
        known = KNOWN_ZIPS.get(zip_code)
        if known is None or "NOWHERE" in street.upper():
            errors.insert(0, NOT_FOUND)
        if errors:
            return False, errors, written
        city, state, _, _, _ = known
        written |= {"city": city, "state": state, "zip": f"{zip_code}-0001"}
        return True, [], written

    def address_object(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        given = body.get("address")
        if not isinstance(given, dict):
            return 422, _error(
                "PARAMETER.REQUIRED",
                "Missing required parameter.",
                [{"field": "address", "message": "cannot be blank"}],
            )
        success, errors, written = self.verify(given)
        verifying = "verify" in body or "verify_strict" in body
        if body.get("verify_strict") and not success:
            return 422, _error("ADDRESS.VERIFY.FAILURE", "Unable to verify address.", errors)
        zip_code = str(given.get("zip") or "")[:5]
        known = KNOWN_ZIPS.get(zip_code)
        details = (
            {"latitude": float(known[2]), "longitude": float(known[3]), "time_zone": known[4]}
            if success and known
            else None
        )
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        address = {
            "id": f"adr_{secrets.token_hex(16)}",
            "object": "Address",
            "mode": "test",
            "created_at": now,
            "updated_at": now,
            **written,
            "phone": None,
            "email": None,
            "residential": True,
            "carrier_facility": None,
            "federal_tax_id": None,
            "state_tax_id": None,
            "verifications": (
                {
                    "zip4": {"success": success, "errors": errors, "details": None},
                    "delivery": {"success": success, "errors": errors, "details": details},
                }
                if verifying
                else {}
            ),
        }
        return 201, address


def _error(code: str, message: str, errors: list[Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "errors": errors or []}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, payload: Any, *, raw: bytes | None = None) -> None:
        body = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(404, _error("NOT_FOUND", "The requested resource could not be found."))

    def do_POST(self) -> None:
        emulator = self.server.emulator
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        emulator.record(
            {
                "path": self.path,
                "authorization": self.headers.get("Authorization", ""),
                "content_type": self.headers.get("Content-Type", ""),
                "body": body,
            }
        )
        fault = emulator.next_fault()
        if fault == "reset":
            self.close_connection = True
            self.connection.close()
            return
        if fault == "timeout":
            time.sleep(emulator.slow_seconds)
        elif fault in ("500", "503"):
            self._send(int(fault), _error("INTERNAL_SERVER_ERROR", "Something went wrong."))
            return
        elif fault == "429":
            self._send(429, _error("RATE_LIMITED", "You have made too many requests."))
            return
        elif fault == "html":
            page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        elif fault == "garbage":
            self._send(201, None, raw=b"{not json")
            return
        if self.path.split("?")[0] != "/v2/addresses":
            self._send(404, _error("NOT_FOUND", "The requested resource could not be found."))
            return
        key = _basic_user(self.headers.get("Authorization", ""))
        if not key:
            self._send(401, _error("APIKEY.REQUIRED", "Missing or invalid API key."))
            return
        if key != emulator.api_key:
            self._send(401, _error("APIKEY.INACTIVE", "This API key is no longer active."))
            return
        if not isinstance(body, dict):
            self._send(422, _error("PARAMETER.INVALID", "The request body is not valid JSON."))
            return
        status, payload = emulator.address_object(body)
        self._send(status, payload)


def _basic_user(header: str) -> str:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except ValueError:
        return ""
    return decoded.partition(":")[0]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, emulator: EasyPostEmulator) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.emulator = emulator


@contextmanager
def running(emulator: EasyPostEmulator | None = None) -> Iterator[EasyPostEmulator]:
    """Serve the emulator on a free local port in a thread; `emulator.url` is its base URL."""
    emulator = emulator or EasyPostEmulator()
    server = _Server(emulator)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    emulator.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield emulator
    finally:
        server.shutdown()
        server.server_close()
