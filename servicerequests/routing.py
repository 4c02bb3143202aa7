"""Which channel a service request goes to, and why.

Rules are tried in order; the first enabled rule whose conditions all match wins (a blank
condition matches anything). When none matches, the request falls back to the first enabled
channel of its category, and a commercial request always has a route: the manual Partner Center
channel created by the migration.
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from servicerequests.models import Channel, RoutingRule, render_message


@dataclass
class RoutingDecision:
    channel: Channel | None
    rule: RoutingRule | None
    reasons: list = field(default_factory=list)  # (rule, matched, why)
    fallback: bool = False

    @property
    def explanation_message(self):
        """(template, params): for the timeline, which translates it for each reader."""
        if self.rule is not None:
            return gettext_noop("Rule “%(rule)s” matched: sent through %(channel)s."), {
                "rule": self.rule.name,
                "channel": str(self.channel),
            }
        if self.channel is not None:
            return gettext_noop("No rule matched: the fallback for this category, %(channel)s."), {
                "channel": str(self.channel)
            }
        return gettext_noop(
            "No rule matched and no channel takes this category: add a channel."
        ), {}

    @property
    def explanation(self):
        return render_message(*self.explanation_message)


def _mismatch(rule, *, category, severity, support_topic, customer_tags):
    """Why the rule does not match, or None if it does."""
    if not rule.enabled:
        return _("disabled")
    if not rule.channel.enabled:
        return _("its channel %(channel)s is disabled") % {"channel": rule.channel}
    if rule.category and rule.category != category:
        return _("category is %(value)s, not %(wanted)s") % {
            "value": category,
            "wanted": rule.category,
        }
    if rule.severity and rule.severity != severity:
        return _("severity is %(value)s, not %(wanted)s") % {
            "value": severity,
            "wanted": rule.severity,
        }
    if rule.support_topic_id and (
        support_topic is None or rule.support_topic_id != support_topic.pk
    ):
        return _("support topic is not %(wanted)s") % {"wanted": rule.support_topic}
    if rule.customer_tag and rule.customer_tag not in customer_tags:
        return _("the customer has no tag %(wanted)s") % {"wanted": rule.customer_tag}
    if rule.channel.category != category:
        return _("its channel %(channel)s takes %(wanted)s requests") % {
            "channel": rule.channel,
            "wanted": rule.channel.get_category_display(),
        }
    return None


def rules():
    """Every rule in the order they are tried, with what ``_mismatch`` reads."""
    return list(
        RoutingRule.objects.select_related("channel", "support_topic").order_by("position", "pk")
    )


def route(*, category, severity, support_topic, customer_tags=(), candidates=None, explain=True):
    """The decision; ``candidates`` are the ``rules()`` when the caller has read them already.
    With ``explain``, every rule's reason (the routing test); without, the rules after the one
    that matched are not tried (opening a request, which shows only the chosen rule). The
    fallback channel is read only when no rule matched."""
    customer_tags = set(customer_tags)
    decision = RoutingDecision(channel=None, rule=None)
    for rule in rules() if candidates is None else candidates:
        why = _mismatch(
            rule,
            category=category,
            severity=severity,
            support_topic=support_topic,
            customer_tags=customer_tags,
        )
        if explain:
            decision.reasons.append((rule, why is None, why or _("all conditions match")))
        if why is None and decision.rule is None:
            decision.rule, decision.channel = rule, rule.channel
            if not explain:
                break
    if decision.channel is None:
        decision.channel = (
            Channel.objects.filter(enabled=True, category=category).order_by("pk").first()
        )
        decision.fallback = decision.channel is not None
    return decision


def route_request(service_request):
    candidates = rules()
    # The customer's tags cost a query; only a rule with a tag condition needs them.
    tags = ()
    if any(rule.customer_tag for rule in candidates):
        tags = service_request.customer.tags.values_list("name", flat=True)
    return route(
        category=service_request.category,
        severity=service_request.severity,
        support_topic=service_request.support_topic,
        customer_tags=tags,
        candidates=candidates,
        explain=False,
    )
