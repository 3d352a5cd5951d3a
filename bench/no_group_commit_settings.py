"""What-if for `bench/run.py --settings no_group_commit_settings`: every order in a
transaction of its own (no group commit), to compare with the default on SQLite."""

from pressrun.settings import *  # noqa: F403

INTAKE_GROUP_COMMIT = False
