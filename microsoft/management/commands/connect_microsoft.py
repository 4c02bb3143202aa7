"""Connect the partner's Microsoft tenant from a shell: the app's settings, and the refresh
token from an earlier consent for hosts without a browser. Secrets are read from files only:
a value on the command line would stay in the shell's history and the process list."""

from django.core.management.base import BaseCommand, CommandError

from core.commands import add_app_registration_arguments, guid_option, read_secret_file, url_option
from microsoft import services
from outbound.entra import EntraError


class Command(BaseCommand):
    help = "Connect the partner's Microsoft tenant (app registration and, optionally, consent)."

    def add_arguments(self, parser):
        add_app_registration_arguments(parser)
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
        tenant_id = guid_option(options["tenant_id"], "--tenant-id")
        client_secret = read_secret_file(options["client_secret_file"], "client secret")
        refresh_token = None
        if options["refresh_token_file"]:
            refresh_token = read_secret_file(options["refresh_token_file"], "refresh token")
        try:
            connection = services.connect(
                actor=None,
                tenant_id=tenant_id,
                client_id=options["client_id"],
                client_secret=client_secret,
                refresh_token=refresh_token,
                login_url=url_option(options["login_url"], "--login-url"),
                graph_url=url_option(options["graph_url"], "--graph-url"),
                partner_center_url=url_option(
                    options["partner_center_url"], "--partner-center-url"
                ),
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
