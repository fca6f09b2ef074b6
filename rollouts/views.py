"""Pages for planning and running releases. Thin: selectors read, services and
transitions write, permissions decide."""

import hashlib
from datetime import UTC, date
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from rollouts import auth, calendar_chart, gate_tokens, permissions, selectors, services, transitions
from rollouts.forms import (
    AllowedHoursForm,
    DecisionForm,
    FreezeWindowForm,
    GateForm,
    PhaseForm,
    ReasonForm,
    ReleaseEditForm,
    ReleaseForm,
    RollbackStepForm,
)
from rollouts.models import (
    AllowedHours,
    ChecklistItem,
    FreezeWindow,
    Gate,
    Phase,
    PhaseStatus,
    ReleaseStatus,
    RollbackRunStep,
    RollbackStep,
    Strategy,
)
from rollouts.roles import user_roles
from rollouts.schedule import window_instants
from rollouts.strategies import proposed_plan


def see_other(url: str) -> HttpResponseRedirect:
    """After a POST, send the browser to a page it loads with GET."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def reader_required(view):
    """Signed in and holding a Flightdeck role; everyone else gets 403."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not permissions.can_view(request.user):
            raise PermissionDenied("Your account has no Flightdeck role yet. Ask an administrator for one.")
        return view(request, *args, **kwargs)

    return wrapper


def _release_or_404(slug: str):
    release = selectors.release_by_slug(slug)
    if release is None:
        raise Http404("No such release.")
    return release


def _render_release(
    request: HttpRequest, slug: str, *, status: int = 200, partial: bool | None = None, extra: dict | None = None
) -> HttpResponse:
    page = selectors.release_page(slug=slug)
    if page is None:
        raise Http404("No such release.")
    release = page.release
    user = request.user
    context = {
        "page": page,
        "release": release,
        "can_plan": permissions.can_edit_release(user, release),
        "can_act": permissions.can_act(user, release),
        "can_decide": permissions.can_decide_gate(user, None, release),
        "is_owner": release.owner_id == user.pk,
        "can_tick": permissions.can_tick_checklist(user),
        "can_run_rollback": permissions.can_run_rollback(user, release),
        "actions": _available_actions(release),
        "reason_form": ReasonForm(),
        "freeze_form": FreezeWindowForm() if permissions.can_edit_release(user, release) else None,
        **(extra or {}),
    }
    use_partial = request.htmx if partial is None else partial
    template = "rollouts/release_detail.html#body" if use_partial else "rollouts/release_detail.html"
    response = render(request, template, context, status=status)
    response["Vary"] = "HX-Request"
    return response


def _available_actions(release) -> list[str]:
    s = release.status
    actions = []
    if s == ReleaseStatus.DRAFT:
        actions += ["schedule", "start", "cancel"]
    elif s == ReleaseStatus.SCHEDULED:
        actions += ["start", "unschedule", "cancel"]
    elif s == ReleaseStatus.IN_PROGRESS:
        actions += ["pause", "rollback", "cancel"]
    elif s == ReleaseStatus.PAUSED:
        actions += ["resume", "rollback", "cancel"]
    return actions


def _after_change(
    request: HttpRequest, slug: str, error: transitions.TransitionError | None = None, extra: dict | None = None
) -> HttpResponse:
    """Answer a state-changing POST: the fresh release body for htmx, a redirect otherwise.

    `extra` carries something shown once (a new secret): then the page is rendered
    directly instead of redirecting, so the secret never sits in a session.
    """
    if error is not None:
        messages.error(request, error.message)
    if extra:
        response = _render_release(request, slug, partial=bool(request.htmx), extra=extra)
        if request.htmx and request.htmx.target != "release-body":
            response = reswap(retarget(response, "#release-body"), "outerHTML")
        return response
    if request.htmx:
        status = error.status_code if error is not None else 200
        response = _render_release(request, slug, status=status, partial=True)
        if request.htmx.target != "release-body":
            response = reswap(retarget(response, "#release-body"), "outerHTML")
        return response
    return see_other(reverse("release_detail", args=[slug]))


# --- Dashboard and lists --------------------------------------------------------------


