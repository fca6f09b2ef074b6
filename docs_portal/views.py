"""Docs pages, the changelog and search. Thin: selectors read, services write, permissions decide.

Reading needs no sign-in for public pages. A page someone may not read answers exactly like
a page that does not exist (404), so its title, and that it exists, stay hidden.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from docs_portal import diffs, permissions, selectors, services
from docs_portal.forms import DocLinkForm, DocPageForm, ReleaseNotesForm, SearchForm
from docs_portal.models import DocLink, DocPage
from docs_portal.rendering import render_doc, render_notes
from rollouts import selectors as rollout_selectors


def see_other(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def editor_required(view):
    """Signed in as a release manager; anyone else signed in gets 403."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not permissions.can_edit_docs(request.user):
            raise PermissionDenied("Only release managers write and publish docs.")
        return view(request, *args, **kwargs)

    return wrapper


def _not_found(request: HttpRequest) -> HttpResponse:
    """The same answer for a missing page and for one this person may not read."""
    return render(request, "docs_portal/not_found.html", status=404)


def _form_errors_from(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)


# --- Reading ---------------------------------------------------------------------------


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "docs_portal/index.html",
        {
            "groups": selectors.docs_index(request.user),
            "can_edit": permissions.can_edit_docs(request.user),
            "search_form": SearchForm(),
        },
    )


@require_GET
def page_detail(request: HttpRequest, slug: str) -> HttpResponse:
    page = selectors.page_for_reader(request.user, slug)
    if page is None:
        return _not_found(request)
    user = request.user
    rendered = render_doc(page.body)
    return render(
        request,
        "docs_portal/page_detail.html",
        {
            "page": page,
            "rendered": rendered,
            "links": selectors.page_links(page) if permissions.can_see_releases(user) else [],
            "can_edit": permissions.can_edit_docs(user),
            "can_see_history": permissions.can_see_history(user, page),
        },
    )


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    q = form.cleaned_data["q"].strip() if form.is_valid() else ""
    hits = selectors.search_pages(request.user, q) if q else []
    return render(
        request,
        "docs_portal/search.html",
        {"form": form, "q": q, "hits": hits, "limit": selectors.SEARCH_LIMIT},
        status=200 if form.is_valid() else 422,
    )


@require_GET
def changelog(request: HttpRequest) -> HttpResponse:
    page = selectors.changelog_page(request.GET.get("page"))
    entries = [(notes, render_notes(notes.body)) for notes in page.object_list]
    return render(request, "docs_portal/changelog.html", {"page_obj": page, "entries": entries})


@require_GET
def changelog_entry(request: HttpRequest, release_slug: str) -> HttpResponse:
    notes = selectors.changelog_entry(release_slug)
    if notes is None:
        return _not_found(request)
    return render(request, "docs_portal/changelog_entry.html", {"notes": notes, "html": render_notes(notes.body)})


# --- History ---------------------------------------------------------------------------


def _page_with_history(request: HttpRequest, slug: str) -> DocPage | None:
    page = selectors.page_for_reader(request.user, slug)
    if page is None or not permissions.can_see_history(request.user, page):
        return None
    return page


@require_GET
def page_history(request: HttpRequest, slug: str) -> HttpResponse:
    page = _page_with_history(request, slug)
    if page is None:
        return _not_found(request)
    revisions = selectors.page_revisions(page, request.user)
    return render(
        request,
        "docs_portal/history.html",
        {"page": page, "revisions": revisions, "can_edit": permissions.can_edit_docs(request.user)},
    )


