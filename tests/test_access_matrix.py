"""Every URL pattern of the project, requested by every principal, against the role matrix (S1).

The expectations below restate the matrix independently of ``accounts.roles``: a view added
without an entry here fails ``test_every_url_pattern_is_in_the_matrix``, and a view whose check is
wrong fails ``test_url_access``.
"""

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.roles import Role
from accounts.scopes import ApiResource

PEOPLE = [
    "anonymous",
    "no_role",
    "inactive",
    "global_admin",
    "user_management_admin",
    "admin_agent",
    "helpdesk_agent",
]
ANY_ROLE = {"global_admin", "user_management_admin", "admin_agent", "helpdesk_agent"}
SIGNED_IN = ANY_ROLE | {"no_role"}
STAFF_MANAGERS = {"global_admin", "user_management_admin"}
GLOBAL_ADMINS = {"global_admin"}
PUBLIC = "public"
NOBODY = frozenset()  # no person: API clients only (see API_CLIENTS_ONLY)
SUPPORT = {"global_admin", "admin_agent", "helpdesk_agent"}
MANAGERS = {"global_admin", "admin_agent"}

# URL name -> (method, who may, status when allowed, kwargs maker)
URL_ACCESS = {
    "dashboard:index": ("get", ANY_ROLE, 200, None),
    "core:healthz": ("get", PUBLIC, 200, None),
    # Authenticated by its HMAC signature alone: unsigned posts are refused for everyone.
    "api-v1:servicerequests-callbacks:channel": ("post", PUBLIC, 401, "callback"),
    "dashboard:audit_log": ("get", GLOBAL_ADMINS, 200, None),
    "dashboard:events": ("get", SUPPORT, 200, None),
    "dashboard:audit_log_export": ("get", GLOBAL_ADMINS, 200, None),
    "accounts:staff_list": ("get", STAFF_MANAGERS, 200, None),
    "accounts:staff_invite": ("get", STAFF_MANAGERS, 200, None),
    "accounts:staff_edit": ("get", STAFF_MANAGERS, 200, "target_user"),
    "accounts:staff_deactivate": ("post", STAFF_MANAGERS, 302, "target_user"),
    "accounts:staff_reactivate": ("post", STAFF_MANAGERS, 302, "target_user"),
    "accounts:staff_resend": ("post", STAFF_MANAGERS, 302, "target_user"),
    # Global admins only; a User management admin, like everyone else, does not find it.
    "accounts:staff_mfa_reset": ("post", GLOBAL_ADMINS, 302, "target_user_with_mfa"),
    # Public, but only a valid token for a real invitation opens the form.
    "accounts:accept_invitation": ("get", PUBLIC, 400, "bad_invitation"),
    "accounts:profile": ("get", SIGNED_IN, 200, None),
    # Only your own sessions: another person's is not found, for everyone.
    "accounts:session_end": ("post", SIGNED_IN, 404, "user_session"),
    "accounts:api_client_list": ("get", GLOBAL_ADMINS, 200, None),
    "accounts:api_client_create": ("get", GLOBAL_ADMINS, 200, None),
    "accounts:api_client_revoke": ("post", GLOBAL_ADMINS, 302, "api_client"),
    "accounts:api_client_edit": ("get", GLOBAL_ADMINS, 200, "api_client"),
    # Answers with the new token itself (shown once), not a redirect.
    "accounts:api_client_rotate": ("post", GLOBAL_ADMINS, 200, "api_client"),
    "api-v1:me": ("get", SIGNED_IN, 200, None),
    # A client rotates its own token; people have none.
    "api-v1:me-rotate-token": ("post", NOBODY, 201, None),
    "api-v1:schema": ("get", SIGNED_IN, 200, None),
    "api-v1:docs": ("get", SIGNED_IN, 200, None),
    "customers:list": ("get", SUPPORT, 200, None),
    "customers:export": ("get", SUPPORT, 200, None),
    "customers:detail": ("get", SUPPORT, 200, "customer"),
    "customers:expiring_access": ("get", SUPPORT, 200, None),
    "customers:gdap_sync": ("post", MANAGERS, 302, None),
    "customers:sync": ("get", SUPPORT, 200, None),
    "customers:sync_now": ("post", MANAGERS, 302, None),
    # Form pages are write pages: helpdesk agents see the customer but get 403 here.
    "customers:create": ("get", MANAGERS, 200, None),
    "customers:import_upload": ("get", MANAGERS, 200, None),
    "customers:import_template": ("get", MANAGERS, 200, None),
    "customers:import_detail": ("get", MANAGERS, 200, "customer_import"),
    "customers:import_status": ("get", MANAGERS, 200, "customer_import"),
    "customers:edit": ("get", MANAGERS, 200, "customer"),
    "customers:subscription_create": ("get", MANAGERS, 200, "customer"),
    "customers:subscription_edit": ("get", MANAGERS, 200, "subscription"),
    "customers:relationship_create": ("get", MANAGERS, 200, "customer"),
    "customers:relationship_edit": ("get", MANAGERS, 200, "relationship"),
    "servicehealth:dashboard": ("get", SUPPORT, 200, None),
    "servicehealth:status": ("get", SUPPORT, 200, None),
    "servicehealth:feed_list": ("get", GLOBAL_ADMINS, 200, None),
    "servicehealth:feed_create": ("get", GLOBAL_ADMINS, 200, None),
    "servicehealth:feed_edit": ("get", GLOBAL_ADMINS, 200, "feed_source"),
    "servicehealth:feed_poll": ("post", GLOBAL_ADMINS, 302, "feed_source"),
    # Not connected here: refused with a message, back to the source's page.
    "servicehealth:feed_consent_app": ("post", GLOBAL_ADMINS, 302, "feed_source"),
    "incidents:list": ("get", SUPPORT, 200, None),
    "incidents:detail": ("get", SUPPORT, 200, "incident"),
    "incidents:acknowledge": ("post", SUPPORT, 302, "incident"),
    "incidents:snooze": ("post", SUPPORT, 302, "incident"),
    "messagecenter:list": ("get", SUPPORT, 200, None),
    "messagecenter:detail": ("get", SUPPORT, 200, "service_message"),
    "servicerequests:list": ("get", SUPPORT, 200, None),
    "servicerequests:create": ("get", SUPPORT, 200, None),
    "servicerequests:route_preview": ("get", SUPPORT, 200, None),
    "servicerequests:detail": ("get", SUPPORT, 200, "service_request"),
    "servicerequests:note": ("post", SUPPORT, 302, "service_request"),
    "servicerequests:status": ("post", SUPPORT, 302, "service_request"),
    "servicerequests:assign": ("post", SUPPORT, 302, "service_request"),
    "servicerequests:reference": ("post", SUPPORT, 302, "service_request"),
    # Admin-only actions are not found for everyone else, like the feed's "Poll now".
    "servicerequests:retry": ("post", GLOBAL_ADMINS, 302, "service_request"),
    "servicerequests:channel_list": ("get", GLOBAL_ADMINS, 200, None),
    "servicerequests:channel_create": ("get", GLOBAL_ADMINS, 200, None),
    "servicerequests:channel_edit": ("get", GLOBAL_ADMINS, 200, "channel"),
    "servicerequests:rule_list": ("get", GLOBAL_ADMINS, 200, None),
    "servicerequests:rule_create": ("get", GLOBAL_ADMINS, 200, None),
    "servicerequests:rule_edit": ("get", GLOBAL_ADMINS, 200, "routing_rule"),
    "servicerequests:rule_move": ("post", GLOBAL_ADMINS, 302, "routing_rule"),
    "servicerequests:rule_toggle": ("post", GLOBAL_ADMINS, 302, "routing_rule"),
    "servicerequests:routing_test": ("get", GLOBAL_ADMINS, 200, None),
    "servicerequests:topic_list": ("get", GLOBAL_ADMINS, 200, None),
    "servicerequests:topic_create": ("get", GLOBAL_ADMINS, 200, None),
    "servicerequests:topic_edit": ("get", GLOBAL_ADMINS, 200, "support_topic"),
    "integrations:webhook_list": ("get", GLOBAL_ADMINS, 200, None),
    "integrations:webhook_create": ("get", GLOBAL_ADMINS, 200, None),
    "integrations:webhook_detail": ("get", GLOBAL_ADMINS, 200, "webhook"),
    "integrations:webhook_edit": ("get", GLOBAL_ADMINS, 200, "webhook"),
    "integrations:webhook_test": ("post", GLOBAL_ADMINS, 302, "webhook"),
    # Answers with the new secret itself (shown once), not a redirect.
    "integrations:webhook_rotate_secret": ("post", GLOBAL_ADMINS, 200, "webhook"),
    "integrations:webhook_toggle": ("post", GLOBAL_ADMINS, 302, "webhook"),
    "integrations:delivery_detail": ("get", GLOBAL_ADMINS, 200, "webhook_delivery"),
    "integrations:delivery_redeliver": ("post", GLOBAL_ADMINS, 302, "webhook_delivery"),
    "integrations:psa_list": ("get", GLOBAL_ADMINS, 200, None),
    "integrations:psa_create": ("get", GLOBAL_ADMINS, 200, None),
    "integrations:psa_edit": ("get", GLOBAL_ADMINS, 200, "psa"),
    # Seen on the customer's page by support staff; this edit page is a write page.
    "integrations:customer_psa_companies": ("get", MANAGERS, 200, "customer"),
    "microsoft:connection": ("get", GLOBAL_ADMINS, 200, None),
    # Not connected yet: the redemption is refused with a message, and the page shown again.
    "microsoft:redeem": ("post", GLOBAL_ADMINS, 302, None),
    # Not configured yet: back to the page with a message (configured: off to Microsoft).
    "microsoft:consent": ("get", GLOBAL_ADMINS, 302, None),
    # No sign-in was started: refused with a message on the page.
    "microsoft:consent_callback": ("get", GLOBAL_ADMINS, 302, None),
    "microsoft:test_api": ("post", GLOBAL_ADMINS, 302, "api_probe"),
    "sso:settings": ("get", GLOBAL_ADMINS, 200, None),
    # Not configured yet: back to the settings with a message (configured: off to Entra ID).
    "sso:test_start": ("get", GLOBAL_ADMINS, 302, None),
    "sso:test_result": ("get", GLOBAL_ADMINS, 200, None),
    "api-v1:customer-list": ("get", SUPPORT, 200, None),
    "api-v1:customer-detail": ("get", SUPPORT, 200, "customer"),
    "api-v1:customer-subscriptions": ("get", SUPPORT, 200, "customer"),
    "api-v1:customer-relationships": ("get", SUPPORT, 200, "customer"),
    "api-v1:service-list": ("get", SUPPORT, 200, None),
    "api-v1:health-list": ("get", SUPPORT, 200, None),
    "api-v1:feed-source-list": ("get", GLOBAL_ADMINS, 200, None),
    "api-v1:feed-source-detail": ("get", GLOBAL_ADMINS, 200, "feed_source"),
    "api-v1:feed-source-poll": ("post", GLOBAL_ADMINS, 202, "feed_source"),
    "api-v1:incident-list": ("get", SUPPORT, 200, None),
    "api-v1:incident-detail": ("get", SUPPORT, 200, "incident"),
    "api-v1:incident-posts": ("get", SUPPORT, 200, "incident"),
    "api-v1:incident-acknowledge": ("post", SUPPORT, 201, "incident"),
    "api-v1:message-list": ("get", SUPPORT, 200, None),
    "api-v1:message-detail": ("get", SUPPORT, 200, "service_message"),
    "api-v1:service-request-list": ("get", SUPPORT, 200, None),
    "api-v1:service-request-detail": ("get", SUPPORT, 200, "service_request"),
    "api-v1:service-request-notes": ("get", SUPPORT, 200, "service_request"),
    "api-v1:service-request-timeline": ("get", SUPPORT, 200, "service_request"),
    "api-v1:support-topic-list": ("get", SUPPORT, 200, None),
    "api-v1:support-topic-detail": ("get", SUPPORT, 200, "support_topic"),
    "api-v1:channel-list": ("get", GLOBAL_ADMINS, 200, None),
    "api-v1:channel-detail": ("get", GLOBAL_ADMINS, 200, "channel"),
    "api-v1:routing-rule-list": ("get", GLOBAL_ADMINS, 200, None),
    "api-v1:routing-rule-detail": ("get", GLOBAL_ADMINS, 200, "routing_rule"),
    # An empty body: a Global admin reaches the validation (400), everyone else is not let in.
    "api-v1:routing-rule-test": ("post", GLOBAL_ADMINS, 400, None),
    "api-v1:webhook-list": ("get", GLOBAL_ADMINS, 200, None),
    "api-v1:webhook-detail": ("get", GLOBAL_ADMINS, 200, "api_webhook"),
    "api-v1:webhook-rotate-secret": ("post", GLOBAL_ADMINS, 200, "api_webhook"),
    "api-v1:webhook-test": ("post", GLOBAL_ADMINS, 202, "api_webhook"),
    "api-v1:webhook-delivery-list": ("get", GLOBAL_ADMINS, 200, None),
    "api-v1:webhook-delivery-detail": ("get", GLOBAL_ADMINS, 200, "api_webhook_delivery"),
    "api-v1:webhook-delivery-redeliver": ("post", GLOBAL_ADMINS, 202, "api_webhook_delivery"),
    "api-v1:psa-connection-list": ("get", SUPPORT, 200, None),
    "api-v1:psa-connection-detail": ("get", SUPPORT, 200, "api_psa_connection"),
    "api-v1:psa-mapping-list": ("get", SUPPORT, 200, None),
    "api-v1:psa-mapping-detail": ("get", SUPPORT, 200, "api_psa_mapping"),
}