# A reader's page and the shared sections live at most this long, so "in the next 24 hours"
# and "in the next 7 days" never lag by more than a minute; the data version still drops
# them at once on any change.
DASHBOARD_CACHE_SECONDS = 60


def _has_pending_messages(request: HttpRequest) -> bool:
    return "messages" in request.COOKIES or bool(request.session.get("_messages"))


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Home: the busiest page, so it is built as rarely as possible.

    Without filters, the parts every reader sees alike (the release groups and the
    upcoming phases, notices and rollbacks) are rendered once per version of the data and
    shared by every reader who sees the same links; each reader's whole page (with their
    own "Waiting for you") is kept too, keyed by their session's user and CSRF secret. A
    reload with nothing changed is two cache round trips and no query: the session, then
    the version, the page, the reader's "Waiting for you" and the signed-in user together.
    The version moves with every change (rollouts/freshness.py); all entries live at most
    DASHBOARD_CACHE_SECONDS, so the time-window sections stay current; a page with a
    message to show is never served from cache. A search or filter renders afresh (a fixed
    number of queries) and is not cached.
    """
    filters = selectors.HomeFilters.from_query(request.GET)
    if filters.active:
        return _dashboard_filtered(request, filters=filters)
    csrf_secret = hashlib.sha256(request.COOKIES.get(settings.CSRF_COOKIE_NAME, "").encode()).hexdigest()[:16]
    user_id = request.session.get(SESSION_KEY)
    page_key = f"flightdeck:dashboard:page:{settings.DASHBOARD_GROUP_LIMIT}:{user_id}:{csrf_secret}"
    waiting_key = f"flightdeck:dashboard:waiting:{user_id}"
    with auth.prefetched_user(request, page_key, waiting_key) as (version, found):
        return _dashboard(
            request,
            version=version,
            page=found.get(page_key),
            page_key=page_key,
            waiting=found.get(waiting_key),
            waiting_key=waiting_key,
        )


def _home_shared(*, can_plan: bool, filters: selectors.HomeFilters) -> dict:
    """The release groups (in flight, and the rest) and the sections alike for everyone."""
    groups = selectors.dashboard_groups(limit=settings.DASHBOARD_GROUP_LIMIT, filters=filters)
    in_flight = [g for g in groups if g.status in selectors.IN_FLIGHT]
    others = [g for g in groups if g.status not in selectors.IN_FLIGHT]
    context = {"user_can_plan": can_plan, "filters": filters, "no_releases": not groups}
    return {
        "in_flight_html": render_to_string(
            "rollouts/partials/dashboard_in_flight.html", {**context, "in_flight": in_flight}
        ),
        "groups_html": render_to_string("rollouts/partials/dashboard_groups.html", {**context, "groups": others}),
        "sections_html": render_to_string(
            "rollouts/partials/home_sections.html", {"sections": selectors.home_sections()}
        ),
    }


def _poll_url(filters: selectors.HomeFilters) -> str:
    url = reverse("home_in_flight")
    return f"{url}?{filters.querystring}" if filters.active else url


def _home_context(request: HttpRequest, filters: selectors.HomeFilters) -> dict:
    return {
        "filters": filters,
        "states": ReleaseStatus.choices,
        "strategies": Strategy.choices,
        "poll_url": _poll_url(filters),
    }


def _waiting_html(user) -> str:
    """The gates this reader can decide now ("Waiting for you")."""
    gates = selectors.gates_waiting_for(
        user, can_approve=permissions.can_decide_gates(user), can_tick=permissions.can_tick_checklist(user)
    )
    return render_to_string("rollouts/partials/home_waiting.html", {"waiting": gates})


@reader_required
def _dashboard(request: HttpRequest, *, version: str, page, page_key: str, waiting, waiting_key: str) -> HttpResponse:
    can_plan = permissions.can_plan(request.user)
    shows_messages = _has_pending_messages(request)
    if page is not None and page[:2] == (version, can_plan) and not shows_messages:
        response = HttpResponse(page[2])
        response["Vary"] = "Cookie"
        return response
    filters = selectors.HomeFilters()
    shared_key = f"flightdeck:dashboard:{int(can_plan)}:{settings.DASHBOARD_GROUP_LIMIT}"
    shared = cache.get(shared_key)
    if shared is not None and shared[0] == version:
        parts = shared[1]
    else:
        parts = _home_shared(can_plan=can_plan, filters=filters)
        cache.set(shared_key, (version, parts), DASHBOARD_CACHE_SECONDS)
    roles = tuple(sorted(user_roles(request.user)))
    if waiting is not None and waiting[:2] == (version, roles):
        waiting_html = waiting[2]
    else:
        waiting_html = _waiting_html(request.user)
        cache.set(waiting_key, (version, roles, waiting_html), DASHBOARD_CACHE_SECONDS)
    context = {**parts, **_home_context(request, filters), "waiting_html": waiting_html}
    response = render(request, "rollouts/dashboard.html", context)
    if request.COOKIES.get(settings.CSRF_COOKIE_NAME) and not shows_messages:
        cache.set(page_key, (version, can_plan, response.content.decode()), DASHBOARD_CACHE_SECONDS)
    return response


@reader_required
def _dashboard_filtered(request: HttpRequest, *, filters: selectors.HomeFilters) -> HttpResponse:
    parts = _home_shared(can_plan=permissions.can_plan(request.user), filters=filters)
    context = {**parts, **_home_context(request, filters), "waiting_html": _waiting_html(request.user)}
    response = render(request, "rollouts/dashboard.html", context)
    response["Vary"] = "Cookie"
    return response


@require_GET
def home_in_flight(request: HttpRequest) -> HttpResponse:
    """The "in flight" groups alone, which the home page polls every 10 s.

    The ETag is the data version with the reader's identity and filters, so a poll with
    nothing changed is answered 304 (no body; htmx leaves the region as it is) after the
    version read alone.
    """
    filters = selectors.HomeFilters.from_query(request.GET)
    with auth.prefetched_user(request) as (version, _found):
        return _home_in_flight(request, version=version, filters=filters)


@reader_required
def _home_in_flight(request: HttpRequest, *, version: str, filters: selectors.HomeFilters) -> HttpResponse:
    can_plan = permissions.can_plan(request.user)
    tag = hashlib.sha256(f"{version}|{request.user.pk}|{int(can_plan)}|{filters.querystring}".encode()).hexdigest()[:24]
    etag = f'"{tag}"'
    sent = [t.strip().removeprefix("W/") for t in request.headers.get("If-None-Match", "").split(",")]
    if etag in sent:
        response = HttpResponseNotModified()
    else:
        groups = selectors.dashboard_groups(
            limit=settings.DASHBOARD_GROUP_LIMIT, filters=filters, statuses=selectors.IN_FLIGHT
        )
        response = render(
            request,
            "rollouts/partials/dashboard_in_flight.html",
            {"in_flight": groups, "user_can_plan": can_plan, "filters": filters},
        )
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    response["Vary"] = "Cookie"
    return response


@require_GET
@reader_required
def calendar(request: HttpRequest) -> HttpResponse:
    """Every release's phases over a week or a month, with freezes and today marked."""
    zoom = request.GET.get("zoom", "week")
    if zoom not in calendar_chart.ZOOMS:
        zoom = "week"
    now = timezone.now()
    try:
        around = date.fromisoformat(request.GET.get("start", ""))
    except ValueError:
        around = now.date()
    start, end = calendar_chart.window(zoom, around)
    releases, freezes = selectors.calendar_data(start=start, end=end)
    labels = dict(PhaseStatus.choices)
    own: dict[int, list] = {}
    global_freezes = []
    for window in freezes:
        f_start, f_end = (t.astimezone(UTC) for t in window_instants(window))
        (own.setdefault(window.release_id, []) if window.release_id else global_freezes).append(
            (window.name, f_start, f_end)
        )
    inputs = [
        calendar_chart.ReleaseInput(
            name=r.name,
            version=r.version,
            url=r.get_absolute_url(),
            status_label=r.get_status_display(),
            phases=calendar_chart.phase_spans(
                r.phases.all(), release_start=r.started_at or r.planned_start, now=now, labels=labels
            ),
            freezes=own.get(r.pk, []),
        )
        for r in releases
    ]
    chart = calendar_chart.build(inputs, zoom=zoom, around=start, now=now, global_freezes=global_freezes)
    return render(request, "rollouts/calendar.html", {"chart": chart})


