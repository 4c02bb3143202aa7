"""A stored write-only secret is never sent to a host it was not given for.

Whoever may edit a feed source's URLs, a support channel's endpoint or a webhook subscription's
target URL must type the secret again when the origin (scheme, host, port) changes; otherwise
they could point the URL at a host of their own and have the portal send it the stored secret.
A change of path only keeps the secret. Each test walks one object kind through the three cases
in one interface (page or API): path only (kept), new host without the secret (refused, nothing
stored changes), new host with the secret (saved, audited as changed).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from core.models import AuditEntry
from integrations import services as integration_services
from outbound.urlguard import same_origin
from tests.integrations.helpers import SECRET as SIGNING_SECRET
from tests.security.helpers import api_errors
from tests.servicehealth.factories import FeedSourceFactory
from tests.servicerequests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

CANARY = "canary-stored-secret-3a7f9e21-do-not-send"
NEW_SECRET = "canary-new-secret-8d2c40b6-typed-again"
AGAIN = "Enter the secret again: it is not sent to a new host without it."
AGAIN_AUTH = "Enter the password or token again: it is not sent to a new host without it."

# Loopback names are allowed outbound in development and tests (OUTBOUND_URL_ALLOWLIST): nothing
# here connects anywhere, but the URL checks run on save.
HOME = "http://127.0.0.1:9"
ELSEWHERE = "http://localhost:9"


def form_errors(response):
    return {field: list(errors) for field, errors in response.context["form"].errors.items()}


def last_audit(target):
    """The newest audit entry about ``target``."""
    entries = AuditEntry.objects.filter(
        target_type=target._meta.label_lower, target_id=str(target.pk)
    )
    return entries.order_by("-pk").first()


def columns(obj):
    """Every column of ``obj`` as it stands in memory."""
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def assert_unchanged(obj):
    """Nothing stored changed since ``obj`` was read: no URL, no name, no secret."""
    assert columns(type(obj).objects.get(pk=obj.pk)) == columns(obj)


def post_saved(admin, url, form):
    response = admin.post(url, form)
    assert response.status_code == 302
    return response


def patch_saved(api, url, body):
    response = api.patch(url, body, format="json")
    assert response.status_code == 200, response.json()
    return response


def assert_page_refuses(admin, url, form, errors, typed, stored):
    """The page answers with the form again: what was typed stays, the stored secret does not."""
    refused = admin.post(url, form)
    assert refused.status_code == 200, typed
    assert form_errors(refused) == errors, typed
    page = refused.content.decode()
    assert "Typed name" in page and typed in page
    assert CANARY not in page
    assert_unchanged(stored)


def assert_api_refuses(api, url, bodies, errors, stored):
    for body in bodies:
        refused = api.patch(url, body, format="json")
        assert refused.status_code == 400, body
        assert refused.json()["type"] == "validation_error"
        assert api_errors(refused) == errors, body
        assert_unchanged(stored)


def test_same_origin_compares_scheme_host_and_port():
    assert same_origin("https://a.example/x", "https://A.example/y?z")
    assert not same_origin("https://a.example/x", "http://a.example/x")
    assert not same_origin("https://a.example/x", "https://b.example/x")
    assert not same_origin("https://a.example:8443/x", "https://a.example/x")
    assert not same_origin("https://a.example:99999/x", "https://a.example:99999/x")


# --- feed sources: the client secret goes to the token URL, the token it buys to the base URL ---


def feed_source():
    return FeedSourceFactory(
        client_secret=CANARY,
        base_url=f"{HOME}/v1.0",
        token_url=HOME + "/{tenant_id}/oauth2/v2.0/token",
    )


def feed_form(source, **overrides):
    return {
        "name": source.name,
        "customer": str(source.customer.pk),
        "tenant_id": str(source.tenant_id),
        "base_url": source.base_url,
        "token_url": source.token_url,
        "client_id": source.client_id,
        "client_secret": "",
        "poll_interval_seconds": str(source.poll_interval_seconds),
        "enabled": "on",
        **overrides,
    }


# --- support channels: the access token or signing secret goes with requests to the endpoint ----


def channel_form(channel, **overrides):
    return {
        "name": channel.name,
        "kind": channel.kind,
        "category": channel.category,
        "tier": channel.tier,
        "endpoint": channel.endpoint,
        "enabled": "on",
        "access_token": "",
        "signing_secret": "",
        **overrides,
    }


@pytest.fixture(
    params=[("webhook", "signing_secret", "/hook"), ("partner_center", "access_token", "")],
    ids=["webhook", "partner_center"],
)
def channel_at_home(request):
    """A channel of each kind, its secret's name in ``credentials``, and its endpoint's path at
    HOME."""
    kind, key, path = request.param
    channel = ChannelFactory(kind=kind, endpoint=f"{HOME}{path}", credentials={key: CANARY})
    return channel, key, path


def assert_channel_moved_with_the_new_secret(channel, key, endpoint):
    channel.refresh_from_db()
    assert (channel.endpoint, channel.credentials) == (endpoint, {key: NEW_SECRET})
    entry = last_audit(channel)
    assert (entry.action, entry.after["credentials"]) == ("channel.updated", {key: "changed"})


def test_channel_page_needs_the_secret_again_when_the_endpoint_moves_host(
    client_for, channel_at_home
):
    channel, key, path = channel_at_home
    admin = client_for("global_admin")
    url = reverse("servicerequests:channel_edit", args=[channel.pk])

    post_saved(admin, url, channel_form(channel, endpoint=f"{HOME}/other"))
    channel.refresh_from_db()
    assert (channel.endpoint, channel.credentials) == (f"{HOME}/other", {key: CANARY})

    assert_page_refuses(
        admin,
        url,
        channel_form(channel, name="Typed name", endpoint=ELSEWHERE + path),
        {key: [AGAIN]},
        ELSEWHERE + path,
        channel,
    )

    post_saved(admin, url, channel_form(channel, endpoint=ELSEWHERE + path, **{key: NEW_SECRET}))
    assert_channel_moved_with_the_new_secret(channel, key, ELSEWHERE + path)


def test_channel_api_needs_the_secret_again_when_the_endpoint_moves_host(
    admin_api, channel_at_home
):
    channel, key, path = channel_at_home
    url = f"/api/v1/channels/{channel.pk}/"

    patch_saved(admin_api, url, {"endpoint": f"{HOME}/other"})
    channel.refresh_from_db()
    assert channel.credentials == {key: CANARY}

    refused = (
        {"endpoint": ELSEWHERE + path},
        {"endpoint": ELSEWHERE + path, "credentials": {key: ""}},
        {"endpoint": f"http://127.0.0.1:10{path}"},
    )
    assert_api_refuses(admin_api, url, refused, {f"credentials.{key}": AGAIN}, channel)

    patch_saved(admin_api, url, {"endpoint": ELSEWHERE + path, "credentials": {key: NEW_SECRET}})
    assert_channel_moved_with_the_new_secret(channel, key, ELSEWHERE + path)


# --- webhook subscriptions: the password or token goes to the target URL ------------------------


def subscription(admin, auth_type="bearer", auth_secret=CANARY, name="ConnectWise tickets"):
    created, _signing_secret = integration_services.create_subscription(
        actor=admin,
        data={
            "name": name,
            "target_url": f"{HOME}/hook",
            "event_types": ["incident.created"],
            "auth_type": auth_type,
        },
        secret=SIGNING_SECRET,
        auth_secret=auth_secret,
    )
    return created


def webhook_form(subscription, **overrides):
    return {
        "name": subscription.name,
        "target_url": subscription.target_url,
        "event_types": list(subscription.event_types),
        "psa": "",
        "customers": "",
        "auth_type": subscription.auth_type,
        "auth_username": "",
        "auth_secret": "",
        "is_active": "on",
        **overrides,
    }


# --- the same three cases for each object kind whose one secret goes to its URLs ----------------

# What the edit page and the API say when a URL moves host without its secret typed again.
AGAIN_FOR = {"client_secret": AGAIN, "auth_secret": AGAIN_AUTH}


@dataclass(frozen=True)
class SecretAtUrl:
    """An object kind whose stored secret, ``secret_field``, goes to the hosts of its ``*_url``
    fields: ``make(admin)`` makes one storing CANARY at HOME, ``form(obj, **overrides)`` is its
    edit page's form data; ``page`` and ``api`` name its edit page and API detail."""

    make: Callable
    form: Callable
    page: str
    api: str
    secret_field: str

    def url_fields(self, obj):
        return [field.name for field in obj._meta.fields if field.name.endswith("_url")]

    def moves(self, obj):
        """Each URL moved to another host, and to another scheme, its path kept."""
        for name in self.url_fields(obj):
            path = urlsplit(getattr(obj, name)).path
            yield {name: ELSEWHERE + path}
            yield {name: "https://127.0.0.1:9" + path}

    def path_only(self, obj):
        return {self.url_fields(obj)[0]: f"{HOME}/other"}


