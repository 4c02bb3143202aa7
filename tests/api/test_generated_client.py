"""A Python client generated from the served schema works against the live API.

openapi-python-client turns the schema into a package (offline: it reads a file) and must not warn;
the package then pages through the customers and opens a service request over loopback, as a PSA
integration built on the schema alone would.
"""

import importlib
import json
import subprocess
import sys
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command

from accounts.roles import Role
from servicerequests.models import ServiceRequest
from tests.customers.factories import CustomerFactory
from tests.helpers import live_schema
from tests.servicerequests import helpers

PACKAGE = "portal_client"


@pytest.fixture
def token(transactional_db, api_token_for):
    # Transactional tests flush the groups the migrations made.
    call_command("sync_roles", verbosity=0)
    return api_token_for(Role.HELPDESK_AGENT)


@pytest.fixture
def generated_client(live_server, token, tmp_path, monkeypatch):
    """The package generated from the schema the live server serves, imported."""
    (tmp_path / "schema.json").write_text(json.dumps(live_schema(live_server, token)))
    # No post hooks: they would run ruff from PATH over the generated code.
    (tmp_path / "config.json").write_text(
        json.dumps({"package_name_override": PACKAGE, "post_hooks": []})
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            "schema.json",
            "--config",
            "config.json",
            "--meta",
            "none",
            "--output-path",
            PACKAGE,
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Warning" not in output, output
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield importlib.import_module(PACKAGE)
    for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
        del sys.modules[name]


def test_a_generated_client_pages_through_customers_and_opens_a_service_request(
    generated_client, live_server, token
):
    customers = {str(CustomerFactory().tenant_id) for _ in range(5)}
    topic = helpers.topic()
    helpers.channel("manual", name="Manual technical")
    models = importlib.import_module(f"{PACKAGE}.models")
    customers_list = importlib.import_module(f"{PACKAGE}.api.customers.customers_list")
    create = importlib.import_module(f"{PACKAGE}.api.service_requests.service_requests_create")
    retrieve = importlib.import_module(f"{PACKAGE}.api.service_requests.service_requests_retrieve")
    # Closed at the end: a kept-alive connection would hold a live-server thread and its
    # database connection open.
    with generated_client.AuthenticatedClient(base_url=live_server.url, token=token) as client:
        seen, pages, cursor = [], 0, None
        while True:
            kwargs = {"page_size": 2} if cursor is None else {"page_size": 2, "cursor": cursor}
            page = customers_list.sync(client=client, **kwargs)
            assert isinstance(page, models.PaginatedCustomerList)
            pages += 1
            seen += [str(customer.tenant_id) for customer in page.results]
            if not page.next_:
                break
            cursor = parse_qs(urlsplit(page.next_).query)["cursor"][0]
        assert pages == 3
        assert sorted(seen) == sorted(customers)

        tenant_id = sorted(customers)[0]
        response = create.sync_detailed(
            client=client,
            body=models.ServiceRequestCreateRequest(
                title="Mail flow to external recipients delayed",
                description="Since 09:10 UTC mail to external recipients queues for 30+ minutes.",
                severity=models.SeverityEnum.CRITICAL,
                support_topic=topic.pk,
                customer=uuid.UUID(tenant_id),
                primary_contact=models.PrimaryContactRequest(
                    name="Pat Doe", email="pat@contoso.example"
                ),
            ),
            idempotency_key=str(uuid.uuid4()),
        )
        assert response.status_code == 201, response.content
        opened = response.parsed
        assert isinstance(opened, models.ServiceRequest)
        assert response.headers["Location"] == opened.url
        assert opened.channel is not None  # routed

        read_back = retrieve.sync(client=client, number=opened.number)
        assert isinstance(read_back, models.ServiceRequest)
        assert read_back.title == "Mail flow to external recipients delayed"
        assert str(read_back.customer.tenant_id) == tenant_id
        assert ServiceRequest.objects.filter(number=opened.number).exists()
