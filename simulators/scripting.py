"""What the simulators' test scripting shares: scripted faults, the answers a fault's delay holds
back until ``release``, and a scenario clock tests move forward."""

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class Fault:
    """An answer scripted in place of the normal one: ``status`` with ``headers`` and ``body``
    after ``delay`` seconds. Simulators add what else selects or shapes their faults."""

    status: int
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0

    def answers(self):
        """Whether the fault answers a request (a subclass takes the request's particulars)."""
        return True


class FaultScript:
    """Scripted faults for a simulator with ``self.lock`` and ``self.faults`` (a list), of its
    ``fault_class``, whose own fields select the requests a fault answers."""

    fault_class = Fault

    def fail_next(self, path_prefix, status, headers=None, body=None, delay=0.0, times=1, **more):
        """The next ``times`` requests whose path starts with ``path_prefix`` (and that the
        simulator's ``more`` fault fields select) answer ``status`` with ``headers`` and ``body``
        (the simulator's error body when None) after ``delay`` seconds. Status 200 with no body
        only delays."""
        fault = self.fault_class(status, dict(headers or {}), body, delay, **more)
        with self.lock:
            self.faults.extend([(path_prefix, fault)] * times)

    def _take_fault(self, path, **request):
        with self.lock:
            for index, (prefix, fault) in enumerate(self.faults):
                if path.startswith(prefix) and fault.answers(**request):
                    del self.faults[index]
                    return fault
        return None


def as_bytes(body):
    """A scripted body as sent: None and bytes as they are, str encoded, anything else as JSON."""
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


class HeldAnswers:
    """Answers waiting out a scripted delay; ``release`` wakes every one of them at once."""

    def __init__(self):
        self._wake = threading.Condition(threading.Lock())
        self._generation = 0

    def release(self):
        with self._wake:
            self._generation += 1
            self._wake.notify_all()

    def sleep(self, seconds):
        if seconds <= 0:
            return
        with self._wake:
            generation = self._generation
            self._wake.wait_for(lambda: self._generation != generation, timeout=seconds)


def to_ms(value):
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class ScenarioClock:
    """Scenario time: real time plus everything ``advance`` added, to the millisecond. The class
    it is mixed into sets ``self.lock`` (an RLock) and ``self._offset``."""

    def now(self):
        with self.lock:
            offset = self._offset
        return to_ms(datetime.now(UTC) + timedelta(seconds=offset))

    def advance(self, seconds):
        """Move the scenario clock forward: scheduled steps up to the new time happen."""
        with self.lock:
            self._offset += float(seconds)
            self._clock_moved()
        return self.now()

    def _clock_moved(self):
        """Called under the lock once ``advance`` moved the clock."""