FEED_SOURCE = SecretAtUrl(
    lambda admin: feed_source(),
    feed_form,
    "servicehealth:feed_edit",
    "api-v1:feed-source-detail",
    "client_secret",
)
WEBHOOK = SecretAtUrl(
    subscription, webhook_form, "integrations:webhook_edit", "api-v1:webhook-detail", "auth_secret"
)
KINDS = [pytest.param(FEED_SOURCE, id="feed source"), pytest.param(WEBHOOK, id="webhook")]


def assert_saved_with_the_new_secret(kind, stored, moved):
    """Only the URL and the secret changed (another secret, such as a webhook's signing secret,
    stays), and the audit log says the secret changed without holding it."""
    before = columns(stored)
    stored.refresh_from_db()
    after = columns(stored)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {*moved, f"{kind.secret_field}_encrypted", "modified_at"}
    assert {name: getattr(stored, name) for name in moved} == moved
    assert getattr(stored, kind.secret_field) == NEW_SECRET
    entry = last_audit(stored)
    assert entry.action.endswith(".updated")
    assert (entry.before[kind.secret_field], entry.after[kind.secret_field]) == ("set", "changed")
    audited = json.dumps([entry.before, entry.after])
    assert CANARY not in audited and NEW_SECRET not in audited


@pytest.mark.parametrize("kind", KINDS)
def test_page_needs_the_secret_again_when_a_url_moves_host(client_for, cast, kind):
    stored = kind.make(cast["global_admin"])
    admin = client_for("global_admin")
    url = reverse(kind.page, args=[stored.pk])

    path_only = kind.path_only(stored)
    post_saved(admin, url, kind.form(stored, **path_only))
    stored.refresh_from_db()
    assert {name: getattr(stored, name) for name in path_only} == path_only
    assert getattr(stored, kind.secret_field) == CANARY

    moves = list(kind.moves(stored))
    errors = {kind.secret_field: [AGAIN_FOR[kind.secret_field]]}
    for move in moves:
        typed = next(iter(move.values()))
        form = kind.form(stored, name="Typed name", **move)
        assert_page_refuses(admin, url, form, errors, typed, stored)

    post_saved(admin, url, kind.form(stored, **moves[0], **{kind.secret_field: NEW_SECRET}))
    assert_saved_with_the_new_secret(kind, stored, moves[0])


