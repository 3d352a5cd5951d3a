"""Settings for pressrun, read from PRESSRUN_* environment variables.

Sections: paths, security, database, tasks, cache, gateway, logging. Every variable has a
default that suits one machine (`make run`); production sets the database, secret key,
allowed hosts and email by environment.
"""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from pressrun.core import webfront
from pressrun.core.money import parse_money


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


# --- paths ---------------------------------------------------------------------------------
DATA_DIR = Path(os.environ.get("PRESSRUN_DATA_DIR") or "var").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
BASE_DIR = Path(__file__).resolve().parent


# --- security ------------------------------------------------------------------------------
def _secret_key() -> str:
    """The key from the environment, else one generated once and kept in the data dir."""
    from_env = os.environ.get("PRESSRUN_SECRET_KEY")
    if from_env:
        return from_env
    key_file = DATA_DIR / "secret_key"
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process wrote it first
            return key_file.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


SECRET_KEY = _secret_key()
DEBUG = _env_bool("PRESSRUN_DEBUG", False)
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("PRESSRUN_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
    if host.strip()
]
# Where carts, customers and publishers reach this installation (cart URLs, email links)
# belongs to the installation: an operator saves it (admin > Installation settings), else
# the address `pressrun serve` last started on is used (core.selectors.public_base_url).
# This variable, when set, overrides both (deployments and the test harness pin it).
PRESSRUN_PUBLIC_BASE_URL = os.environ.get("PRESSRUN_PUBLIC_BASE_URL", "").strip()
# Cookies are sent over HTTPS only as soon as the installation is published on https://
# (outside development); PRESSRUN_SECURE_COOKIES says so explicitly either way. When the
# https:// address is saved rather than set here, core.middleware.SecureCookiesMiddleware
# marks the cookies secure as they are set.
PRESSRUN_SECURE_COOKIES_EXPLICIT = os.environ.get("PRESSRUN_SECURE_COOKIES", "").strip() != ""
SESSION_COOKIE_SECURE = _env_bool(
    "PRESSRUN_SECURE_COOKIES", PRESSRUN_PUBLIC_BASE_URL.lower().startswith("https://")
)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_FAILURE_VIEW = "pressrun.core.views.csrf_failure"
# Behind a TLS-terminating proxy that sets this header (e.g. X-Forwarded-Proto: https),
# requests count as secure. Only set it when the proxy always overwrites the header.
if _proxy_https_header := os.environ.get("PRESSRUN_PROXY_HTTPS_HEADER", "").strip():
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + _proxy_https_header.upper().replace("-", "_"),
        "https",
    )
# Published on https:// behind that proxy: pages asked for over plain HTTP are redirected to
# https, HTTPS answers tell browsers to use nothing else for this long (Strict-Transport-
# Security), and the gateway refuses plain HTTP (core/https.py).
PRESSRUN_HSTS_SECONDS = _env_int("PRESSRUN_HSTS_SECONDS", 31_536_000)
# The dashboard sends the CSRF token from the page (a form field, or htmx's header taken from
# an attribute), so no script needs to read the cookie.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# A dashboard session ends after this many hours, signed in or not.
SESSION_COOKIE_AGE = _env_int("PRESSRUN_SESSION_HOURS", 12) * 3600
# The customer's page (/c/<token>) stops showing the shipping address and the items this
# many days after the order's ship date (0: from the ship date on); the status stays.
CUSTOMER_ADDRESS_VISIBLE_DAYS = _env_int("PRESSRUN_CUSTOMER_ADDRESS_VISIBLE_DAYS", 14)
# How long a password-reset link keeps working (it also stops after one use).
PASSWORD_RESET_TIMEOUT = _env_int("PRESSRUN_PASSWORD_RESET_SECONDS", 3600)
SECURE_REFERRER_POLICY = "same-origin"
# Content Security Policy for every page except the admin (see dashboard/security.py).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
if _env_bool("PRESSRUN_FAST_PASSWORD_HASHER", False):
    # Tests only: a full PBKDF2 hash per created account would dominate the test run.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- application ---------------------------------------------------------------------------
