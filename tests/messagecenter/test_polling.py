"""Polling tenants' Message centers against the bundled simulator over real HTTP on loopback."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messagecenter import polling
from messagecenter.models import MessageFeed, MessageRecipient, ServiceMessage
from outbound.graph import GraphAuthError, GraphError
from servicehealth.models import AuthMode, FeedSource
from tests.customers.factories import CustomerFactory
from tests.helpers import data_writes, query_count
from tests.messagecenter.helpers import T0, feed_of, poll, publish

MESSAGES = "/v1.0/admin/serviceAnnouncement/messages"


# The feed's own poll state, which every poll writes.
POLL_STATE = "messagecenter_messagefeed"


def failed_poll(source):
    """Polls ``source``, which fails and stores no message; returns its feed."""
    with pytest.raises(GraphError):
        poll(source)
    assert not ServiceMessage.objects.exists()
    return feed_of(source)


def test_a_first_poll_stores_each_message_once_and_links_its_customers(customer_feeds):
    simulator, [(contoso, contoso_source), (fabrikam, fabrikam_source)] = customer_feeds(2)
    publish(
        simulator,
        [contoso, fabrikam],
        is_major_change=True,
        action_required_by=T0 + timedelta(days=30),
        details=[{"name": "ExternalLink", "value": "https://learn.microsoft.example/x"}],
    )
    publish(simulator, [contoso], "MC100002", title="Teams: new meeting recap", services=[])

    summary = poll(contoso_source)
    assert (summary.created, summary.updated, summary.customers_linked) == (2, 0, 2)
    summary = poll(fabrikam_source)
    assert (summary.created, summary.unchanged, summary.customers_linked) == (0, 1, 1)

    message = ServiceMessage.objects.get(microsoft_id="MC100001")
    assert message.category == "planForChange" and message.severity == "high"
    assert message.services == ["Exchange Online"]
    assert message.tags == ["Admin impact", "Retirement"]
    assert message.is_major_change is True
    assert message.action_required_by == T0 + timedelta(days=30)
    assert message.started_at == T0
    assert message.body.startswith("<p>We're retiring <b>basic authentication</b>")
    assert message.details == [
        {"name": "ExternalLink", "value": "https://learn.microsoft.example/x"}
    ]
    assert set(message.recipients.values_list("customer_id", flat=True)) == {
        contoso.pk,
        fabrikam.pk,
    }
    assert ServiceMessage.objects.count() == 2
    feed = MessageFeed.objects.get(source=contoso_source)
    assert feed.messages_seen == 2 and feed.last_success_at and not feed.last_error
    assert feed.next_poll_at > timezone.now() + polling.POLL_INTERVAL - timedelta(minutes=1)


def test_a_re_poll_that_learns_nothing_writes_nothing(customer_feed):
    simulator, customer, source = customer_feed
    for n in range(3):
        publish(simulator, [customer], f"MC20000{n}")
    poll(source)
    modified = dict(ServiceMessage.objects.values_list("microsoft_id", "modified_at"))
    with CaptureQueriesContext(connection) as queries:
        summary = poll(source)
    assert summary.unchanged == 3 and summary.created == summary.updated == 0
    assert data_writes(queries, POLL_STATE) == []
    assert dict(ServiceMessage.objects.values_list("microsoft_id", "modified_at")) == modified


def test_an_edited_message_is_updated_in_place(customer_feed):
    simulator, customer, source = customer_feed
    publish(simulator, [customer])
    poll(source)
    before = ServiceMessage.objects.get()
    simulator.update_message("MC100001", title="Retirement postponed", tags=["Updated message"])
    summary = poll(source)
    assert summary.updated == 1
    after = ServiceMessage.objects.get()
    assert after.pk == before.pk
    assert after.title == "Retirement postponed" and after.tags == ["Updated message"]
    assert after.modified_at > before.modified_at


def test_every_page_is_read(customer_feed):
    simulator, customer, source = customer_feed
    for n in range(12):
        publish(simulator, [customer], f"MC3000{n:02d}")
    summary = poll(source)
    assert summary.created == 12
    pages = [r for r in simulator.requests if r[0] == "GET" and r[1] == MESSAGES]
    assert len(pages) == 3


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503, "times": 4},
        # A page cut short: not JSON, so the whole read fails.
        {"status": 200, "truncate_to": 40},
        {"status": 200, "body": b"<html>Sorry</html>", "headers": {"Content-Type": "text/html"}},
        {"status": 200, "body": b'{"value": "not a list"}'},
    ],
)
def test_a_read_that_fails_on_a_later_page_writes_nothing(fault, service_health_simulator):
    simulator, add_source = service_health_simulator
    customer = CustomerFactory()
    source = add_source(customer)
    for n in range(12):
        publish(simulator, [customer], f"MC4000{n:02d}")
    poll(source)  # a first read: the rows the failed one must leave alone
    for n in range(12):
        simulator.update_message(f"MC4000{n:02d}", title=f"Changed {n}")
    # The first page answers; the second one fails.
    extra = {key: value for key, value in fault.items() if key != "status"}
    simulator.fail_next(MESSAGES, 200)  # passes through untouched
    simulator.fail_next(MESSAGES, fault["status"], **extra)
    with CaptureQueriesContext(connection) as queries, pytest.raises(GraphError):
        poll(source, max_attempts=4)
    assert data_writes(queries, POLL_STATE) == []
    assert not ServiceMessage.objects.filter(title__startswith="Changed").exists()
    feed = feed_of(source)
    assert feed.consecutive_failures == 1 and feed.last_error
    assert feed.lease_until is None and feed.next_poll_at > timezone.now()
    # The next read after the fault gives the clean result.
    assert poll(source).updated == 12


def test_throttling_is_retried_on_schedule_with_retry_after(customer_feed):
    simulator, customer, source = customer_feed
    publish(simulator, [customer])
    # Longer than a poll waits inside one read: the feed is tried again after it.
    simulator.fail_next(MESSAGES, 429, headers={"Retry-After": "600"})
    feed = failed_poll(source)
    assert feed.needs_attention is False
    assert "600" in feed.last_error
    assert timezone.now() + timedelta(
        seconds=590
    ) < feed.next_poll_at and feed.next_poll_at < timezone.now() + timedelta(seconds=610)


def test_a_short_throttle_is_waited_out_within_the_read(customer_feed):
    simulator, customer, source = customer_feed
    publish(simulator, [customer])
    simulator.fail_next(MESSAGES, 429, headers={"Retry-After": "2"})
    waits = []
    assert poll(source, sleep=waits.append).created == 1
    assert waits == [2.0]


def test_a_tenant_refusing_the_message_center_is_shown_and_changes_nothing(customer_feed):
    simulator, customer, source = customer_feed
    publish(simulator, [customer])
    simulator.deny_messages(customer.tenant_id)
    feed = failed_poll(source)
    assert feed.needs_attention is True
    # An app registration of the tenant's own: its consent is what is missing.
    assert "ServiceMessage.Read.All" in feed.last_error
    assert feed.next_poll_at >= timezone.now() + polling.POLL_INTERVAL - timedelta(minutes=1)
    gets = [r for r in simulator.requests if r[0] == "GET" and r[1] == MESSAGES]
    assert len(gets) == 1  # not retried within the read


def test_a_delegated_refusal_asks_for_message_center_reader():
    source = FeedSource(name="Contoso", auth_mode=AuthMode.DELEGATED)
    failure = polling.failure_of(
        GraphAuthError("Graph refused access", status=403, code="Forbidden"), source
    )
    assert failure.needs_attention is True
    assert "Message Center Reader" in failure.error


def test_malformed_records_and_unknown_values(customer_feed):
    simulator, customer, source = customer_feed
    publish(simulator, [customer], category="someFutureCategory", severity="unknownFutureValue")
    body = (
        b'{"value": [{"title": "no id"}, {"id": "MC500001", "title": "Fine", '
        b'"category": "stayInformed", "severity": "normal", "services": ["Teams", 3]}]}'
    )
    simulator.fail_next(MESSAGES, 200, body=body)
    summary = poll(source)
    assert (summary.created, summary.malformed) == (1, 1)
    assert ServiceMessage.objects.get().services == ["Teams"]
    poll(source)
    message = ServiceMessage.objects.get(microsoft_id="MC100001")
    assert message.category == "someFutureCategory"
    assert message.category_label == "someFutureCategory"
    assert message.severity_label == "Unknown"


def test_queries_per_poll_do_not_grow_with_messages(service_health_simulator):
    simulator, add_source = service_health_simulator
    small, large = CustomerFactory(), CustomerFactory()
    source_small, source_large = add_source(small), add_source(large)
    for n in range(3):
        publish(simulator, [small], f"MC6000{n:02d}")
    for n in range(40):
        publish(simulator, [large], f"MC7000{n:02d}")
    feed_of(source_small), feed_of(source_large)
    assert query_count(lambda: poll(source_small)) == query_count(lambda: poll(source_large))
    assert MessageRecipient.objects.count() == 43


def test_two_pollers_of_one_feed_poll_it_once(service_health_simulator):
    _simulator, add_source = service_health_simulator
    source = add_source(CustomerFactory())
    feed = feed_of(source)
    assert polling.claim(feed.pk) is not None
    with pytest.raises(polling.PollSkipped):
        poll(source)
    # A worker that died holding the lease: after it runs out, the feed is polled again.
    later = timezone.now() + polling.LEASE + timedelta(seconds=1)
    assert polling.claim(feed.pk, now=later) is not None


def test_the_scheduler_polls_each_customers_source_and_queues_it_once(
    service_health_simulator, monkeypatch
):
    from core import broker

    _simulator, add_source = service_health_simulator
    due, later = add_source(CustomerFactory()), add_source(CustomerFactory())
    partner_own = add_source()  # no customer: its messages reach nobody
    disabled = add_source(CustomerFactory(), enabled=False)
    queued = []
    # The broker, not the HTTP.
    monkeypatch.setattr(broker, "send_task", lambda *args: queued.append(args))
    polling.ensure_feeds()
    MessageFeed.objects.filter(source=later).update(
        next_poll_at=timezone.now() + timedelta(hours=1)
    )
    due_feed = MessageFeed.objects.get(source=due)
    assert polling.queue_due_feeds() == [due_feed.pk]
    assert polling.queue_due_feeds() == []  # a second scheduler finds it already queued
    assert queued == [(polling.POLL_TASK, due_feed.pk)]
    assert not MessageFeed.objects.filter(source=partner_own).exists()
    assert MessageFeed.objects.filter(source=disabled).exists()  # kept, not polled
    soon = timezone.now() + polling.QUEUE_TIMEOUT + timedelta(seconds=1)
    assert polling.queue_due_feeds(now=soon) == [due_feed.pk]  # the message was lost
