from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from rollouts import action_registry
from rollouts.models import Environment, GateKind, Phase, Release, RollbackAction, RollbackStep
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
        fields = [
            "name",
            "version",
            "slug",
            "summary",
            "owner",
            "strategy",
            "planned_start",
            "on_gate_failure",
            "rollback_on_deadline",
        ]
        widgets = {"summary": forms.Textarea(attrs={"rows": 4})}
        labels = {"on_gate_failure": "When a required gate fails"}

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

    progress_deadline_minutes = forms.IntegerField(
        min_value=1,
        max_value=60 * 24 * 30,
        required=False,
        label="Progress deadline (minutes)",
        help_text="Optional. Past it the release is marked degraded.",
    )

    class Meta:
        model = Phase
        fields = [
            "name",
            "environment",
            "exposure_percent",
            "min_soak_minutes",
            "planned_start",
            "auto_advance",
            "progress_deadline_minutes",
        ]
        help_texts = {"auto_advance": "Flightdeck advances this phase itself once its gates pass and soak is over."}


CONDITION_OPS = [("<", "<"), ("<=", "≤"), (">", ">"), (">=", "≥"), ("==", "="), ("!=", "≠")]

# Config fields per gate kind; the form shows them under the kind they belong to.
CONFIG_FIELDS = {
    GateKind.HTTP_CHECK: [
        "url",
        "expected_status",
        "json_path",
        "expected_value",
        "interval_seconds",
        "count",
        "failure_limit",
        "consecutive_error_limit",
        "timeout_seconds",
    ],
    GateKind.METRIC_THRESHOLD: [
        "address",
        "query",
        "success_op",
        "success_value",
        "failure_op",
        "failure_value",
        "interval_seconds",
        "count",
        "failure_limit",
        "inconclusive_limit",
        "consecutive_error_limit",
        "timeout_seconds",
    ],
}


