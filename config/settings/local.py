"""Development and local stacks: the default of ``manage.py``, the ASGI/WSGI apps and Celery.

``DEBUG`` is on unless ``DEBUG=false`` (the compose stack and ``make bench`` run so: the
production code paths, over plain HTTP); with it off, a ``SECRET_KEY`` is required.
"""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import REST_FRAMEWORK, STORAGES, env
from .env import REQUIRED

DEBUG = env.boolean("DEBUG", True)
SECRET_KEY = env.string(
    "SECRET_KEY",
    "django-insecure-likefeed-local-development-only" if DEBUG else REQUIRED,
    example="$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')",
)

if DEBUG:
    # Mails printed by the mail worker, the browsable API, static files straight from the
    # apps' static/ folders (no collectstatic), reloaded as they change.
    vars().update(env.email_url("EMAIL_URL", "consolemail://"))
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = [
        *REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"],
        "rest_framework.renderers.BrowsableAPIRenderer",
    ]
    WHITENOISE_USE_FINDERS = True
    WHITENOISE_AUTOREFRESH = True
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
