"""A stored write-only secret is never sent to a host it was not given for.

Whoever may edit a feed source's URLs, a support channel's endpoint or a webhook subscription's
target URL must type the secret again when the origin (scheme, host, port) changes; otherwise
they could point the URL at a host of their own and have the portal send it the stored secret.
A change of path only keeps the secret. Each test walks one object kind through the three cases
in one interface (page or API): path only (kept), new host without the secret (refused, nothing
stored changes), new host with the secret (saved, audited as changed).
"""

import json

import pytest
from django.urls import reverse

from core.models import AuditEntry
from integrations import services as integration_services
from integrations.models import WebhookSubscription
from outbound.urlguard import same_origin
from servicehealth.models import FeedSource
from servicerequests.models import Channel
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


def last_audit(action):
    return AuditEntry.objects.filter(action=action).order_by("-pk").first()


def post_saved(admin, url, form):
    response = admin.post(url, form)
    assert response.status_code == 302
    return response


def patch_saved(api, url, body):
    response = api.patch(url, body, format="json")
    assert response.status_code == 200, response.json()
    return response


def assert_page_refuses(admin, url, form, errors, typed, assert_unchanged):
    """The page answers with the form again: what was typed stays, the stored secret does not."""
    refused = admin.post(url, form)
    assert refused.status_code == 200, typed
    assert form_errors(refused) == errors, typed
    page = refused.content.decode()
    assert "Typed name" in page and typed in page
    assert CANARY not in page
    assert_unchanged()


def assert_api_refuses(api, url, bodies, errors, assert_unchanged):
    for body in bodies:
        refused = api.patch(url, body, format="json")
        assert refused.status_code == 400, body
        assert refused.json()["type"] == "validation_error"
        assert api_errors(refused) == errors, body
        assert_unchanged()


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


def assert_feed_unchanged(source):
    stored = FeedSource.objects.get(pk=source.pk)
    assert stored.client_secret_encrypted == source.client_secret_encrypted
    assert (stored.base_url, stored.token_url, stored.name) == (
        source.base_url,
        source.token_url,
        source.name,
    )


def test_feed_page_needs_the_secret_again_when_a_url_moves_host(client_for):
    source = feed_source()
    admin = client_for("global_admin")
    url = reverse("servicehealth:feed_edit", args=[source.pk])

    post_saved(admin, url, feed_form(source, base_url=f"{HOME}/beta"))
    source.refresh_from_db()
    assert (source.base_url, source.client_secret) == (f"{HOME}/beta", CANARY)

    moves = [
        {"base_url": f"{ELSEWHERE}/v1.0"},
        {"token_url": ELSEWHERE + "/{tenant_id}/oauth2/v2.0/token"},
        {"token_url": "https://127.0.0.1:9/{tenant_id}/oauth2/v2.0/token"},
    ]
    for move in moves:
        assert_page_refuses(
            admin,
            url,
            feed_form(source, name="Typed name", **move),
            {"client_secret": [AGAIN]},
            next(iter(move.values())),
            lambda: assert_feed_unchanged(source),
        )

    post_saved(
        admin, url, feed_form(source, base_url=f"{ELSEWHERE}/v1.0", client_secret=NEW_SECRET)
    )
    source.refresh_from_db()
    assert (source.base_url, source.client_secret) == (f"{ELSEWHERE}/v1.0", NEW_SECRET)
    entry = last_audit("feed_source.updated")
    assert (entry.before["client_secret"], entry.after["client_secret"]) == ("set", "changed")


def test_feed_api_needs_the_secret_again_when_a_url_moves_host(admin_api):
    source = feed_source()
    url = f"/api/v1/feed-sources/{source.pk}/"

    patch_saved(admin_api, url, {"token_url": HOME + "/{tenant_id}/token"})
    source.refresh_from_db()
    assert source.client_secret == CANARY

    assert_api_refuses(
        admin_api,
        url,
        ({"base_url": f"{ELSEWHERE}/v1.0"}, {"token_url": f"{ELSEWHERE}/token"}),
        {"client_secret": AGAIN},
        lambda: assert_feed_unchanged(source),
    )

    saved = patch_saved(
        admin_api, url, {"base_url": f"{ELSEWHERE}/v1.0", "client_secret": NEW_SECRET}
    )
    assert NEW_SECRET not in saved.content.decode()
    source.refresh_from_db()
    assert (source.base_url, source.client_secret) == (f"{ELSEWHERE}/v1.0", NEW_SECRET)
    entry = last_audit("feed_source.updated")
    assert entry.after["client_secret"] == "changed"


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


def assert_channel_unchanged(channel):
    stored = Channel.objects.get(pk=channel.pk)
    assert stored.credentials_encrypted == channel.credentials_encrypted
    assert (stored.endpoint, stored.name) == (channel.endpoint, channel.name)


