"""Queueing a task by its name (``core.broker.send_task``), as the domain code does: it never
imports a ``tasks`` module, since each of those imports the domain code."""

from unittest import mock

import pytest

from core import broker, events
from customers import gdap_sync as gdap_sync
from customers import imports
from integrations import delivery as webhook_delivery
from partnerportal.celery import app
from servicehealth import polling as feed_sync
from servicerequests import delivery as request_delivery

QUEUE_OF = {
    events.FAN_OUT_TASK: "webhooks",
    request_delivery.DELIVER_TASK: "escalations",
    webhook_delivery.DELIVER_TASK: "webhooks",
    feed_sync.POLL_TASK: "feeds",
    gdap_sync.SYNC_TASK: "feeds",
    imports.RUN_TASK: "feeds",
}


def published(name, *args, **options):
    """What ``send_task`` hands the broker connection, caught before it goes out."""
    producer = mock.MagicMock()
    broker.send_task(name, *args, producer=producer, **options)
    return producer.publish.call_args


@pytest.mark.parametrize("name, queue", QUEUE_OF.items())
def test_a_task_sent_by_name_goes_to_the_queue_its_route_names(name, queue):
    publish = published(name, 7, retry=False)
    ((args, kwargs, _embed),) = publish.args
    assert (list(args), kwargs) == ([7], {})
    assert publish.kwargs["headers"]["task"] == name
    assert publish.kwargs["routing_key"] == queue
    assert publish.kwargs["retry"] is False


def test_without_options_publishing_retries_as_configured():
    assert published(feed_sync.POLL_TASK, 7).kwargs["retry"] is app.conf.task_publish_retry


def test_the_names_queued_are_registered_tasks():
    app.autodiscover_tasks(force=True)  # what a worker does at start
    assert set(QUEUE_OF) <= set(app.tasks)
