"""What a notice says: the message's subject and Markdown body with release variables.

Variables are a fixed list filled by plain substitution ({{ release.name }}), never by a
template engine, so text written by a release manager cannot reach anything else.
"""

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape

from comms.tokens import stakeholder_token
from rollouts.markdown import render_markdown

VARIABLE = re.compile(r"{{\s*([a-z_]+(?:\.[a-z_]+)?)\s*}}")

VARIABLES = {
    "release.name": "Name of the release",
    "release.version": "Version",
    "release.status": "Its state now",
    "release.exposure": "Exposure now, in %",
    "release.planned_start": "Planned start",
    "release.url": "Link to the release page",
    "release.briefing_url": "Link to the support briefing",
    "release.docs_url": "Link to the user docs",
    "phase.name": "The phase the message is about, or the current one",
    "phase.exposure": "That phase's exposure, in %",
    "phase.planned_start": "That phase's planned start",
    "phase.started_at": "When that phase started",
    "recipient.name": "The stakeholder's name",
    "unsubscribe_url": "Link to stop these emails",
    "preferences_url": "Link to choose which emails to get",
}


@dataclass
class Rendered:
    subject: str
    text: str
    html: str
    unsubscribe_url: str


def _when(value) -> str:
    if value is None:
        return "not set"
    return value.astimezone(ZoneInfo(settings.TIME_ZONE)).strftime("%b %-d, %Y %H:%M %Z")


def context_for(message, release, *, stakeholder=None, phase=None) -> dict[str, str]:
    phase = phase or message.phase or release.current_phase
    current = release.current_phase
    exposure = current.exposure_percent if current is not None and release.status in ("in_progress", "paused") else 0
    if release.status == "completed" and current is not None:
        exposure = current.exposure_percent
    site = settings.SITE_URL
    release_url = site + reverse("release_detail", args=[release.slug])
    return {
        "release.name": release.name,
        "release.version": release.version,
        "release.status": release.get_status_display(),
        "release.exposure": f"{exposure}%",
        "release.planned_start": _when(release.planned_start),
        "release.url": release_url,
        "release.briefing_url": site + reverse("briefings:detail", args=[release.slug]),
        "release.docs_url": site + _docs_index_path(),
        "phase.name": phase.name if phase else "",
        "phase.exposure": f"{phase.exposure_percent}%" if phase else "",
        "phase.planned_start": _when(phase.planned_start) if phase else "",
        "phase.started_at": _when(phase.started_at) if phase else "",
        **_personal_values(stakeholder),
    }


def _docs_index_path() -> str:
    """The user docs index (docs_portal mounts it at /docs/)."""
    try:
        return reverse("docs:index")
    except NoReverseMatch:
        return "/docs/"


def fill(text: str, context: dict[str, str]) -> str:
    """Replace known variables; an unknown one stays as typed, so the preview shows it."""
    return VARIABLE.sub(lambda m: context.get(m.group(1), m.group(0)), text)


def unknown_variables(text: str) -> list[str]:
    return sorted({m.group(1) for m in VARIABLE.finditer(text) if m.group(1) not in VARIABLES})


PERSONAL = ("recipient.name", "unsubscribe_url", "preferences_url")
# Stand-ins for the per-person values while the message is rendered once for everyone:
# letters and digits only, so Markdown and the sanitiser leave them as they are.
_STANDIN = {key: f"FDVAR{i}QZ" for i, key in enumerate(PERSONAL)}


class Prepared:
    """A message rendered once for a release; `for_person` fills in each recipient.

    Markdown is rendered and sanitised once per message, not once per recipient: the
    per-person values go in afterwards, escaped for the HTML part.
    """

    def __init__(self, message, release, *, phase=None):
        context = context_for(message, release, phase=phase)
        context.update(_STANDIN)
        self.release_name = release.name
        # A subject is one header line: no way to smuggle another header in through it.
        self.subject = " ".join(fill(message.subject, context).split())
        self.text = fill(message.body, context)
        self.html = render_markdown(self.text)

    def for_person(self, stakeholder=None) -> Rendered:
        values = _personal_values(stakeholder)
        subject = self.subject
        text = self.text
        html = self.html
        for key, standin in _STANDIN.items():
            subject = subject.replace(standin, " ".join(values[key].split()))
            text = text.replace(standin, values[key])
            html = html.replace(standin, escape(values[key]))
        footer_text = footer_html = ""
        if values["unsubscribe_url"]:
            footer_text = (
                f"\n\n--\nYou get this as a stakeholder of {self.release_name}. "
                f"Choose what you get: {values['preferences_url']}\nUnsubscribe: {values['unsubscribe_url']}\n"
            )
            footer_html = (
                f'<hr><p style="color:#666;font-size:12px">You get this as a stakeholder of '
                f"{escape(self.release_name)}. "
                f'<a href="{escape(values["preferences_url"])}">Choose what you get</a> · '
                f'<a href="{escape(values["unsubscribe_url"])}">Unsubscribe</a></p>'
            )
        return Rendered(
            subject=subject[:250],
            text=text + footer_text,
            html=html + footer_html,
            unsubscribe_url=values["unsubscribe_url"],
        )


def _personal_values(stakeholder) -> dict[str, str]:
    if stakeholder is None:
        return {"recipient.name": "there", "unsubscribe_url": "", "preferences_url": ""}
    token = stakeholder_token(stakeholder.pk)
    site = settings.SITE_URL
    return {
        "recipient.name": stakeholder.name or stakeholder.email,
        "unsubscribe_url": site + reverse("comms_public:unsubscribe", args=[token]),
        "preferences_url": site + reverse("comms_public:preferences", args=[token]),
    }


def render(message, release, *, stakeholder=None, phase=None) -> Rendered:
    return Prepared(message, release, phase=phase).for_person(stakeholder)
