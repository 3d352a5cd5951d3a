"""WSGI entry point: `pressrun serve` runs this behind its complete-request front
(`pressrun.core.webfront`); any WSGI server can run it too."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pressrun.settings")
application = get_wsgi_application()
