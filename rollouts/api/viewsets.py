"""The rollouts REST API: releases, phases, gates, rollback plans and runs, the timeline.

Thin, like the pages: api/selectors.py reads, services.py and transitions.py write,
permissions.py decides, and the pages' forms check input. Actions are explicit POSTs
that call the same transitions the pages' buttons call; an invalid move answers 409
with the transition's own message.
"""

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from rollouts import gate_checks, gate_tokens, permissions, services, transitions
from rollouts.api import selectors as api_selectors
from rollouts.api import serializers as s
from rollouts.api.auth import FlaggerTokenAuthentication
from rollouts.api.base import (
    ACTION_ERRORS,
    CREATE_ERRORS,
    LIST_ERRORS,
    NUMERIC_ID,
    READ_ERRORS,
    WRITE_ERRORS,
    FlightdeckViewSet,
    clean_with,
    errors,
    remap_fields,
)
from rollouts.api.errors import Conflict
from rollouts.api.filters import (
    EventFilter,
    GateFilter,
    PhaseFilter,
    ReleaseFilter,
    RollbackRunFilter,
    RollbackStepFilter,
)
from rollouts.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from rollouts.api.idempotency import idempotent
from rollouts.forms import PhaseForm, ReleaseEditForm, ReleaseForm, RollbackStepForm
from rollouts.models import (
    ApiScope,
    ChecklistItem,
    Event,
    Gate,
    GateKind,
    Phase,
    Release,
    ReleaseStatus,
    RollbackRun,
    RollbackRunStep,
    RollbackStep,
)

ACT = ApiScope.ACT
READ = ApiScope.READ
WRITE = ApiScope.WRITE

SLUG = re.compile(r"[-a-zA-Z0-9_]{1,80}")
MANAGERS_RUN = "Only release managers can run releases."
MANAGERS_PLAN = "Only release managers can change the plan of a release that is not finished."

RELEASE_ID = OpenApiParameter(
    "id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The release's id, or its slug (such as checkout-2-0)."
)


def _release_status(release_id: int) -> dict:
    answer = api_selectors.release_status(release_id)
    if answer is None:
        raise Http404("No such release.")
    return answer


def _release_or_field_error(release_id: int, field: str = "release") -> Release:
    release = Release.objects.filter(pk=release_id).first()
    if release is None:
        raise ValidationError({field: ["No such release."]})
    return release


STATUS_EXAMPLE = {
    "id": 7,
    "slug": "checkout-2-0",
    "name": "Checkout",
    "version": "2.0",
    "status": "in_progress",
    "strategy": "canary",
    "current_phase": {
        "id": 31,
        "name": "Canary 10%",
        "position": 1,
        "status": "active",
        "environment": "production",
        "exposure_percent": 10,
        "started_at": "2026-03-02T09:00:00Z",
        "soak_ends_at": "2026-03-02T10:00:00Z",
    },
    "next_phase": {"id": 32, "name": "Canary 50%", "exposure_percent": 50},
    "exposure_percent": 10,
    "phases_done": 1,
    "phases_total": 4,
    "progress_percent": 25,
    "gates": [
        {"id": 55, "name": "Error rate reviewed", "kind": "manual_approval", "required": True, "status": "pending"}
        | {"passed": False}
    ],
    "may_advance": False,
    "may_complete": False,
    "blockers": ["Waiting for required gate: Error rate reviewed."],
    "automation_block": None,
    "degraded": False,
    "rollback": {"running": False, "run": None, "steps_done": 0, "steps_total": 0},
    "updated_at": "2026-03-02T09:00:00Z",
    "url": "https://flightdeck.example.com/releases/checkout-2-0/",
}


# --- Releases ---------------------------------------------------------------------------

RELEASE_ACTIONS = {
    # name: (transition, body serializer, done message, summary, description)
    "schedule": (
        lambda r, u, d: transitions.release_schedule(release_id=r, actor=u),
        None,
        "Release scheduled.",
        "Schedule a draft release",
        "draft → scheduled. Needs at least one phase.",
    ),
    "unschedule": (
        lambda r, u, d: transitions.release_unschedule(release_id=r, actor=u),
        None,
        "Release moved back to draft.",
        "Move a scheduled release back to draft",
        "scheduled → draft.",
    ),
    "start": (
        lambda r, u, d: transitions.release_start(release_id=r, actor=u),
        None,
        "Release started: the first phase is active.",
        "Start a release",
        "draft or scheduled → in_progress: the first phase becomes active and its automated gates start measuring.",
    ),
    "pause": (
        lambda r, u, d: transitions.release_pause(release_id=r, actor=u, reason=d.get("reason", "")),
        s.ReasonSerializer,
        "Release paused.",
        "Pause a release",
        "in_progress → paused. Notices of phases not yet started are held.",
    ),
    "resume": (
        lambda r, u, d: transitions.release_resume(release_id=r, actor=u, reason=d.get("reason", "")),
        s.ReasonSerializer,
        "Release resumed.",
        "Resume a paused release",
        "paused → in_progress. Open measured gates start a fresh analysis.",
    ),
    "complete": (
        lambda r, u, d: transitions.release_complete(release_id=r, actor=u, reason=d.get("reason", "")),
        s.ReasonSerializer,
        "Release completed.",
        "Complete a release",
        "in_progress → completed, from the last phase once its required gates passed and its soak is over. "
        "Inside a freeze window or outside allowed hours it needs a `reason`.",
    ),
    "cancel": (
        lambda r, u, d: transitions.release_cancel(release_id=r, actor=u, reason=d.get("reason", "")),
        s.ReasonSerializer,
        "Release cancelled.",
        "Cancel a release",
        "Any unfinished state → cancelled; phases still to come are skipped.",
    ),
    "rollback": (
        lambda r, u, d: transitions.release_rollback(release_id=r, actor=u, reason=d["reason"]),
        s.RequiredReasonSerializer,
        "Rollback started: work through the steps.",
        "Roll a release back",
        "in_progress or paused → rolling_back: the current phase is withdrawn and a rollback run opens with the "
        "plan's steps (automated ones run at once). When the last step is done the release is rolled_back. "
        "Flagger's rollback hook (POST /api/v1/releases/{id}/flagger/rollback) answers 200 from now on.",
    ),
}


