"""Pages for outgoing webhook subscriptions and their delivery log. Release managers only.

Thin: rollouts/webhooks.py reads and writes, rollouts/permissions.py decides. The secret
is shown once, on the page the browser lands on right after it was made.
"""

from functools import wraps

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.dateformat import format as date_format
from django.views.decorators.http import require_GET, require_POST

from rollouts import permissions, webhooks
from rollouts.models import FINISHED_STATUSES, Release, WebhookSubscription
from rollouts.views import reader_required, see_other

SESSION_KEY_NEW_SECRET = "webhook_secret_once"  # noqa: S105 (a session key, not a secret)


class SubscriptionForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Who receives these, such as “Deploy bot”.")
    url = forms.CharField(
        max_length=500,
        label="URL",
        help_text="Receives a signed POST for each event (Standard Webhooks).",
        widget=forms.URLInput(attrs={"placeholder": "https://ci.example.com/hooks/flightdeck"}),
    )
    events = forms.MultipleChoiceField(
        choices=list(webhooks.EVENT_TYPES.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick none to receive every event listed.",
        error_messages={"invalid_choice": "Unknown event type: %(value)s. Choose from the list."},
    )
    release = forms.ModelChoiceField(
        queryset=Release.objects.none(),
        required=False,
        empty_label="All releases",
        help_text="Only this release's events, or every release's.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["release"].queryset = Release.objects.exclude(status__in=FINISHED_STATUSES).order_by(
            "name", "version"
        )

    def clean_url(self):
        # Checked here too so that every mistake shows at once; the service checks again.
        url = self.cleaned_data["url"].strip()
        problem = webhooks.url_problem(url)
        if problem:
            raise forms.ValidationError(problem)
        return url


def manager_required(view):
    """Signed in with a role (else login or 403), and a release manager (else 403)."""

    @reader_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not permissions.can_plan(request.user):
            raise PermissionDenied("Only release managers manage webhooks.")
        return view(request, *args, **kwargs)

    return wrapper


def _show_secret_once(request: HttpRequest, subscription: WebhookSubscription) -> None:
    request.session[SESSION_KEY_NEW_SECRET] = {"subscription": subscription.pk, "secret": subscription.secret}


def _take_secret(request: HttpRequest, subscription_id: int) -> str | None:
    once = request.session.get(SESSION_KEY_NEW_SECRET)
    if not once or once.get("subscription") != subscription_id:
        return None
    del request.session[SESSION_KEY_NEW_SECRET]
    return once["secret"]


def _render_detail(request: HttpRequest, subscription_id: int, *, partial: bool | None = None) -> HttpResponse:
    page = webhooks.subscription_page(subscription_id)
    if page is None:
        raise Http404("No such webhook subscription.")
    use_partial = bool(request.htmx) if partial is None else partial
    template = "rollouts/webhooks/detail.html#body" if use_partial else "rollouts/webhooks/detail.html"
    context = {
        "subscription": page.subscription,
        "deliveries": page.deliveries,
        "event_types": webhooks.EVENT_TYPES,
        "log_limit": webhooks.DELIVERY_LOG_LIMIT,
        "secret": _take_secret(request, subscription_id),
        "previous_secret_until": page.previous_secret_until,
        "grace_hours": settings.WEBHOOK_SECRET_GRACE_HOURS,
    }
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    if context["secret"]:
        add_never_cache_headers(response)  # no copy of the secret in any cache or history
    return response


def _after_change(request: HttpRequest, subscription_id: int) -> HttpResponse:
    if request.htmx:
        return _render_detail(request, subscription_id, partial=True)
    return see_other(reverse("webhook_detail", args=[subscription_id]))


def _subscription_or_404(subscription_id: int) -> WebhookSubscription:
    subscription = WebhookSubscription.objects.filter(pk=subscription_id).first()
    if subscription is None:
        raise Http404("No such webhook subscription.")
    return subscription


@require_GET
@manager_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    return render(request, "rollouts/webhooks/list.html", {"subscriptions": webhooks.subscription_list()})


@manager_required
def webhook_create(request: HttpRequest) -> HttpResponse:
    form = SubscriptionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                subscription = webhooks.subscription_create(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                for name, errors in exc.error_dict.items():
                    form.add_error(name if name in form.fields else None, errors)
            else:
                _show_secret_once(request, subscription)
                messages.success(request, f"Webhook “{subscription.name}” created.")
                return see_other(reverse("webhook_detail", args=[subscription.pk]))
        status = 422
    return render(request, "rollouts/webhooks/form.html", {"form": form}, status=status)


@require_GET
@manager_required
def webhook_detail(request: HttpRequest, subscription_id: int) -> HttpResponse:
    return _render_detail(request, subscription_id)


@require_POST
@manager_required
def webhook_disable(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = _subscription_or_404(subscription_id)
    reason = request.POST.get("reason", "").strip()[:250]
    who = request.user.get_username()
    webhooks.subscription_disable(
        subscription_id=subscription.pk,
        actor=request.user,
        reason=f"Disabled by {who}: {reason}" if reason else "",
    )
    messages.success(request, f"Webhook “{subscription.name}” disabled: nothing more is sent.")
    return _after_change(request, subscription.pk)


@require_POST
@manager_required
def webhook_enable(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = _subscription_or_404(subscription_id)
    webhooks.subscription_enable(subscription_id=subscription.pk, actor=request.user)
    messages.success(request, f"Webhook “{subscription.name}” enabled: pending deliveries go out shortly.")
    return _after_change(request, subscription.pk)


@require_POST
@manager_required
def webhook_rotate_secret(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = _subscription_or_404(subscription_id)
    subscription = webhooks.subscription_rotate_secret(subscription_id=subscription.pk, actor=request.user)
    _show_secret_once(request, subscription)
    if subscription.previous_secret_until is not None:
        until = date_format(timezone.localtime(subscription.previous_secret_until), "M j, Y H:i T")
        messages.warning(
            request,
            f"New secret made. The previous secret is still accepted until {until}: update the receiver before then.",
        )
    else:
        messages.warning(request, "New secret made. The old one no longer verifies: update the receiver now.")
    return _after_change(request, subscription.pk)
