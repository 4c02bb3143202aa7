"""Waiting for what a worker, a thread or a subprocess does, without a fixed sleep."""

import time

import pytest


def poll_until(predicate, *, timeout, interval=0.1):
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy or
    ``timeout`` seconds have passed; return its last value (falsy when time ran out).

    For callers that report a timeout themselves; ``wait_until`` fails the test instead."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def wait_until(predicate, *, timeout, interval=0.1, message="the condition never held"):
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy, and
    return that value. After ``timeout`` seconds, fail the test with ``message`` (a text, or a
    function giving it, called only then: to read a log, say) and the predicate's last value."""
    value = poll_until(predicate, timeout=timeout, interval=interval)
    if not value:
        text = message() if callable(message) else message
        pytest.fail(f"{text}\n(waited {timeout} s; last value: {value!r})")
    return value
