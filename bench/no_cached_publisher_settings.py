"""What-if for `bench/run.py --settings no_cached_publisher_settings`: a gateway order reads
its publisher's row from PostgreSQL (the credential check) instead of taking it from the
process as kept (accounts.services.publisher_authenticate_kept), to compare with the
default. SQLite is not affected."""

from pressrun.settings import *  # noqa: F403

INTAKE_CACHED_PUBLISHER = False
