"""Doc pages over the API: read what the reader may read; release managers write, publish
and link, through docs_portal/services.py, checked by the page editor's form.

What a reader gets goes through docs_portal.selectors.readable_pages, as on the pages: a
page the reader may not read answers 404, the same as one that does not exist.
"""

import re

import django_filters
from django.conf import settings
from django.db.models import Prefetch
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from docs_portal import permissions, selectors, services
from docs_portal.forms import DocPageForm
from docs_portal.models import DocLink, DocPage, DocStatus, PublishRule, Visibility
from rollouts.api.base import (
    ACTION_ERRORS,
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
from rollouts.models import ApiScope

EDITORS_ONLY = "Only release managers write, publish and link doc pages."
SLUG = re.compile(r"[-a-zA-Z0-9_]{1,120}")
PAGE_ID = OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The page's id, or its slug.")
LINK_ID = OpenApiParameter("link_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="A link's id.")


class DocLinkSerializer(serializers.ModelSerializer):
    release_slug = serializers.CharField(source="release.slug", read_only=True)
    phase_name = serializers.CharField(source="phase.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = DocLink
        fields = ["id", "release", "release_slug", "phase", "phase_name", "created_at"]
        read_only_fields = fields


class DocPageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = DocPage
        fields = ["id", "slug", "title", "visibility", "status", "publish_rule", "published_at"]
        fields += ["created_at", "updated_at", "url"]
        read_only_fields = fields

    def get_url(self, page) -> str:
        return f"{settings.SITE_URL}/docs/{page.slug}/"


class DocPageDetailSerializer(DocPageSerializer):
    links = DocLinkSerializer(many=True, read_only=True)

    class Meta(DocPageSerializer.Meta):
        fields = [*DocPageSerializer.Meta.fields, "body", "links"]
        read_only_fields = fields


class DocPageWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=120, required=False, allow_blank=True, help_text="Create only.")
    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, help_text="Markdown.")
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    publish_rule = serializers.ChoiceField(choices=PublishRule.choices, required=False)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, help_text="What changed.")
    base_revision = IdField(
        required=False,
        allow_null=True,
        help_text="Edit only: the revision you started from; refused (409) if someone saved since.",
    )


class DocLinkWriteSerializer(serializers.Serializer):
    release = IdField()
    phase = IdField(required=False, allow_null=True)


class DocFilter(django_filters.FilterSet):
    visibility = django_filters.ChoiceFilter(choices=Visibility.choices)
    status = django_filters.ChoiceFilter(choices=DocStatus.choices)
    release = IdFilter(field_name="links__release_id", distinct=True, help_text="Pages linked to this release.")
    q = django_filters.CharFilter(field_name="title", lookup_expr="icontains", max_length=200)

    class Meta:
        model = DocPage
        fields = ["visibility", "status"]


