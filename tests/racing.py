"""Requests sent at the same moment from two connections, for the races PostgreSQL decides."""

import threading
from collections.abc import Callable
from typing import TypeVar

import pytest
from django.db import connection, connections

T = TypeVar("T")

POSTGRESQL = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need a server with concurrent writers"
)


def at_once(send: Callable[[], T], times: int = 2) -> list[T]:
    """Call `send` from `times` threads released together; their answers, in the order they
    came."""
    answers: list[T] = []
    start = threading.Barrier(times)

    def one() -> None:
        try:
            start.wait()
            answers.append(send())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers
