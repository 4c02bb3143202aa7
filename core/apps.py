from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Portal core")

    def ready(self):
        # Registers the Celery checks (RELIABILITY.md R7).
        from core import checks  # noqa: F401
