"""Releases, their phases and gates, the rollback plan and the event timeline.

Models hold data and invariants only. Every state change goes through
rollouts/transitions.py; planning edits go through rollouts/services.py.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone


class Strategy(models.TextChoices):
    CANARY = "canary", "Canary"
    BLUE_GREEN = "blue_green", "Blue/green"
    ROLLING = "rolling", "Rolling"
    SHADOW = "shadow", "Shadow"
    FEATURE_FLAG = "feature_flag", "Feature flag"


# Strategies whose exposure may only grow from one phase to the next.
MONOTONIC_STRATEGIES = {Strategy.CANARY, Strategy.ROLLING, Strategy.FEATURE_FLAG}


class ReleaseStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    PAUSED = "paused", "Paused"
    ROLLING_BACK = "rolling_back", "Rolling back"
    COMPLETED = "completed", "Completed"
    ROLLED_BACK = "rolled_back", "Rolled back"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = {ReleaseStatus.COMPLETED, ReleaseStatus.ROLLED_BACK, ReleaseStatus.CANCELLED}
# Releases whose plan may still be edited.
PLANNABLE_STATUSES = {
    ReleaseStatus.DRAFT,
    ReleaseStatus.SCHEDULED,
    ReleaseStatus.IN_PROGRESS,
    ReleaseStatus.PAUSED,
}


class Environment(models.TextChoices):
    STAGING = "staging", "Staging"
    BETA = "beta", "Beta"
    PRODUCTION = "production", "Production"


class PhaseStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back"
    SKIPPED = "skipped", "Skipped"


class GateKind(models.TextChoices):
    MANUAL_APPROVAL = "manual_approval", "Manual approval"
    CHECKLIST = "checklist", "Checklist"
    CI_RESULT = "ci_result", "CI result"
    HTTP_CHECK = "http_check", "HTTP check"
    METRIC_THRESHOLD = "metric_threshold", "Metric threshold"
    COMMS_READY = "comms_ready", "Communication sent"
    DOCS_READY = "docs_ready", "Docs published"


# Gates the engine measures on a schedule (ci_result waits for the pipeline to report).
MEASURED_GATE_KINDS = {GateKind.HTTP_CHECK, GateKind.METRIC_THRESHOLD}
# Gates another app answers (comms: a message went out; docs_portal: the linked pages are
# published); their checkers register in
# rollouts/gate_registry.py and the engine asks them on every tick.
EXTERNAL_GATE_KINDS = {GateKind.COMMS_READY, GateKind.DOCS_READY}
AUTOMATED_GATE_KINDS = MEASURED_GATE_KINDS | {GateKind.CI_RESULT} | EXTERNAL_GATE_KINDS


class GateFailurePolicy(models.TextChoices):
    PAUSE = "pause", "Pause for a person"
    ROLLBACK = "rollback", "Start the rollback"


class GateStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    WAIVED = "waived", "Waived"


GATE_CLEARED = {GateStatus.PASSED, GateStatus.WAIVED}


class Release(models.Model):
    slug = models.SlugField(max_length=80, unique=True, error_messages={"unique": "A release with this slug exists."})
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=64)
    summary = models.TextField(blank=True, help_text="Markdown: what changes and for whom.")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="releases_owned")
    strategy = models.CharField(max_length=20, choices=Strategy.choices, default=Strategy.CANARY)
    status = models.CharField(max_length=20, choices=ReleaseStatus.choices, default=ReleaseStatus.DRAFT)
    planned_start = models.DateTimeField(null=True, blank=True)
    current_phase = models.ForeignKey(
        "Phase", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    on_gate_failure = models.CharField(
        max_length=20,
        choices=GateFailurePolicy.choices,
        default=GateFailurePolicy.PAUSE,
        help_text="What automation does when a required gate fails.",
    )
    rollback_on_deadline = models.BooleanField(
        default=False, help_text="Start the rollback when a phase runs past its progress deadline."
    )
    degraded_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the current phase ran past its progress deadline."
    )
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-updated_at"], name="release_status_updated_idx"),
            models.Index(fields=["-updated_at"], name="release_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    def get_absolute_url(self) -> str:
        return reverse("release_detail", args=[self.slug])

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def is_plannable(self) -> bool:
        return self.status in PLANNABLE_STATUSES


class Phase(models.Model):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="phases")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=120)
    environment = models.CharField(max_length=20, choices=Environment.choices, default=Environment.PRODUCTION)
    exposure_percent = models.PositiveSmallIntegerField(
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Share of traffic or users reached, 0–100. Shadow phases mirror traffic at 0%.",
    )
    min_soak_minutes = models.PositiveIntegerField(
        default=0, help_text="How long the phase must run before it may advance."
    )
    planned_start = models.DateTimeField(null=True, blank=True)
    auto_advance = models.BooleanField(default=False)
    progress_deadline_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="If the phase has not advanced this long after it started, the release is marked degraded.",
    )
    status = models.CharField(max_length=20, choices=PhaseStatus.choices, default=PhaseStatus.PENDING)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(exposure_percent__gte=0) & Q(exposure_percent__lte=100),
                name="phase_exposure_0_100",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.exposure_percent}%)"

    @property
    def soak_ends_at(self):
        if self.started_at is None:
            return None
        return self.started_at + timedelta(minutes=self.min_soak_minutes)

    @property
    def deadline_at(self):
        if self.started_at is None or self.progress_deadline_minutes is None:
            return None
        return self.started_at + timedelta(minutes=self.progress_deadline_minutes)

    def soak_remaining(self, now=None) -> timedelta:
        ends = self.soak_ends_at
        if ends is None:
            return timedelta(minutes=self.min_soak_minutes)
        return max(ends - (now or timezone.now()), timedelta(0))


class Gate(models.Model):
    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="gates")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=30, choices=GateKind.choices, default=GateKind.MANUAL_APPROVAL)
    required = models.BooleanField(default=True, help_text="Required gates must pass before the phase advances.")
    required_approvals = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=GateStatus.choices, default=GateStatus.PENDING)
    evidence = models.JSONField(default=dict, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # Automation: when the engine measures next, and the lease of the task measuring now.
    next_check_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claim_token = models.CharField(max_length=36, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    measurement_count = models.PositiveIntegerField(default=0)
    success_count = models.PositiveIntegerField(default=0)
    failure_count = models.PositiveIntegerField(default=0)
    inconclusive_count = models.PositiveIntegerField(default=0)
    consecutive_errors = models.PositiveIntegerField(default=0)
    # ci_result: the pipeline's secret, stored as a SHA-256 hex digest; shown once when made.
    token_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    token_hint = models.CharField(max_length=12, blank=True, default="", editable=False)
    token_revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_automated(self) -> bool:
        return self.kind in AUTOMATED_GATE_KINDS

    @property
    def is_cleared(self) -> bool:
        return self.status in GATE_CLEARED


class Verdict(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    INCONCLUSIVE = "inconclusive", "Inconclusive"
    ERROR = "error", "Provider error"


class GateMeasurement(models.Model):
    """One measurement of an automated gate: what was seen, and what it meant."""

    gate = models.ForeignKey(Gate, on_delete=models.CASCADE, related_name="measurements")
    taken_at = models.DateTimeField(default=timezone.now)
    value = models.FloatField(null=True, blank=True)
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    message = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    claim_token = models.CharField(max_length=36, blank=True, default="")

    class Meta:
        ordering = ["-taken_at", "-id"]
        indexes = [models.Index(fields=["gate", "-taken_at"], name="measurement_gate_taken_idx")]
        constraints = [
            # One measurement per claim: a task delivered twice records once.
            models.UniqueConstraint(
                fields=["gate", "claim_token"], condition=~Q(claim_token=""), name="one_measurement_per_claim"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_verdict_display()} at {self.taken_at:%Y-%m-%d %H:%M:%S}"


class GateDecision(models.Model):
    class Decision(models.TextChoices):
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"

    gate = models.ForeignKey(Gate, on_delete=models.CASCADE, related_name="decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["gate", "user"], name="one_decision_per_gate_and_user")]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.user_id}"


class ChecklistItem(models.Model):
    gate = models.ForeignKey(Gate, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField(default=0)
    text = models.CharField(max_length=300)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text


class RollbackAction(models.TextChoices):
    MANUAL = "manual", "Done by a person"
    WEBHOOK = "webhook", "Call a webhook"
    FLAG_OFF = "flag_off", "Turn a feature flag off"


class RollbackStep(models.Model):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="rollback_steps")
    position = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expected_minutes = models.PositiveIntegerField(default=5, validators=[MaxValueValidator(24 * 60)])
    action = models.CharField(max_length=20, choices=RollbackAction.choices, default=RollbackAction.MANUAL)
    action_config = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_automated(self) -> bool:
        return self.action != RollbackAction.MANUAL


class RollbackRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="rollback_runs")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["release"], condition=Q(status="running"), name="one_running_rollback_per_release"
            )
        ]

    def __str__(self) -> str:
        return f"Rollback of {self.release} ({self.get_status_display()})"


class RollbackRunStep(models.Model):
    """A copy of a rollback step taken when the run started, ticked off by people."""

    run = models.ForeignKey(RollbackRun, on_delete=models.CASCADE, related_name="steps")
    step = models.ForeignKey(RollbackStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    position = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expected_minutes = models.PositiveIntegerField(default=5)
    action = models.CharField(max_length=20, choices=RollbackAction.choices, default=RollbackAction.MANUAL)
    action_config = models.JSONField(default=dict, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    # Automated steps: attempts so far, the last error, and the lease of the task running it.
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_automated(self) -> bool:
        return self.action != RollbackAction.MANUAL


class Event(models.Model):
    """Append-only timeline of everything that happened to a release."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verb = models.CharField(max_length=60)
    phase = models.ForeignKey(Phase, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    gate = models.ForeignKey(Gate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["release", "-created_at"], name="event_release_created_idx")]

    def __str__(self) -> str:
        return f"{self.verb} on {self.release_id}"

    @property
    def actor_name(self) -> str:
        if self.actor is None:
            return "Flightdeck"
        return self.actor.get_full_name() or self.actor.get_username()


