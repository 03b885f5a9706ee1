"""The Celery lessons, measured on the running system: see ``python -m lessons --help``."""
