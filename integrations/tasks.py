from celery import shared_task
from django.conf import settings

from core import broker, events
from integrations import delivery, fanout, retention


@shared_task(name=events.FAN_OUT_TASK)
def fan_out_events():
    """Write webhook deliveries for new events (after each write that records events; beat too)."""
    while fanout.fan_out_pending():
        pass


@shared_task(name=delivery.DELIVER_TASK)
def deliver(subscription_id):
    """Send a batch of a subscription's due webhook deliveries (idempotent: rows are claimed)."""
    delivery.deliver_batch(subscription_id)


@shared_task
def sweep_webhook_deliveries():
    """Beat, every 15 s: fan out missed events, re-queue due deliveries and dead workers' ones."""
    fanout.fan_out_pending()
    delivery.sweep()


@shared_task
def purge_old_history():
    """Beat, daily: delete old webhook deliveries and events, erase old import files.

    Stops well inside the soft time limit (each batch is committed on its own) and queues
    itself again for the rest, so a first run on a large backlog finishes in a few tasks.
    """
    counts, finished = retention.purge(time_budget=0.75 * settings.CELERY_TASK_SOFT_TIME_LIMIT)
    if not finished:
        broker.publish(lambda: purge_old_history.apply_async(retry=False), "the rest of the purge")
    return counts
