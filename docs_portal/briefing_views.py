"""The support briefing of a release and the index of briefings. Thin: the selectors read,
the services write, rollouts.permissions decides.

Anyone with a Flightdeck role reads briefings and adds or updates known issues; release
managers edit the FAQ. The briefing polls with the version it shows and swaps itself in
place when something changed (204 otherwise), never while the reader is typing.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from docs_portal import briefing_selectors as selectors
from docs_portal import briefing_services as services
from docs_portal.briefing_forms import FaqForm, KnownIssueForm
from docs_portal.models import FaqEntry, KnownIssue
from rollouts import permissions
from rollouts.models import Release
from rollouts.views import reader_required, see_other

BODY = "docs_portal/briefings/detail.html#body"


def _release_or_404(slug: str) -> Release:
    release = Release.objects.filter(slug=slug).only("pk", "slug", "name", "version", "status").first()
    if release is None:
        raise Http404("No such release.")
    return release


def _render_briefing(request: HttpRequest, slug: str, *, partial: bool | None = None) -> HttpResponse:
    briefing = selectors.briefing(slug=slug, user=request.user)
    if briefing is None:
        raise Http404("No such release.")
    context = {
        "b": briefing,
        "release": briefing.release,
        "can_edit_faq": permissions.can_plan(request.user),
        "site": request.build_absolute_uri("/").rstrip("/"),
        "timeline_limit": selectors.TIMELINE_LIMIT,
    }
    use_partial = bool(request.htmx) if partial is None else partial
    response = render(request, BODY if use_partial else "docs_portal/briefings/detail.html", context)
    response["Vary"] = "HX-Request"
    return response


def _after_change(request: HttpRequest, slug: str) -> HttpResponse:
    """The fresh briefing in place for htmx (whatever the form targeted), a redirect otherwise."""
    if request.htmx:
        response = _render_briefing(request, slug, partial=True)
        if request.htmx.target != "briefing-body":
            response = reswap(retarget(response, "#briefing-body"), "outerHTML")
        return response
    return see_other(reverse("briefings:detail", args=[slug]))


def _errors_to_form(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def _form(request: HttpRequest, *, release, form, save, template: str, action_url: str, success: str, extra=None):
    """GET shows the form; a valid POST saves and answers with the fresh briefing.

    A bad POST answers 422 with the form, each error next to its field and every typed
    value kept.
    """
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                save(form.cleaned_data)
            except ValidationError as exc:
                _errors_to_form(form, exc)
            else:
                messages.success(request, success)
                return _after_change(request, release.slug)
        status = 422
    context = {"form": form, "release": release, "action_url": action_url, **(extra or {})}
    if request.htmx:
        return render(request, template, context, status=status)
    return render(request, "docs_portal/briefings/form_page.html", {**context, "fragment": template}, status=status)


# --- Pages ------------------------------------------------------------------------------


@require_GET
@reader_required
def briefing_index(request: HttpRequest) -> HttpResponse:
    return render(request, "docs_portal/briefings/index.html", {"index": selectors.briefing_index()})


@require_GET
@reader_required
def briefing_detail(request: HttpRequest, slug: str) -> HttpResponse:
    since = request.GET.get("since")
    if since and request.htmx:
        # The page polls with the version it shows; nothing changed means nothing to swap.
        current = selectors.briefing_version(slug)
        if current is None:
            raise Http404("No such release.")
        if current == since:
            response = HttpResponse(status=204)
            response["Vary"] = "HX-Request"
            return response
    return _render_briefing(request, slug)


# --- Known issues: anyone with a role ---------------------------------------------------


@require_http_methods(["GET", "POST"])
@reader_required
def known_issue_add(request: HttpRequest, slug: str) -> HttpResponse:
    release = _release_or_404(slug)
    form = KnownIssueForm(request.POST if request.method == "POST" else None, auto_id="id_ki_new_%s")
    return _form(
        request,
        release=release,
        form=form,
        save=lambda data: services.known_issue_create(actor=request.user, release_id=release.pk, **data),
        template="docs_portal/briefings/partials/known_issue_form.html",
        action_url=reverse("briefings:known_issue_add", args=[slug]),
        success="Known issue added.",
        extra={"title": "Add a known issue", "slot": "known-issue-add-slot"},
    )


@require_http_methods(["GET", "POST"])
@reader_required
def known_issue_edit(request: HttpRequest, slug: str, issue_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    issue = get_object_or_404(KnownIssue, pk=issue_id, release=release)
    initial = {name: getattr(issue, name) for name in services.KNOWN_ISSUE_FIELDS}
    form = KnownIssueForm(
        request.POST if request.method == "POST" else None, initial=initial, auto_id=f"id_ki{issue.pk}_%s"
    )
    return _form(
        request,
        release=release,
        form=form,
        save=lambda data: services.known_issue_update(actor=request.user, issue_id=issue.pk, **data),
        template="docs_portal/briefings/partials/known_issue_form.html",
        action_url=reverse("briefings:known_issue_edit", args=[slug, issue.pk]),
        success=f"Known issue “{issue.title}” saved.",
        extra={"title": f"Update “{issue.title}”", "issue": issue, "slot": f"known-issue-{issue.pk}-slot"},
    )


# --- FAQ: release managers edit, everyone reads ----------------------------------------


def _require_faq_editor(request: HttpRequest) -> None:
    if not permissions.can_plan(request.user):
        raise PermissionDenied("Only release managers edit the FAQ of a briefing.")


@require_http_methods(["GET", "POST"])
@reader_required
def faq_add(request: HttpRequest, slug: str) -> HttpResponse:
    _require_faq_editor(request)
    release = _release_or_404(slug)
    form = FaqForm(request.POST if request.method == "POST" else None, auto_id="id_faq_new_%s")
    return _form(
        request,
        release=release,
        form=form,
        save=lambda data: services.faq_create(actor=request.user, release_id=release.pk, **data),
        template="docs_portal/briefings/partials/faq_form.html",
        action_url=reverse("briefings:faq_add", args=[slug]),
        success="FAQ entry added.",
        extra={"title": "Add a question", "slot": "faq-add-slot"},
    )


@require_http_methods(["GET", "POST"])
@reader_required
def faq_edit(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    _require_faq_editor(request)
    release = _release_or_404(slug)
    entry = get_object_or_404(FaqEntry, pk=entry_id, release=release)
    form = FaqForm(
        request.POST if request.method == "POST" else None,
        initial={"question": entry.question, "answer": entry.answer},
        auto_id=f"id_faq{entry.pk}_%s",
    )
    return _form(
        request,
        release=release,
        form=form,
        save=lambda data: services.faq_update(actor=request.user, entry_id=entry.pk, **data),
        template="docs_portal/briefings/partials/faq_form.html",
        action_url=reverse("briefings:faq_edit", args=[slug, entry.pk]),
        success="FAQ entry saved.",
        extra={"title": "Edit the question", "entry": entry, "slot": f"faq-{entry.pk}-slot"},
    )


@require_POST
@reader_required
def faq_remove(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    _require_faq_editor(request)
    release = _release_or_404(slug)
    entry = get_object_or_404(FaqEntry, pk=entry_id, release=release)
    services.faq_delete(actor=request.user, entry_id=entry.pk)
    messages.success(request, "FAQ entry removed.")
    return _after_change(request, release.slug)
