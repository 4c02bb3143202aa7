import contextlib

from celery import shared_task

from customers import gdap_sync, imports, services


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


@shared_task
def warn_expiring_gdap():
    """Beat, hourly: a gdap.expiring event per relationship nearing its end, once per end date."""
    services.warn_expiring_relationships()
