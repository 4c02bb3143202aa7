from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import ApiClient
from accounts.roles import Role


class Command(BaseCommand):
    help = "Create an API client and print its token (shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--scopes",
            default="read",
            help="Comma-separated: read, write (default: read).",
        )

    def handle(self, *args, name, role, scopes, **options):
        wanted = {scope.strip() for scope in scopes.split(",") if scope.strip()}
        unknown = wanted - set(ApiClient.Scope.values)
        if unknown or not wanted:
            raise CommandError(f"--scopes must be read, write or both (got {scopes!r}).")
        if ApiClient.objects.filter(name__iexact=name).exists():
            raise CommandError(f"An API client named {name!r} already exists.")
        client, token = services.create_api_client(name=name, role=role, scopes=wanted)
        self.stderr.write(f"Created API client {client.name!r} ({client.get_role_display()}).")
        self.stdout.write(token)
