import contextlib

from celery import shared_task
from django.contrib.auth import get_user_model

from customers import gdap_sync, imports, partner_center_sync, services


@shared_task(name=imports.RUN_TASK)
def run_customer_import(import_id):
    imports.run(import_id)


@shared_task
def resume_customer_imports():
    """Beat: hand imports whose worker died (lease ran out) or was never woken to a worker."""
    imports.resume_stalled()


@shared_task(name=gdap_sync.SYNC_TASK)
def sync_gdap():
    """Beat, on the feeds queue: refresh GDAP relationships from Graph.

    Not configured is recorded on GdapSyncState and shown in the UI; there is nothing to retry.
    """
    with contextlib.suppress(gdap_sync.NotConfigured):
        gdap_sync.run()


@shared_task(
    name=partner_center_sync.SYNC_TASK,
    # Hundreds of customers take longer than the default limit; the lease outlasts this.
    soft_time_limit=int(partner_center_sync.LEASE.total_seconds()) - 120,
    time_limit=int(partner_center_sync.LEASE.total_seconds()) - 60,
)
def sync_customers(requested_by_id=None):
    """Beat, hourly, and "Sync now": customers from Partner Center and Graph.

    A failure is recorded on its CustomerSyncRun and shown; beat tries again on schedule.
    """
    requested_by = get_user_model().objects.filter(pk=requested_by_id).first()
    with contextlib.suppress(*partner_center_sync.RECORDED_FAILURES):
        partner_center_sync.run(requested_by=requested_by)


@shared_task
def warn_expiring_gdap():
    """Beat, hourly: a gdap.expiring event per relationship nearing its end, once per end date."""
    services.warn_expiring_relationships()
