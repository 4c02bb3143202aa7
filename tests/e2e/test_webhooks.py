"""In a real browser: a Global admin subscribes a PSA's receiver and watches a test event land."""

import re

import pytest
from playwright.sync_api import expect

from integrations import delivery
from integrations.models import WebhookDelivery, WebhookSubscription
from simulators.http import SimulatorServer
from simulators.psa_webhooks import PsaWebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_admin_subscribes_a_psa_and_sees_the_test_event_delivered(
    page, live_server, cast, sign_in, csp_violations
):
    receiver = PsaWebhookReceiver()
    with SimulatorServer(receiver) as server:
        sign_in(page, cast["global_admin"])
        page.locator("summary", has_text="More").click()
        page.get_by_role("link", name="Webhooks", exact=True).click()
        page.get_by_role("link", name="Add webhook subscription").click()
        page.fill("input[name=name]", "ConnectWise tickets")
        page.fill("input[name=target_url]", f"{server.url}/portal-events")
        page.get_by_label("Incident affects a customer").check()
        page.get_by_label("Incident resolved").check()
        page.get_by_role("button", name="Save").click()

        # The generated secret, once; the receiver is given it as an admin would.
        secret = page.get_by_test_id("webhook-secret").inner_text().strip()
        assert secret.startswith("whsec_")
        receiver.secrets = [secret]
        page.get_by_role("link", name="Done").click()
        expect(page.get_by_role("heading", name="ConnectWise tickets")).to_be_visible()
        assert secret not in page.content()
        expect(page.get_by_test_id("webhook-config")).to_contain_text("Incident resolved")

        page.get_by_role("button", name="Send test event").click()
        expect(page).to_have_url(re.compile(r"/webhooks/\d+/deliveries/\d+/$"))
        expect(page.get_by_test_id("delivery-state")).to_contain_text("Waiting to send")
        expect(page.get_by_test_id("delivery-body")).to_contain_text('"type": "webhook.test"')
        # What a worker does; the open page reloads itself and shows the result.
        test = WebhookDelivery.objects.get()
        assert delivery.deliver(test.pk) == "delivered"
        expect(page.get_by_test_id("delivery-state")).to_contain_text("Delivered", timeout=10000)
        expect(page.get_by_test_id("attempts")).to_contain_text("201")
        expect(page.get_by_test_id("auto-refresh")).to_have_count(0)

    [received] = receiver.verified
    assert received.headers.get("webhook-id") == test.message_id
    assert received.path == "/portal-events"
    assert WebhookSubscription.objects.get().secret == secret
    assert csp_violations == []
