"""The support briefing and release notes over the API, through docs_portal/briefing_services.py
and docs_portal/services.py, checked by the pages' forms.

As on the briefing pages, anyone with a Flightdeck role reads, adds and updates known issues;
release managers write the FAQ. Release notes are read by any role and written by release
managers, as on the release notes page. The services record the Events.
"""

import django_filters
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from docs_portal import briefing_services, permissions, services
from docs_portal.briefing_forms import FaqForm, KnownIssueForm
from docs_portal.forms import ReleaseNotesForm
from docs_portal.models import FaqEntry, KnownIssue, KnownIssueStatus, ReleaseNotes
from rollouts import permissions as rollout_permissions
from rollouts.api.base import (
    CREATE_ERRORS,
    LIST_ERRORS,
    NUMERIC_ID,
    READ_ERRORS,
    WRITE_ERRORS,
    FlightdeckViewSet,
    clean_with,
)
from rollouts.api.errors import Conflict
from rollouts.api.filters import IdFilter
from rollouts.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from rollouts.api.idempotency import idempotent
from rollouts.api.serializers import IdField
from rollouts.models import Release

FAQ_EDITORS_ONLY = "Only release managers edit the FAQ of a briefing."
NOTES_EDITORS_ONLY = "Only release managers edit release notes."
ISSUE_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The known issue's id.")
ENTRY_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The FAQ entry's id.")
RELEASE_ID = OpenApiParameter(
    "id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The release's id, or its slug."
)


def _release_exists(release_id: int) -> None:
    if not Release.objects.filter(pk=release_id).exists():
        raise exceptions.ValidationError({"release": ["No such release."]})


# --- Known issues -----------------------------------------------------------------------


class KnownIssueSerializer(serializers.ModelSerializer):
    release_slug = serializers.CharField(source="release.slug", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = KnownIssue
        fields = ["id", "release", "release_slug", "title", "description", "workaround", "status", "status_label"]
        fields += ["created_at", "updated_at"]
        read_only_fields = fields


class KnownIssueWriteSerializer(serializers.Serializer):
    release = IdField(help_text="Create only: the release the issue belongs to.")
    title = serializers.CharField(max_length=briefing_services.TITLE_MAX)
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=briefing_services.TEXT_MAX, help_text="Markdown."
    )
    workaround = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=briefing_services.TEXT_MAX,
        help_text="Markdown; needed when the status is `workaround`.",
    )
    status = serializers.ChoiceField(choices=KnownIssueStatus.choices, required=False)


class KnownIssueUpdateSerializer(KnownIssueWriteSerializer):
    release = None


class KnownIssueFilter(django_filters.FilterSet):
    release = IdFilter(field_name="release_id", help_text="Issues of this release.")
    status = django_filters.MultipleChoiceFilter(
        choices=KnownIssueStatus.choices,
        help_text="One or more statuses, e.g. ?status=investigating&status=workaround.",
    )

    class Meta:
        model = KnownIssue
        fields = ["release", "status"]


