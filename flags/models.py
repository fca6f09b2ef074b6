"""Feature flags that follow a release's phases, the segments phases target, and the API
keys applications use to evaluate flags through OFREP.

Models hold data and invariants only; every change goes through flags/services.py, which
also tells flags/snapshot.py that the configuration changed.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from rollouts.models import Environment


class FlagType(models.TextChoices):
    BOOLEAN = "boolean", "Boolean"
    STRING = "string", "String"
    INTEGER = "integer", "Integer"
    FLOAT = "float", "Float"
    OBJECT = "object", "Object (JSON)"


class Segment(models.Model):
    """A named group: listed targeting keys (e.g. beta testers) or attribute rules that all hold."""

    key = models.SlugField(max_length=100, unique=True, error_messages={"unique": "A segment with this key exists."})
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    targeting_keys = models.JSONField(default=list, blank=True, help_text="Targeting keys that are in the segment.")
    rules = models.JSONField(
        default=list,
        blank=True,
        help_text='Attribute rules, all of which must hold: [{"attribute", "operator", "values"}].',
    )
    # The phases of releases that target this segment before their percentage.
    phases = models.ManyToManyField("rollouts.Phase", blank=True, related_name="flag_segments")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Flag(models.Model):
    key = models.SlugField(max_length=100, unique=True, error_messages={"unique": "A flag with this key exists."})
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=10, choices=FlagType.choices, default=FlagType.BOOLEAN)
    variants = models.JSONField(default=dict, help_text="Variant name → value, of the flag's type.")
    on_variant = models.CharField(max_length=64, help_text="Served to users the rollout reaches.")
    off_variant = models.CharField(max_length=64, help_text="Served to everyone else, and when the flag is off.")
    release = models.ForeignKey(
        "rollouts.Release",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="flags",
        help_text="The flag's exposure follows this release's phases while it runs.",
    )
    fixed_exposure = models.PositiveSmallIntegerField(
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Without a release: the share of users who get the on variant, 0–100.",
    )
    segments = models.ManyToManyField(
        Segment, blank=True, related_name="flags", help_text="Without a release: segments that always get it."
    )
    killed_at = models.DateTimeField(null=True, blank=True, editable=False)
    killed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    kill_reason = models.TextField(blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(
                condition=Q(fixed_exposure__gte=0) & Q(fixed_exposure__lte=100), name="flag_fixed_exposure_0_100"
            )
        ]

    def __str__(self) -> str:
        return self.key

    def get_absolute_url(self) -> str:
        return reverse("flags:detail", args=[self.key])

    @property
    def is_killed(self) -> bool:
        return self.killed_at is not None


class ApiKey(models.Model):
    """A secret an application sends to evaluate flags in one environment. Shown once, stored as
    a SHA-256 digest."""

    environment = models.CharField(max_length=20, choices=Environment.choices)
    name = models.CharField(max_length=120, help_text="Who uses it, such as “checkout-service”.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=24, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["environment", "-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.get_environment_display()}, {self.hint}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ConfigVersion(models.Model):
    """One row: moves with every change to the flag configuration. Processes without a shared
    cache compare it (at most once a second) to know that their snapshot is out of date."""

    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"flag configuration v{self.version}"
