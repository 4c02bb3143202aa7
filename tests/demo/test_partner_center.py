"""`make run`'s Partner Center and Graph know the demo's customers: "Sync now" adds the two
only Partner Center has and fills in the rest, and a second run (or a restart) changes nothing."""

from customers import partner_center_sync
from customers.models import Customer, Subscription
from demo import customers as demo_customers
from demo.partner_center import ONLY_IN_PARTNER_CENTER, serve_customers
from tests.customers.microsoft_world import serving


def test_sync_now_in_the_demo_adds_and_changes_then_settles(db, entra_simulator):
    demo_customers.load()
    before = Customer.objects.count()
    subscriptions = Subscription.objects.count()
    with serving(entra_simulator, page_size=40) as world:
        serve_customers(world.partner_center, world.graph.partner)
        for tenant in world.graph.partner.sharepoint_hosts:
            world.entra.add_customer_tenant(tenant)
        summary = partner_center_sync.run()
        assert sorted(summary.added) == sorted(name for name, *_rest in ONLY_IN_PARTNER_CENTER)
        assert len(summary.changed) == before  # initial domains, at least
        assert Subscription.objects.count() == subscriptions + 4  # typed-in ones adopted
        assert Customer.objects.exclude(sharepoint_admin_url="").exists()
        # A restart serves the same customers and subscriptions again.
        world.partner_center.customers.customers.clear()
        serve_customers(world.partner_center, world.graph.partner)
        again = partner_center_sync.run()
    assert not again.added and not again.marked
    assert Subscription.objects.count() == subscriptions + 4
