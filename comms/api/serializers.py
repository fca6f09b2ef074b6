"""What the comms API reads and takes. Writes are checked by comms/services.py and
comms/plan_services.py, the same functions behind the pages' forms."""

from urllib.parse import urlsplit

from rest_framework import serializers

from comms.models import Audience, Channel, CommunicationPlan, Membership, Message, Notice, Stakeholder, Trigger
from rollouts.api.serializers import IdField


def masked(url: str) -> str:
    """Incoming-webhook URLs carry their secret in the path; reads name only the host."""
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}/…" if parts.scheme and parts.netloc else ""


class AudienceSerializer(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True, help_text="Everyone in it.")
    reachable_count = serializers.IntegerField(read_only=True, help_text="Those who still receive its notices.")

    class Meta:
        model = Audience
        fields = ["id", "name", "description", "support_digest", "member_count", "reachable_count", "created_at"]
        read_only_fields = fields


class AudienceWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    support_digest = serializers.BooleanField(
        required=False, help_text="Members get the support digest whenever a phase of a release starts."
    )


class MembershipSerializer(serializers.ModelSerializer):
    audience_name = serializers.CharField(source="audience.name", read_only=True)
    subscribed = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        fields = ["audience", "audience_name", "subscribed", "unsubscribed_at"]
        read_only_fields = fields

    def get_subscribed(self, membership) -> bool:
        return membership.unsubscribed_at is None


class StakeholderSerializer(serializers.ModelSerializer):
    memberships = MembershipSerializer(many=True, read_only=True)

    class Meta:
        model = Stakeholder
        fields = ["id", "email", "name", "organisation", "opted_out_at", "created_at", "memberships"]
        read_only_fields = fields


class StakeholderWriteSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    organisation = serializers.CharField(max_length=200, required=False, allow_blank=True)
    audiences = serializers.ListField(
        child=IdField(),
        required=False,
        help_text="Audience ids. On edit it sets the audiences; an unsubscribed membership stays unsubscribed.",
    )


class MessageSerializer(serializers.ModelSerializer):
    release = serializers.IntegerField(source="plan.release_id", read_only=True)
    webhook_url = serializers.SerializerMethodField(help_text="Only the host: the path holds the channel's secret.")

    class Meta:
        model = Message
        fields = ["id", "plan", "release", "kind", "name", "audiences", "channel", "webhook_url", "subject"]
        fields += ["body", "trigger", "send_at", "phase", "offset_minutes", "created_at", "updated_at"]
        read_only_fields = fields

    def get_webhook_url(self, message) -> str:
        return masked(message.webhook_url)


class MessageWriteSerializer(serializers.Serializer):
    release = IdField(help_text="Create only: the release whose plan gets the message.")
    name = serializers.CharField(max_length=120)
    audiences = serializers.ListField(child=IdField(), required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    webhook_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    subject = serializers.CharField(max_length=200)
    body = serializers.CharField(help_text="Markdown with release variables such as {{ release.name }}.")
    trigger = serializers.ChoiceField(choices=Trigger.choices, required=False)
    send_at = serializers.DateTimeField(required=False, allow_null=True)
    phase = IdField(required=False, allow_null=True)
    offset_minutes = serializers.IntegerField(required=False, min_value=-43200, max_value=43200)


class MessageUpdateSerializer(MessageWriteSerializer):
    release = None


class RequireBeforePhaseSerializer(serializers.Serializer):
    phase = IdField(help_text="The phase that waits until the message reached everyone.")


class CommunicationPlanSerializer(serializers.ModelSerializer):
    release = serializers.IntegerField(source="release_id", read_only=True)
    messages = MessageSerializer(many=True, read_only=True)

    class Meta:
        model = CommunicationPlan
        fields = ["id", "release", "created_at", "messages"]
        read_only_fields = fields


class NoticeSerializer(serializers.ModelSerializer):
    message_name = serializers.CharField(source="message.name", read_only=True)
    release = serializers.IntegerField(source="message.plan.release_id", read_only=True)

    class Meta:
        model = Notice
        fields = ["id", "message", "message_name", "release", "stakeholder", "recipient", "occurrence", "due_at"]
        fields += ["status", "attempts", "last_error", "sent_at", "cancelled_reason", "created_at"]
        read_only_fields = fields
