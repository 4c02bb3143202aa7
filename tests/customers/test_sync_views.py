"""The customer sync's page, its "Sync now" button and what the customer pages show of it."""

from django.urls import reverse
from django.utils import timezone

from customers.models import CustomerSyncRun, PartnerCenterSyncState
from tests.customers.factories import CustomerFactory


def test_sync_now_queues_a_run_and_the_page_says_so(client_for, cast, redis_url):
    response = client_for("admin_agent").post(reverse("customers:sync_now"))
    assert response.status_code == 302
    assert PartnerCenterSyncState.get().is_queued
    page = client_for("helpdesk_agent").get(reverse("customers:sync")).content.decode()
    assert "A sync from Microsoft is queued." in page
    assert 'http-equiv="refresh"' in page
    assert "Sync now" not in page  # a helpdesk agent may look, not start one


def test_the_page_lists_runs_with_what_they_added_changed_and_marked(client_for, cast):
    CustomerSyncRun.objects.create(
        requested_by=cast["admin_agent"],
        status="succeeded",
        finished_at=timezone.now(),
        added=1,
        changed=1,
        marked=1,
        details={
            "added": ["Fabrikam GmbH"],
            "changed": [{"name": "Contoso Ltd", "fields": ["company_name", "country"]}],
            "marked": ["Gone Ltd"],
        },
    )
    page = client_for("global_admin").get(reverse("customers:sync")).content.decode()
    assert "Fabrikam GmbH" in page
    assert 'Contoso Ltd <span class="muted">(company_name, country)</span>' in page
    assert "Gone Ltd" in page
    assert cast["admin_agent"].email in page
    assert 'http-equiv="refresh"' not in page


def test_a_customer_gone_from_partner_center_is_shown_as_such(client_for, cast):
    customer = CustomerFactory(
        from_partner_center=True, removed_from_partner_center_at=timezone.now()
    )
    listing = client_for("helpdesk_agent").get(reverse("customers:list")).content.decode()
    assert "Removed from Partner Center" in listing
    detail = client_for("helpdesk_agent").get(customer.get_absolute_url()).content.decode()
    assert "Partner Center no longer lists this customer" in detail


def test_a_tenant_refusal_is_shown_on_administer_services(client_for, cast):
    customer = CustomerFactory(tenant_access_error="SharePoint admin URL: needs consent")
    page = client_for("helpdesk_agent").get(customer.get_absolute_url(), {"tab": "services"})
    assert "SharePoint admin URL: needs consent" in page.content.decode()
