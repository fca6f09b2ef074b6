"""Pages for flags, segments and API keys. Thin: selectors read, services write,
flags/permissions.py decides. Release managers change things; every role reads."""

import json
from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_POST

from flags import evaluation, permissions, selectors, services, snapshot
from flags.forms import ApiKeyForm, FlagForm, PreviewForm, ReasonForm, SegmentForm, TargetingForm
from flags.models import ApiKey, Flag, Segment
from rollouts.models import Environment, Phase, Release
from rollouts.views import reader_required, see_other


def manager_required(view):
    """Signed in with a role (else login or 403), and a release manager (else 403)."""

    @reader_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not permissions.can_manage_flags(request.user):
            raise PermissionDenied("Only release managers change flags, segments and API keys.")
        return view(request, *args, **kwargs)

    return wrapper


def _add_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def _flag_or_404(key: str) -> Flag:
    flag = Flag.objects.filter(key=key).first()
    if flag is None:
        raise Http404("No such flag.")
    return flag


# --- Flags -----------------------------------------------------------------------------


@require_GET
@reader_required
def flag_list(request: HttpRequest) -> HttpResponse:
    flags = selectors.decorate_flags(selectors.flag_list())
    return render(
        request,
        "flags/flag_list.html",
        {"flags": flags, "can_manage": permissions.can_manage_flags(request.user)},
    )


