"""The address of the client that sent a request, as far as this installation can know it.

Without `PRESSRUN_CLIENT_ADDRESS_HEADER` it is the socket's peer address. Behind proxies,
the header they write (`X-Forwarded-For`, `Forwarded`, `X-Real-IP`…) lists one address per
hop, and each proxy *appends* the address it received the connection from: everything to the
left of what our own proxies added was written by the client and proves nothing. So only the
`PRESSRUN_TRUSTED_PROXY_COUNT` rightmost entries are trusted, and the client is the leftmost
of those (the address our outermost proxy saw). A header with fewer entries than trusted
proxies, or an entry that is not an IP address, means the request did not come through our
proxies as configured: the peer address is used instead, never a client-written value.

`throttle_address` groups IPv6 clients by their /64 network: one machine normally holds a
whole /64, so counting single IPv6 addresses would give it 2^64 fresh throttle budgets.
"""

from __future__ import annotations

import ipaddress
import re

from django.conf import settings
from django.http import HttpRequest

# "198.51.100.7:4711" (some proxies add the port) and "[2001:db8::1]:4711".
_IPV4_WITH_PORT = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$")
_BRACKETED_IPV6 = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?$")
MAX_ADDRESS_LENGTH = 64


def client_address(request: HttpRequest) -> str:
    """The client's IP address (normalized), or the peer address as the web server gave it."""
    peer = str(request.META.get("REMOTE_ADDR", ""))
    header = str(getattr(settings, "CLIENT_ADDRESS_HEADER", "") or "").strip()
    if header:
        meta_key = "HTTP_" + header.upper().replace("-", "_")
        entries = header_entries(header, str(request.META.get(meta_key, "")))
        trusted = int(getattr(settings, "TRUSTED_PROXY_COUNT", 1))
        if len(entries) >= trusted:
            address = parse_address(entries[-trusted])
            if address is not None:
                return address
    return (parse_address(peer) or peer)[:MAX_ADDRESS_LENGTH]


def header_entries(header: str, value: str) -> list[str]:
    """The hop addresses in a client-address header's value, left to right (as written).

    `Forwarded` (RFC 7239) elements carry the address as `for=`; every other header is a plain
    comma-separated list. A web server joins repeated header lines with commas, so a second
    line sent by the client still ends up to the left of what the proxies appended.
    """
    if not value.strip():
        return []
    # Empty entries are kept: they are hops too, and dropping them would shift the count.
    elements = [element.strip() for element in value.split(",")]
    if header.strip().lower() != "forwarded":
        return elements
    addresses = []
    for element in elements:
        found = ""
        for pair in element.split(";"):
            name, _, pair_value = pair.partition("=")
            if name.strip().lower() == "for":
                found = pair_value.strip().strip('"')
        # An element without `for=` still is a hop; it is kept so that counting from the
        # right stays right (and parse_address refuses it).
        addresses.append(found)
    return addresses


def parse_address(text: str) -> str | None:
    """`text` as a normalized IP address (port and brackets removed, IPv4-mapped IPv6 as
    IPv4), or None when it is not one."""
    text = text.strip()
    if not text or len(text) > 2 * MAX_ADDRESS_LENGTH:
        return None
    if (match := _IPV4_WITH_PORT.match(text)) or (match := _BRACKETED_IPV6.match(text)):
        text = match.group(1)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def throttle_address(address: str) -> str:
    """What sign-in throttling counts `address` as: the address itself for IPv4, its /64
    network for IPv6 (e.g. `2001:db8:1:2::/64`), the text itself when it is no IP address."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:MAX_ADDRESS_LENGTH]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
