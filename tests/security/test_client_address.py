"""The client's address behind reverse proxies: one rule (TRUSTED_PROXY_COUNT) for the audit log,
the API throttles and the sign-in rate limits. A client can write anything in X-Forwarded-For;
only the entries our own proxies appended are believed, and only valid addresses are kept.
"""

import pytest
from django.core.cache import caches
from django.test import Client, RequestFactory
from django.urls import reverse

from core.audit import client_ip
from core.models import AuditEntry
from tests.test_access_matrix import _kwargs
from tests.test_settings import run_django

SOCKET = "198.51.100.20"


def audited_address(cast, forwarded_for):
    """Deactivate someone with this X-Forwarded-For; the address the audit entry recorded."""
    signed_in = Client(REMOTE_ADDR=SOCKET)
    signed_in.force_login(cast["global_admin"])
    kwargs = _kwargs("target_user", cast)
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for is not None else {}
    response = signed_in.post(reverse("accounts:staff_deactivate", kwargs=kwargs), **headers)
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="staff.deactivated", target_id=str(kwargs["pk"]))
    return entry.ip_address


def test_a_spoofed_forwarded_for_is_ignored_without_trusted_proxies(cast, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert audited_address(cast, "6.6.6.6") == SOCKET


def test_behind_one_proxy_the_address_it_appended_is_stored(cast, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client wrote 6.6.6.6; our proxy appended the address it was connected from.
    assert audited_address(cast, "6.6.6.6, 203.0.113.5") == "203.0.113.5"


def test_behind_two_proxies_the_second_entry_from_the_right_is_stored(cast, settings):
    settings.TRUSTED_PROXY_COUNT = 2
    assert audited_address(cast, "6.6.6.6, 203.0.113.5, 10.0.0.2") == "203.0.113.5"


@pytest.mark.parametrize(
    ("count", "forwarded_for"),
    [
        (1, None),  # no header
        (1, ""),
        (1, "not-an-address"),
        (1, "203.0.113.5, 300.1.2.3"),
        (1, "203.0.113.5,"),
        (1, "ünïcödé"),
        (1, "203.0.113.5:443"),
        (2, "203.0.113.5"),  # shorter than the proxies said to be in front
        (1, "1" * 65536),
    ],
)
def test_a_missing_short_or_garbage_header_falls_back_to_the_socket(
    count, forwarded_for, cast, settings
):
    settings.TRUSTED_PROXY_COUNT = count
    assert audited_address(cast, forwarded_for) == SOCKET


@pytest.mark.parametrize("remote_addr", ["", "unix:/run/gunicorn.sock", "999.1.1.1"])
def test_an_invalid_address_is_never_stored(remote_addr, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().get("/", REMOTE_ADDR=remote_addr, HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert client_ip(request) is None


def test_the_old_variable_stops_the_boot_instead_of_being_ignored(tmp_path):
    result = run_django({"NUM_PROXIES": "1"}, "print('booted')", tmp_path)
    assert result.returncode != 0
    assert "NUM_PROXIES was renamed TRUSTED_PROXY_COUNT" in result.stderr
    result = run_django(
        {"TRUSTED_PROXY_COUNT": "1"}, "print(settings.TRUSTED_PROXY_COUNT)", tmp_path
    )
    assert result.stdout.strip() == "1", result.stderr


def test_the_api_throttle_and_the_login_rate_limit_key_on_the_same_address(db, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "2/m/ip"}
    browser = Client(REMOTE_ADDR=SOCKET)
    login = reverse("account_login")
    body = {"login": "nobody@partner.example", "password": "wrong"}

    def sign_in_from(forwarded_for):
        return browser.post(login, body, HTTP_X_FORWARDED_FOR=forwarded_for).status_code

    # Whatever the client writes on the left, the attempts count against 203.0.113.5...
    assert sign_in_from("1.1.1.1, 203.0.113.5") != 429
    assert sign_in_from("2.2.2.2, 203.0.113.5") != 429
    assert sign_in_from("3.3.3.3, 203.0.113.5") == 429
    # ...and not against another client behind the same proxy.
    assert sign_in_from("3.3.3.3, 203.0.113.6") != 429

    throttle = caches["throttle"]
    response = Client(REMOTE_ADDR=SOCKET).get(
        reverse("api-v1:me"), HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.5"
    )
    assert response.status_code in (401, 403)

    def bucket_exists(key):  # core.throttling keeps each bucket as a Redis sorted set
        return throttle._cache.get_client(write=True).exists(throttle.make_and_validate_key(key))

    # DRF's key for the unauthenticated bucket: throttle_<scope>_<address>.
    assert bucket_exists("throttle_anonymous_203.0.113.5")
    assert not bucket_exists("throttle_anonymous_1.1.1.1")
    assert not bucket_exists(f"throttle_anonymous_{SOCKET}")
