"""Feature flags and segments over the API, through flags/services.py (which also validates),
decided by flags/permissions.py: every role reads, release managers change and kill."""

import re

import django_filters
from django.conf import settings
from django.db.models import Count, Prefetch
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from flags import permissions, selectors, services
from flags.models import Flag, FlagType, Segment
from rollouts.api.base import (
    ACTION_ERRORS,
    CREATE_ERRORS,
    LIST_ERRORS,
    NUMERIC_ID,
    READ_ERRORS,
    WRITE_ERRORS,
    FlightdeckViewSet,
)
from rollouts.api.errors import Conflict
from rollouts.api.filters import IdFilter
from rollouts.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from rollouts.api.idempotency import idempotent
from rollouts.api.serializers import IdField
from rollouts.models import FINISHED_STATUSES, ApiScope, Release

MANAGERS_ONLY = "Only release managers create and change flags and segments."
KEY = re.compile(r"[-a-zA-Z0-9_]{1,100}")
FLAG_ID = OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The flag's id, or its key.")


class FlagSerializer(serializers.ModelSerializer):
    release_slug = serializers.CharField(source="release.slug", read_only=True, allow_null=True, default=None)
    killed = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Flag
        fields = ["id", "key", "name", "description", "type", "variants", "on_variant", "off_variant", "release"]
        fields += ["release_slug", "fixed_exposure", "segments", "killed", "killed_at", "kill_reason"]
        fields += ["created_at", "updated_at", "url"]
        read_only_fields = fields

    def get_killed(self, flag) -> bool:
        return flag.is_killed

    def get_url(self, flag) -> str:
        return settings.SITE_URL + flag.get_absolute_url()


class EnvironmentStateSerializer(serializers.Serializer):
    environment = serializers.CharField()
    state = serializers.ChoiceField(choices=["off", "on", "partial", "error"])
    summary = serializers.CharField()
    phase = serializers.CharField()
    exposure = serializers.IntegerField()
    segments = serializers.ListField(child=serializers.CharField())


class FlagDetailSerializer(FlagSerializer):
    environments = serializers.SerializerMethodField(help_text="What the flag answers now, per environment.")

    class Meta(FlagSerializer.Meta):
        fields = [*FlagSerializer.Meta.fields, "environments"]
        read_only_fields = fields

    def get_environments(self, flag) -> list[dict]:
        states = selectors.environment_states(flag.key)
        return EnvironmentStateSerializer(states, many=True).data


class FlagWriteSerializer(serializers.Serializer):
    key = serializers.SlugField(max_length=100, help_text="Create only: what applications ask for.")
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    type = serializers.ChoiceField(choices=FlagType.choices, required=False)
    variants = serializers.DictField(help_text='Variant name → value of the flag\'s type: {"on": true, "off": false}.')
    on_variant = serializers.CharField(max_length=64)
    off_variant = serializers.CharField(max_length=64)
    release = IdField(
        required=False, allow_null=True, help_text="The release whose phases the exposure follows (not finished)."
    )
    fixed_exposure = serializers.IntegerField(required=False, min_value=0, max_value=100)
    segments = serializers.ListField(child=IdField(), required=False)


class FlagUpdateSerializer(FlagWriteSerializer):
    key = None


class KillSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class SegmentSerializer(serializers.ModelSerializer):
    flag_count = serializers.IntegerField(read_only=True)
    phase_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Segment
        fields = ["id", "key", "name", "description", "targeting_keys", "rules", "flag_count", "phase_count"]
        fields += ["created_at", "updated_at"]
        read_only_fields = fields


class SegmentWriteSerializer(serializers.Serializer):
    key = serializers.SlugField(max_length=100, help_text="Create only.")
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    targeting_keys = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    rules = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='Attribute rules that must all hold: [{"attribute", "operator", "values"}].',
    )


class SegmentUpdateSerializer(SegmentWriteSerializer):
    key = None


