from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import ApiClient, validate_rate
from accounts.roles import Role
from accounts.scopes import ApiResource


class Command(BaseCommand):
    help = "Create an API client and print its token (shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--scopes",
            default="read",
            help=(
                "Comma-separated <resource>:read or <resource>:write (write includes read); "
                "read or write alone mean that level on every resource (default: read). "
                f"Resources: {', '.join(ApiResource.values)}."
            ),
        )
        parser.add_argument(
            "--rate-limit", default="", help="For example 120/min; empty: the portal's default."
        )

    def handle(self, *args, name, role, scopes, rate_limit, **options):
        wanted = [scope.strip() for scope in scopes.split(",") if scope.strip()]
        if ApiClient.objects.filter(name__iexact=name).exists():
            raise CommandError(f"An API client named {name!r} already exists.")
        try:
            validate_rate(rate_limit)
            client, token = services.create_api_client(
                name=name, role=role, scopes=wanted, rate_limit=rate_limit
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stderr.write(
            f"Created API client {client.name!r} ({client.get_role_display()}): "
            f"{', '.join(client.scopes)}."
        )
        self.stdout.write(token)