INSTALLED_APPS = [
    # Django's admin with the operators' sign-in throttled (accounts/admin_site.py).
    "pressrun.accounts.apps.OperatorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "django_htmx",
    "pressrun.core",
    "pressrun.accounts",
    "pressrun.catalog",
    # The layers, lowest first: an app imports only those listed above it (the channels
    # gateway and carts, the customer page and the dashboard sit on top).
    "pressrun.orders",
    "pressrun.billing",
    "pressrun.notifications",
    "pressrun.payments",
    "pressrun.fulfillment",
    # Publisher webhooks follow orders, billing and fulfillment; the dashboard shows them.
    "pressrun.webhooks",
    "pressrun.warehouses",
    "pressrun.gateway",
    "pressrun.carts",
    "pressrun.customers",
    "pressrun.dashboard",
    "pressrun.demo",
    # /healthz, /readyz and /metrics read every app's rows, so they stand above them all.
    "pressrun.monitoring",
]
MIDDLEWARE = [
    # Counts every request by route and status and times it, refused ones included; it reads
    # only the path and the resolved route, never the request's data (monitoring/).
    "pressrun.monitoring.middleware.RequestMetricsMiddleware",
    # Then: nothing may read a request's data before its charset and body length are
    # checked (core/request_hygiene.py); a refused request never reaches its view.
    "pressrun.core.request_hygiene.RequestHygieneMiddleware",
    "pressrun.core.https.HttpsOnlyMiddleware",
    # /healthz, /readyz, /metrics: answered here, whatever the Host header (probes and
    # scrapers ask by the server's own address), before the session and page middleware.
    "pressrun.monitoring.middleware.MonitoringEndpointsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before the session and CSRF middleware, so it sees the cookies they set.
    "pressrun.core.middleware.SecureCookiesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "pressrun.dashboard.security.ContentSecurityPolicyMiddleware",
    "pressrun.dashboard.security.NoStoreFormResponsesMiddleware",
]
# The gateway's two endpoints (/gateway/order and /gateway/status, called by publishers'
# scripts at high rates) run MIDDLEWARE without these (pressrun.wsgi, core/handlers.py): they
# read no cookie, session, signed-in user, message or htmx header, set no cookie, serve no
# static file and are no probe, so these would only cost their calls. Everything else (the
# request metrics, request hygiene, HTTPS only, the security headers, the host check and
# Content-Length, X-Frame-Options, the CSP and no-store headers) runs for them as for every
# path; tests/gateway/test_middleware_chain.py compares their answers with the full list's.
# (The one answer that would differ: a styled 400/403/404 page raised from inside a gateway
# view would come without the CSRF cookie and `Vary: Cookie`; the views raise none. The bad
# Host header's 400 is raised in CommonMiddleware, outside those, and is the same.)
GATEWAY_MIDDLEWARE_SKIPPED = [
    "pressrun.monitoring.middleware.MonitoringEndpointsMiddleware",
    "pressrun.core.middleware.SecureCookiesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]
ROOT_URLCONF = "pressrun.urls"
WSGI_APPLICATION = "pressrun.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# The admin's static files are served by WhiteNoise straight from the installed apps, so a
# fresh installation needs no collectstatic step.
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = False


# --- database ------------------------------------------------------------------------------
def _databases() -> dict[str, Any]:
    url = os.environ.get("PRESSRUN_DATABASE_URL", "").strip()
    pooler = os.environ.get("PRESSRUN_DATABASE_POOLER", "").strip().lower()
    if pooler not in ("", "session", "transaction"):
        raise ImproperlyConfigured(
            "PRESSRUN_DATABASE_POOLER must be 'transaction', 'session' or unset."
        )
    if url:
        config = dj_database_url.parse(url, conn_max_age=600, conn_health_checks=True)
        if config["ENGINE"] == "django.db.backends.postgresql":
            # Django's backend, its kept connections checked without a round trip while
            # they are quiet (core/postgresql).
            config["ENGINE"] = "pressrun.core.postgresql"
        if pooler == "transaction":
            # A pooler in transaction mode (PgBouncer's pool_mode=transaction) may hand the
            # next transaction to another server connection, where a server-side cursor
            # opened by `.iterator()` outside a transaction does not exist. Prepared
            # statements, the other casualty, are already off: Django's psycopg 3 backend
            # sets prepare_threshold=None unless told otherwise.
            config["DISABLE_SERVER_SIDE_CURSORS"] = True
        elif _env_bool("PRESSRUN_DATABASE_PREPARED_STATEMENTS", True):
            # Without such a pooler: parameters bound by the server, and a statement run a
            # few times on a connection prepared there (psycopg's prepare_threshold). An
            # order's dozen statements then cost about a third less CPU, in pressrun and in
            # PostgreSQL (docs/performance.md, "the write path"). PgBouncer in transaction
            # mode only keeps prepared statements from 1.21 on, with max_prepared_statements
            # set: behind it they stay off.
            config.setdefault("OPTIONS", {})
            config["OPTIONS"]["server_side_binding"] = True
            config["OPTIONS"]["prepare_threshold"] = 5
        return {"default": config}
    if pooler:
        raise ImproperlyConfigured("PRESSRUN_DATABASE_POOLER needs PRESSRUN_DATABASE_URL.")
    return {
        "default": {
            # Django's SQLite backend with write transactions queued fairly (core/sqlite).
            "ENGINE": "pressrun.core.sqlite",
            "NAME": DATA_DIR / "pressrun.sqlite3",
            # Keep connections: opening one (with its PRAGMAs and Django's SQL functions)
            # costs more than a whole order's queries.
            "CONN_MAX_AGE": None,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {
                # IMMEDIATE: a write transaction takes the write lock at BEGIN, so two
                # writers queue on busy_timeout instead of failing with "database is locked"
                # when one of them upgrades a read lock.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                # mmap_size=0: pages are read with a system call into SQLite's page cache, not
                # through a memory map of the file. With several processes writing (the web
                # processes and the task worker), a connection that finds the database
                # changed by another one drops its page cache and, with a map, unmaps the
                # whole file, to fault every page in again: at a million orders that made 16
                # concurrent status calls cost 3.9 ms of CPU each instead of 1.5, and every
                # order more too; one process alone gains little from the map
                # (docs/performance.md, "eleventh round"; bench/mmap_settings.py repeats it).
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA cache_size=-65536;"
                    "PRAGMA mmap_size=0;"
                ),
            },
            # Tests: an in-memory database, named as such so that pytest-django's parallel
            # workers, which suffix any other test database's name per worker, leave it be
            # (it takes this engine for a server database and would build a path from NAME).
            "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")}
            if _env_bool("PRESSRUN_TEST_SQLITE_FILE", False)
            else {"NAME": ":memory:"},
        }
    }


