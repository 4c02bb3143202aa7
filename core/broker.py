"""Waking workers without letting a broker outage slow the web down.

The database row is the record; a message only wakes a worker, and each outbox has a sweep that
finds what was written without one. So when publishing fails, this process skips publishing for
``BROKER_BACKOFF_SECONDS`` instead of making every request wait on a dead broker.

Domain code queues its tasks by name (``send_task``), never by importing a ``tasks`` module: each
``tasks.py`` imports the domain functions it runs, so it stays the top of its app, imported only
by the worker and beat.
"""

import logging
import time

from celery import current_app

logger = logging.getLogger(__name__)

BROKER_BACKOFF_SECONDS = 15
_down_until = 0.0


def publish(send, what):
    """Call ``send()`` (which publishes); False if skipped or it failed (logged, never raised)."""
    global _down_until
    if time.monotonic() < _down_until:
        return False
    try:
        send()
    except Exception:
        _down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning("could not queue %s; the sweep will", what, exc_info=True)
        return False
    return True


def publish_tasks(messages, what):
    """``publish`` of ``messages``, ``(task name, args)`` pairs, in one batch (``send_tasks``)."""
    return publish(lambda: send_tasks(messages), what)


def send_tasks(messages):
    """Queue ``messages``, ``(task name, args)`` pairs, in this order with one producer: on Redis
    one round trip for them all, where each message alone costs one (and its own producer).
    Raises what the broker raises, as ``send_task`` does, without retrying."""
    with current_app.producer_or_acquire() as producer, producer.batch():
        for name, args in messages:
            current_app.send_task(name, args=args, retry=False, producer=producer)


def send_task(name, *args, **options):
    """Queue the task registered as ``name`` with ``args``; raises what the broker raises.

    ``CELERY_TASK_ROUTES`` picks the queue from the name, as for ``task.apply_async``; ``options``
    are ``apply_async``'s (``retry=False``: fail at once rather than hold the caller)."""
    return current_app.send_task(name, args=args, **options)
