"""Set up staff sign-in with Entra ID from a shell. The secret is read from a file only: a
value on the command line would stay in the shell's history and the process list."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.commands import add_app_registration_arguments, guid_option, read_secret_file, url_option
from sso import services
from sso.models import PUBLIC_CLOUD_LOGIN_URL


class Command(BaseCommand):
    help = "Turn on staff sign-in with the partner tenant's Entra ID (takes effect at once)."

    def add_arguments(self, parser):
        add_app_registration_arguments(parser)
        parser.add_argument("--login-url", help=f"Default: {PUBLIC_CLOUD_LOGIN_URL}")
        parser.add_argument(
            "--entra-enforces-mfa",
            action="store_true",
            help="A Conditional Access policy requires MFA for this app: the portal asks for "
            "no second factor of its own after the Entra sign-in.",
        )
        parser.add_argument(
            "--no-local-sign-in",
            action="store_true",
            help="Refuse sign-in with portal passwords (sign-in with Microsoft only).",
        )

    def handle(self, *args, **options):
        tenant_id = guid_option(options["tenant_id"], "--tenant-id")
        login_url = url_option(options["login_url"], "--login-url") or PUBLIC_CLOUD_LOGIN_URL
        values = {
            "enabled": True,
            "tenant_id": tenant_id,
            "client_id": options["client_id"],
            "login_url": login_url.rstrip("/"),
            "entra_enforces_mfa": options["entra_enforces_mfa"],
            "local_sign_in": not options["no_local_sign_in"],
        }
        try:
            settings = services.update_settings(
                actor=None,
                values=values,
                client_secret=read_secret_file(options["client_secret_file"], "client secret"),
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"Sign-in with Microsoft is on; authority {settings.authority}")