@require_GET
@reader_required
def release_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status and status not in ReleaseStatus.values:
        status = ""
    query = request.GET.get("q", "").strip()[:100]
    paginator = Paginator(selectors.release_list(status=status or None, query=query), 25)
    page = paginator.get_page(request.GET.get("page"))
    releases = selectors.decorate_releases(page.object_list)
    return render(
        request,
        "rollouts/release_list.html",
        {"page": page, "releases": releases, "status": status, "query": query, "statuses": ReleaseStatus.choices},
    )


# --- Release create / edit ------------------------------------------------------------


@reader_required
def release_create(request: HttpRequest) -> HttpResponse:
    if not permissions.can_plan(request.user):
        raise PermissionDenied("Only release managers can plan releases.")
    if request.htmx and request.method == "GET" and "strategy" in request.GET:
        return render(
            request,
            "rollouts/release_form.html#proposed-plan",
            {"proposed": proposed_plan(request.GET["strategy"]), "strategy": request.GET["strategy"]},
        )
    form = ReleaseForm(request.POST if request.method == "POST" else None, initial={"owner": request.user.pk})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                release = services.release_create(actor=request.user, **data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"Release “{release}” planned. Review its phases, gates and rollback plan.")
                return see_other(release.get_absolute_url())
        status = 422
    strategy = form["strategy"].value() or "canary"
    return render(
        request,
        "rollouts/release_form.html",
        {
            "form": form,
            "proposed": proposed_plan(strategy),
            "strategy": strategy,
            "creating": True,
            "templates": selectors.release_template_choices(),
        },
        status=status,
    )


