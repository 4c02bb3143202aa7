import io

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


def test_the_rotate_command_re_encrypts_every_stored_secret_under_the_new_key(settings, cast):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP
    from django.core.management import call_command

    from integrations.models import WebhookSubscription
    from servicerequests.models import Channel
    from tests.servicehealth.factories import FeedSourceFactory
    from tests.servicerequests.helpers import channel

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    source = FeedSourceFactory(client_secret="feed-secret")
    sent_to = channel("webhook", credentials={"secret": "channel-secret"})
    hook = WebhookSubscription(name="PSA", target_url="https://psa.example/hooks")
    hook.secret, hook.auth_secret = "whsec_c2lnbmluZw==", "bearer-secret"
    hook.previous_secret_encrypted = crypto.encrypt("whsec_b2xk")
    hook.save()
    TOTP.activate(cast["helpdesk_agent"], "JBSWY3DPEHPK3PXP")

    # The new key first, the old one still listed: everything is readable before and after.
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "servicehealth.FeedSource.client_secret_encrypted: 1 re-encrypted" in out.getvalue()
    assert "integrations.WebhookSubscription.previous_secret_encrypted: 1" in out.getvalue()
    assert "mfa.Authenticator.data: 1 re-encrypted" in out.getvalue()

    # Without the old key, every value is still readable: nothing was left under it.
    settings.FIELD_ENCRYPTION_KEYS = [new]
    source.refresh_from_db()
    hook.refresh_from_db()
    assert source.client_secret == "feed-secret"
    assert Channel.objects.get(pk=sent_to.pk).credentials == {"secret": "channel-secret"}
    assert hook.signing_secrets()[0] == "whsec_c2lnbmluZw=="
    assert hook.auth_secret == "bearer-secret"
    assert crypto.decrypt(hook.previous_secret_encrypted) == "whsec_b2xk"
    totp = Authenticator.objects.get(type=Authenticator.Type.TOTP)
    assert crypto.decrypt(totp.data["secret"]) == "JBSWY3DPEHPK3PXP"


def test_the_rotate_command_names_values_no_key_can_read_and_changes_nothing_else(settings, db):
    from django.core.management import CommandError, call_command

    from tests.servicehealth.factories import FeedSourceFactory

    lost, kept = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [lost]
    orphan = FeedSourceFactory(client_secret="under-a-lost-key")
    settings.FIELD_ENCRYPTION_KEYS = [kept]
    readable = FeedSourceFactory(client_secret="under-the-kept-key")
    orphan_ciphertext = orphan.client_secret_encrypted

    with pytest.raises(CommandError, match=f"FeedSource.client_secret_encrypted rows {orphan.pk}"):
        call_command("rotate_encryption_keys", stdout=io.StringIO())

    orphan.refresh_from_db()
    readable.refresh_from_db()
    assert orphan.client_secret_encrypted == orphan_ciphertext
    assert readable.client_secret == "under-the-kept-key"
