"""Django's admin app with the portal's site in place of its default one.

A module of its own: INSTALLED_APPS imports it before models exist, so it imports none.
"""

from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.PortalAdminSite"
