"""What Global admins manage through the API: support topics, support channels, routing rules,
and the routing test's question and answer.

Every write goes through ``servicerequests.channel_setup`` (audit, never a secret). A channel's
credentials are write-only: no response, error message or audit entry carries them.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from core.api import through_service
from core.openapi import examples
from customers.serializers import CustomerTenantField
from servicerequests import channel_setup
from servicerequests.api import schema
from servicerequests.models import (
    CategoryChoices,
    Channel,
    RoutingRule,
    SeverityChoices,
    SupportTopic,
)
from servicerequests.serializers import ChannelRefSerializer


def _nest_credentials(errors):
    """A service's error about a secret (``signing_secret``) belongs to ``credentials``."""
    for key in channel_setup.CREDENTIALS.values():
        if key in errors:
            errors.setdefault("credentials", {})[key] = errors.pop(key)
    return errors


# ``create`` and ``update`` call the ``channel_setup`` functions a serializer names, as the caller.
# A comment, not a docstring: drf-spectacular would show an inherited docstring in the schema.
class _WritesThroughChannelSetup:
    create_service = update_service = adjust_errors = None

    def create(self, validated_data):
        return self._write(self.create_service, validated_data)

    def update(self, instance, validated_data):
        return self._write(self.update_service, validated_data, instance)

    def _write(self, service, validated_data, *args):
        request = self.context["request"]
        return through_service(
            service,
            *args,
            actor=request.user,
            request=request,
            adjust_errors=self.adjust_errors,
            **validated_data,
        )


# --- support topics -----------------------------------------------------------------------------


@examples(
    "Exchange Online",
    request=schema.SUPPORT_TOPIC_REQUEST,
    response=schema.SUPPORT_TOPIC_RESPONSE,
)
class SupportTopicSerializer(_WritesThroughChannelSetup, serializers.ModelSerializer):
    create_service = staticmethod(channel_setup.create_topic)
    update_service = staticmethod(channel_setup.update_topic)
    url = serializers.HyperlinkedIdentityField(view_name="api-v1:support-topic-detail")
    partner_center_id = serializers.RegexField(
        r"^[0-9]*$",
        max_length=40,
        required=False,
        allow_blank=True,
        error_messages={"invalid": "Partner Center's topic ids are digits only."},
        help_text="The support topic id Partner Center's API expects; needed for that channel.",
    )
    active = serializers.BooleanField(
        required=False, help_text="Inactive topics are not offered for new requests."
    )

    class Meta:
        model = SupportTopic
        fields = [
            "url",
            "id",
            "name",
            "description",
            "category",
            "partner_center_id",
            "active",
            "modified_at",
        ]
        read_only_fields = ["id", "modified_at"]

    def validate_partner_center_id(self, value):
        value = value.strip()
        if value:
            taken = SupportTopic.objects.filter(partner_center_id=value)
            if self.instance is not None:
                taken = taken.exclude(pk=self.instance.pk)
            if taken.exists():
                raise serializers.ValidationError(
                    "Another support topic has this Partner Center id."
                )
        return value


# --- support channels ---------------------------------------------------------------------------


class CredentialsField(serializers.DictField):
    child = serializers.CharField(max_length=4000, trim_whitespace=False, allow_blank=True)


@examples("Partner Center", request=schema.CHANNEL_REQUEST, response=schema.CHANNEL_RESPONSE)
class ChannelSerializer(_WritesThroughChannelSetup, serializers.ModelSerializer):
    create_service = staticmethod(channel_setup.create_channel)
    update_service = staticmethod(channel_setup.update_channel)
    adjust_errors = staticmethod(_nest_credentials)
    url = serializers.HyperlinkedIdentityField(view_name="api-v1:channel-detail")
    name = serializers.CharField(
        max_length=100,
        validators=[
            UniqueValidator(
                queryset=Channel.objects.all(), message="A channel with this name already exists."
            )
        ],
    )
    credentials = CredentialsField(
        write_only=True,
        required=False,
        help_text=(
            "Write-only: never returned. `partner_center` uses the Microsoft connection, or "
            "an `access_token` given here instead (an explicit fallback); `webhook` takes "
            "`signing_secret` (at least 24 bytes); the other kinds take none. An empty or "
            "missing value keeps the stored one, unless `endpoint` moves to another origin "
            "(scheme, host or port): the stored secret is never sent to a new host, so such a "
            "change needs it again."
        ),
    )
    has_credentials = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = [
            "url",
            "id",
            "name",
            "kind",
            "category",
            "tier",
            "endpoint",
            "credentials",
            "has_credentials",
            "enabled",
            "needs_attention",
            "last_error",
            "last_error_at",
            "created_at",
            "modified_at",
        ]
        read_only_fields = [
            "id",
            "needs_attention",
            "last_error",
            "last_error_at",
            "created_at",
            "modified_at",
        ]
        extra_kwargs = {
            "endpoint": {
                "help_text": (
                    "Partner Center API: its base URL; webhook: the URL requests are posted to "
                    "(both checked before they are stored); email: the address; manual: the "
                    "page of Microsoft's portal to file them in."
                )
            }
        }

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_has_credentials(self, channel) -> bool:
        return bool(channel.credentials_encrypted)

    def validate(self, attrs):
        kind = attrs.get("kind") or getattr(self.instance, "kind", None)
        credentials = attrs.get("credentials") or {}
        allowed = channel_setup.CREDENTIALS.get(kind)
        # The message names no key the caller sent: a secret may have been typed as a key.
        if any(key != allowed for key in credentials):
            takes = f"only `{allowed}`" if allowed else "no credentials"
            raise serializers.ValidationError(
                {"credentials": [f"A {kind} channel takes {takes}; remove the others."]}
            )
        return attrs


