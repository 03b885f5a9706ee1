"""The test suite's settings (pytest-django: pyproject.toml), the local ones plus speed.

The live stack's processes that the suite starts inherit ``DJANGO_SETTINGS_MODULE`` from
pytest, so they run these too. What the suite's environment sets (its Redis prefix, small
fan-out chunks, ...) is in tests/environment.py: variables, so every child process sees them.
"""

from __future__ import annotations

from .local import *  # noqa: F403

# Django's default hasher spends ~0.3 s of CPU per password by design; the suite registers
# and logs in hundreds of accounts through the API. A fast hasher, as cookiecutter-django's
# test settings use: what is tested is who may log in, not the hash's cost.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
