"""Settings read from the environment, each checked as it is read.

Why not django-environ's readers alone: they let a wrong value through to the first request
that uses it (``THROTTLE_RATE_LIKE=100000/minute`` started the stack and then answered every
like with a 500), turn ``DEBUG=ture`` into ``False`` without a word, and answer a bad number
with a traceback. Here every reader knows what a right value looks like, and a wrong one
stops the process while its settings load (web server, each Celery worker, beat,
``manage.py``, pytest), with one sentence naming the setting and an example of a right value,
as ``make run`` does for a missing broker. django-environ still parses the URLs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

REQUIRED: Any = object()  # a setting without a default: unset is an error

# The spellings Django REST framework accepts for a rate's period ("<count>/<period>").
RATE_PERIODS = {
    **dict.fromkeys(("s", "sec", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}
_TRUE = ("true", "1", "yes", "on", "y")
_FALSE = ("false", "0", "no", "off", "n")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingError(SystemExit):
    """A setting from the environment is wrong: the process stops with this one sentence.

    A ``SystemExit`` rather than ``ImproperlyConfigured`` on purpose: Python prints its
    message alone (no traceback) and exits 1 wherever settings load (``manage.py`` would
    otherwise hold ``ImproperlyConfigured`` back and re-raise it with a traceback)."""

    def __init__(self, name: str, problem: str, example: str, *, instead: str = "") -> None:
        self.name = name
        sep = "" if problem.startswith("=") else " "
        fix = f"set {instead}={example} instead" if instead else f"set it like {name}={example}"
        super().__init__(f"likefeed: {name}{sep}{problem}; {fix}.")


def parse_rate(rate: str) -> tuple[int, int]:
    """``"120/min"`` → (120 requests, 60 seconds). Raises ValueError on anything else.

    Periods as Django REST framework spells them: s, sec, second, m, min, minute, h, hour,
    d, day (and the plurals)."""
    count, _, period = rate.strip().partition("/")
    if period not in RATE_PERIODS or not count.isdigit() or int(count) < 1:
        raise ValueError(f"not a rate: {rate!r} (say e.g. '120/min')")
    return int(count), RATE_PERIODS[period]


def _quoted(name: str, raw: str) -> str:
    """The wrong value as a refusal shows it: never a secret, nor a URL's password."""
    if any(word in name for word in ("SECRET", "TOKEN", "PASSWORD")):
        return ""
    try:
        parts = urlsplit(raw)
        if parts.password:
            raw = raw.replace(f":{parts.password}@", ":***@", 1)
    except ValueError:
        pass
    return f"={raw!r}"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


