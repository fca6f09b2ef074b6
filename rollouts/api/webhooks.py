"""Outgoing webhook subscriptions and their delivery log, for release managers only.

Writes go through rollouts/webhooks.py. The signing secret is in the answer to the create
and to rotate-secret, and nowhere else.
"""

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from rollouts import permissions, webhooks
from rollouts.api import selectors as api_selectors
from rollouts.api.base import CREATE_ERRORS, LIST_ERRORS, READ_ERRORS, WRITE_ERRORS, FlightdeckViewSet
from rollouts.api.filters import WebhookDeliveryFilter, WebhookSubscriptionFilter
from rollouts.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from rollouts.api.idempotency import idempotent
from rollouts.api.serializers import IdField, UserSummarySerializer
from rollouts.models import Release, WebhookAttempt, WebhookDelivery, WebhookSubscription

MANAGERS_ONLY = "Only release managers manage webhooks."


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    created_by = UserSummarySerializer(read_only=True, allow_null=True)
    delivered_count = serializers.IntegerField(read_only=True)
    failed_count = serializers.IntegerField(read_only=True)
    pending_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = WebhookSubscription
        fields = ["id", "name", "url", "events", "release", "is_active", "disabled_reason", "created_by"]
        fields += ["created_at", "delivered_count", "failed_count", "pending_count"]
        read_only_fields = fields


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(
        read_only=True, allow_null=True, help_text="The signing secret (whsec_…), shown once: store it now."
    )

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookSubscriptionWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    url = serializers.CharField(max_length=500, help_text="Receives a signed POST per event (Standard Webhooks).")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(webhooks.EVENT_TYPES.items())),
        required=False,
        help_text="Event types; none means all.",
    )
    release = IdField(required=False, allow_null=True, help_text="Only this release's events.")

    def validate_url(self, value: str) -> str:
        # The page's form checks it with the same words; the service checks again.
        problem = webhooks.url_problem(value.strip())
        if problem:
            raise serializers.ValidationError(problem)
        return value.strip()


class DisableSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=250)


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret, shown once.")
    previous_secret_until = serializers.DateTimeField(
        allow_null=True,
        help_text="Until when deliveries are also signed with the previous secret (WEBHOOK_SECRET_GRACE_HOURS); "
        "null when it stopped verifying at once.",
    )


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["attempted_at", "status_code", "error", "duration_ms"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    verb = serializers.CharField(source="event.verb", read_only=True)
    release = serializers.IntegerField(source="event.release_id", read_only=True)
    attempt_log = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "subscription", "event", "verb", "release", "message_id", "status", "attempts"]
        fields += ["next_attempt_at", "last_status_code", "last_error", "delivered_at", "created_at", "payload"]
        fields += ["attempt_log"]
        read_only_fields = fields


class ManagersOnly(FlightdeckViewSet):
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.require(permissions.can_plan(request.user), MANAGERS_ONLY)


