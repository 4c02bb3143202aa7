"""Small strict readers for settings that come from the environment.

A value that cannot be parsed stops the boot with a message naming the variable: a misspelt
boolean must not quietly become False. Secrets may also come from ``NAME_FILE`` (Docker and
Kubernetes secrets), which wins over ``NAME`` only when ``NAME`` is unset.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_VALUES = {"true", "1"}
FALSE_VALUES = {"false", "0"}


class Env:
    """Reads one mapping (``os.environ`` by default) so tests can parse a dict instead."""

    def __init__(self, environ=None):
        self.environ = os.environ if environ is None else environ

    def is_set(self, name):
        return self.environ.get(name, "") != ""

    def str(self, name, default=""):
        value = self.environ.get(name, "")
        return value if value != "" else default

    def bool(self, name, default):
        raw = self.environ.get(name, "")
        if raw == "":
            return default
        value = raw.strip().lower()
        if value in TRUE_VALUES:
            return True
        if value in FALSE_VALUES:
            return False
        raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use true, false, 1 or 0.")

    def int(self, name, default, minimum=None):
        raw = self.environ.get(name, "")
        if raw == "":
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
        if minimum is not None and value < minimum:
            raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}.")
        return value

    def list(self, name, default=()):
        raw = self.environ.get(name, "")
        if raw == "":
            return list(default)
        return [item.strip() for item in raw.split(",") if item.strip()]

    def choice(self, name, choices, default):
        value = self.str(name, default)
        if value not in choices:
            allowed = ", ".join(choices)
            raise ImproperlyConfigured(f"{name}={value!r} is not one of: {allowed}.")
        return value

    def secret(self, name, default=""):
        """``NAME`` or the contents of the file named by ``NAME_FILE`` (one of the two)."""
        file_name = f"{name}_FILE"
        if self.is_set(name) and self.is_set(file_name):
            raise ImproperlyConfigured(f"Set {name} or {file_name}, not both.")
        if self.is_set(file_name):
            path = Path(self.environ[file_name])
            try:
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ImproperlyConfigured(
                    f"{file_name}={str(path)!r} cannot be read: {exc.strerror}."
                ) from None
        return self.str(name, default)
