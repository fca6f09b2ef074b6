"""The comms REST API: audiences, stakeholders, communication plans, messages and notices.

Thin, like the pages: comms/selectors.py and plan querysets read, comms/services.py and
comms/plan_services.py write (and validate), rollouts/permissions.py decides. Release
managers manage audiences and stakeholders; a message is changed by whoever may edit its
release's plan; every Flightdeck role reads.
"""

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from comms import plan_services, selectors, services
from comms.api import serializers as s
from comms.api.filters import AudienceFilter, CommunicationPlanFilter, MessageFilter, NoticeFilter, StakeholderFilter
from comms.forms import StakeholderForm
from comms.models import Audience, CommunicationPlan, Message, Notice, Stakeholder
from rollouts import permissions
from rollouts.api import selectors as rollouts_api_selectors
from rollouts.api.base import (
    ACTION_ERRORS,
    CREATE_ERRORS,
    LIST_ERRORS,
    READ_ERRORS,
    WRITE_ERRORS,
    FlightdeckViewSet,
    clean_with,
)
from rollouts.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from rollouts.api.idempotency import idempotent
from rollouts.api.serializers import GateSerializer
from rollouts.models import ApiScope, Release

MANAGERS_AUDIENCES = "Only release managers manage audiences and stakeholders."
MANAGERS_PLAN = "Only release managers can change the communication plan of a release that is not finished."


