"""`pressrun serve`: the production web server (gunicorn), with pressrun's settings.

At start it records the address it serves on (`Installation.served_address`): while no
operator has saved a public base URL, every URL pressrun prints or sends uses it, so
`pressrun carturls` in another shell prints the port this server really answers on.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

from pressrun.core.selectors import public_base_url_reading
from pressrun.core.services import installation_record_served_address


class Command(BaseCommand):
    help = "Serve pressrun over HTTP with gunicorn (several processes, threads each)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--processes",
            type=int,
            default=settings.WEB_PROCESSES,
            help="Worker processes (default: PRESSRUN_WEB_PROCESSES or 2).",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=settings.WEB_THREADS,
            help="Threads per process (default: PRESSRUN_WEB_THREADS or 4).",
        )
        parser.add_argument("--access-log", action="store_true", help="Log every request.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["port"] <= 65535:
            raise CommandError("--port must be from 1 to 65535.")
        if options["processes"] < 1 or options["threads"] < 1:
            raise CommandError("--processes and --threads must be at least 1.")
        from gunicorn.app.base import BaseApplication

        from pressrun.wsgi import application

        host = options["host"]
        bind = f"[{host}]:{options['port']}" if ":" in host else f"{host}:{options['port']}"
        self._record_address(host, options["port"])
        config = {
            "bind": bind,
            "workers": options["processes"],
            "threads": options["threads"],
            "worker_class": "gthread",
            "keepalive": 30,
            "timeout": 60,
            "graceful_timeout": 20,
            "backlog": 2048,
            # Gateway scripts send whole orders as GET query strings: gunicorn's default
            # 4094-byte request line refuses valid ones (accented names, a 500-character
            # SpecialText fully percent-encoded) with an HTML 414. 8190 is its maximum.
            "limit_request_line": 8190,
            "accesslog": "-" if options["access_log"] else None,
            "errorlog": "-",
            "proc_name": "pressrun",
            # gunicorn's runtime control socket sits at one fixed path per user: several
            # servers on one machine (tests, benchmarks) would fight over it.
            "control_socket_disable": True,
        }

        class PressrunServer(BaseApplication):  # type: ignore[misc]
            def load_config(self) -> None:
                for key, value in config.items():
                    if value is not None and key in self.cfg.settings:
                        self.cfg.set(key, value)

            def load(self) -> Any:
                return application

        self.stdout.write(f"pressrun serving on http://{bind}/ ({config['workers']} processes)")
        self.stdout.flush()
        PressrunServer().run()

    def _record_address(self, host: str, port: int) -> None:
        """Record where this server answers, and say which public base URL applies."""
        try:
            installation_record_served_address(host=host, port=port)
            reading = public_base_url_reading()
        except DatabaseError as exc:
            self.stderr.write(
                f"Could not record the address this server answers on ({exc}); run "
                "`pressrun migrate` first. Printed URLs keep their previous address."
            )
        else:
            self.stdout.write(f"Public base URL: {reading.url} ({reading.origin_label})")
        finally:
            # gunicorn forks its workers from this process: none may inherit its connection.
            connections.close_all()
