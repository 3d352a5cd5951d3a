"""Every gateway error code, in one table.

The renderer takes its messages from here, and `docs/gateway.md` is checked against it by
`pressrun gatewaydocs --check` (run in the test suite). Codes from the published gateway
document keep their numbers and meaning; cases the document leaves open have new codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from pressrun.orders.services import Refusal


@dataclass(frozen=True)
class GatewayError:
    code: str
    summary: str  # the fixed start of the message; details may follow
    when: str  # for the documentation
    from_spec: bool = False


def _e(code: str, summary: str, when: str, *, spec: bool = False) -> GatewayError:
    return GatewayError(code=code, summary=summary, when=when, from_spec=spec)


SOURCE_INVALID = _e(
    "000002",
    "Invalid access or source variable value.",
    "`source` is not `cdfulfill` or `ordermethod` is not `url` (or either is missing).",
    spec=True,
)
PRODUCT_ENTRY_BLANK = _e(
    "000010",
    "ProductID was blank.",
    "An entry of the `productid` list is empty (`66750xx66760`).",
    spec=True,
)
PRODUCT_ID_INVALID = _e(
    "000011",
    "ProductID is not a number.",
    "An entry of the `productid` list is not a whole number.",
)
PRODUCT_UNKNOWN = _e(
    "000012", "Product does not exist.", "No project has this ID (or it was retired)."
)
NAME_BLANK = _e("000013", "Name was blank.", "`name` is missing or blank.", spec=True)
ADDRESS_BLANK = _e("000014", "Address was blank.", "`addr` is missing or blank.")
CITY_BLANK = _e("000015", "City was blank.", "`city` is missing or blank.")
POSTAL_CODE_BLANK = _e(
    "000016", "Zip / postal code was blank.", "`zip` is blank for a US or Canadian address."
)
COUNTRY_INVALID = _e(
    "000017",
    "Country was not recognized.",
    "`country` is not a country code or name we know, or combines both (`IT (Italy)`).",
)
STATE_INVALID = _e(
    "000018",
    "State was not recognized.",
    "`st` is blank, unknown or combined (`MN Minnesota`) for a US or Canadian address.",
)
FIELD_TOO_LONG = _e(
    "000019",
    "A field is too long.",
    "`name` or `co` over 100, `addr` over 200, `city` over 100, `st` over 60, `zip` over 20 "
    "characters, or any field over 2,000 characters.",
)
EMAIL_INVALID = _e("000020", "Email is not valid.", "`email` is given but is not an address.")
DUPLICATE = _e(
    "000035",
    "This is a duplicate Order.",
    "The invoice was already used for this product (in the same mode), or, without an "
    "invoice, the same email ordered this product within 5 days.",
    spec=True,
)
INVOICE_TOO_LONG = _e("000036", "Invoice is too long.", "`Invoice` is over 50 characters.")
SPECIAL_TEXT_TOO_LONG = _e(
    "000037", "SpecialText is too long.", "`SpecialText` is over 500 characters."
)
SPECIAL_TEXT_HTML = _e("000038", "SpecialText contains HTML.", "`SpecialText` contains a tag.")
MODE_INVALID = _e("000040", "Mode is not valid.", "`mode` is neither `test` nor `prod`.")
MAIL_METHOD_INVALID = _e(
    "000041",
    "typeMailMethod is not valid.",
    "`typeMailMethod` is not standard, rtrackstandard, priority or express.",
)
PRICE_INVALID = _e(
    "000042",
    "nprice is not valid.",
    "`nprice` is not an amount from 0.00 to 99999.99 written as digits with an optional point "
    "and at most two decimals (`19.95`, `$19.95`); `19,95`, `1,000.00`, `1e3`, `0.001` and "
    "negative amounts are refused.",
)
FLAG_INVALID = _e(
    "000043",
    "A yes/no field is not valid.",
    "`bSendOrderNotificationEmail` or `bUsePriceOnCustomsForm` is not 1 or 0.",
)
LINE_BREAK = _e(
    "000044",
    "A one-line field contains a line break.",
    "A field other than `SpecialText` (its name included) contains a carriage return, a line "
    "feed, or Unicode's NEL, line or paragraph separator. `Invoice`, `name`, `addr` and the "
    "others are one line each; only `SpecialText` may have several lines.",
)
CONTROL_CHARACTERS = _e(
    "000045",
    "A field contains control characters.",
    "A field contains a NUL, DEL or other control character (C0 or C1). Tabs are allowed in "
    "every field, line breaks (CR, LF) only in `SpecialText`.",
)
REQUEST_TOO_LARGE = _e(
    "000046",
    "The request is too large.",
    "The request body or query string is over 64 KB (the body counted after de-chunking when "
    "it is sent with `Transfer-Encoding: chunked`).",
)
FIELD_REPEATED = _e(
    "000047",
    "A field was given twice with different values.",
    "The same field (in any letter case, in the query string or the body) has two values.",
)
REQUEST_MALFORMED = _e(
    "000048",
    "The request could not be read.",
    "The body is not form data we can decode, it is shorter than its Content-Length (the "
    "request was cut off), or it has no Content-Length and the web server could not read it "
    "to its end (send `Content-Length`), or its query string is not valid text in the charset "
    "its `Content-Type` names (send UTF-8).",
)
CHARSET_UNSUPPORTED = _e(
    "000049",
    "The request's charset is not a text encoding.",
    "The `Content-Type` header names a charset that is no text encoding (`charset=rot13`, "
    "base64, zlib, punycode, idna, UTF-7…) or that we do not know. Send UTF-8 (or leave the "
    "charset out: text that is not UTF-8 is read as Windows-1252).",
)
NO_PRODUCT = _e(
    "000101",
    "prod, productid, and eCommerceList were blank.",
    "`productid` is missing or blank.",
    spec=True,
)
PRODUCT_NOT_YOURS = _e(
    "000505",
    "Your http gateway URL Integration Call has the correct CoLoginEmail and "
    "CoLoginPassword, but the product is not from this account.",
    "A product in `productid` belongs to another publisher.",
    spec=True,
)
CREDENTIALS_MISSING = _e(
    "000503",
    "http gateway URL Integration Call is Invalid. Source Mode Unknown.",
    "`CoLoginEmail` or `CoLoginPassword` is missing or blank.",
    spec=True,
)
CREDENTIALS_INVALID = _e(
    "000601",
    "Your URL (http gateway) Integration Call does not have the correct CoLoginEmail and "
    "CoLoginPassword.",
    "No account has this email and password.",
    spec=True,
)
SIGN_IN_THROTTLED = _e(
    "000602",
    "Too many failed sign-in attempts.",
    "Too many recent wrong passwords for this account from your address (a growing delay), "
    "for this account from everywhere, or from your address; the reply says how long to "
    "wait. An address the account signed in from before is held back only by its own.",
)
HTTPS_REQUIRED = _e(
    "000603",
    "This gateway takes requests over https only.",
    "The installation is published on https and the request came over plain http (HTTP "
    "status 403; nothing is checked or stored). Change the URL to `https://`.",
)
QUANTITY_TOTAL = _e(
    "003101",
    "The total quantity for this multi product order exceeded the maximum 250.",
    "The quantities add up to more than 250.",
    spec=True,
)
QUANTITY_COUNT_MISMATCH = _e(
    "003102",
    "The number of quantities does not match the number of products.",
    "`quantity` has more or fewer entries than `productid`.",
)
QUANTITY_INVALID = _e(
    "003103",
    "A quantity is not valid.",
    "A quantity is not a whole number from 1 to 250.",
)
SERVICE_UNAVAILABLE = _e(
    "009001",
    "The order could not be stored right now; it was not placed.",
    "A temporary fault (e.g. the database was busy). Retry the same request; the invoice "
    "makes the retry safe.",
)
PRICE_LIST_INCOMPLETE = _e(
    "009002",
    "The order could not be priced; it was not placed.",
    "Our shipping price list lacks a rate for this shipping method and region. Contact us.",
)

ALL_ERRORS: tuple[GatewayError, ...] = tuple(
    sorted(
        (value for value in list(globals().values()) if isinstance(value, GatewayError)),
        key=lambda error: error.code,
    )
)

BY_REFUSAL: dict[Refusal, GatewayError] = {
    Refusal.NO_LINES: NO_PRODUCT,
    Refusal.QUANTITY_RANGE: QUANTITY_INVALID,
    Refusal.TOTAL_QUANTITY: QUANTITY_TOTAL,
    Refusal.PRODUCT_UNKNOWN: PRODUCT_UNKNOWN,
    Refusal.PRODUCT_NOT_YOURS: PRODUCT_NOT_YOURS,
    Refusal.NAME_BLANK: NAME_BLANK,
    Refusal.ADDRESS_BLANK: ADDRESS_BLANK,
    Refusal.CITY_BLANK: CITY_BLANK,
    Refusal.POSTAL_CODE_BLANK: POSTAL_CODE_BLANK,
    Refusal.COUNTRY_INVALID: COUNTRY_INVALID,
    Refusal.STATE_INVALID: STATE_INVALID,
    Refusal.FIELD_TOO_LONG: FIELD_TOO_LONG,
    Refusal.EMAIL_INVALID: EMAIL_INVALID,
    Refusal.INVOICE_TOO_LONG: INVOICE_TOO_LONG,
    Refusal.SPECIAL_TEXT_TOO_LONG: SPECIAL_TEXT_TOO_LONG,
    Refusal.SPECIAL_TEXT_HTML: SPECIAL_TEXT_HTML,
    Refusal.MAIL_METHOD_INVALID: MAIL_METHOD_INVALID,
    Refusal.MODE_INVALID: MODE_INVALID,
    Refusal.PRICE_INVALID: PRICE_INVALID,
    Refusal.DUPLICATE: DUPLICATE,
    Refusal.PRICE_LIST_INCOMPLETE: PRICE_LIST_INCOMPLETE,
    Refusal.LINE_BREAK: LINE_BREAK,
}

# Status call (getOrderStatusByInvoice) ErrorNum values.
STATUS_OK = 0
STATUS_UNKNOWN_FUNCTION = 100
STATUS_BAD_CREDENTIALS = 200
STATUS_THROTTLED = 210
STATUS_HTTPS_REQUIRED = 220
STATUS_HTTPS_REQUIRED_TEXT = "This gateway takes requests over https only."
STATUS_NOT_FOUND = 300
STATUS_INVOICE_BLANK = 310
STATUS_REQUEST_INVALID = 400
STATUS_UNAVAILABLE = 900

STATUS_ERRORS: tuple[tuple[int, str, str, bool], ...] = (
    (STATUS_OK, "", "Success.", True),
    (
        STATUS_UNKNOWN_FUNCTION,
        "Unknown function name requested. Valid functions are: getOrderStatusByInvoice.",
        "`function` is missing or not `getOrderStatusByInvoice`.",
        True,
    ),
    (
        STATUS_BAD_CREDENTIALS,
        "Incorrect email or password used as input.",
        "`CoLoginEmail` / `CoLoginPassword` missing or wrong.",
        True,
    ),
    (
        STATUS_THROTTLED,
        "Too many failed sign-in attempts.",
        "As ERRCODE `000602`: too many recent wrong passwords; the description says how "
        "long to wait.",
        False,
    ),
    (
        STATUS_HTTPS_REQUIRED,
        STATUS_HTTPS_REQUIRED_TEXT,
        "As ERRCODE `000603`: the request came over plain http to an installation published "
        "on https (HTTP status 403, one section without an invoice).",
        False,
    ),
    (
        STATUS_NOT_FOUND,
        "Record Not found.",
        "No order of this account has this invoice (another account's invoices are never found).",
        True,
    ),
    (STATUS_INVOICE_BLANK, "Invoice was blank.", "An entry of the `Invoice` list is empty.", False),
    (
        STATUS_REQUEST_INVALID,
        "The request could not be read.",
        "Over-long body, repeated fields with different values, control characters, a line "
        "break in `Invoice`, a charset that is no text encoding, a body that cannot be read; "
        "the `ErrorDesc` is the SubmitProductOrder `[FAILURE]` text saying which (`000019`, "
        "`000044` to `000049`).",
        False,
    ),
    (
        STATUS_UNAVAILABLE,
        "Temporarily unavailable; retry.",
        "A temporary fault (e.g. the database was busy).",
        False,
    ),
)