class Env:
    """Typed, checked readers of ``environ`` (``os.environ`` unless a test gives another).

    An unset or empty variable takes the default; a required one (no default) must be set.
    ``example`` is the right value a refusal shows; it defaults to the default."""

    def __init__(self, environ_: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ_ is None else environ_

    def _raw(self, name: str, default: Any, example: str | None) -> str | None:
        raw = self.environ.get(name, "").strip()
        if raw:
            return raw
        if default is REQUIRED:
            raise SettingError(name, "is not set", example or "...")
        return None

    def fail(self, name: str, problem: str, example: str, *, instead: str = "") -> SettingError:
        """The refusal for a check the readers cannot make alone (one setting against
        another): ``raise env.fail(...)``."""
        quoted = _quoted(name, self.environ.get(name, "").strip())
        return SettingError(name, f"{quoted} {problem}" if quoted else problem, example,
                            instead=instead)  # fmt: skip

    def _wrong(self, name: str, raw: str, what: str, example: Any) -> SettingError:
        quoted = _quoted(name, raw)
        return SettingError(name, f"{quoted} is not {what}" if quoted else f"is not {what}",
                            _shown(example))  # fmt: skip

    def string(
        self,
        name: str,
        default: Any = REQUIRED,
        *,
        example: str | None = None,
        pattern: str | None = None,
        what: str = "a valid value",
    ) -> str:
        raw = self._raw(name, default, example)
        if raw is None:
            return str(default)
        if pattern and not re.fullmatch(pattern, raw):
            raise self._wrong(name, raw, what, example or default)
        return raw

    def integer(self, name: str, default: Any = REQUIRED, *, at_least: int = 0) -> int:
        raw = self._raw(name, default, None if default is REQUIRED else str(default))
        if raw is None:
            return int(default)
        try:
            value = int(raw)
        except ValueError:
            raise self._wrong(name, raw, "a whole number", default) from None
        if value < at_least:
            raise self._wrong(name, raw, f"a whole number of at least {at_least}", default)
        return value

    def number(self, name: str, default: Any = REQUIRED, *, at_least: float = 0.0) -> float:
        raw = self._raw(name, default, None if default is REQUIRED else str(default))
        if raw is None:
            return float(default)
        try:
            value = float(raw)
        except ValueError:
            raise self._wrong(name, raw, "a number", default) from None
        if not value >= at_least:  # also refuses nan
            raise self._wrong(name, raw, f"a number of at least {at_least:g}", default)
        return value

    def boolean(self, name: str, default: Any = REQUIRED) -> bool:
        raw = self._raw(name, default, "true")
        if raw is None:
            return bool(default)
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise self._wrong(name, raw, "true or false", "true" if default is REQUIRED else default)

    def strings(
        self, name: str, default: Any = REQUIRED, *, example: str | None = None
    ) -> list[Any]:
        raw = self._raw(name, default, example)
        if raw is None:
            return list(default)
        return [item.strip() for item in raw.split(",") if item.strip()]

    def rate(self, name: str, default: str) -> str:
        """A rate limit, ``"<count>/<period>"``; kept as text, as DRF keeps its rates."""
        raw = self._raw(name, default, default)
        if raw is None:
            return default
        try:
            parse_rate(raw)
        except ValueError:
            raise self._wrong(
                name, raw, "a rate (a count per s, sec, second, m, min, minute, h, hour, d or day)",
                default,
            ) from None  # fmt: skip
        return raw

    def log_level(self, name: str, default: str) -> str:
        raw = self._raw(name, default, default)
        level = (raw or default).upper()
        if level not in _LOG_LEVELS:
            raise self._wrong(name, raw or "", f"a log level ({', '.join(_LOG_LEVELS)})", default)
        return level

    def url(
        self,
        name: str,
        default: Any = REQUIRED,
        *,
        schemes: tuple[str, ...],
        example: str,
        needs_server: bool = True,
    ) -> str:
        """A URL whose scheme is one of ``schemes`` and, if ``needs_server``, which names a
        host (or a socket)."""
        raw = self._raw(name, default, example)
        if raw is None:
            return str(default)
        try:
            parts = urlsplit(raw)
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number
        except ValueError:
            raise self._wrong(name, raw, "a URL", example) from None
        if parts.scheme not in schemes:
            *others, last = [f"{s}://" for s in schemes]
            what = (
                f"a URL starting with {', '.join(others)} or {last}" if others else f"a {last} URL"
            )
            raise self._wrong(name, raw, what, example)
        if needs_server and not (parts.netloc or parts.path or parts.query):
            raise self._wrong(name, raw, "a URL naming a server", example)
        return raw

    def database_url(self, name: str) -> dict[str, Any]:
        """``DATABASE_URL``: a PostgreSQL URL, as Django's ``DATABASES["default"]``."""
        example = "postgresql://user:password@127.0.0.1:5432/likefeed"
        url = self.url(name, schemes=("postgresql", "postgres", "pgsql"), example=example)
        config: dict[str, Any] = environ.Env.db_url_config(url)
        return config

    def email_url(self, name: str, default: str) -> dict[str, Any]:
        """``EMAIL_URL``, django-environ's way: the URL becomes EMAIL_BACKEND, EMAIL_HOST, ..."""
        example = "smtp://user:password@mail.example.com:587"
        url = self.url(
            name, default,
            schemes=("smtp", "smtps", "smtp+tls", "smtp+ssl", "consolemail", "filemail",
                     "memorymail", "dummymail"),
            example=example, needs_server=False,  # consolemail:// names none
        )  # fmt: skip
        try:
            config: dict[str, Any] = environ.Env.email_url_config(url)
        except (ImproperlyConfigured, ValueError):
            raise self._wrong(name, url, "a mail URL", example) from None
        return config
