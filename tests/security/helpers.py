"""What the security tests share besides fixtures."""


def api_errors(response):
    """An API error answer's messages by field (``attr``)."""
    return {error["attr"]: error["detail"] for error in response.json()["errors"]}
