"""Hostile input to every endpoint anyone may call without signing in: odd headers and bodies are
refused (4xx), never a server error. Plus ``next``, which must never leave the site.

Non-ASCII header values are sent as a WSGI server hands them over: the UTF-8 bytes read as
Latin-1. A header sent twice reaches the application joined with a comma (also checked over a real
socket, below). Requests that a view would accept are not the point here: each case is a refusal.
"""

import base64
import hashlib
import hmac
import http.client
import json
import time
from urllib.parse import quote, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from servicerequests.models import StatusChoices
from simulators.webhook_receiver import sign
from tests.factories import UserFactory
from tests.servicerequests.factories import ChannelFactory, ServiceRequestFactory
from tests.servicerequests.helpers import channel
from tests.test_access_matrix import PUBLIC, URL_ACCESS

SECRET = "hostile-input-signing-secret"
NON_ASCII = "ünïcödé ✓ 😀".encode().decode("latin-1")
HUGE = "A" * 65536
# Header values: (name, value); a duplicated header arrives comma-joined.
HOSTILE_TEXT = {
    "non_ascii": NON_ASCII,
    "empty": "",
    "huge": HUGE,
    "duplicated": "a, b",
}
HOSTILE_BODIES = {
    "non_ascii": "ünïcödé ✓".encode(),
    "not_utf8": b"\xff\xfe\x00\x80",
    "empty": b"",
    "huge": b"A" * 65536,
    "over_the_limit": b"A" * (64 * 1024 + 1),
    "duplicated_keys": b'{"number": "SR-1", "number": "SR-2", "status": "closed"}',
    "not_an_object": b'["number", "status"]',
    "nul_characters": b'{"number": "SR-\\u0000", "reference": "\\u0000", "status": "closed"}',
    "nested_too_deep": b'{"a": ' * 5000 + b"1" + b"}" * 5000,
}


def server_error_free(response):
    assert response.status_code < 500, response.content[:300]
    return response.status_code


def test_every_public_endpoint_is_fuzzed_here():
    # A new public endpoint must be added to the cases below before this passes again.
    public = {name for name, (_m, allowed, _s, _k) in URL_ACCESS.items() if allowed == PUBLIC}
    assert public == {
        "core:healthz",
        "api-v1:servicerequests-callbacks:channel",
        "accounts:accept_invitation",
    }


# --- the signed status callback -----------------------------------------------------------


@pytest.fixture
def callback_url(db):
    target = channel("webhook", name="hostile", credentials={"signing_secret": SECRET})
    return reverse("api-v1:servicerequests-callbacks:channel", kwargs={"channel_id": target.pk})


def post_callback(url, body, headers):
    client = Client(raise_request_exception=False)
    return client.post(url, body, content_type="application/json", headers=headers)