# Third-party URL trees with their own, tested access rules: allauth's pages (sign-in, MFA,
# sessions; tests/accounts/), Django's language switch and Django's own admin (served only with
# DJANGO_ADMIN_ENABLED; tests/security/test_django_admin.py checks it off and on).
EXTERNAL_PREFIXES = ("accounts/", "i18n/", "django-admin/")


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}{entry.namespace}:"
            yield from _walk(entry.url_patterns, route, ns)
        elif isinstance(entry, URLPattern):
            yield route, f"{namespace}{entry.name}" if entry.name else None


def project_url_names():
    for route, name in _walk(get_resolver().url_patterns):
        if route.startswith(EXTERNAL_PREFIXES):
            continue
        yield route, name


def test_every_url_pattern_is_in_the_matrix():
    missing = [f"{route} ({name})" for route, name in project_url_names() if name not in URL_ACCESS]
    assert missing == [], "URL patterns without an access expectation: " + ", ".join(missing)


def _kwargs(kind, cast):
    from accounts import services

    if kind is None:
        return {}
    if kind == "target_user":
        from tests.factories import UserFactory

        # A fresh, invited helpdesk agent, so each principal acts on an untouched row.
        target = UserFactory(roles=[Role.HELPDESK_AGENT])
        target.set_unusable_password()
        target.save()
        return {"pk": target.pk}
    if kind == "target_user_with_mfa":
        from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

        from tests.factories import UserFactory

        # Someone with an authenticator app, so a reset has something to remove.
        target = UserFactory(roles=[Role.HELPDESK_AGENT])
        TOTP.activate(target, generate_totp_secret())
        return {"pk": target.pk}
    if kind == "user_session":
        from allauth.usersessions.models import UserSession

        from tests.factories import UserFactory

        owner = UserFactory(roles=[Role.HELPDESK_AGENT])
        session = UserSession.objects.create(
            user=owner, ip="203.0.113.9", session_key=uuid.uuid4().hex, user_agent="Firefox"
        )
        return {"pk": session.pk}
    if kind == "api_probe":
        return {"api": "entra"}
    if kind == "bad_invitation":
        return {"uidb64": "MQ", "token": "not-a-token"}
    if kind == "api_client":
        client, _token = services.create_api_client(
            name=f"matrix-{uuid.uuid4().hex}",
            role=Role.HELPDESK_AGENT,
            scopes=["read"],
        )
        return {"pk": client.pk}
    if kind == "customer":
        from customers.services import create_customer

        customer = create_customer(
            actor=None,
            tenant_id=uuid.uuid4(),
            company_name="Matrix Ltd",
            default_domain=f"matrix{uuid.uuid4().hex[:8]}.example",
            country="GB",
        )
        return {"tenant_id": customer.tenant_id}
    if kind == "callback":
        from tests.servicerequests.helpers import channel

        return {"channel_id": channel("webhook", name=f"cb-{uuid.uuid4().hex[:8]}").pk}
    if kind == "customer_import":
        from customers.models import CustomerImport

        return {"pk": CustomerImport.objects.create(file_name="m.csv", csv_text="x").pk}
    if kind in ("subscription", "relationship"):
        from tests.customers.factories import RelationshipFactory, SubscriptionFactory

        factory = SubscriptionFactory if kind == "subscription" else RelationshipFactory
        row = factory()
        return {"tenant_id": row.customer.tenant_id, "pk": row.pk}
    if kind == "feed_source":
        from servicehealth.models import FeedSource

        source = FeedSource(
            name="Matrix feed",
            tenant_id=uuid.uuid4(),
            base_url="http://127.0.0.1:9/v1.0",
            client_id="matrix-app",
        )
        source.client_secret = "matrix-secret"
        source.save()
        return {"pk": source.pk}
    if kind == "incident":
        from incidents.models import Incident

        incident = Incident.objects.create(
            microsoft_id=f"EX{uuid.uuid4().int % 10**8:08d}",
            classification="incident",
            status="investigating",
            title="Matrix incident",
            service="Exchange Online",
        )
        return {"microsoft_id": incident.microsoft_id}
    if kind == "service_message":
        from messagecenter.models import ServiceMessage

        message = ServiceMessage.objects.create(
            microsoft_id=f"MC{uuid.uuid4().int % 10**8:08d}",
            title="Matrix message",
            category="planForChange",
            severity="normal",
        )
        return {"microsoft_id": message.microsoft_id}
    if kind == "service_request":
        from tests.servicerequests.factories import ServiceRequestFactory

        return {"number": ServiceRequestFactory().number}
    if kind == "channel":
        from tests.servicerequests.factories import ChannelFactory

        return {"pk": ChannelFactory().pk}
    if kind == "routing_rule":
        from tests.servicerequests.factories import RoutingRuleFactory

        return {"pk": RoutingRuleFactory().pk}
    if kind == "support_topic":
        from tests.servicerequests.factories import SupportTopicFactory

        return {"pk": SupportTopicFactory().pk}
    if kind in ("api_webhook", "api_webhook_delivery"):
        from integrations.fanout import create_test_delivery
        from integrations.models import WebhookSubscription

        subscription = WebhookSubscription(
            name=f"matrix-{uuid.uuid4().hex[:8]}",
            target_url="http://127.0.0.1:9/hook",
            event_types=["incident.created"],
        )
        subscription.secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"
        subscription.save()
        if kind == "api_webhook":
            return {"pk": subscription.pk}
        return {"pk": create_test_delivery(subscription).pk}
    if kind in ("api_psa_connection", "api_psa_mapping"):
        from integrations.models import PsaCompanyMapping, PsaConnection
        from tests.customers.factories import CustomerFactory

        psa = PsaConnection.objects.create(
            name=f"matrix-{uuid.uuid4().hex[:8]}", kind="other", default_company_id="0"
        )
        if kind == "api_psa_connection":
            return {"pk": psa.pk}
        mapping = PsaCompanyMapping.objects.create(
            customer=CustomerFactory(), psa=psa, company_id="42"
        )
        return {"pk": mapping.pk}
    if kind in ("webhook", "webhook_delivery"):
        from integrations import services as integrations

        subscription, _secret = integrations.create_subscription(
            actor=None,
            data={
                "name": f"matrix-{uuid.uuid4().hex[:8]}",
                "target_url": "http://127.0.0.1:9/hook",
                "event_types": ["incident.created"],
            },
        )
        if kind == "webhook":
            return {"pk": subscription.pk}
        from integrations.fanout import create_test_delivery

        delivery = create_test_delivery(subscription)
        return {"pk": subscription.pk, "delivery_pk": delivery.pk}
    if kind == "psa":
        from integrations.models import PsaConnection

        psa = PsaConnection.objects.create(
            name=f"matrix-{uuid.uuid4().hex[:8]}", kind="other", default_company_id="0"
        )
        return {"pk": psa.pk}
    raise AssertionError(kind)