class FreezeWindow(models.Model):
    """A stretch of wall-clock time in a named time zone when automation must not advance.

    Stored as local times plus the zone, so "Dec 24 00:00 to Jan 2 00:00, Europe/Berlin"
    means what people mean, across DST changes. No release means every release.
    """

    release = models.ForeignKey(Release, null=True, blank=True, on_delete=models.CASCADE, related_name="freezes")
    name = models.CharField(max_length=120)
    timezone = models.CharField(max_length=64, default="UTC")
    starts_local = models.DateTimeField(help_text="Local wall-clock time in the window's time zone.")
    ends_local = models.DateTimeField(help_text="Local wall-clock time in the window's time zone.")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["starts_local", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_local__gt=F("starts_local")), name="freeze_ends_after_start")
        ]

    def __str__(self) -> str:
        return self.name


class AllowedHours(models.Model):
    """When automation may act: weekdays and a local time range in a named time zone.

    With no rows (for the release and globally) automation may act at any time.
    """

    release = models.ForeignKey(Release, null=True, blank=True, on_delete=models.CASCADE, related_name="allowed_hours")
    timezone = models.CharField(max_length=64, default="UTC")
    weekdays = models.JSONField(default=list, help_text="ISO weekdays, 1 = Monday … 7 = Sunday.")
    start_time = models.TimeField()
    end_time = models.TimeField()

    class Meta:
        verbose_name_plural = "allowed hours"

    def __str__(self) -> str:
        return f"{self.start_time:%H:%M}–{self.end_time:%H:%M} {self.timezone}"