class GateForm(forms.Form):
    name = forms.CharField(max_length=120)
    # Communication gates are added from the communication plan, which names the message.
    kind = forms.ChoiceField(choices=[c for c in GateKind.choices if c[0] != GateKind.COMMS_READY])
    required = forms.BooleanField(required=False, initial=True, help_text="Must pass before the phase advances.")
    required_approvals = forms.IntegerField(
        min_value=1, max_value=10, initial=1, label="Approvals needed", help_text="For manual approval gates."
    )
    checklist = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For checklist gates: one item per line.",
    )
    # http_check
    url = forms.CharField(required=False, max_length=500, label="URL to check")
    expected_status = forms.IntegerField(required=False, label="Expected status", initial=200)
    json_path = forms.CharField(
        required=False, max_length=200, label="JSON path (optional)", help_text="e.g. status.db"
    )
    expected_value = forms.CharField(required=False, max_length=200, label="Expected value at the path")
    # metric_threshold
    address = forms.CharField(required=False, max_length=500, label="Prometheus address")
    query = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="PromQL query")
    success_op = forms.ChoiceField(required=False, choices=CONDITION_OPS, initial="<=", label="Passes when result")
    success_value = forms.FloatField(required=False, label="Success threshold")
    failure_op = forms.ChoiceField(
        required=False, choices=[("", "—"), *CONDITION_OPS], label="Fails when result (optional)"
    )
    failure_value = forms.FloatField(required=False, label="Failure threshold")
    inconclusive_limit = forms.IntegerField(required=False, label="Inconclusive results tolerated")
    # both measured kinds
    interval_seconds = forms.IntegerField(required=False, label="Measure every (seconds)")
    count = forms.IntegerField(required=False, label="Measurements needed")
    failure_limit = forms.IntegerField(required=False, label="Failures tolerated")
    consecutive_error_limit = forms.IntegerField(required=False, label="Provider errors tolerated in a row")
    timeout_seconds = forms.FloatField(required=False, label="Timeout (seconds)")

    def raw_config(self, data) -> dict:
        kind = data.get("kind")
        raw = {}
        for name in CONFIG_FIELDS.get(kind, []):
            value = data.get(name)
            if value in (None, ""):
                continue
            raw[name] = value
        if kind == GateKind.METRIC_THRESHOLD:
            for side in ("success", "failure"):
                op, value = raw.pop(f"{side}_op", None), raw.pop(f"{side}_value", None)
                if value is not None and op:
                    raw[f"{side}_condition"] = {"op": op, "value": value}
        return raw

    # Config errors keyed by config name, shown next to the form field that holds it.
    CONFIG_ERROR_FIELDS = {"success_condition": "success_value", "failure_condition": "failure_value"}

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind in CONFIG_FIELDS:
            from rollouts import gate_checks

            try:
                data["config"] = gate_checks.clean_config(kind, self.raw_config(data))
            except forms.ValidationError as exc:
                for name, errors in getattr(exc, "error_dict", {None: exc.error_list}).items():
                    field = self.CONFIG_ERROR_FIELDS.get(name, name)
                    self.add_error(field if field in self.fields else None, errors)
        else:
            data["config"] = {}
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
    action_url = forms.URLField(
        assume_scheme="https",
        required=False,
        max_length=500,
        label="Webhook URL",
        help_text="For automated steps: Flightdeck POSTs the rollback details here.",
    )
    action_flag = forms.CharField(
        required=False,
        max_length=100,
        label="Flag key",
        help_text="For “Turn a feature flag off”: the key of the flag whose kill switch the step turns on.",
    )

    class Meta:
        model = RollbackStep
        fields = ["title", "instructions", "owner", "expected_minutes", "action"]
        widgets = {"instructions": forms.Textarea(attrs={"rows": 3})}
        labels = {"action": "How it is done"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = _people()
        if self.instance.pk and self.instance.action_config.get("url"):
            self.fields["action_url"].initial = self.instance.action_config["url"]
        if self.instance.pk and self.instance.action_config.get("flag"):
            self.fields["action_flag"].initial = self.instance.action_config["flag"]

    def clean(self):
        data = super().clean()
        if data.get("action") == RollbackAction.WEBHOOK:
            if not data.get("action_url"):
                self.add_error("action_url", "An automated step needs the webhook URL to call.")
            data["action_config"] = {"url": data.get("action_url", ""), "method": "POST"}
        elif data.get("action") == RollbackAction.FLAG_OFF:
            # The flags app performs this action and knows its flags (rollouts never imports it).
            config = {"flag": (data.get("action_flag") or "").strip()}
            performer = action_registry.performer_for(RollbackAction.FLAG_OFF)
            check = getattr(performer, "config_problem", None)
            if performer is None:
                self.add_error("action", "Feature flags are not installed here, so no step can turn one off.")
            elif check is not None and (problem := check(config)):
                self.add_error("action_flag", problem)
            data["action_config"] = config
        else:
            data["action_config"] = {}
        data.pop("action_url", None)
        data.pop("action_flag", None)
        return data


class FreezeWindowForm(forms.Form):
    name = forms.CharField(max_length=120)
    timezone = forms.CharField(max_length=64, initial="UTC", help_text="An IANA zone such as Europe/Berlin.")
    starts_local = forms.DateTimeField(widget=DATETIME_WIDGET, label="Starts (local time)")
    ends_local = forms.DateTimeField(widget=DATETIME_WIDGET, label="Ends (local time)")
    reason = forms.CharField(required=False, max_length=500)

    def clean_timezone(self):
        from rollouts.schedule import zone

        name = self.cleaned_data["timezone"].strip()
        try:
            zone(name)
        except forms.ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["timezone"]) from None
        return name

    def clean(self):
        data = super().clean()
        start, end = data.get("starts_local"), data.get("ends_local")
        if start and end and end <= start:
            self.add_error("ends_local", "The freeze must end after it starts.")
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class DecisionForm(forms.Form):
    comment = forms.CharField(required=False, max_length=2000)


WEEKDAY_CHOICES = [(1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun")]


class AllowedHoursForm(forms.Form):
    timezone = forms.CharField(max_length=64, initial="UTC", help_text="An IANA zone such as Europe/Berlin.")
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAY_CHOICES,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        initial=[1, 2, 3, 4, 5],
        error_messages={"required": "Pick at least one day."},
    )
    start_time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"), initial="09:00")
    end_time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"), initial="17:00")

    def clean_timezone(self):
        from rollouts.schedule import zone

        name = self.cleaned_data["timezone"].strip()
        try:
            zone(name)
        except forms.ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["timezone"]) from None
        return name

    def clean(self):
        data = super().clean()
        if data.get("start_time") is not None and data.get("start_time") == data.get("end_time"):
            self.add_error("end_time", "The range must not start and end at the same time.")
        return data
