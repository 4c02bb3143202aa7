from celery import shared_task

from sso import leavers


@shared_task
def sweep_leavers():
    return leavers.sweep()
