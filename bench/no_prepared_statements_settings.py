"""What-if settings for `bench/run.py --settings no_prepared_statements_settings`: pressrun on
PostgreSQL with parameters bound by psycopg and nothing prepared on the server, as Django
does by default and as pressrun does behind a pooler in transaction mode (docs/deploy.md);
the same as `PRESSRUN_DATABASE_PREPARED_STATEMENTS=0`. SQLite is not affected."""

from pressrun.settings import *  # noqa: F403
from pressrun.settings import DATABASES

for _name in ("server_side_binding", "prepare_threshold"):
    DATABASES["default"].get("OPTIONS", {}).pop(_name, None)
