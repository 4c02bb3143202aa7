"""The API's filter backend builds only the filters a request's query string gives
(``core.filters.PortalFilterBackend``): the rows and the errors are those of the whole filter set."""

import django_filters
import pytest
from django.http import QueryDict
from django.test import Client

from accounts.roles import Role
from core.filters import PortalFilterSet, given_filters
from incidents.filters import IncidentApiFilterSet
from incidents.models import Incident
from tests.customers.factories import CustomerFactory
from tests.incidents.factories import AffectedCustomerFactory, IncidentFactory


class StartedFilterSet(PortalFilterSet):
    started = django_filters.DateTimeFromToRangeFilter(field_name="started_at")

    class Meta:
        model = Incident
        fields = ["started", "status"]


def test_a_filter_is_given_by_its_parameter_or_its_widgets():
    query = QueryDict("status=investigating&cursor=abc&page_size=2&started_after=2025-01-01")
    assert given_filters(StartedFilterSet, query) == {"status", "started"}
    assert given_filters(StartedFilterSet, QueryDict("cursor=abc&page_size=2")) == set()
    assert given_filters(IncidentApiFilterSet, QueryDict("state=&q=mail")) == {"state", "q"}


def test_a_filter_set_builds_only_the_filters_it_is_given():
    query = QueryDict("state=active")
    narrowed = IncidentApiFilterSet(query, queryset=Incident.objects.all(), only={"state"})
    assert list(narrowed.filters) == ["state"]
    assert list(narrowed.form.fields) == ["state"]
    whole = IncidentApiFilterSet(query, queryset=Incident.objects.all())
    assert list(whole.form.fields) == list(IncidentApiFilterSet.base_filters)
    # The class keeps every filter: the pages and the schema read it.
    assert "modified_since" in IncidentApiFilterSet.base_filters


def _client(api_token_for):
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_for(Role.HELPDESK_AGENT, ['read'])}")


@pytest.fixture
def incidents(db):
    contoso, fabrikam = CustomerFactory(), CustomerFactory()
    for n in range(6):
        incident = IncidentFactory(
            classification="advisory" if n % 2 else "incident",
            status="serviceRestored" if n % 3 else "investigating",
            is_resolved=bool(n % 3),
        )
        AffectedCustomerFactory(incident=incident, customer=contoso if n < 4 else fabrikam)
    return contoso


@pytest.mark.parametrize(
    "query",
    [
        "",
        "page_size=2",
        "state=active",
        "state=resolved&classification=advisory",
        "status=investigating&page_size=500",
        "customer={tenant}",
        "customer={tenant}&state=resolved",
        "q=&state=",
        "modified_since=2000-01-01T00:00:00Z",
    ],
)
def test_the_rows_are_those_of_the_whole_filter_set(query, incidents, api_token_for):
    query = query.format(tenant=incidents.tenant_id)
    client = _client(api_token_for)
    response = client.get(f"/api/v1/incidents/?{query}")
    assert response.status_code == 200
    served = [row["microsoft_id"] for row in response.json()["results"]]
    whole = IncidentApiFilterSet(QueryDict(query), queryset=Incident.objects.all())
    assert whole.is_valid()
    expected = whole.qs.order_by("modified_at", "pk").values_list("microsoft_id", flat=True)
    assert served == list(expected)[: len(served)]
    assert len(served) == min(len(expected), 2 if "page_size=2" in query else 50)


@pytest.mark.parametrize(
    "query",
    [
        "state=sideways&customer=not-a-uuid&modified_since=yesterday&page_size=2",
        # modified_since alone is cleaned without a filter set (core.filters.StandaloneFilter).
        "modified_since=yesterday",
        "modified_since=0001-01-01T00:00:00%2B01:00",
        "modified_since=2025-01-01T00:00:00Z&modified_since=soon",
    ],
)
def test_the_errors_are_those_of_the_whole_filter_set(query, incidents, api_token_for):
    client = _client(api_token_for)
    response = client.get(f"/api/v1/incidents/?{query}")
    assert response.status_code == 400
    whole = IncidentApiFilterSet(QueryDict(query), queryset=Incident.objects.all())
    assert not whole.is_valid()
    expected = [
        {"attr": name, "code": error.code, "detail": error.message % (error.params or ())}
        for name, errors in whole.errors.as_data().items()
        for error in errors
    ]
    assert [
        {key: error[key] for key in ("attr", "code", "detail")}
        for error in response.json()["errors"]
    ] == expected


def test_a_standalone_filter_is_applied_without_a_filter_set(incidents, api_token_for, settings):
    """modified_since alone takes the backend's own path, and filters as the filter set does."""
    settings.API_SYNC_SETTLE_SECONDS = 0  # the rows were all written just now
    first = Incident.objects.order_by("modified_at", "pk").first()
    query = QueryDict(mutable=True)
    query["modified_since"] = first.modified_at.isoformat()
    response = _client(api_token_for).get(f"/api/v1/incidents/?{query.urlencode()}")
    assert response.status_code == 200
    served = [row["microsoft_id"] for row in response.json()["results"]]
    whole = IncidentApiFilterSet(query, queryset=Incident.objects.all())
    expected = whole.qs.order_by("modified_at", "pk").values_list("microsoft_id", flat=True)
    assert first.microsoft_id not in served
    assert served == list(expected)
    assert len(served) == Incident.objects.count() - 1