def expected_status(principal, url_name):
    method, allowed, ok_status, _kind = URL_ACCESS[url_name]
    is_api = url_name.startswith("api-v1:")
    if allowed == PUBLIC:
        return {ok_status}
    if principal in ("anonymous", "inactive"):
        # An inactive user's session no longer authenticates: they are anonymous.
        return {401, 403} if is_api else {302}
    if principal in allowed:
        return {ok_status}
    if allowed is MANAGERS and principal in SUPPORT:
        return {403}  # may see customers, may not change them
    if url_name == "dashboard:index" and principal == "no_role":
        return {302}  # sent to their profile, the only page they have
    return {404}


@pytest.mark.parametrize("principal", PEOPLE)
@pytest.mark.parametrize("url_name", sorted(URL_ACCESS))
def test_url_access(url_name, principal, cast, client_for, mailoutbox):
    method, _allowed, _status, kind = URL_ACCESS[url_name]
    url = reverse(url_name, kwargs=_kwargs(kind, cast))
    response = getattr(client_for(principal), method)(url)
    assert response.status_code in expected_status(principal, url_name), (
        f"{principal} {method.upper()} {url} -> {response.status_code}"
    )
    if response.status_code == 302 and principal in ("anonymous", "inactive"):
        assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("principal", ["global_admin", "helpdesk_agent", "no_role"])
