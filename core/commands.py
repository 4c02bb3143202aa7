"""What management commands share: secrets read from files, URLs given as options."""

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