@pytest.mark.parametrize("kind", KINDS)
def test_api_needs_the_secret_again_when_a_url_moves_host(admin_api, cast, kind):
    stored = kind.make(cast["global_admin"])
    url = reverse(kind.api, args=[stored.pk])

    patch_saved(admin_api, url, kind.path_only(stored))
    stored.refresh_from_db()
    assert getattr(stored, kind.secret_field) == CANARY

    moves = list(kind.moves(stored))
    errors = {kind.secret_field: AGAIN_FOR[kind.secret_field]}
    assert_api_refuses(admin_api, url, moves, errors, stored)

    saved = patch_saved(admin_api, url, {**moves[0], kind.secret_field: NEW_SECRET})
    assert NEW_SECRET not in saved.content.decode()
    assert_saved_with_the_new_secret(kind, stored, moves[0])


def test_a_webhook_without_a_password_or_token_moves_to_any_host(admin_api, cast):
    """Without a password or token, nothing but signatures leaves: any host will do."""
    plain = subscription(cast["global_admin"], auth_type="none", auth_secret="", name="Autotask")
    patch_saved(admin_api, f"/api/v1/webhooks/{plain.pk}/", {"target_url": f"{ELSEWHERE}/hook"})
    plain.refresh_from_db()
    assert (plain.target_url, plain.secret) == (f"{ELSEWHERE}/hook", SIGNING_SECRET)
