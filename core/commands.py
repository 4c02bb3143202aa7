"""What management commands share: secrets read from files, URLs and GUIDs given as options,
the app registration's options."""

import uuid
from pathlib import Path

from django.core.management.base import CommandError


def read_secret_file(path, what):
    """A secret from a file (never from the command line, where ps and shell history see it)."""
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise CommandError(f"Cannot read the {what} file {path}: {exc.strerror}.") from None
    if not value:
        raise CommandError(f"The {what} file {path} is empty.")
    return value


def url_option(value, option):
    """An http(s) URL given as ``option``, or None. URLs are used by literal substitution only,
    so a brace could only be a format payload: refused."""
    if value is None:
        return None
    if "{" in value or "}" in value:
        raise CommandError(f"{option} may not contain braces.")
    if not value.startswith(("https://", "http://")):
        raise CommandError(f"{option} must be an http or https URL.")
    return value


def guid_option(value, option):
    """A GUID given as ``option``."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CommandError(f"{option} must be a GUID.") from None


def add_app_registration_arguments(parser):
    """The partner tenant's app registration, as the commands that set one up take it."""
    parser.add_argument("--tenant-id", required=True, help="The partner tenant id (a GUID).")
    parser.add_argument("--client-id", required=True, help="The app's client id.")
    parser.add_argument(
        "--client-secret-file", required=True, help="A file holding the client secret."
    )
