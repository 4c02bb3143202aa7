"""Many feed sources polled at once from one task: a pool of threads in each worker process.

A poll spends most of its time waiting on Graph (a token, the overviews, the issues), so one
process polls a batch of sources at once, one thread each. Each thread keeps its kept-alive HTTP
connections (``outbound.transport`` holds one session per thread) and its database connection
(Django's, per thread, renewed as ``CONN_MAX_AGE`` says) from one batch to the next. Nothing else
changes: every poll takes its source's lease, spends the tenant's Graph request budgets and
records its own outcome, so a failure stays with its source and shows on the Feeds page.
"""

import functools
import queue
import threading
from concurrent.futures import Future

from django.db import close_old_connections, connections

from servicehealth import polling

# A task's batch is polled all at once, so a batch lasts one poll (≤ feeds.POLL_DEADLINE_SECONDS,
# within the task's time limit).
POLL_THREADS = polling.POLL_BATCH


class PollPool:
    """``threads`` threads polling the sources submitted to them, until ``close``."""

    def __init__(self, threads):
        self._jobs = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"feed-poll-{n}", daemon=True)
            for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, source_id):
        """A Future of ``polling.poll(source_id)``."""
        future = Future()
        self._jobs.put((future, source_id))
        return future

    def _work(self):
        while (job := self._jobs.get()) is not None:
            future, source_id = job
            close_old_connections()
            try:
                future.set_result(polling.poll(source_id))
            except Exception as exc:
                future.set_exception(exc)
            finally:
                close_old_connections()
        connections.close_all()

    def close(self):
        """Let the threads finish what they hold, then stop them and close their connections."""
        for _thread in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()


@functools.cache
def _pool():
    # Made on first use, in the worker process that polls (never before a fork).
    return PollPool(POLL_THREADS)


def poll_many(source_ids):
    """Poll ``source_ids`` at once (``POLL_THREADS`` at a time). Returns {source id: its
    PollSummary, or the exception its poll ended with, already recorded on the source}."""
    if connections["default"].vendor == "sqlite":
        # SQLite (make run) takes one writer at a time: threads would only wait on its lock.
        return {source_id: _outcome(polling.poll, source_id) for source_id in source_ids}
    futures = {source_id: _pool().submit(source_id) for source_id in source_ids}
    return {source_id: _outcome(future.result) for source_id, future in futures.items()}


def _outcome(call, *args):
    try:
        return call(*args)
    except Exception as exc:
        return exc


def close():
    """Stop this process's pool, if it has one (tests; a worker's exit does it anyway)."""
    if _pool.cache_info().currsize:
        _pool().close()
        _pool.cache_clear()
