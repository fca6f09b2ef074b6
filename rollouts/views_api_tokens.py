"""The API tokens page: make a personal token (shown once), see yours, revoke one.

Thin: rollouts/api/tokens.py makes and revokes. A token is the signed-in user's own; its
scopes narrow what the API lets it do, and the user's roles still decide.
"""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from rollouts.api import tokens
from rollouts.models import ApiScope
from rollouts.roles import user_roles
from rollouts.views import reader_required, see_other

EXPIRY_CHOICES = [("", "Never"), ("7", "In 7 days"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year")]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="What uses it, such as “Deploy pipeline” or “Argo Rollouts”.")
    scopes = forms.MultipleChoiceField(
        choices=ApiScope.choices,
        initial=[ApiScope.READ],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope."},
        help_text="Argo and Flagger gates and status polling need only read.",
    )
    expires = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label="Expires")

    def expires_at(self):
        days = self.cleaned_data.get("expires")
        return timezone.now() + timedelta(days=int(days)) if days else None


def _render(request: HttpRequest, form: ApiTokenForm, *, status: int = 200, new_token: str = "", new=None):
    context = {
        "form": form,
        "tokens": list(tokens.tokens_of(request.user)),
        "new_token": new_token,
        "new": new,
        "roles": sorted(user_roles(request.user)),
        "now": timezone.now(),
    }
    response = render(request, "rollouts/api_tokens.html", context, status=status)
    if new_token:
        add_never_cache_headers(response)  # no copy of the token in any cache or history
    return response


@require_http_methods(["GET", "POST"])
@reader_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _render(request, ApiTokenForm())
    form = ApiTokenForm(request.POST)
    if form.is_valid():
        try:
            row, token = tokens.api_token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.expires_at(),
            )
        except ValidationError as exc:
            for name, errors in exc.error_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            # Rendered here, not after a redirect, so the token never sits in a session.
            return _render(request, ApiTokenForm(), new_token=token, new=row)
    return _render(request, form, status=422)


@require_POST
@reader_required
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    if tokens.api_token_revoke(token_id=token_id, user=request.user):
        messages.success(request, "Token revoked: it no longer works.")
    else:
        messages.info(request, "That token was already revoked.")
    return see_other(reverse("api_tokens"))
