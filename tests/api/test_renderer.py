"""The API's orjson renderer writes exactly what DRF's JSONRenderer writes."""

import datetime
import decimal
import uuid
import zoneinfo

from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from accounts.roles import Role
from core.renderers import FastJSONRenderer

ISTANBUL = zoneinfo.ZoneInfo("Europe/Istanbul")
PAYLOAD = ReturnDict(
    {
        "utc": datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC),
        "offset": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=ISTANBUL),
        "naive": datetime.datetime(2026, 1, 2, 3, 4, 5),
        "date": datetime.date(2026, 1, 2),
        "time": datetime.time(1, 2, 3, 400),
        "decimal": decimal.Decimal("1.50"),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "lazy": gettext_lazy("Global admin"),
        "choice": Role.GLOBAL_ADMIN,
        7: "an integer key",
        "set": {1},
        "duration": datetime.timedelta(seconds=90),
        "separators": "a\u2028b\u2029c",
        "text": 'Işık, ünlü, 漢字 "quoted" \\ \n',
        "list": ReturnList([None, True, False, 1.5, 10**15, -3, (1, 2), {}], serializer=None),
    },
    serializer=None,
)


def test_the_same_bytes_as_drf():
    assert FastJSONRenderer().render(PAYLOAD) == JSONRenderer().render(PAYLOAD)


def test_pretty_printing_and_nothing_are_drfs():
    media_type = "application/json; indent=4"
    assert FastJSONRenderer().render(PAYLOAD, media_type) == JSONRenderer().render(
        PAYLOAD, media_type
    )
    assert FastJSONRenderer().render(None) == b""