class WebhookSubscription(models.Model):
    """Someone outside wants to hear about release and phase changes, signed."""

    name = models.CharField(max_length=120)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="Event verbs such as phase.advanced; empty means all.")
    secret = models.CharField(max_length=200, editable=False)
    # The secret before the last rotation, still signing deliveries next to the new one until
    # previous_secret_until, so receivers can switch without missing one (Standard Webhooks
    # allows several signatures). Blanked once that has passed.
    previous_secret = models.CharField(max_length=200, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_subscriptions"
    )
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(previous_secret="", previous_secret_until__isnull=True)
                | (~Q(previous_secret="") & Q(previous_secret_until__isnull=False)),
                name="webhook_previous_secret_with_end",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def previous_secret_signs_at(self, when: datetime) -> bool:
        """Whether deliveries made at `when` are still signed with the previous secret too."""
        return (
            bool(self.previous_secret) and self.previous_secret_until is not None and when < self.previous_secret_until
        )

    def wants(self, verb: str, release_id: int) -> bool:
        if not self.is_active:
            return False
        if self.release_id is not None and self.release_id != release_id:
            return False
        return not self.events or verb in self.events


class WebhookDelivery(models.Model):
    """The outbox row for one event to one subscription; retried until delivered or given up."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="webhook_deliveries")
    message_id = models.CharField(max_length=64, unique=True)
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="one_delivery_per_event_and_subscription")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx")]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.subscription_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery, for the delivery log page."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.status_code or self.error[:40]}"


class ApiScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Write: plans, audiences, subscriptions"
    ACT = "act", "Act: start, approve, advance, pause, roll back …"


class ApiToken(models.Model):
    """A personal token for the REST API, sent as `Authorization: Bearer fd_…`.

    Stored as a SHA-256 digest (the token is shown once, when made). Its scopes narrow
    what its user may do; they never widen it: the user's roles still decide.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=120, help_text="What uses it, such as “Deploy pipeline”.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=16, editable=False, help_text="The first characters, to tell tokens apart.")
    scopes = models.JSONField(default=list, help_text="Any of read, write, act.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    def is_usable(self, now=None) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > (now or timezone.now())


class IdempotencyRecord(models.Model):
    """The answer to the first API request sent with an `Idempotency-Key`, replayed to retries.

    Inserted before the request runs (the unique key makes a concurrent duplicate lose),
    completed with the response once it ran; `status_code` empty means still in flight.
    Kept 24 hours.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_record_per_key")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"


class ReleaseTemplate(models.Model):
    """A saved release plan to start new releases from (see rollouts/release_templates.py).

    `plan` is versioned JSON ({"version": 1, "release": …, "phases": […], "rollback_steps": […],
    "parts": {app part: …}}), validated when applied; it never holds tokens or secrets. Times are
    minutes relative to the release's planned start.
    """

    name = models.CharField(max_length=120, unique=True, error_messages={"unique": "A template with this name exists."})
    description = models.TextField(blank=True)
    strategy = models.CharField(max_length=20, choices=Strategy.choices, default=Strategy.CANARY)
    plan = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Heartbeat(models.Model):
    """When a periodic task last finished a run: one row per kind, upserted by every run.

    Readiness (/readyz), the operations page and /metrics read it to tell a running beat
    from a stopped one (rollouts/heartbeat.py writes it).
    """

    class Kind(models.TextChoices):
        ENGINE = "engine", "Rollout engine tick"
        OUTBOX = "outbox", "Notice outbox tick"

    kind = models.CharField(max_length=20, choices=Kind.choices, primary_key=True)
    beat_at = models.DateTimeField()
    took_ms = models.PositiveIntegerField(default=0, help_text="How long the last run took.")

    def __str__(self) -> str:
        return f"{self.kind} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
