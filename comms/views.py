"""Pages for audiences and stakeholders, and the public unsubscribe and preferences pages.

Thin: comms/selectors.py reads, comms/services.py writes, rollouts/permissions.py decides.
Release managers manage; every other Flightdeck role reads the lists. The public pages
need no login: a signed token in the URL says who the stakeholder is.
"""

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from comms import selectors, services
from comms.forms import AudienceForm, ImportForm, PreferencesForm, StakeholderForm
from comms.tokens import stakeholder_from_token
from rollouts import permissions
from rollouts.views import reader_required, see_other

STAKEHOLDERS_PER_PAGE = 50


def manager_required(view):
    """Signed in with a role (else login or 403), and a release manager (else 403)."""

    @reader_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not permissions.can_plan(request.user):
            raise PermissionDenied("Only release managers manage audiences and stakeholders.")
        return view(request, *args, **kwargs)

    return wrapper


def _posted(request: HttpRequest):
    """The POST data to bind a form to; an empty POST still binds, so it shows its errors."""
    return request.POST if request.method == "POST" else None


def _add_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)


# --- Audiences --------------------------------------------------------------------------


def _audience_or_404(audience_id: int):
    audience = selectors.audience_by_id(audience_id)
    if audience is None:
        raise Http404("No such audience.")
    return audience


@require_GET
@reader_required
def audience_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "comms/audience_list.html",
        {"audiences": selectors.audience_list(), "can_manage": permissions.can_plan(request.user)},
    )


