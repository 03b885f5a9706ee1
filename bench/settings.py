"""Settings of the stack ``make bench`` measures: the local ones (``DEBUG=false`` in its
environment: the production code paths over plain HTTP) plus the baselines, which only the
bench routes (``bench.urls``) and whose ``bench_hotpath`` command only it installs."""

from __future__ import annotations

import os

from config.settings.local import *  # noqa: F403
from config.settings.local import INSTALLED_APPS

ROOT_URLCONF = "bench.urls"
INSTALLED_APPS = [*INSTALLED_APPS, "bench"]

# The like fast path (``likes.asgi``) on, as in production; the bench's second web server sets
# ``BENCH_LIKE_FAST_PATH=false`` to measure the same token like through Django's own view.
LIKE_FAST_PATH = os.environ.get("BENCH_LIKE_FAST_PATH", "true").lower() != "false"
