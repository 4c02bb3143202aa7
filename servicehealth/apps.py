from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServicehealthConfig(AppConfig):
    name = "servicehealth"
    verbose_name = _("Service health")
