"""The communication plan editor (a section of the release page) and the outbox.

Thin: plan_selectors read, plan_services write, rollouts.permissions decide. The plan is
one fragment that htmx swaps into `#comms-plan` on the release page; without htmx the
same URLs are whole pages and every form posts and redirects.
"""

from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from comms import plan_selectors, plan_services
from comms.forms_plan import MessageForm
from comms.models import Message, Notice
from comms.render import VARIABLES
from rollouts import permissions
from rollouts.views import reader_required, see_other

PLAN_TARGET = "comms-plan"
OUTBOX_TARGET = "outbox-live"


def _release_or_404(slug: str):
    release = plan_selectors.release_for_plan(slug)
    if release is None:
        raise Http404("No such release.")
    return release


def _require_editor(request: HttpRequest, release) -> None:
    if not permissions.can_edit_release(request.user, release):
        raise PermissionDenied(
            "Only release managers can change the communication plan of a release that is not finished."
        )


# --- The plan -------------------------------------------------------------------------


def _render_plan(request: HttpRequest, release, *, status: int = 200) -> HttpResponse:
    context = {
        "plan": plan_selectors.plan_page(release),
        "release": release,
        "can_edit": permissions.can_edit_release(request.user, release),
    }
    template = "comms/plan/page.html#plan" if request.htmx else "comms/plan/page.html"
    response = render(request, template, context, status=status)
    response["Vary"] = "HX-Request"
    return response


def _after_change(request: HttpRequest, release, error: str = "") -> HttpResponse:
    """Answer a plan change: the fresh plan for htmx (into #comms-plan), a redirect otherwise."""
    if error:
        messages.error(request, error)
    if request.htmx:
        response = _render_plan(request, release, status=409 if error else 200)
        if request.htmx.target != PLAN_TARGET:
            response = reswap(retarget(response, f"#{PLAN_TARGET}"), "innerHTML")
        return response
    return see_other(reverse("comms_plan:plan", args=[release.slug]))


@require_GET
@reader_required
def plan(request: HttpRequest, slug: str) -> HttpResponse:
    return _render_plan(request, _release_or_404(slug))