class FlagFilter(django_filters.FilterSet):
    release = IdFilter(field_name="release_id")
    type = django_filters.ChoiceFilter(choices=FlagType.choices)
    killed = django_filters.BooleanFilter(field_name="killed_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Flag
        fields = ["release", "type"]


class ManagedViewSet(FlightdeckViewSet):
    def _manager(self) -> None:
        self.require(permissions.can_manage_flags(self.request.user), MANAGERS_ONLY)


def _release_of(release_id) -> Release | None:
    if release_id is None:
        return None
    release = Release.objects.filter(pk=release_id).exclude(status__in=FINISHED_STATUSES).first()
    if release is None:
        raise serializers.ValidationError({"release": ["Choose a release that is not finished."]})
    return release


def _segments_of(ids) -> list[Segment]:
    segments = list(Segment.objects.filter(pk__in=ids))
    if len(segments) != len(set(ids)):
        raise serializers.ValidationError({"segments": ["One of the chosen segments does not exist."]})
    return segments


@extend_schema(tags=["flags"])
@extend_schema_view(
    list=extend_schema(
        summary="List feature flags",
        description="Filter by `release`, `type`, `killed`. Evaluate flags with OFREP at /ofrep/v1/.",
        responses={200: FlagSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="A flag and what it answers now in each environment",
        responses={200: FlagDetailSerializer, **READ_ERRORS},
        parameters=[FLAG_ID],
    ),
    create=extend_schema(
        summary="Create a flag",
        description="Checked by the same rules as the flag form (variants fit the type, on and off differ). "
        "Needs the `write` scope.",
        request=FlagWriteSerializer,
        responses={201: FlagDetailSerializer, **CREATE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "Follows a release",
                value={
                    "key": "new-checkout",
                    "name": "New checkout",
                    "type": "boolean",
                    "variants": {"on": True, "off": False},
                    "on_variant": "on",
                    "off_variant": "off",
                    "release": 7,
                },
                request_only=True,
            )
        ],
    ),
    partial_update=extend_schema(
        summary="Change some of a flag",
        request=FlagUpdateSerializer,
        responses={200: FlagDetailSerializer, **WRITE_ERRORS},
        parameters=[FLAG_ID],
    ),
    update=extend_schema(
        summary="Change a flag",
        request=FlagUpdateSerializer,
        responses={200: FlagDetailSerializer, **WRITE_ERRORS},
        parameters=[FLAG_ID],
    ),
)
class FlagViewSet(mixins.ListModelMixin, ManagedViewSet):
    queryset = Flag.objects.all()
    serializer_class = FlagSerializer
    filterset_class = FlagFilter
    lookup_value_regex = r"[^/]+"
    ordering_fields = ["key", "created_at", "updated_at", "id"]
    ordering = ["key"]
    action_scopes = {"kill": ApiScope.ACT, "restore": ApiScope.ACT}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.require(permissions.can_read_flags(request.user), "Your role does not read flags.")

    def get_queryset(self):
        return Flag.objects.select_related("release").prefetch_related(
            Prefetch("segments", queryset=Segment.objects.only("pk"))
        )

    def get_object(self) -> Flag:
        value = str(self.kwargs["pk"])
        flags = self.get_queryset()
        if NUMERIC_ID.fullmatch(value):
            flag = flags.filter(pk=int(value)).first()
        elif KEY.fullmatch(value):
            flag = flags.filter(key=value).first()
        else:
            flag = None
        if flag is None:
            raise Http404("No such flag.")
        return flag

    def _one(self, flag_id: int, http_status=status.HTTP_200_OK) -> Response:
        flag = self.get_queryset().get(pk=flag_id)
        return Response(FlagDetailSerializer(flag, context=self.get_serializer_context()).data, http_status)

    def retrieve(self, request, pk=None):
        return self._one(self.get_object().pk)

    @idempotent
    def create(self, request):
        self._manager()
        data = self.validated(FlagWriteSerializer, request.data)
        problem = services.key_problem(data["key"])
        if problem:
            raise serializers.ValidationError({"key": [problem]})
        flag = services.flag_create(
            actor=request.user,
            key=data["key"],
            name=data["name"],
            description=data.get("description", ""),
            type=data.get("type", FlagType.BOOLEAN),
            variants=data["variants"],
            on_variant=data["on_variant"],
            off_variant=data["off_variant"],
            release=_release_of(data.get("release")),
            fixed_exposure=data.get("fixed_exposure", 0),
            segments=_segments_of(data.get("segments", [])),
        )
        return self._one(flag.pk, status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        flag = self.get_object()
        self._manager()
        data = self.validated(FlagUpdateSerializer, request.data, partial=partial)
        segments = _segments_of(data.pop("segments")) if "segments" in data else None
        if "release" in data and data["release"] != flag.release_id:
            data["release"] = _release_of(data["release"])
        elif "release" in data:
            data["release"] = flag.release
        services.flag_update(flag_id=flag.pk, actor=request.user, segments=segments, **data)
        return self._one(flag.pk)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    @extend_schema(
        summary="Kill switch: serve the off variant everywhere",
        description="Every evaluation answers the off variant until the flag is restored. Needs the `act` scope.",
        request=KillSerializer,
        responses={200: FlagDetailSerializer, **ACTION_ERRORS},
        parameters=[FLAG_ID, IDEMPOTENCY_KEY],
        examples=[OpenApiExample("Incident", value={"reason": "Checkout errors at 5%"}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def kill(self, request, pk=None):
        flag = self.get_object()
        self._manager()
        data = self.validated(KillSerializer, request.data)
        if not services.flag_kill(flag_id=flag.pk, actor=request.user, reason=data.get("reason", "")):
            raise Conflict(f"Flag “{flag.key}” is already killed.", "already_done")
        return self._one(flag.pk)

    @extend_schema(
        summary="Turn the kill switch off: the flag follows its rollout again",
        request=KillSerializer,
        responses={200: FlagDetailSerializer, **ACTION_ERRORS},
        parameters=[FLAG_ID, IDEMPOTENCY_KEY],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def restore(self, request, pk=None):
        flag = self.get_object()
        self._manager()
        data = self.validated(KillSerializer, request.data)
        if not services.flag_restore(flag_id=flag.pk, actor=request.user, reason=data.get("reason", "")):
            raise Conflict(f"Flag “{flag.key}” is not killed.", "already_done")
        return self._one(flag.pk)


@extend_schema(tags=["flags"])
@extend_schema_view(
    list=extend_schema(summary="List segments", responses={200: SegmentSerializer(many=True), **LIST_ERRORS}),
    retrieve=extend_schema(summary="A segment", responses={200: SegmentSerializer, **READ_ERRORS}),
    create=extend_schema(
        summary="Create a segment",
        description="Listed targeting keys, attribute rules, or both. Needs the `write` scope.",
        request=SegmentWriteSerializer,
        responses={201: SegmentSerializer, **CREATE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "Beta testers",
                value={"key": "beta-testers", "name": "Beta testers", "targeting_keys": ["user-17", "user-42"]},
                request_only=True,
            )
        ],
    ),
    partial_update=extend_schema(
        summary="Change some of a segment",
        request=SegmentUpdateSerializer,
        responses={200: SegmentSerializer, **WRITE_ERRORS},
    ),
    update=extend_schema(
        summary="Change a segment", request=SegmentUpdateSerializer, responses={200: SegmentSerializer, **WRITE_ERRORS}
    ),
    destroy=extend_schema(summary="Remove a segment", responses={204: None, **WRITE_ERRORS}),
)
class SegmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ManagedViewSet):
    queryset = Segment.objects.all()
    serializer_class = SegmentSerializer
    lookup_value_regex = r"[0-9]{1,18}"
    ordering_fields = ["name", "key", "id"]
    ordering = ["name", "id"]

    def get_queryset(self):
        return Segment.objects.annotate(
            flag_count=Count("flags", distinct=True), phase_count=Count("phases", distinct=True)
        )

    def _one(self, segment_id: int, http_status=status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=segment_id)).data, http_status)

    @idempotent
    def create(self, request):
        self._manager()
        data = self.validated(SegmentWriteSerializer, request.data)
        segment = services.segment_create(actor=request.user, **data)
        return self._one(segment.pk, status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        segment = self.get_object()
        self._manager()
        data = self.validated(SegmentUpdateSerializer, request.data, partial=partial)
        services.segment_update(segment_id=segment.pk, actor=request.user, **data)
        return self._one(segment.pk)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        segment = self.get_object()
        self._manager()
        services.segment_remove(segment_id=segment.pk, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
