import json
import re

from django import forms

from flags import services
from flags.models import Flag, FlagType, Segment
from flags.rules import RuleError, format_rule, parse_rule_line
from rollouts.models import FINISHED_STATUSES, Environment, Release

VARIANT_HELP = (
    "One per line: name = value. Booleans true/false, numbers as digits, objects as JSON on one line; "
    "strings as typed. The first line of a new boolean flag is usually on = true."
)
RULES_HELP = (
    "One per line, all must hold: attribute operator value[, value…], e.g. “plan in pro, enterprise” or "
    "“app_version semver_gte 2.3.0”. Operators: equals, not_equals, in, not_in, starts_with, ends_with, "
    "contains, gt, gte, lt, lte, semver_eq, semver_gt, semver_gte, semver_lt, semver_lte."
)
ATTRIBUTES_HELP = "key = value lines (plan = pro, app_version = 2.3.0, beta = true) or a JSON object."


# --- Text ↔ values ---------------------------------------------------------------------


def parse_variant_value(flag_type: str, raw: str):
    if flag_type == FlagType.STRING:
        if raw.startswith('"'):
            try:
                value = json.loads(raw)
            except ValueError:
                return raw
            return value if isinstance(value, str) else raw
        return raw
    if flag_type == FlagType.BOOLEAN:
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise ValueError(f"“{raw}” is not true or false")
    if flag_type == FlagType.INTEGER:
        if re.fullmatch(r"[+-]?\d+", raw):
            return int(raw)
        raise ValueError(f"“{raw}” is not a whole number")
    if flag_type == FlagType.FLOAT:
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"“{raw}” is not a number") from None
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError(f"“{raw[:40]}” is not JSON") from None
    if not isinstance(value, (dict, list)):
        raise ValueError(f"“{raw[:40]}” is not a JSON object or array")
    return value