def test_django_admin_is_closed_to_a_plain_session(principal, client_for, settings):
    # Not served unless enabled; when it is, a session without a second factor is refused even
    # for a Global admin (tests/security/test_django_admin.py).
    response = client_for(principal).get("/django-admin/")
    assert response.status_code == (403 if settings.DJANGO_ADMIN_ENABLED else 404)


NAVIGATION_LINKS = {
    "accounts:staff_list": STAFF_MANAGERS,
    "accounts:api_client_list": GLOBAL_ADMINS,
    "dashboard:audit_log": GLOBAL_ADMINS,
    "microsoft:connection": GLOBAL_ADMINS,
    "sso:settings": GLOBAL_ADMINS,
}


@pytest.mark.parametrize("principal", sorted(ANY_ROLE | {"no_role"}))
def test_navigation_shows_only_allowed_links(principal, client_for):
    response = client_for(principal).get(reverse("accounts:profile"))
    assert response.status_code == 200
    nav_urls = {item["url"] for item in response.context["navigation"]}
    for url_name, allowed in NAVIGATION_LINKS.items():
        assert (reverse(url_name) in nav_urls) == (principal in allowed), url_name
    if principal == "no_role":
        assert nav_urls == set()


API_URL_NAMES = sorted(name for name in URL_ACCESS if name.startswith("api-v1:"))
TOKEN_PRINCIPALS = [*sorted(ANY_ROLE), "revoked"]
# Open to every API client whatever its role and scopes: its status for a token.
API_CLIENTS_ONLY = {"api-v1:me-rotate-token": 201}


