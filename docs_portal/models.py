"""User documentation linked to releases, release notes, and what support reads.

A DocPage is Markdown (sanitised whenever it is rendered). Every save writes a DocRevision,
so the history is complete; the page row holds the latest text. Pages link to releases
(optionally to one phase); a publish rule says when the engine publishes a draft.
KnownIssue and FaqEntry belong to a release's support briefing; the briefing page itself
is composed from the release, its phases, gates, events, these rows and the linked docs.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from rollouts.models import Phase, Release


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public: anyone, no sign-in"
    SUPPORT = "support", "Support: signed-in staff"
    INTERNAL = "internal", "Internal: release managers and approvers"


class DocStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class PublishRule(models.TextChoices):
    MANUAL = "manual", "By hand"
    PHASE_START = "phase_start", "When a linked phase starts"
    RELEASE_COMPLETE = "release_complete", "When the release completes"


class DocPage(models.Model):
    slug = models.SlugField(max_length=120, unique=True, error_messages={"unique": "A page with this slug exists."})
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, help_text="Markdown (CommonMark, tables, fenced code).")
    visibility = models.CharField(max_length=20, choices=Visibility.choices, default=Visibility.SUPPORT)
    status = models.CharField(max_length=20, choices=DocStatus.choices, default=DocStatus.DRAFT)
    publish_rule = models.CharField(max_length=20, choices=PublishRule.choices, default=PublishRule.MANUAL)
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    releases = models.ManyToManyField(Release, through="DocLink", related_name="doc_pages", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        indexes = [models.Index(fields=["status", "visibility"])]

    def __str__(self) -> str:
        return self.title

    @property
    def is_published(self) -> bool:
        return self.status == DocStatus.PUBLISHED


class DocLink(models.Model):
    """A page linked to a release, and optionally to one of its phases (for the
    "when a linked phase starts" rule and the docs-readiness gate)."""

    page = models.ForeignKey(DocPage, on_delete=models.CASCADE, related_name="links")
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="doc_links")
    phase = models.ForeignKey(Phase, null=True, blank=True, on_delete=models.CASCADE, related_name="doc_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["page", "release"], condition=Q(phase__isnull=True), name="doclink_page_release_once"
            ),
            models.UniqueConstraint(fields=["page", "release", "phase"], name="doclink_page_release_phase_once"),
        ]

    def __str__(self) -> str:
        return f"{self.page} ↔ {self.release}"


class DocRevision(models.Model):
    """One saved version of a page, numbered from 1 per page."""

    page = models.ForeignKey(DocPage, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    visibility = models.CharField(max_length=20, choices=Visibility.choices)
    status = models.CharField(max_length=20, choices=DocStatus.choices)
    note = models.CharField(max_length=200, blank=True, help_text="What changed, in a few words.")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["page", "-number"]
        constraints = [models.UniqueConstraint(fields=["page", "number"], name="docrevision_number_once")]

    def __str__(self) -> str:
        return f"{self.page} r{self.number}"


class ReleaseNotes(models.Model):
    """What users read on the public changelog: shown once the release completes, or from
    the chosen phase on (when that phase has started)."""

    release = models.OneToOneField(Release, on_delete=models.CASCADE, related_name="release_notes")
    body = models.TextField(blank=True, help_text="Markdown.")
    visible_from_phase = models.ForeignKey(
        Phase,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Show on the changelog once this phase starts; empty: once the release completes.",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "release notes"

    def __str__(self) -> str:
        return f"Release notes: {self.release}"


class KnownIssueStatus(models.TextChoices):
    INVESTIGATING = "investigating", "Investigating"
    WORKAROUND = "workaround", "Workaround available"
    FIXED = "fixed", "Fixed"
    WONT_FIX = "wont_fix", "Won't fix"


OPEN_KNOWN_ISSUE_STATUSES = (KnownIssueStatus.INVESTIGATING, KnownIssueStatus.WORKAROUND)


class KnownIssue(models.Model):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="known_issues")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Markdown: symptoms, who is affected.")
    workaround = models.TextField(blank=True, help_text="Markdown: what support can tell customers.")
    status = models.CharField(max_length=20, choices=KnownIssueStatus.choices, default=KnownIssueStatus.INVESTIGATING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["release", "status"])]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_KNOWN_ISSUE_STATUSES


class FaqEntry(models.Model):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="faq_entries")
    position = models.PositiveIntegerField(default=0)
    question = models.CharField(max_length=300)
    answer = models.TextField(help_text="Markdown.")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "FAQ entry"
        verbose_name_plural = "FAQ entries"

    def __str__(self) -> str:
        return self.question


class CalendarFeed(models.Model):
    """A per-user secret URL for the iCalendar feed. Only the SHA-256 digest of the secret
    is kept; revoking (or issuing a new one) makes the old URL answer 404."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_hint = models.CharField(max_length=12, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Calendar feed of {self.user} (…{self.token_hint})"
