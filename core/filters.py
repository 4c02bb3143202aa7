"""What every filter set of the portal is built on: query-string numbers are checked first.

A number too big for a 64-bit column crashes the query on SQLite (``OverflowError``) and silently
matches nothing on PostgreSQL; a fraction such as ``1.5`` was rounded to another object's id.
Here each is refused before any query, so the API answers 400 naming the parameter and a page
ignores the filter. ``PortalFilterSet`` refuses django-filter's unchecked number and model-choice
filters, so a filter set cannot bring one back by accident.
"""

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models
from django.db.models import Q
from django.forms.utils import ErrorDict, ErrorList
from django_filters.fields import IsoDateTimeField, ModelChoiceField, ModelMultipleChoiceField
from django_filters.filterset import FILTER_FOR_DBFIELD_DEFAULTS
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from drf_spectacular.utils import extend_schema_field

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
INT64_SCHEMA = {"type": "integer", "format": "int64", "minimum": INT64_MIN, "maximum": INT64_MAX}


def _is_int64(value):
    """``value`` (text from a query string, or an int) is a whole number a bigint can hold."""
    try:
        number = int(str(value).strip())
    except ValueError:  # not a whole number; also too many digits for int() to read
        return False
    return INT64_MIN <= number <= INT64_MAX


def _has_integer_key(field):
    model = field.queryset.model
    key = model._meta.get_field(field.to_field_name) if field.to_field_name else model._meta.pk
    return isinstance(key, (models.IntegerField, models.AutoField))


