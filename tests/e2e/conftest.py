import importlib
import io

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command

from customers.models import Customer
from tests.factories import PASSWORD
from tests.incidents.factories import AffectedCustomerFactory, IncidentPostFactory

SERVICE_REQUEST_SEED = importlib.import_module(
    "servicerequests.migrations.0002_seed_topics_and_channels"
)


@pytest.fixture
def sign_in(live_server):
    def sign_in(page, user, password=PASSWORD):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=login]", user.email)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")

    return sign_in


@pytest.fixture
def csp_violations(page):
    """Console messages about the Content-Security-Policy, collected while the test runs."""
    messages = []
    page.on(
        "console",
        lambda message: (
            messages.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return messages


@pytest.fixture
def demo_portal(live_server):
    """The live server with `make run`'s demo data (one login per role, whose password is
    ``demo_data.DEMO_PASSWORD``), plus an incident: the demo's come from polling the simulators.
    The demo builds on rows the migrations seed (roles, support topics, manual channels), which
    transactional tests flush: they are seeded again first."""
    call_command("sync_roles", verbosity=0)
    SERVICE_REQUEST_SEED.seed(django_apps, None)
    call_command("load_demo", stdout=io.StringIO())
    customer = Customer.objects.order_by("company_name").first()
    AffectedCustomerFactory(incident=IncidentPostFactory().incident, customer=customer)
    return live_server
