"""Integer and model-choice filters refuse what a 64-bit column cannot hold: 400 naming the
parameter, never a 500 (SQLite: OverflowError) or a silently empty list (PostgreSQL).

The filters are found from the URL configuration, so a new list endpoint is covered the day it
is added.
"""

import django_filters
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse

from accounts.roles import Role
from core.filters import INT64_MAX, INT64_MIN, IntegerFilter, PortalFilterSet
from core.incremental import ModifiedSinceFilter
from customers.filters import CustomerFilterSet
from incidents.filters import IncidentFilterSet
from servicerequests.filters import ServiceRequestFilterSet
from servicerequests.models import Channel
from tests.servicerequests.factories import ServiceRequestFactory

OUT_OF_RANGE = [
    "99999999999999999999",
    "-1.6e+230",
    "-2.77e+80",
    str(INT64_MAX + 1),
    str(INT64_MIN - 1),
    "1.5",  # was rounded down to id 1
    "1e3",
    "NaN",
    "9" * 5000,  # more digits than int() reads
]
CHECKED_TYPES = (
    django_filters.NumberFilter,
    django_filters.ModelChoiceFilter,
    django_filters.ModelMultipleChoiceFilter,
)


def _api_list_views(patterns, namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _api_list_views(entry.url_patterns, inner)
        elif entry.name and entry.name.endswith("-list") and namespace == "api-v1:":
            filterset_class = getattr(getattr(entry.callback, "cls", None), "filterset_class", None)
            if filterset_class is not None:
                yield f"{namespace}{entry.name}", filterset_class


def numeric_filters():
    cases = []
    for url_name, filterset_class in _api_list_views(get_resolver().url_patterns):
        for name, filter_ in filterset_class.base_filters.items():
            if isinstance(filter_, CHECKED_TYPES):
                cases.append((url_name, name))
    return sorted(set(cases))


NUMERIC_FILTERS = numeric_filters()
SYNC_LISTS = sorted(
    url_name
    for url_name, filterset_class in _api_list_views(get_resolver().url_patterns)
    if isinstance(filterset_class.base_filters.get("modified_since"), ModifiedSinceFilter)
)


def test_the_known_integer_filters_are_found():
    assert {
        ("api-v1:service-request-list", "channel"),
        ("api-v1:psa-mapping-list", "psa"),
        ("api-v1:webhook-delivery-list", "subscription"),
        ("api-v1:customer-list", "tag"),
    } <= set(NUMERIC_FILTERS)


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize(("url_name", "parameter"), NUMERIC_FILTERS)
def test_an_out_of_range_filter_is_a_400_naming_it(
    url_name, parameter, value, api_token_for, client_for
):
    token = api_token_for(Role.GLOBAL_ADMIN, scopes=["write"])
    by_token = Client(raise_request_exception=False).get(
        reverse(url_name), {parameter: value}, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    by_session = client_for("global_admin").get(reverse(url_name), {parameter: value})
    for response in (by_token, by_session):
        assert response.status_code == 400, response.content[:300]
        body = response.json()
        assert body["type"] == "validation_error"
        assert [error["attr"] for error in body["errors"]] == [parameter]


@pytest.mark.parametrize(("url_name", "parameter"), NUMERIC_FILTERS)
def test_the_schema_states_the_range(url_name, parameter, client_for):
    schema = client_for("global_admin").get(reverse("api-v1:schema"), {"format": "json"}).json()
    path = reverse(url_name)
    parameters = {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}
    if parameters[parameter].get("type") == "string":
        return  # a model choice keyed on a name (tags), not on a number
    assert parameters[parameter] == {
        "type": "integer",
        "format": "int64",
        "minimum": INT64_MIN,
        "maximum": INT64_MAX,
    }


@pytest.mark.parametrize(
    "value",
    [
        "0388-07-21T17:42:06+19:32",  # found by the contract run: PostgreSQL takes up to 15:59
        "2024-01-01T00:00:00+23:59",
        "2024-01-01T00:00:00-23:59",
    ],
)
@pytest.mark.parametrize("url_name", SYNC_LISTS)
def test_a_modified_since_with_a_far_offset_is_read_in_utc(url_name, value, client_for):
    response = client_for("global_admin").get(reverse(url_name), {"modified_since": value})
    assert response.status_code == 200, response.content[:300]


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after 9999 in UTC
    ],
)
@pytest.mark.parametrize("url_name", SYNC_LISTS)
def test_a_modified_since_outside_what_utc_can_hold_is_a_400(url_name, value, client_for):
    response = client_for("global_admin").get(reverse(url_name), {"modified_since": value})
    assert response.status_code == 400, response.content[:300]
    assert [error["attr"] for error in response.json()["errors"]] == ["modified_since"]


def test_every_incremental_list_is_found():
    assert len(SYNC_LISTS) >= 10
    assert "api-v1:service-request-list" in SYNC_LISTS


@pytest.mark.parametrize("value", ["2024-01-01T00:00:00+15:59", "2024-01-01T00:00:00-15:00"])
def test_a_far_but_valid_offset_still_works(client_for, value):
    response = client_for("global_admin").get(
        reverse("api-v1:service-request-list"), {"modified_since": value}
    )
    assert response.status_code == 200


def test_a_valid_id_still_filters(client_for):
    wanted = ServiceRequestFactory()
    ServiceRequestFactory()
    response = client_for("global_admin").get(
        reverse("api-v1:service-request-list"), {"channel": wanted.channel_id}
    )
    assert response.status_code == 200
    assert [row["number"] for row in response.json()["results"]] == [wanted.number]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize(
    ("url_name", "parameter"),
    [("servicerequests:list", "channel"), ("customers:list", "tag")],
)
def test_pages_ignore_an_out_of_range_filter(url_name, parameter, value, client_for):
    response = client_for("global_admin").get(reverse(url_name), {parameter: value})
    assert response.status_code == 200


def test_every_filter_set_is_a_portal_filter_set():
    # Importing the URL configuration imported every API module; the pages' sets are imported here.
    def subclasses(cls):
        for subclass in cls.__subclasses__():
            yield subclass
            yield from subclasses(subclass)

    assert {CustomerFilterSet, IncidentFilterSet, ServiceRequestFilterSet} <= set(
        subclasses(PortalFilterSet)
    )
    ours = [
        cls
        for cls in subclasses(django_filters.FilterSet)
        if not cls.__module__.startswith(("django_filters", "rest_framework", "tests."))
    ]
    assert len(ours) >= 10
    unchecked = [cls.__qualname__ for cls in ours if not issubclass(cls, PortalFilterSet)]
    assert unchecked == []


def test_an_unchecked_filter_is_refused_when_the_class_is_made():
    with pytest.raises(ImproperlyConfigured, match="IntegerFilter"):

        class Unchecked(PortalFilterSet):
            channel = django_filters.NumberFilter(field_name="channel_id")

    with pytest.raises(ImproperlyConfigured, match="ModelChoiceFilter"):

        class UncheckedChoice(PortalFilterSet):
            channel = django_filters.ModelChoiceFilter(queryset=Channel.objects.all())


def test_filters_made_from_model_fields_are_checked():
    class FromFields(PortalFilterSet):
        class Meta:
            model = Channel
            fields = ["id", "tier"]

    assert isinstance(FromFields.base_filters["id"], IntegerFilter)
    form = FromFields({"id": "99999999999999999999"}, queryset=Channel.objects.none()).form
    assert not form.is_valid()
    assert "id" in form.errors
