"""What the rollouts API reads and takes.

Read serializers only touch what the API selectors fetched (select_related/prefetch), so
a list costs the same number of queries at any size. Write serializers check types and
then hand the input to the form the page uses (ReleaseForm, PhaseForm, RollbackStepForm)
or to the validator it calls (gate_checks.clean_config), so the API and the pages cannot
disagree about what is valid; the services check again against the database.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rollouts.forms import GateForm
from rollouts.models import (
    ApiScope,
    Environment,
    Event,
    Gate,
    GateDecision,
    GateKind,
    Phase,
    Release,
    RollbackAction,
    RollbackRun,
    RollbackRunStep,
    RollbackStep,
)

User = get_user_model()

# Kinds a person adds directly; communication gates come from a message of the plan.
WRITABLE_GATE_KINDS = list(GateForm.base_fields["kind"].choices)


class IdField(serializers.IntegerField):
    """An object's id: a whole number within the database's range (anything else is a 400)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(**kwargs)


def site_url(path: str) -> str:
    return settings.SITE_URL + path


class UserSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.get_username()


class PhaseRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    exposure_percent = serializers.IntegerField()
    status = serializers.CharField()


class GateRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    required = serializers.BooleanField()


class ReleaseRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()


# --- Releases ---------------------------------------------------------------------------


class ReleaseSerializer(serializers.ModelSerializer):
    """A release as lists show it: state, progress and what it waits for."""

    owner = UserSummarySerializer(read_only=True)
    current_phase = PhaseRefSerializer(read_only=True, allow_null=True)
    phases_total = serializers.IntegerField(read_only=True)
    phases_done = serializers.IntegerField(read_only=True)
    progress_percent = serializers.IntegerField(read_only=True)
    exposure_percent = serializers.IntegerField(
        source="current_exposure", read_only=True, help_text="Traffic or users reached now."
    )
    next_gate = GateRefSerializer(read_only=True, allow_null=True, help_text="The open gate of the current phase.")
    url = serializers.SerializerMethodField(help_text="The release's page.")

    class Meta:
        model = Release
        fields = [
            "id",
            "slug",
            "name",
            "version",
            "summary",
            "status",
            "strategy",
            "owner",
            "planned_start",
            "on_gate_failure",
            "rollback_on_deadline",
            "current_phase",
            "phases_total",
            "phases_done",
            "progress_percent",
            "exposure_percent",
            "next_gate",
            "degraded_at",
            "started_at",
            "finished_at",
            "created_at",
            "updated_at",
            "url",
        ]
        read_only_fields = fields

    def get_url(self, release) -> str:
        return site_url(release.get_absolute_url())


class ChecklistItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    checked = serializers.SerializerMethodField()
    checked_by = UserSummarySerializer(allow_null=True)
    checked_at = serializers.DateTimeField(allow_null=True)

    def get_checked(self, item) -> bool:
        return item.checked_at is not None


class GateDecisionSerializer(serializers.Serializer):
    user = UserSummarySerializer()
    decision = serializers.ChoiceField(choices=GateDecision.Decision.choices)
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()


class GateSerializer(serializers.ModelSerializer):
    release = serializers.IntegerField(source="phase.release_id", read_only=True)
    decided_by = UserSummarySerializer(read_only=True, allow_null=True)
    approvals = serializers.SerializerMethodField(help_text="Approvals so far (manual approval gates).")
    decisions = GateDecisionSerializer(many=True, read_only=True)
    items = ChecklistItemSerializer(many=True, read_only=True, help_text="Checklist items (checklist gates).")
    passed = serializers.SerializerMethodField(help_text="Passed or waived.")
    token_hint = serializers.SerializerMethodField(
        help_text="CI result gates: the first characters of the pipeline token, empty when none is active."
    )

    class Meta:
        model = Gate
        fields = [
            "id",
            "phase",
            "release",
            "position",
            "name",
            "kind",
            "required",
            "required_approvals",
            "config",
            "status",
            "passed",
            "evidence",
            "decided_by",
            "decided_at",
            "approvals",
            "decisions",
            "items",
            "measurement_count",
            "token_hint",
        ]
        read_only_fields = fields

    def get_approvals(self, gate) -> int:
        return sum(1 for d in gate.decisions.all() if d.decision == GateDecision.Decision.APPROVE)

    def get_passed(self, gate) -> bool:
        return gate.is_cleared

    def get_token_hint(self, gate) -> str:
        if gate.kind != GateKind.CI_RESULT or not gate.token_hash or gate.token_revoked_at:
            return ""
        return gate.token_hint


