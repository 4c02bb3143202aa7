"""The Message center section of a customer's page. A tag, so the customer page (a lower layer)
shows it with one include and no import of this app."""

from dataclasses import dataclass

from django import template
from django.db.models import F

from messagecenter.models import MessageFeed, ServiceMessage

register = template.Library()

SHOWN = 20


@dataclass
class CustomerMessages:
    messages: list
    total: int
    failing: list


@register.simple_tag(takes_context=True)
def customer_messages(context, customer):
    """The latest messages reaching ``customer``, how many there are, and its failing feeds."""
    user = context["request"].user
    messages = (
        ServiceMessage.objects.visible_to(user)
        .filter(recipients__customer=customer)
        .defer("body", "details")
        .order_by(F("last_modified_at").desc(nulls_last=True), "-pk")
    )
    return CustomerMessages(
        messages=list(messages[:SHOWN]),
        total=messages.count(),
        failing=list(
            MessageFeed.objects.visible_to(user).failing().filter(source__customer=customer)
        ),
    )
