"""ETag on every API GET and HEAD, ``If-None-Match`` answered with 304, a new tag after a change."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from customers.models import Customer
from incidents.models import Incident
from servicehealth.models import FeedSource, Service, TenantServiceHealth
from servicerequests.models import Channel, RoutingRule, ServiceRequest, SupportTopic
from tests.test_access_matrix import URL_ACCESS, _kwargs

GET_URL_NAMES = sorted(
    name
    for name, (method, allowed, _status, _kind) in URL_ACCESS.items()
    if name.startswith("api-v1:") and method == "get" and "global_admin" in allowed
)


def _get(client, url, **headers):
    return client.get(
        url, **{f"HTTP_{name.upper().replace('-', '_')}": v for name, v in headers.items()}
    )


@pytest.mark.parametrize("url_name", GET_URL_NAMES)
def test_every_api_get_has_an_etag_and_answers_304(url_name, cast, client_for):
    _method, _allowed, ok_status, kind = URL_ACCESS[url_name]
    url = reverse(url_name, kwargs=_kwargs(kind, cast))
    signed_in = client_for("global_admin")
    response = signed_in.get(url)
    assert response.status_code == ok_status
    etag = response["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    vary = {value.strip().lower() for value in response["Vary"].split(",")}
    assert {"authorization", "cookie"} <= vary

    for if_none_match in (etag, f"W/{etag}", f'"something-else", {etag}', "*"):
        not_modified = _get(signed_in, url, if_none_match=if_none_match)
        assert not_modified.status_code == 304, if_none_match
        assert not_modified.content == b""
        assert not_modified["ETag"] == etag
        assert "no-store" in not_modified["Cache-Control"]
    other = _get(signed_in, url, if_none_match='"something-else"')
    assert other.status_code == 200
    assert other.content == response.content

    head = signed_in.head(url)
    assert head.status_code == ok_status
    assert head["ETag"] == etag
    assert _get(signed_in, url, if_none_match=etag).status_code == 304
    head_not_modified = signed_in.head(url, HTTP_IF_NONE_MATCH=etag)
    assert head_not_modified.status_code == 304


def test_tokens_get_etags_too_and_errors_are_never_304(api_token_for, db):
    token = api_token_for(Role.HELPDESK_AGENT, scopes=["customers:read"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    response = Client().get("/api/v1/customers/", **auth)
    assert response.status_code == 200
    etag = response["ETag"]
    assert Client().get("/api/v1/customers/", HTTP_IF_NONE_MATCH=etag, **auth).status_code == 304
    # Without a scope for incidents the answer is the error, whatever tag is sent.
    refused = Client().get("/api/v1/incidents/", HTTP_IF_NONE_MATCH="*", **auth)
    assert refused.status_code == 403
    # Without credentials, the tag of an earlier answer gets nothing either.
    anonymous = Client().get("/api/v1/customers/", HTTP_IF_NONE_MATCH=etag)
    assert anonymous.status_code in (401, 403)


def _stamp(model, pk, **fields):
    model.objects.filter(pk=pk).update(**fields)


# url name -> how to change what it shows (kind of row as in the access matrix)
CHANGES = {
    "api-v1:customer-list": lambda kw: Customer.objects.update(company_name="Renamed Ltd"),
    "api-v1:customer-detail": lambda kw: Customer.objects.filter(tenant_id=kw["tenant_id"]).update(
        company_name="Renamed Ltd", modified_at=timezone.now()
    ),
    "api-v1:service-list": lambda kw: Service.objects.update(name="Renamed service"),
    "api-v1:health-list": lambda kw: TenantServiceHealth.objects.update(status="serviceRestored"),
    "api-v1:feed-source-list": lambda kw: FeedSource.objects.update(name="Renamed feed"),
    "api-v1:feed-source-detail": lambda kw: _stamp(FeedSource, kw["pk"], name="Renamed feed"),
    "api-v1:incident-list": lambda kw: Incident.objects.update(title="Renamed"),
    "api-v1:incident-detail": lambda kw: Incident.objects.filter(
        microsoft_id=kw["microsoft_id"]
    ).update(title="Renamed"),
    "api-v1:service-request-list": lambda kw: ServiceRequest.objects.update(title="Renamed"),
    "api-v1:service-request-detail": lambda kw: ServiceRequest.objects.filter(
        number=kw["number"]
    ).update(title="Renamed"),
    "api-v1:support-topic-list": lambda kw: SupportTopic.objects.update(description="Changed"),
    "api-v1:support-topic-detail": lambda kw: _stamp(SupportTopic, kw["pk"], name="Renamed"),
    "api-v1:channel-list": lambda kw: Channel.objects.update(last_error="Changed"),
    "api-v1:channel-detail": lambda kw: _stamp(Channel, kw["pk"], name="Renamed"),
    "api-v1:routing-rule-list": lambda kw: RoutingRule.objects.update(name="Renamed"),
    "api-v1:routing-rule-detail": lambda kw: _stamp(RoutingRule, kw["pk"], name="Renamed"),
}
# Lists that show nothing until a row exists: the row each one needs.
LIST_ROWS = {
    "api-v1:customer-list": "customer",
    "api-v1:service-list": "health",
    "api-v1:health-list": "health",
    "api-v1:feed-source-list": "feed_source",
    "api-v1:incident-list": "incident",
    "api-v1:service-request-list": "service_request",
    "api-v1:routing-rule-list": "routing_rule",
}


@pytest.mark.parametrize("url_name", sorted(CHANGES))
def test_a_change_gives_a_new_etag(url_name, cast, client_for):
    _method, _allowed, _status, kind = URL_ACCESS[url_name]
    kwargs = _kwargs(kind, cast)
    if url_name in LIST_ROWS:
        row = LIST_ROWS[url_name]
        if row == "health":
            from tests.servicehealth.factories import TenantServiceHealthFactory

            TenantServiceHealthFactory(status="serviceDegradation")
        else:
            _kwargs(row, cast)
    url = reverse(url_name, kwargs=kwargs)
    signed_in = client_for("global_admin")
    before = signed_in.get(url)
    assert before.status_code == 200
    etag = before["ETag"]
    assert _get(signed_in, url, if_none_match=etag).status_code == 304
    CHANGES[url_name](kwargs)
    after = _get(signed_in, url, if_none_match=etag)
    assert after.status_code == 200
    assert after["ETag"] != etag
    assert after.content != before.content
