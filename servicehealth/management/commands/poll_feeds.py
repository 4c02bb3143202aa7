from django.core.management.base import BaseCommand, CommandError

from outbound.graph import GraphError
from servicehealth import connection_sources, cycles, polling
from servicehealth.models import FeedSource


class Command(BaseCommand):
    help = (
        "Poll feed sources now (all enabled ones, or one) and print what changed. Every "
        "customer the Microsoft connection reaches gets a feed source first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", type=int, help="The id of one feed source.")

    def handle(self, *args, source=None, **options):
        if source is None:
            added = connection_sources.add_missing()
            if added:
                self.stdout.write(f"Added {added} feed sources through the Microsoft connection.")
            cycles.start_if_due()
        sources = FeedSource.objects.filter(enabled=True)
        if source is not None:
            sources = FeedSource.objects.filter(pk=source)
            if not sources.exists():
                raise CommandError(f"No feed source with id {source}.")
        failures = 0
        for feed_source in sources.order_by("name"):
            try:
                summary = polling.poll(feed_source.pk)
            except polling.PollSkipped as exc:
                self.stdout.write(f"{feed_source.name}: skipped ({exc})")
                continue
            except GraphError as exc:
                failures += 1
                self.stderr.write(f"{feed_source.name}: FAILED: {exc}")
                continue
            for line in summary.lines():
                self.stdout.write(line)
        if failures:
            raise CommandError(f"{failures} feed source(s) failed; see the Feeds page.")
