"""Reading a WSGI request: its headers, case-insensitively, and its body."""


class Headers(dict):
    """Request headers as a dict (``Title-Case`` names), read case-insensitively."""

    def _key(self, name):
        if super().__contains__(name):
            return name
        lowered = name.lower()
        for key in self:
            if key.lower() == lowered:
                return key
        return None

    def __getitem__(self, name):
        key = self._key(name)
        if key is None:
            raise KeyError(name)
        return super().__getitem__(key)

    def __contains__(self, name):
        return isinstance(name, str) and self._key(name) is not None

    def get(self, name, default=None):
        key = self._key(name)
        return default if key is None else super().__getitem__(key)


def request_headers(environ):
    headers = Headers()
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").title()] = value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers[key.replace("_", "-").title()] = value
    return headers


def read_body(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length > 0 else b""
