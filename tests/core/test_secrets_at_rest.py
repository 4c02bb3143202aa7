"""S7: a canary secret in every secret field, entered the way staff and PSA tools enter them, then
every column of every table read by SQL, every page and API answer about them fetched.

What the portal generates and shows once (the webhook signing secret, an API token, the TOTP
secret) is looked for too. The logs of every test in the suite are swept for canaries by the
``no_secret_in_logs`` fixture in tests/conftest.py; this test runs under it as well.
"""

import base64
import uuid

from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from core import crypto
from integrations.models import WebhookSubscription
from microsoft.models import MicrosoftConnection
from servicehealth.models import FeedSource
from servicerequests.models import Channel
from simulators.entra import EntraSimulator
from simulators.http import SimulatorServer
from sso.models import SsoSettings
from tests.accounts.test_mfa import code_for
from tests.microsoft.helpers import CALLBACK_URL, sign_in

FEED_SECRET = "canary-feed-client-secret-31f2"
CHANNEL_SECRET = "canary-channel-signing-secret-8a01"
RECEIVER_TOKEN = "canary-receiver-bearer-token-77c3"
PASSWORD = "canary-passphrase-of-a-helpdesk-agent-5d2e"
# A signing secret the admin brings (whsec_ + base64): its decoded bytes carry the canary.
SIGNING_SECRET = "whsec_" + base64.b64encode(b"canary-signing-key-0b9d-of-32-bytes").decode()
LOOPBACK = "http://127.0.0.1:9"


