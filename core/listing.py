"""List endpoints served from plain values: the page's rows as ``.values()`` dicts, their children
read as values in one query per kind, and each row written as the same JSON the detail serializer
gives.

A 50-row page through a ``ModelSerializer`` builds 50 model instances, runs DRF's field machinery
for every field of every row and calls ``reverse()`` once per row: most of a list request's time.
Here a row costs a dict and a few conversions. The detail endpoints keep their serializers, which
stay the contract (the schema is generated from them); the tests compare each list's rows with
the detail endpoint's representation, so the two cannot drift apart.
"""

from collections import defaultdict

from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.settings import api_settings


class ValueWriter:
    """Database values as the API writes them: times as DRF's ``DateTimeField`` does (ISO 8601
    in the current time zone, ``Z`` for UTC) and UUIDs as text. The time zone is looked up once
    per page: DRF looks it up for every value, a third of a list's time in a profile."""

    def __init__(self):
        self.zone = timezone.get_current_timezone()
        # Another output format configured: DRF's own field, however slow.
        self.field = (
            None if api_settings.DATETIME_FORMAT == ISO_8601 else serializers.DateTimeField()
        )

    def time(self, value):
        if value is None:
            return None
        if self.field is not None:
            return self.field.to_representation(value)
        text = value.astimezone(self.zone).isoformat()
        return f"{text[:-6]}Z" if text.endswith("+00:00") else text


class DetailLinks:
    """Detail URLs from one ``reverse()``: the first row's URL split around its lookup value,
    which is the path's last segment (a lookup regex admits no character it would escape)."""

    def __init__(self, view, sample):
        url = reverse(
            f"api-v1:{view.basename}-detail",
            kwargs={view.lookup_field: sample},
            request=view.request,
            format=view.format_kwarg,
        )
        self.prefix, self.suffix = url.rsplit(str(sample), 1)

    def __call__(self, value):
        return f"{self.prefix}{value}{self.suffix}"


def children_of(queryset, parent_field, parent_ids, *fields, **expressions):
    """``{parent id: [row, …]}``: the rows of ``queryset`` whose ``parent_field`` is one of
    ``parent_ids``, each a dict of ``fields`` and ``expressions``, in the queryset's order. One
    query whatever the number of parents; none when there are none."""
    grouped = defaultdict(list)
    if not parent_ids:
        return grouped
    rows = queryset.filter(**{f"{parent_field}__in": parent_ids}).values(
        parent_field, *fields, **expressions
    )
    for row in rows:
        grouped[row.pop(parent_field)].append(row)
    return grouped


class ValuesListMixin:
    """``list`` from ``.values()``: filtered and paged as before (the pagination's ordering
    columns are read too), then ``list_data(rows, links)`` writes the page.

    ``list_columns`` names the columns ``list_data`` reads. ``get_queryset()`` is the view's
    ``queryset`` narrowed to what the caller may see (its ``visible_to``), with
    ``detail_prefetches()`` only when one object is shown: the list has nothing to prefetch into.
    """

    list_columns = ()

    def list_data(self, rows, links):
        raise NotImplementedError

    def detail_prefetches(self):
        return ()

    def get_queryset(self):
        queryset = super().get_queryset().visible_to(self.request.user)
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(*self.detail_prefetches())
        return queryset

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        ordering = [field.lstrip("-") for field in getattr(self.paginator, "ordering", ())]
        columns = [*self.list_columns, *(f for f in ordering if f not in self.list_columns)]
        rows = queryset.values(*columns)
        page = self.paginate_queryset(rows)
        rows = list(rows) if page is None else page
        links = DetailLinks(self, rows[0][self.lookup_field]) if rows else None
        data = self.list_data(rows, links)
        return self.get_paginated_response(data) if page is not None else Response(data)
