"""What-if for `bench/run.py --settings no_cached_reads_settings`: intake reads an order's
product and shipping rate from PostgreSQL for every order instead of keeping them in the
process as read (core/row_cache.py), to compare with the default. SQLite is
not affected."""

from pressrun.settings import *  # noqa: F403

INTAKE_CACHED_READS = False
