"""Support administration pages (Global admins only): channels with write-only credentials,
routing rules and their order, the test-routing page, support topics."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.models import AuditEntry
from servicerequests.models import Channel, RoutingRule, SupportTopic
from tests.customers.factories import CustomerFactory
from tests.helpers import ADMIN_PAGES
from tests.servicerequests.factories import (
    ChannelFactory,
    RoutingRuleFactory,
    SupportTopicFactory,
)

CANARY = "canary-credential-4b1d7e-do-not-show"
OTHER_CANARY = "canary-credential-9c0ffe-do-not-show"


def channel_data(**overrides):
    return {
        "name": "Advanced Support webhook",
        "kind": "webhook",
        "category": "technical",
        "signing_secret": CANARY,  # no page may show it back
        "access_token": "",
        "tier": "advanced",
        "endpoint": "http://127.0.0.1:8766/hook",
        "enabled": "on",
        **overrides,
    }


def assert_no_canary_anywhere(*responses):
    for response in responses:
        body = response.content.decode()
        assert CANARY not in body
        assert OTHER_CANARY not in body
    for entry in AuditEntry.objects.all():
        dumped = json.dumps([entry.before, entry.after, entry.target_repr])
        assert CANARY not in dumped, entry.action
        assert OTHER_CANARY not in dumped, entry.action


# --- who may see what ---------------------------------------------------------------------------


@pytest.mark.parametrize("principal, expected", ADMIN_PAGES)
def test_only_global_admins_reach_the_administration(principal, expected, client_for):
    channel = ChannelFactory()
    rule = RoutingRuleFactory(channel=channel)
    topic = SupportTopicFactory()
    client = client_for(principal)
    for url in [
        reverse("servicerequests:channel_list"),
        reverse("servicerequests:channel_create"),
        reverse("servicerequests:channel_edit", args=[channel.pk]),
        reverse("servicerequests:rule_list"),
        reverse("servicerequests:rule_create"),
        reverse("servicerequests:rule_edit", args=[rule.pk]),
        reverse("servicerequests:routing_test"),
        reverse("servicerequests:topic_list"),
        reverse("servicerequests:topic_create"),
        reverse("servicerequests:topic_edit", args=[topic.pk]),
    ]:
        assert client.get(url).status_code == expected, url
    if expected == 404:
        for url, data in [
            (reverse("servicerequests:channel_edit", args=[channel.pk]), channel_data()),
            (reverse("servicerequests:rule_move", args=[rule.pk]), {"direction": "up"}),
            (reverse("servicerequests:rule_toggle", args=[rule.pk]), {}),
            (reverse("servicerequests:topic_edit", args=[topic.pk]), {"name": "x"}),
        ]:
            assert client.post(url, data).status_code == 404, url
        assert Channel.objects.get(pk=channel.pk).credentials.get("signing_secret") != CANARY
        assert RoutingRule.objects.get().enabled
        assert not AuditEntry.objects.exists()


# --- channels -------------------------------------------------------------------------------


def test_adding_a_webhook_channel_keeps_the_secret_out_of_pages_and_audit(client_for, cast):
    admin = client_for("global_admin")
    response = admin.post(reverse("servicerequests:channel_create"), channel_data())
    assert response.status_code == 302, response.context["form"].errors
    channel = Channel.objects.get(name="Advanced Support webhook")
    assert channel.credentials == {"signing_secret": CANARY}
    assert CANARY not in channel.credentials_encrypted
    entry = AuditEntry.objects.get(action="channel.created")
    assert entry.actor == cast["global_admin"]
    assert entry.after["credentials"] == {"signing_secret": "set"}
    assert entry.after["endpoint"] == "http://127.0.0.1:8766/hook"
    listing = admin.get(reverse("servicerequests:channel_list"))
    assert "Advanced Support webhook" in listing.content.decode()
    edit = admin.get(reverse("servicerequests:channel_edit", args=[channel.pk]))
    assert "Leave empty to keep the current one." in edit.content.decode()
    new = admin.get(reverse("servicerequests:channel_create"))
    assert "Leave empty to keep the current one." not in new.content.decode()
    assert 'data-testid="stored-credentials"' in edit.content.decode()
    assert_no_canary_anywhere(response, listing, edit, new)


def test_a_rejected_form_does_not_render_the_secret_back(client_for):
    response = client_for("global_admin").post(
        reverse("servicerequests:channel_create"),
        channel_data(kind="partner_center", endpoint="ftp://example.com", access_token=CANARY),
    )
    assert response.status_code == 200
    assert "endpoint" in response.context["form"].errors
    assert not Channel.objects.filter(kind="partner_center", name="Advanced Support webhook")
    assert_no_canary_anywhere(response)


def test_editing_with_empty_secrets_keeps_them_and_a_new_one_is_marked_changed(client_for):
    channel = ChannelFactory(credentials={"signing_secret": CANARY}, name="Hook")
    admin = client_for("global_admin")
    url = reverse("servicerequests:channel_edit", args=[channel.pk])
    # The endpoint as stored: moving it to another host would need the secret again.
    data = channel_data(name="Hook renamed", endpoint=channel.endpoint)
    response = admin.post(url, {**data, "signing_secret": ""})
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "Hook renamed"
    assert channel.credentials == {"signing_secret": CANARY}
    first = AuditEntry.objects.get(action="channel.updated")
    assert first.before["name"] == "Hook"
    assert first.after["credentials"] == {"signing_secret": "set"}
    response = admin.post(url, {**data, "signing_secret": OTHER_CANARY})
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.credentials == {"signing_secret": OTHER_CANARY}
    latest = AuditEntry.objects.filter(action="channel.updated").order_by("-pk").first()
    assert latest.after["credentials"] == {"signing_secret": "changed"}
    assert_no_canary_anywhere(response, admin.get(url), admin.get(reverse("dashboard:audit_log")))


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"signing_secret": ""}, "signing_secret"),
        ({"endpoint": ""}, "endpoint"),
        ({"endpoint": "not a url"}, "endpoint"),
        ({"endpoint": "file:///etc/passwd"}, "endpoint"),
        # Not a simulator on the allow-list: an internal address is refused.
        ({"endpoint": "http://10.1.2.3/hook"}, "endpoint"),
        ({"endpoint": "http://user:pw@127.0.0.1/hook"}, "endpoint"),
        ({"kind": "email", "endpoint": "not-an-address", "signing_secret": ""}, "endpoint"),
        ({"kind": "manual", "endpoint": "javascript:alert(1)", "signing_secret": ""}, "endpoint"),
        ({"tier": "platinum"}, "tier"),
    ],
)
def test_channel_validation(client_for, overrides, field):
    response = client_for("global_admin").post(
        reverse("servicerequests:channel_create"), channel_data(**overrides)
    )
    assert response.status_code == 200
    assert field in response.context["form"].errors, response.context["form"].errors
    assert not Channel.objects.filter(name="Advanced Support webhook").exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"kind": "email", "endpoint": "escalations@partner.example", "signing_secret": ""},
        {"kind": "manual", "endpoint": "", "signing_secret": ""},
        {"kind": "partner_center", "endpoint": "http://127.0.0.1:8767", "access_token": CANARY},
        # No pasted token: the channel uses the Microsoft connection.
        {"kind": "partner_center", "endpoint": "http://127.0.0.1:8767", "signing_secret": ""},
    ],
)
def test_other_kinds_of_channel(client_for, overrides):
    response = client_for("global_admin").post(
        reverse("servicerequests:channel_create"), channel_data(**overrides)
    )
    assert response.status_code == 302, response.context["form"].errors
    channel = Channel.objects.get(name="Advanced Support webhook")
    # A kind keeps only the secret it uses: no signing secret on a Partner Center channel.
    expected = {"access_token": CANARY} if overrides.get("access_token") else {}
    assert channel.credentials == expected
    assert_no_canary_anywhere(response)


def test_a_new_secret_clears_needs_attention(client_for):
    channel = ChannelFactory(
        needs_attention=True, last_error="401 from the channel: token revoked", name="Hook"
    )
    admin = client_for("global_admin")
    url = reverse("servicerequests:channel_edit", args=[channel.pk])
    page = admin.get(url).content.decode()
    assert "401 from the channel: token revoked" in page
    # Renaming alone leaves the flag: nothing the error complained about changed.
    same = {"name": "Hook", "endpoint": channel.endpoint}
    admin.post(url, channel_data(**same, signing_secret=""))
    channel.refresh_from_db()
    assert channel.needs_attention
    admin.post(url, channel_data(**same, signing_secret=OTHER_CANARY))
    channel.refresh_from_db()
    assert not channel.needs_attention
    assert channel.last_error == ""


def test_the_channel_list_shows_what_needs_attention(client_for):
    ChannelFactory(name="Healthy hook")
    ChannelFactory(name="Broken hook", needs_attention=True, last_error="403 Forbidden")
    response = client_for("global_admin").get(reverse("servicerequests:channel_list"))
    html = response.content.decode()
    assert html.index("Broken hook") < html.index("Healthy hook")
    assert "403 Forbidden" in html
    assert "Needs attention" in html


def assert_query_count_does_not_grow(client, url, add_rows):
    """The page asks as many queries after ``add_rows()`` as before (a first visit warms up)."""
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    add_rows()
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)


def test_the_channel_list_query_count_does_not_grow(client_for):
    def add_rows():
        for _ in range(6):
            RoutingRuleFactory(channel=ChannelFactory())

    url = reverse("servicerequests:channel_list")
    assert_query_count_does_not_grow(client_for("global_admin"), url, add_rows)


# --- routing rules --------------------------------------------------------------------------


def rule_data(channel, **overrides):
    data = {
        "position": "10",
        "name": "Critical to Premier",
        "category": "technical",
        "severity": "critical",
        "support_topic": "",
        "customer_tag": "",
        "channel": str(channel.pk),
        "enabled": "on",
    }
    data.update(overrides)
    return data


def test_adding_and_editing_a_rule(client_for, cast):
    channel = ChannelFactory()
    admin = client_for("global_admin")
    response = admin.post(reverse("servicerequests:rule_create"), rule_data(channel))
    assert response.status_code == 302, response.context["form"].errors
    rule = RoutingRule.objects.get()
    assert (rule.severity, rule.channel) == ("critical", channel)
    created = AuditEntry.objects.get(action="routing_rule.created")
    assert created.after["channel"] == channel.pk
    assert created.actor == cast["global_admin"]
    response = admin.post(
        reverse("servicerequests:rule_edit", args=[rule.pk]),
        rule_data(channel, severity="", customer_tag=" vip "),
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.severity, rule.customer_tag) == ("", "vip")
    updated = AuditEntry.objects.get(action="routing_rule.updated")
    assert (updated.before["severity"], updated.after["severity"]) == ("critical", "")


def test_a_rule_that_could_never_send_to_its_channel_is_refused(client_for):
    commercial = ChannelFactory(kind="email", category="commercial")
    topic = SupportTopicFactory(category="commercial")
    admin = client_for("global_admin")
    response = admin.post(reverse("servicerequests:rule_create"), rule_data(commercial))
    assert "channel" in response.context["form"].errors
    response = admin.post(
        reverse("servicerequests:rule_create"),
        rule_data(ChannelFactory(), support_topic=str(topic.pk)),
    )
    assert "support_topic" in response.context["form"].errors
    assert not RoutingRule.objects.exists()


def test_a_new_rule_is_offered_the_next_position(client_for):
    RoutingRuleFactory(position=40)
    response = client_for("global_admin").get(reverse("servicerequests:rule_create"))
    assert response.context["form"]["position"].value() == 50


def test_moving_rules_up_and_down(client_for):
    a = RoutingRuleFactory(position=100, name="A")
    b = RoutingRuleFactory(position=100, name="B")  # the same position: ordered by id
    c = RoutingRuleFactory(position=300, name="C")
    admin = client_for("global_admin")

    def order():
        return list(RoutingRule.objects.order_by("position", "pk").values_list("name", flat=True))

    response = admin.post(reverse("servicerequests:rule_move", args=[c.pk]), {"direction": "up"})
    assert response.status_code == 302
    assert order() == ["A", "C", "B"]
    assert list(RoutingRule.objects.order_by("position").values_list("position", flat=True)) == [
        10,
        20,
        30,
    ]
    admin.post(reverse("servicerequests:rule_move", args=[a.pk]), {"direction": "down"})
    assert order() == ["C", "A", "B"]
    # Already first: nothing moves, nothing is audited.
    moves = AuditEntry.objects.filter(action="routing_rule.moved").count()
    admin.post(reverse("servicerequests:rule_move", args=[c.pk]), {"direction": "up"})
    assert order() == ["C", "A", "B"]
    assert AuditEntry.objects.filter(action="routing_rule.moved").count() == moves == 2
    admin.post(reverse("servicerequests:rule_move", args=[b.pk]), {"direction": "sideways"})
    assert order() == ["C", "A", "B"]
    listing = admin.get(reverse("servicerequests:rule_list")).content.decode()
    assert listing.index(">C<") < listing.index(">A<") < listing.index(">B<")


def test_enabling_and_disabling_a_rule(client_for):
    rule = RoutingRuleFactory()
    admin = client_for("global_admin")
    admin.post(reverse("servicerequests:rule_toggle", args=[rule.pk]))
    rule.refresh_from_db()
    assert not rule.enabled
    admin.post(reverse("servicerequests:rule_toggle", args=[rule.pk]))
    rule.refresh_from_db()
    assert rule.enabled
    assert AuditEntry.objects.filter(action="routing_rule.updated").count() == 2


def test_the_rule_list_query_count_does_not_grow(client_for):
    def add_rows():
        for _ in range(6):
            RoutingRuleFactory(support_topic=SupportTopicFactory())

    RoutingRuleFactory(support_topic=SupportTopicFactory())
    url = reverse("servicerequests:rule_list")
    assert_query_count_does_not_grow(client_for("global_admin"), url, add_rows)


# --- the test-routing page ------------------------------------------------------------------


def test_the_routing_test_page_explains_each_rule(client_for):
    premier = ChannelFactory(name="Premier")
    vip = ChannelFactory(name="VIP desk", kind="email")
    RoutingRuleFactory(position=10, name="VIP customers", customer_tag="vip", channel=vip)
    RoutingRuleFactory(position=20, name="Critical", severity="critical", channel=premier)
    RoutingRuleFactory(position=30, name="Everything technical", category="technical", channel=vip)
    topic = SupportTopicFactory(category="technical")
    customer = CustomerFactory()
    admin = client_for("global_admin")
    response = admin.get(
        reverse("servicerequests:routing_test"),
        {"support_topic": topic.pk, "severity": "critical", "customer": str(customer.tenant_id)},
    )
    decision = response.context["decision"]
    assert decision.channel == premier
    assert decision.rule.name == "Critical"
    html = response.content.decode()
    assert 'data-testid="routing-result"' in html
    assert "the customer has no tag vip" in html
    assert "matches: chosen" in html
    assert "matches, but an earlier rule won" in html
    assert not AuditEntry.objects.exists()


def test_the_routing_test_page_falls_back_and_needs_a_topic_or_category(client_for):
    admin = client_for("global_admin")
    response = admin.get(reverse("servicerequests:routing_test"), {"severity": "minimal"})
    assert response.context["decision"] is None
    assert response.context["form"].non_field_errors()
    fallback = ChannelFactory(name="Commercial desk", kind="email", category="commercial")
    Channel.objects.exclude(pk=fallback.pk).filter(category="commercial").update(enabled=False)
    response = admin.get(
        reverse("servicerequests:routing_test"), {"category": "commercial", "severity": "minimal"}
    )
    assert response.context["decision"].channel == fallback
    assert response.context["decision"].fallback


# --- support topics -------------------------------------------------------------------------


def topic_data(**overrides):
    return {
        "name": "Power BI",
        "description": "Reports, dashboards and gateways",
        "category": "technical",
        "partner_center_id": "99000001",
        "active": "on",
        **overrides,
    }


def test_adding_and_editing_a_topic(client_for):
    admin = client_for("global_admin")
    response = admin.post(reverse("servicerequests:topic_create"), topic_data())
    assert response.status_code == 302, response.context["form"].errors
    topic = SupportTopic.objects.get(name="Power BI")
    assert AuditEntry.objects.get(action="support_topic.created").after["partner_center_id"] == (
        "99000001"
    )
    response = admin.post(
        reverse("servicerequests:topic_edit", args=[topic.pk]), topic_data(active="")
    )
    assert response.status_code == 302
    topic.refresh_from_db()
    assert not topic.active
    entry = AuditEntry.objects.get(action="support_topic.updated")
    assert (entry.before["active"], entry.after["active"]) == (True, False)
    listing = admin.get(reverse("servicerequests:topic_list")).content.decode()
    assert "Power BI" in listing


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"name": ""}, "name"),
        ({"partner_center_id": "abc"}, "partner_center_id"),
        ({"category": "spiritual"}, "category"),
    ],
)
def test_topic_validation(client_for, overrides, field):
    response = client_for("global_admin").post(
        reverse("servicerequests:topic_create"), topic_data(**overrides)
    )
    assert field in response.context["form"].errors
    assert not SupportTopic.objects.filter(partner_center_id="99000001").exists()


def test_two_topics_cannot_share_a_partner_center_id(client_for):
    SupportTopicFactory(partner_center_id="99000001")
    response = client_for("global_admin").post(
        reverse("servicerequests:topic_create"), topic_data()
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert SupportTopic.objects.filter(partner_center_id="99000001").count() == 1
