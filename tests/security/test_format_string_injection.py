"""A token URL is a template with one placeholder, {tenant_id}, filled in literally.

Filled in with ``str.format``, a field such as ``{tenant_id.__class__.__init__.__globals__[sys]...}``
walked from the tenant id into Django's settings: in the scheme, the secret came back in the
validation error; in the path, the source was stored and its token request carried the secret.
"""

import uuid

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.urls import reverse

from core.models import AuditEntry
from customers import gdap_sync as gdap_sync
from outbound.graph import GraphConnection, GraphError
from outbound.urlguard import PlaceholderError, fill_tenant_id
from servicehealth import polling as feed_sync
from servicehealth.models import FeedSource
from tests.servicehealth.factories import FeedSourceFactory

PLACEHOLDER_ERROR = "The only placeholder a token URL may hold is {tenant_id}."
SETTINGS = "{tenant_id.__class__.__init__.__globals__[sys].modules[django.conf].settings"
SECRET_KEY_FIELD = SETTINGS + ".SECRET_KEY}"
ENCRYPTION_KEY_FIELD = SETTINGS + ".FIELD_ENCRYPTION_KEYS[0]}"
BASE_URL = "http://127.0.0.1:9/v1.0"

INJECTED_TOKEN_URLS = [
    pytest.param(f"http://127.0.0.1:9/{SECRET_KEY_FIELD}/token", id="secret-key-in-path"),
    pytest.param(f"{SECRET_KEY_FIELD}://127.0.0.1/token", id="secret-key-in-scheme"),
    pytest.param(f"http://127.0.0.1:9/{ENCRYPTION_KEY_FIELD}/token", id="field-key-in-path"),
    pytest.param(f"{ENCRYPTION_KEY_FIELD}://127.0.0.1/token", id="field-key-in-scheme"),
]


@pytest.fixture
def secrets(settings):
    """A SECRET_KEY and a field encryption key to look for. Lower case, letters and digits:
    valid in a URL scheme, so the old code quoted the secret key back whole."""
    settings.SECRET_KEY = f"leakcheck{uuid.uuid4().hex}{uuid.uuid4().hex}"
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    return [settings.SECRET_KEY, *settings.FIELD_ENCRYPTION_KEYS]


def assert_no_secret(text, secrets):
    for secret in secrets:
        # Lower-cased: a URL scheme is, and a secret there came back lower-cased.
        assert secret.lower() not in text.lower()


def assert_nothing_stored():
    assert not FeedSource.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="feed_source.").exists()


