"""TOTP through allauth as the portal configures it: secrets encrypted at rest (S7), wrong and
replayed codes refused at sign-in (S3)."""

import importlib
import time

from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import (
    SECRET_SESSION_KEY,
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from django.apps import apps
from django.db import connection
from django.test import Client
from django.urls import reverse

from core import crypto
from tests.accounts.test_sessions import reauthenticate, sign_in

migration = importlib.import_module("accounts.migrations.0004_encrypt_mfa_secrets")


TOTP_PERIOD = 30


def code_for(secret, periods_ago=0):
    """The TOTP code of this window (or an earlier one). Near the end of a window it waits for
    the next, so the server checks the code in the window it was made for."""
    if TOTP_PERIOD - time.time() % TOTP_PERIOD < 3:
        time.sleep(TOTP_PERIOD - time.time() % TOTP_PERIOD + 0.2)
    return format_hotp_value(hotp_value(secret, int(time.time()) // TOTP_PERIOD - periods_ago))


def raw_authenticator_data(authenticator):
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM mfa_authenticator WHERE id = %s", [authenticator.pk])
        (data,) = cursor.fetchone()
    return str(data)


def test_a_totp_secret_set_up_in_the_ui_is_stored_encrypted(cast, password):
    client = Client()
    sign_in(client, password)
    reauthenticate(client, password)
    activate = reverse("mfa_activate_totp")
    assert client.get(activate).status_code == 200
    secret = client.session[SECRET_SESSION_KEY]

    response = client.post(activate, {"code": code_for(secret)})

    assert response.status_code == 302
    totp = Authenticator.objects.get(user=cast["helpdesk_agent"], type=Authenticator.Type.TOTP)
    assert secret not in raw_authenticator_data(totp)
    assert crypto.decrypt(totp.data["secret"]) == secret
    # The seed of the recovery codes allauth makes alongside is encrypted too.
    codes = Authenticator.objects.get(
        user=cast["helpdesk_agent"], type=Authenticator.Type.RECOVERY_CODES
    )
    seed = crypto.decrypt(codes.data["seed"])
    assert seed not in raw_authenticator_data(codes)
    assert RecoveryCodes(codes).get_unused_codes()


def second_factor(client, code):
    return client.post(reverse("mfa_authenticate"), {"code": code})


def test_sign_in_asks_for_the_code_and_refuses_a_wrong_one(cast, password):
    secret = generate_totp_secret()
    TOTP.activate(cast["helpdesk_agent"], secret)
    client = Client()

    response = sign_in(client, password)
    assert response["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session

    wrong = f"{(int(code_for(secret)) + 1) % 1_000_000:06d}"
    response = second_factor(client, wrong)
    assert response.status_code == 200
    assert response.context["form"].errors
    assert "_auth_user_id" not in client.session

    response = second_factor(client, code_for(secret))
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(cast["helpdesk_agent"].pk)


def test_a_code_used_once_is_refused_the_second_time(cast, password, caplog):
    secret = generate_totp_secret()
    TOTP.activate(cast["helpdesk_agent"], secret)
    code = code_for(secret)
    first, second = Client(), Client()

    sign_in(first, password)
    assert second_factor(first, code).status_code == 302

    # Someone who watched the code being typed tries it within its 30 s (plus tolerance).
    sign_in(second, password)
    response = second_factor(second, code)
    assert response.status_code == 200
    assert "_auth_user_id" not in second.session
    refused = [r.getMessage() for r in caplog.records if r.name == "accounts.security"]
    assert f"second factor failed user={cast['helpdesk_agent'].pk} ip=127.0.0.1 step=sign-in" in (
        refused
    )
    assert not any(code in line for line in refused)


def test_secrets_stored_in_the_clear_before_are_encrypted_by_the_migration(cast):
    secret, seed = generate_totp_secret(), "ab" * 20
    user = cast["helpdesk_agent"]
    # As allauth's own adapter left them: plain text in the JSON column.
    totp = Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": secret}
    )
    codes = Authenticator.objects.create(
        user=user, type=Authenticator.Type.RECOVERY_CODES, data={"seed": seed, "used_mask": 0}
    )

    migration.encrypt_plain_secrets(apps, None)
    migration.encrypt_plain_secrets(apps, None)  # a second run changes nothing

    totp.refresh_from_db()
    codes.refresh_from_db()
    assert secret not in raw_authenticator_data(totp)
    assert seed not in raw_authenticator_data(codes)
    assert TOTP(totp).validate_code(code_for(secret))
    assert crypto.decrypt(codes.data["seed"]) == seed
    assert codes.data["used_mask"] == 0


def test_leftover_email_addresses_no_longer_block_totp(cast, password):
    from allauth.account.models import EmailAddress

    drop = importlib.import_module("accounts.migrations.0005_drop_leftover_email_addresses")
    user, other = cast["helpdesk_agent"], cast["admin_agent"]
    # As allauth's email page left them: the sign-in address unverified, a private one added.
    EmailAddress.objects.create(user=user, email=user.email.upper(), verified=False, primary=True)
    EmailAddress.objects.create(user=user, email="me@private.example", verified=False)
    EmailAddress.objects.create(user=other, email=other.email, verified=True, primary=True)

    drop.drop_leftover_addresses(apps, None)

    assert set(EmailAddress.objects.values_list("user_id", "verified")) == {
        (user.pk, True),
        (other.pk, True),
    }
    assert not EmailAddress.objects.filter(email="me@private.example").exists()
    client = Client()
    sign_in(client, password)
    reauthenticate(client, password)
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 200
    assert SECRET_SESSION_KEY in client.session
