"""Every form page, submitted with nothing filled in, answers with its errors: never a 500.

An empty POST is falsy, so ``Form(request.POST or None)`` built an unbound form: the page came
back without a word, and the service-request form crashed reading ``cleaned_data``.
"""

import pytest
from django.urls import reverse

from tests.test_access_matrix import URL_ACCESS, _kwargs

FORM_PAGES = sorted(
    name
    for name, (method, allowed, status, _kind) in URL_ACCESS.items()
    if method == "get"
    and status == 200
    and "global_admin" in allowed
    and name.rsplit(":", 1)[1].endswith(("_create", "_edit", "create", "edit", "invite"))
)


def test_the_form_pages_are_found():
    assert "servicerequests:create" in FORM_PAGES
    assert len(FORM_PAGES) >= 15


@pytest.mark.parametrize("url_name", FORM_PAGES)
def test_an_empty_form_answers_with_errors(url_name, cast, client_for):
    client = client_for("global_admin")
    client.raise_request_exception = False
    url = reverse(url_name, kwargs=_kwargs(URL_ACCESS[url_name][3], cast))
    response = client.post(url, {})
    assert response.status_code < 500, f"POST {url} -> {response.status_code}"
    if response.status_code == 200:
        # Shown again with what is wrong (form_fields.html marks errors with role="alert").
        assert b'role="alert"' in response.content, f"POST {url} shows no error"