def _errors_to_form(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def _message_form(
    request: HttpRequest, *, release, form: MessageForm, save, title: str, action_url: str, message=None
) -> HttpResponse:
    """GET shows the form; a valid POST saves and answers with the fresh plan.

    A bad POST answers 422 with the form, each error next to its field and every typed
    value kept.
    """
    _require_editor(request, release)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                saved = save(form.cleaned_data)
            except ValidationError as exc:
                _errors_to_form(form, exc)
            else:
                messages.success(request, f"Message “{saved.name}” saved.")
                return _after_change(request, release)
        status = 422
    context = {
        "form": form,
        "release": release,
        "message": message,
        "title": title,
        "action_url": action_url,
        "form_id": f"message-{message.pk}" if message else "message-new",
        "variables": VARIABLES,
    }
    if request.htmx:
        return render(request, "comms/plan/message_form.html", context, status=status)
    return render(request, "comms/plan/form_page.html", context, status=status)


@require_http_methods(["GET", "POST"])
@reader_required
def message_add(request: HttpRequest, slug: str) -> HttpResponse:
    release = _release_or_404(slug)
    form = MessageForm(request.POST if request.method == "POST" else None, release=release)
    return _message_form(
        request,
        release=release,
        form=form,
        save=lambda data: plan_services.message_create(actor=request.user, release_id=release.pk, **data),
        title="Add a message",
        action_url=reverse("comms_plan:message_add", args=[slug]),
    )


@require_http_methods(["GET", "POST"])
@reader_required
def message_edit(request: HttpRequest, slug: str, message_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    message = get_object_or_404(Message, pk=message_id, plan__release=release)
    # Its own ids, so an edit form open next to the add form never repeats an element id.
    form = MessageForm(
        request.POST if request.method == "POST" else None,
        release=release,
        message=message,
        auto_id=f"id_m{message.pk}_%s",
    )
    return _message_form(
        request,
        release=release,
        form=form,
        save=lambda data: plan_services.message_update(actor=request.user, message_id=message.pk, **data),
        title=f"Edit “{message.name}”",
        action_url=reverse("comms_plan:message_edit", args=[slug, message.pk]),
        message=message,
    )


@require_POST
@reader_required
def message_delete(request: HttpRequest, slug: str, message_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    message = get_object_or_404(Message, pk=message_id, plan__release=release)
    _require_editor(request, release)
    try:
        plan_services.message_delete(actor=request.user, message_id=message.pk)
    except ValidationError as exc:
        return _after_change(request, release, " ".join(exc.messages))
    messages.success(request, f"Message “{message.name}” removed.")
    return _after_change(request, release)


@require_POST
@reader_required
def message_require(request: HttpRequest, slug: str, message_id: int) -> HttpResponse:
    release = _release_or_404(slug)
    message = get_object_or_404(Message, pk=message_id, plan__release=release)
    _require_editor(request, release)
    try:
        gate = plan_services.message_require_before_phase(
            actor=request.user, message_id=message.pk, phase_id=request.POST.get("phase")
        )
    except ValidationError as exc:
        return _after_change(request, release, " ".join(exc.messages))
    messages.success(request, f"“{gate.phase.name}” now waits until “{message.name}” reached everyone.")
    return _after_change(request, release)


@require_http_methods(["GET", "POST"])
@reader_required
def preview(request: HttpRequest, slug: str) -> HttpResponse:
    """The message as it will be sent, from the form's current values; nothing is saved.

    GET ?message=<id> previews a saved message; a POST (the form's Preview button) or a
    GET with the form's fields previews what is typed.
    """
    release = _release_or_404(slug)
    current = None
    saved = request.method == "GET" and "message" in request.GET
    if saved:
        try:
            message_id = int(request.GET["message"])
        except ValueError:
            raise Http404("No such message.") from None
        current = get_object_or_404(
            Message.objects.select_related("plan", "phase"), pk=message_id, plan__release=release
        )
        fields = dict(MessageForm(release=release, message=current).initial)
        problems: list[str] = []
    else:
        data = request.POST if request.method == "POST" else request.GET
        if data.get("message", "").isdigit():  # the edit form's preview: keep the saved message's times
            current = Message.objects.select_related("plan").filter(pk=data["message"], plan__release=release).first()
        form = MessageForm(data, release=release)
        form.is_valid()
        # Preview what can be read; what cannot is listed as a problem, not an error page.
        fields = dict(form.cleaned_data)
        problems = [
            f"{form.fields[name].label or name.title()}: {' '.join(errs)}" if name in form.fields else " ".join(errs)
            for name, errs in form.errors.items()
        ]
    context = {
        "release": release,
        "preview": plan_selectors.message_preview(release, fields, current=current, problems=problems),
        "current": current,
        # Shown in a message's slot, it can close; inside an open form, closing would lose what was typed.
        "closable": saved,
    }
    template = "comms/plan/preview.html#preview" if request.htmx else "comms/plan/preview.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


# --- The outbox -----------------------------------------------------------------------


def _render_outbox(request: HttpRequest, params: QueryDict, *, partial: bool) -> HttpResponse:
    filters = plan_selectors.OutboxFilters.from_query(params)
    page = plan_selectors.outbox_page(filters, page_number=params.get("page") or 1)
    context = {
        "outbox": page,
        "filters": filters,
        "statuses": Notice.Status.choices,
        "orders": plan_selectors.ORDERS,
        "can_retry": permissions.can_plan(request.user),
        "here": f"{reverse('comms_plan:outbox')}?{params.urlencode()}" if params else reverse("comms_plan:outbox"),
    }
    template = "comms/outbox/index.html#live" if partial else "comms/outbox/index.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


@require_GET
@reader_required
def outbox(request: HttpRequest) -> HttpResponse:
    """Upcoming, sent and failed notices; while a batch goes out the list polls every 3 s."""
    return _render_outbox(request, request.GET, partial=bool(request.htmx))


@require_POST
@reader_required
def notice_retry(request: HttpRequest, notice_id: int) -> HttpResponse:
    if not permissions.can_plan(request.user):
        raise PermissionDenied("Only release managers can retry notices.")
    notice = get_object_or_404(Notice, pk=notice_id)
    try:
        plan_services.notice_retry(actor=request.user, notice_id=notice.pk)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"The notice to {notice.recipient} goes out again shortly.")
    back = request.POST.get("next", "")
    if not back or not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("comms_plan:outbox")
    if request.htmx:
        response = _render_outbox(request, QueryDict(urlsplit(back).query), partial=True)
        if request.htmx.target != OUTBOX_TARGET:
            response = reswap(retarget(response, f"#{OUTBOX_TARGET}"), "outerHTML")
        return response
    return see_other(back)