@extend_schema(tags=["docs"])
@extend_schema_view(
    list=extend_schema(
        summary="List doc pages you may read",
        description="Public and support pages for every role, internal pages for release managers and approvers, "
        "drafts for release managers. Filter by `visibility`, `status`, `release`, `q` (title).",
        responses={200: DocPageSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="A doc page with its Markdown and release links",
        responses={200: DocPageDetailSerializer, **READ_ERRORS},
        parameters=[PAGE_ID],
    ),
    create=extend_schema(
        summary="Write a new draft page",
        description="Checked as the page editor checks it. Needs the `write` scope and the release manager role.",
        request=DocPageWriteSerializer,
        responses={201: DocPageDetailSerializer, **CREATE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "A how-to",
                value={"title": "New checkout: what changes", "body": "# What changes\n…", "visibility": "public"},
                request_only=True,
            )
        ],
    ),
    partial_update=extend_schema(
        summary="Save a new revision of a page",
        request=DocPageWriteSerializer,
        responses={200: DocPageDetailSerializer, **WRITE_ERRORS},
        parameters=[PAGE_ID],
    ),
    update=extend_schema(
        summary="Save a new revision of a page (every field)",
        request=DocPageWriteSerializer,
        responses={200: DocPageDetailSerializer, **WRITE_ERRORS},
        parameters=[PAGE_ID],
    ),
    destroy=extend_schema(
        summary="Delete a page and its history",
        responses={204: None, **WRITE_ERRORS},
        parameters=[PAGE_ID],
    ),
)
class DocPageViewSet(FlightdeckViewSet):
    queryset = DocPage.objects.none()
    serializer_class = DocPageSerializer
    filterset_class = DocFilter
    lookup_value_regex = r"[^/]+"
    ordering_fields = ["title", "updated_at", "published_at", "id"]
    ordering = ["title", "id"]
    action_scopes = {"publish": ApiScope.ACT, "unpublish": ApiScope.ACT}

    def get_queryset(self):
        pages = selectors.readable_pages(self.request.user)
        if self.action != "list":
            pages = pages.prefetch_related(
                Prefetch("links", queryset=DocLink.objects.select_related("release", "phase").order_by("id"))
            )
        return pages

    def get_object(self) -> DocPage:
        value = str(self.kwargs["pk"])
        pages = self.get_queryset()
        if NUMERIC_ID.fullmatch(value):
            page = pages.filter(pk=int(value)).first()
        elif SLUG.fullmatch(value):
            page = pages.filter(slug=value).first()
        else:
            page = None
        if page is None:
            raise Http404("No such page.")
        return page

    def handle_exception(self, exc):
        if isinstance(exc, services.DocsError):
            code = "already_done" if isinstance(exc, services.AlreadyDone) else "conflict"
            exc = Conflict(exc.message, code)
        return super().handle_exception(exc)

    def _editor(self) -> None:
        self.require(permissions.can_edit_docs(self.request.user), EDITORS_ONLY)

    def _one(self, page_id: int, http_status=status.HTTP_200_OK) -> Response:
        page = DocPage.objects.prefetch_related(
            Prefetch("links", queryset=DocLink.objects.select_related("release", "phase").order_by("id"))
        ).get(pk=page_id)
        return Response(DocPageDetailSerializer(page, context=self.get_serializer_context()).data, http_status)

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(DocPageSerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(DocPageDetailSerializer(self.get_object(), context=self.get_serializer_context()).data)

    @idempotent
    def create(self, request):
        self._editor()
        data = self.validated(DocPageWriteSerializer, request.data)
        form_data = {"visibility": Visibility.SUPPORT, "publish_rule": PublishRule.MANUAL, **data}
        cleaned = clean_with(DocPageForm, form_data)
        page = services.page_create(
            actor=request.user,
            slug=cleaned["slug"],
            title=cleaned["title"],
            body=cleaned["body"],
            visibility=cleaned["visibility"],
            publish_rule=cleaned["publish_rule"],
            note=cleaned["note"],
        )
        return self._one(page.pk, status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        page = self.get_object()
        self._editor()
        data = self.validated(DocPageWriteSerializer, request.data, partial=partial)
        data.pop("slug", None)
        current = {"title": page.title, "body": page.body, "visibility": page.visibility}
        current["publish_rule"] = page.publish_rule
        cleaned = clean_with(DocPageForm, {**current, **data}, page=page)
        services.page_update(
            page_id=page.pk,
            actor=request.user,
            title=cleaned["title"],
            body=cleaned["body"],
            visibility=cleaned["visibility"],
            publish_rule=cleaned["publish_rule"],
            note=cleaned["note"],
            base_revision=cleaned.get("base_revision"),
        )
        return self._one(page.pk)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        page = self.get_object()
        self._editor()
        services.page_delete(page_id=page.pk, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Publish a draft page",
        description="Readers of its visibility see it from now on; the linked releases' timelines say so. "
        "Needs the `act` scope.",
        request=None,
        responses={200: DocPageDetailSerializer, **ACTION_ERRORS},
        parameters=[PAGE_ID, IDEMPOTENCY_KEY],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def publish(self, request, pk=None):
        page = self.get_object()
        self._editor()
        services.page_publish(page_id=page.pk, actor=request.user)
        return self._one(page.pk)

    @extend_schema(
        summary="Make a published page a draft again",
        request=None,
        responses={200: DocPageDetailSerializer, **ACTION_ERRORS},
        parameters=[PAGE_ID, IDEMPOTENCY_KEY],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def unpublish(self, request, pk=None):
        page = self.get_object()
        self._editor()
        services.page_unpublish(page_id=page.pk, actor=request.user)
        return self._one(page.pk)

    @extend_schema(
        summary="Link the page to a release (or one of its phases)",
        description="A phase link serves the “when a linked phase starts” publish rule and the phase's "
        "docs-readiness gate. Needs the `write` scope.",
        request=DocLinkWriteSerializer,
        responses={201: DocPageDetailSerializer, **WRITE_ERRORS},
        parameters=[PAGE_ID],
        examples=[OpenApiExample("To a phase", value={"release": 7, "phase": 31}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    def links(self, request, pk=None):
        page = self.get_object()
        self._editor()
        data = self.validated(DocLinkWriteSerializer, request.data)
        services.link_add(page_id=page.pk, release_id=data["release"], phase_id=data.get("phase"), actor=request.user)
        return self._one(page.pk, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Remove a link between the page and a release",
        request=None,
        responses={204: None, **WRITE_ERRORS},
        parameters=[PAGE_ID, LINK_ID],
    )
    @action(detail=True, methods=["delete"], url_path=r"links/(?P<link_id>[0-9]{1,18})")
    def unlink(self, request, pk=None, link_id=None):
        page = self.get_object()
        self._editor()
        if not DocLink.objects.filter(pk=int(link_id), page=page).exists():
            raise Http404("No such link on this page.")
        services.link_remove(link_id=int(link_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
