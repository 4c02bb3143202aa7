"""Sign-in, sign-up and password reset through django-allauth, as the portal configures them."""

from importlib import import_module

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from core.models import AuditEntry


def sign_in(client, email, password):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_staff_sign_in_with_email_and_password(cast, password):
    client = Client()
    response = sign_in(client, "helpdesk-agent@partner.example", password)
    assert response.status_code == 302
    assert client.get(reverse("dashboard:index")).status_code == 200


def test_a_new_session_id_is_issued_at_sign_in(cast, password):
    client = Client()
    client.get(reverse("account_login"))
    # A session that exists before sign-in (an attacker could have planted its cookie).
    before = client.session.session_key
    assert client.cookies[settings.SESSION_COOKIE_NAME].value == before
    response = sign_in(client, "helpdesk-agent@partner.example", password)
    assert response.status_code == 302
    after = response.cookies[settings.SESSION_COOKIE_NAME].value
    assert after and after != before
    assert client.cookies[settings.SESSION_COOKIE_NAME].value == after
    # The old id is gone from the store: replaying it gives no session.
    store = import_module(settings.SESSION_ENGINE).SessionStore
    assert not store().exists(before)


def test_failed_sign_ins_lock_the_account_for_the_window(cast, password):
    client = Client()
    for _ in range(5):
        response = sign_in(client, "helpdesk-agent@partner.example", "wrong-password")
        assert response.status_code == 200
    # Even the right password is refused until the window passes.
    response = sign_in(client, "helpdesk-agent@partner.example", password)
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in client.session
    # Another account from the same address is not locked by these five.
    response = sign_in(Client(), "admin-agent@partner.example", password)
    assert response.status_code == 302


def test_unknown_and_known_accounts_get_the_same_message(cast):
    unknown = sign_in(Client(), "nobody@partner.example", "wrong-password")
    known = sign_in(Client(), "helpdesk-agent@partner.example", "wrong-password")
    assert unknown.context["form"].errors == known.context["form"].errors


def test_an_inactive_user_cannot_sign_in(cast, password):
    client = Client()
    sign_in(client, "inactive@partner.example", password)
    assert "_auth_user_id" not in client.session


def test_nobody_signs_themselves_up(db):
    response = Client().post(
        reverse("account_signup"),
        {
            "email": "walk-in@partner.example",
            "password1": "a-long-passphrase-1",
            "password2": "a-long-passphrase-1",
        },
    )
    assert response.status_code == 200
    assert b"Sign-up is closed" in response.content
    from accounts.models import User

    assert not User.objects.filter(email="walk-in@partner.example").exists()


def test_password_reset_sends_a_link_to_known_accounts_only(cast, mailoutbox):
    Client().post(reverse("account_reset_password"), {"email": "helpdesk-agent@partner.example"})
    Client().post(reverse("account_reset_password"), {"email": "nobody@partner.example"})
    recipients = [message.to for message in mailoutbox]
    assert ["helpdesk-agent@partner.example"] in recipients
    assert (
        "/accounts/password/reset/key/"
        in mailoutbox[recipients.index(["helpdesk-agent@partner.example"])].body
    )


@pytest.mark.parametrize("path", ["/", "/profile/", "/api/v1/me/"])
def test_authenticated_responses_are_not_cached(path, client_for):
    response = client_for("helpdesk_agent").get(path)
    assert response["Cache-Control"] == "no-store" or "no-store" in response["Cache-Control"]


def test_pages_carry_a_strict_content_security_policy(client_for):
    response = client_for("helpdesk_agent").get("/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_server_error_page_shows_no_traceback(rf):
    from core.views import server_error

    response = server_error(rf.get("/"))
    assert response.status_code == 500
    assert b"Something went wrong" in response.content
    assert b"Traceback" not in response.content


def test_audit_entries_carry_the_request_id_header(
    client_for, cast, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for("global_admin").post(
            reverse("accounts:staff_deactivate", args=[cast["helpdesk_agent"].pk]),
            HTTP_X_REQUEST_ID="req-1234567890",
        )
    assert response["X-Request-ID"] == "req-1234567890"
    assert AuditEntry.objects.get(action="staff.deactivated").request_id == "req-1234567890"


def test_sign_in_attempts_are_logged_without_the_password(cast, password, caplog):
    with caplog.at_level("INFO", logger="accounts.security"):
        sign_in(Client(), "helpdesk-agent@partner.example", "wrong-password-canary")
        sign_in(Client(), "helpdesk-agent@partner.example", password)
    messages = [record.getMessage() for record in caplog.records]
    assert any("sign-in failed login=helpdesk-agent@partner.example" in m for m in messages)
    assert any("sign-in succeeded" in m for m in messages)
    assert not any("wrong-password-canary" in m for m in messages)


def test_a_password_change_is_audited(client_for, cast, password):
    response = client_for("helpdesk_agent").post(
        reverse("account_change_password"),
        {
            "oldpassword": password,
            "password1": "a-brand-new-passphrase",
            "password2": "a-brand-new-passphrase",
        },
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="staff.password_changed")
    assert entry.actor == cast["helpdesk_agent"]
    assert "a-brand-new-passphrase" not in str(entry.before) + str(entry.after)


def test_a_profile_change_is_audited(client_for, cast):
    response = client_for("helpdesk_agent").post(
        reverse("accounts:profile"), {"full_name": "Hakan Ş.", "language": "tr"}
    )
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "tr"
    entry = AuditEntry.objects.get(action="staff.profile_updated")
    assert entry.after == {"full_name": "Hakan Ş.", "language": "tr"}


def change_password(client, old, new):
    return client.post(
        reverse("account_change_password"),
        {"oldpassword": old, "password1": new, "password2": new},
    )


@pytest.mark.parametrize(
    "new_password, accepted",
    [
        ("k7#qZp2", False),  # 7 characters
        ("password123", False),  # on Django's list of common passwords
        ("12345678901234", False),  # digits only
        ("helpdesk-agent", False),  # too like the email address
        ("x" * 31 + "Long passphrase, 64 chars!" + "y" * 7, True),
    ],
)
def test_weak_passwords_are_refused(client_for, cast, password, new_password, accepted):
    response = change_password(client_for("helpdesk_agent"), password, new_password)
    cast["helpdesk_agent"].refresh_from_db()
    if accepted:
        assert len(new_password) == 64
        assert response.status_code == 302
        assert cast["helpdesk_agent"].check_password(new_password)
    else:
        assert response.status_code == 200
        assert response.context["form"].errors["password1"]
        assert cast["helpdesk_agent"].check_password(password)


def test_many_accounts_tried_from_one_address_are_refused(cast, password, settings):
    # Password spraying: one wrong password each for many accounts, from one address.
    limit = int(settings.ACCOUNT_RATE_LIMITS["login_failed"].split("/")[0])
    client = Client()
    for n in range(limit):
        response = sign_in(client, f"staff-{n}@partner.example", "Spring2026!")
        assert "Too many failed" not in str(response.context["form"].errors)
    # The next try from that address is refused whichever account it names, even with the
    # right password.
    response = sign_in(client, "admin-agent@partner.example", password)
    assert "Too many failed" in str(response.context["form"].errors)
    assert "_auth_user_id" not in client.session
    # Another address is not.
    other = Client(REMOTE_ADDR="198.51.100.7")
    assert sign_in(other, "admin-agent@partner.example", password).status_code == 302
