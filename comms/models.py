"""Who hears what about a release, and the outbox of notices that tells them.

A Notice is one message to one recipient for one trigger occurrence. The unique key on
(message, recipient, occurrence) makes creating it twice impossible; the status moves
pending → sending → sent | failed | cancelled by compare-and-set updates only.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from rollouts.models import Phase, Release


class Audience(models.Model):
    name = models.CharField(
        max_length=120, unique=True, error_messages={"unique": "An audience with this name exists."}
    )
    description = models.CharField(max_length=300, blank=True)
    support_digest = models.BooleanField(
        default=False,
        verbose_name="Support digest",
        help_text="Members get a short email linking to the support briefing whenever a phase of a release starts.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Stakeholder(models.Model):
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200, blank=True)
    organisation = models.CharField(max_length=200, blank=True)
    audiences = models.ManyToManyField(Audience, through="Membership", related_name="stakeholders")
    opted_out_at = models.DateTimeField(
        null=True, blank=True, help_text="Unsubscribed from everything: receives nothing more."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(Lower("email"), name="stakeholder_email_unique_ci")]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


class Membership(models.Model):
    stakeholder = models.ForeignKey(Stakeholder, on_delete=models.CASCADE, related_name="memberships")
    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="memberships")
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stakeholder", "audience"], name="one_membership")]

    def __str__(self) -> str:
        return f"{self.stakeholder_id} in {self.audience_id}"


class CommunicationPlan(models.Model):
    release = models.OneToOneField(Release, on_delete=models.CASCADE, related_name="comms_plan")
    created_at = models.DateTimeField(auto_now_add=True)
    # The newest of the release's Events the last planning run had seen. The outbox tick
    # re-plans a release with a newer plan-changing Event whose hand-off was lost (a process
    # killed between commit and its on-commit handlers, a database gone at that moment).
    planned_through_event = models.BigIntegerField(default=0, editable=False)

    def __str__(self) -> str:
        return f"Communication plan of {self.release}"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Chat webhook"


class Trigger(models.TextChoices):
    AT_TIME = "at_time", "At a fixed time"
    PHASE_START = "phase_start", "Before/after a phase starts"
    PHASE_END = "phase_end", "Before/after a phase finishes"
    ON_PAUSE = "on_pause", "When the release pauses"
    ON_ROLLBACK = "on_rollback", "When a rollback starts"
    ON_COMPLETION = "on_completion", "When the release completes"


class MessageKind(models.TextChoices):
    CUSTOM = "custom", "Written for this release"
    # Built in: one per plan, made by the planner when support-digest audiences exist; it
    # goes to those audiences whenever a phase starts and links to the support briefing.
    SUPPORT_DIGEST = "support_digest", "Support digest"


class Message(models.Model):
    plan = models.ForeignKey(CommunicationPlan, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=20, choices=MessageKind.choices, default=MessageKind.CUSTOM, editable=False)
    name = models.CharField(max_length=120, help_text="For you: e.g. “Heads-up to support”.")
    audiences = models.ManyToManyField(Audience, related_name="messages", blank=True)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.EMAIL)
    webhook_url = models.URLField(max_length=500, blank=True, help_text="For the chat webhook channel.")
    subject = models.CharField(max_length=200)
    body = models.TextField(help_text="Markdown, with release variables such as {{ release.name }}.")
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.AT_TIME)
    send_at = models.DateTimeField(null=True, blank=True, help_text="For “at a fixed time”.")
    phase = models.ForeignKey(Phase, null=True, blank=True, on_delete=models.CASCADE, related_name="messages")
    offset_minutes = models.IntegerField(default=0, help_text="Minutes after the phase event; negative for before it.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan"], condition=Q(kind="support_digest"), name="one_support_digest_per_plan"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_support_digest(self) -> bool:
        return self.kind == MessageKind.SUPPORT_DIGEST


class Notice(models.Model):
    """The outbox: one message, one recipient, one trigger occurrence."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="notices")
    stakeholder = models.ForeignKey(
        Stakeholder, null=True, blank=True, on_delete=models.CASCADE, related_name="notices"
    )
    recipient = models.CharField(max_length=254, help_text="Lower-cased email, or “webhook”.")
    occurrence = models.CharField(max_length=80, help_text="Which trigger firing this is for.")
    due_at = models.DateTimeField(null=True, blank=True, help_text="Empty while on hold (e.g. the release is paused).")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, default="")
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    cancelled_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "recipient", "occurrence"], name="one_notice_per_occurrence"),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="sent_notice_has_sent_at"
            ),
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="notice_due_idx")]

    def __str__(self) -> str:
        return f"{self.message} → {self.recipient} ({self.occurrence})"

    @property
    def message_id_header(self) -> str:
        """The same Message-ID on every attempt, so a re-send is recognisably the same mail."""
        return f"<notice-{self.pk}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"