DATABASES = _databases()


# --- background tasks ----------------------------------------------------------------------
TASKS = {
    "default": {
        # django-tasks-db's backend, its rows written by a compiled INSERT (core/task_backend.py).
        "BACKEND": os.environ.get(
            "PRESSRUN_TASK_BACKEND", "pressrun.core.task_backend.DatabaseBackend"
        ),
        "QUEUES": ["default"],
        # New tasks' ids grow with time: their rows join the end of the primary key's index
        # instead of a random place in it (core/task_backend.py).
        "OPTIONS": {"id_function": "pressrun.core.task_backend.time_ordered_task_id"},
    }
}
# A cart delivery whose processing fails transiently (database, a cart's API) is retried
# with exponential backoff: attempt n waits about base * 2^(n-1) seconds (capped at an hour).
CART_RETRY_ATTEMPTS = _env_int("PRESSRUN_CART_RETRY_ATTEMPTS", 8)
CART_RETRY_BASE_SECONDS = float(os.environ.get("PRESSRUN_CART_RETRY_BASE_SECONDS", "") or 30)
# How long a SamCart notification waits for the other products of its order.
PRESSRUN_SAMCART_GRACE_SECONDS = _env_int("PRESSRUN_SAMCART_GRACE_SECONDS", 10)
# A delivery still pending this long past its due time, with no task queued or running for
# it, was lost and is queued again by the sweep.
PRESSRUN_CART_STALE_PENDING_SECONDS = _env_int("PRESSRUN_CART_STALE_PENDING_SECONDS", 600)
# Rate limits of the cart endpoints, per minute (carts/rate_limit.py): requests from a
# verified sender per cart and publisher (a Shopify flash sale of a few hundred orders a
# minute, each with its topics, stays far below), and requests whose sender does not check
# out per client address. 0 turns a limit off.
CART_DELIVERIES_PER_MINUTE = _env_int("PRESSRUN_CART_DELIVERIES_PER_MINUTE", 1200)
CART_UNVERIFIED_PER_MINUTE = _env_int("PRESSRUN_CART_UNVERIFIED_PER_MINUTE", 60)
# The raw body of a delivery that made no order (failed, unmatched, ignored, duplicate) is
# removed this many days after it arrived; the record, its size and SHA-256 stay.
CART_BODY_RETENTION_DAYS = _env_int("PRESSRUN_CART_BODY_RETENTION_DAYS", 30)
PRESSRUN_ONESHOPPINGCART_API_URL = (
    os.environ.get("PRESSRUN_ONESHOPPINGCART_API_URL", "").strip() or "https://www.mcssl.com/API"
)
# --- post-back of tracking to the carts (carts/postback.py) --------------------------------
# The Shopify Admin API's address; "{shop}" is the shop's handle (its domain without
# ".myshopify.com"). Tests point it at a local emulator. The API version is in the path.
PRESSRUN_SHOPIFY_ADMIN_API_BASE = (
    os.environ.get("PRESSRUN_SHOPIFY_ADMIN_API_BASE", "").strip() or "https://{shop}.myshopify.com"
)
PRESSRUN_SHOPIFY_ADMIN_API_VERSION = (
    os.environ.get("PRESSRUN_SHOPIFY_ADMIN_API_VERSION", "").strip() or "2025-07"
)
# Attempts of one post-back, and the first retry's delay (doubling, capped at an hour, with
# jitter: core.tasks.backoff_seconds); a 429's Retry-After is waited out instead.
CART_POSTBACK_ATTEMPTS = _env_int("PRESSRUN_CART_POSTBACK_ATTEMPTS", 12)
CART_POSTBACK_RETRY_BASE_SECONDS = float(
    os.environ.get("PRESSRUN_CART_POSTBACK_RETRY_BASE_SECONDS", "") or 60
)
# The stock sync to Shopify (carts/stock_sync.py, docs/warehouses.md "Stock sync"): every
# publisher with a location picked has all its warehouses' stock set in Shopify this often;
# a stock report that changes a level queues a sync of the changed SKUs at once.
STOCK_SYNC_SECONDS = max(_env_int("PRESSRUN_STOCK_SYNC_SECONDS", 900), 1)
# How often the worker moves paid orders whose postage window has ended from waiting to
# ready (fulfillment/tasks.py). Readers treat such an order as ready at once anyway.
POSTAGE_WINDOW_SWEEP_SECONDS = max(_env_int("PRESSRUN_POSTAGE_WINDOW_SWEEP_SECONDS", 60), 1)
# The address check before shipping (fulfillment/address/, docs/fulfillment.md "Address
# errors"): "offline" (the default; no network) or "easypost" (EasyPost's address
# verification at PRESSRUN_EASYPOST_API_URL with PRESSRUN_EASYPOST_API_KEY; each request
# times out after PRESSRUN_ADDRESS_API_TIMEOUT_SECONDS and is tried
# PRESSRUN_ADDRESS_API_ATTEMPTS times in all, waiting PRESSRUN_ADDRESS_API_RETRY_SECONDS,
# doubling, between tries; then the offline check decides). The address sweep (checks that
# were missed, reminders of unfixed address errors) runs every
# PRESSRUN_ADDRESS_SWEEP_SECONDS.
ADDRESS_VERIFIER = os.environ.get("PRESSRUN_ADDRESS_VERIFIER", "").strip().lower() or "offline"
EASYPOST_API_KEY = os.environ.get("PRESSRUN_EASYPOST_API_KEY", "").strip()
EASYPOST_API_URL = (
    os.environ.get("PRESSRUN_EASYPOST_API_URL", "").strip() or "https://api.easypost.com"
)
ADDRESS_API_TIMEOUT_SECONDS = float(
    os.environ.get("PRESSRUN_ADDRESS_API_TIMEOUT_SECONDS", "") or 10
)
ADDRESS_API_ATTEMPTS = max(_env_int("PRESSRUN_ADDRESS_API_ATTEMPTS", 3), 1)
ADDRESS_API_RETRY_SECONDS = float(os.environ.get("PRESSRUN_ADDRESS_API_RETRY_SECONDS", "") or 1)
ADDRESS_SWEEP_SECONDS = max(_env_int("PRESSRUN_ADDRESS_SWEEP_SECONDS", 600), 1)
# A RUNNING task whose worker has sent no heartbeat for this long is put back in the queue.
WORKER_HEARTBEAT_SECONDS = _env_int("PRESSRUN_WORKER_HEARTBEAT_SECONDS", 5)
WORKER_DEAD_AFTER_SECONDS = _env_int("PRESSRUN_WORKER_DEAD_AFTER_SECONDS", 30)


