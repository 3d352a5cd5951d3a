"""What-if for `bench/run.py --settings no_loop_paths_settings`: `pressrun serve` runs every
request on its processes' threads, the gateway's too, instead of the gateway's and the
carts' on each process's loop thread (core/webfront.py `DEFAULT_LOOP_PATHS`), to compare
with the default."""

from pressrun.settings import *  # noqa: F403

WEB_LOOP_PATHS: tuple[str, ...] = ()
