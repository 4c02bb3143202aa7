"""The one Celery app. Configuration comes from Django settings (``CELERY_*``)."""

import os

from celery import Celery
from django.conf import settings
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnerportal.settings")

app = Celery("partnerportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in settings.CELERY_TASK_QUEUES_NAMES]
app.autodiscover_tasks()
