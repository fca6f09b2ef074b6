"""Forms of the comms pages. They check the shape of the input; comms/services.py checks
it again against the database and has the last word."""

from django import forms
from django.utils import formats

from comms import selectors
from comms.services import IMPORT_MAX_BYTES


class AudienceForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Such as “Customers”, “Support” or “Executives”.")
    description = forms.CharField(
        max_length=300, required=False, help_text="Who is in it and what they need to hear, for other planners."
    )
    support_digest = forms.BooleanField(
        required=False,
        label="Send the support digest",
        help_text="Whenever a phase of a release starts, members get a short email linking to its support briefing.",
    )


class AudienceChoiceField(forms.ModelMultipleChoiceField):
    def __init__(self, *args, notes: dict[int, str] | None = None, **kwargs):
        self.notes = notes or {}
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj) -> str:
        note = self.notes.get(obj.pk)
        return f"{obj.name} ({note})" if note else obj.name


class StakeholderForm(forms.Form):
    email = forms.EmailField(max_length=254)
    name = forms.CharField(max_length=200, required=False)
    organisation = forms.CharField(max_length=200, required=False)
    audiences = AudienceChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple, help_text="Who they hear from us as."
    )

    def __init__(self, *args, unsubscribed: dict | None = None, **kwargs):
        """`unsubscribed` maps audience ids to when the stakeholder unsubscribed from them."""
        super().__init__(*args, **kwargs)
        field = self.fields["audiences"]
        field.queryset = selectors.audience_choices()
        field.notes = {
            pk: f"unsubscribed {formats.date_format(when, 'M j, Y')}" for pk, when in (unsubscribed or {}).items()
        }


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        error_messages={"required": "Choose a CSV file to import."},
        help_text="UTF-8 CSV with a header row, at most 2 MB and 20,000 rows.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    audiences = forms.ModelMultipleChoiceField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Also add everyone in the file to",
        help_text="On top of the audiences named in the file's own “audiences” column.",
    )
    create_missing_audiences = forms.BooleanField(
        required=False,
        label="Create missing audiences",
        help_text="Without it, a row naming an audience that does not exist is listed as a bad row.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["audiences"].queryset = selectors.audience_choices()

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > IMPORT_MAX_BYTES:
            raise forms.ValidationError("The file is larger than 2 MB. Split it into smaller files.")
        return upload


class PreferencesForm(forms.Form):
    audiences = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Send me notices for",
        error_messages={"invalid_choice": "Choose among the lists you are on."},
    )

    def __init__(self, *args, memberships=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["audiences"].choices = [(m.audience_id, m.audience.name) for m in memberships]
