"""The one Celery app. Configuration comes from Django settings (``CELERY_*``)."""

import os

from celery import Celery, Task
from django.conf import settings
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnerportal.settings")


class PortalTask(Task):
    """The base of every task of the portal."""

    # Celery's default is 180 s. A message waiting out its countdown is held unacknowledged and
    # comes back after the broker's visibility timeout: keep every countdown short (core.checks).
    default_retry_delay = 30


app = Celery("partnerportal", task_cls=PortalTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in settings.CELERY_TASK_QUEUES_NAMES]
app.autodiscover_tasks()
