"""WSGI entry point: `pressrun serve` runs this under gunicorn."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pressrun.settings")
application = get_wsgi_application()