@pytest.mark.parametrize("token_url", INJECTED_TOKEN_URLS)
def test_the_feeds_page_refuses_the_token_url_without_quoting_a_secret(
    token_url, secrets, client_for
):
    response = client_for("global_admin").post(
        reverse("servicehealth:feed_create"),
        {
            "name": "Injected",
            "customer": "",
            "tenant_id": str(uuid.uuid4()),
            "base_url": BASE_URL,
            "token_url": token_url,
            "client_id": "portal-app",
            "client_secret": "feed-secret",
            "poll_interval_seconds": "300",
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["token_url"] == [PLACEHOLDER_ERROR]
    assert_no_secret(response.content.decode(), secrets)
    assert_nothing_stored()


@pytest.mark.parametrize("token_url", INJECTED_TOKEN_URLS)
def test_the_api_refuses_the_token_url_without_quoting_a_secret(token_url, secrets, client_for):
    response = client_for("global_admin").post(
        "/api/v1/feed-sources/",
        {
            "name": "Injected",
            "tenant_id": str(uuid.uuid4()),
            "base_url": BASE_URL,
            "token_url": token_url,
            "client_id": "portal-app",
            "client_secret": "feed-secret",
            "poll_interval_seconds": 300,
            "enabled": True,
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(error["attr"], error["detail"]) for error in errors] == [
        ("token_url", PLACEHOLDER_ERROR)
    ]
    assert_no_secret(response.content.decode(), secrets)
    assert_nothing_stored()


@pytest.mark.parametrize("token_url", INJECTED_TOKEN_URLS)
def test_the_command_refuses_the_token_url_without_quoting_a_secret(
    token_url, secrets, monkeypatch, db
):
    monkeypatch.setenv("FEED_CLIENT_SECRET", "feed-secret")
    with pytest.raises(CommandError) as raised:
        call_command(
            "add_feed_source",
            "--name=Injected",
            f"--tenant-id={uuid.uuid4()}",
            "--client-id=portal-app",
            f"--base-url={BASE_URL}",
            f"--token-url={token_url}",
        )
    assert str(raised.value) == PLACEHOLDER_ERROR
    assert_no_secret(str(raised.value), secrets)
    assert_nothing_stored()


@pytest.mark.parametrize("tenant_id", [str(uuid.uuid4()), uuid.uuid4()], ids=["str", "uuid"])
@pytest.mark.parametrize("token_url", INJECTED_TOKEN_URLS)
def test_a_graph_connection_refuses_the_token_url_cleanly(token_url, tenant_id, secrets):
    with pytest.raises(GraphError) as raised:
        GraphConnection(
            base_url=BASE_URL,
            token_url=token_url,
            tenant_id=tenant_id,
            client_id="portal-app",
            client_secret="feed-secret",
        )
    assert str(raised.value) == PLACEHOLDER_ERROR
    assert raised.value.permanent
    assert_no_secret(str(raised.value), secrets)


@pytest.mark.parametrize("token_url", INJECTED_TOKEN_URLS)
def test_a_source_stored_before_the_fix_fails_its_poll_cleanly(token_url, secrets, db):
    # Saved without validation, as a source added before token URLs were checked could be.
    source = FeedSourceFactory(base_url=BASE_URL, token_url=token_url)
    with pytest.raises(GraphError, match="only placeholder"):
        feed_sync.poll(source.pk)
    source.refresh_from_db()
    assert source.last_error == PLACEHOLDER_ERROR
    assert source.needs_attention
    assert_no_secret(source.last_error, secrets)


def test_a_gdap_token_url_with_another_placeholder_is_reported_as_not_configured(settings, secrets):
    settings.PARTNER_TENANT_ID = str(uuid.uuid4())
    settings.GRAPH_CLIENT_ID = "portal-app"
    settings.GRAPH_CLIENT_SECRET = "gdap-secret"
    settings.GRAPH_TOKEN_URL = f"{SECRET_KEY_FIELD}://127.0.0.1/token"
    with pytest.raises(gdap_sync.NotConfigured) as raised:
        gdap_sync.partner_connection()
    assert str(raised.value) == f"GRAPH_TOKEN_URL: {PLACEHOLDER_ERROR}"
    assert_no_secret(str(raised.value), secrets)


@pytest.mark.parametrize(
    "template",
    [
        "https://h/{tenant_id.__class__}/token",
        "https://h/{tenant_id!r}/token",
        "https://h/{tenant_id:>40}/token",
        "https://h/{0}/token",
        "https://h/{}/token",
        "https://h/{{tenant_id}}/token",
        "https://h/{tenant}/token",
        "https://h/}/token",
        "https://h/{/token",
    ],
)
def test_only_the_tenant_id_placeholder_is_filled_in(template):
    with pytest.raises(PlaceholderError):
        fill_tenant_id(template, uuid.UUID("11111111-2222-3333-4444-555555555555"))


def test_the_tenant_id_placeholder_is_filled_in_everywhere_it_appears():
    tenant = uuid.UUID("11111111-2222-3333-4444-555555555555")
    assert (
        fill_tenant_id("https://login.example/{tenant_id}/x/{tenant_id}", tenant)
        == f"https://login.example/{tenant}/x/{tenant}"
    )
    assert fill_tenant_id("https://login.example/fixed/token", tenant) == (
        "https://login.example/fixed/token"
    )