@pytest.mark.parametrize("principal", TOKEN_PRINCIPALS)
@pytest.mark.parametrize("url_name", API_URL_NAMES)
def test_api_access_with_tokens(url_name, principal, api_token_for, client_for, cast):
    """The same matrix for API clients: a token acts with its role, a revoked one not at all."""
    from django.test import Client

    from accounts import services
    from accounts.models import ApiClient

    role = Role.HELPDESK_AGENT if principal == "revoked" else Role(principal)
    token = api_token_for(role, scopes=["read"])
    if principal == "revoked":
        request = type("Request", (), {"user": cast["global_admin"], "META": {}})()
        services.revoke_api_client(request, ApiClient.objects.get(user__groups__name=role))
    method, allowed, ok_status, kind = URL_ACCESS[url_name]
    url = reverse(url_name, kwargs=_kwargs(kind, cast))
    response = getattr(Client(), method)(url, HTTP_AUTHORIZATION=f"Bearer {token}")
    if allowed == PUBLIC:
        # Not a token-authenticated endpoint (the signed callback): a token changes nothing.
        assert response.status_code == ok_status
    elif principal == "revoked":
        assert response.status_code == 401
    elif url_name in API_CLIENTS_ONLY:
        assert response.status_code == API_CLIENTS_ONLY[url_name]
    elif principal in allowed:
        # The token has only the read scope: a write is refused once the caller may see it.
        assert response.status_code == (ok_status if method == "get" else 403)
    else:
        assert response.status_code == 404


