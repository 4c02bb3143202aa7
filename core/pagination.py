import json

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination


def filtered_page(request, filterset, per_page):
    """A list page's context: ``filterset``, the page of its rows the query string asks for (no
    row while a filter is invalid: the form says why), and that query string without ``page``
    (the filters, which the page links carry on)."""
    rows = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    page = Paginator(rows, per_page).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return {"filterset": filterset, "page": page, "query": query.urlencode()}


class PortalCursorPagination(CursorPagination):
    """Stable, opaque cursors: a client paging while rows change sees no gaps or repeats.

    A keyset cursor: it holds the values of every ordering field of the last row served (the last
    field must be unique, e.g. ``pk``), and the next page starts strictly after them. DRF's own
    cursor keeps only the first field plus an offset among equal values; when a row in such a run
    of equal timestamps changed between two pages, the offset skipped a row the client had not
    seen. Here a row that changes moves behind the cursor's position and is served again later,
    once, as the change it is.
    """

    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        if not self.page_size:
            return None
        self.base_url = request.build_absolute_uri()
        self.ordering = self.get_ordering(request, queryset, view)
        self.cursor = self.decode_cursor(request)
        reverse = bool(self.cursor and self.cursor.reverse)
        position = self.cursor.position if self.cursor else None
        ordering = _reversed(self.ordering) if reverse else self.ordering
        queryset = queryset.order_by(*ordering)
        if position is not None:
            queryset = queryset.filter(_after(ordering, self._checked(queryset, position)))
        results = list(queryset[: self.page_size + 1])
        self.page = results[: self.page_size]
        has_more = len(results) > self.page_size
        if reverse:
            self.page.reverse()
            self.has_next, self.has_previous = position is not None, has_more
        else:
            self.has_next, self.has_previous = has_more, position is not None
        # The browsable API shows its page controls only when there is somewhere to go.
        self.display_page_controls = self.has_next or self.has_previous
        here = json.dumps(position) if position is not None else None
        self.next_position = self._position(self.page[-1]) if self.page else here
        self.previous_position = self._position(self.page[0]) if self.page else here
        return self.page

    def get_next_link(self):
        if not self.has_next:
            return None
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=self.next_position))

    def get_previous_link(self):
        if not self.has_previous:
            return None
        return self.encode_cursor(Cursor(offset=0, reverse=True, position=self.previous_position))

    def _position(self, row):
        """The cursor's values from the row served last: a model instance, or a ``.values()``
        dict (``core.listing``)."""
        values = []
        for field in self.ordering:
            name = field.lstrip("-")
            value = row[name] if isinstance(row, dict) else getattr(row, name)
            values.append(value.isoformat() if hasattr(value, "isoformat") else value)
        return json.dumps(values, separators=(",", ":"), default=str)

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        try:
            values = json.loads(cursor.position)
        except ValueError:
            values = None
        if not isinstance(values, list) or len(values) != len(self.ordering):
            raise NotFound(self.invalid_cursor_message)
        return Cursor(offset=0, reverse=cursor.reverse, position=values)

    def _checked(self, queryset, values):
        """The cursor's values as their fields' types: a forged cursor is a 404, never a 500."""
        checked = []
        for field, value in zip(self.ordering, values, strict=True):
            name = field.lstrip("-")
            annotation = queryset.query.annotations.get(name)
            if annotation is not None:
                model_field = annotation.output_field
            elif name == "pk":
                model_field = queryset.model._meta.pk
            else:
                model_field = queryset.model._meta.get_field(name)
            try:
                value = model_field.to_python(value)
            except (DjangoValidationError, TypeError, ValueError):
                value = None
            if value is None:
                raise NotFound(self.invalid_cursor_message)
            checked.append(value)
        return checked


class SyncCursorPagination(PortalCursorPagination):
    """Oldest change first, so a PSA polling with ``modified_since`` gets each change once."""

    ordering = ("modified_at", "pk")


def _reversed(ordering):
    return tuple(field[1:] if field.startswith("-") else f"-{field}" for field in ordering)


def _after(ordering, values):
    """Rows strictly after ``values`` in ``ordering``: (a > x) or (a = x and b > y) or …

    The leading ``a >= x`` adds nothing logically; it gives the database a start key in the
    (a, b) index, so a page deep in a long list does not scan every row before it.
    """
    condition = Q()
    equal = Q()
    for field, value in zip(ordering, values, strict=True):
        name = field.lstrip("-")
        lookup = "lt" if field.startswith("-") else "gt"
        condition |= equal & Q(**{f"{name}__{lookup}": value})
        equal &= Q(**{name: value})
    first = ordering[0]
    start = Q(**{f"{first.lstrip('-')}__{'lte' if first.startswith('-') else 'gte'}": values[0]})
    return start & condition
