from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MicrosoftConfig(AppConfig):
    name = "microsoft"
    verbose_name = _("Microsoft connection")
