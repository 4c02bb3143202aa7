"""The one Celery app. Configuration comes from Django settings (``CELERY_*``)."""

import os

from celery import Celery, Task
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.db import close_old_connections
from kombu import Queue
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnerportal.settings")


class PortalTask(Task):
    """The base of every task of the portal."""

    # Celery's default is 180 s. A message waiting out its countdown is held unacknowledged and
    # comes back after the broker's visibility timeout: keep every countdown short (core.checks).
    default_retry_delay = 30


_redis_connparams = kombu_redis.Channel._connparams


def _connparams_or_connection_error(channel, asynchronous=False):
    """kombu's own, except that a channel whose connection is gone raises a connection error.

    After losing Redis, Celery 5.7 closes the broken connection, which detaches the transport.
    Closing its channel (which gives unacknowledged messages back) or acknowledging a task that
    finishes afterwards then reads the detached connection's settings and raises AttributeError;
    Celery takes that for an unrecoverable error and the worker exits instead of reconnecting
    (tests/fault/test_redis_outage.py caught it). As a connection error it is ignored or logged
    where kombu expects one. Nothing is lost: the outboxes in PostgreSQL are the record, and a
    message that was not acknowledged comes back after the visibility timeout.
    """
    if channel.connection.client is None:
        raise RedisConnectionError("The broker connection was closed.")
    return _redis_connparams(channel, asynchronous=asynchronous)


kombu_redis.Channel._connparams = _connparams_or_connection_error

app = Celery("partnerportal", task_cls=PortalTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in settings.CELERY_TASK_QUEUES_NAMES]
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender, **kwargs):
    """Around each task, what Django does around each web request: close a database connection
    past ``CONN_MAX_AGE``, broken, or left inside a transaction, and check the others before
    their next use. Celery's own rule closed every connection around every task, so each one
    began by opening a new PostgreSQL session (``CELERY_DB_REUSE_MAX`` turns that off).
    Not for a task run eagerly: it runs inside its caller's transaction."""
    if not getattr(sender.request, "is_eager", False):
        close_old_connections()
