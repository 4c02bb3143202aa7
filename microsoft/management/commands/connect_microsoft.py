"""Connect the partner's Microsoft tenant from a shell: the app's settings, and the refresh
token from an earlier consent for hosts without a browser. Secrets are read from files only:
a value on the command line would stay in the shell's history and the process list."""

import uuid
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from microsoft import services
from microsoft.forms import no_braces
from outbound.entra import EntraError


def _read_secret(path, what):
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise CommandError(f"Cannot read the {what} file {path}: {exc.strerror}.") from None
    if not value:
        raise CommandError(f"The {what} file {path} is empty.")
    return value


def _url(value, option):
    if value is None:
        return None
    try:
        no_braces(value)
    except ValidationError:
        raise CommandError(f"{option} may not contain braces.") from None
    if not value.startswith(("https://", "http://")):
        raise CommandError(f"{option} must be an http or https URL.")
    return value


class Command(BaseCommand):
    help = "Connect the partner's Microsoft tenant (app registration and, optionally, consent)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant-id", required=True, help="The partner tenant id (a GUID).")
        parser.add_argument("--client-id", required=True, help="The app's client id.")
        parser.add_argument(
            "--client-secret-file", required=True, help="A file holding the client secret."
        )
        parser.add_argument(
            "--refresh-token-file",
            help="A file holding the refresh token from an earlier consent (App+User).",
        )
        parser.add_argument("--login-url", help="Default: https://login.microsoftonline.com")
        parser.add_argument("--graph-url", help="Default: https://graph.microsoft.com")
        parser.add_argument(
            "--partner-center-url", help="Default: https://api.partnercenter.microsoft.com"
        )

    def handle(self, *args, **options):
        try:
            tenant_id = uuid.UUID(options["tenant_id"])
        except ValueError:
            raise CommandError("--tenant-id must be a GUID.") from None
        client_secret = _read_secret(options["client_secret_file"], "client secret")
        refresh_token = None
        if options["refresh_token_file"]:
            refresh_token = _read_secret(options["refresh_token_file"], "refresh token")
        try:
            connection = services.connect(
                actor=None,
                tenant_id=tenant_id,
                client_id=options["client_id"],
                client_secret=client_secret,
                refresh_token=refresh_token,
                login_url=_url(options["login_url"], "--login-url"),
                graph_url=_url(options["graph_url"], "--graph-url"),
                partner_center_url=_url(options["partner_center_url"], "--partner-center-url"),
            )
        except EntraError as exc:
            raise CommandError(f"Not connected, nothing stored: {exc}") from None
        self.stdout.write(f"State: {connection.state}")
        if connection.refresh_expires_at:
            self.stdout.write(
                f"Refresh token expires: {connection.refresh_expires_at:%Y-%m-%d %H:%M %Z} "
                "(redeemed weekly, which keeps it alive)."
            )
        else:
            self.stdout.write(
                "The app's settings are stored. A partner admin's consent is still needed: "
                "give its refresh token with --refresh-token-file."
            )
