"""The benchmark's gateway order: its account and the form fields every order sends.

Shared by `run.py` (the HTTP load), `census.py` and `lock_floor.py` (in-process), so that
all three measure the same order.
"""

from __future__ import annotations

EMAIL = "bench@example.com"
PASSWORD = "bench password 0123"  # noqa: S105 - a throwaway account
# Everything but the credentials, the product and the invoice.
ORDER_FIELDS = {
    "ordermethod": "url",
    "source": "cdfulfill",
    "quantity": "1",
    "mode": "prod",
    "typeMailMethod": "standard",
    "name": "Ann Example",
    "addr": "1 Main St",
    "city": "Austin",
    "st": "TX",
    "zip": "78701",
    "country": "US",
    "email": "ann@example.com",
}