def _release_action(name: str):
    run, body, done, summary, description = RELEASE_ACTIONS[name]

    def handler(self, request, pk=None):
        release = self.get_object()
        self.require(permissions.can_act(request.user, release), MANAGERS_RUN)
        data = self.validated(body, request.data) if body else {}
        run(release.pk, request.user, data)
        return Response({"detail": done, "release": _release_status(release.pk)})

    handler.__name__ = handler.__qualname__ = name
    handler = idempotent(handler)
    handler = action(detail=True, methods=["post"], url_path=name)(handler)
    return extend_schema(
        summary=summary,
        description=description
        + " Needs the `act` scope and the release manager role. An invalid move answers 409 with the reason; "
        "repeating a move that already happened answers 409 `already_done`.",
        request=body,
        responses={200: s.ReleaseActionResultSerializer, **ACTION_ERRORS},
        parameters=[RELEASE_ID, IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                f"{name} done",
                value={"detail": done, "release": STATUS_EXAMPLE},
                response_only=True,
                status_codes=["200"],
            ),
            *(
                [
                    OpenApiExample(
                        "With a reason", value={"reason": "Error budget burning in eu-west."}, request_only=True
                    )
                ]
                if body
                else []
            ),
        ],
    )(handler)


@extend_schema(tags=["releases"])
@extend_schema_view(
    list=extend_schema(
        summary="List releases",
        description="Most recently changed first. Each row has its progress, current phase and next open gate.",
        responses={200: s.ReleaseSerializer(many=True), **LIST_ERRORS},
        parameters=[],
    ),
    retrieve=extend_schema(
        summary="A release with its phases, gates and rollback plan",
        responses={200: s.ReleaseDetailSerializer, **READ_ERRORS},
        parameters=[RELEASE_ID],
    ),
    create=extend_schema(
        summary="Plan a release",
        description="Checked as the release form checks it. With `propose_phases` (the default) the strategy's "
        "phase plan is added, each phase but the last with a manual approval gate. Needs the `write` scope and "
        "the release manager role.",
        request=s.ReleaseWriteSerializer,
        responses={201: s.ReleaseDetailSerializer, **CREATE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "Canary release",
                value={"name": "Checkout", "version": "2.0", "strategy": "canary", "summary": "New payment flow."},
                request_only=True,
            )
        ],
    ),
    update=extend_schema(
        summary="Edit a release's details",
        description="Only while the release is not finished. Changing the strategy is refused when the phases' "
        "exposure would go down.",
        request=s.ReleaseWriteSerializer,
        responses={200: s.ReleaseDetailSerializer, **WRITE_ERRORS},
        parameters=[RELEASE_ID],
    ),
    partial_update=extend_schema(
        summary="Edit some of a release's details",
        request=s.ReleaseWriteSerializer,
        responses={200: s.ReleaseDetailSerializer, **WRITE_ERRORS},
        parameters=[RELEASE_ID],
        examples=[OpenApiExample("Move the start", value={"planned_start": "2026-03-02T09:00:00Z"}, request_only=True)],
    ),
    destroy=extend_schema(
        summary="Delete a draft release",
        description="Only drafts can be deleted; anything else is 409 (cancel it instead).",
        responses={204: None, **WRITE_ERRORS},
        parameters=[RELEASE_ID],
    ),
)
class ReleaseViewSet(FlightdeckViewSet):
    lookup_value_regex = r"[^/]+"
    filterset_class = ReleaseFilter
    ordering_fields = ["updated_at", "created_at", "planned_start", "name", "status", "id"]
    ordering = ["-updated_at", "-id"]
    action_scopes = dict.fromkeys([*RELEASE_ACTIONS, "advance"], ACT) | {"status": READ, "flagger_rollback": READ}
    queryset = Release.objects.none()  # for the schema; get_queryset decides

    def get_queryset(self):
        if self.action == "list":
            return api_selectors.releases()
        if self.action == "retrieve":
            return api_selectors.release_detail()
        return Release.objects.all()

    def get_serializer_class(self):
        return s.ReleaseSerializer if self.action == "list" else s.ReleaseDetailSerializer

    def get_object(self) -> Release:
        value = str(self.kwargs["pk"])
        queryset = self.get_queryset()
        if NUMERIC_ID.fullmatch(value):
            release = queryset.filter(pk=int(value)).first()
        elif SLUG.fullmatch(value):
            release = queryset.filter(slug=value).first()
        else:
            release = None
        if release is None:
            raise Http404("No such release.")
        self.check_object_permissions(self.request, release)
        return release

    def _detail(self, release_id: int, http_status=status.HTTP_200_OK) -> Response:
        release = api_selectors.release_detail().get(pk=release_id)
        api_selectors.decorate([release])
        return Response(s.ReleaseDetailSerializer(release, context=self.get_serializer_context()).data, http_status)

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        api_selectors.decorate(page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        release = self.get_object()
        api_selectors.decorate([release])
        return Response(self.get_serializer(release).data)

    @idempotent
    def create(self, request):
        self.require(permissions.can_plan(request.user), "Only release managers can plan releases.")
        data = self.validated(s.ReleaseWriteSerializer, request.data)
        propose = data.pop("propose_phases", True)
        form_data = {
            "owner": request.user.pk,
            "on_gate_failure": "pause",
            **{k: v for k, v in data.items() if v is not None},
        }
        cleaned = clean_with(ReleaseForm, form_data)
        release = services.release_create(actor=request.user, propose_phases=propose, **cleaned)
        return self._detail(release.pk, status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        release = self.get_object()
        self.require(permissions.can_edit_release(request.user, release), MANAGERS_PLAN)
        data = self.validated(s.ReleaseWriteSerializer, request.data, partial=partial)
        data.pop("propose_phases", None)
        current = {
            "name": release.name,
            "version": release.version,
            "slug": release.slug,
            "summary": release.summary,
            "owner": release.owner_id,
            "strategy": release.strategy,
            "planned_start": release.planned_start,
            "on_gate_failure": release.on_gate_failure,
            "rollback_on_deadline": release.rollback_on_deadline,
        }
        cleaned = clean_with(ReleaseEditForm, {**current, **data}, instance=release)
        services.release_update(release_id=release.pk, actor=request.user, **cleaned)
        return self._detail(release.pk)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        release = self.get_object()
        self.require(permissions.can_plan(request.user), "Only release managers can delete releases.")
        with transaction.atomic():
            locked = Release.objects.select_for_update().get(pk=release.pk)
            if locked.status != ReleaseStatus.DRAFT:
                raise Conflict(
                    f"Only draft releases can be deleted; this one is {locked.get_status_display().lower()}. "
                    "Cancel it instead.",
                    "not_draft",
                )
            locked.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    schedule = _release_action("schedule")
    unschedule = _release_action("unschedule")
    start = _release_action("start")
    pause = _release_action("pause")
    resume = _release_action("resume")
    complete = _release_action("complete")
    cancel = _release_action("cancel")
    rollback = _release_action("rollback")

    @extend_schema(
        summary="Advance to the next phase",
        description=(
            "Passes the current phase and starts the next, when its required gates passed and its soak time is "
            "over (409 `not_ready` says what it waits for). Send `phase`, the id of the phase you saw as current: "
            "a retry after the advance succeeded then answers 409 `already_done` instead of advancing twice. With "
            "an `Idempotency-Key` the retry gets the first answer again. Inside a freeze window or outside allowed "
            "hours a `reason` is needed. Needs the `act` scope and the release manager role."
        ),
        request=s.AdvanceSerializer,
        responses={200: s.ReleaseActionResultSerializer, **ACTION_ERRORS},
        parameters=[RELEASE_ID, IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample("Advance from the phase I saw", value={"phase": 31}, request_only=True),
            OpenApiExample(
                "Advanced",
                value={"detail": "Advanced: “Canary 50%” is now active at 50%.", "release": STATUS_EXAMPLE},
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "Retried after success",
                value={"detail": "Phase “Canary 10%” was already advanced.", "code": "already_done", "fields": {}},
                response_only=True,
                status_codes=["409"],
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def advance(self, request, pk=None):
        release = self.get_object()
        self.require(permissions.can_act(request.user, release), "Only release managers can advance releases.")
        data = self.validated(s.AdvanceSerializer, request.data)
        phase_id = data.get("phase") or release.current_phase_id
        if phase_id is None:
            raise Conflict("This release has no active phase to advance.", "invalid_transition")
        nxt = transitions.phase_advance(
            release_id=release.pk, phase_id=phase_id, actor=request.user, reason=data.get("reason", "")
        )
        return Response(
            {
                "detail": f"Advanced: “{nxt.name}” is now active at {nxt.exposure_percent}%.",
                "release": _release_status(release.pk),
            }
        )

    @extend_schema(
        summary="Where a release is, and whether it may move on",
        description=(
            "For any pipeline to poll: the state, the current phase and its exposure, the current phase's gates, "
            "`may_advance`/`may_complete` with the `blockers` saying why not, a freeze or allowed-hours block, and "
            "whether a rollback is running. Needs the `read` scope."
        ),
        responses={200: s.ReleaseStatusSerializer, **READ_ERRORS},
        parameters=[RELEASE_ID],
        examples=[OpenApiExample("In progress, waiting for a gate", value=STATUS_EXAMPLE, response_only=True)],
    )
    @action(detail=True, methods=["get"])
    def status(self, request, pk=None):
        release = self.get_object()
        return Response(_release_status(release.pk))

    @extend_schema(
        summary="Flagger rollback hook",
        description=(
            "For a Flagger `rollback` webhook: answers 200 when a rollback was started in Flightdeck (the release "
            "is rolling_back or rolled_back), so Flagger shifts traffic back and fails the canary; 403 otherwise. "
            "Takes Flagger's payload; the API token may come as `Authorization: Bearer …` or in the webhook's "
            "`metadata.token`. Needs the `read` scope.\n\n"
            "```yaml\n"
            "analysis:\n"
            "  webhooks:\n"
            "    - name: flightdeck-rollback\n"
            "      type: rollback\n"
            "      url: https://flightdeck.example.com/api/v1/releases/checkout-2-0/flagger/rollback\n"
            "      metadata:\n"
            "        token: fd_…\n"
            "```"
        ),
        request=s.FlaggerPayloadSerializer,
        responses={
            200: s.FlaggerAnswerSerializer,
            403: s.FlaggerAnswerSerializer,
            **{k: v for k, v in errors(400, 404).items() if k != 403},
        },
        parameters=[RELEASE_ID],
        examples=[
            OpenApiExample(
                "Flagger's payload",
                value={"name": "podinfo", "namespace": "test", "phase": "Progressing", "metadata": {"token": "fd_…"}},
                request_only=True,
            ),
            OpenApiExample(
                "Rollback requested",
                value={
                    "detail": "A rollback was started in Flightdeck: roll back.",
                    "code": "rollback_requested",
                    "release": 7,
                    "release_status": "rolling_back",
                },
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "No rollback",
                value={
                    "detail": "No rollback was requested in Flightdeck (the release is in progress).",
                    "code": "no_rollback",
                    "fields": {},
                    "release": 7,
                    "release_status": "in_progress",
                },
                response_only=True,
                status_codes=["403"],
            ),
        ],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="flagger/rollback",
        authentication_classes=[FlaggerTokenAuthentication],
    )
    def flagger_rollback(self, request, pk=None):
        release = self.get_object()
        self.validated(s.FlaggerPayloadSerializer, request.data)
        if release.status in (ReleaseStatus.ROLLING_BACK, ReleaseStatus.ROLLED_BACK):
            return Response(
                {
                    "detail": "A rollback was started in Flightdeck: roll back.",
                    "code": "rollback_requested",
                    "release": release.pk,
                    "release_status": release.status,
                }
            )
        return Response(
            {
                "detail": f"No rollback was requested in Flightdeck (the release is "
                f"{release.get_status_display().lower()}).",
                "code": "no_rollback",
                "fields": {},
                "release": release.pk,
                "release_status": release.status,
            },
            status=status.HTTP_403_FORBIDDEN,
        )


# --- Phases -----------------------------------------------------------------------------


@extend_schema(tags=["phases"])
@extend_schema_view(
    list=extend_schema(
        summary="List phases",
        description="Filter with `release`.",
        responses={200: s.PhaseSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(summary="A phase with its gates", responses={200: s.PhaseSerializer, **READ_ERRORS}),
    create=extend_schema(
        summary="Add a phase to a release",
        description="Checked as the phase form checks it: exposure 0–100, and in canary, rolling and feature-flag "
        "releases exposure may not go down from one phase to the next. Needs the `write` scope.",
        request=s.PhaseWriteSerializer,
        responses={201: s.PhaseSerializer, **CREATE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "A 25% phase",
                value={"release": 7, "name": "Canary 25%", "exposure_percent": 25, "min_soak_minutes": 30},
                request_only=True,
            )
        ],
    ),
    update=extend_schema(
        summary="Edit a pending phase",
        request=s.PhaseUpdateSerializer,
        responses={200: s.PhaseSerializer, **WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Edit some of a pending phase",
        request=s.PhaseUpdateSerializer,
        responses={200: s.PhaseSerializer, **WRITE_ERRORS},
        examples=[OpenApiExample("Longer soak", value={"min_soak_minutes": 90}, request_only=True)],
    ),
    destroy=extend_schema(summary="Remove a pending phase", responses={204: None, **WRITE_ERRORS}),
)
class PhaseViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    FlightdeckViewSet,
):
    queryset = Phase.objects.all()
    serializer_class = s.PhaseSerializer
    filterset_class = PhaseFilter
    lookup_value_regex = r"[0-9]{1,18}"
    ordering_fields = ["position", "id", "started_at"]
    ordering = ["release_id", "position", "id"]

    def get_queryset(self):
        return api_selectors.phases()

    def _one(self, phase_id: int, http_status=status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(api_selectors.phases().get(pk=phase_id)).data, http_status)

    @idempotent
    def create(self, request):
        data = self.validated(s.PhaseWriteSerializer, request.data)
        release = _release_or_field_error(data.pop("release"))
        self.require(permissions.can_edit_release(request.user, release), MANAGERS_PLAN)
        form_data = {"environment": "production", "min_soak_minutes": 0, **data}
        cleaned = clean_with(PhaseForm, form_data)
        phase = services.phase_add(release_id=release.pk, actor=request.user, **cleaned)
        return self._one(phase.pk, status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        phase = self.get_object()
        self.require(permissions.can_edit_release(request.user, phase.release), MANAGERS_PLAN)
        data = self.validated(s.PhaseUpdateSerializer, request.data, partial=partial)
        current = {name: getattr(phase, name) for name in PhaseForm.Meta.fields}
        cleaned = clean_with(PhaseForm, {**current, **data}, instance=phase)
        services.phase_update(phase_id=phase.pk, actor=request.user, **cleaned)
        return self._one(phase.pk)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        phase = self.get_object()
        self.require(permissions.can_edit_release(request.user, phase.release), MANAGERS_PLAN)
        services.phase_remove(phase_id=phase.pk, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Move a pending phase up or down",
        request=s.MoveSerializer,
        responses={200: s.PhaseSerializer, **WRITE_ERRORS},
        examples=[OpenApiExample("Earlier", value={"direction": "up"}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        phase = self.get_object()
        self.require(permissions.can_edit_release(request.user, phase.release), MANAGERS_PLAN)
        data = self.validated(s.MoveSerializer, request.data)
        services.phase_move(phase_id=phase.pk, actor=request.user, direction=data["direction"])
        return self._one(phase.pk)


# --- Gates ------------------------------------------------------------------------------

ITEM_ID = OpenApiParameter("item_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="A checklist item's id.")

ARGO_TEMPLATE = """```yaml
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: flightdeck-gate
spec:
  args:
    - name: gate-id
    - name: flightdeck-token
      valueFrom:
        secretKeyRef: {name: flightdeck-api, key: token}
  metrics:
    - name: flightdeck-gate
      # passed → the step succeeds; failed → the Rollout aborts; pending → inconclusive,
      # so the Rollout pauses for a person, as Flightdeck itself never promotes on no answer.
      successCondition: result == "passed"
      failureCondition: result == "failed"
      provider:
        web:
          url: "https://flightdeck.example.com/api/v1/gates/{{args.gate-id}}/argo"
          headers:
            - key: Authorization
              value: "Bearer {{args.flightdeck-token}}"
          jsonPath: "{$.status}"
```
Or read the boolean: `jsonPath: "{$.passed}"` with `successCondition: result == true`."""

FLAGGER_CANARY = """```yaml
apiVersion: flagger.app/v1beta1
kind: Canary
spec:
  analysis:
    webhooks:
      - name: flightdeck-start
        type: confirm-rollout
        url: https://flightdeck.example.com/api/v1/gates/41/flagger
        metadata: {token: "fd_…"}
      - name: flightdeck-promote
        type: confirm-promotion
        url: https://flightdeck.example.com/api/v1/gates/57/flagger
        metadata: {token: "fd_…"}
```"""


def _gate_answer(gate: Gate) -> dict:
    passed = gate.is_cleared
    state = "passed" if passed else ("failed" if gate.status == "failed" else "pending")
    return {
        "passed": passed,
        "status": state,
        "gate": gate.pk,
        "name": gate.name,
        "kind": gate.kind,
        "required": gate.required,
        "gate_status": gate.status,
        "decided_at": gate.decided_at,
        "phase": {"id": gate.phase.pk, "name": gate.phase.name, "status": gate.phase.status},
        "release": {
            "id": gate.phase.release.pk,
            "slug": gate.phase.release.slug,
            "status": gate.phase.release.status,
        },
    }


CONFIG_FIELDS = {*gate_checks.HTTP_CHECK_FIELDS, *gate_checks.METRIC_FIELDS, "config"}


def _config_field(name: str) -> str:
    if name == "config":
        return name
    return f"config.{name}" if name in CONFIG_FIELDS else name


@extend_schema(tags=["gates"])
@extend_schema_view(
    list=extend_schema(
        summary="List gates",
        description="Filter with `release`, `phase`, `status`, `kind`.",
        responses={200: s.GateSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="A gate with its decisions and checklist", responses={200: s.GateSerializer, **READ_ERRORS}
    ),
    create=extend_schema(
        summary="Add a gate to a phase",
        description="Kinds: manual_approval (`required_approvals`), checklist (`checklist` items), ci_result (the "
        "answer carries the pipeline `token`, once), http_check and metric_threshold (`config`, checked as the "
        "gate form checks it), docs_ready. Needs the `write` scope.",
        request=s.GateWriteSerializer,
        responses={201: s.GateCreatedSerializer, **CREATE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "HTTP check",
                value={
                    "phase": 31,
                    "name": "Health endpoint",
                    "kind": "http_check",
                    "config": {"url": "https://checkout.example.com/healthz", "expected_status": 200},
                },
                request_only=True,
            ),
            OpenApiExample(
                "Two approvals", value={"phase": 31, "name": "Sign-off", "required_approvals": 2}, request_only=True
            ),
        ],
    ),
    destroy=extend_schema(summary="Remove a gate of a pending phase", responses={204: None, **WRITE_ERRORS}),
)
class GateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FlightdeckViewSet):
    queryset = Gate.objects.all()
    serializer_class = s.GateSerializer
    filterset_class = GateFilter
    lookup_value_regex = r"[0-9]{1,18}"
    ordering_fields = ["position", "id", "decided_at"]
    ordering = ["phase__release_id", "phase__position", "position", "id"]
    action_scopes = {"approve": ACT, "reject": ACT, "reopen": ACT, "check_item": ACT, "argo": READ, "flagger": READ}

    def get_queryset(self):
        if self.action in ("argo", "flagger"):
            return Gate.objects.select_related("phase__release")
        return api_selectors.gates().select_related("phase__release")

    def _one(self, gate_id: int, http_status=status.HTTP_200_OK, **extra) -> Response:
        data = self.get_serializer(api_selectors.gates().get(pk=gate_id)).data
        return Response({**data, **extra}, http_status)

    @idempotent(redact=("token",))
    def create(self, request):
        data = self.validated(s.GateWriteSerializer, request.data)
        phase = Phase.objects.select_related("release").filter(pk=data["phase"]).first()
        if phase is None:
            raise ValidationError({"phase": ["No such phase."]})
        self.require(permissions.can_edit_release(request.user, phase.release), MANAGERS_PLAN)
        config = {}
        try:
            config = gate_checks.clean_config(data["kind"], data.get("config") or {})
            gate = services.gate_add(
                phase_id=phase.pk,
                actor=request.user,
                name=data["name"],
                kind=data["kind"],
                required=data["required"],
                required_approvals=data["required_approvals"],
                checklist=data["checklist"],
                config=config,
            )
        except DjangoValidationError as exc:
            if hasattr(exc, "error_dict"):
                raise remap_fields(exc, _config_field) from None
            raise
        token = gate.new_token or None
        return self._one(gate.pk, status.HTTP_201_CREATED, token=token)

    def destroy(self, request, pk=None):
        gate = self.get_object()
        self.require(permissions.can_edit_release(request.user, gate.phase.release), MANAGERS_PLAN)
        services.gate_remove(gate_id=gate.pk, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _decided(self, gate_id: int, detail: str) -> Response:
        gate = api_selectors.gates().get(pk=gate_id)
        return Response({"detail": detail, "gate": self.get_serializer(gate).data})

    @extend_schema(
        summary="Approve a manual gate",
        description="Approvers only, never on a release they own (403 `not_permitted`). The gate passes once it has "
        "its required approvals. Needs the `act` scope.",
        request=s.CommentSerializer,
        responses={200: s.GateActionResultSerializer, **ACTION_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
        examples=[OpenApiExample("Looks good", value={"comment": "Dashboards are green."}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def approve(self, request, pk=None):
        gate = self.get_object()
        self.require(permissions.can_decide_gates(request.user), "Only approvers can decide gates.")
        data = self.validated(s.CommentSerializer, request.data)
        transitions.gate_approve(gate_id=gate.pk, actor=request.user, comment=data.get("comment", ""))
        return self._decided(gate.pk, f"You approved “{gate.name}”.")

    @extend_schema(
        summary="Reject a manual gate",
        description="Approvers only; a `comment` saying why is required. A rejected required gate pauses the "
        "release (or starts the rollback, as the release's policy says). Needs the `act` scope.",
        request=s.RequiredCommentSerializer,
        responses={200: s.GateActionResultSerializer, **ACTION_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
        examples=[OpenApiExample("Not yet", value={"comment": "p99 latency doubled."}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def reject(self, request, pk=None):
        gate = self.get_object()
        self.require(permissions.can_decide_gates(request.user), "Only approvers can decide gates.")
        data = self.validated(s.RequiredCommentSerializer, request.data)
        transitions.gate_reject(gate_id=gate.pk, actor=request.user, comment=data["comment"])
        return self._decided(gate.pk, f"You rejected “{gate.name}”.")

    @extend_schema(
        summary="Reopen a failed gate",
        description="Release managers; the decisions are cleared (they stay on the timeline). Needs `act`.",
        request=s.ReasonSerializer,
        responses={200: s.GateActionResultSerializer, **ACTION_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def reopen(self, request, pk=None):
        gate = self.get_object()
        self.require(permissions.can_act(request.user, gate.phase.release), "Only release managers can reopen gates.")
        data = self.validated(s.ReasonSerializer, request.data)
        transitions.gate_reopen(gate_id=gate.pk, actor=request.user, reason=data.get("reason", ""))
        return self._decided(gate.pk, f"Gate “{gate.name}” is open again.")

    @extend_schema(
        summary="Tick or untick a checklist item",
        description="Release managers and approvers. The gate passes when every item is ticked. Needs `act`.",
        request=s.CheckSerializer,
        parameters=[ITEM_ID, IDEMPOTENCY_KEY],
        responses={200: s.GateActionResultSerializer, **ACTION_ERRORS},
        examples=[OpenApiExample("Tick", value={"checked": True}, request_only=True)],
    )
    @action(detail=True, methods=["post"], url_path=r"items/(?P<item_id>[0-9]{1,18})")
    @idempotent
    def check_item(self, request, pk=None, item_id=None):
        gate = self.get_object()
        item = ChecklistItem.objects.filter(pk=int(item_id), gate=gate).first()
        if item is None:
            raise Http404("No such checklist item on this gate.")
        self.require(
            permissions.can_tick_checklist(request.user), "Only release managers and approvers tick checklists."
        )
        data = self.validated(s.CheckSerializer, request.data)
        transitions.checklist_item_set(item_id=item.pk, actor=request.user, checked=data["checked"])
        return self._decided(gate.pk, f"“{item.text}” {'ticked' if data['checked'] else 'unticked'}.")

    @extend_schema(
        methods=["POST"],
        summary="Make a new pipeline token for a CI result gate",
        description="The old token stops working at once. The new one is in the answer, once. Needs `write`.",
        request=None,
        responses={201: s.TokenSerializer, **WRITE_ERRORS},
    )
    @extend_schema(
        methods=["DELETE"],
        summary="Revoke a CI result gate's pipeline token",
        request=None,
        responses={204: None, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post", "delete"])
    def token(self, request, pk=None):
        gate = self.get_object()
        if gate.kind != GateKind.CI_RESULT:
            raise Conflict("Only CI result gates have pipeline tokens.", "not_ci_result")
        self.require(
            permissions.can_edit_release(request.user, gate.phase.release),
            "Only release managers manage pipeline tokens.",
        )
        if request.method == "DELETE":
            gate_tokens.gate_token_revoke(gate_id=gate.pk, actor=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        token = gate_tokens.gate_token_issue(gate_id=gate.pk, actor=request.user)
        return Response({"token": token, "hint": token[: len(gate_tokens.PREFIX) + 4]}, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Argo Rollouts web metric for a gate",
        description=(
            "For an Argo Rollouts AnalysisTemplate's `web` provider: `passed` (true once the gate passed or was "
            "waived) and `status` (pending, passed or failed) for a jsonPath to read. Send the API token as "
            "`Authorization: Bearer …`; it needs the `read` scope.\n\n" + ARGO_TEMPLATE
        ),
        responses={200: s.ArgoGateSerializer, **READ_ERRORS},
        examples=[
            OpenApiExample(
                "Passed",
                value={
                    "passed": True,
                    "status": "passed",
                    "gate": 41,
                    "name": "Canary health approved",
                    "kind": "manual_approval",
                    "required": True,
                    "gate_status": "passed",
                    "decided_at": "2026-03-02T09:40:00Z",
                    "phase": {"id": 31, "name": "Canary 1%", "status": "active"},
                    "release": {"id": 7, "slug": "checkout-2-0", "status": "in_progress"},
                },
                response_only=True,
            )
        ],
    )
    @action(detail=True, methods=["get"])
    def argo(self, request, pk=None):
        return Response(_gate_answer(self.get_object()))

    @extend_schema(
        summary="Flagger confirm webhook for a gate",
        description=(
            "For Flagger's `confirm-rollout`, `confirm-promotion` or `confirm-traffic-increase` webhooks: 200 when "
            "the gate passed (or was waived), 403 while it has not, with a body saying why; Flagger holds the "
            "canary until it gets a 200. Takes Flagger's payload; the API token may come as `Authorization: "
            "Bearer …` or, since Flagger cannot easily send headers, in the webhook's `metadata.token`. Needs the "
            "`read` scope.\n\n" + FLAGGER_CANARY
        ),
        request=s.FlaggerPayloadSerializer,
        responses={
            200: s.FlaggerAnswerSerializer,
            403: s.FlaggerAnswerSerializer,
            **{k: v for k, v in errors(400, 404).items() if k != 403},
        },
        examples=[
            OpenApiExample(
                "Flagger's payload",
                value={
                    "name": "podinfo",
                    "namespace": "test",
                    "phase": "Progressing",
                    "checksum": "6b2f3f9",
                    "metadata": {"token": "fd_…"},
                },
                request_only=True,
            ),
            OpenApiExample(
                "Passed",
                value={"detail": "Gate “Canary health approved” passed.", "code": "gate_passed", "passed": True},
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "Not yet",
                value={
                    "detail": "Gate “Canary health approved” is pending.",
                    "code": "gate_pending",
                    "fields": {},
                    "passed": False,
                    "status": "pending",
                    "gate": 41,
                },
                response_only=True,
                status_codes=["403"],
            ),
        ],
    )
    @action(detail=True, methods=["post"], authentication_classes=[FlaggerTokenAuthentication])
    def flagger(self, request, pk=None):
        gate = self.get_object()
        self.validated(s.FlaggerPayloadSerializer, request.data)
        answer = _gate_answer(gate)
        extra = {"passed": answer["passed"], "status": answer["status"], "gate": gate.pk}
        extra |= {"release": answer["release"]["id"], "release_status": answer["release"]["status"]}
        if answer["passed"]:
            return Response({"detail": f"Gate “{gate.name}” passed.", "code": "gate_passed", **extra})
        return Response(
            {"detail": f"Gate “{gate.name}” is {answer['status']}.", "code": f"gate_{answer['status']}", "fields": {}}
            | extra,
            status=status.HTTP_403_FORBIDDEN,
        )


# --- Rollback plans and runs ------------------------------------------------------------


@extend_schema(tags=["rollback"])
@extend_schema_view(
    list=extend_schema(
        summary="List rollback plan steps",
        description="Filter with `release`.",
        responses={200: s.RollbackStepSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(summary="A rollback plan step", responses={200: s.RollbackStepSerializer, **READ_ERRORS}),
    create=extend_schema(
        summary="Add a step to a release's rollback plan",
        description="Checked as the rollback step form checks it; a webhook step needs `action_url`. Needs `write`.",
        request=s.RollbackStepWriteSerializer,
        responses={201: s.RollbackStepSerializer, **CREATE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "Flip the load balancer back",
                value={"release": 7, "title": "Route traffic to blue", "expected_minutes": 5},
                request_only=True,
            )
        ],
    ),
    update=extend_schema(
        summary="Edit a rollback plan step",
        request=s.RollbackStepUpdateSerializer,
        responses={200: s.RollbackStepSerializer, **WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Edit some of a rollback plan step",
        request=s.RollbackStepUpdateSerializer,
        responses={200: s.RollbackStepSerializer, **WRITE_ERRORS},
    ),
    destroy=extend_schema(summary="Remove a rollback plan step", responses={204: None, **WRITE_ERRORS}),
)
class RollbackStepViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FlightdeckViewSet):
    queryset = RollbackStep.objects.all()
    serializer_class = s.RollbackStepSerializer
    filterset_class = RollbackStepFilter
    lookup_value_regex = r"[0-9]{1,18}"
    ordering_fields = ["position", "id"]
    ordering = ["release_id", "position", "id"]

    def get_queryset(self):
        return api_selectors.rollback_steps().select_related("release")

    def _one(self, step_id: int, http_status=status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(api_selectors.rollback_steps().get(pk=step_id)).data, http_status)

    def _form_data(self, data: dict) -> dict:
        form_data = {k: v for k, v in data.items() if v is not None}
        form_data.setdefault("expected_minutes", 5)
        form_data.setdefault("action", "manual")
        return form_data

    @idempotent
    def create(self, request):
        data = self.validated(s.RollbackStepWriteSerializer, request.data)
        release = _release_or_field_error(data.pop("release"))
        self.require(permissions.can_edit_release(request.user, release), MANAGERS_PLAN)
        cleaned = clean_with(RollbackStepForm, self._form_data(data))
        step = services.rollback_step_add(release_id=release.pk, actor=request.user, **cleaned)
        return self._one(step.pk, status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        step = self.get_object()
        self.require(permissions.can_edit_release(request.user, step.release), MANAGERS_PLAN)
        data = self.validated(s.RollbackStepUpdateSerializer, request.data, partial=partial)
        current = {
            "title": step.title,
            "instructions": step.instructions,
            "owner": step.owner_id,
            "expected_minutes": step.expected_minutes,
            "action": step.action,
            "action_url": step.action_config.get("url", "") if isinstance(step.action_config, dict) else "",
        }
        cleaned = clean_with(RollbackStepForm, {**current, **self._form_data(data)}, instance=step)
        services.rollback_step_update(step_id=step.pk, actor=request.user, **cleaned)
        return self._one(step.pk)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        step = self.get_object()
        self.require(permissions.can_edit_release(request.user, step.release), MANAGERS_PLAN)
        services.rollback_step_remove(step_id=step.pk, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Move a rollback plan step up or down",
        request=s.MoveSerializer,
        responses={200: s.RollbackStepSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        step = self.get_object()
        self.require(permissions.can_edit_release(request.user, step.release), MANAGERS_PLAN)
        data = self.validated(s.MoveSerializer, request.data)
        services.rollback_step_move(step_id=step.pk, actor=request.user, direction=data["direction"])
        return self._one(step.pk)


STEP_ID = OpenApiParameter("step_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="A step of the run.")


@extend_schema(tags=["rollback"])
@extend_schema_view(
    list=extend_schema(
        summary="List rollback runs",
        description="Filter with `release` and `status` (running, completed).",
        responses={200: s.RollbackRunSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="A rollback run and its steps", responses={200: s.RollbackRunSerializer, **READ_ERRORS}
    ),
)
class RollbackRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FlightdeckViewSet):
    queryset = RollbackRun.objects.all()
    serializer_class = s.RollbackRunSerializer
    filterset_class = RollbackRunFilter
    lookup_value_regex = r"[0-9]{1,18}"
    ordering_fields = ["started_at", "id"]
    ordering = ["-started_at", "-id"]
    action_scopes = {"step_done": ACT}

    def get_queryset(self):
        return api_selectors.rollback_runs()

    @extend_schema(
        summary="Tick off a step of a running rollback",
        description="Release managers. When the last step is done the release is rolled back. An automated step "
        "running right now is refused with 409. Needs the `act` scope.",
        request=s.NoteSerializer,
        parameters=[STEP_ID, IDEMPOTENCY_KEY],
        responses={200: s.RollbackRunActionResultSerializer, **ACTION_ERRORS},
        examples=[OpenApiExample("Done", value={"note": "Traffic back on blue at 10:42."}, request_only=True)],
    )
    @action(detail=True, methods=["post"], url_path=r"steps/(?P<step_id>[0-9]{1,18})/done")
    @idempotent
    def step_done(self, request, pk=None, step_id=None):
        run = self.get_object()
        step = RollbackRunStep.objects.filter(pk=int(step_id), run=run).first()
        if step is None:
            raise Http404("No such step in this rollback run.")
        self.require(
            permissions.can_run_rollback(request.user, run.release), "Only release managers work through rollbacks."
        )
        data = self.validated(s.NoteSerializer, request.data)
        transitions.rollback_step_done(run_step_id=step.pk, actor=request.user, note=data.get("note", ""))
        fresh = api_selectors.rollback_runs().get(pk=run.pk)
        return Response({"detail": f"Step “{step.title}” done.", "run": self.get_serializer(fresh).data})


# --- The timeline -----------------------------------------------------------------------


@extend_schema(tags=["events"])
@extend_schema_view(
    list=extend_schema(
        summary="The timeline: everything that happened",
        description="Newest first. Filter by `release`, `verb` (or `verb_prefix`), `actor`, `phase`, `gate`, and "
        "time (`since`, `until`). Read-only: events are written by the transitions.",
        responses={200: s.EventSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(summary="One event", responses={200: s.EventSerializer, **READ_ERRORS}),
)
class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FlightdeckViewSet):
    queryset = Event.objects.all()
    serializer_class = s.EventSerializer
    filterset_class = EventFilter
    lookup_value_regex = r"[0-9]{1,18}"
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        return api_selectors.events()
