from django import forms
from django.utils.text import slugify

from docs_portal.models import DocPage, PublishRule, Visibility
from docs_portal.services import RESERVED_SLUGS
from rollouts.models import Phase

BODY_MAX = 200_000


class DocPageForm(forms.Form):
    title = forms.CharField(max_length=200, error_messages={"required": "Give the page a title."})
    slug = forms.SlugField(
        max_length=120,
        required=False,
        help_text="Used in the address /docs/<slug>/. Leave empty to make one from the title. Fixed once saved.",
    )
    body = forms.CharField(
        required=False,
        max_length=BODY_MAX,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "true", "class": "doc-source"}),
        help_text="Markdown: # headings, **bold**, lists, [links](https://…), tables, ``` fenced code. "
        "HTML is shown as text.",
    )
    visibility = forms.ChoiceField(choices=Visibility.choices, initial=Visibility.SUPPORT)
    publish_rule = forms.ChoiceField(
        choices=PublishRule.choices,
        initial=PublishRule.MANUAL,
        label="Publish",
        help_text="A draft is published by hand, or by Flightdeck when a phase it is linked to starts, "
        "or when a release it is linked to completes.",
    )
    note = forms.CharField(max_length=200, required=False, label="What changed (optional)")
    base_revision = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, page: DocPage | None = None, **kwargs):
        self.page = page
        super().__init__(*args, **kwargs)
        if page is not None:
            del self.fields["slug"]

    def clean_body(self):
        # Keep the author's text as typed, but not trailing blank lines.
        return self.cleaned_data["body"].rstrip()

    def clean(self):
        data = super().clean()
        if self.page is None and "title" in data and not self.errors.get("slug"):
            slug = data.get("slug") or slugify(data["title"])[:120].strip("-")
            if not slug:
                self.add_error("slug", "Choose a slug: the title has no letters or digits to make one from.")
            elif slug in RESERVED_SLUGS:
                self.add_error("slug", f"“{slug}” is a reserved address under /docs/; choose another slug.")
            elif DocPage.objects.filter(slug=slug).exists():
                self.add_error("slug", f"A page with the slug “{slug}” exists; choose another.")
            data["slug"] = slug
        return data


class PreviewForm(forms.Form):
    body = forms.CharField(required=False, max_length=BODY_MAX, strip=False)


class DocLinkForm(forms.Form):
    """Link a page to this release, optionally to one of its phases."""

    page = forms.ModelChoiceField(queryset=DocPage.objects.none(), empty_label="Choose a page…")
    phase = forms.ModelChoiceField(
        queryset=Phase.objects.none(),
        required=False,
        empty_label="The whole release",
        help_text="A phase link serves the “when a linked phase starts” rule and that phase's docs-readiness gate.",
        error_messages={"invalid_choice": "Choose a phase of this release."},
    )

    def __init__(self, *args, release, **kwargs):
        super().__init__(*args, **kwargs)
        self.release = release
        self.fields["page"].queryset = DocPage.objects.order_by("title", "id")
        self.fields["phase"].queryset = Phase.objects.filter(release=release).order_by("position", "id")
        self.fields["page"].label_from_instance = lambda p: f"{p.title} ({p.get_status_display().lower()})"
        self.fields["phase"].label_from_instance = lambda p: f"{p.name} ({p.exposure_percent}%)"


class ReleaseNotesForm(forms.Form):
    body = forms.CharField(
        required=False,
        max_length=BODY_MAX,
        strip=False,
        label="Release notes",
        widget=forms.Textarea(attrs={"rows": 14, "class": "doc-source"}),
        help_text="Markdown. What users read on the public changelog.",
    )
    visible_from_phase = forms.ModelChoiceField(
        queryset=Phase.objects.none(),
        required=False,
        empty_label="When the release completes",
        label="Show on the changelog",
        error_messages={"invalid_choice": "Choose a phase of this release."},
    )

    def __init__(self, *args, release, **kwargs):
        super().__init__(*args, **kwargs)
        self.release = release
        field = self.fields["visible_from_phase"]
        field.queryset = Phase.objects.filter(release=release).order_by("position", "id")
        field.label_from_instance = lambda p: f"From when phase “{p.name}” ({p.exposure_percent}%) starts"

    def clean_body(self):
        return self.cleaned_data["body"].rstrip()


class SearchForm(forms.Form):
    q = forms.CharField(max_length=200, required=False, label="Search the docs")
