# One image for every Likefeed process: web, each Celery worker, beat and Flower differ only
# in their command (docker-compose.yml). The shape of cookiecutter-django's production image,
# in one stage: nothing here compiles (every dependency ships a wheel).

# Pinned to a patch release, the same Python the project is developed and tested on.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN groupadd --system likefeed \
    && useradd --system --gid likefeed --home-dir /app --shell /usr/sbin/nologin likefeed

WORKDIR /app

# Dependencies in their own layer, rebuilt only when pyproject.toml or the lock change: the
# project's runtime dependencies at the lock's versions; none of the optional groups (no dev
# tools, no load-test or plotting libraries) and no embedded servers.
COPY pyproject.toml requirements.lock ./
COPY compose/runtime_requirements.py compose/
RUN python compose/runtime_requirements.py > /tmp/requirements.txt \
    && pip install --requirement /tmp/requirements.txt --constraint requirements.lock \
    && rm /tmp/requirements.txt

COPY . .

# Static files, collected once at build time (WhiteNoise serves them, hashed and compressed).
# The settings want the services' URLs to load; nothing is contacted.
RUN DATABASE_URL=postgresql://build/unused REDIS_URL=redis://build:6379/0 \
    SECRET_KEY=build-only DEBUG=false \
    python manage.py collectstatic --noinput --verbosity 0

# Settings: config.settings.local unless DJANGO_SETTINGS_MODULE says otherwise; the compose
# stack runs it with DEBUG=false over plain HTTP, a deployment behind TLS sets
# DJANGO_SETTINGS_MODULE=config.settings.production (README, "Configuration").

# The code and the static files stay root's: the processes can read them, not change them.
USER likefeed

EXPOSE 8000
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000"]
