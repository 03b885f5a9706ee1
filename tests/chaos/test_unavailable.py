"""The one mapping the PostgreSQL scenario relies on, shown directly: a database that cannot
be reached is a 503 with Retry-After in the error shape every answer uses, never a 500."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError
from psycopg_pool import PoolTimeout

from config.exceptions import api_exception_handler


def test_an_unreachable_database_is_a_503_with_retry_after():
    for error in (
        OperationalError("server closed the connection unexpectedly"),
        InterfaceError("connection already closed"),
    ):
        answer = api_exception_handler(error, {})
        assert answer is not None and answer.status_code == 503
        assert answer["Retry-After"] == "5"
        assert answer.data["error"] == "unavailable" and answer.data["detail"]


def test_a_pool_timeout_reaches_the_handler_as_an_operational_error():
    # Django wraps driver errors by their DB-API class: psycopg_pool's timeout is one.
    import psycopg

    assert issubclass(PoolTimeout, psycopg.OperationalError)
