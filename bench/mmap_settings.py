"""What-if settings for `bench/run.py --settings mmap_settings`: SQLite with the database file
memory-mapped (`PRAGMA mmap_size`, 2 GiB, SQLite's limit), as pressrun did before the
eleventh round (the comparison in docs/performance.md)."""

from pressrun.settings import *  # noqa: F403
from pressrun.settings import DATABASES

_options = DATABASES["default"]["OPTIONS"]
_options["init_command"] = _options["init_command"].replace(
    "PRAGMA mmap_size=0;", "PRAGMA mmap_size=2147483648;"
)