# Which scope resource each API URL belongs to, restated here independently of the views; None
# for what every client may call whatever its scopes.
API_RESOURCES_BY_PREFIX = [
    # Before "api-v1:me", which its names start with.
    ("api-v1:message-", "service_health"),
    ("api-v1:me", None),
    ("api-v1:customer-", "customers"),
    ("api-v1:service-request-", "service_requests"),
    ("api-v1:service-list", "service_health"),
    ("api-v1:health-", "service_health"),
    ("api-v1:feed-source-", "service_health"),
    ("api-v1:incident-", "incidents"),
    ("api-v1:support-topic-", "support_config"),
    ("api-v1:channel-", "support_config"),
    ("api-v1:routing-rule-", "support_config"),
    ("api-v1:webhook-", "webhooks"),
    ("api-v1:psa-", "psa"),
]
# Not behind HasCapability: the schema and docs (any signed-in caller), the signed callback.
NOT_SCOPED = {"api-v1:schema", "api-v1:docs", "api-v1:servicerequests-callbacks:channel"}
SCOPED_URL_NAMES = [
    name
    for name in API_URL_NAMES
    if name not in NOT_SCOPED and name not in API_CLIENTS_ONLY and name != "api-v1:me"
]


def api_resource_of(url_name):
    for prefix, resource in API_RESOURCES_BY_PREFIX:
        if url_name.startswith(prefix):
            return resource
    raise AssertionError(f"{url_name} has no scope resource in API_RESOURCES_BY_PREFIX")