# --- routing rules ------------------------------------------------------------------------------


@examples(
    "Critical Exchange to Premier",
    request=schema.ROUTING_RULE_REQUEST,
    response=schema.ROUTING_RULE_RESPONSE,
)
class RoutingRuleSerializer(_WritesThroughChannelSetup, serializers.ModelSerializer):
    create_service = staticmethod(channel_setup.create_rule)
    update_service = staticmethod(channel_setup.update_rule)
    url = serializers.HyperlinkedIdentityField(view_name="api-v1:routing-rule-detail")

    class Meta:
        model = RoutingRule
        fields = ["url", "id", *channel_setup.RULE_FIELDS, "modified_at"]
        read_only_fields = ["id", "modified_at"]
        extra_kwargs = {
            "position": {"help_text": "Rules are tried from the lowest number up."},
            "category": {"help_text": "Empty matches any."},
            "severity": {"help_text": "Empty matches any."},
            "support_topic": {"help_text": "A support topic's id; null matches any."},
            "customer_tag": {"help_text": "Matches customers with this tag; empty matches any."},
            "channel": {"help_text": "The id of the channel a matching request goes to."},
        }

    def validate_customer_tag(self, value):
        return value.strip()

    def validate(self, attrs):
        def current(name):
            return attrs[name] if name in attrs else getattr(self.instance, name, None)

        category, topic, channel = current("category"), current("support_topic"), current("channel")
        errors = {}
        if category and topic is not None and topic.category != category:
            errors["support_topic"] = [
                f"This topic is {topic.category}; the rule asks for {category}."
            ]
        wanted = category or (topic.category if topic is not None else "")
        if channel is not None and wanted and channel.category != wanted:
            errors["channel"] = [
                f"{channel} takes {channel.category} requests: this rule would never send to it."
            ]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


@examples("A critical Exchange request", request=schema.ROUTING_TEST_REQUEST)
class RoutingTestSerializer(serializers.Serializer):
    category = serializers.ChoiceField(
        choices=CategoryChoices.choices,
        required=False,
        help_text="Leave it out to take the support topic's category.",
    )
    severity = serializers.ChoiceField(choices=SeverityChoices.choices)
    support_topic = serializers.PrimaryKeyRelatedField(
        queryset=SupportTopic.objects.all(), help_text="A support topic's id."
    )
    customer = CustomerTenantField(
        required=False,
        allow_null=True,
        help_text="The customer's tenant id; its tags can decide the route.",
    )


class RuleRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class RuleVerdictSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    position = serializers.IntegerField()
    matched = serializers.BooleanField(help_text="Whether all its conditions match.")
    why = serializers.CharField(help_text="What matched, or the first condition that did not.")


@examples("Matched a rule", response=schema.ROUTING_DECISION_RESPONSE)
class RoutingDecisionSerializer(serializers.Serializer):
    category = serializers.ChoiceField(
        choices=CategoryChoices.choices, help_text="The category routing used."
    )
    channel = ChannelRefSerializer(
        allow_null=True, help_text="Where the request would go; null when nothing takes it."
    )
    rule = RuleRefSerializer(allow_null=True, help_text="The first matching rule, if any.")
    fallback = serializers.BooleanField(
        help_text="True when no rule matched and the category's first enabled channel takes it."
    )
    explanation = serializers.CharField()
    rules = RuleVerdictSerializer(many=True, help_text="Every rule, in the order tried.")


def decision_data(decision, category):
    """What ``RoutingDecisionSerializer`` shows of ``routing.route``'s decision."""
    return {
        "category": category,
        "channel": decision.channel,
        "rule": decision.rule,
        "fallback": decision.fallback,
        "explanation": str(decision.explanation),
        "rules": [
            {
                "id": rule.pk,
                "name": rule.name,
                "position": rule.position,
                "matched": matched,
                "why": str(why),
            }
            for rule, matched, why in decision.reasons
        ],
    }
