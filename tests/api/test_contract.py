"""Contract test: schemathesis runs every operation of the served schema against the live API.

It runs as its command line does (``st run``), against pytest-django's live server on loopback,
once per role's API client (every scope) and once anonymously. Path parameters point
at seeded rows, so detail operations reach real objects and not only 404s. A fixed seed, a few
examples per operation and one worker keep a run bounded and repeatable; schemathesis' cache of
past failures is off, so every run starts from the same place.

Checks: no 5xx, every status code, content type, header and body as documented.

Each role's client is a real API client with write scope on everything and a rate limit far above
what a run sends: the throttles stay as they are in production, and the fuzzing still reaches the
handlers instead of stopping at 429.
"""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from django.core.management import call_command
from django.db.models import Max
from knox.models import AuthToken

from accounts import services as account_services
from accounts.roles import Role
from customers.models import AccessAssignment, Contact, Tag
from incidents import services as incident_services
from integrations import services as integration_services
from integrations.models import PsaCompanyMapping, PsaConnection
from servicerequests import services as request_services
from servicerequests.models import Channel, RoutingRule, SupportTopic
from tests.customers.factories import CustomerFactory, RelationshipFactory, SubscriptionFactory
from tests.helpers import live_schema
from tests.incidents.factories import AffectedCustomerFactory, IncidentFactory, IncidentPostFactory
from tests.servicehealth.factories import (
    FeedSourceFactory,
    ServiceFactory,
    TenantServiceHealthFactory,
)

TENANT_ID = "6babcaad-604b-40ac-a9d7-9fd97c0b779f"
INCIDENT_ID = "EX123456"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
# Well above what one run sends in a minute (a few hundred calls), so no call meets a 429.
FUZZING_RATE_LIMIT = "100000/min"
HTTP_METHODS = ("get", "put", "post", "patch", "delete")


def seed(user):
    """A little of everything the API serves; returns the values its path parameters take."""
    customer = CustomerFactory(tenant_id=TENANT_ID, company_name="Contoso Ltd")
    customer.tags.add(Tag.objects.create(name="premier"))
    Contact.objects.create(customer=customer, name="Pat Doe", email="pat@contoso.example")
    SubscriptionFactory(customer=customer)
    relationship = RelationshipFactory(customer=customer)
    AccessAssignment.objects.create(
        relationship=relationship,
        microsoft_id="assignment-1",
        security_group_id="c5ab56ba-5de1-4ba9-bc6b-0c3a3e5e7d3a",
        security_group_name="Helpdesk agents",
        roles=["f023fd81-a637-4b56-95fd-791ac0226033"],
        status="active",
    )
    for _ in range(3):
        CustomerFactory()  # so that lists have more than one page at small page sizes
    incident = IncidentFactory(microsoft_id=INCIDENT_ID)
    IncidentPostFactory(incident=incident)
    AffectedCustomerFactory(incident=incident, customer=customer)
    incident_services.acknowledge(incident, user=user, note="Looking into it.")
    source = FeedSourceFactory(customer=customer)
    TenantServiceHealthFactory(
        source=source, service=ServiceFactory(graph_id="Exchange"), status="serviceDegradation"
    )
    topic = SupportTopic.objects.create(
        name="Exchange Online (contract test)", category="technical", partner_center_id="91999999"
    )
    channel = Channel(
        name="Manual technical (contract test)",
        kind="manual",
        category="technical",
        tier="premier",
        endpoint="https://partner.microsoft.com/dashboard/support/servicerequests/create",
    )
    channel.set_credentials({})
    channel.save()
    rule = RoutingRule.objects.create(
        position=(RoutingRule.objects.aggregate(last=Max("position"))["last"] or 0) + 10,
        name="Technical to manual",
        category="technical",
        channel=channel,
    )
    service_request = request_services.open_service_request(
        actor=user,
        title="Mail flow to external recipients delayed",
        description="Since 09:10 UTC mail to external recipients queues.",
        severity="critical",
        support_topic=topic,
        customer=customer,
        contact_name="Pat Doe",
        contact_email="pat@contoso.example",
        incident=incident,
    )
    request_services.add_note(service_request, text="Called the customer.", actor=user)
    psa = PsaConnection.objects.create(name="ConnectWise (contract test)", kind="connectwise")
    mapping = PsaCompanyMapping.objects.create(customer=customer, psa=psa, company_id="19283")
    subscription, _secret = integration_services.create_subscription(
        actor=user,
        data={
            "name": "ConnectWise events (contract test)",
            "target_url": "http://127.0.0.1:9/hook",
            "event_types": ["incident.created"],
            "psa": psa,
        },
    )
    delivery = integration_services.send_test_event(subscription, actor=user)
    return {
        "tenant_id": TENANT_ID,
        "microsoft_id": INCIDENT_ID,
        "number": service_request.number,
        # ``{id}`` means another object on each collection.
        "id": {
            "feed-sources": source.pk,
            "support-topics": topic.pk,
            "channels": channel.pk,
            "routing-rules": rule.pk,
            "psa-connections": psa.pk,
            "psa-mappings": mapping.pk,
            "webhooks": subscription.pk,
            "webhook-deliveries": delivery.pk,
        },
    }


