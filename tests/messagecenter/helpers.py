"""Publishing messages in the service-communications simulator and polling them."""

from datetime import UTC, datetime, timedelta

from messagecenter import polling
from messagecenter.models import MessageFeed
from servicehealth import feeds
from servicehealth.models import FeedSource

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)


def publish(simulator, customers, message_id="MC100001", **fields):
    fields.setdefault("title", "Exchange Online: retiring basic authentication for SMTP")
    fields.setdefault("category", "planForChange")
    fields.setdefault("severity", "high")
    fields.setdefault("services", ["Exchange Online"])
    fields.setdefault("tags", ["Admin impact", "Retirement"])
    fields.setdefault("start", T0)
    fields.setdefault(
        "body", "<p>We're retiring <b>basic authentication</b>.</p><script>alert(1)</script>"
    )
    return simulator.add_message(
        message_id, tenant_ids=[str(c.tenant_id) for c in customers], **fields
    )


def feed_of(source):
    return MessageFeed.objects.get_or_create(source=source)[0]


def poll(source, **client_kwargs):
    """Poll ``source``'s Message center now, never sleeping between retries."""
    client_kwargs.setdefault("sleep", lambda seconds: None)
    client = feeds.client_for(FeedSource.objects.get(pk=source.pk), **client_kwargs)
    return polling.poll(feed_of(source).pk, client=client)