class RangeCheckedModelChoiceField(ModelChoiceField):
    """Looks an integer key up only when it is one a bigint can hold; otherwise an invalid choice."""

    def to_python(self, value):
        if value not in self.empty_values and _has_integer_key(self) and not _is_int64(value):
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class RangeCheckedModelMultipleChoiceField(ModelMultipleChoiceField):
    def _check_values(self, value):
        if _has_integer_key(self):
            for item in value:
                if item != self.null_value and not _is_int64(item):
                    raise ValidationError(
                        self.error_messages["invalid_choice"],
                        code="invalid_choice",
                        params={"value": item},
                    )
        return super()._check_values(value)


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, turned into UTC before it reaches a query. PostgreSQL refuses offsets
    beyond 15:59 that Python reads (a 500), and a time that is outside years 1 to 9999 once in
    UTC cannot even be converted: both are invalid here."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class IntegerFilter(django_filters.NumberFilter):
    """A whole number a 64-bit column can hold (an id, a count): anything else is a 400."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", INT64_MIN)
        kwargs.setdefault("max_value", INT64_MAX)
        super().__init__(*args, **kwargs)
        # The schema states the range as well (drf-spectacular would say "number"). Set on each
        # filter, with its description: an override replaces the one spectacular would derive.
        description = self.extra.get("help_text") or self._label
        schema = {**INT64_SCHEMA, **({"description": description} if description else {})}
        extend_schema_field(schema)(self)

    def get_max_validator(self):
        return None  # max_value above is the limit, not NumberFilter's 1e50


class ModelChoiceFilter(django_filters.ModelChoiceFilter):
    field_class = RangeCheckedModelChoiceField


class ModelMultipleChoiceFilter(django_filters.ModelMultipleChoiceFilter):
    field_class = RangeCheckedModelMultipleChoiceField


def search_fields(queryset, text, fields):
    """The rows where any of ``fields`` contains ``text``, case-insensitively; blank text: all."""
    text = text.strip()
    if not text:
        return queryset
    condition = Q()
    for name in fields:
        condition |= Q(**{f"{name}__icontains": text})
    return queryset.filter(condition)


# django-filter's own classes, refused in a PortalFilterSet, with what to use instead.
UNCHECKED_FILTERS = {
    django_filters.NumberFilter: IntegerFilter,
    django_filters.ModelChoiceFilter: ModelChoiceFilter,
    django_filters.ModelMultipleChoiceFilter: ModelMultipleChoiceFilter,
}


def _checked(spec):
    filter_class = UNCHECKED_FILTERS.get(spec["filter_class"], spec["filter_class"])
    return {**spec, "filter_class": filter_class}


class PortalFilterSet(django_filters.FilterSet):
    """The base of every filter set: integer and model-choice filters are range-checked.

    ``only``, when given, names the filters to build (``PortalFilterBackend`` passes those the
    query string gives); the others are neither copied nor put on the form.
    """

    # Filters made from Meta.fields get the checked classes too. Decimal and float columns have
    # no filter here (django-filter then refuses the field): none is filtered on yet, and one
    # would need a check of its own, not IntegerFilter's.
    FILTER_DEFAULTS = {
        db_field: _checked(spec)
        for db_field, spec in FILTER_FOR_DBFIELD_DEFAULTS.items()
        if db_field not in (models.DecimalField, models.FloatField)
    }

    def __init__(self, *args, only=None, **kwargs):
        if only is not None:
            # Read by django-filter's __init__, which copies each filter for this instance.
            self.base_filters = {
                name: filter_ for name, filter_ in self.base_filters.items() if name in only
            }
        super().__init__(*args, **kwargs)

    @classmethod
    def get_filters(cls):
        filters = super().get_filters()
        for name, filter_ in filters.items():
            replacement = UNCHECKED_FILTERS.get(type(filter_))
            if replacement is not None:
                raise ImproperlyConfigured(
                    f"{cls.__name__}.{name}: use core.filters.{replacement.__name__}, which "
                    f"checks the value's range, instead of {type(filter_).__name__}."
                )
        return filters


def given_filters(filterset_class, query):
    """The names of the filters of ``filterset_class`` that ``query`` gives: by their own
    parameter or one of their widget's (``<name>_<suffix>``, such as a range's ``_min``)."""
    return {
        name
        for name in filterset_class.base_filters
        if any(key == name or key.startswith(f"{name}_") for key in query)
    }


class StandaloneFilter:
    """A filter that its filter set adds nothing to: its field cleans the one parameter of its
    name, and ``filter(queryset, value)`` reads neither the filter set nor the request. When a
    query string gives only such filters, ``PortalFilterBackend`` cleans and applies them
    itself: the same values and errors without a filter set, its copies of the filters and the
    form class it makes anew for every request."""


def _filter_standalone(filters, query, queryset, raise_exception):
    """``filters`` (name -> StandaloneFilter, in the filter set's order) applied as the filter
    set's form would clean them: a DRF ``ValidationError`` naming each invalid parameter."""
    values, errors = {}, ErrorDict()
    for name, filter_ in filters.items():
        field = filter_.field
        try:
            values[name] = field.clean(field.widget.value_from_datadict(query, {}, name))
        except ValidationError as error:
            errors[name] = ErrorList(error.error_list)
    if errors and raise_exception:
        raise translate_validation(errors)
    for name, value in values.items():
        queryset = filters[name].filter(queryset, value)
    return queryset


class PortalFilterBackend(DjangoFilterBackend):
    """django-filter's API backend, building only the filters the query string gives: building
    and validating a whole filter set's form is a tenth to a quarter of a list request. A filter
    not given cleans to an empty value, which every filter skips, so leaving it out changes no
    row and no error; with none given the rows are left as they are. The pages and the
    browsable API's form build their filter sets whole, to show every filter."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        given = given_filters(filterset_class, request.query_params)
        if not given:
            return queryset
        filters = {
            name: filter_ for name, filter_ in filterset_class.base_filters.items() if name in given
        }
        if all(isinstance(filter_, StandaloneFilter) for filter_ in filters.values()):
            return _filter_standalone(filters, request.query_params, queryset, self.raise_exception)
        kwargs = self.get_filterset_kwargs(request, queryset, view)
        filterset = filterset_class(**kwargs, only=given)
        if not filterset.is_valid() and self.raise_exception:
            raise translate_validation(filterset.errors)
        return filterset.qs


# --- the pages' filter menus ----------------------------------------------------------------


def values_present(queryset, *fields):
    """One set per field of the values that occur in ``queryset``: what the filter menus offer.
    One query however many rows there are; a JSON list counts each of its items."""
    present = [set() for _field in fields]
    for row in queryset.order_by().values_list(*fields).distinct():
        for seen, value in zip(present, row, strict=True):
            if isinstance(value, list):
                seen.update(value)
            else:
                seen.add(value)
    return present


def menu_choices(known, present):
    """Known values with their labels, plus any value Microsoft sent that we do not know yet."""
    labels = dict(known)
    extra = sorted(value for value in present if value and value not in labels)
    return [*known, *((value, value) for value in extra)]
