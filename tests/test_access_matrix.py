"""Every URL pattern of the project, requested by every principal, against DESIGN.md's role matrix.

The expectations below restate the matrix independently of ``accounts.roles``: a view added
without an entry here fails ``test_every_url_pattern_is_in_the_matrix``, and a view whose check is
wrong fails ``test_url_access``.
"""

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.roles import Role

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
SUPPORT = {"global_admin", "admin_agent", "helpdesk_agent"}
MANAGERS = {"global_admin", "admin_agent"}

# URL name -> (method, who may, status when allowed, kwargs maker)
URL_ACCESS = {
    "core:dashboard": ("get", ANY_ROLE, 200, None),
    "core:healthz": ("get", PUBLIC, 200, None),
    # Authenticated by its HMAC signature alone: unsigned posts are refused for everyone.
    "api-v1:servicerequests-callbacks:channel": ("post", PUBLIC, 401, "callback"),
    "core:audit_log": ("get", GLOBAL_ADMINS, 200, None),
    "core:events": ("get", SUPPORT, 200, None),
    "core:audit_log_export": ("get", GLOBAL_ADMINS, 200, None),
    "accounts:staff_list": ("get", STAFF_MANAGERS, 200, None),
    "accounts:staff_invite": ("get", STAFF_MANAGERS, 200, None),
    "accounts:staff_edit": ("get", STAFF_MANAGERS, 200, "target_user"),
    "accounts:staff_deactivate": ("post", STAFF_MANAGERS, 302, "target_user"),
    "accounts:staff_reactivate": ("post", STAFF_MANAGERS, 302, "target_user"),
    "accounts:staff_resend": ("post", STAFF_MANAGERS, 302, "target_user"),
    # Public, but only a valid token for a real invitation opens the form.
    "accounts:accept_invitation": ("get", PUBLIC, 400, "bad_invitation"),
    "accounts:profile": ("get", SIGNED_IN, 200, None),
    "accounts:api_client_list": ("get", GLOBAL_ADMINS, 200, None),
    "accounts:api_client_create": ("get", GLOBAL_ADMINS, 200, None),
    "accounts:api_client_revoke": ("post", GLOBAL_ADMINS, 302, "api_client"),
    "api-v1:me": ("get", SIGNED_IN, 200, None),
    "api-v1:schema": ("get", SIGNED_IN, 200, None),
    "api-v1:docs": ("get", SIGNED_IN, 200, None),
    "customers:list": ("get", SUPPORT, 200, None),
    "customers:export": ("get", SUPPORT, 200, None),
    "customers:detail": ("get", SUPPORT, 200, "customer"),
    "customers:expiring_access": ("get", SUPPORT, 200, None),
    "customers:gdap_sync": ("post", MANAGERS, 302, None),
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
    "incidents:list": ("get", SUPPORT, 200, None),
    "incidents:detail": ("get", SUPPORT, 200, "incident"),
    "incidents:acknowledge": ("post", SUPPORT, 302, "incident"),
    "incidents:snooze": ("post", SUPPORT, 302, "incident"),
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
}

# Third-party URL trees with their own, tested access rules: allauth's sign-in pages, Django's
# language switch and Django's own admin (checked in test_django_admin_needs_is_staff).
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
        source.set_client_secret("matrix-secret")
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
    if url_name == "core:dashboard" and principal == "no_role":
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
def test_django_admin_needs_is_staff(principal, client_for):
    # Portal roles never open Django's admin site; it is for operators (is_staff) only.
    response = client_for(principal).get("/django-admin/")
    assert response.status_code == 302
    assert "/django-admin/login/" in response["Location"]


NAVIGATION_LINKS = {
    "accounts:staff_list": STAFF_MANAGERS,
    "accounts:api_client_list": GLOBAL_ADMINS,
    "core:audit_log": GLOBAL_ADMINS,
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
    elif principal in allowed:
        # The token has only the read scope: a write is refused once the caller may see it.
        assert response.status_code == (ok_status if method == "get" else 403)
    else:
        assert response.status_code == 404