# --- cache ---------------------------------------------------------------------------------
# The only thing pressrun caches is verified credentials, per process by default: an entry is
# checked against the current password hash on every use, so it needs no cross-process
# invalidation, and a cache that is lost costs password hashes, never correctness. With
# PRESSRUN_REDIS_URL every process and machine shares one (fewer hashes); a Redis that fails
# is then treated as an empty cache (core/cache.py). Everything else that must be shared
# between processes (sign-in throttling, rate limits, sessions, counters) is in the database.
_REDIS_URL = os.environ.get("PRESSRUN_REDIS_URL", "").strip()
CACHES: dict[str, Any] = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "credentials": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "pressrun-credentials",
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    },
}
if _REDIS_URL:
    CACHES["default"] = {
        "BACKEND": "pressrun.core.cache.FailSoftRedisCache",
        "LOCATION": _REDIS_URL,
    }
    CACHES["credentials"] = dict(CACHES["default"], KEY_PREFIX="credentials")


# --- gateway -------------------------------------------------------------------------------
# How long a verified email + password is accepted without a full password hash.
CREDENTIAL_CACHE_SECONDS = _env_int("PRESSRUN_CREDENTIAL_CACHE_SECONDS", 300)
# Intake compiles its INSERTs and the debit before the transaction and only executes them
# inside it (orders/services.py, docs/performance.md "write path"). 0 puts the ORM back
# inside the transaction, the way to repeat the comparison with bench/census.py.
INTAKE_PREPARED_WRITES = _env_bool("PRESSRUN_INTAKE_PREPARED_WRITES", True)
# On PostgreSQL, where intake's rows are separate statements (the retry after the debit
# decided against the guessed outcome, or INTAKE_ONE_STATEMENT off), the rows after the
# order's and the debit go out in one pipeline (core/prepared.py `pipelined`): one round
# trip for them instead of one each. 0 sends them one by one, the way to repeat the
# comparison (docs/performance.md, "sixth round").
DATABASE_PIPELINE = _env_bool("PRESSRUN_DATABASE_PIPELINE", True)
# On PostgreSQL, intake writes an order's rows, its subscribers' rows and the debit as one
# statement (core/prepared.py `JoinedInsert`), its own transaction when nothing else must
# share it. 0 writes them as separate statements in a transaction (in the pipeline above),
# the way to repeat the comparison (docs/performance.md, "sixth" and "seventh round").
INTAKE_ONE_STATEMENT = _env_bool("PRESSRUN_INTAKE_ONE_STATEMENT", True)
# Intake keeps the products and shipping rates it read in the process, each as read, and
# its write requires them unchanged (core/row_cache.py; PostgreSQL: within that one
# statement; SQLite: one check inside the write transaction): no reads of them before every
# order. 0 reads them for every order, the way to repeat the comparison
# (docs/performance.md, "eighth" and "tenth round").
INTAKE_CACHED_READS = _env_bool("PRESSRUN_INTAKE_CACHED_READS", True)
# With INTAKE_CACHED_READS, a gateway order whose credentials are in the credential cache
# takes its publisher's row from the process too (accounts.services
# .publisher_authenticate_kept), and the order's statement requires it unchanged but for the
# balance: no read before the order's write. A status call takes it likewise, whatever
# INTAKE_CACHED_READS, and its metering statement requires it unchanged. 0 reads it for
# every order and call, the way to repeat the comparison (docs/performance.md, "ninth",
# "tenth" and "eleventh round").
INTAKE_CACHED_PUBLISHER = _env_bool("PRESSRUN_INTAKE_CACHED_PUBLISHER", True)
# Orders that threads of one process have ready at the same moment are written in one
# transaction (core/group_commit.py): one write lock hand-off and one COMMIT for the group.
# SQLite only by default: there every transaction waits for the one database write lock,
# while PostgreSQL's writers lock rows and are better left apart.
INTAKE_GROUP_COMMIT = _env_bool(
    "PRESSRUN_INTAKE_GROUP_COMMIT", not DATABASES["default"]["ENGINE"].endswith("postgresql")
)
# On SQLite, one writer process (core/sqlite/writer.py, started by `pressrun serve`) writes
# the gateway's orders of every web process, whatever arrives together in one transaction:
# the write lock changes hands once per group instead of once per order. It pays from about
# four web processes on and costs a round trip with fewer (docs/performance.md, "sixteenth
# round"), so it is off by default. An order it cannot take is written by its process.
SQLITE_WRITER = _env_bool("PRESSRUN_SQLITE_WRITER", False)
# How long, in milliseconds, the writer waits at most for more orders to join a group once
# one has arrived, and only while a thread connected to it (of any web process) that sent an
# order within the last 50 ms has none waiting: a group of several holds the lock less per
# order than each on its own (docs/performance.md, "eighteenth round"). Whole milliseconds,
# the resolution of the system's poll; 0 writes whatever has arrived at once; at most 50.
SQLITE_WRITER_WAIT_MS = _env_int("PRESSRUN_SQLITE_WRITER_WAIT_MS", 1)
if not 0 <= SQLITE_WRITER_WAIT_MS <= 50:
    raise ImproperlyConfigured("PRESSRUN_SQLITE_WRITER_WAIT_MS must be 0 to 50 (milliseconds).")
