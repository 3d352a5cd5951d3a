"""What-if for `bench/run.py --settings no_one_statement_settings`: intake's rows written to
PostgreSQL as separate statements (in one pipeline) instead of one `WITH` statement, to
compare with the default. SQLite is not affected."""

from pressrun.settings import *  # noqa: F403

INTAKE_ONE_STATEMENT = False
