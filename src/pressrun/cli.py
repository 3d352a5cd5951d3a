"""The `pressrun` command: Django's management commands with pressrun's settings preset."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pressrun.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["pressrun", *sys.argv[1:]])


if __name__ == "__main__":
    main()
