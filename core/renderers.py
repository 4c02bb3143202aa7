"""The API's JSON renderer: DRF's output, written by orjson (several times faster than ``json``).

Whatever orjson does not write the same way as DRF goes through DRF's own encoder: dates and
times (DRF writes UTC as ``Z``), decimals, lazy translations, sets. Pretty-printing
(``Accept: application/json; indent=4``) is left to DRF.
"""

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

# orjson's own datetime format differs from DRF's; integer keys are written as strings, as json.
OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
_drf_encoder = JSONEncoder()
LINE_SEPARATOR, PARAGRAPH_SEPARATOR = "\u2028".encode(), "\u2029".encode()


class FastJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        indent = self.get_indent(accepted_media_type, renderer_context or {})
        if indent is not None or self.ensure_ascii or not self.compact:
            return super().render(data, accepted_media_type, renderer_context)
        rendered = orjson.dumps(data, default=_drf_encoder.default, option=OPTIONS)
        # As DRF: escaped, so the JSON is also valid JavaScript.
        if b"\xe2\x80" in rendered:
            rendered = rendered.replace(LINE_SEPARATOR, b"\\u2028")
            rendered = rendered.replace(PARAGRAPH_SEPARATOR, b"\\u2029")
        return rendered
