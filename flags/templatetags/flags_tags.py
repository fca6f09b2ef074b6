import json

from django import template

from flags.forms import PreviewForm

register = template.Library()


@register.filter
def json_value(value) -> str:
    """A variant value as JSON: true, 3.0, "blue", {"a": 1}."""
    return json.dumps(value, ensure_ascii=False)


@register.inclusion_tag("flags/partials/briefing_lookup.html")
def flag_lookup(release):
    """The "is this customer in the rollout?" box for a release's support briefing:
    `{% load flags_tags %}{% flag_lookup release %}`."""
    return {"release": release, "lookup_form": PreviewForm(), "answers": None}
