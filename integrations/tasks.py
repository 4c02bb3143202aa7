from celery import shared_task

from integrations import delivery, fanout


@shared_task
def fan_out_events():
    """Write webhook deliveries for new events (after each write that records events; beat too)."""
    while fanout.fan_out_pending():
        pass


@shared_task
def deliver(delivery_id):
    """Send one webhook delivery (idempotent: the delivery row is claimed)."""
    delivery.deliver(delivery_id)


@shared_task
def sweep_webhook_deliveries():
    """Beat, every 15 s: fan out missed events, re-queue due deliveries and dead workers' ones."""
    fanout.fan_out_pending()
    delivery.sweep()