# Sign-in throttling (accounts/throttle.py, docs/operations.md "Security"). Failed sign-ins
# are remembered for the window. One account from one client address gets this many free
# failures, then waits 1 s, 2 s, 4 s… (capped at the window) before each further attempt.
LOGIN_FAILURES_FREE_PER_ADDRESS = _env_int("PRESSRUN_LOGIN_FAILURES_FREE_PER_ADDRESS", 5)
# Ceilings over the window: failures for one account from all addresses together, and from
# one address for all accounts together. Neither holds back an address that has signed in to
# the account successfully before (a known address).
LOGIN_FAILURES_PER_ACCOUNT = _env_int("PRESSRUN_LOGIN_FAILURES_PER_ACCOUNT", 100)
LOGIN_FAILURES_PER_ADDRESS = _env_int("PRESSRUN_LOGIN_FAILURES_PER_ADDRESS", 30)
LOGIN_FAILURE_WINDOW_SECONDS = _env_int("PRESSRUN_LOGIN_FAILURE_WINDOW_SECONDS", 900)
# An address stays known this long after its last successful sign-in.
KNOWN_ADDRESS_DAYS = _env_int("PRESSRUN_KNOWN_ADDRESS_DAYS", 90)
# Status calls per publisher in a rolling 24 hours that are free; each further one costs this.
STATUS_CALLS_FREE_PER_DAY = _env_int("PRESSRUN_STATUS_CALLS_FREE_PER_DAY", 1000)
GATEWAY_MAX_BODY_BYTES = _env_int("PRESSRUN_GATEWAY_MAX_BODY_BYTES", 65_536)
DATA_UPLOAD_MAX_MEMORY_SIZE = GATEWAY_MAX_BODY_BYTES
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
# Header carrying the client address when behind proxies (e.g. "X-Forwarded-For"), and how
# many proxies of ours append to it: only that many rightmost entries are trusted, and the
# client is the leftmost of them (core/client_address.py).
CLIENT_ADDRESS_HEADER = os.environ.get("PRESSRUN_CLIENT_ADDRESS_HEADER", "").strip()
TRUSTED_PROXY_COUNT = _env_int("PRESSRUN_TRUSTED_PROXY_COUNT", 1)
if TRUSTED_PROXY_COUNT < 1:
    raise ImproperlyConfigured("PRESSRUN_TRUSTED_PROXY_COUNT must be at least 1.")


