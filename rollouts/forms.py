from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from rollouts.models import Environment, GateKind, Phase, Release, RollbackStep, Strategy
from rollouts.roles import RELEASE_MANAGER

User = get_user_model()

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _people():
    return User.objects.filter(is_active=True).order_by("first_name", "last_name", "username")


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        full = obj.get_full_name()
        return f"{full} ({obj.username})" if full else obj.username


class ReleaseForm(forms.ModelForm):
    slug = forms.SlugField(
        max_length=80,
        required=False,
        help_text="Used in links. Leave empty to make one from the name and version.",
    )
    owner = PersonChoiceField(queryset=User.objects.none())
    planned_start = forms.DateTimeField(required=False, widget=DATETIME_WIDGET)

    class Meta:
        model = Release
        fields = ["name", "version", "slug", "summary", "owner", "strategy", "planned_start"]
        widgets = {"summary": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = (
            _people().filter(Q(groups__name=RELEASE_MANAGER) | Q(is_superuser=True)).distinct()
        )
        self.fields["strategy"].widget.attrs.update(
            {"hx-get": "", "hx-target": "#proposed-plan", "hx-trigger": "change", "hx-swap": "outerHTML"}
        )

    def clean_slug(self):
        slug = self.cleaned_data.get("slug") or ""
        qs = Release.objects.filter(slug=slug)
        if self.instance.pk:
            qs = qs.exclude(pk=self.instance.pk)
        if slug and qs.exists():
            raise forms.ValidationError("A release with this slug exists. Pick another one.")
        return slug

    def validate_unique(self):
        # Slug uniqueness is checked in clean_slug (where an empty slug is allowed).
        pass


class ReleaseEditForm(ReleaseForm):
    class Meta(ReleaseForm.Meta):
        pass

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = True
        self.fields["strategy"].widget.attrs.pop("hx-get", None)


class PhaseForm(forms.ModelForm):
    exposure_percent = forms.IntegerField(
        min_value=0,
        max_value=100,
        label="Exposure %",
        error_messages={
            "min_value": "Exposure must be between 0 and 100%%.",
            "max_value": "Exposure must be between 0 and 100%%.",
        },
    )
    min_soak_minutes = forms.IntegerField(min_value=0, max_value=60 * 24 * 30, label="Minimum soak (minutes)")
    planned_start = forms.DateTimeField(required=False, widget=DATETIME_WIDGET)
    environment = forms.ChoiceField(choices=Environment.choices)

    class Meta:
        model = Phase
        fields = ["name", "environment", "exposure_percent", "min_soak_minutes", "planned_start", "auto_advance"]


class GateForm(forms.Form):
    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=GateKind.choices)
    required = forms.BooleanField(required=False, initial=True, help_text="Must pass before the phase advances.")
    required_approvals = forms.IntegerField(
        min_value=1, max_value=10, initial=1, label="Approvals needed", help_text="For manual approval gates."
    )
    checklist = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For checklist gates: one item per line.",
    )

    def clean(self):
        data = super().clean()
        if data.get("kind") == GateKind.CHECKLIST:
            lines = [line.strip() for line in (data.get("checklist") or "").splitlines() if line.strip()]
            if not lines:
                self.add_error("checklist", "A checklist gate needs at least one item, one per line.")
            elif any(len(line) > 300 for line in lines):
                self.add_error("checklist", "Each checklist item must be at most 300 characters.")
            data["checklist_items"] = lines
        else:
            data["checklist_items"] = []
        return data


class RollbackStepForm(forms.ModelForm):
    owner = PersonChoiceField(queryset=User.objects.none(), required=False)
    expected_minutes = forms.IntegerField(min_value=0, max_value=24 * 60, initial=5)

    class Meta:
        model = RollbackStep
        fields = ["title", "instructions", "owner", "expected_minutes"]
        widgets = {"instructions": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = _people()


class ReasonForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class DecisionForm(forms.Form):
    comment = forms.CharField(required=False, max_length=2000)


__all__ = [
    "DecisionForm",
    "GateForm",
    "PhaseForm",
    "ReasonForm",
    "ReleaseEditForm",
    "ReleaseForm",
    "RollbackStepForm",
    "Strategy",
]
