"""Releases, their phases and gates, the rollback plan and the event timeline.

Models hold data and invariants only. Every state change goes through
rollouts/transitions.py; planning edits go through rollouts/services.py.
"""

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
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
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["status", "-updated_at"], name="release_status_updated_idx")]

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

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_cleared(self) -> bool:
        return self.status in GATE_CLEARED


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


class RollbackStep(models.Model):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="rollback_steps")
    position = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expected_minutes = models.PositiveIntegerField(default=5, validators=[MaxValueValidator(24 * 60)])

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title


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
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title


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
