import pytest
from cryptography.fernet import Fernet

from core import crypto


def test_values_round_trip_and_are_not_stored_in_clear(settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    token = crypto.encrypt("client-secret-canary")
    assert "client-secret-canary" not in token
    assert crypto.decrypt(token) == "client-secret-canary"


def test_keys_rotate_newest_first(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    stored = crypto.encrypt("s3cret")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert crypto.decrypt(stored) == "s3cret"
    rotated = crypto.rotate(stored)
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert crypto.decrypt(rotated) == "s3cret"
    with pytest.raises(crypto.InvalidToken):
        crypto.decrypt(stored)


def test_development_generates_a_key_file_once(settings, tmp_path):
    settings.FIELD_ENCRYPTION_KEYS = []
    settings.VAR_DIR = tmp_path
    first = crypto.encrypt("a")
    key_file = tmp_path / "field-encryption.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert crypto.decrypt(first) == "a"
