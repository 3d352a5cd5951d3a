"""What-if for `bench/run.py --settings no_pipeline_settings`: intake's rows sent to
PostgreSQL one by one, each waiting for its reply (no statement pipeline), to compare with
the default. SQLite is not affected."""

from pressrun.settings import *  # noqa: F403

DATABASE_PIPELINE = False