@reader_required
def release_edit(request: HttpRequest, slug: str) -> HttpResponse:
    release = _release_or_404(slug)
    if not permissions.can_edit_release(request.user, release):
        raise PermissionDenied("You cannot edit this release.")
    form = ReleaseEditForm(request.POST if request.method == "POST" else None, instance=release)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                release = services.release_update(release_id=release.pk, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, "Release details saved.")
                return see_other(release.get_absolute_url())
        status = 422
    return render(request, "rollouts/release_form.html", {"form": form, "release": release}, status=status)


@require_GET
@reader_required
def release_detail(request: HttpRequest, slug: str) -> HttpResponse:
    since = request.GET.get("since")
    if since and request.htmx:
        # The page polls with the version it shows; nothing changed means nothing to swap.
        current = selectors.release_version(slug)
        if current is None:
            raise Http404("No such release.")
        if current == since:
            response = HttpResponse(status=204)
            response["Vary"] = "HX-Request"
            return response
    return _render_release(request, slug)


# --- Run it ---------------------------------------------------------------------------

ACTIONS = {
    "schedule": lambda r, u, reason: transitions.release_schedule(release_id=r.pk, actor=u),
    "unschedule": lambda r, u, reason: transitions.release_unschedule(release_id=r.pk, actor=u),
    "start": lambda r, u, reason: transitions.release_start(release_id=r.pk, actor=u),
    "pause": lambda r, u, reason: transitions.release_pause(release_id=r.pk, actor=u, reason=reason),
    "resume": lambda r, u, reason: transitions.release_resume(release_id=r.pk, actor=u, reason=reason),
    "complete": lambda r, u, reason: transitions.release_complete(release_id=r.pk, actor=u, reason=reason),
    "cancel": lambda r, u, reason: transitions.release_cancel(release_id=r.pk, actor=u, reason=reason),
    "rollback": lambda r, u, reason: transitions.release_rollback(release_id=r.pk, actor=u, reason=reason),
}

DONE_MESSAGES = {
    "schedule": "Release scheduled.",
    "unschedule": "Release moved back to draft.",
    "start": "Release started: the first phase is active.",
    "pause": "Release paused.",
    "resume": "Release resumed.",
    "complete": "Release completed.",
    "cancel": "Release cancelled.",
    "rollback": "Rollback started: work through the steps below.",
}


