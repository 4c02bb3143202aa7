"""Routing as a table: each row is a request and the channel it must reach."""

import pytest

from servicerequests import routing
from servicerequests.models import Channel, RoutingRule
from tests.servicerequests.helpers import channel, topic


@pytest.fixture
def setup(db):
    Channel.objects.all().delete()  # the seeded manual channels; this table is self-contained
    channels = {
        "commercial": channel(
            "manual", name="Commercial (manual)", category="commercial", tier="commercial"
        ),
        "premier": channel(
            "partner_center", name="Premier", endpoint="https://api.partnercenter.microsoft.com"
        ),
        "advanced": channel(
            "webhook", name="Advanced", tier="advanced", endpoint="https://advanced.example/hook"
        ),
        "vip": channel("email", name="VIP desk", tier="premier", endpoint="vip@partner.example"),
        "disabled": channel("webhook", name="Disabled", endpoint="https://off.example/hook"),
    }
    channels["disabled"].enabled = False
    channels["disabled"].save()
    topics = {
        "billing": topic("commercial", "32444668", "Billing"),
        "exchange": topic("technical", "32444674", "Exchange Online"),
        "teams": topic("technical", "32444676", "Teams"),
    }
    rules = [
        (10, "Disabled channel first", {"category": "technical"}, "disabled"),
        (20, "VIP customers", {"category": "technical", "customer_tag": "vip"}, "vip"),
        (30, "Critical technical", {"category": "technical", "severity": "critical"}, "premier"),
        (40, "Exchange", {"support_topic": topics["exchange"]}, "advanced"),
        (50, "Technical default", {"category": "technical"}, "advanced"),
    ]
    for position, name, conditions, target in rules:
        RoutingRule.objects.create(
            position=position, name=name, channel=channels[target], **conditions
        )
    return channels, topics


@pytest.mark.parametrize(
    ("category", "severity", "topic_name", "tags", "expected_channel", "expected_rule"),
    [
        ("technical", "minimal", "teams", [], "Advanced", "Technical default"),
        ("technical", "critical", "teams", [], "Premier", "Critical technical"),
        ("technical", "critical", "teams", ["vip"], "VIP desk", "VIP customers"),
        ("technical", "moderate", "exchange", [], "Advanced", "Exchange"),
        # No rule takes commercial requests: the commercial fallback channel always does.
        ("commercial", "critical", "billing", ["vip"], "Commercial (manual)", None),
    ],
)
def test_routing_table(
    setup, category, severity, topic_name, tags, expected_channel, expected_rule
):
    _channels, topics = setup
    decision = routing.route(
        category=category, severity=severity, support_topic=topics[topic_name], customer_tags=tags
    )
    assert decision.channel.name == expected_channel
    assert (decision.rule.name if decision.rule else None) == expected_rule
    assert decision.fallback == (expected_rule is None)


def test_the_explanation_says_why_each_rule_did_not_match(setup):
    _channels, topics = setup
    decision = routing.route(
        category="technical", severity="minimal", support_topic=topics["teams"]
    )
    reasons = {rule.name: (matched, why) for rule, matched, why in decision.reasons}
    assert reasons["Disabled channel first"] == (False, "its channel Disabled is disabled")
    assert reasons["VIP customers"] == (False, "the customer has no tag vip")
    assert reasons["Critical technical"][1] == "severity is minimal, not critical"
    assert reasons["Technical default"][0] is True
    assert "Technical default" in decision.explanation


def test_without_any_channel_for_a_category_there_is_no_route(db):
    Channel.objects.all().delete()
    decision = routing.route(category="technical", severity="minimal", support_topic=topic())
    assert decision.channel is None
    assert "add a channel" in decision.explanation