@extend_schema(tags=["briefings"])
@extend_schema_view(
    list=extend_schema(
        summary="List known issues",
        description="Known issues of every release's support briefing, newest first. Filter by `release` and "
        "`status`; order by `created_at`, `updated_at`, `status`, `title`.",
        responses={200: KnownIssueSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="A known issue",
        responses={200: KnownIssueSerializer, **READ_ERRORS},
        parameters=[ISSUE_ID],
    ),
    create=extend_schema(
        summary="Add a known issue to a release's briefing",
        description="Any Flightdeck role may, as on the briefing page; the release's timeline records it. "
        "Needs the `write` scope. A `workaround` status needs a workaround.",
        request=KnownIssueWriteSerializer,
        responses={201: KnownIssueSerializer, **CREATE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "Saved cards missing",
                value={
                    "release": 7,
                    "title": "Saved cards missing at checkout",
                    "description": "Some customers on iOS see no saved cards.",
                    "workaround": "Ask them to add the card again.",
                    "status": "workaround",
                },
                request_only=True,
            )
        ],
    ),
    partial_update=extend_schema(
        summary="Update a known issue",
        description="Fields left out stay as they are; the release's timeline records what changed. "
        "Any Flightdeck role may. Needs the `write` scope.",
        request=KnownIssueUpdateSerializer,
        responses={200: KnownIssueSerializer, **WRITE_ERRORS},
        parameters=[ISSUE_ID],
        examples=[OpenApiExample("Fixed", value={"status": "fixed"}, request_only=True)],
    ),
)
class KnownIssueViewSet(FlightdeckViewSet):
    queryset = KnownIssue.objects.none()
    serializer_class = KnownIssueSerializer
    filterset_class = KnownIssueFilter
    lookup_value_regex = r"[0-9]{1,18}"
    ordering_fields = ["created_at", "updated_at", "status", "title", "id"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        return KnownIssue.objects.select_related("release")

    def _one(self, issue_id: int, http_status=status.HTTP_200_OK) -> Response:
        issue = self.get_queryset().get(pk=issue_id)
        return Response(KnownIssueSerializer(issue).data, http_status)

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(KnownIssueSerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(KnownIssueSerializer(self.get_object()).data)

    @idempotent
    def create(self, request):
        data = self.validated(KnownIssueWriteSerializer, request.data)
        release_id = data.pop("release")
        cleaned = clean_with(KnownIssueForm, {"status": KnownIssueStatus.INVESTIGATING, **data})
        _release_exists(release_id)
        issue = briefing_services.known_issue_create(actor=request.user, release_id=release_id, **cleaned)
        return self._one(issue.pk, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        issue = self.get_object()
        data = self.validated(KnownIssueUpdateSerializer, request.data, partial=True)
        current = {name: getattr(issue, name) for name in briefing_services.KNOWN_ISSUE_FIELDS}
        clean_with(KnownIssueForm, {**current, **data})
        briefing_services.known_issue_update(actor=request.user, issue_id=issue.pk, **data)
        return self._one(issue.pk)


# --- FAQ --------------------------------------------------------------------------------


class FaqEntrySerializer(serializers.ModelSerializer):
    release_slug = serializers.CharField(source="release.slug", read_only=True)

    class Meta:
        model = FaqEntry
        fields = ["id", "release", "release_slug", "position", "question", "answer", "updated_at"]
        read_only_fields = fields


class FaqWriteSerializer(serializers.Serializer):
    release = IdField(help_text="Create only: the release whose briefing gets the entry.")
    question = serializers.CharField(max_length=briefing_services.QUESTION_MAX)
    answer = serializers.CharField(max_length=briefing_services.TEXT_MAX, help_text="Markdown.")


class FaqUpdateSerializer(FaqWriteSerializer):
    release = None


class FaqFilter(django_filters.FilterSet):
    release = IdFilter(field_name="release_id", help_text="Entries of this release.")

    class Meta:
        model = FaqEntry
        fields = ["release"]


@extend_schema(tags=["briefings"])
@extend_schema_view(
    list=extend_schema(
        summary="List FAQ entries",
        description="Questions and answers of the support briefings, in their order. Filter by `release`.",
        responses={200: FaqEntrySerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="A FAQ entry",
        responses={200: FaqEntrySerializer, **READ_ERRORS},
        parameters=[ENTRY_ID],
    ),
    create=extend_schema(
        summary="Add a question to a release's briefing",
        description="Release managers only, as on the briefing page; it goes last. Needs the `write` scope.",
        request=FaqWriteSerializer,
        responses={201: FaqEntrySerializer, **CREATE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "Saved cards",
                value={
                    "release": 7,
                    "question": "Why did my saved card disappear?",
                    "answer": "Add it again; it is kept from then on.",
                },
                request_only=True,
            )
        ],
    ),
    update=extend_schema(
        summary="Rewrite a FAQ entry (question and answer)",
        request=FaqUpdateSerializer,
        responses={200: FaqEntrySerializer, **WRITE_ERRORS},
        parameters=[ENTRY_ID],
    ),
    partial_update=extend_schema(
        summary="Edit a FAQ entry",
        description="Release managers only. Fields left out stay as they are.",
        request=FaqUpdateSerializer,
        responses={200: FaqEntrySerializer, **WRITE_ERRORS},
        parameters=[ENTRY_ID],
        examples=[OpenApiExample("A better answer", value={"answer": "Add it again."}, request_only=True)],
    ),
    destroy=extend_schema(
        summary="Remove a FAQ entry",
        description="Release managers only.",
        responses={204: None, **WRITE_ERRORS},
        parameters=[ENTRY_ID],
    ),
)
class FaqEntryViewSet(FlightdeckViewSet):
    queryset = FaqEntry.objects.none()
    serializer_class = FaqEntrySerializer
    filterset_class = FaqFilter
    lookup_value_regex = r"[0-9]{1,18}"
    ordering_fields = ["position", "updated_at", "id"]
    ordering = ["release_id", "position", "id"]

    def get_queryset(self):
        return FaqEntry.objects.select_related("release")

    def _editor(self) -> None:
        self.require(rollout_permissions.can_plan(self.request.user), FAQ_EDITORS_ONLY)

    def _one(self, entry_id: int, http_status=status.HTTP_200_OK) -> Response:
        return Response(FaqEntrySerializer(self.get_queryset().get(pk=entry_id)).data, http_status)

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(FaqEntrySerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(FaqEntrySerializer(self.get_object()).data)

    @idempotent
    def create(self, request):
        self._editor()
        data = self.validated(FaqWriteSerializer, request.data)
        release_id = data.pop("release")
        cleaned = clean_with(FaqForm, data)
        _release_exists(release_id)
        entry = briefing_services.faq_create(actor=request.user, release_id=release_id, **cleaned)
        return self._one(entry.pk, status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        entry = self.get_object()
        self._editor()
        data = self.validated(FaqUpdateSerializer, request.data, partial=partial)
        cleaned = clean_with(FaqForm, {"question": entry.question, "answer": entry.answer, **data})
        briefing_services.faq_update(actor=request.user, entry_id=entry.pk, **cleaned)
        return self._one(entry.pk)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        entry = self.get_object()
        self._editor()
        briefing_services.faq_delete(actor=request.user, entry_id=entry.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Release notes ----------------------------------------------------------------------


class ReleaseNotesSerializer(serializers.Serializer):
    release = serializers.IntegerField(source="release.pk")
    release_slug = serializers.CharField(source="release.slug")
    body = serializers.CharField(help_text="Markdown: what users read on the public changelog.")
    visible_from_phase = serializers.IntegerField(
        source="visible_from_phase_id",
        allow_null=True,
        help_text="Shown on the changelog once this phase starts; null: once the release completes.",
    )
    updated_at = serializers.DateTimeField(allow_null=True, help_text="Null while the release has no notes yet.")


class ReleaseNotesWriteSerializer(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text="Markdown.")
    visible_from_phase = IdField(
        required=False,
        allow_null=True,
        help_text="A phase of this release: shown from when it starts; null or left out: once the release completes.",
    )


@extend_schema(tags=["docs"])
@extend_schema_view(
    retrieve=extend_schema(
        summary="A release's notes",
        description="What the public changelog shows for the release, and from when. Any Flightdeck role "
        "reads them; a release without notes answers an empty body.",
        responses={200: ReleaseNotesSerializer, **READ_ERRORS},
        parameters=[RELEASE_ID],
    ),
    update=extend_schema(
        summary="Write a release's notes",
        description="Release managers only, as on the release notes page; the release's timeline records "
        "it. Saving what is there changes nothing. Needs the `write` scope.",
        request=ReleaseNotesWriteSerializer,
        responses={200: ReleaseNotesSerializer, **WRITE_ERRORS},
        parameters=[RELEASE_ID],
        examples=[
            OpenApiExample(
                "From the 10% phase",
                value={"body": "## New checkout\nSaved cards, faster.", "visible_from_phase": 31},
                request_only=True,
            )
        ],
    ),
)
class ReleaseNotesViewSet(FlightdeckViewSet):
    queryset = Release.objects.none()
    serializer_class = ReleaseNotesSerializer
    lookup_value_regex = r"[^/]+"
    filter_backends: list = []
    pagination_class = None

    def get_object(self) -> Release:
        value = str(self.kwargs["pk"])
        releases = Release.objects.only("pk", "slug")
        if NUMERIC_ID.fullmatch(value):
            release = releases.filter(pk=int(value)).first()
        elif len(value) <= 80:
            release = releases.filter(slug=value).first()
        else:
            release = None
        if release is None:
            raise Http404("No such release.")
        return release

    def handle_exception(self, exc):
        if isinstance(exc, services.DocsError):
            exc = Conflict(exc.message, "conflict")
        return super().handle_exception(exc)

    def _answer(self, release: Release) -> Response:
        notes = ReleaseNotes.objects.filter(release=release).first()
        if notes is None:
            data = {"release": release.pk, "release_slug": release.slug, "body": "", "visible_from_phase": None}
            data["updated_at"] = None
            return Response(data)
        notes.release = release
        return Response(ReleaseNotesSerializer(notes).data)

    def retrieve(self, request, pk=None):
        return self._answer(self.get_object())

    def update(self, request, pk=None):
        release = self.get_object()
        self.require(permissions.can_edit_docs(request.user), NOTES_EDITORS_ONLY)
        data = self.validated(ReleaseNotesWriteSerializer, request.data)
        phase = data.get("visible_from_phase")
        cleaned = clean_with(
            ReleaseNotesForm, {"body": data["body"], "visible_from_phase": phase or ""}, release=release
        )
        chosen = cleaned["visible_from_phase"]
        services.release_notes_save(
            release_id=release.pk,
            actor=request.user,
            body=cleaned["body"],
            visible_from_phase_id=chosen.pk if chosen else None,
        )
        return self._answer(release)
