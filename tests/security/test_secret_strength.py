"""Signing secrets are long enough to resist guessing.

The portal generates 32 random bytes; a signing secret an admin types in (a webhook
subscription's Standard Webhooks secret, decoded from its base64, or a webhook channel's secret
that signs its status callbacks) needs at least 24 bytes.
"""

import base64

import pytest
from django.urls import reverse

from integrations.models import WebhookSubscription
from servicerequests.models import Channel
from tests.integrations.helpers import webhook_form_data
from tests.security.helpers import api_errors
from tests.servicerequests.factories import ChannelFactory

pytestmark = pytest.mark.django_db

HOOK = "http://127.0.0.1:9/hook"  # loopback: allowed outbound in tests, never connected to here


def whsec(size):
    return "whsec_" + base64.b64encode(bytes(range(40, 40 + size))).decode()


def key_bytes(secret):
    assert secret.startswith("whsec_")
    return len(base64.b64decode(secret.removeprefix("whsec_"), validate=True))


# --- webhook subscriptions ------------------------------------------------------------------


def new_subscription(api, **fields):
    body = {"name": "PSA", "target_url": HOOK, "event_types": ["incident.created"], **fields}
    return api.post("/api/v1/webhooks/", body, format="json")


def webhook_form(**overrides):
    return webhook_form_data(
        **{"target_url": HOOK, "event_types": ["incident.created"], **overrides}
    )


def test_api_refuses_a_webhook_signing_secret_under_24_bytes(admin_api):
    refused = new_subscription(admin_api, secret=whsec(23))
    assert refused.status_code == 400
    assert set(api_errors(refused)) == {"secret"}
    assert "24" in api_errors(refused)["secret"]
    assert not WebhookSubscription.objects.exists()

    accepted = new_subscription(admin_api, secret=whsec(24))
    assert accepted.status_code == 201, accepted.json()
    assert WebhookSubscription.objects.get().secret == whsec(24)


def test_page_refuses_a_webhook_signing_secret_under_24_bytes(client_for):
    admin = client_for("global_admin")
    refused = admin.post(reverse("integrations:webhook_create"), webhook_form(secret=whsec(23)))
    assert refused.status_code == 200
    assert set(refused.context["form"].errors) == {"secret"}
    assert not WebhookSubscription.objects.exists()

    accepted = admin.post(reverse("integrations:webhook_create"), webhook_form(secret=whsec(24)))
    assert accepted.status_code == 200
    assert accepted.context["secret"] == whsec(24)
    assert WebhookSubscription.objects.get().secret == whsec(24)


def test_generated_webhook_signing_secrets_hold_32_random_bytes(admin_api, client_for):
    created = new_subscription(admin_api)
    assert created.status_code == 201, created.json()
    shown = created.json()["signing_secret"]
    stored = WebhookSubscription.objects.get(pk=created.json()["id"])
    assert stored.secret == shown
    assert key_bytes(stored.secret) == 32

    rotated = admin_api.post(f"/api/v1/webhooks/{stored.pk}/rotate-secret/")
    assert rotated.status_code == 200, rotated.json()
    stored.refresh_from_db()
    assert stored.secret == rotated.json()["signing_secret"] != shown
    assert key_bytes(stored.secret) == 32

    page = client_for("global_admin").post(
        reverse("integrations:webhook_create"), webhook_form(name="From the page")
    )
    assert page.status_code == 200
    from_page = WebhookSubscription.objects.get(name="From the page")
    assert from_page.secret == page.context["secret"]
    assert key_bytes(from_page.secret) == 32


# --- support channels whose callbacks are signed ----------------------------------------------


def channel_form(**overrides):
    return {
        "name": "Advanced Support webhook",
        "kind": "webhook",
        "category": "technical",
        "tier": "advanced",
        "endpoint": HOOK,
        "enabled": "on",
        "access_token": "",
        "signing_secret": "",
        **overrides,
    }


def test_page_refuses_a_channel_signing_secret_under_24_bytes(client_for):
    admin = client_for("global_admin")
    url = reverse("servicerequests:channel_create")
    for short in ("s" * 23, "é" * 11 + "s"):  # 23 bytes either way: the HMAC key is UTF-8
        refused = admin.post(url, channel_form(signing_secret=short))
        assert refused.status_code == 200
        assert set(refused.context["form"].errors) == {"signing_secret"}
        assert not Channel.objects.filter(name="Advanced Support webhook").exists()

    accepted = admin.post(url, channel_form(signing_secret="é" * 12))
    assert accepted.status_code == 302, accepted.context["form"].errors
    channel = Channel.objects.get(name="Advanced Support webhook")
    assert channel.credentials == {"signing_secret": "é" * 12}

    edit = reverse("servicerequests:channel_edit", args=[channel.pk])
    refused = admin.post(edit, channel_form(signing_secret="s" * 23))
    assert set(refused.context["form"].errors) == {"signing_secret"}
    channel.refresh_from_db()
    assert channel.credentials == {"signing_secret": "é" * 12}


def test_api_refuses_a_channel_signing_secret_under_24_bytes(admin_api):
    body = {
        "name": "Advanced Support webhook",
        "kind": "webhook",
        "category": "technical",
        "tier": "advanced",
        "endpoint": HOOK,
    }
    refused = admin_api.post(
        "/api/v1/channels/", {**body, "credentials": {"signing_secret": "s" * 23}}, format="json"
    )
    assert refused.status_code == 400
    assert set(api_errors(refused)) == {"credentials.signing_secret"}
    assert not Channel.objects.filter(name=body["name"]).exists()

    accepted = admin_api.post(
        "/api/v1/channels/", {**body, "credentials": {"signing_secret": "s" * 24}}, format="json"
    )
    assert accepted.status_code == 201, accepted.json()
    assert Channel.objects.get(name=body["name"]).credentials == {"signing_secret": "s" * 24}

    channel = ChannelFactory(credentials={"signing_secret": "a-long-enough-stored-secret"})
    before = channel.credentials_encrypted
    short = admin_api.patch(
        f"/api/v1/channels/{channel.pk}/",
        {"credentials": {"signing_secret": "s" * 23}},
        format="json",
    )
    assert short.status_code == 400
    assert set(api_errors(short)) == {"credentials.signing_secret"}
    channel.refresh_from_db()
    assert channel.credentials_encrypted == before


@pytest.mark.parametrize(
    "secret",
    ["whsec_" + "a" * 29, whsec(23), "whsec_" + "!" * 30],
    ids=["not_base64", "23_bytes_decoded", "nothing_decoded"],
)
def test_a_whsec_channel_secret_is_judged_by_its_key(client_for, secret):
    """A whsec_ channel secret keys its signatures by its decoded bytes: text that does not
    decode, or decodes short, is refused with the field's error instead of failing later."""
    admin = client_for("global_admin")
    refused = admin.post(
        reverse("servicerequests:channel_create"), channel_form(signing_secret=secret)
    )
    assert refused.status_code == 200
    assert set(refused.context["form"].errors) == {"signing_secret"}
    assert not Channel.objects.filter(name="Advanced Support webhook").exists()


def test_a_whsec_channel_secret_of_24_decoded_bytes_is_taken(client_for):
    admin = client_for("global_admin")
    accepted = admin.post(
        reverse("servicerequests:channel_create"), channel_form(signing_secret=whsec(24))
    )
    assert accepted.status_code == 302, accepted.context["form"].errors
    channel = Channel.objects.get(name="Advanced Support webhook")
    assert channel.credentials == {"signing_secret": whsec(24)}
