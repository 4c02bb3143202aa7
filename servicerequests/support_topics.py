"""Partner Center's support topics, read daily (``GET /v1/servicerequests/supporttopics``) with the
partner's Microsoft connection, replacing the seeded ones.

Topics are matched by their Partner Center id, so the portal's ids (and the routing rules and
requests that point at them) stay stable: a topic Partner Center renames is renamed here, a new
one is added, and one Partner Center no longer lists is marked inactive, never deleted. Topics
without a Partner Center id are the portal's own and are left alone. An answer with no usable
topic changes nothing.
"""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from microsoft.services import connection_ready, get_connection
from servicerequests.channels.base import ChannelError
from servicerequests.models import CategoryChoices, Channel, SupportTopic

logger = logging.getLogger(__name__)

# Partner Center gives no category; a Global admin may change it on the topic's page.
NEW_TOPIC_CATEGORY = CategoryChoices.TECHNICAL
NAME_LENGTH = SupportTopic._meta.get_field("name").max_length


@dataclass
class TopicSync:
    added: int = 0
    changed: int = 0
    deactivated: int = 0
    error: str = ""


def connection_channel():
    """A ``partner_center`` channel (not stored) on the connection's Partner Center URL: its
    token, headers, paging and errors, for what the portal reads outside a request."""
    return Channel(kind="partner_center", endpoint=get_connection().partner_center_url)


def read_topics():
    """``{partner center id: (name, description)}`` from Partner Center."""
    topics = {}
    for item in connection_channel().adapter().support_topics():
        if not isinstance(item, dict):
            continue
        topic_id = str(item.get("id") or "").strip()
        name = " ".join(str(item.get("name") or "").split())[:NAME_LENGTH]
        if topic_id and name:
            topics[topic_id] = (name, str(item.get("description") or "").strip())
    return topics


def sync_support_topics():
    """Beat, daily. Returns a ``TopicSync``; with ``error`` set nothing was changed."""
    if not connection_ready():
        return TopicSync(error="Microsoft is not connected.")
    try:
        topics = read_topics()
    except ChannelError as exc:
        logger.warning("support topics not read: %s", exc)
        return TopicSync(error=str(exc))
    if not topics:
        logger.warning("Partner Center listed no usable support topic; nothing changed")
        return TopicSync(error="Partner Center listed no usable support topic.")
    result = TopicSync()
    with transaction.atomic():
        stored = {
            topic.partner_center_id: topic
            for topic in SupportTopic.objects.select_for_update().exclude(partner_center_id="")
        }
        for topic_id, (name, description) in topics.items():
            topic = stored.get(topic_id)
            if topic is None:
                SupportTopic.objects.create(
                    partner_center_id=topic_id,
                    name=name,
                    description=description,
                    category=NEW_TOPIC_CATEGORY,
                )
                result.added += 1
            elif (topic.name, topic.description, topic.active) != (name, description, True):
                topic.name, topic.description, topic.active = name, description, True
                topic.save(update_fields=["name", "description", "active", "modified_at"])
                result.changed += 1
        gone = [t.pk for pc_id, t in stored.items() if pc_id not in topics and t.active]
        # modified_at: API clients syncing topics learn of it.
        result.deactivated = SupportTopic.objects.filter(pk__in=gone).update(
            active=False, modified_at=timezone.now()
        )
    logger.info(
        "support topics: %s added, %s changed, %s marked inactive",
        result.added,
        result.changed,
        result.deactivated,
    )
    return result