@manager_required
def audience_create(request: HttpRequest) -> HttpResponse:
    form = AudienceForm(_posted(request))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                audience = services.audience_create(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Audience “{audience.name}” created.")
                return see_other(reverse("comms:audience_list"))
        status = 422
    return render(request, "comms/audience_form.html", {"form": form}, status=status)


@manager_required
def audience_edit(request: HttpRequest, audience_id: int) -> HttpResponse:
    audience = _audience_or_404(audience_id)
    form = AudienceForm(
        _posted(request),
        initial={"name": audience.name, "description": audience.description, "support_digest": audience.support_digest},
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                audience = services.audience_update(audience_id=audience.pk, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Audience “{audience.name}” saved.")
                return see_other(reverse("comms:audience_list"))
        status = 422
    return render(request, "comms/audience_form.html", {"form": form, "audience": audience}, status=status)


@require_http_methods(["GET", "POST"])
@manager_required
def audience_delete(request: HttpRequest, audience_id: int) -> HttpResponse:
    """GET asks; POST deletes. The memberships go with it; the stakeholders stay."""
    audience = _audience_or_404(audience_id)
    error, status = "", 200
    if request.method == "POST":
        try:
            services.audience_delete(audience_id=audience.pk, actor=request.user)
        except ValidationError as exc:
            error, status = " ".join(exc.messages), 409
        else:
            messages.success(request, f"Audience “{audience.name}” deleted.")
            return see_other(reverse("comms:audience_list"))
    members = selectors.audience_list().get(pk=audience.pk).member_count
    return render(
        request,
        "comms/audience_delete.html",
        {"audience": audience, "members": members, "error": error},
        status=status,
    )


# --- Stakeholders -----------------------------------------------------------------------


def _audience_filter(value: str) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@require_GET
@reader_required
def stakeholder_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    audience_id = _audience_filter(request.GET.get("audience", ""))
    paginator = Paginator(selectors.stakeholder_list(query=query, audience_id=audience_id), STAKEHOLDERS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "page": page,
        "query": query,
        "audience_id": audience_id,
        "audiences": selectors.audience_choices(),
        "can_manage": permissions.can_plan(request.user),
    }
    template = "comms/stakeholder_list.html#results" if request.htmx else "comms/stakeholder_list.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


@manager_required
def stakeholder_create(request: HttpRequest) -> HttpResponse:
    form = StakeholderForm(_posted(request))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                stakeholder = services.stakeholder_create(
                    actor=request.user,
                    email=data["email"],
                    name=data["name"],
                    organisation=data["organisation"],
                    audience_ids=[a.pk for a in data["audiences"]],
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Stakeholder {stakeholder.email} added.")
                return see_other(reverse("comms:stakeholder_list"))
        status = 422
    return render(request, "comms/stakeholder_form.html", {"form": form}, status=status)


@manager_required
def stakeholder_edit(request: HttpRequest, stakeholder_id: int) -> HttpResponse:
    stakeholder = selectors.stakeholder_by_id(stakeholder_id)
    if stakeholder is None:
        raise Http404("No such stakeholder.")
    memberships = list(stakeholder.memberships.all())
    unsubscribed = {m.audience_id: m.unsubscribed_at for m in memberships if m.unsubscribed_at}
    initial = {
        "email": stakeholder.email,
        "name": stakeholder.name,
        "organisation": stakeholder.organisation,
        "audiences": [m.audience_id for m in memberships],
    }
    form = StakeholderForm(_posted(request), initial=initial, unsubscribed=unsubscribed)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                stakeholder = services.stakeholder_update(
                    stakeholder_id=stakeholder.pk,
                    actor=request.user,
                    email=data["email"],
                    name=data["name"],
                    organisation=data["organisation"],
                    audience_ids=[a.pk for a in data["audiences"]],
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Stakeholder {stakeholder.email} saved.")
                return see_other(reverse("comms:stakeholder_list"))
        status = 422
    context = {"form": form, "stakeholder": stakeholder, "unsubscribed": bool(unsubscribed)}
    return render(request, "comms/stakeholder_form.html", context, status=status)


@manager_required
def stakeholder_import(request: HttpRequest) -> HttpResponse:
    """Upload a CSV; the answer is the report of what was imported and which rows were not."""
    form = ImportForm(_posted(request), request.FILES if request.method == "POST" else None)
    status, report = 200, None
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                report = services.stakeholders_import_csv(
                    data["file"],
                    actor=request.user,
                    default_audiences=data["audiences"],
                    create_missing_audiences=data["create_missing_audiences"],
                )
            except ValidationError as exc:
                _add_errors(form, exc)
                status = 422
            else:
                form = ImportForm()
        else:
            status = 422
    context = {"form": form, "report": report, "example": services.EXAMPLE_CSV}
    return render(request, "comms/stakeholder_import.html", context, status=status)


@require_GET
@manager_required
def stakeholder_import_example(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(services.EXAMPLE_CSV, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="stakeholders-example.csv"'
    return response


# --- Public: unsubscribe and preferences ------------------------------------------------


def _public(response: HttpResponse) -> HttpResponse:
    """Token pages are nobody's to cache or index."""
    add_never_cache_headers(response)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return _public(render(request, "comms/public/invalid.html", status=400))


@csrf_exempt  # RFC 8058: mail providers POST with no cookie and no CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """POST unsubscribes from everything and answers 200, never a redirect (RFC 8058
    one-click, and the button on the GET page). GET only asks: mail scanners follow links."""
    stakeholder_id = stakeholder_from_token(token)
    if stakeholder_id is None:
        return _invalid_link(request)
    context = {"token": token}
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        services.stakeholder_unsubscribe_all(stakeholder_id, "one-click" if one_click else "unsubscribe-page")
        return _public(render(request, "comms/public/unsubscribed.html", context))
    stakeholder = selectors.stakeholder_by_id(stakeholder_id)
    if stakeholder is None:
        return _public(render(request, "comms/public/gone.html", status=404))
    context["stakeholder"] = stakeholder
    return _public(render(request, "comms/public/unsubscribe.html", context))


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    stakeholder_id = stakeholder_from_token(token)
    if stakeholder_id is None:
        return _invalid_link(request)
    stakeholder = selectors.stakeholder_by_id(stakeholder_id)
    if stakeholder is None:
        return _public(render(request, "comms/public/gone.html", status=404))
    memberships = list(stakeholder.memberships.all())
    here = reverse("comms_public:preferences", args=[token])
    status = 200
    if request.method == "POST":
        if request.POST.get("action") == "unsubscribe_all":
            services.stakeholder_unsubscribe_all(stakeholder.pk, "preferences")
            return _public(see_other(f"{here}?saved=unsubscribed"))
        form = PreferencesForm(request.POST, memberships=memberships)
        if form.is_valid():
            try:
                receives = services.stakeholder_set_preferences(stakeholder.pk, form.cleaned_data["audiences"])
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                return _public(see_other(f"{here}?saved={'1' if receives else 'unsubscribed'}"))
        status = 422
    else:
        subscribed = [] if stakeholder.opted_out_at else [m.audience_id for m in memberships if not m.unsubscribed_at]
        form = PreferencesForm(initial={"audiences": subscribed}, memberships=memberships)
    context = {
        "stakeholder": stakeholder,
        "form": form,
        "token": token,
        "saved": request.GET.get("saved", "") if request.method == "GET" else "",
    }
    return _public(render(request, "comms/public/preferences.html", context, status=status))