@extend_schema(tags=["audiences"])
@extend_schema_view(
    list=extend_schema(
        summary="List audiences",
        description="With how many stakeholders are in each and how many still receive its notices.",
        responses={200: s.AudienceSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(summary="An audience", responses={200: s.AudienceSerializer, **READ_ERRORS}),
    create=extend_schema(
        summary="Create an audience",
        description="Release managers; names are unique (ignoring case). Needs the `write` scope.",
        request=s.AudienceWriteSerializer,
        responses={201: s.AudienceSerializer, **CREATE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
        examples=[OpenApiExample("Support", value={"name": "Support", "support_digest": True}, request_only=True)],
    ),
    update=extend_schema(
        summary="Edit an audience",
        request=s.AudienceWriteSerializer,
        responses={200: s.AudienceSerializer, **WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Edit some of an audience",
        request=s.AudienceWriteSerializer,
        responses={200: s.AudienceSerializer, **WRITE_ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete an audience",
        description="Refused (409) while a message of an unfinished release is addressed to it.",
        responses={204: None, **WRITE_ERRORS},
    ),
)
class AudienceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FlightdeckViewSet):
    queryset = Audience.objects.all()
    serializer_class = s.AudienceSerializer
    filterset_class = AudienceFilter
    lookup_value_regex = r"[0-9]{1,18}"
    ordering_fields = ["name", "created_at", "id"]

    def get_queryset(self):
        return selectors.audience_list()

    def _one(self, audience_id: int, http_status=status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=audience_id)).data, http_status)

    @idempotent
    def create(self, request):
        self.require(permissions.can_plan(request.user), MANAGERS_AUDIENCES)
        data = self.validated(s.AudienceWriteSerializer, request.data)
        audience = services.audience_create(actor=request.user, **data)
        return self._one(audience.pk, status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        audience = self.get_object()
        self.require(permissions.can_plan(request.user), MANAGERS_AUDIENCES)
        data = self.validated(s.AudienceWriteSerializer, request.data, partial=partial)
        services.audience_update(
            audience_id=audience.pk,
            actor=request.user,
            name=data.get("name", audience.name),
            description=data.get("description", audience.description),
            support_digest=data.get("support_digest"),
        )
        return self._one(audience.pk)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        audience = self.get_object()
        self.require(permissions.can_plan(request.user), MANAGERS_AUDIENCES)
        services.audience_delete(audience_id=audience.pk, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["stakeholders"])
@extend_schema_view(
    list=extend_schema(
        summary="List stakeholders",
        description="By email; search with `q`, narrow to an `audience`, or to those who `opted_out`.",
        responses={200: s.StakeholderSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="A stakeholder and their memberships", responses={200: s.StakeholderSerializer, **READ_ERRORS}
    ),
    create=extend_schema(
        summary="Add a stakeholder",
        description="Release managers; emails are unique (ignoring case). Needs the `write` scope.",
        request=s.StakeholderWriteSerializer,
        responses={201: s.StakeholderSerializer, **CREATE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "A customer",
                value={"email": "ana@example.com", "name": "Ana Lima", "organisation": "Acme Ltd", "audiences": [2]},
                request_only=True,
            )
        ],
    ),
    update=extend_schema(
        summary="Edit a stakeholder",
        description="With `audiences`, sets them; a membership the stakeholder unsubscribed from stays unsubscribed "
        "(only the stakeholder subscribes again).",
        request=s.StakeholderWriteSerializer,
        responses={200: s.StakeholderSerializer, **WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Edit some of a stakeholder",
        request=s.StakeholderWriteSerializer,
        responses={200: s.StakeholderSerializer, **WRITE_ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete a stakeholder",
        description="For a person who asked to be forgotten. Their memberships and every notice of theirs not "
        "sent (pending, sending, failed, cancelled) are deleted, so nothing more goes to them. Notices already "
        "sent are kept for the plans' counts and comms-ready gates, without the person: their `recipient` "
        "becomes `removed-<id>`. Release managers; needs the `write` scope.",
        responses={204: None, **WRITE_ERRORS},
    ),
)
class StakeholderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FlightdeckViewSet):
    queryset = Stakeholder.objects.all()
    serializer_class = s.StakeholderSerializer
    filterset_class = StakeholderFilter
    lookup_value_regex = r"[0-9]{1,18}"
    ordering_fields = ["email", "created_at", "id"]

    def get_queryset(self):
        return selectors.stakeholder_list()

    def _one(self, stakeholder_id: int, http_status=status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(selectors.stakeholder_by_id(stakeholder_id)).data, http_status)

    def _form(self, data: dict) -> dict:
        form_data = {**data, "audiences": data.get("audiences") or []}
        return clean_with(StakeholderForm, form_data)

    @idempotent
    def create(self, request):
        self.require(permissions.can_plan(request.user), MANAGERS_AUDIENCES)
        data = self.validated(s.StakeholderWriteSerializer, request.data)
        cleaned = self._form(data)
        stakeholder = services.stakeholder_create(
            actor=request.user,
            email=cleaned["email"],
            name=cleaned["name"],
            organisation=cleaned["organisation"],
            audience_ids=cleaned["audiences"],
        )
        return self._one(stakeholder.pk, status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        stakeholder = self.get_object()
        self.require(permissions.can_plan(request.user), MANAGERS_AUDIENCES)
        data = self.validated(s.StakeholderWriteSerializer, request.data, partial=partial)
        current = {"email": stakeholder.email, "name": stakeholder.name, "organisation": stakeholder.organisation}
        cleaned = self._form({**current, **data})
        services.stakeholder_update(
            stakeholder_id=stakeholder.pk,
            actor=request.user,
            email=cleaned["email"],
            name=cleaned["name"],
            organisation=cleaned["organisation"],
            audience_ids=cleaned["audiences"] if "audiences" in data else None,
        )
        return self._one(stakeholder.pk)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        stakeholder = self.get_object()
        self.require(permissions.can_plan(request.user), MANAGERS_AUDIENCES)
        services.stakeholder_delete(stakeholder_id=stakeholder.pk, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _messages():
    return Message.objects.select_related("plan").prefetch_related("audiences")


@extend_schema(tags=["communication plans"])
@extend_schema_view(
    list=extend_schema(
        summary="List communication plans",
        description="One per release that has one; filter with `release`. Messages are written through "
        "/api/v1/messages.",
        responses={200: s.CommunicationPlanSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="A communication plan with its messages", responses={200: s.CommunicationPlanSerializer, **READ_ERRORS}
    ),
)
class CommunicationPlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FlightdeckViewSet):
    queryset = CommunicationPlan.objects.all()
    serializer_class = s.CommunicationPlanSerializer
    filterset_class = CommunicationPlanFilter
    lookup_value_regex = r"[0-9]{1,18}"
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        return CommunicationPlan.objects.prefetch_related(
            Prefetch("messages", queryset=_messages().order_by("created_at", "id"))
        )


@extend_schema(tags=["communication plans"])
@extend_schema_view(
    list=extend_schema(
        summary="List messages of communication plans",
        description="Filter by `release`, `plan`, `channel`, `trigger`, `phase`.",
        responses={200: s.MessageSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(summary="A message", responses={200: s.MessageSerializer, **READ_ERRORS}),
    create=extend_schema(
        summary="Add a message to a release's communication plan",
        description=(
            "Checked as the message editor checks it: audiences for email, a webhook URL for chat, a phase for "
            "phase triggers, a time not in the past, only known release variables. The release's notices are "
            "planned again. Needs the `write` scope and a release you may plan."
        ),
        request=s.MessageWriteSerializer,
        responses={201: s.MessageSerializer, **CREATE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "Heads-up to support",
                value={
                    "release": 7,
                    "name": "Heads-up to support",
                    "audiences": [2],
                    "subject": "{{ release.name }} {{ release.version }} reaches {{ phase.name }}",
                    "body": "Hello {{ recipient.name }}, {{ release.name }} goes to {{ release.exposure }}.",
                    "trigger": "phase_start",
                    "phase": 31,
                    "offset_minutes": -60,
                },
                request_only=True,
            )
        ],
    ),
    update=extend_schema(
        summary="Edit a message",
        request=s.MessageUpdateSerializer,
        responses={200: s.MessageSerializer, **WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Edit some of a message",
        request=s.MessageUpdateSerializer,
        responses={200: s.MessageSerializer, **WRITE_ERRORS},
    ),
    destroy=extend_schema(
        summary="Remove a message",
        description="Refused (409) while a phase waits for it, or while it is being sent. The built-in support "
        "digest cannot be removed.",
        responses={204: None, **WRITE_ERRORS},
    ),
)
class MessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FlightdeckViewSet):
    queryset = Message.objects.all()
    serializer_class = s.MessageSerializer
    filterset_class = MessageFilter
    lookup_value_regex = r"[0-9]{1,18}"
    ordering_fields = ["created_at", "updated_at", "id"]
    ordering = ["plan_id", "created_at", "id"]

    def get_queryset(self):
        return _messages().select_related("plan__release")

    def _one(self, message_id: int, http_status=status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(_messages().get(pk=message_id)).data, http_status)

    def _editable(self, release: Release) -> None:
        self.require(permissions.can_edit_release(self.request.user, release), MANAGERS_PLAN)

    @idempotent
    def create(self, request):
        data = self.validated(s.MessageWriteSerializer, request.data)
        release = Release.objects.filter(pk=data.pop("release")).first()
        if release is None:
            raise ValidationError({"release": ["No such release."]})
        self._editable(release)
        message = plan_services.message_create(actor=request.user, release_id=release.pk, **data)
        return self._one(message.pk, status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        message = self.get_object()
        self._editable(message.plan.release)
        data = self.validated(s.MessageUpdateSerializer, request.data, partial=partial)
        plan_services.message_update(actor=request.user, message_id=message.pk, **data)
        return self._one(message.pk)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        message = self.get_object()
        self._editable(message.plan.release)
        plan_services.message_delete(actor=request.user, message_id=message.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Make a phase wait until the message reached everyone",
        description="Adds a “communication sent” gate to the phase. Needs the `write` scope.",
        request=s.RequireBeforePhaseSerializer,
        responses={201: GateSerializer, **WRITE_ERRORS},
        examples=[OpenApiExample("Before the 50% phase", value={"phase": 32}, request_only=True)],
    )
    @action(detail=True, methods=["post"], url_path="require-before-phase")
    def require_before_phase(self, request, pk=None):
        message = self.get_object()
        self._editable(message.plan.release)
        data = self.validated(s.RequireBeforePhaseSerializer, request.data)
        gate = plan_services.message_require_before_phase(
            actor=request.user, message_id=message.pk, phase_id=data["phase"]
        )
        gate = rollouts_api_selectors.gates().get(pk=gate.pk)
        return Response(GateSerializer(gate, context=self.get_serializer_context()).data, status.HTTP_201_CREATED)


@extend_schema(tags=["communication plans"])
@extend_schema_view(
    list=extend_schema(
        summary="The outbox: notices to recipients",
        description="One row per message, recipient and trigger occurrence. Filter by `status` (one or more), "
        "`message`, `release`, `stakeholder`, `recipient`, `due_after`, `due_before`.",
        responses={200: s.NoticeSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(summary="A notice", responses={200: s.NoticeSerializer, **READ_ERRORS}),
)
class NoticeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FlightdeckViewSet):
    queryset = Notice.objects.all()
    serializer_class = s.NoticeSerializer
    filterset_class = NoticeFilter
    lookup_value_regex = r"[0-9]{1,18}"
    ordering_fields = ["due_at", "created_at", "sent_at", "id"]
    ordering = ["due_at", "id"]
    action_scopes = {"retry": ApiScope.ACT}

    def get_queryset(self):
        return Notice.objects.select_related("message__plan")

    @extend_schema(
        summary="Send a failed notice again",
        description="Release managers; refused (409) when the release moved on so the notice no longer applies. "
        "Needs the `act` scope.",
        request=None,
        responses={200: s.NoticeSerializer, **ACTION_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def retry(self, request, pk=None):
        notice = self.get_object()
        self.require(permissions.can_plan(request.user), "Only release managers can retry notices.")
        plan_services.notice_retry(actor=request.user, notice_id=notice.pk)
        return Response(self.get_serializer(self.get_queryset().get(pk=notice.pk)).data)