class GateCreatedSerializer(GateSerializer):
    token = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="CI result gates: the pipeline token for POST /api/v1/gates/{id}/result. Shown once.",
    )

    class Meta(GateSerializer.Meta):
        fields = [*GateSerializer.Meta.fields, "token"]
        read_only_fields = fields


class PhaseSerializer(serializers.ModelSerializer):
    gates = GateSerializer(many=True, read_only=True)
    soak_ends_at = serializers.DateTimeField(read_only=True, allow_null=True)
    is_current = serializers.SerializerMethodField()

    class Meta:
        model = Phase
        fields = [
            "id",
            "release",
            "position",
            "name",
            "environment",
            "exposure_percent",
            "min_soak_minutes",
            "planned_start",
            "auto_advance",
            "progress_deadline_minutes",
            "status",
            "is_current",
            "started_at",
            "soak_ends_at",
            "finished_at",
            "gates",
        ]
        read_only_fields = fields

    def get_is_current(self, phase) -> bool:
        return phase.release.current_phase_id == phase.pk


class RollbackStepSerializer(serializers.ModelSerializer):
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    action_url = serializers.SerializerMethodField(help_text="Webhook steps: the URL Flightdeck POSTs to.")

    class Meta:
        model = RollbackStep
        fields = ["id", "release", "position", "title", "instructions", "owner", "expected_minutes", "action"]
        fields += ["action_url", "action_config"]
        read_only_fields = fields

    def get_action_url(self, step) -> str:
        return step.action_config.get("url", "") if isinstance(step.action_config, dict) else ""


class ReleaseDetailSerializer(ReleaseSerializer):
    phases = PhaseSerializer(many=True, read_only=True)
    rollback_steps = RollbackStepSerializer(many=True, read_only=True)

    class Meta(ReleaseSerializer.Meta):
        fields = [*ReleaseSerializer.Meta.fields, "phases", "rollback_steps"]
        read_only_fields = fields


class ReleaseWriteSerializer(serializers.Serializer):
    """Checked by the release form the pages use (ReleaseForm; ReleaseEditForm on edit)."""

    name = serializers.CharField(max_length=200)
    version = serializers.CharField(max_length=64)
    slug = serializers.SlugField(
        max_length=80, required=False, allow_blank=True, help_text="Made from name and version when empty."
    )
    summary = serializers.CharField(required=False, allow_blank=True, help_text="Markdown.")
    owner = IdField(required=False, help_text="A release manager's user id; you by default.")
    strategy = serializers.ChoiceField(choices=Release._meta.get_field("strategy").choices)
    planned_start = serializers.DateTimeField(required=False, allow_null=True)
    on_gate_failure = serializers.ChoiceField(
        choices=Release._meta.get_field("on_gate_failure").choices, required=False
    )
    rollback_on_deadline = serializers.BooleanField(required=False)
    propose_phases = serializers.BooleanField(
        required=False, default=True, write_only=True, help_text="Create: add the strategy's proposed phases."
    )


class PhaseWriteSerializer(serializers.Serializer):
    """Checked by PhaseForm, as on the release page."""

    release = IdField(help_text="Create only: the release to add the phase to.")
    name = serializers.CharField(max_length=120)
    environment = serializers.ChoiceField(choices=Environment.choices, required=False)
    exposure_percent = serializers.IntegerField()
    min_soak_minutes = serializers.IntegerField(required=False)
    planned_start = serializers.DateTimeField(required=False, allow_null=True)
    auto_advance = serializers.BooleanField(required=False)
    progress_deadline_minutes = serializers.IntegerField(required=False, allow_null=True)


class PhaseUpdateSerializer(PhaseWriteSerializer):
    release = None


