from django.core.management.base import BaseCommand, CommandError

from customers import partner_center_sync


class Command(BaseCommand):
    help = (
        "Read the partner's customers from Partner Center and Graph (GDAP) now, and say what "
        "was added, changed and marked as removed."
    )

    def handle(self, *args, **options):
        try:
            summary = partner_center_sync.run()
        except Exception as exc:
            # The run recorded it (the sync page shows it); the operator gets the same text.
            _outcome, error, _attention = partner_center_sync.failure(exc)
            raise CommandError(f"Customer sync failed: {error}") from None
        if summary is None:
            self.stdout.write("Another customer sync is running; nothing done.")
            return
        for line in summary.lines():
            self.stdout.write(line)
