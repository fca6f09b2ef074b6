"""Query-string filters of the comms API lists."""

import django_filters
from django.db.models import Q

from comms.models import Audience, Channel, CommunicationPlan, Message, Notice, Stakeholder, Trigger
from rollouts.api.filters import IdFilter, TimeFilter


class AudienceFilter(django_filters.FilterSet):
    support_digest = django_filters.BooleanFilter()
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", max_length=120)

    class Meta:
        model = Audience
        fields = ["support_digest"]


class StakeholderFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", max_length=100, help_text="Search email, name, organisation.")
    audience = IdFilter(field_name="memberships__audience_id", help_text="Members of this audience.")
    opted_out = django_filters.BooleanFilter(field_name="opted_out_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Stakeholder
        fields = ["audience"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(email__icontains=value) | Q(name__icontains=value) | Q(organisation__icontains=value))


class CommunicationPlanFilter(django_filters.FilterSet):
    release = IdFilter(field_name="release_id")

    class Meta:
        model = CommunicationPlan
        fields = ["release"]


class MessageFilter(django_filters.FilterSet):
    release = IdFilter(field_name="plan__release_id")
    plan = IdFilter(field_name="plan_id")
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    trigger = django_filters.ChoiceFilter(choices=Trigger.choices)
    phase = IdFilter(field_name="phase_id")

    class Meta:
        model = Message
        fields = ["release", "plan", "channel", "trigger", "phase"]


class NoticeFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Notice.Status.choices)
    message = IdFilter(field_name="message_id")
    release = IdFilter(field_name="message__plan__release_id")
    stakeholder = IdFilter(field_name="stakeholder_id")
    recipient = django_filters.CharFilter(lookup_expr="iexact", max_length=254)
    due_after = TimeFilter(field_name="due_at", lookup_expr="gte")
    due_before = TimeFilter(field_name="due_at", lookup_expr="lt")

    class Meta:
        model = Notice
        fields = ["status", "message", "release", "stakeholder", "recipient"]
