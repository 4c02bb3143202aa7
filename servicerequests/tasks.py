from celery import shared_task

from servicerequests import channel_updates, delivery, idempotency


@shared_task(name=delivery.DELIVER_TASK)
def deliver(delivery_id):
    """Send one service request to its channel (idempotent: the delivery row is claimed)."""
    delivery.deliver(delivery_id)


@shared_task
def sweep_deliveries():
    """Beat, every 15 s: re-queue deliveries that are due or whose worker died."""
    delivery.sweep()


@shared_task
def poll_channel_statuses():
    """Beat: read open requests' status from Partner Center; forget old nonces and API keys."""
    channel_updates.poll_partner_center_statuses()
    channel_updates.purge_nonces()
    idempotency.purge()
