from django.core.management.base import BaseCommand, CommandError

from customers import gdap_sync
from outbound.graph import GraphError


class Command(BaseCommand):
    help = "Refresh delegated-admin (GDAP) relationships from Microsoft Graph now, and say what changed."

    def handle(self, *args, **options):
        try:
            summary = gdap_sync.run()
        except gdap_sync.NotConfigured as exc:
            raise CommandError(str(exc)) from None
        except GraphError as exc:
            raise CommandError(f"GDAP sync failed: {exc}") from None
        if summary is None:
            self.stdout.write("Another GDAP sync is running; nothing done.")
            return
        for line in summary.lines():
            self.stdout.write(line)
