from celery import shared_task

from customers import imports


@shared_task
def run_customer_import(import_id):
    imports.run(import_id)


@shared_task
def resume_customer_imports():
    """Beat: hand imports whose worker died (lease ran out) or was never woken to a worker."""
    imports.resume_stalled()