def _revision_number(value, default: int | None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@require_GET
def page_diff(request: HttpRequest, slug: str) -> HttpResponse:
    page = _page_with_history(request, slug)
    if page is None:
        return _not_found(request)
    revisions = selectors.page_revisions(page, request.user)
    by_number = {r.number: r for r in revisions}
    if not revisions:
        return _not_found(request)
    newest = revisions[0].number
    b = _revision_number(request.GET.get("b"), newest)
    a = _revision_number(request.GET.get("a"), max((n for n in by_number if n < (b or 0)), default=b))
    old, new = by_number.get(a), by_number.get(b)
    if old is None or new is None:
        # Unknown, or not readable by this person: the same answer.
        raise Http404("No such revision of this page.")
    return render(
        request,
        "docs_portal/diff.html",
        {
            "page": page,
            "revisions": revisions,
            "old": old,
            "new": new,
            "rows": diffs.diff_lines(old.body, new.body),
            "changes": diffs.field_changes(old, new),
            "can_edit": permissions.can_edit_docs(request.user),
        },
    )


# --- Writing ---------------------------------------------------------------------------


def _page_form(request: HttpRequest, *, form: DocPageForm, page: DocPage | None, save) -> HttpResponse:
    """GET shows the form; "Preview" renders what was typed; a valid save goes to the page.
    Bad input answers 422 with the errors next to their fields and everything typed kept."""
    status = 200
    preview = None
    if request.method == "POST":
        if "preview" in request.POST:
            preview = render_doc(request.POST.get("body", "")[: DocPageForm.base_fields["body"].max_length])
        elif form.is_valid():
            try:
                saved = save(form.cleaned_data)
            except ValidationError as exc:
                _form_errors_from(form, exc)
            except services.DocsError as exc:
                form.add_error(None, exc.message)
            else:
                if getattr(saved, "changed", True):
                    messages.success(request, "Page saved.")
                else:
                    messages.info(request, "Nothing changed, so no new revision was written.")
                return see_other(reverse("docs:page", args=[saved.slug]))
            status = 422
        else:
            status = 422
    return render(
        request,
        "docs_portal/page_form.html",
        {"form": form, "page": page, "preview": preview},
        status=status,
    )


@editor_required
def page_create(request: HttpRequest) -> HttpResponse:
    form = DocPageForm(request.POST if request.method == "POST" else None)

    def save(data):
        return services.page_create(
            actor=request.user,
            slug=data["slug"],
            title=data["title"],
            body=data["body"],
            visibility=data["visibility"],
            publish_rule=data["publish_rule"],
            note=data["note"],
        )

    return _page_form(request, form=form, page=None, save=save)


@editor_required
def page_edit(request: HttpRequest, slug: str) -> HttpResponse:
    page = get_object_or_404(DocPage, slug=slug)
    if request.method == "POST":
        form = DocPageForm(request.POST, page=page)
    else:
        initial = {
            "title": page.title,
            "body": page.body,
            "visibility": page.visibility,
            "publish_rule": page.publish_rule,
            "base_revision": selectors.latest_revision_number(page),
        }
        form = DocPageForm(initial=initial, page=page)

    def save(data):
        return services.page_update(
            page_id=page.pk,
            actor=request.user,
            title=data["title"],
            body=data["body"],
            visibility=data["visibility"],
            publish_rule=data["publish_rule"],
            note=data["note"],
            base_revision=data["base_revision"],
        )

    return _page_form(request, form=form, page=page, save=save)


def _page_action(request: HttpRequest, slug: str, action, done: str, *, to: str | None = None) -> HttpResponse:
    page = get_object_or_404(DocPage, slug=slug)
    try:
        action(page)
    except services.DocsError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done.format(title=page.title))
    return see_other(to or reverse("docs:page", args=[page.slug]))


@require_POST
@editor_required
def page_publish(request: HttpRequest, slug: str) -> HttpResponse:
    return _page_action(
        request,
        slug,
        lambda page: services.page_publish(page_id=page.pk, actor=request.user),
        "“{title}” is published.",
    )


@require_POST
@editor_required
def page_unpublish(request: HttpRequest, slug: str) -> HttpResponse:
    return _page_action(
        request,
        slug,
        lambda page: services.page_unpublish(page_id=page.pk, actor=request.user),
        "“{title}” is a draft again: only release managers see it.",
    )


