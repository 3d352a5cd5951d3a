"""`pressrun check` (run by `pressrun serve` and the worker's start) reports an address
verifier setting that cannot work, before the first check task fails on it."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, register
from django.core.checks import Error as CheckError
from django.core.exceptions import ImproperlyConfigured

from pressrun.fulfillment.address.verifiers import configured_verifier


@register()
def address_verifier_setting(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        configured_verifier()
    except ImproperlyConfigured as exc:
        return [CheckError(str(exc), id="pressrun.E201")]
    return []
