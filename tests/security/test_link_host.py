"""Links in emails are built on PORTAL_BASE_URL, never on the request's Host header.

Anyone can send a request with a Host of their choosing (the portal accepts every name in
ALLOWED_HOSTS, and a proxy may pass others): an invitation or password reset asked for that way
must not mail a link to the sender's server, where the token in it would be caught.
"""

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role

EVIL = "evil.example"
PORTAL = "https://portal.partner.example"


@pytest.fixture(autouse=True)
def forged_host_accepted(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, EVIL]
    settings.PORTAL_BASE_URL = PORTAL


def whole_message(message):
    parts = [message.subject, message.body]
    parts += [content for content, _mimetype in getattr(message, "alternatives", [])]
    return "\n".join(parts)


def links(text):
    return re.findall(r"https?://[^\s\"'<>]+", text)


def assert_links_on_the_portal(message, path_part):
    text = whole_message(message)
    assert EVIL not in text
    found = links(text)
    assert any(path_part in link for link in found), found
    assert all(link.startswith(PORTAL + "/") for link in found), found


def test_an_invitation_asked_for_with_a_forged_host_links_to_the_portal(
    client_for, cast, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for("global_admin").post(
            reverse("accounts:staff_invite"),
            {
                "email": "new.agent@partner.example",
                "full_name": "New Agent",
                "language": "en",
                "roles": [Role.HELPDESK_AGENT],
            },
            HTTP_HOST=EVIL,
        )
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert_links_on_the_portal(mailoutbox[0], "/invitation/")


def test_a_password_reset_asked_for_with_a_forged_host_links_to_the_portal(cast, mailoutbox):
    response = Client().post(
        reverse("account_reset_password"),
        {"email": "helpdesk-agent@partner.example"},
        HTTP_HOST=EVIL,
    )
    assert response.status_code == 302
    assert [message.to for message in mailoutbox] == [["helpdesk-agent@partner.example"]]
    assert_links_on_the_portal(mailoutbox[0], "/accounts/password/reset/key/")


def test_the_no_such_account_email_does_not_link_to_a_forged_host(db, mailoutbox):
    Client().post(
        reverse("account_reset_password"), {"email": "nobody@partner.example"}, HTTP_HOST=EVIL
    )
    assert [message.to for message in mailoutbox] == [["nobody@partner.example"]]
    text = whole_message(mailoutbox[0])
    assert EVIL not in text
    assert all(link.startswith(PORTAL + "/") for link in links(text))