@require_POST
@editor_required
def page_restore(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    return _page_action(
        request,
        slug,
        lambda page: services.page_restore(page_id=page.pk, number=number, actor=request.user),
        f"Revision {number} restored as a new revision.",
    )


@editor_required
def page_delete(request: HttpRequest, slug: str) -> HttpResponse:
    page = get_object_or_404(DocPage, slug=slug)
    if request.method == "POST":
        return _page_action(
            request,
            slug,
            lambda p: services.page_delete(page_id=p.pk, actor=request.user),
            "“{title}” deleted.",
            to=reverse("docs:index"),
        )
    links = selectors.page_links(page)
    return render(request, "docs_portal/page_delete.html", {"page": page, "links": links})


# --- Docs of a release -----------------------------------------------------------------


def _release_or_404(slug: str):
    release = rollout_selectors.release_by_slug(slug)
    if release is None:
        raise Http404("No such release.")
    return release


@editor_required
def release_docs(request: HttpRequest, release_slug: str) -> HttpResponse:
    """Link pages to a release (and its phases), unlink them, and reach its release notes."""
    release = _release_or_404(release_slug)
    form = DocLinkForm(request.POST if request.method == "POST" else None, release=release)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            phase = form.cleaned_data["phase"]
            try:
                services.link_add(
                    page_id=form.cleaned_data["page"].pk,
                    release_id=release.pk,
                    phase_id=phase.pk if phase else None,
                    actor=request.user,
                )
            except ValidationError as exc:
                _form_errors_from(form, exc)
            except services.DocsError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"“{form.cleaned_data['page'].title}” linked to {release}.")
                return see_other(reverse("docs:release_docs", args=[release.slug]))
        status = 422
    notes = selectors.release_notes_of(release)
    return render(
        request,
        "docs_portal/release_docs.html",
        {
            "release": release,
            "links": selectors.release_links(release),
            "form": form,
            "notes": notes,
            "notes_html": render_notes(notes.body) if notes else "",
            "changelog_visible": bool(notes) and selectors.changelog_entry(release.slug) is not None,
        },
        status=status,
    )


@require_POST
@editor_required
def link_remove(request: HttpRequest, release_slug: str, link_id: int) -> HttpResponse:
    release = _release_or_404(release_slug)
    link = DocLink.objects.filter(pk=link_id, release=release).select_related("page").first()
    if link is None:
        messages.info(request, "That link was already removed.")
    else:
        try:
            services.link_remove(link_id=link.pk, actor=request.user)
        except services.DocsError as exc:
            messages.info(request, exc.message)
        else:
            messages.success(request, f"“{link.page.title}” unlinked from {release}.")
    return see_other(reverse("docs:release_docs", args=[release.slug]))


@editor_required
def release_notes_edit(request: HttpRequest, release_slug: str) -> HttpResponse:
    release = _release_or_404(release_slug)
    notes = selectors.release_notes_of(release)
    if request.method == "POST":
        form = ReleaseNotesForm(request.POST, release=release)
    else:
        initial = {"body": notes.body, "visible_from_phase": notes.visible_from_phase} if notes else {}
        form = ReleaseNotesForm(initial=initial, release=release)
    status = 200
    preview = None
    if request.method == "POST":
        if "preview" in request.POST:
            preview = render_doc(request.POST.get("body", "")[: ReleaseNotesForm.base_fields["body"].max_length])
        elif form.is_valid():
            phase = form.cleaned_data["visible_from_phase"]
            try:
                saved = services.release_notes_save(
                    release_id=release.pk,
                    actor=request.user,
                    body=form.cleaned_data["body"],
                    visible_from_phase_id=phase.pk if phase else None,
                )
            except ValidationError as exc:
                _form_errors_from(form, exc)
            except services.DocsError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Release notes saved." if saved.changed else "Nothing changed.")
                return see_other(reverse("docs:release_docs", args=[release.slug]))
            status = 422
        else:
            status = 422
    return render(
        request,
        "docs_portal/release_notes_form.html",
        {"release": release, "form": form, "notes": notes, "preview": preview},
        status=status,
    )
