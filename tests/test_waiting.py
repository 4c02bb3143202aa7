"""The tests' one way of waiting for something to happen."""

import pytest

from tests.waiting import poll_until, wait_until


def test_wait_until_returns_the_first_truthy_value():
    answers = iter([None, 0, "ready", "later"])
    assert wait_until(lambda: next(answers), timeout=5, interval=0) == "ready"


def test_wait_until_fails_with_the_message_and_the_last_value():
    with pytest.raises(pytest.fail.Exception) as failure:
        wait_until(lambda: [], timeout=0.05, interval=0.01, message="no rows arrived")
    assert "no rows arrived" in str(failure.value)
    assert "last value: []" in str(failure.value)


def test_a_message_function_is_called_only_on_timeout():
    calls = []

    def message():
        calls.append(1)
        return "the log says why"

    assert wait_until(lambda: True, timeout=1, message=message)
    assert calls == []
    with pytest.raises(pytest.fail.Exception, match="the log says why"):
        wait_until(lambda: False, timeout=0, message=message)
    assert calls == [1]


def test_poll_until_returns_the_last_value_when_time_runs_out():
    assert poll_until(lambda: 0, timeout=0.05, interval=0.01) == 0


def test_poll_until_asks_at_least_once():
    calls = []
    poll_until(lambda: calls.append(1), timeout=0, interval=0)
    assert calls == [1]