def _views(patterns, namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _views(entry.url_patterns, inner)
        elif entry.name:
            yield f"{namespace}{entry.name}", entry.callback


def test_every_api_view_declares_its_scope_resource():
    """A view without ``api_resource`` is closed to API clients; each must say which it is."""
    from accounts.permissions import NOT_DECLARED

    checked = set()
    for name, callback in _views(get_resolver().url_patterns):
        if not name.startswith("api-v1:") or name in NOT_SCOPED:
            continue
        declared = getattr(callback.cls, "api_resource", NOT_DECLARED)
        assert declared is not NOT_DECLARED, name
        assert (declared.value if declared is not None else None) == api_resource_of(name), name
        checked.add(name)
    assert "api-v1:customer-list" in checked and "api-v1:me-rotate-token" in checked


SCOPE_CASES = {
    # Write on every other resource but none on this one: refused, even to a Global admin.
    "other_resources": lambda resource: [
        f"{other}:write" for other in ApiResource.values if other != resource
    ],
    # Read here: reads pass, writes are refused.
    "read_here": lambda resource: [f"{resource}:read"],
    # Write here (and nothing else): reads and writes pass.
    "write_here": lambda resource: [f"{resource}:write"],
}


@pytest.mark.parametrize("case", sorted(SCOPE_CASES))
@pytest.mark.parametrize("url_name", SCOPED_URL_NAMES)
def test_api_scopes_per_resource(url_name, case, api_token_for, cast):
    """A Global admin's client may do only what its scope on the URL's resource allows."""
    from django.test import Client

    method, _allowed, ok_status, kind = URL_ACCESS[url_name]
    resource = api_resource_of(url_name)
    token = api_token_for(Role.GLOBAL_ADMIN, scopes=SCOPE_CASES[case](resource))
    url = reverse(url_name, kwargs=_kwargs(kind, cast))
    body = {} if method == "get" else {"data": {}, "content_type": "application/json"}
    response = getattr(Client(), method)(url, **body, HTTP_AUTHORIZATION=f"Bearer {token}")
    allowed = case == "write_here" or (case == "read_here" and method == "get")
    if allowed:
        assert response.status_code == ok_status
    else:
        assert response.status_code == 403
        needed = "read" if method == "get" else "write"
        assert f"{resource}:{needed}" in response.json()["errors"][0]["detail"]


def test_a_scope_never_adds_to_the_role(api_token_for):
    """A helpdesk-role client with write on everything still gets what a helpdesk agent gets."""
    from django.test import Client

    token = api_token_for(Role.HELPDESK_AGENT, scopes=["write"])
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert Client().get(reverse("api-v1:webhook-list"), **headers).status_code == 404
    assert Client().get(reverse("api-v1:channel-list"), **headers).status_code == 404
    created = Client().post(
        reverse("api-v1:customer-list"), {}, content_type="application/json", **headers
    )
    assert created.status_code == 403
    assert Client().get(reverse("api-v1:customer-list"), **headers).status_code == 200
