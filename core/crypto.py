"""Encryption of secrets at rest (client secrets, channel credentials, webhook secrets).

MultiFernet under FIELD_ENCRYPTION_KEYS, newest key first: new values use the first key, old
values stay readable under any listed key, and ``rotate`` re-encrypts under the newest. The keys
are never derived from SECRET_KEY. Development generates one key file under VAR_DIR.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["InvalidToken", "decrypt", "encrypt", "rotate"]


def _development_key():
    return _development_key_at(settings.VAR_DIR / "field-encryption.key")


@cache
def _development_key_at(path):
    # Once per process and file: every decrypt asks for the key (a feed poll decrypts its
    # client secret), and reading the file each time was a twentieth of a re-poll.
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Fernet.generate_key())
        path.chmod(0o600)
    return path.read_text().strip()


@cache
def _fernet(keys):
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS holds an invalid key: {exc}") from None


def fernet():
    keys = tuple(settings.FIELD_ENCRYPTION_KEYS) or (_development_key(),)
    return _fernet(keys)


def encrypt(plaintext):
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext):
    return fernet().decrypt(ciphertext.encode()).decode()


def rotate(ciphertext):
    return fernet().rotate(ciphertext.encode()).decode()


def encrypted_text(field_name):
    """A model property over the text column ``field_name`` that stores its value encrypted:
    reading decrypts, assigning encrypts; empty stays empty, so the column tells whether a
    secret is set without decrypting it."""

    def read(instance):
        stored = getattr(instance, field_name)
        return decrypt(stored) if stored else ""

    def write(instance, value):
        setattr(instance, field_name, encrypt(value) if value else "")

    return property(read, write)
