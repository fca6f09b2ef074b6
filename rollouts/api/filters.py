"""Query-string filters of the rollouts API lists (django-filter). Ids are plain numbers, so
filtering never costs a query of its own."""

from datetime import UTC

import django_filters
from django import forms
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from rollouts.models import (
    Environment,
    Event,
    Gate,
    GateKind,
    GateStatus,
    Phase,
    PhaseStatus,
    Release,
    ReleaseStatus,
    RollbackAction,
    RollbackRun,
    RollbackStep,
    Strategy,
    WebhookDelivery,
    WebhookSubscription,
)


class IdField(forms.IntegerField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    """An object id: a whole number in the database's range (anything else is a 400)."""

    field_class = IdField


class TimeField(django_filters.fields.IsoDateTimeField):
    def clean(self, value):
        cleaned = super().clean(value)
        if cleaned is not None:
            # In UTC: PostgreSQL takes offsets up to ±15:59 only, Python up to ±23:59.
            try:
                cleaned = cleaned.astimezone(UTC)
            except OverflowError:
                raise forms.ValidationError("This time is out of range.", code="overflow") from None
        return cleaned


class TimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time such as 2026-03-01T12:00:00Z."""

    field_class = TimeField


class ReleaseFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=ReleaseStatus.choices, help_text="One or more states, e.g. ?status=in_progress&status=paused."
    )
    strategy = django_filters.ChoiceFilter(choices=Strategy.choices)
    owner = IdFilter(field_name="owner_id", help_text="The owner's user id.")
    slug = django_filters.CharFilter(max_length=80)
    q = django_filters.CharFilter(method="search", max_length=100, help_text="Search in name, version and slug.")
    updated_after = TimeFilter(field_name="updated_at", lookup_expr="gte")
    updated_before = TimeFilter(field_name="updated_at", lookup_expr="lt")
    planned_after = TimeFilter(field_name="planned_start", lookup_expr="gte")
    planned_before = TimeFilter(field_name="planned_start", lookup_expr="lt")

    class Meta:
        model = Release
        fields = ["status", "strategy", "owner", "slug"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(version__icontains=value) | Q(slug__icontains=value))


class PhaseFilter(django_filters.FilterSet):
    release = IdFilter(field_name="release_id")
    status = django_filters.ChoiceFilter(choices=PhaseStatus.choices)
    environment = django_filters.ChoiceFilter(choices=Environment.choices)

    class Meta:
        model = Phase
        fields = ["release", "status", "environment"]


class GateFilter(django_filters.FilterSet):
    release = IdFilter(field_name="phase__release_id")
    phase = IdFilter(field_name="phase_id")
    status = django_filters.ChoiceFilter(choices=GateStatus.choices)
    kind = django_filters.ChoiceFilter(choices=GateKind.choices)
    required = django_filters.BooleanFilter()

    class Meta:
        model = Gate
        fields = ["release", "phase", "status", "kind", "required"]


class RollbackStepFilter(django_filters.FilterSet):
    release = IdFilter(field_name="release_id")
    action = django_filters.ChoiceFilter(choices=RollbackAction.choices)

    class Meta:
        model = RollbackStep
        fields = ["release", "action"]


class RollbackRunFilter(django_filters.FilterSet):
    release = IdFilter(field_name="release_id")
    status = django_filters.ChoiceFilter(choices=RollbackRun.Status.choices)

    class Meta:
        model = RollbackRun
        fields = ["release", "status"]


class EventFilter(django_filters.FilterSet):
    release = IdFilter(field_name="release_id")
    verb = django_filters.CharFilter(max_length=60, help_text="An exact verb, such as phase.advanced.")
    verb_prefix = django_filters.CharFilter(
        field_name="verb", lookup_expr="startswith", max_length=60, help_text="Such as rollback. or gate."
    )
    actor = IdFilter(field_name="actor_id", help_text="A user id.")
    phase = IdFilter(field_name="phase_id")
    gate = IdFilter(field_name="gate_id")
    since = TimeFilter(field_name="created_at", lookup_expr="gte")
    until = TimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Event
        fields = ["release", "verb", "actor", "phase", "gate"]


class WebhookSubscriptionFilter(django_filters.FilterSet):
    release = IdFilter(field_name="release_id")
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = WebhookSubscription
        fields = ["release", "is_active"]


class WebhookDeliveryFilter(django_filters.FilterSet):
    subscription = IdFilter(field_name="subscription_id")
    status = django_filters.ChoiceFilter(choices=WebhookDelivery.Status.choices)
    release = IdFilter(field_name="event__release_id")
    verb = django_filters.CharFilter(field_name="event__verb", max_length=60)

    class Meta:
        model = WebhookDelivery
        fields = ["subscription", "status", "release", "verb"]
