"""Forms of the support briefing. They check the shape of the input; briefing_services
checks it again and has the last word."""

from django import forms

from docs_portal.briefing_services import QUESTION_MAX, TEXT_MAX, TITLE_MAX
from docs_portal.models import KnownIssueStatus


class KnownIssueForm(forms.Form):
    title = forms.CharField(
        max_length=TITLE_MAX,
        error_messages={"required": "Give the issue a short title, e.g. “Saved cards missing at checkout”."},
        help_text="What customers notice, in a few words.",
    )
    status = forms.ChoiceField(
        choices=KnownIssueStatus.choices,
        initial=KnownIssueStatus.INVESTIGATING,
        error_messages={"invalid_choice": "Choose one of the statuses listed."},
    )
    description = forms.CharField(
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Markdown: symptoms, who is affected, since when.",
    )
    workaround = forms.CharField(
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Markdown: what support can tell or do for customers until it is fixed.",
    )


class FaqForm(forms.Form):
    question = forms.CharField(
        max_length=QUESTION_MAX,
        error_messages={"required": "Write the question as support hears it."},
    )
    answer = forms.CharField(
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Write the answer support can give."},
        help_text="Markdown.",
    )
