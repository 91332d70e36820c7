"""Waiting for background work in tests: poll a condition until a deadline.

Background uploads, watchers and servers finish when they finish; a test
waits for the *effect* with :func:`eventually` instead of sleeping a fixed
time. The deadline is a bound on patience, never a claim about speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["eventually"]

_T = TypeVar("_T")


def eventually(check: Callable[[], _T], *, timeout: float = 20.0, interval: float = 0.02,
               what: str = "the condition") -> _T:
    """Call ``check`` until it returns something true, and return that.

    :param check: a function without arguments.
    :param timeout: seconds to keep trying (generous: machines are shared).
    :param interval: seconds between tries.
    :param what: what is awaited, for the failure message.
    :raises AssertionError: still false after ``timeout`` seconds.

    >>> eventually(lambda: 42)
    42
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(interval)
