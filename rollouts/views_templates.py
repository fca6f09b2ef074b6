"""Pages for release templates and clones (release managers only), and the release
dossier (anyone with a role). Thin: rollouts/release_templates.py writes,
rollouts/dossier.py reads."""

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET

from rollouts import dossier, permissions, release_templates
from rollouts.forms import DATETIME_WIDGET, PersonChoiceField, _people
from rollouts.models import Release, ReleaseTemplate
from rollouts.roles import RELEASE_MANAGER
from rollouts.views import _release_or_404, reader_required, see_other


class TemplateSaveForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="For example “Canary with CAB approval”.")
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="When to use it (optional)."
    )


class NewReleaseForm(forms.Form):
    name = forms.CharField(max_length=200)
    version = forms.CharField(max_length=64)
    slug = forms.SlugField(
        max_length=80, required=False, help_text="Used in links. Leave empty to make one from the name and version."
    )
    owner = PersonChoiceField(queryset=_people().none())
    planned_start = forms.DateTimeField(
        required=False,
        widget=DATETIME_WIDGET,
        help_text="Phase starts and fixed-time messages keep their distance from it.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = (
            _people().filter(Q(groups__name=RELEASE_MANAGER) | Q(is_superuser=True)).distinct()
        )

    def clean_slug(self):
        slug = self.cleaned_data.get("slug") or ""
        if slug and Release.objects.filter(slug=slug).exists():
            raise forms.ValidationError("A release with this slug exists. Pick another one.")
        return slug


def _require_planner(request: HttpRequest) -> None:
    if not permissions.can_plan(request.user):
        raise PermissionDenied("Only release managers can use release templates and clone releases.")


def _add_errors(form: forms.Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@reader_required
def template_list(request: HttpRequest) -> HttpResponse:
    _require_planner(request)
    templates = list(ReleaseTemplate.objects.select_related("created_by").order_by("name", "id"))
    for template in templates:
        plan = template.plan if isinstance(template.plan, dict) else {}
        phases = plan.get("phases") if isinstance(plan.get("phases"), list) else []
        template.phase_names = [p.get("name", "") for p in phases if isinstance(p, dict)]
        template.step_count = len(plan.get("rollback_steps") or [])
    return render(request, "rollouts/release_templates/list.html", {"templates": templates})


@reader_required
def template_save(request: HttpRequest, slug: str) -> HttpResponse:
    _require_planner(request)
    release = _release_or_404(slug)
    form = TemplateSaveForm(
        request.POST if request.method == "POST" else None, initial={"name": f"{release.name} plan"}
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                template = release_templates.template_save_from_release(
                    release_id=release.pk, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Template “{template.name}” saved from {release}.")
                return see_other(reverse("template_list"))
        status = 422
    return render(request, "rollouts/release_templates/save.html", {"form": form, "release": release}, status=status)


def _new_release_page(request, *, form, status, **context) -> HttpResponse:
    return render(request, "rollouts/release_templates/new_release.html", {"form": form, **context}, status=status)


@reader_required
def release_from_template(request: HttpRequest, template_id: int) -> HttpResponse:
    _require_planner(request)
    template = get_object_or_404(ReleaseTemplate, pk=template_id)
    form = NewReleaseForm(request.POST if request.method == "POST" else None, initial={"owner": request.user.pk})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                release = release_templates.release_create_from_template(
                    template_id=template.pk, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(
                    request,
                    f"Release “{release}” planned from template “{template.name}”. "
                    "CI result gates have new pipeline tokens: replace them on the gate to see one.",
                )
                for note in release.plan_notes:
                    messages.warning(request, note)
                return see_other(release.get_absolute_url())
        status = 422
    return _new_release_page(
        request,
        form=form,
        status=status,
        template=template,
        title=f"New release from “{template.name}”",
        action_url=reverse("release_from_template", args=[template.pk]),
    )


@reader_required
def release_clone(request: HttpRequest, slug: str) -> HttpResponse:
    _require_planner(request)
    source = _release_or_404(slug)
    future_start = source.planned_start if source.planned_start and source.planned_start > timezone.now() else None
    initial = {"name": source.name, "owner": source.owner_id, "planned_start": future_start}
    form = NewReleaseForm(request.POST if request.method == "POST" else None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                release = release_templates.release_clone(release_id=source.pk, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Release “{release}” planned as a copy of {source}.")
                for note in release.plan_notes:
                    messages.warning(request, note)
                return see_other(release.get_absolute_url())
        status = 422
    return _new_release_page(
        request,
        form=form,
        status=status,
        source=source,
        title=f"Clone {source}",
        action_url=reverse("release_clone", args=[source.slug]),
    )


def _readable_times(value, key: str = ""):
    """The dossier with its ISO times as datetimes, so the page shows them in local time."""
    if isinstance(value, dict):
        return {k: _readable_times(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_readable_times(v, key) for v in value]
    if isinstance(value, str) and (key == "at" or key.endswith("_at") or key in ("planned_start", "send_at")):
        return parse_datetime(value) or value
    return value


@require_GET
@reader_required
def release_dossier(request: HttpRequest, slug: str) -> HttpResponse:
    data = dossier.release_dossier(slug=slug)
    if data is None:
        _release_or_404(slug)
    return render(request, "rollouts/dossier.html", {"d": _readable_times(data)})


@require_GET
@reader_required
def release_dossier_json(request: HttpRequest, slug: str) -> HttpResponse:
    data = dossier.release_dossier(slug=slug)
    if data is None:
        _release_or_404(slug)
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="dossier-{slug}.json"'
    return response
