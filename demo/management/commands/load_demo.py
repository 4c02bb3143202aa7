from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from demo import data as demo_data


class Command(BaseCommand):
    help = "Load the demo data (idempotent: running it twice changes nothing the second time)."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("Demo data is never loaded with DJANGO_ENV=production.")
        with transaction.atomic():
            summary = demo_data.load()
        for line in summary:
            self.stdout.write(line)