# --- web server ----------------------------------------------------------------------------
# SQLite: two processes of one thread running Django besides the loop's own; PostgreSQL: two
# per core, of two threads each besides the loop's (core/webfront.py `default_processes`,
# `default_threads`: why, as measured). The loop's thread runs the gateway and the carts.
_ON_POSTGRESQL = DATABASES["default"]["ENGINE"].endswith("postgresql")
WEB_PROCESSES = _env_int(
    "PRESSRUN_WEB_PROCESSES", webfront.default_processes(postgresql=_ON_POSTGRESQL)
)
WEB_THREADS = _env_int("PRESSRUN_WEB_THREADS", webfront.default_threads(postgresql=_ON_POSTGRESQL))
# Requests whose paths start with one of these (comma-separated) run on each process's loop
# thread rather than on those threads: by default the gateway's and the carts', which only
# work with the database (core/webfront.py `DEFAULT_LOOP_PATHS`). "/" runs every request
# there; empty, none.
WEB_LOOP_PATHS = tuple(
    prefix.strip()
    for prefix in os.environ.get(
        "PRESSRUN_WEB_LOOP_PATHS", ",".join(webfront.DEFAULT_LOOP_PATHS)
    ).split(",")
    if prefix.strip()
)
if any(not prefix.startswith("/") for prefix in WEB_LOOP_PATHS):
    raise ImproperlyConfigured("PRESSRUN_WEB_LOOP_PATHS: each path must start with '/'.")