@extend_schema(tags=["webhooks"])
@extend_schema_view(
    list=extend_schema(
        summary="List webhook subscriptions",
        description="Release managers only. The secret is never listed.",
        responses={200: WebhookSubscriptionSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="A webhook subscription", responses={200: WebhookSubscriptionSerializer, **READ_ERRORS}
    ),
    create=extend_schema(
        summary="Subscribe a URL to release and phase events",
        description="Deliveries are signed per Standard Webhooks with the `secret` in this answer, shown once. "
        "Needs the `write` scope.",
        request=WebhookSubscriptionWriteSerializer,
        responses={201: WebhookSubscriptionCreatedSerializer, **CREATE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "Deploy bot",
                value={
                    "name": "Deploy bot",
                    "url": "https://ci.example.com/hooks/flightdeck",
                    "events": ["phase.advanced", "rollback.started"],
                },
                request_only=True,
            )
        ],
    ),
    partial_update=extend_schema(
        summary="Edit a webhook subscription",
        description="Any of `name`, `url`, `events` (none means all) and `release` (null for every release), "
        "checked as on create; the secret stays. Deliveries already made keep their payload and go to the new "
        "URL; the events and release decide only which later events are sent. Needs the `write` scope.",
        request=WebhookSubscriptionWriteSerializer,
        responses={200: WebhookSubscriptionSerializer, **WRITE_ERRORS},
        examples=[
            OpenApiExample(
                "Move the receiver",
                value={"url": "https://ci.example.com/hooks/flightdeck-v2", "events": []},
                request_only=True,
            )
        ],
    ),
    destroy=extend_schema(
        summary="Delete a webhook subscription",
        description="Nothing more is sent to it. Its deliveries and their attempts are deleted with it (pending "
        "ones included): no delivery log is kept. To stop sending but keep the log, disable it instead. "
        "Needs the `write` scope.",
        responses={204: None, **WRITE_ERRORS},
    ),
)
class WebhookSubscriptionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ManagersOnly):
    queryset = WebhookSubscription.objects.all()
    serializer_class = WebhookSubscriptionSerializer
    filterset_class = WebhookSubscriptionFilter
    lookup_value_regex = r"[0-9]{1,18}"
    ordering_fields = ["name", "created_at", "id"]
    ordering = ["name", "id"]

    def get_queryset(self):
        return webhooks.subscription_list().select_related("created_by")

    def _one(self, subscription_id: int, **extra) -> dict:
        return {**self.get_serializer(self.get_queryset().get(pk=subscription_id)).data, **extra}

    def _release(self, release_id: int | None) -> Release | None:
        if release_id is None:
            return None
        release = Release.objects.filter(pk=release_id).first()
        if release is None:
            raise serializers.ValidationError({"release": ["No such release."]})
        return release

    # The secret is shown once: a replayed create answers with it blanked, as gate tokens are.
    @idempotent(redact=("secret",))
    def create(self, request):
        data = self.validated(WebhookSubscriptionWriteSerializer, request.data)
        release = self._release(data.get("release"))
        subscription = webhooks.subscription_create(
            actor=request.user, name=data["name"], url=data["url"], events=data.get("events", []), release=release
        )
        return Response(self._one(subscription.pk, secret=subscription.secret), status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        subscription = self.get_object()
        data = self.validated(WebhookSubscriptionWriteSerializer, request.data, partial=True)
        release = self._release(data["release"]) if "release" in data else subscription.release
        webhooks.subscription_update(
            subscription_id=subscription.pk,
            actor=request.user,
            name=data.get("name", subscription.name),
            url=data.get("url", subscription.url),
            events=data.get("events", subscription.events),
            release=release,
        )
        return Response(self._one(subscription.pk))

    def destroy(self, request, pk=None):
        subscription = self.get_object()
        webhooks.subscription_delete(subscription_id=subscription.pk, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Stop sending to a subscription",
        request=DisableSerializer,
        responses={200: WebhookSubscriptionSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        subscription = self.get_object()
        data = self.validated(DisableSerializer, request.data)
        reason = data.get("reason", "").strip()
        who = request.user.get_username()
        webhooks.subscription_disable(
            subscription_id=subscription.pk, actor=request.user, reason=f"Disabled by {who}: {reason}" if reason else ""
        )
        return Response(self._one(subscription.pk))

    @extend_schema(
        summary="Send to a subscription again",
        request=None,
        responses={200: WebhookSubscriptionSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        subscription = self.get_object()
        webhooks.subscription_enable(subscription_id=subscription.pk, actor=request.user)
        return Response(self._one(subscription.pk))

    @extend_schema(
        summary="Make a new signing secret",
        description="Deliveries are signed with the previous secret too until `previous_secret_until`, so the "
        "receiver can switch without missing one.",
        request=None,
        responses={200: SecretSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        subscription = self.get_object()
        subscription = webhooks.subscription_rotate_secret(subscription_id=subscription.pk, actor=request.user)
        return Response(SecretSerializer(subscription).data)


@extend_schema(tags=["webhooks"])
@extend_schema_view(
    list=extend_schema(
        summary="List webhook deliveries",
        description="Newest first, with each attempt. Filter by `subscription`, `status`, `release`, `verb`.",
        responses={200: WebhookDeliverySerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(summary="A webhook delivery", responses={200: WebhookDeliverySerializer, **READ_ERRORS}),
)
class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ManagersOnly):
    queryset = WebhookDelivery.objects.all()
    serializer_class = WebhookDeliverySerializer
    filterset_class = WebhookDeliveryFilter
    lookup_value_regex = r"[0-9]{1,18}"
    ordering_fields = ["created_at", "id", "next_attempt_at"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        return api_selectors.webhook_deliveries()