class GateWriteSerializer(serializers.Serializer):
    phase = IdField()
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=WRITABLE_GATE_KINDS)
    required = serializers.BooleanField(required=False, default=True)
    required_approvals = serializers.IntegerField(min_value=1, max_value=10, required=False, default=1)
    checklist = serializers.ListField(
        child=serializers.CharField(max_length=300), required=False, help_text="Checklist gates: the items."
    )
    config = serializers.DictField(
        required=False,
        help_text=(
            "HTTP check and metric threshold gates: their settings, as the gate form takes them "
            '(e.g. {"url": "https://…/health", "expected_status": 200}).'
        ),
    )

    def validate(self, attrs):
        if attrs["kind"] == GateKind.CHECKLIST:
            items = [line.strip() for line in attrs.get("checklist") or [] if line.strip()]
            if not items:
                raise serializers.ValidationError({"checklist": ["A checklist gate needs at least one item."]})
            attrs["checklist"] = items
        else:
            attrs["checklist"] = []
        return attrs


class RollbackStepWriteSerializer(serializers.Serializer):
    """Checked by RollbackStepForm, as on the release page."""

    release = IdField(help_text="Create only.")
    title = serializers.CharField(max_length=200)
    instructions = serializers.CharField(required=False, allow_blank=True)
    owner = IdField(required=False, allow_null=True)
    expected_minutes = serializers.IntegerField(required=False)
    action = serializers.ChoiceField(choices=RollbackAction.choices, required=False)
    action_url = serializers.CharField(
        required=False, allow_blank=True, max_length=500, help_text="Webhook steps: the URL to POST to."
    )


class RollbackStepUpdateSerializer(RollbackStepWriteSerializer):
    release = None


class RollbackRunStepSerializer(serializers.ModelSerializer):
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    done_by = UserSummarySerializer(read_only=True, allow_null=True)
    done = serializers.SerializerMethodField()

    class Meta:
        model = RollbackRunStep
        fields = ["id", "position", "title", "instructions", "owner", "expected_minutes", "action", "done"]
        fields += ["done_by", "done_at", "note", "attempts", "last_error", "failed_at"]
        read_only_fields = fields

    def get_done(self, step) -> bool:
        return step.done_at is not None


class RollbackRunSerializer(serializers.ModelSerializer):
    release = ReleaseRefSerializer(read_only=True)
    started_by = UserSummarySerializer(read_only=True, allow_null=True)
    steps = RollbackRunStepSerializer(many=True, read_only=True)
    steps_done = serializers.SerializerMethodField()
    steps_total = serializers.SerializerMethodField()

    class Meta:
        model = RollbackRun
        fields = ["id", "release", "status", "reason", "started_by", "started_at", "finished_at"]
        fields += ["steps_done", "steps_total", "steps"]
        read_only_fields = fields

    def get_steps_done(self, run) -> int:
        return sum(1 for s in run.steps.all() if s.done_at)

    def get_steps_total(self, run) -> int:
        return len(run.steps.all())


class EventSerializer(serializers.ModelSerializer):
    release = ReleaseRefSerializer(read_only=True)
    actor = UserSummarySerializer(read_only=True, allow_null=True, help_text="Empty when Flightdeck acted.")
    actor_name = serializers.CharField(read_only=True)
    phase = serializers.SerializerMethodField()
    gate = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = ["id", "release", "verb", "actor", "actor_name", "phase", "gate", "reason", "data", "created_at"]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "nullable": True, "properties": {"id": {"type": "integer"}}})
    def get_phase(self, event):
        return {"id": event.phase.pk, "name": event.phase.name} if event.phase else None

    @extend_schema_field({"type": "object", "nullable": True, "properties": {"id": {"type": "integer"}}})
    def get_gate(self, event):
        return {"id": event.gate.pk, "name": event.gate.name} if event.gate else None


# --- Action bodies and answers ------------------------------------------------------------


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, help_text="Goes on the timeline.")


class RequiredReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why; goes on the timeline.")


class AdvanceSerializer(ReasonSerializer):
    phase = IdField(
        required=False,
        help_text=(
            "The id of the phase you saw as current. Send it: a retry after the advance succeeded then gets "
            "409 `already_done` instead of advancing a second time. Defaults to the current phase."
        ),
    )
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="Needed to advance inside a freeze window or outside allowed hours; goes on the timeline.",
    )


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class RequiredCommentSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=2000, help_text="Why you reject it; goes on the timeline.")


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class MoveSerializer(serializers.Serializer):
    direction = serializers.ChoiceField(choices=["up", "down"])


