import os
import uuid

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from customers.models import Customer
from servicehealth import services


class Command(BaseCommand):
    help = (
        "Add a Microsoft Graph service-communications feed source for a tenant. The client "
        "secret comes from --client-secret-file or the FEED_CLIENT_SECRET environment variable "
        "(never from the command line, where it would land in shell history)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--tenant-id", required=True, type=uuid.UUID)
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--client-secret-file")
        parser.add_argument(
            "--customer",
            type=uuid.UUID,
            help="The customer's tenant id; omit for the partner's own tenant.",
        )
        parser.add_argument("--base-url", default="https://graph.microsoft.com/v1.0")
        parser.add_argument(
            "--token-url", default="https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
        )
        parser.add_argument("--interval", type=int, default=300, help="Seconds between polls.")

    def handle(self, *args, **options):
        if options["client_secret_file"]:
            with open(options["client_secret_file"], encoding="utf-8") as handle:
                secret = handle.read().strip()
        else:
            secret = os.environ.get("FEED_CLIENT_SECRET", "")
        if not secret:
            raise CommandError(
                "Give the client secret with --client-secret-file or FEED_CLIENT_SECRET."
            )
        customer = None
        if options["customer"]:
            customer = Customer.objects.filter(tenant_id=options["customer"]).first()
            if customer is None:
                raise CommandError(f"No customer with tenant id {options['customer']}.")
        try:
            source = services.create_feed_source(
                actor=None,
                client_secret=secret,
                name=options["name"],
                tenant_id=options["tenant_id"],
                client_id=options["client_id"],
                customer=customer,
                base_url=options["base_url"],
                token_url=options["token_url"],
                poll_interval_seconds=options["interval"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(
            f"Added feed source {source.pk}: {source.name} (tenant {source.tenant_id})."
        )