def parse_variants(text: str, flag_type: str) -> dict:
    """Lines of `name = value` (or one JSON object) → {name: value}; ValidationError on the first bad line."""
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    variants: dict = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, raw = line.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or not name:
            raise forms.ValidationError(f"Line {number}: write it as “name = value”.")
        if name in variants:
            raise forms.ValidationError(f"Line {number}: variant “{name}” is given twice.")
        try:
            variants[name] = parse_variant_value(flag_type, raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Line {number}: {exc}; {flag_type} flags need {flag_type} values.") from None
    return variants


def format_variants(variants: dict, flag_type: str) -> str:
    def text(value) -> str:
        if isinstance(value, str) and flag_type == FlagType.STRING and value == value.strip() and value:
            return value
        return json.dumps(value, ensure_ascii=False)

    return "\n".join(f"{name} = {text(value)}" for name, value in variants.items())


def parse_attributes(text: str) -> dict:
    """What people type as an evaluation context: key = value lines or a JSON object."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            raise forms.ValidationError("This is not a valid JSON object.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError('Give a JSON object, such as {"plan": "pro"}.')
        return value
    attributes: dict = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        name, sep, raw = line.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or not name:
            raise forms.ValidationError(f"Line {number}: write it as “attribute = value”.")
        try:
            attributes[name] = json.loads(raw)  # numbers, true/false, "quoted strings"
        except ValueError:
            attributes[name] = raw
    return attributes


def split_keys(text: str) -> list[str]:
    return list(dict.fromkeys(k.strip() for k in re.split(r"[\n,]", text) if k.strip()))


# --- Forms -----------------------------------------------------------------------------


class ReleaseChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} {obj.version} ({obj.get_status_display().lower()})"


class FlagForm(forms.Form):
    key = forms.SlugField(
        max_length=100, help_text="What applications ask for, e.g. new-checkout. It cannot change later."
    )
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    type = forms.ChoiceField(choices=FlagType.choices, initial=FlagType.BOOLEAN)
    variants = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        initial="on = true\noff = false",
        help_text=VARIANT_HELP,
    )
    on_variant = forms.CharField(max_length=64, initial="on", help_text="Served to users the rollout reaches.")
    off_variant = forms.CharField(
        max_length=64, initial="off", help_text="Served to everyone else, after a rollback and by the kill switch."
    )
    release = ReleaseChoiceField(
        queryset=Release.objects.none(),
        required=False,
        empty_label="No release: a fixed exposure",
        help_text="While the release runs, the flag's exposure follows its current phase.",
    )
    fixed_exposure = forms.IntegerField(
        min_value=0,
        max_value=100,
        initial=0,
        label="Fixed exposure %",
        help_text="Only without a release: the share of users who get the on variant.",
    )
    segments = forms.ModelMultipleChoiceField(
        queryset=Segment.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only without a release: segments that get the on variant before the percentage.",
    )

    def __init__(self, *args, instance: Flag | None = None, **kwargs):
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "key": instance.key,
                "name": instance.name,
                "description": instance.description,
                "type": instance.type,
                "variants": format_variants(instance.variants, instance.type),
                "on_variant": instance.on_variant,
                "off_variant": instance.off_variant,
                "release": instance.release_id,
                "fixed_exposure": instance.fixed_exposure,
                "segments": [s.pk for s in instance.segments.all()],
            }
        super().__init__(*args, **kwargs)
        releases = Release.objects.exclude(status__in=FINISHED_STATUSES)
        if instance is not None and instance.release_id:
            releases = releases | Release.objects.filter(pk=instance.release_id)
        self.fields["release"].queryset = releases.order_by("name", "version")
        self.fields["segments"].queryset = Segment.objects.order_by("name")
        if instance is not None:
            self.fields["key"].disabled = True
            self.fields["key"].help_text = "Applications ask for this key; it does not change."

    def clean_key(self):
        key = self.cleaned_data["key"]
        if self.instance is None:
            problem = services.key_problem(key)
            if problem:
                raise forms.ValidationError(problem)
            if Flag.objects.filter(key=key).exists():
                raise forms.ValidationError("A flag with this key exists.")
        return key

    def clean(self):
        data = super().clean()
        flag_type = data.get("type")
        if flag_type and "variants" in data:
            try:
                data["variants"] = parse_variants(data["variants"], flag_type)
            except forms.ValidationError as exc:
                self.add_error("variants", exc)
                return data
            if not self.errors:
                problems = services.flag_problems(
                    type=flag_type,
                    variants=data["variants"],
                    on_variant=data.get("on_variant", ""),
                    off_variant=data.get("off_variant", ""),
                    fixed_exposure=data.get("fixed_exposure", 0),
                )
                for name, message in problems.items():
                    self.add_error(name, message)
        return data


class SegmentForm(forms.Form):
    key = forms.SlugField(max_length=100, help_text="A short name used in rules and logs, e.g. beta-testers.")
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    targeting_keys = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text="Targeting keys (user or account ids) in the segment, one per line or comma separated.",
    )
    rules = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}), help_text=RULES_HELP
    )

    def __init__(self, *args, instance: Segment | None = None, **kwargs):
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "key": instance.key,
                "name": instance.name,
                "description": instance.description,
                "targeting_keys": "\n".join(instance.targeting_keys),
                "rules": "\n".join(format_rule(r) for r in instance.rules),
            }
        super().__init__(*args, **kwargs)
        if instance is not None:
            self.fields["key"].disabled = True

    def clean_key(self):
        key = self.cleaned_data["key"]
        if self.instance is None and Segment.objects.filter(key=key).exists():
            raise forms.ValidationError("A segment with this key exists.")
        return key

    def clean_targeting_keys(self):
        keys = split_keys(self.cleaned_data["targeting_keys"])
        if len(keys) > services.MAX_TARGETING_KEYS:
            raise forms.ValidationError(f"At most {services.MAX_TARGETING_KEYS:,} targeting keys per segment.")
        if any(len(k) > 200 for k in keys):
            raise forms.ValidationError("A targeting key is at most 200 characters.")
        return keys

    def clean_rules(self):
        rules = []
        for number, line in enumerate(self.cleaned_data["rules"].splitlines(), 1):
            if not line.strip():
                continue
            try:
                rules.append(parse_rule_line(line))
            except RuleError as exc:
                raise forms.ValidationError(f"Line {number}: {exc}.") from None
        return rules

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("targeting_keys") and not data.get("rules"):
            self.add_error(
                "targeting_keys", "List some targeting keys or write a rule: an empty segment matches no one."
            )
        return data


class ApiKeyForm(forms.Form):
    environment = forms.ChoiceField(choices=Environment.choices, initial=Environment.PRODUCTION)
    name = forms.CharField(max_length=120, help_text="The application that uses it, such as checkout-service.")


class PreviewForm(forms.Form):
    environment = forms.ChoiceField(choices=Environment.choices, initial=Environment.PRODUCTION, required=False)
    targeting_key = forms.CharField(
        required=False, max_length=200, help_text="The user or account id the application sends as targetingKey."
    )
    attributes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text=ATTRIBUTES_HELP,
    )

    def clean_environment(self):
        return self.cleaned_data["environment"] or Environment.PRODUCTION

    def clean_targeting_key(self):
        return self.cleaned_data["targeting_key"].strip()

    def clean_attributes(self):
        return parse_attributes(self.cleaned_data["attributes"])


class ReasonForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class TargetingForm(forms.Form):
    """The segments one phase targets; choices come from a list read once for the whole page."""

    segments = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "Choose segments from the list; %(value)s is not one of them."},
    )

    def __init__(self, *args, segments, **kwargs):
        super().__init__(*args, **kwargs)
        self._by_pk = {s.pk: s for s in segments}
        self.fields["segments"].choices = [(s.pk, s.name) for s in segments]

    def clean_segments(self):
        return [self._by_pk[pk] for pk in self.cleaned_data["segments"]]
