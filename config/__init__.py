"""Likefeed project package. The Celery app is exported here, as Celery's Django guide does."""

from .celery import app as celery_app

__all__ = ("celery_app",)
