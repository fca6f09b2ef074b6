"""The message form of the communication plan editor.

The form checks types only; comms.plan_services.clean_message decides what makes a
message complete (audiences for email, a phase for phase triggers, known variables …),
so the same rules hold for any caller, and the view puts those errors next to the fields.
"""

from django import forms
from django.conf import settings

from comms.models import Audience, Channel, Message, Trigger
from rollouts.forms import DATETIME_WIDGET
from rollouts.models import Release


class MessageForm(forms.Form):
    name = forms.CharField(
        max_length=120,
        help_text="For you and the outbox, e.g. “Heads-up to support”.",
        error_messages={"required": "Name the message, e.g. “Heads-up to support”."},
    )
    audiences = forms.ModelMultipleChoiceField(
        queryset=Audience.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Who gets the email. Everyone in any chosen audience, once.",
    )
    channel = forms.ChoiceField(choices=Channel.choices)
    webhook_url = forms.CharField(
        max_length=500,
        required=False,
        label="Webhook URL",
        help_text="For the chat webhook channel: the incoming-webhook URL of the channel.",
    )
    subject = forms.CharField(max_length=200, error_messages={"required": "Write a subject."})
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 7}),
        help_text="Markdown, with release variables such as {{ release.name }} (list below).",
        error_messages={"required": "Write the message."},
    )
    trigger = forms.ChoiceField(choices=Trigger.choices, label="When")
    send_at = forms.DateTimeField(required=False, widget=DATETIME_WIDGET, label="Send at")
    phase = forms.TypedChoiceField(
        coerce=int,
        empty_value=None,
        required=False,
        error_messages={"invalid_choice": "Choose one of this release's phases."},
        help_text="For “before/after a phase starts or finishes”.",
    )
    offset_minutes = forms.IntegerField(
        required=False,
        initial=0,
        label="Offset (minutes)",
        help_text="Negative for before, positive for after; up to 43200 (30 days). Not used for a fixed time.",
    )

    def __init__(self, *args, release: Release, message: Message | None = None, **kwargs):
        if message is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": message.name,
                "audiences": [a.pk for a in message.audiences.all()],
                "channel": message.channel,
                "webhook_url": message.webhook_url,
                "subject": message.subject,
                "body": message.body,
                "trigger": message.trigger,
                "send_at": message.send_at,
                "phase": message.phase_id,
                "offset_minutes": message.offset_minutes,
            }
        super().__init__(*args, **kwargs)
        self.release = release
        self.fields["audiences"].queryset = Audience.objects.order_by("name")
        self.fields["phase"].choices = [("", "—")] + [
            (p.pk, f"{i}. {p.name} ({p.exposure_percent}%)")
            for i, p in enumerate(release.phases.order_by("position", "id"), start=1)
        ]
        self.fields["send_at"].help_text = f"For “at a fixed time”; in {settings.TIME_ZONE}."

    def clean_offset_minutes(self):
        return self.cleaned_data.get("offset_minutes") or 0
