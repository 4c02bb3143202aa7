"""S4: idle and absolute session timeouts, the sessions page, re-authentication before MFA changes.

Time is moved by rewriting the timestamps stored in the session, never by sleeping.
"""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.middleware import LAST_ACTIVITY, SIGNED_IN_AT

HELPDESK = "helpdesk-agent@partner.example"
MINUTE = 60


@pytest.fixture(autouse=True)
def fixed_limits(settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    settings.SESSION_COOKIE_AGE = 12 * 60 * 60


def sign_in(client, password, email=HELPDESK, next_url=None):
    data = {"login": email, "password": password}
    if next_url:
        data["next"] = next_url
    response = client.post(reverse("account_login"), data)
    assert response.status_code == 302, response.content[:500]
    return response


def set_clock(client, *, signed_in_ago, active_ago):
    """Pretend the sign-in and the last recorded activity were this many seconds ago."""
    now = int(time.time())
    session = client.session
    session[SIGNED_IN_AT] = now - signed_in_ago
    session[LAST_ACTIVITY] = now - active_ago
    session.save()


def let_time_pass(client, seconds):
    session = client.session
    session[SIGNED_IN_AT] -= seconds
    session[LAST_ACTIVITY] -= seconds
    session.save()


def stored(client, key):
    return client.session.get(key)


def assert_sent_to_sign_in(response, next_url=None):
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("account_login")
    assert parse_qs(location.query).get("next") == ([next_url] if next_url else None)


# --- Absolute and idle timeouts ------------------------------------------------------------


def test_sign_in_starts_the_session_clock(cast, password):
    client = Client()
    before = int(time.time())
    sign_in(client, password)
    assert before <= stored(client, SIGNED_IN_AT) <= int(time.time())


def test_an_idle_session_is_signed_out_and_comes_back_to_its_page(cast, password):
    client = Client()
    sign_in(client, password)
    set_clock(client, signed_in_ago=2 * 60 * MINUTE, active_ago=30 * MINUTE)

    response = client.get("/customers/?q=contoso")
    assert_sent_to_sign_in(response, next_url="/customers/?q=contoso")
    login_page = client.get(response["Location"])
    assert "You were signed out after 30 minutes without activity." in login_page.content.decode()
    # Signed out for good, not only redirected once.
    assert_sent_to_sign_in(client.get("/profile/"), next_url="/profile/")

    again = sign_in(client, password, next_url="/customers/?q=contoso")
    assert again["Location"] == "/customers/?q=contoso"
    assert client.get("/customers/?q=contoso").status_code == 200


def test_a_session_just_inside_the_idle_timeout_goes_on(cast, password):
    client = Client()
    sign_in(client, password)
    set_clock(client, signed_in_ago=2 * 60 * MINUTE, active_ago=29 * MINUTE)
    assert client.get("/customers/").status_code == 200


def test_the_absolute_lifetime_ends_even_an_active_session(cast, password):
    client = Client()
    sign_in(client, password)
    set_clock(client, signed_in_ago=12 * 60 * MINUTE, active_ago=10)

    response = client.get("/incidents/")
    assert_sent_to_sign_in(response, next_url="/incidents/")
    login_page = client.get(response["Location"]).content.decode()
    assert "your session reached its maximum length (12 hours)" in login_page
    assert "_auth_user_id" not in client.session


def test_activity_extends_the_idle_timeout_but_not_the_absolute_one(cast, password):
    client = Client()
    sign_in(client, password)
    # Signed in 11 h 40 min ago, last seen 29 minutes ago.
    set_clock(client, signed_in_ago=(11 * 60 + 40) * MINUTE, active_ago=29 * MINUTE)
    signed_in_at = stored(client, SIGNED_IN_AT)

    assert client.get("/customers/").status_code == 200
    assert stored(client, LAST_ACTIVITY) >= int(time.time()) - 5
    assert stored(client, SIGNED_IN_AT) == signed_in_at

    # Five minutes on: 34 minutes after the activity before, but only 5 after this request.
    let_time_pass(client, 5 * MINUTE)
    assert client.get("/customers/").status_code == 200

    # Fifteen minutes more: still active, but 12 hours after signing in.
    let_time_pass(client, 15 * MINUTE)
    response = client.get("/customers/")
    assert_sent_to_sign_in(response, next_url="/customers/")
    assert "maximum length" in client.get(response["Location"]).content.decode()


def test_activity_is_written_to_the_session_at_most_once_a_minute(cast, password):
    client = Client()
    sign_in(client, password)
    set_clock(client, signed_in_ago=10 * MINUTE, active_ago=30)
    recorded = stored(client, LAST_ACTIVITY)

    response = client.get("/customers/")
    assert response.status_code == 200
    assert stored(client, LAST_ACTIVITY) == recorded
    # Nothing changed, so the session was not saved (no new cookie).
    assert settings.SESSION_COOKIE_NAME not in response.cookies

    set_clock(client, signed_in_ago=10 * MINUTE, active_ago=MINUTE)
    client.get("/customers/")
    assert stored(client, LAST_ACTIVITY) >= int(time.time()) - 5


def test_a_pages_background_refresh_is_not_activity(cast, password):
    client = Client()
    sign_in(client, password)
    set_clock(client, signed_in_ago=20 * MINUTE, active_ago=10 * MINUTE)
    recorded = stored(client, LAST_ACTIVITY)

    assert client.get(reverse("servicehealth:status")).status_code == 200
    assert stored(client, LAST_ACTIVITY) == recorded
    # A person's request is.
    assert client.get(reverse("servicehealth:dashboard")).status_code == 200
    assert stored(client, LAST_ACTIVITY) > recorded


def test_a_background_refresh_after_the_timeout_leaves_the_message_for_the_next_page(
    cast, password
):
    client = Client()
    sign_in(client, password)
    set_clock(client, signed_in_ago=2 * 60 * MINUTE, active_ago=30 * MINUTE)
    poll = client.get(reverse("servicehealth:status"), headers={"Accept": "application/json"})
    assert poll.status_code == 401
    assert "_auth_user_id" not in client.session
    page = client.get(reverse("servicehealth:dashboard"), follow=True)
    assert page.redirect_chain[-1][0].startswith(reverse("account_login"))
    assert "You were signed out after 30 minutes without activity." in page.content.decode()


def post_profile_after_the_timeout(password, full_name, referer):
    """The profile form, posted 31 minutes after the last activity."""
    client = Client()
    sign_in(client, password)
    set_clock(client, signed_in_ago=2 * 60 * MINUTE, active_ago=31 * MINUTE)
    return client.post(
        reverse("accounts:profile"),
        {"full_name": full_name, "language": "en"},
        headers={"Referer": referer},
    )


def test_a_form_posted_after_the_timeout_returns_to_its_page(cast, password):
    response = post_profile_after_the_timeout(
        password, "Changed After Timeout", "http://testserver/profile/"
    )
    assert_sent_to_sign_in(response, next_url="/profile/")
    assert (
        not cast["helpdesk_agent"]
        .__class__.objects.filter(full_name="Changed After Timeout")
        .exists()
    )


def test_a_foreign_referer_is_not_used_as_next(cast, password):
    response = post_profile_after_the_timeout(password, "x", "https://evil.example/profile/")
    assert_sent_to_sign_in(response, next_url=None)


def test_a_session_from_before_the_timeouts_starts_its_clock_now(client_for):
    client = client_for("helpdesk_agent")
    session = client.session
    del session[SIGNED_IN_AT]
    session.save()
    assert client.get("/customers/").status_code == 200
    assert stored(client, SIGNED_IN_AT) >= int(time.time()) - 5


def test_a_browser_call_to_the_api_after_the_timeout_is_refused_not_redirected(cast, password):
    client = Client()
    sign_in(client, password)
    set_clock(client, signed_in_ago=2 * 60 * MINUTE, active_ago=31 * MINUTE)
    response = client.get("/api/v1/me/")
    assert response.status_code in (401, 403)
    assert "_auth_user_id" not in client.session


def test_api_tokens_have_no_session_and_no_timeout(api_token_for):
    from accounts.roles import Role

    token = api_token_for(Role.HELPDESK_AGENT, scopes=["read"])
    client = Client()
    for _ in range(2):
        response = client.get("/api/v1/me/", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert settings.SESSION_COOKIE_NAME not in client.cookies


def test_the_limits_are_shown_to_the_user(client_for, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 45
    settings.SESSION_COOKIE_AGE = 8 * 60 * 60
    page = client_for("helpdesk_agent").get(reverse("accounts:profile")).content.decode()
    assert "after 45 minutes without activity and 8 hours after signing in" in page


# --- Seeing and ending one's sessions ------------------------------------------------------


def test_a_user_sees_their_sessions_and_ends_the_others(cast, password):
    laptop = Client(headers={"User-Agent": "Firefox on the laptop"})
    phone = Client(headers={"User-Agent": "Safari on the phone"})
    sign_in(laptop, password)
    sign_in(phone, password)
    other_user = Client(headers={"User-Agent": "Someone else's browser"})
    sign_in(other_user, password, email="admin-agent@partner.example")

    profile = laptop.get(reverse("accounts:profile")).content.decode()
    assert reverse("usersessions_list") in profile
    page = laptop.get(reverse("usersessions_list"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Firefox on the laptop" in html and "Safari on the phone" in html
    assert "Someone else" not in html
    assert "127.0.0.1" in html
    assert page.context["session_count"] == 2

    ended = laptop.post(reverse("usersessions_list"))
    assert ended.status_code == 302
    from core.models import AuditEntry

    entry = AuditEntry.objects.get(action="staff.session_ended")
    assert (entry.actor, entry.before["user_agent"]) == (
        cast["helpdesk_agent"],
        "Safari on the phone",
    )

    assert_sent_to_sign_in(phone.get("/customers/"), next_url="/customers/")
    assert laptop.get("/customers/").status_code == 200
    assert other_user.get("/customers/").status_code == 200
    assert list(
        UserSession.objects.filter(user=cast["helpdesk_agent"]).values_list("user_agent", flat=True)
    ) == ["Firefox on the laptop"]


def test_a_user_ends_one_other_session_and_keeps_the_rest(cast, password):
    from core.models import AuditEntry

    laptop = Client(headers={"User-Agent": "Firefox on the laptop"})
    phone = Client(headers={"User-Agent": "Safari on the phone"})
    tablet = Client(headers={"User-Agent": "Edge on the tablet"})
    for client in (laptop, phone, tablet):
        sign_in(client, password)
    mine = UserSession.objects.filter(user=cast["helpdesk_agent"])
    lost = mine.get(user_agent="Safari on the phone")
    current = mine.get(user_agent="Firefox on the laptop")
    page = laptop.get(reverse("usersessions_list")).content.decode()
    assert reverse("accounts:session_end", args=[lost.pk]) in page
    assert reverse("accounts:session_end", args=[current.pk]) not in page

    response = laptop.post(reverse("accounts:session_end", args=[lost.pk]))
    assert response.status_code == 302
    assert_sent_to_sign_in(phone.get("/customers/"), next_url="/customers/")
    assert laptop.get("/customers/").status_code == 200
    assert tablet.get("/customers/").status_code == 200
    entry = AuditEntry.objects.get(action="staff.session_ended")
    assert entry.actor == cast["helpdesk_agent"]
    assert entry.before["user_agent"] == "Safari on the phone"

    # The session in use is not ended this way (that is signing out).
    laptop.post(reverse("accounts:session_end", args=[current.pk]))
    assert laptop.get("/customers/").status_code == 200
    assert sorted(mine.values_list("user_agent", flat=True)) == [
        "Edge on the tablet",
        "Firefox on the laptop",
    ]


def test_every_way_in_is_listed_and_can_be_ended(client_for, cast):
    # force_login uses Django's login, like Django's admin: no allauth signal creates the row.
    client = client_for("helpdesk_agent")
    assert client.get("/customers/").status_code == 200
    assert UserSession.objects.filter(session_key=client.session.session_key).exists()


def test_the_sessions_page_needs_sign_in(db):
    assert_sent_to_sign_in(
        Client().get(reverse("usersessions_list")), next_url=reverse("usersessions_list")
    )


# --- Re-authentication -----------------------------------------------------------------------


def test_staff_cannot_change_their_email_address(client_for):
    client = client_for("helpdesk_agent")
    assert client.get(reverse("account_email")).status_code == 404
    response = client.post(
        reverse("account_email"), {"action_add": "", "email": "someone@elsewhere.example"}
    )
    assert response.status_code == 404
    assert cast_emails(client) == ["helpdesk-agent@partner.example"]


def cast_emails(client):
    from allauth.account.models import EmailAddress

    from accounts.models import User

    user = User.objects.get(pk=client.session["_auth_user_id"])
    addresses = list(EmailAddress.objects.filter(user=user).values_list("email", flat=True))
    return sorted({user.email, *addresses})


def reauthenticate(client, password):
    response = client.post(reverse("account_reauthenticate"), {"password": password})
    assert response.status_code == 302


def age_reauthentication(client, seconds):
    session = client.session
    records = session[AUTHENTICATION_METHODS_SESSION_KEY]
    for record in records:
        record["at"] -= seconds
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session.save()


def assert_asked_for_password(response):
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == reverse("account_reauthenticate")


def test_activating_totp_asks_for_the_password_again_after_the_window(cast, password):
    client = Client()
    sign_in(client, password)
    activate = reverse("mfa_activate_totp")
    assert_asked_for_password(client.get(activate))

    reauthenticate(client, password)
    assert client.get(activate).status_code == 200

    age_reauthentication(client, settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 1)
    assert_asked_for_password(client.get(activate))
    assert_asked_for_password(client.post(activate, {"code": "123456"}))
    assert not Authenticator.objects.filter(user=cast["helpdesk_agent"]).exists()


def test_deactivating_totp_asks_for_the_password_again_after_the_window(client_for, cast, password):
    user = cast["admin_agent"]
    TOTP.activate(user, generate_totp_secret())
    client = client_for("admin_agent")
    deactivate = reverse("mfa_deactivate_totp")
    assert_asked_for_password(client.post(deactivate))

    reauthenticate(client, password)
    age_reauthentication(client, settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 1)
    assert_asked_for_password(client.post(deactivate))
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()

    reauthenticate(client, password)
    assert client.post(deactivate).status_code == 302
    assert not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
