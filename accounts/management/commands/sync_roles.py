from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand

from accounts.roles import sync_roles


class Command(BaseCommand):
    help = "Make the role groups' permissions match the role matrix in accounts/roles.py."

    def handle(self, *args, **options):
        changed = sync_roles(Group, Permission, ContentType)
        if options["verbosity"]:
            self.stdout.write(f"Roles in sync; {changed} group(s) changed.")
