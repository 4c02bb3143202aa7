from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Portal core")

    def ready(self):
        # Registers the Celery checks (R7, docs/reliability.md) once the app registry is ready.
        from core import checks  # noqa: F401
