"""Production: ``DJANGO_SETTINGS_MODULE=config.settings.production``.

``manage.py check --deploy`` passes with 0 warnings (tests/test_security_settings.py runs
it). Secrets come only from the environment: ``SECRET_KEY`` has no default and must be a
long random value, and the service URLs never had one. ``DEBUG`` is refused. TLS ends at a
proxy that sets X-Forwarded-Proto.
"""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import env
from .env import REQUIRED

if env.boolean("DEBUG", False):
    raise env.fail("DEBUG", "is refused by the production settings", "false")

_NEW_KEY = "$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')"
SECRET_KEY = env.string("SECRET_KEY", REQUIRED, example=_NEW_KEY)
if SECRET_KEY.startswith("django-insecure") or len(set(SECRET_KEY)) < 5 or len(SECRET_KEY) < 50:
    raise env.fail("SECRET_KEY", "must be a long random value in production", _NEW_KEY)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^api/health/$"]  # the load balancer's probe speaks plain HTTP
SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
