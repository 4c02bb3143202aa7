from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagecenterConfig(AppConfig):
    name = "messagecenter"
    verbose_name = _("Message center")