@manager_required
def flag_create(request: HttpRequest) -> HttpResponse:
    initial = {}
    release_slug = request.GET.get("release")
    if release_slug:
        initial["release"] = Release.objects.filter(slug=release_slug).values_list("pk", flat=True).first()
    form = FlagForm(request.POST if request.method == "POST" else None, initial=initial or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                flag = services.flag_create(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Flag “{flag.key}” created.")
                return see_other(flag.get_absolute_url())
        status = 422
    return render(request, "flags/flag_form.html", {"form": form, "creating": True}, status=status)


@manager_required
def flag_edit(request: HttpRequest, key: str) -> HttpResponse:
    flag = _flag_or_404(key)
    form = FlagForm(request.POST if request.method == "POST" else None, instance=flag)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = dict(form.cleaned_data)
            data.pop("key")
            try:
                services.flag_update(flag_id=flag.pk, actor=request.user, **data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Flag “{flag.key}” saved.")
                return see_other(flag.get_absolute_url())
        status = 422
    return render(request, "flags/flag_form.html", {"form": form, "flag": flag}, status=status)


def _render_detail(request: HttpRequest, key: str, *, status: int = 200, extra: dict | None = None) -> HttpResponse:
    page = selectors.flag_page(key)
    if page is None:
        raise Http404("No such flag.")
    can_manage = permissions.can_manage_flags(request.user)
    targeting = [
        (
            phase,
            TargetingForm(
                initial={"segments": [s.pk for s in phase.flag_segments.all()]},
                prefix=f"p{phase.pk}",
                segments=page.segments,
            ),
        )
        for phase in page.phases
    ]
    context = {
        "page": page,
        "flag": page.flag,
        "targeting": targeting,
        "can_manage": can_manage,
        "preview_form": PreviewForm(),
        "kill_form": ReasonForm(),
        "flag_key": page.flag.key,
        **(extra or {}),
    }
    return render(request, "flags/flag_detail.html", context, status=status)


@require_GET
@reader_required
def flag_detail(request: HttpRequest, key: str) -> HttpResponse:
    return _render_detail(request, key)


@require_POST
@manager_required
def flag_kill(request: HttpRequest, key: str) -> HttpResponse:
    flag = _flag_or_404(key)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    if services.flag_kill(flag_id=flag.pk, actor=request.user, reason=reason):
        messages.warning(request, f"Kill switch on: “{flag.key}” now answers its off variant everywhere.")
    else:
        messages.info(request, f"“{flag.key}” was already off.")
    return see_other(flag.get_absolute_url())


@require_POST
@manager_required
def flag_restore(request: HttpRequest, key: str) -> HttpResponse:
    flag = _flag_or_404(key)
    if services.flag_restore(flag_id=flag.pk, actor=request.user):
        messages.success(request, f"Kill switch off: “{flag.key}” follows its rollout again.")
    else:
        messages.info(request, f"“{flag.key}” was not switched off.")
    return see_other(flag.get_absolute_url())


@require_POST
@manager_required
def flag_targeting(request: HttpRequest, key: str, phase_id: int) -> HttpResponse:
    flag = _flag_or_404(key)
    if flag.release_id is None:
        raise Http404("This flag follows no release.")
    phase = get_object_or_404(Phase, pk=phase_id, release_id=flag.release_id)
    form = TargetingForm(request.POST, prefix=f"p{phase.pk}", segments=list(Segment.objects.order_by("name")))
    if not form.is_valid():
        messages.error(request, "Choose segments from the list.")
        return _render_detail(request, key, status=422)
    if services.phase_segments_set(phase_id=phase.pk, segments=form.cleaned_data["segments"], actor=request.user):
        messages.success(request, f"Phase “{phase.name}” now targets the segments chosen, before its percentage.")
    return see_other(flag.get_absolute_url())


@require_GET
@reader_required
def flag_preview(request: HttpRequest, key: str) -> HttpResponse:
    """Evaluate the flag as OFREP would for a typed context: variant, reason, bucket."""
    _flag_or_404(key)
    form = PreviewForm(_with_environment(request.GET))
    result = None
    status = 200
    if form.is_valid():
        result = preview(key, **form.cleaned_data)
    else:
        status = 422
    context = {"flag_key": key, "preview_form": form, "result": result}
    if request.htmx:
        response = render(request, "flags/flag_detail.html#preview", context, status=status)
    else:
        response = _render_detail(request, key, status=status, extra=context)
    response["Vary"] = "HX-Request"
    return response


def _with_environment(data):
    """Production unless the form says otherwise (the support briefing's box may leave it out)."""
    data = data.copy()
    if not data.get("environment"):
        data["environment"] = Environment.PRODUCTION
    return data


def preview(key: str, *, environment: str, targeting_key: str, attributes: dict) -> dict:
    """The answer for one context, with what a person needs to understand it."""
    compiled = snapshot.current().flags.get(key)
    if compiled is None:
        return {"error": "FLAG_NOT_FOUND", "details": "The flag is not in the evaluated configuration yet."}
    context = {**attributes, "targetingKey": targeting_key} if targeting_key else dict(attributes)
    bucket = evaluation.bucket(key, targeting_key) if targeting_key else None
    try:
        outcome = evaluation.evaluate(compiled, environment, targeting_key or None, context)
    except evaluation.EvaluationError as exc:
        return {"error": exc.code, "details": exc.details, "bucket": bucket}
    plan = compiled.plans[environment]
    return {
        "outcome": outcome,
        "value_json": json.dumps(outcome.value, ensure_ascii=False),
        "bucket": bucket,
        "exposure": plan.exposure,
        "explain": plan.explain,
        "segment": outcome.metadata.get("segment", ""),
        "environment": Environment(environment).label,
    }


# --- Segments --------------------------------------------------------------------------


@require_GET
@reader_required
def segment_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "flags/segment_list.html",
        {"segments": selectors.segment_list(), "can_manage": permissions.can_manage_flags(request.user)},
    )


@manager_required
def segment_create(request: HttpRequest) -> HttpResponse:
    form = SegmentForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                segment = services.segment_create(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Segment “{segment.name}” created.")
                return see_other(reverse("flags:segment_list"))
        status = 422
    return render(request, "flags/segment_form.html", {"form": form, "creating": True}, status=status)


@manager_required
def segment_edit(request: HttpRequest, key: str) -> HttpResponse:
    segment = get_object_or_404(Segment, key=key)
    form = SegmentForm(request.POST if request.method == "POST" else None, instance=segment)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = dict(form.cleaned_data)
            data.pop("key")
            try:
                services.segment_update(segment_id=segment.pk, actor=request.user, **data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Segment “{segment.name}” saved.")
                return see_other(reverse("flags:segment_list"))
        status = 422
    return render(request, "flags/segment_form.html", {"form": form, "segment": segment}, status=status)


@require_POST
@manager_required
def segment_remove(request: HttpRequest, key: str) -> HttpResponse:
    segment = get_object_or_404(Segment, key=key)
    services.segment_remove(segment_id=segment.pk, actor=request.user)
    messages.success(request, f"Segment “{segment.name}” removed: no flag or phase targets it any more.")
    return see_other(reverse("flags:segment_list"))


# --- API keys --------------------------------------------------------------------------


@manager_required
def api_keys(request: HttpRequest) -> HttpResponse:
    """List keys per environment; a POST makes one and shows its token on this response only."""
    form = ApiKeyForm(request.POST if request.method == "POST" else None)
    status, new_token, new_key = 200, "", None
    if request.method == "POST":
        if form.is_valid():
            try:
                new_key, new_token = services.api_key_create(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
                status = 422
            else:
                form = ApiKeyForm()
        else:
            status = 422
    context = {
        "form": form,
        "groups": selectors.api_keys_by_environment(),
        "new_token": new_token,
        "new_key": new_key,
        "ofrep_url": request.build_absolute_uri("/"),
    }
    response = render(request, "flags/api_keys.html", context, status=status)
    if new_token:
        add_never_cache_headers(response)  # no copy of the token in any cache or history
    return response


@require_POST
@manager_required
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=key_id)
    if services.api_key_revoke(key_id=key.pk, actor=request.user):
        messages.success(request, f"API key “{key.name}” revoked: applications using it get 401 within seconds.")
    else:
        messages.info(request, f"API key “{key.name}” was already revoked.")
    return see_other(reverse("flags:api_keys"))


# --- Support briefing: "is this customer in the rollout?" --------------------------------


@require_GET
@reader_required
def briefing_lookup(request: HttpRequest) -> HttpResponse:
    """For each flag that follows the release: what this customer gets, and why."""
    release = Release.objects.filter(slug=request.GET.get("release", "")).first()
    if release is None:
        raise Http404("No such release.")
    form = PreviewForm(_with_environment(request.GET) if "targeting_key" in request.GET else None)
    answers, status = None, 200
    if form.is_bound:
        if form.is_valid() and not form.cleaned_data["targeting_key"]:
            form.add_error("targeting_key", "Type the customer’s targeting key (their user or account id).")
        if form.is_valid():
            answers = [
                {"flag": compiled, **preview(compiled.key, **form.cleaned_data)}
                for compiled in selectors.release_flags(release.slug)
            ]
        else:
            status = 422
    context = {"release": release, "lookup_form": form, "answers": answers}
    template = "flags/partials/briefing_lookup.html#answer" if request.htmx else "flags/briefing_lookup_page.html"
    response = render(request, template, context, status=status)
    response["Vary"] = "HX-Request"
    return response
