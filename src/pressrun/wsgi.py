"""WSGI entry point: `pressrun serve` runs this behind its complete-request front
(`pressrun.core.webfront`); any WSGI server can run it too.

The gateway's two endpoints run with the shorter middleware list
`settings.GATEWAY_MIDDLEWARE_SKIPPED` leaves (core/handlers.py says why); every other path
with the full `settings.MIDDLEWARE`, as Django's own `get_wsgi_application()` would.
"""

import os

import django
from django.core.handlers.wsgi import WSGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pressrun.settings")
django.setup(set_prefix=False)

from pressrun.core.handlers import (  # noqa: E402  (Django must be set up first)
    MiddlewareListHandler,
    PathRoutedApplication,
    gateway_middleware,
)

# The gateway's URL patterns (gateway/urls.py under "gateway/" in pressrun/urls.py), as
# PATH_INFO carries them; tests/gateway/test_middleware_chain.py checks they still resolve.
GATEWAY_PATHS = ("/gateway/order", "/gateway/status")

_gateway = MiddlewareListHandler(gateway_middleware())
application = PathRoutedApplication(WSGIHandler(), dict.fromkeys(GATEWAY_PATHS, _gateway))
