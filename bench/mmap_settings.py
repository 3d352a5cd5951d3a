"""What-if settings for `bench/run.py --settings mmap_settings`: SQLite with the database file
memory-mapped (`PRAGMA mmap_size`, 2 GiB, SQLite's limit), as pressrun did before the
eleventh round (the comparison in docs/performance.md)."""

from pressrun.settings import *  # noqa: F403
from pressrun.settings import DATABASES

_options = DATABASES["default"]["OPTIONS"]
# SQLite only, and only while pressrun's own PRAGMA reads as below: else this is no what-if.
assert "PRAGMA mmap_size=0;" in _options.get("init_command", ""), "SQLite's mmap_size PRAGMA"
_options["init_command"] = _options["init_command"].replace(
    "PRAGMA mmap_size=0;", "PRAGMA mmap_size=2147483648;"
)