def every_stored_value():
    """Every value of every column of every table, as text."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (names from introspection)
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview | bytes):
                        value = bytes(value).decode("latin-1")
                    found.append((table, str(value)))
    return found


def post_json(client, url, body, method="post"):
    return getattr(client, method)(url, body, content_type="application/json")


def created(client, url, model, body):
    """The ``model`` row that POSTing ``body`` to the API list at ``url`` created."""
    response = post_json(client, url, body)
    assert response.status_code == 201, response.content
    return model.objects.get(pk=response.json()["id"])


# What staff enter through the API, one secret in each.
FEED = {
    "name": "Contoso feed",
    "tenant_id": str(uuid.uuid4()),
    "base_url": f"{LOOPBACK}/v1.0",
    "token_url": f"{LOOPBACK}/{{tenant_id}}/oauth2/v2.0/token",
    "client_id": "portal-app",
    "client_secret": FEED_SECRET,
    "poll_interval_seconds": 300,
}
CHANNEL = {
    "name": "Advanced Support webhook",
    "credentials": {"signing_secret": CHANNEL_SECRET},
    "kind": "webhook",
    "category": "technical",
    "tier": "advanced",
    "endpoint": f"{LOOPBACK}/hook",
}
WEBHOOK = {
    "name": "ConnectWise",
    "target_url": f"{LOOPBACK}/psa",
    "event_types": ["incident.created"],
    "auth_type": "bearer",
    "auth_secret": RECEIVER_TOKEN,
    "secret": SIGNING_SECRET,
}


def test_no_secret_is_stored_shown_or_audited_in_the_clear(client_for, cast, password):
    admin = client_for("global_admin")
    shown_once = []

    # A customer's Microsoft Graph feed: its client secret.
    source = created(admin, "/api/v1/feed-sources/", FeedSource, FEED)
    # An escalation channel: its signing secret.
    channel = created(admin, "/api/v1/channels/", Channel, CHANNEL)
    # Two PSA webhook subscriptions: one brings its signing secret, one has it generated.
    brought = created(admin, "/api/v1/webhooks/", WebhookSubscription, WEBHOOK)
    response = post_json(
        admin,
        "/api/v1/webhooks/",
        {"name": "HaloPSA", "target_url": f"{LOOPBACK}/halo", "event_types": ["feed.failing"]},
    )
    assert response.status_code == 201, response.content
    generated = WebhookSubscription.objects.get(pk=response.json()["id"])
    shown_once.append(response.json()["signing_secret"])
    assert generated.secret == shown_once[-1]

    # An API client's token, shown once on the page that created it.
    response = admin.post(
        reverse("accounts:api_client_create"),
        {"name": "Autotask", "role": Role.HELPDESK_AGENT, "scope_customers": "read"},
    )
    assert response.status_code == 200
    shown_once.append(response.context["token"])

    # A helpdesk agent's new password, then their TOTP secret.
    agent = Client()
    agent.force_login(cast["helpdesk_agent"])
    response = agent.post(
        reverse("account_change_password"),
        {"oldpassword": password, "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    agent = Client()
    assert (
        agent.post(
            reverse("account_login"),
            {"login": "helpdesk-agent@partner.example", "password": PASSWORD},
        ).status_code
        == 302
    )
    assert agent.post(reverse("account_reauthenticate"), {"password": PASSWORD}).status_code == 302
    activate = reverse("mfa_activate_totp")
    assert agent.get(activate).status_code == 200
    totp_secret = agent.session[SECRET_SESSION_KEY]
    assert agent.post(activate, {"code": code_for(totp_secret)}).status_code == 302
    shown_once.append(totp_secret)

    # The portal can still use every one of them.
    source.refresh_from_db()
    assert source.client_secret == FEED_SECRET
    assert Channel.objects.get(pk=channel.pk).credentials == {"signing_secret": CHANNEL_SECRET}
    assert (brought.secret, brought.auth_secret) == (SIGNING_SECRET, RECEIVER_TOKEN)

    secrets = [FEED_SECRET, CHANNEL_SECRET, RECEIVER_TOKEN, PASSWORD, SIGNING_SECRET, *shown_once]

    # Raw columns: ciphertext, digests and password hashes only. The audit log is a table too.
    leaks = [(table, s) for table, value in every_stored_value() for s in secrets if s in value]
    assert leaks == []
    # ...and the ciphertext is what the application decrypts (not a copy kept elsewhere).
    assert crypto.decrypt(source.client_secret_encrypted) == FEED_SECRET

    # Every page and API answer about these objects, for the admin who entered them.
    pages = [
        "/api/v1/feed-sources/",
        f"/api/v1/feed-sources/{source.pk}/",
        "/api/v1/channels/",
        f"/api/v1/channels/{channel.pk}/",
        "/api/v1/webhooks/",
        f"/api/v1/webhooks/{brought.pk}/",
        f"/api/v1/webhooks/{generated.pk}/",
        reverse("servicehealth:feed_list"),
        reverse("servicehealth:feed_edit", args=[source.pk]),
        reverse("servicerequests:channel_list"),
        reverse("servicerequests:channel_edit", args=[channel.pk]),
        reverse("integrations:webhook_list"),
        reverse("integrations:webhook_detail", args=[brought.pk]),
        reverse("integrations:webhook_edit", args=[brought.pk]),
        reverse("accounts:api_client_list"),
        reverse("dashboard:audit_log"),
        reverse("dashboard:audit_log_export"),
        reverse("dashboard:events"),
    ]
    for url in pages:
        response = admin.get(url)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert [s for s in secrets if s in body.decode()] == [], url


MICROSOFT_SECRET = "canary-microsoft-client-secret-6e1d"


def test_the_microsoft_connection_keeps_its_secret_and_tokens_out_of_sight(client_for):
    """The app's client secret typed on the page, the refresh token a consent gives and the
    access tokens it redeems: ciphertext at rest, never on a page or in the audit log."""
    simulator = EntraSimulator(
        tenant_id="11111111-2222-3333-4444-555555555555",
        client_id="portal-app",
        client_secret=MICROSOFT_SECRET,
    )
    admin = client_for("global_admin")
    with SimulatorServer(simulator):
        settings = {
            "tenant_id": simulator.tenant_id,
            "client_id": simulator.client_id,
            "client_secret": MICROSOFT_SECRET,
            "login_url": simulator.base_url,
            "graph_url": "https://graph.microsoft.com",
            "partner_center_url": "https://api.partnercenter.microsoft.com",
        }
        assert admin.post(reverse("microsoft:connection"), settings).status_code == 302
        assert admin.get(CALLBACK_URL, sign_in(admin, simulator)).status_code == 302
        assert admin.post(reverse("microsoft:redeem")).status_code == 302
    connection = MicrosoftConnection.objects.get(pk=1)
    assert connection.state == MicrosoftConnection.State.CONNECTED
    secrets = [MICROSOFT_SECRET, *simulator.refresh_tokens, *simulator.access_tokens]
    assert connection.refresh_token in secrets

    leaks = [(table, s) for table, value in every_stored_value() for s in secrets if s in value]
    assert leaks == []
    for url in (
        reverse("microsoft:connection"),
        reverse("dashboard:audit_log"),
        reverse("dashboard:audit_log_export"),
    ):
        response = admin.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert [s for s in secrets if s in body.decode()] == [], url


SSO_SECRET = "canary-sso-client-secret-2b8e"


def test_the_sign_in_settings_keep_their_secret_out_of_sight(client_for, entra_simulator):
    """The staff sign-in app's client secret typed on the page: ciphertext at rest, never on a
    page or in the audit log."""
    admin = client_for("global_admin")
    call_command("sync_roles", verbosity=0)
    response = admin.post(
        reverse("sso:settings"),
        {
            "enabled": "on",
            "tenant_id": entra_simulator.tenant_id,
            "client_id": entra_simulator.client_id,
            "client_secret": SSO_SECRET,
            "login_url": entra_simulator.base_url,
            "local_sign_in": "on",
        },
    )
    assert response.status_code == 302, response.content[:500]
    assert SsoSettings.get().client_secret == SSO_SECRET
    leaks = [table for table, value in every_stored_value() if SSO_SECRET in value]
    assert leaks == []
    for url in (reverse("sso:settings"), reverse("dashboard:audit_log")):
        assert SSO_SECRET not in admin.get(url).content.decode(), url