class CheckSerializer(serializers.Serializer):
    checked = serializers.BooleanField(help_text="true ticks the item, false unticks it.")


class GateStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    required = serializers.BooleanField()
    status = serializers.CharField()
    passed = serializers.BooleanField()


class ReleaseStatusSerializer(serializers.Serializer):
    """Everything a pipeline polls for: where the release is and whether it may move on."""

    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()
    status = serializers.CharField(help_text="draft, scheduled, in_progress, paused, rolling_back, completed …")
    strategy = serializers.CharField()
    current_phase = serializers.DictField(allow_null=True, help_text="id, name, position, status, exposure_percent …")
    next_phase = serializers.DictField(allow_null=True)
    exposure_percent = serializers.IntegerField()
    phases_done = serializers.IntegerField()
    phases_total = serializers.IntegerField()
    progress_percent = serializers.IntegerField()
    gates = GateStateSerializer(many=True, help_text="The gates of the current phase.")
    may_advance = serializers.BooleanField(help_text="POST …/advance would move to the next phase now.")
    may_complete = serializers.BooleanField(help_text="POST …/complete would finish the release now.")
    blockers = serializers.ListField(child=serializers.CharField(), help_text="Why it may not move on yet.")
    automation_block = serializers.CharField(
        allow_null=True, help_text="A freeze window or allowed hours that hold automation (a person may override)."
    )
    degraded = serializers.BooleanField(help_text="The current phase ran past its progress deadline.")
    rollback = serializers.DictField(help_text="running, run (id), steps_done, steps_total.")
    updated_at = serializers.DateTimeField()
    url = serializers.CharField()


class ReleaseActionResultSerializer(serializers.Serializer):
    detail = serializers.CharField()
    release = ReleaseStatusSerializer()


class GateActionResultSerializer(serializers.Serializer):
    detail = serializers.CharField()
    gate = GateSerializer()


class RollbackRunActionResultSerializer(serializers.Serializer):
    detail = serializers.CharField()
    run = RollbackRunSerializer()


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Shown once: store it in your pipeline's secrets.")
    hint = serializers.CharField()


class ArgoGateSerializer(serializers.Serializer):
    passed = serializers.BooleanField(help_text="What an AnalysisTemplate reads with jsonPath {$.passed}.")
    status = serializers.ChoiceField(
        choices=["pending", "passed", "failed"], help_text="jsonPath {$.status}; a waived gate counts as passed."
    )
    gate = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    required = serializers.BooleanField()
    gate_status = serializers.CharField(help_text="The gate's own state: pending, passed, failed or waived.")
    decided_at = serializers.DateTimeField(allow_null=True)
    phase = serializers.DictField(help_text="id, name, status.")
    release = serializers.DictField(help_text="id, slug, status.")


class FlaggerPayloadSerializer(serializers.Serializer):
    """What Flagger POSTs to a webhook (CanaryWebhookPayload)."""

    name = serializers.CharField(required=False, allow_blank=True, help_text="The canary's name.")
    namespace = serializers.CharField(required=False, allow_blank=True)
    phase = serializers.CharField(required=False, allow_blank=True, help_text="Progressing, Waiting, Promoting …")
    checksum = serializers.CharField(required=False, allow_blank=True)
    metadata = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text="The webhook's metadata; `token` may carry the API token when headers cannot.",
    )


class FlaggerAnswerSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    fields = serializers.DictField(required=False)
    passed = serializers.BooleanField(required=False)
    status = serializers.CharField(required=False)
    gate = serializers.IntegerField(required=False)
    release = serializers.IntegerField(required=False)
    release_status = serializers.CharField(required=False)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    auth = serializers.ChoiceField(choices=["token", "session"])
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ApiScope.choices))
    token = serializers.DictField(allow_null=True, help_text="id, name, hint, expires_at of the token used.")
    may = serializers.DictField(child=serializers.BooleanField(), help_text="What the roles allow.")


@extend_schema_field(OpenApiTypes.STR)
class IdOrSlugField(serializers.CharField):
    pass
