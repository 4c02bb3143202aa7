from celery import shared_task

from servicerequests import (
    channel_updates,
    delivery,
    idempotency,
    service_incidents,
    support_topics,
)


@shared_task(name=delivery.DELIVER_TASK)
def deliver(delivery_id):
    """Send one service request to its channel (idempotent: the delivery row is claimed)."""
    delivery.deliver(delivery_id)


@shared_task(name=delivery.DELIVER_NOTE_TASK)
def deliver_note(note_delivery_id):
    """Send one note to the request Partner Center holds (idempotent: the row is claimed)."""
    delivery.deliver_note(note_delivery_id)


@shared_task
def sweep_deliveries():
    """Beat, every 15 s: re-queue deliveries and notes that are due or whose worker died, and
    those that waited for the Microsoft connection once it is renewed."""
    delivery.resume_after_connection()
    delivery.sweep()


@shared_task
def poll_channel_statuses():
    """Beat: read open requests' status from Partner Center; forget old nonces and API keys."""
    channel_updates.poll_partner_center_statuses()
    channel_updates.purge_nonces()
    idempotency.purge()


@shared_task
def sync_support_topics():
    """Beat, daily: Partner Center's support topics replace the stored ones (ids kept); its
    legacy service incidents are read where it still answers."""
    support_topics.sync_support_topics()
    service_incidents.read_service_incidents()