@pytest.mark.parametrize(
    ("kind", "key", "path"),
    [("webhook", "signing_secret", "/hook"), ("partner_center", "access_token", "")],
)
def test_channel_page_needs_the_secret_again_when_the_endpoint_moves_host(
    client_for, kind, key, path
):
    channel = ChannelFactory(kind=kind, endpoint=f"{HOME}{path}", credentials={key: CANARY})
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
        lambda: assert_channel_unchanged(channel),
    )

    post_saved(admin, url, channel_form(channel, endpoint=ELSEWHERE + path, **{key: NEW_SECRET}))
    channel.refresh_from_db()
    assert (channel.endpoint, channel.credentials) == (ELSEWHERE + path, {key: NEW_SECRET})
    entry = last_audit("channel.updated")
    assert entry.after["credentials"] == {key: "changed"}


@pytest.mark.parametrize(
    ("kind", "key", "path"),
    [("webhook", "signing_secret", "/hook"), ("partner_center", "access_token", "")],
)
def test_channel_api_needs_the_secret_again_when_the_endpoint_moves_host(
    admin_api, kind, key, path
):
    channel = ChannelFactory(kind=kind, endpoint=f"{HOME}{path}", credentials={key: CANARY})
    url = f"/api/v1/channels/{channel.pk}/"

    patch_saved(admin_api, url, {"endpoint": f"{HOME}/other"})
    channel.refresh_from_db()
    assert channel.credentials == {key: CANARY}

    assert_api_refuses(
        admin_api,
        url,
        (
            {"endpoint": ELSEWHERE + path},
            {"endpoint": ELSEWHERE + path, "credentials": {key: ""}},
            {"endpoint": f"http://127.0.0.1:10{path}"},
        ),
        {f"credentials.{key}": AGAIN},
        lambda: assert_channel_unchanged(channel),
    )

    patch_saved(admin_api, url, {"endpoint": ELSEWHERE + path, "credentials": {key: NEW_SECRET}})
    channel.refresh_from_db()
    assert (channel.endpoint, channel.credentials) == (ELSEWHERE + path, {key: NEW_SECRET})
    entry = last_audit("channel.updated")
    assert entry.after["credentials"] == {key: "changed"}


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


def assert_subscription_unchanged(subscription):
    stored = WebhookSubscription.objects.get(pk=subscription.pk)
    assert stored.auth_secret_encrypted == subscription.auth_secret_encrypted
    assert stored.secret_encrypted == subscription.secret_encrypted
    assert (stored.target_url, stored.name) == (subscription.target_url, subscription.name)


def test_webhook_page_needs_the_password_or_token_again_when_the_url_moves_host(client_for, cast):
    hook = subscription(cast["global_admin"])
    admin = client_for("global_admin")
    url = reverse("integrations:webhook_edit", args=[hook.pk])

    post_saved(admin, url, webhook_form(hook, target_url=f"{HOME}/other"))
    hook.refresh_from_db()
    assert (hook.target_url, hook.auth_secret) == (f"{HOME}/other", CANARY)

    assert_page_refuses(
        admin,
        url,
        webhook_form(hook, name="Typed name", target_url=f"{ELSEWHERE}/hook"),
        {"auth_secret": [AGAIN_AUTH]},
        f"{ELSEWHERE}/hook",
        lambda: assert_subscription_unchanged(hook),
    )

    post_saved(
        admin, url, webhook_form(hook, target_url=f"{ELSEWHERE}/hook", auth_secret=NEW_SECRET)
    )
    hook.refresh_from_db()
    assert (hook.target_url, hook.auth_secret) == (f"{ELSEWHERE}/hook", NEW_SECRET)
    assert hook.secret == SIGNING_SECRET  # only signatures leave: the signing secret stays
    entry = last_audit("webhook.updated")
    assert entry.after["auth_secret"] == "changed"


def test_webhook_api_needs_the_password_or_token_again_when_the_url_moves_host(admin_api, cast):
    hook = subscription(cast["global_admin"])
    url = f"/api/v1/webhooks/{hook.pk}/"

    patch_saved(admin_api, url, {"target_url": f"{HOME}/other"})
    hook.refresh_from_db()
    assert hook.auth_secret == CANARY

    assert_api_refuses(
        admin_api,
        url,
        ({"target_url": f"{ELSEWHERE}/hook"}, {"target_url": "https://127.0.0.1:9/h"}),
        {"auth_secret": AGAIN_AUTH},
        lambda: assert_subscription_unchanged(hook),
    )

    saved = patch_saved(
        admin_api, url, {"target_url": f"{ELSEWHERE}/hook", "auth_secret": NEW_SECRET}
    )
    assert NEW_SECRET not in saved.content.decode()
    hook.refresh_from_db()
    assert (hook.target_url, hook.auth_secret) == (f"{ELSEWHERE}/hook", NEW_SECRET)
    assert hook.secret == SIGNING_SECRET
    entry = last_audit("webhook.updated")
    assert entry.after["auth_secret"] == "changed"
    assert CANARY not in json.dumps([entry.before, entry.after])

    # Without a password or token, nothing but signatures leaves: any host will do.
    plain = subscription(cast["global_admin"], auth_type="none", auth_secret="", name="Autotask")
    patch_saved(admin_api, f"/api/v1/webhooks/{plain.pk}/", {"target_url": f"{ELSEWHERE}/hook"})
    plain.refresh_from_db()
    assert (plain.target_url, plain.secret) == (f"{ELSEWHERE}/hook", SIGNING_SECRET)
