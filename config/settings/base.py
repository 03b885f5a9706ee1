"""Likefeed settings shared by every environment, driven by the environment's variables.

The layout is cookiecutter-django's: ``local`` (the default of ``manage.py``, the ASGI/WSGI
apps and Celery: development, and any stack started without ``DJANGO_SETTINGS_MODULE``),
``production`` (``DJANGO_SETTINGS_MODULE=config.settings.production``: ``DEBUG`` refused,
a real ``SECRET_KEY`` required, HTTPS only) and ``test`` (pytest) each start from this file.

Every value has a safe local default except the URLs of the services: ``DATABASE_URL`` and
``REDIS_URL`` are provided by ``config.services`` (embedded PostgreSQL/Redis) when unset, so
``make run`` and ``make test`` work on a bare machine. There is no SQLite code path.
Every variable is checked as it is read (``config.settings.env``): a wrong one stops the
process at start with one sentence, never a 500 at the first request that uses it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import environ
from csp.constants import NONE, SELF
from whitenoise.compress import Compressor

from .env import Env

BASE_DIR = Path(__file__).resolve().parent.parent.parent

environ.Env.read_env(BASE_DIR / ".env", overwrite=False)  # optional, for local overrides
env = Env()

if env.environ.get("LIKEFEED_ENV"):  # the switch before the settings package: never ignored
    raise env.fail(
        "LIKEFEED_ENV", "is no longer read (unset it)", "config.settings.production",
        instead="DJANGO_SETTINGS_MODULE",
    )  # fmt: skip

# Off here; config.settings.local turns it on by default (DEBUG=false there: a local stack
# without development conveniences, as the compose stack and make bench run).
DEBUG = False
ALLOWED_HOSTS = env.strings(
    "ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"], example="likefeed.example"
)
CSRF_TRUSTED_ORIGINS = env.strings("CSRF_TRUSTED_ORIGINS", [], example="https://likefeed.example")
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise env.fail(
            "CSRF_TRUSTED_ORIGINS", "names an origin without its scheme", "https://likefeed.example"
        )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's assets, served locally (no CDN)
    "channels",
    "django_celery_beat",
    "social",
    "likes",
    "feed",
    "notifications",
    "ops",
    "frontend",
]

MIDDLEWARE = [
    # First: a NUL or lone surrogate in a path, query or header, or a body declared over
    # DATA_UPLOAD_MAX_MEMORY_SIZE, is refused before a session, token or view reads it.
    "config.middleware.HostileInputMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every answer (django-csp; the policy is CONTENT_SECURITY_POLICY
    # below). Here, inside SecurityMiddleware: the like fast path repeats the view's headers
    # in this order (likes/asgi.py).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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

# --- PostgreSQL -------------------------------------------------------------------------
# psycopg's connection pool, not persistent per-thread connections: under ASGI each worker
# thread would keep its own connection forever and PostgreSQL runs out of slots.
DATABASES = {"default": env.database_url("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
    "min_size": env.integer("DB_POOL_MIN", 1),
    "max_size": env.integer("DB_POOL_MAX", 8, at_least=1),
    # Seconds a request waits for a connection before it is answered 503 (config.exceptions):
    # far above any wait for a free one under load (a like holds one ~0.5 ms), short enough
    # that a client whose database is down hears so instead of waiting (tests/chaos/).
    "timeout": env.number("DB_POOL_TIMEOUT", 5.0, at_least=0.1),
}
if (_pool := DATABASES["default"]["OPTIONS"]["pool"])["min_size"] > _pool["max_size"]:
    raise env.fail("DB_POOL_MIN", f"is above DB_POOL_MAX ({_pool['max_size']})", "1")
# Threads that run Django's HTTP requests in each web process (config/asgi.py: Django as
# WSGI in a thread pool, inside uvicorn beside the sockets); by default one per pooled
# connection: a thread beyond the pool's size would only wait for a connection.
WEB_THREADS = env.integer("WEB_THREADS", _pool["max_size"], at_least=1)
if _pool["max_size"] < WEB_THREADS:
    raise env.fail("WEB_THREADS", f"is above DB_POOL_MAX ({_pool['max_size']})", "4")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "social.User"

# --- Redis: feed store, resume log, channel layer and (by default) Celery's broker ------------
REDIS_URL = env.url(
    "REDIS_URL", schemes=("redis", "rediss", "unix"), example="redis://127.0.0.1:6379/0"
)
# Prefix of every key and pub/sub channel this deployment owns in Redis (tests set their own).
REDIS_PREFIX = env.string("REDIS_PREFIX", "lf", pattern=r"\S+", what="a prefix without spaces")

# Cluster mode (README "Scaling", ``make cluster``): feeds, seqs, event logs, presence and
# every other key of this deployment on a Redis Cluster, named by any of its nodes
# (comma-separated redis:// URLs); unset, they are on REDIS_URL. Keys are hash-tagged per user
# on both layouts (feed.store), so the code is the same.
FEED_REDIS_CLUSTER_URLS = env.strings(
    "FEED_REDIS_CLUSTER_URLS", [], example="redis://127.0.0.1:7001,redis://127.0.0.1:7002"
)
if any(not re.fullmatch(r"redis://[^\s/:]+:[0-9]+/?", url) for url in FEED_REDIS_CLUSTER_URLS):
    raise env.fail(
        "FEED_REDIS_CLUSTER_URLS",
        "is not a list of redis://host:port URLs",
        "redis://127.0.0.1:7001",
    )
# The channel layer's Redis hosts (comma-separated): channels-redis shards groups over them by
# a CRC of the channel name; feed.live publishes to the same shard. Unset: REDIS_URL alone.
CHANNEL_LAYER_URLS = env.strings("CHANNEL_LAYER_URLS", [REDIS_URL], example=REDIS_URL)

CHANNEL_LAYER_PREFIX = f"{REDIS_PREFIX}:ws"
CHANNEL_LAYERS = {
    "default": {
        # Pub/sub layer: one PUBLISH per group_send, one SUBSCRIBE per group per process.
        # Live events are also kept in a per-user log (feed.store), so a message published
        # while a socket is away is replayed on `resume`, not lost.
        # channels-redis' pub/sub layer with a bounded inbox per socket (feed.live):
        # a client that stops reading costs at most WS_INBOX_CAPACITY messages; past that the
        # oldest are dropped and the socket catches up from the event log by seq.
        "BACKEND": "feed.live.BoundedPubSubChannelLayer",
        "CONFIG": {
            "hosts": CHANNEL_LAYER_URLS,
            "prefix": CHANNEL_LAYER_PREFIX,
            "capacity": env.integer("WS_INBOX_CAPACITY", 100),
        },
    },
}

# --- Celery ----------------------------------------------------------------------------------
CELERY_BROKER_URL = env.url(
    "CELERY_BROKER_URL", REDIS_URL, schemes=("redis", "rediss", "amqp", "amqps", "pyamqp"),
    example="amqp://guest:guest@127.0.0.1:5672/likefeed (or unset: REDIS_URL)",
)  # fmt: skip
CELERY_TASK_IGNORE_RESULT = True  # nobody reads a fan-out's return value
CELERY_RESULT_BACKEND = env.url(
    "CELERY_RESULT_BACKEND",
    REDIS_URL,
    schemes=("redis", "rediss"),
    example="redis://127.0.0.1:6379/0",
)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "fanout"
# Queues by task length: a celebrity's fan-out is cut into chunk tasks on "fanout_bulk",
# served by its own worker, so ordinary fan-outs on "fanout" never wait behind it.
CELERY_TASK_ROUTES = {
    "feed.tasks.fanout_chunk": {"queue": "fanout_bulk"},
    "feed.tasks.unfanout_chunk": {"queue": "fanout_bulk"},
    # Mail waits on someone else's SMTP server: its own queue and worker, never in the way.
    "notifications.tasks.send_like_mail": {"queue": "mail"},
}
# Celery's Django fix-up closes every database connection before and after each task, and
# in a prefork worker with Django's pool it closes the *pool* too: each task then opened a
# pool (four threads) and a new PostgreSQL connection, a third of a fan-out worker's CPU
# under `make loadtest` (py-spy). With a reuse count it leaves them alone (closing all only
# every 2,000 task boundaries); config/celery.py gives each task's connection back to the
# pool instead, checked as Django checks one at each request's end.
CELERY_DB_REUSE_MAX = 1000
CELERY_WORKER_PREFETCH_MULTIPLIER = env.integer("CELERY_WORKER_PREFETCH_MULTIPLIER", 4)
# A missing broker is a configuration error, not a retry loop (see config/run.py).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = False
CELERY_BROKER_CONNECTION_TIMEOUT = 3.0
# Redis broker only (RabbitMQ redelivers as soon as a consumer's connection drops): a message
# a worker took but never acknowledged (the worker was killed) goes back to the queue after
# this many seconds. Chosen, not defaulted: long enough that no task still running or waiting
# in a worker's prefetch is ever handed out twice (a fan-out chunk takes well under a second;
# prefetch holds at most a few short tasks), short enough that a lost late-ack task returns
# in minutes rather than Celery's default hour. For likes and posts the outbox sweeper is
# faster still (FANOUT_OWED_AFTER_S); this bounds the rest (unlikes).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.integer("CELERY_VISIBILITY_TIMEOUT_S", 300, at_least=1),
    # A broker that stops answering fails a publish in seconds instead of hanging the request
    # that queues it (the like is stored either way and the sweeper re-queues its fan-out).
    "socket_connect_timeout": 3,
    "socket_timeout": 10,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# What a task prints (a mail, with EMAIL_URL=consolemail://) is news, not a warning.
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"
# Periodic jobs: defined here, kept in the database by django-celery-beat (visible and
# editable in the admin under "Periodic tasks"); `make run` starts the beat process. The
# scheduler seeds these once and then leaves the admin's edits alone (config/beat.py).
CELERY_BEAT_SCHEDULER = "config.beat:SeedOnceDatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "sweep-owed-fanouts": {
        "task": "feed.tasks.sweep_owed_fanouts",
        "schedule": env.number("FANOUT_SWEEP_EVERY_S", 30.0, at_least=0.1),
    },
    "recount-likes": {
        "task": "likes.tasks.recount_likes",
        "schedule": env.number("RECOUNT_EVERY_S", 3600.0, at_least=0.1),
        "kwargs": {"fix": True},
    },
}

# --- Feed ------------------------------------------------------------------------------------
FEED_MAX_ITEMS = env.integer("FEED_MAX_ITEMS", 800, at_least=1)  # Mastodon keeps 800 per home feed
# Mastodon's rule: fan-out on write skips followers not seen for this many days (no feed read);
# their feed is rebuilt from the people they follow when they come back (feed.activity).
# 0: every follower is written.
FEED_ACTIVE_DAYS = env.integer("FEED_ACTIVE_DAYS", 14, at_least=0)
FEED_EVENT_LOG_LENGTH = env.integer("FEED_EVENT_LOG_LENGTH", 500, at_least=1)
FEED_EVENT_LOG_TTL_S = env.integer("FEED_EVENT_LOG_TTL_S", 24 * 3600, at_least=1)
FANOUT_CHUNK_SIZE = env.integer("FANOUT_CHUNK_SIZE", 1000, at_least=1)
# Followers above which a fan-out is split into chunk tasks on the bulk queue.
FANOUT_BULK_THRESHOLD = env.integer("FANOUT_BULK_THRESHOLD", 5000, at_least=1)
# Followers per chunk task on the bulk queue (each writes them FANOUT_CHUNK_SIZE at a time).
FANOUT_BULK_CHUNK = env.integer("FANOUT_BULK_CHUNK", 10000, at_least=1)
# A like still not fanned out after this long is re-queued by the sweeper.
FANOUT_OWED_AFTER_S = env.integer("FANOUT_OWED_AFTER_S", 60, at_least=1)
# ...but only while the fan-out queues hold at most this many tasks (see the sweeper).
FANOUT_SWEEP_MAX_BACKLOG = env.integer("FANOUT_SWEEP_MAX_BACKLOG", 500)
FOLLOW_BACKFILL_POSTS = env.integer("FOLLOW_BACKFILL_POSTS", 20)
# A like reaching more followers than this logs and publishes live events only for those
# online (a user counts as online while a socket of theirs is open and PRESENCE_TTL_S
# after); every other fan-out logs them for every follower, for `resume`.
FANOUT_LIVE_ALL_MAX = env.integer("FANOUT_LIVE_ALL_MAX", 10_000)
PRESENCE_TTL_S = env.integer("PRESENCE_TTL_S", 120, at_least=1)
WS_HEARTBEAT_S = env.number("WS_HEARTBEAT_S", 25.0, at_least=0.1)
WS_MAX_SUBSCRIBED_POSTS = env.integer("WS_MAX_SUBSCRIBED_POSTS", 200, at_least=1)
# Open sockets per user in one web process: one more is told why and closed (code 4429).
# Tabs and devices of one person, with room to spare; a script opening hundreds is refused.
WS_MAX_SOCKETS_PER_USER = env.integer("WS_MAX_SOCKETS_PER_USER", 20, at_least=1)

# --- Mail ------------------------------------------------------------------------------------
# One URL, as for the database: smtp://user:password@host:587 (smtp+tls://, smtp+ssl://),
# consolemail:// (development, config.settings.local: mails are printed by the mail worker).
# Tests use locmem in process and a real SMTP server of their own for the live stack.
# (django-environ's way: the URL becomes EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT, ...)
vars().update(env.email_url("EMAIL_URL", "smtp://localhost:25"))
EMAIL_TIMEOUT = env.integer("EMAIL_TIMEOUT", 30, at_least=1)
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", "Likefeed <likefeed@localhost>")
SITE_URL = env.url(  # links in mails
    "SITE_URL",
    "http://127.0.0.1:8000",
    schemes=("http", "https"),
    example="https://likefeed.example",
)
# A burst of likes of one post within this many seconds becomes one mail to its author. Keep
# it well under the Redis broker's visibility_timeout: a task whose countdown outlasts it is
# delivered a second time (harmless, the watermark sends nothing twice, but a wasted run).
LIKE_MAIL_DEBOUNCE_S = env.number("LIKE_MAIL_DEBOUNCE_S", 120.0)

# --- Ops ---------------------------------------------------------------------------------------
# When set, /metrics wants "Authorization: Bearer <METRICS_TOKEN>"; otherwise keep /metrics
# off the public side of the load balancer.
METRICS_TOKEN = env.string("METRICS_TOKEN", "")

# --- API -------------------------------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "social.tokens.TokenAuth",  # a token per login, revocable, expiring
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bounded in size and depth, storable text only (config.parsers).
    "DEFAULT_PARSER_CLASSES": ["config.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # The client address a throttle counts (DRF's get_ident): the socket's peer, unless the
    # deployment says how many proxies in front of it append to X-Forwarded-For. Trusting
    # the header by default let anyone pick a fresh address per login attempt.
    "NUM_PROXIES": env.integer("TRUSTED_PROXY_COUNT", 0),
}
# The pages load scripts, styles, images and fonts from this origin only, and no inline
# script or style (the UI, the ops page and Swagger UI keep theirs in files): an injected
# <script> or style="" does nothing. data: images are Swagger UI's icons; connect-src 'self'
# covers the same origin's ws:// and wss:// (CSP level 3). Nothing may frame a page.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Seconds an API token works after the login that issued it (social.tokens); a logout ends
# it sooner. Knox's default is 10 hours; a month here, as scripts and apps hold their token.
TOKEN_TTL = env.integer("TOKEN_TTL", 30 * 86400, at_least=1)
# Django's refusal of a CSRF check: JSON under /api/, Django's page elsewhere.
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"

SPECTACULAR_SETTINGS = {
    "TITLE": "Likefeed API",
    "DESCRIPTION": "The public contract of Likefeed (shared/CONTRACT.md).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# Rate limits (config.throttling), kept in Redis: 429 with Retry-After past them.
THROTTLE_RATES = {
    "like": env.rate("THROTTLE_RATE_LIKE", "120/min"),  # likes + unlikes per user
    "login": env.rate("THROTTLE_RATE_LOGIN", "10/min"),  # per address and username
    "register": env.rate("THROTTLE_RATE_REGISTER", "20/hour"),  # per client address
    "post": env.rate("THROTTLE_RATE_POST", "30/min"),  # posts per user
    "follow": env.rate("THROTTLE_RATE_FOLLOW", "60/min"),  # follows + unfollows per user
    # /admin/login/ attempts per address and username (as login)
    "admin_login": env.rate("THROTTLE_RATE_ADMIN_LOGIN", "10/min"),
}
# Usernames never throttled, e.g. a load test's accounts: "loadtest-*" (trailing * = prefix).
THROTTLE_EXEMPT_USERS = env.strings("THROTTLE_EXEMPT_USERS", [], example="loadtest-*")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Source maps (the API docs' bundles carry 6 MB of them) are for a developer's browser tools,
# never for a page: compressing them with Brotli was most of collectstatic's minute of CPU,
# which every `make run` on a fresh machine waits for.
WHITENOISE_SKIP_COMPRESS_EXTENSIONS = [*Compressor.SKIP_COMPRESS_EXTENSIONS, "map"]
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed, collected once (config.settings.local serves from the apps' static/
    # while DEBUG).
    "staticfiles": {"BACKEND": "config.storage.StaticStorage"},
}

# Keep every existing logger (uvicorn's error log included): a 500 must leave a trace.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.log_level("LOG_LEVEL", "INFO")},
}