# `pressrun serve` gives a thread to a request only once it has arrived whole (see
# docs/operations.md, "Serving model"). A request head must arrive within this many seconds
# of the connection opening or of the previous answer on it (so idle connections close too);
# granian accepts 1 to 60.
WEB_HEADER_TIMEOUT_SECONDS = _env_int(
    "PRESSRUN_WEB_HEADER_TIMEOUT_SECONDS", webfront.DEFAULT_HEADER_TIMEOUT_SECONDS
)
# ... and its body within this many seconds after the head, else 408 and the connection closes.
WEB_BODY_TIMEOUT_SECONDS = _env_int(
    "PRESSRUN_WEB_BODY_TIMEOUT_SECONDS", webfront.DEFAULT_BODY_TIMEOUT_SECONDS
)
# Largest request body the server accepts (413 beyond). Each channel's own, smaller limit
# answers first in its own format: the gateway's 64 KiB, the carts' 1 MB.
WEB_MAX_BODY_BYTES = _env_int("PRESSRUN_WEB_MAX_BODY_BYTES", webfront.DEFAULT_MAX_BODY_BYTES)


# --- email ---------------------------------------------------------------------------------
# Development writes each email to a file in <data dir>/mail; production sets
# PRESSRUN_EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and the SMTP server
# below (docs/emails.md).
EMAIL_BACKEND = os.environ.get(
    "PRESSRUN_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend"
)
EMAIL_FILE_PATH = DATA_DIR / "mail"
EMAIL_HOST = os.environ.get("PRESSRUN_EMAIL_HOST", "localhost")
EMAIL_PORT = _env_int("PRESSRUN_EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("PRESSRUN_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("PRESSRUN_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("PRESSRUN_EMAIL_TLS", False)
EMAIL_USE_SSL = _env_bool("PRESSRUN_EMAIL_SSL", False)
# A mail server that stops answering must not hold a worker forever; the send is retried.
EMAIL_TIMEOUT = _env_int("PRESSRUN_EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = os.environ.get("PRESSRUN_FROM_EMAIL", "orders@pressrun.localhost")
# A send the mail server refuses or cannot take is retried with backoff: attempt n waits
# about base * 2^(n-1) seconds; after the last attempt the email is marked failed.
EMAIL_SEND_ATTEMPTS = _env_int("PRESSRUN_EMAIL_SEND_ATTEMPTS", 8)
EMAIL_RETRY_BASE_SECONDS = float(os.environ.get("PRESSRUN_EMAIL_RETRY_BASE_SECONDS", "") or 30)


# --- publisher webhooks --------------------------------------------------------------------
# Signed webhooks to the publishers' own systems (docs/webhooks.md). Connecting and each read
# of an attempt give up after this many seconds.
WEBHOOK_TIMEOUT_SECONDS = max(_env_int("PRESSRUN_WEBHOOK_TIMEOUT_SECONDS", 10), 1)
# Endpoints must be public https URLs; this also allows http:// and https:// to loopback
# addresses (127.0.0.1, ::1, localhost), for tests and local development only.
WEBHOOKS_ALLOW_LOOPBACK = _env_bool("PRESSRUN_WEBHOOKS_ALLOW_LOOPBACK", False)


# --- payments (Stripe) ---------------------------------------------------------------------
# Publishers add credit by card through Stripe Checkout when both keys are set (docs/payments.md);
# without them the Billing page shows PRESSRUN_PAYMENT_INSTRUCTIONS instead.
STRIPE_SECRET_KEY = os.environ.get("PRESSRUN_STRIPE_SECRET_KEY", "").strip()
STRIPE_WEBHOOK_SECRET = os.environ.get("PRESSRUN_STRIPE_WEBHOOK_SECRET", "").strip()
# Where Stripe's API answers: Stripe itself, or a local emulator in tests.
STRIPE_API_BASE = (
    os.environ.get("PRESSRUN_STRIPE_API_BASE", "").strip().rstrip("/") or "https://api.stripe.com"
)


def _stripe_checkout_origin() -> str:
    """The origin of Stripe's hosted payment page, which the Billing page's Content Security
    Policy must let its "Add credit" form redirect to. Stripe's API → checkout.stripe.com;
    another API base (an emulator) serves its payment pages itself."""
    from_env = os.environ.get("PRESSRUN_STRIPE_CHECKOUT_ORIGIN", "").strip().rstrip("/")
    if from_env:
        return from_env
    if STRIPE_API_BASE == "https://api.stripe.com":
        return "https://checkout.stripe.com"
    scheme, _, rest = STRIPE_API_BASE.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


STRIPE_CHECKOUT_ORIGIN = _stripe_checkout_origin()
# One online payment's limits, in dollars (Stripe's own minimum for USD is $0.50).
PAYMENT_MINIMUM = parse_money(os.environ.get("PRESSRUN_PAYMENT_MINIMUM", "") or "5.00")
PAYMENT_MAXIMUM = parse_money(os.environ.get("PRESSRUN_PAYMENT_MAXIMUM", "") or "10000.00")
if not Decimal("0.50") <= PAYMENT_MINIMUM <= PAYMENT_MAXIMUM:
    raise ImproperlyConfigured(
        "PRESSRUN_PAYMENT_MINIMUM must be at least 0.50 (Stripe's minimum charge) and at most "
        "PRESSRUN_PAYMENT_MAXIMUM."
    )
# Shown on the Billing page when online payment is not set up: how to pay the operator.
PAYMENT_INSTRUCTIONS = os.environ.get("PRESSRUN_PAYMENT_INSTRUCTIONS", "").strip() or (
    "Online payment is not set up on this installation. To add credit, contact us with your "
    "publisher ID: we record your payment and your HOLD orders are released at once."
)


# --- shipping stations (warehouses/) --------------------------------------------------------
# Orders per page of the ShipStation Custom Store export (`<Orders pages="…">`).
SHIPSTATION_PAGE_SIZE = min(max(_env_int("PRESSRUN_SHIPSTATION_PAGE_SIZE", 100), 1), 500)
# Applied ship notices (and those an operator dealt with) are kept this long for reference.
SHIP_NOTICE_RETENTION_DAYS = max(_env_int("PRESSRUN_SHIP_NOTICE_RETENTION_DAYS", 90), 1)
# A publisher's warehouse that takes its orders by push (docs/warehouses.md): connecting and
# each read of a push give up after this many seconds (the whole attempt after three times
# that); the attempt is then a failure, retried on the push schedule. The push goes through
# the webhooks' outbound client, so PRESSRUN_WEBHOOKS_ALLOW_LOOPBACK applies to it too.
WAREHOUSE_PUSH_TIMEOUT_SECONDS = max(_env_int("PRESSRUN_WAREHOUSE_PUSH_TIMEOUT_SECONDS", 15), 1)
# Rate limits of the warehouse endpoints, per minute (warehouses/rate_limit.py): requests
# from a verified sender per connection, the ShipStation endpoint's exports and ShipNotices and
# the push protocol's confirmations and stock reports together (a backlog of 10,000 orders is
# 100 export pages; a batch of 500 labels, 500 ShipNotices), and requests whose sender does not
# check out (unknown connection, bad signature, wrong credentials) per client address. 0 turns
# a limit off.
WAREHOUSE_REQUESTS_PER_MINUTE = _env_int("PRESSRUN_WAREHOUSE_REQUESTS_PER_MINUTE", 1200)
WAREHOUSE_UNVERIFIED_PER_MINUTE = _env_int("PRESSRUN_WAREHOUSE_UNVERIFIED_PER_MINUTE", 60)


# --- monitoring (monitoring/, docs/operations.md "Monitoring") -----------------------------
# /metrics answers only a request carrying "Authorization: Bearer <this token>"; without a
# token set, /metrics is off (404). /healthz and /readyz need no token.
METRICS_TOKEN = os.environ.get("PRESSRUN_METRICS_TOKEN", "").strip()
# /readyz fails when a task due to run has waited longer than this for a worker. Whether a
# worker is alive is PRESSRUN_WORKER_DEAD_AFTER_SECONDS, as for the recovery of its tasks.
READY_MAX_TASK_WAIT_SECONDS = max(_env_int("PRESSRUN_READY_MAX_TASK_WAIT_SECONDS", 300), 1)


# --- logging -------------------------------------------------------------------------------
# Every log record of every process is redacted as it is made (passwords, tokens, keys,
# signatures, the customers' link tokens): core/log_redaction.py.
LOGGING_CONFIG = "pressrun.core.log_redaction.configure_logging"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("PRESSRUN_LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