def fuzzing_token(role):
    """A client with every scope (write includes read) and a rate limit a run never reaches."""
    _client, token = account_services.create_api_client(
        name=f"Contract test ({role})", role=role, scopes=["write"], rate_limit=FUZZING_RATE_LIMIT
    )
    return token


@pytest.fixture
def seeded(transactional_db):
    # Transactional tests flush the groups the migrations made.
    call_command("sync_roles", verbosity=0)
    token = fuzzing_token(Role.GLOBAL_ADMIN)
    user = AuthToken.objects.get().user  # the only token yet
    return token, seed(user)


def toml_value(value):
    # JSON strings, numbers and booleans are valid TOML values.
    return json.dumps(value)


def schemathesis_config(token, parameters, max_examples):
    """schemathesis.toml for this run: bounded, repeatable, authenticated, on seeded objects."""
    lines = [
        "seed = 20251127",
        "workers = 1",
        # The live server is one thread on a shared machine: slowness is not a finding.
        'suppress-health-check = ["too_slow", "filter_too_much", "data_too_large"]',
        "[cache]",
        "enabled = false",
        "[generation]",
        f"max-examples = {max_examples}",
        "deterministic = true",
        *(["[headers]", f"Authorization = {toml_value(f'Bearer {token}')}"] if token else []),
        "[parameters]",
        *(
            f"{toml_value(f'path.{name}')} = {toml_value(value)}"
            for name, value in parameters.items()
            if name != "id"
        ),
        "[checks]",
        "enabled = false",
        *(f"{check}.enabled = true" for check in CHECKS),
        "[phases.coverage]",
        "enabled = false",
        "[phases.stateful]",
        "enabled = false",
    ]
    for collection, pk in parameters["id"].items():
        lines += [
            "[[operations]]",
            f"include-path-regex = {toml_value(f'^/api/v1/{collection}/[{{]id[}}]/')}",
            f'parameters = {{ "path.id" = {pk} }}',
        ]
    return "\n".join(lines) + "\n"


# The Global admin reaches every operation's success path; the other principals (R6: once per
# role token and anonymous) mostly meet 401, 403 and 404, which must be documented too.
PRINCIPALS = [
    (Role.GLOBAL_ADMIN, 5),
    (Role.HELPDESK_AGENT, 2),
    (Role.ADMIN_AGENT, 1),
    (Role.USER_MANAGEMENT_ADMIN, 1),
    ("anonymous", 1),
]


@pytest.mark.parametrize(("principal", "max_examples"), PRINCIPALS, ids=lambda p: str(p))
def test_every_operation_honours_the_schema(principal, max_examples, seeded, live_server, tmp_path):
    admin_token, parameters = seeded
    if principal == Role.GLOBAL_ADMIN:
        token = admin_token
    elif principal == "anonymous":
        token = None
    else:
        token = fuzzing_token(principal)
    schema = live_schema(live_server, admin_token)
    in_schema = {
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    (tmp_path / "schemathesis.toml").write_text(
        schemathesis_config(token, parameters, max_examples)
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            "schemathesis.toml",
            "run",
            "schema.json",
            "--url",
            live_server.url,
            "--report",
            "junit",
            "--report-junit-path",
            "junit.xml",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        # schemathesis writes its state next to where it runs: keep it out of the checkout.
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-30000:] + result.stderr[-5000:]
    # Every operation of the schema was exercised, none skipped: a new endpoint cannot hide.
    report = ET.parse(tmp_path / "junit.xml")  # noqa: S314 (written by the run just above)
    cases = report.getroot().iter("testcase")
    exercised = {case.get("name") for case in cases if case.find("skipped") is None}
    assert exercised == in_schema
