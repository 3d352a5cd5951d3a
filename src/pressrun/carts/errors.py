"""Errors shared by the cart channels."""

from __future__ import annotations


class CartTemporarilyUnavailable(Exception):
    """A cart's API could not be reached or failed on its side; trying again later may work.
    The delivery stays pending and its task retries with backoff."""