@require_POST
@reader_required
def release_action(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    release = _release_or_404(slug)
    if action not in ACTIONS:
        raise Http404("No such action.")
    if not permissions.can_act(request.user, release):
        raise PermissionDenied("Only release managers can run releases.")
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        ACTIONS[action](release, request.user, reason)
    except transitions.TransitionError as exc:
        return _after_change(request, slug, exc)
    messages.success(request, DONE_MESSAGES[action])
    return _after_change(request, slug)


@require_POST
@reader_required
def phase_advance(request: HttpRequest, slug: str, phase_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    if not permissions.can_act(request.user, release):
        raise PermissionDenied("Only release managers can advance releases.")
    reason = request.POST.get("reason", "")[:2000]
    try:
        nxt = transitions.phase_advance(release_id=release.pk, phase_id=phase_id, actor=request.user, reason=reason)
    except transitions.TransitionError as exc:
        return _after_change(request, slug, exc)
    messages.success(request, f"Advanced: “{nxt.name}” is now active at {nxt.exposure_percent}%.")
    return _after_change(request, slug)


@require_POST
@reader_required
def gate_decide(request: HttpRequest, slug: str, gate_id: int, decision: str) -> HttpResponse:
    release = _release_or_404(slug)
    gate = get_object_or_404(Gate, pk=gate_id, phase__release=release)
    if not permissions.can_decide_gates(request.user):
        raise PermissionDenied("Only approvers can decide gates.")
    form = DecisionForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    try:
        if decision == "approve":
            transitions.gate_approve(gate_id=gate.pk, actor=request.user, comment=comment)
            messages.success(request, f"You approved “{gate.name}”.")
        elif decision == "reject":
            transitions.gate_reject(gate_id=gate.pk, actor=request.user, comment=comment)
            messages.warning(request, f"You rejected “{gate.name}”.")
        else:
            raise Http404("No such decision.")
    except transitions.TransitionError as exc:
        return _after_change(request, slug, exc)
    return _after_change(request, slug)


@require_POST
@reader_required
def gate_reopen(request: HttpRequest, slug: str, gate_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    gate = get_object_or_404(Gate, pk=gate_id, phase__release=release)
    if not permissions.can_act(request.user, release):
        raise PermissionDenied("Only release managers can reopen gates.")
    try:
        transitions.gate_reopen(gate_id=gate.pk, actor=request.user)
    except transitions.TransitionError as exc:
        return _after_change(request, slug, exc)
    messages.success(request, f"Gate “{gate.name}” is open again.")
    return _after_change(request, slug)


@require_POST
@reader_required
def checklist_tick(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    item = get_object_or_404(ChecklistItem, pk=item_id, gate__phase__release=release)
    if not permissions.can_tick_checklist(request.user):
        raise PermissionDenied("Only release managers and approvers tick checklists.")
    checked = request.POST.get("checked") == "1"
    try:
        transitions.checklist_item_set(item_id=item.pk, actor=request.user, checked=checked)
    except transitions.TransitionError as exc:
        return _after_change(request, slug, exc)
    return _after_change(request, slug)


@require_POST
@reader_required
def rollback_step_done(request: HttpRequest, slug: str, step_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    step = get_object_or_404(RollbackRunStep, pk=step_id, run__release=release)
    if not permissions.can_run_rollback(request.user, release):
        raise PermissionDenied("Only release managers work through rollbacks.")
    note = request.POST.get("note", "")[:2000]
    try:
        transitions.rollback_step_done(run_step_id=step.pk, actor=request.user, note=note)
    except transitions.TransitionError as exc:
        return _after_change(request, slug, exc)
    messages.success(request, f"Step “{step.title}” done.")
    return _after_change(request, slug)


# --- Plan editing: phases, gates, rollback steps ---------------------------------------


def _plan_form(
    request: HttpRequest,
    *,
    release,
    form,
    save,
    template: str,
    action_url: str,
    success: str,
    extra: dict | None = None,
) -> HttpResponse:
    """GET shows the form; a valid POST saves and answers with the fresh release page.

    A bad POST answers 422 with the form, the errors next to their fields and every
    typed value kept.
    """
    if not permissions.can_edit_release(request.user, release):
        raise PermissionDenied("Only release managers can change the plan of a release that is not finished.")
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                saved = save(form.cleaned_data)
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for name, errors in exc.error_dict.items():
                        form.add_error(name if name in form.fields else None, errors)
                else:
                    form.add_error(None, exc)
            else:
                messages.success(request, success)
                token = getattr(saved, "new_token", "")
                extra = {"new_token": token, "new_token_gate": saved} if token else None
                return _after_change(request, release.slug, extra=extra)
        status = 422
    context = {"form": form, "release": release, "action_url": action_url, **(extra or {})}
    if request.htmx:
        return render(request, template, context, status=status)
    return render(request, "rollouts/plan_form_page.html", {**context, "fragment": template}, status=status)


@reader_required
def phase_add(request: HttpRequest, slug: str) -> HttpResponse:
    release = _release_or_404(slug)
    form = PhaseForm(request.POST if request.method == "POST" else None)
    return _plan_form(
        request,
        release=release,
        form=form,
        save=lambda data: services.phase_add(release_id=release.pk, actor=request.user, **data),
        template="rollouts/partials/phase_form.html",
        action_url=reverse("phase_add", args=[slug]),
        success="Phase added.",
        extra={"title": "Add a phase"},
    )


@reader_required
def phase_edit(request: HttpRequest, slug: str, phase_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    phase = get_object_or_404(Phase, pk=phase_id, release=release)
    form = PhaseForm(request.POST if request.method == "POST" else None, instance=phase)
    return _plan_form(
        request,
        release=release,
        form=form,
        save=lambda data: services.phase_update(phase_id=phase.pk, actor=request.user, **data),
        template="rollouts/partials/phase_form.html",
        action_url=reverse("phase_edit", args=[slug, phase.pk]),
        success=f"Phase “{phase.name}” saved.",
        extra={"title": f"Edit phase “{phase.name}”", "phase": phase},
    )


def _plan_post(request: HttpRequest, release, change, success: str) -> HttpResponse:
    if not permissions.can_edit_release(request.user, release):
        raise PermissionDenied("Only release managers can change the plan of a release that is not finished.")
    try:
        change()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        if request.htmx:
            response = _render_release(request, release.slug, status=409, partial=True)
            return reswap(retarget(response, "#release-body"), "outerHTML")
        return see_other(release.get_absolute_url())
    messages.success(request, success)
    return _after_change(request, release.slug)


@require_POST
@reader_required
def phase_remove(request: HttpRequest, slug: str, phase_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    phase = get_object_or_404(Phase, pk=phase_id, release=release)
    return _plan_post(
        request,
        release,
        lambda: services.phase_remove(phase_id=phase.pk, actor=request.user),
        f"Phase “{phase.name}” removed.",
    )


@require_POST
@reader_required
def phase_move(request: HttpRequest, slug: str, phase_id: int, direction: str) -> HttpResponse:
    release = _release_or_404(slug)
    phase = get_object_or_404(Phase, pk=phase_id, release=release)
    return _plan_post(
        request,
        release,
        lambda: services.phase_move(phase_id=phase.pk, actor=request.user, direction=direction),
        f"Phase “{phase.name}” moved {direction}.",
    )


@reader_required
def gate_add(request: HttpRequest, slug: str, phase_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    phase = get_object_or_404(Phase, pk=phase_id, release=release)
    form = GateForm(request.POST if request.method == "POST" else None)

    def save(data):
        return services.gate_add(
            phase_id=phase.pk,
            actor=request.user,
            name=data["name"],
            kind=data["kind"],
            required=data["required"],
            required_approvals=data["required_approvals"],
            checklist=data["checklist_items"],
            config=data["config"],
        )

    return _plan_form(
        request,
        release=release,
        form=form,
        save=save,
        template="rollouts/partials/gate_form.html",
        action_url=reverse("gate_add", args=[slug, phase.pk]),
        success="Gate added.",
        extra={"title": f"Add a gate to “{phase.name}”", "phase": phase},
    )


@require_POST
@reader_required
def gate_remove(request: HttpRequest, slug: str, gate_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    gate = get_object_or_404(Gate, pk=gate_id, phase__release=release)
    return _plan_post(
        request,
        release,
        lambda: services.gate_remove(gate_id=gate.pk, actor=request.user),
        f"Gate “{gate.name}” removed.",
    )


@reader_required
def rollback_step_add(request: HttpRequest, slug: str) -> HttpResponse:
    release = _release_or_404(slug)
    form = RollbackStepForm(request.POST if request.method == "POST" else None)
    return _plan_form(
        request,
        release=release,
        form=form,
        save=lambda data: services.rollback_step_add(release_id=release.pk, actor=request.user, **data),
        template="rollouts/partials/rollback_step_form.html",
        action_url=reverse("rollback_step_add", args=[slug]),
        success="Rollback step added.",
        extra={"title": "Add a rollback step"},
    )


@reader_required
def rollback_step_edit(request: HttpRequest, slug: str, step_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    step = get_object_or_404(RollbackStep, pk=step_id, release=release)
    form = RollbackStepForm(request.POST if request.method == "POST" else None, instance=step)
    return _plan_form(
        request,
        release=release,
        form=form,
        save=lambda data: services.rollback_step_update(step_id=step.pk, actor=request.user, **data),
        template="rollouts/partials/rollback_step_form.html",
        action_url=reverse("rollback_step_edit", args=[slug, step.pk]),
        success="Rollback step saved.",
        extra={"title": f"Edit step “{step.title}”", "step": step},
    )


@require_POST
@reader_required
def rollback_step_remove(request: HttpRequest, slug: str, step_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    step = get_object_or_404(RollbackStep, pk=step_id, release=release)
    return _plan_post(
        request,
        release,
        lambda: services.rollback_step_remove(step_id=step.pk, actor=request.user),
        f"Step “{step.title}” removed.",
    )


@require_POST
@reader_required
def rollback_step_move(request: HttpRequest, slug: str, step_id: int, direction: str) -> HttpResponse:
    release = _release_or_404(slug)
    step = get_object_or_404(RollbackStep, pk=step_id, release=release)
    return _plan_post(
        request,
        release,
        lambda: services.rollback_step_move(step_id=step.pk, actor=request.user, direction=direction),
        f"Step “{step.title}” moved {direction}.",
    )


# --- CI gate tokens and freeze windows -------------------------------------------------


@require_POST
@reader_required
def gate_token(request: HttpRequest, slug: str, gate_id: int, op: str) -> HttpResponse:
    release = _release_or_404(slug)
    gate = get_object_or_404(Gate, pk=gate_id, phase__release=release, kind="ci_result")
    if not permissions.can_edit_release(request.user, release):
        raise PermissionDenied("Only release managers manage pipeline tokens.")
    if op == "rotate":
        token = gate_tokens.gate_token_issue(gate_id=gate.pk, actor=request.user)
        messages.success(request, f"New token for “{gate.name}”. The old one no longer works.")
        return _after_change(request, slug, extra={"new_token": token, "new_token_gate": gate})
    if op == "revoke":
        gate_tokens.gate_token_revoke(gate_id=gate.pk, actor=request.user)
        messages.success(request, f"Token for “{gate.name}” revoked: pipelines can no longer report to it.")
        return _after_change(request, slug)
    raise Http404("No such operation.")


def _freeze_fields(data: dict) -> dict:
    """FreezeWindowForm's cleaned data as services.freeze_add takes it."""
    return {
        "name": data["name"],
        "timezone_name": data["timezone"],
        "starts_local": data["starts_local"],
        "ends_local": data["ends_local"],
        "reason": data["reason"],
    }


def _hours_fields(data: dict) -> dict:
    """AllowedHoursForm's cleaned data as services.allowed_hours_add takes it."""
    return {
        "timezone_name": data["timezone"],
        "weekdays": data["weekdays"],
        "start_time": data["start_time"],
        "end_time": data["end_time"],
    }


@reader_required
def freeze_add(request: HttpRequest, slug: str) -> HttpResponse:
    release = _release_or_404(slug)
    form = FreezeWindowForm(request.POST if request.method == "POST" else None)

    def save(data):
        return services.freeze_add(actor=request.user, release_id=release.pk, **_freeze_fields(data))

    return _plan_form(
        request,
        release=release,
        form=form,
        save=save,
        template="rollouts/partials/freeze_form.html",
        action_url=reverse("freeze_add", args=[slug]),
        success="Freeze window added: automation will not advance this release inside it.",
        extra={"title": "Add a freeze window"},
    )


@require_POST
@reader_required
def freeze_remove(request: HttpRequest, slug: str, window_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    window = get_object_or_404(FreezeWindow, pk=window_id, release=release)
    return _plan_post(
        request,
        release,
        lambda: services.freeze_remove(actor=request.user, window_id=window.pk),
        f"Freeze “{window.name}” removed.",
    )


@reader_required
def hours_add(request: HttpRequest, slug: str) -> HttpResponse:
    release = _release_or_404(slug)
    form = AllowedHoursForm(request.POST if request.method == "POST" else None)

    def save(data):
        return services.allowed_hours_add(actor=request.user, release_id=release.pk, **_hours_fields(data))

    return _plan_form(
        request,
        release=release,
        form=form,
        save=save,
        template="rollouts/partials/hours_form.html",
        action_url=reverse("hours_add", args=[slug]),
        success="Allowed hours added: automation acts on this release only inside them.",
        extra={"title": "Add allowed hours"},
    )


@require_POST
@reader_required
def hours_remove(request: HttpRequest, slug: str, rule_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    rule = get_object_or_404(AllowedHours, pk=rule_id, release=release)
    return _plan_post(
        request,
        release,
        lambda: services.allowed_hours_remove(actor=request.user, rule_id=rule.pk),
        "Allowed hours removed.",
    )


# --- The automation schedule for every release -----------------------------------------


@reader_required
def schedule_page(request: HttpRequest) -> HttpResponse:
    """Global freeze windows and allowed hours: they hold every release."""
    can_edit = permissions.can_plan(request.user)
    freeze_form = FreezeWindowForm(prefix="freeze")
    hours_form = AllowedHoursForm(prefix="hours")
    status = 200
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Only release managers change the automation schedule.")
        kind = request.POST.get("kind")
        try:
            if kind == "freeze":
                freeze_form = FreezeWindowForm(request.POST, prefix="freeze")
                if freeze_form.is_valid():
                    d = freeze_form.cleaned_data
                    services.freeze_add(actor=request.user, release_id=None, **_freeze_fields(d))
                    messages.success(request, f"Freeze “{d['name']}” added for every release.")
                    return see_other(reverse("schedule"))
            elif kind == "hours":
                hours_form = AllowedHoursForm(request.POST, prefix="hours")
                if hours_form.is_valid():
                    services.allowed_hours_add(
                        actor=request.user, release_id=None, **_hours_fields(hours_form.cleaned_data)
                    )
                    messages.success(request, "Allowed hours added for every release.")
                    return see_other(reverse("schedule"))
            elif kind == "remove-freeze":
                window = get_object_or_404(FreezeWindow, pk=request.POST.get("id"), release__isnull=True)
                services.freeze_remove(actor=request.user, window_id=window.pk)
                messages.success(request, f"Freeze “{window.name}” removed.")
                return see_other(reverse("schedule"))
            elif kind == "remove-hours":
                rule = get_object_or_404(AllowedHours, pk=request.POST.get("id"), release__isnull=True)
                services.allowed_hours_remove(actor=request.user, rule_id=rule.pk)
                messages.success(request, "Allowed hours removed.")
                return see_other(reverse("schedule"))
            else:
                raise Http404("No such change.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        status = 422
    context = {
        "freezes": selectors.global_freezes(),
        "hours": selectors.global_hours(),
        "freeze_form": freeze_form,
        "hours_form": hours_form,
        "can_edit": can_edit,
    }
    return render(request, "rollouts/schedule.html", context, status=status)