def standard(secret, body, message_id="msg_hostile", timestamp=None):
    """Standard Webhooks headers computed over the raw bytes, so even a body that is not UTF-8
    is correctly signed."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{digest.decode()}",
    }


def signatures(body):
    """Hostile signature headers by kind. Timestamps are fresh, so the signature is compared."""
    now = int(time.time())
    good = standard(SECRET, body, timestamp=now)
    twice = f"{good['webhook-signature']}, {standard('another-secret', body)['webhook-signature']}"
    return {
        **{f"header_{name}": dict.fromkeys(good, value) for name, value in HOSTILE_TEXT.items()},
        "missing": {},
        "non_ascii_id": {**good, "webhook-id": NON_ASCII},
        "huge_id": {**good, "webhook-id": HUGE},
        "non_ascii_signature": {**good, "webhook-signature": "v1," + NON_ASCII * 4},
        "huge_signature": {**good, "webhook-signature": "v1," + HUGE},
        "empty_signature": {**good, "webhook-signature": "v1,"},
        "no_comma_signature": {**good, "webhook-signature": "v1"},
        "sent_twice": {**good, "webhook-signature": twice},
        "timestamp_of_400_digits": {**good, "webhook-timestamp": "9" * 400},
        "negative_huge_timestamp": {**good, "webhook-timestamp": "-" + "9" * 400},
        "timestamp_not_a_number": {**good, "webhook-timestamp": NON_ASCII},
        "float_timestamp": {**good, "webhook-timestamp": f"{now}.5e0"},
        "wrong_secret": standard("not-the-secret", body, timestamp=now),
        # The deprecated header, accepted while CHANNEL_LEGACY_SIGNATURE is on.
        "legacy_non_ascii": {"X-Portal-Signature": f"t={now},v1={NON_ASCII * 4}"},
        "legacy_huge": {"X-Portal-Signature": f"t={now},v1={HUGE}"},
        "legacy_sent_twice": {
            "X-Portal-Signature": f"{sign(SECRET, body, now)}, {sign('another', body, now)}"
        },
        "legacy_timestamp_of_400_digits": {"X-Portal-Signature": f"t={'9' * 400},v1={'0' * 64}"},
        "legacy_timestamp_not_a_number": {"X-Portal-Signature": f"t={NON_ASCII},v1={'0' * 64}"},
        "legacy_wrong_secret": {"X-Portal-Signature": sign("not-the-secret", body, now)},
    }


@pytest.mark.parametrize("body_kind", sorted(HOSTILE_BODIES))
@pytest.mark.parametrize("signature_kind", sorted(signatures(b"")))
def test_the_callback_refuses_hostile_input(callback_url, body_kind, signature_kind):
    body = HOSTILE_BODIES[body_kind]
    response = post_callback(callback_url, body, signatures(body)[signature_kind])
    assert response.status_code == 401, response.content[:300]


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("body_kind", sorted(HOSTILE_BODIES))
def test_a_correctly_signed_hostile_body_is_refused(callback_url, body_kind, legacy):
    body = HOSTILE_BODIES[body_kind]
    headers = {"X-Portal-Signature": sign(SECRET, body)} if legacy else standard(SECRET, body)
    response = post_callback(callback_url, body, headers)
    # Bodies over 64 KB are refused unread; the others name no request of this channel (and a
    # body that is not UTF-8 cannot be checked by Standard Webhooks).
    assert response.status_code == 401, response.content[:300]


# --- sign-in ----------------------------------------------------------------------------------


LOGIN_FIELDS = {
    "non_ascii": {"login": NON_ASCII + "@partner.example", "password": NON_ASCII},
    "empty": {"login": "", "password": ""},
    "huge": {"login": HUGE + "@partner.example", "password": HUGE},
    "duplicated": {"login": ["a@partner.example", "b@partner.example"], "password": ["x", "y"]},
    "nul": {"login": "a\x00@partner.example", "password": "\x00"},
}


@pytest.mark.parametrize("header", ["HTTP_USER_AGENT", "HTTP_ACCEPT_LANGUAGE", "HTTP_COOKIE"])
@pytest.mark.parametrize("header_kind", sorted(HOSTILE_TEXT))
@pytest.mark.parametrize("fields_kind", sorted(LOGIN_FIELDS))
def test_sign_in_refuses_hostile_input(cast, fields_kind, header_kind, header):
    # allauth answers a refused sign-in with its form again (200) or 429 once rate-limited:
    # what matters is that nobody is signed in and nothing fails.
    client = Client(raise_request_exception=False)
    response = client.post(
        reverse("account_login"),
        LOGIN_FIELDS[fields_kind],
        **{header: HOSTILE_TEXT[header_kind]},
    )
    server_error_free(response)
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("body_kind", sorted(HOSTILE_BODIES))
def test_sign_in_refuses_hostile_raw_bodies(db, body_kind):
    client = Client(raise_request_exception=False)
    for content_type in ("application/x-www-form-urlencoded", "application/json"):
        response = client.post(
            reverse("account_login"), HOSTILE_BODIES[body_kind], content_type=content_type
        )
        server_error_free(response)
        assert "_auth_user_id" not in client.session


# --- accepting an invitation ----------------------------------------------------------------


def invitation_paths(user_pk):
    uid = urlsafe_base64_encode(force_bytes(user_pk))
    not_utf8 = urlsafe_base64_encode(b"\xff\xfe")
    with_nul = urlsafe_base64_encode(b"1\x00")
    return {
        "non_ascii_uid": f"/invitation/{quote(NON_ASCII)}/token/",
        "non_ascii_token": f"/invitation/{uid}/{quote(NON_ASCII)}/",
        "huge_uid": f"/invitation/{HUGE}/token/",
        "huge_token": f"/invitation/{uid}/{HUGE}/",
        "uid_of_a_huge_number": f"/invitation/{urlsafe_base64_encode(b'9' * 30)}/token/",
        "uid_not_utf8": f"/invitation/{not_utf8}/token/",
        "uid_with_nul": f"/invitation/{with_nul}/token/",
        "empty_token": f"/invitation/{uid}//",
        "duplicated": f"/invitation/{uid},{uid}/token,token/",
    }


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("path_kind", sorted(invitation_paths(1)))
def test_accepting_an_invitation_refuses_hostile_input(db, method, path_kind):
    invitee = UserFactory()
    invitee.set_unusable_password()
    invitee.save()
    path = invitation_paths(invitee.pk)[path_kind]
    client = Client(raise_request_exception=False)
    body = {"new_password1": NON_ASCII, "new_password2": [HUGE, ""]}
    response = getattr(client, method)(path, body if method == "post" else None)
    assert response.status_code in (400, 404), response.content[:300]
    invitee.refresh_from_db()
    assert not invitee.has_usable_password()


# --- API tokens -----------------------------------------------------------------------------


AUTHORIZATIONS = {
    "non_ascii_token": f"Bearer {NON_ASCII}",
    "empty": "",
    "bearer_alone": "Bearer",
    "bearer_empty": "Bearer ",
    "huge_token": f"Bearer {HUGE}",
    "duplicated": "Bearer aaaaaaaa, Bearer bbbbbbbb",
    "two_words": "Bearer aaaaaaaa bbbbbbbb",
    "nul": "Bearer aaaa\x00bbbb",
    "other_scheme": f"Basic {NON_ASCII}",
}


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("kind", sorted(AUTHORIZATIONS))
def test_api_token_authentication_refuses_hostile_headers(db, kind, method):
    client = Client(raise_request_exception=False)
    response = getattr(client, method)(
        reverse("api-v1:me"), HTTP_AUTHORIZATION=AUTHORIZATIONS[kind]
    )
    # 401, or 429 once this address has guessed too often; 400 for a NUL (core.middleware).
    assert response.status_code in (400, 401, 429), response.content[:300]
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("body_kind", sorted(HOSTILE_BODIES))
def test_the_api_refuses_hostile_bodies_before_authentication(db, body_kind):
    client = Client(raise_request_exception=False)
    response = client.post(
        reverse("api-v1:customer-list"),
        HOSTILE_BODIES[body_kind],
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {NON_ASCII}",
    )
    assert response.status_code in (401, 403, 429), response.content[:300]


# --- the health check -----------------------------------------------------------------------


@pytest.mark.parametrize("header", ["HTTP_AUTHORIZATION", "HTTP_X_FORWARDED_FOR", "HTTP_COOKIE"])
@pytest.mark.parametrize("header_kind", sorted(HOSTILE_TEXT))
def test_the_health_check_ignores_hostile_headers(db, header, header_kind):
    response = Client(raise_request_exception=False).get(
        reverse("core:healthz"), **{header: HOSTILE_TEXT[header_kind]}
    )
    assert response.status_code == 200


# --- the same, over a real socket: headers really sent twice --------------------------------


def raw_request(live_server, method, path, headers, body=b""):
    address = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.putrequest(method, path)
        for name, value in headers:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        return connection.getresponse().status
    finally:
        connection.close()


def test_headers_sent_twice_over_http_are_refused(live_server, transactional_db):
    target = channel("webhook", name="twice", credentials={"signing_secret": SECRET})
    body = json.dumps({"number": "SR-1", "status": "closed"}).encode()
    callback = reverse("api-v1:servicerequests-callbacks:channel", kwargs={"channel_id": target.pk})
    signed, other = standard(SECRET, body), standard("another-secret", body)
    twice = [
        *signed.items(),
        ("webhook-signature", other["webhook-signature"]),
        ("X-Portal-Signature", sign(SECRET, body)),
        ("X-Portal-Signature", sign("another-secret", body)),
        ("Content-Type", "application/json"),
        ("Content-Type", "text/plain"),
    ]
    assert raw_request(live_server, "POST", callback, twice, body) == 401
    tokens = [("Authorization", "Bearer aaaaaaaa"), ("Authorization", "Bearer bbbbbbbb")]
    assert raw_request(live_server, "GET", reverse("api-v1:me"), tokens) in (401, 403, 429)
    non_ascii = [("Authorization", "Bearer ünïcödé".encode())]
    assert raw_request(live_server, "GET", reverse("api-v1:me"), non_ascii) in (401, 403, 429)


# --- next ---------------------------------------------------------------------------------


OFF_SITE = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://elsewhere.example/phish",
    "//elsewhere.example/phish",
    "/\\elsewhere.example",
    "http:///elsewhere.example",
    "\x01https://elsewhere.example",
]


@pytest.mark.parametrize("next_url", OFF_SITE)
def test_next_never_leads_off_the_site(client_for, next_url):
    response = client_for("admin_agent").post(reverse("customers:gdap_sync"), {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:expiring_access")


@pytest.mark.parametrize("next_url", [NON_ASCII, HUGE, "", "a b\r\nSet-Cookie: x=1"])
def test_odd_next_values_stay_on_the_site(client_for, next_url):
    # Relative paths are on the site (they resolve against this page); nothing fails either.
    response = client_for("admin_agent").post(reverse("customers:gdap_sync"), {"next": next_url})
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert (location.scheme, location.netloc) == ("", "")
    assert "\n" not in response["Location"]


def test_next_on_the_site_is_followed(client_for):
    response = client_for("admin_agent").post(
        reverse("customers:gdap_sync"), {"next": "/customers/?q=contoso"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/customers/?q=contoso"


@pytest.mark.parametrize("key", ["note", "author", "status"])
def test_a_nul_in_a_callback_for_a_real_request_is_refused_and_changes_nothing(db, key):
    target = ChannelFactory(credentials={"signing_secret": SECRET})
    service_request = ServiceRequestFactory(channel=target, status=StatusChoices.OPEN)
    fields = {"number": service_request.number, "status": "closed", "note": "Fixed."}
    body = json.dumps({**fields, key: "bad\u0000text"}).encode()
    url = reverse("api-v1:servicerequests-callbacks:channel", kwargs={"channel_id": target.pk})
    assert post_callback(url, body, standard(SECRET, body)).status_code == 401
    service_request.refresh_from_db()
    assert service_request.status == StatusChoices.OPEN
    assert not service_request.notes.exists()
