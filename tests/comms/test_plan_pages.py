"""The communication plan editor on the release page, the message preview and the outbox."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from comms import plan_services, planner
from comms.models import Audience, CommunicationPlan, Membership, Message, Notice, Stakeholder, Trigger
from rollouts import transitions
from rollouts.models import Event, Gate, GateKind, Phase
from tests.factories import release_with_phases

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
FORM_LOCAL = "%Y-%m-%dT%H:%M"


@pytest.fixture
def customers():
    audience = Audience.objects.create(name="Customers")
    for email, name in [("ana@example.com", "Ana Alvarez"), ("ben@example.com", "Ben Brown")]:
        Membership.objects.create(stakeholder=Stakeholder.objects.create(email=email, name=name), audience=audience)
    return audience


@pytest.fixture
def support_team():
    audience = Audience.objects.create(name="Support team")
    Membership.objects.create(
        stakeholder=Stakeholder.objects.create(email="sue@example.com", name="Sue"), audience=audience
    )
    return audience


def plan_url(release):
    return f"/comms/releases/{release.slug}/plan/"


def form_data(audience=None, **changes):
    data = {
        "name": "Heads-up",
        "audiences": [audience.pk] if audience else [],
        "channel": "email",
        "webhook_url": "",
        "subject": "{{ release.name }} {{ release.version }} is coming",
        "body": "Hello {{ recipient.name }}, **{{ phase.name }}** is next.",
        "trigger": "at_time",
        "send_at": (timezone.now() + timedelta(days=2)).strftime(FORM_LOCAL),
        "phase": "",
        "offset_minutes": "0",
    }
    data.update(changes)
    return data


def create_message(release, actor, audience, **changes):
    fields = {
        "name": "Heads-up",
        "audiences": [audience] if audience else [],
        "subject": "{{ release.name }} {{ release.version }} is coming",
        "body": "Hello {{ recipient.name }}",
        "trigger": Trigger.AT_TIME,
        "send_at": timezone.now() + timedelta(days=2),
        **changes,
    }
    return plan_services.message_create(actor=actor, release_id=release.pk, **fields)


def make_notice(message, recipient, status=Notice.Status.PENDING, due_in=timedelta(hours=1), **fields):
    stakeholder = Stakeholder.objects.filter(email=recipient).first()
    return Notice.objects.create(
        message=message,
        stakeholder=stakeholder,
        recipient=recipient,
        occurrence=fields.pop("occurrence", "at"),
        due_at=timezone.now() + due_in if due_in is not None else None,
        status=status,
        sent_at=timezone.now() if status == Notice.Status.SENT else None,
        **fields,
    )


# --- The message form: bad input ------------------------------------------------------


BAD_INPUTS = [
    ("audiences", {"audiences": []}, "Choose at least one audience"),
    ("webhook_url", {"channel": "webhook", "audiences": []}, "Give the chat webhook"),
    ("webhook_url", {"channel": "webhook", "webhook_url": "ftp://hooks.example.com/x"}, "http:// or https://"),
    ("send_at", {"send_at": ""}, "Choose when to send it"),
    ("send_at", {"send_at": "2001-01-01T10:00"}, "That time has passed"),
    ("send_at", {"send_at": "next tuesday"}, "Enter a valid date/time"),
    ("phase", {"trigger": "phase_start", "phase": ""}, "Choose the phase"),
    ("phase", {"trigger": "phase_start", "phase": "999999"}, "Choose one of this release"),
    ("offset_minutes", {"trigger": "phase_start", "offset_minutes": "50000"}, "within 30 days"),
    ("offset_minutes", {"trigger": "on_pause", "offset_minutes": "-10"}, "cannot go out before"),
    ("offset_minutes", {"offset_minutes": "soon"}, "Enter a whole number"),
    ("subject", {"subject": "   "}, "Write a subject"),
    ("body", {"body": "  "}, "Write the message"),
    ("body", {"body": "Hi {{ release.codename }} and {{ release.name }}"}, "{{ release.codename }}"),
    ("subject", {"subject": "{{ version }} is out"}, "{{ version }}"),
    ("name", {"name": ""}, "Name the message"),
]


@pytest.mark.parametrize(("field", "changes", "text"), BAD_INPUTS, ids=[f"{f}-{t[:18]}" for f, _, t in BAD_INPUTS])
def test_message_add__bad_input__422_error_next_to_field_and_typed_values_kept(
    manager_client, release, customers, field, changes, text
):
    # Given a form with one bad value and a name typed by the manager
    data = form_data(customers, **{"name": "Typed by hand", **changes})
    # When it is posted through htmx
    response = manager_client.post(
        f"/comms/releases/{release.slug}/plan/messages/add/", data, **HTMX, HTTP_HX_TARGET="message-new-form"
    )
    # Then the form comes back with the error under the field and what was typed
    assert response.status_code == 422
    html = response.content.decode()
    error = html.split(f'id="id_{field}_error"')[1].split("</p>")[0]
    assert text in error.replace("&#x27;", "'").replace("&ldquo;", "“")
    if field != "name":
        assert 'value="Typed by hand"' in html
    if changes.get("body", "").strip():
        assert "Hi {{ release.codename }}" in html
    if changes.get("offset_minutes"):
        assert f'value="{changes["offset_minutes"]}"' in html
    assert not Message.objects.exists()


def test_message_add__everything_empty__422_with_errors(manager_client, release):
    response = manager_client.post(f"/comms/releases/{release.slug}/plan/messages/add/", {}, **HTMX)
    assert response.status_code == 422
    assert 'id="id_name_error"' in response.content.decode()


def test_message_add__unknown_variables__error_names_each_one(manager, release, customers):
    with pytest.raises(ValidationError) as caught:
        create_message(release, manager, customers, body="{{ release.codename }} {{ foo }} {{ release.name }}")
    text = " ".join(caught.value.message_dict["body"])
    assert text.startswith("Unknown variables {{ foo }}, {{ release.codename }}:")


# --- Create, edit, delete -------------------------------------------------------------


def test_message_add__htmx_valid__saved_event_recorded_plan_swapped_into_section(
    manager_client, manager, release, customers, django_capture_on_commit_callbacks
):
    # When the manager adds a message through the inline form
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            f"/comms/releases/{release.slug}/plan/messages/add/",
            form_data(customers, name="Customer heads-up"),
            **HTMX,
            HTTP_HX_TARGET="message-new-form",
        )
    # Then the plan is answered into #comms-plan, showing the new message
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#comms-plan" and response["HX-Reswap"] == "innerHTML"
    assert "Customer heads-up" in response.content.decode()
    message = Message.objects.get()
    assert message.plan == CommunicationPlan.objects.get(release=release)
    assert list(message.audiences.all()) == [customers]
    assert Event.objects.filter(release=release, verb="plan.message_saved", data__name="Customer heads-up").exists()
    # and the event re-planned the release: one pending notice per customer
    assert sorted(Notice.objects.values_list("recipient", flat=True)) == ["ana@example.com", "ben@example.com"]


def test_message_add__without_htmx__303_to_plan_page(manager_client, release, customers):
    response = manager_client.post(f"/comms/releases/{release.slug}/plan/messages/add/", form_data(customers))
    assert response.status_code == 303
    assert response["Location"] == plan_url(release)
    page = manager_client.get(plan_url(release))
    assert page.status_code == 200 and "Message “Heads-up” saved." in page.content.decode()


def test_message_add__second_message__same_plan_reused(manager, release, customers):
    first = create_message(release, manager, customers)
    second = create_message(release, manager, customers, name="Second")
    assert first.plan_id == second.plan_id
    assert CommunicationPlan.objects.count() == 1


def test_message_edit__get__form_shows_saved_values(manager_client, manager, release, customers):
    message = create_message(release, manager, customers, subject="Saved subject {{ release.name }}")
    response = manager_client.get(f"/comms/releases/{release.slug}/plan/messages/{message.pk}/edit/", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="Saved subject {{ release.name }}"' in html
    assert f'value="{customers.pk}" id="id_audiences_0" checked' in html or "checked" in html.split("Customers")[0]


def test_message_edit__valid__saved_and_event_recorded(manager_client, manager, release, customers, support_team):
    message = create_message(release, manager, customers)
    phase = release.phases.get(position=1)
    data = form_data(support_team, name="Phase heads-up", trigger="phase_start", phase=str(phase.pk))
    data["offset_minutes"] = "-60"
    response = manager_client.post(
        f"/comms/releases/{release.slug}/plan/messages/{message.pk}/edit/", data, **HTMX, HTTP_HX_TARGET="x"
    )
    assert response.status_code == 200
    message.refresh_from_db()
    assert (message.name, message.trigger, message.phase_id, message.offset_minutes) == (
        "Phase heads-up",
        "phase_start",
        phase.pk,
        -60,
    )
    assert message.send_at is None
    assert list(message.audiences.all()) == [support_team]
    assert Event.objects.filter(verb="plan.message_saved").count() == 2


def test_message_edit__send_at_passed_but_unchanged__saved_and_preview_has_no_problem(
    manager_client, manager, release, customers
):
    # Given a message whose fixed time has passed since it was written
    send_at = (timezone.now() + timedelta(hours=1)).replace(second=0, microsecond=0)
    message = create_message(release, manager, customers, send_at=send_at)
    with time_machine.travel(send_at + timedelta(hours=1)):
        data = form_data(customers, name="Renamed", send_at=timezone.localtime(send_at).strftime(FORM_LOCAL))
        # When the manager previews and saves it with the same time
        preview = manager_client.post(
            f"/comms/releases/{release.slug}/plan/preview", {**data, "message": message.pk}, **HTMX
        )
        saved = manager_client.post(f"/comms/releases/{release.slug}/plan/messages/{message.pk}/edit/", data)
    # Then the time it already had is no problem
    assert "Before it can be saved" not in preview.content.decode()
    assert saved.status_code == 303
    message.refresh_from_db()
    assert message.name == "Renamed" and message.send_at == send_at


def test_message_edit__form_next_to_add_form__own_element_ids(manager_client, manager, release, customers):
    message = create_message(release, manager, customers)
    html = manager_client.get(f"/comms/releases/{release.slug}/plan/messages/{message.pk}/edit/", **HTMX).content
    assert f'id="id_m{message.pk}_name"' in html.decode() and 'id="id_name"' not in html.decode()


def test_message_add__webhook_channel__saved_without_audiences(manager, release, customers):
    message = create_message(
        release, manager, customers, channel="webhook", webhook_url="https://chat.example.com/hook/secret"
    )
    assert message.channel == "webhook" and not message.audiences.exists()


def test_message_edit__bad_input__422_and_message_unchanged(manager_client, manager, release, customers):
    message = create_message(release, manager, customers)
    response = manager_client.post(
        f"/comms/releases/{release.slug}/plan/messages/{message.pk}/edit/",
        form_data(customers, subject="{{ nope }}"),
        **HTMX,
    )
    assert response.status_code == 422
    assert 'value="{{ nope }}"' in response.content.decode()
    message.refresh_from_db()
    assert message.subject == "{{ release.name }} {{ release.version }} is coming"


def test_message_delete__manager__removed_with_its_notices_and_event_recorded(
    manager_client, manager, release, customers
):
    message = create_message(release, manager, customers)
    make_notice(message, "ana@example.com", Notice.Status.SENT)
    response = manager_client.post(
        f"/comms/releases/{release.slug}/plan/messages/{message.pk}/delete/", **HTMX, HTTP_HX_TARGET="comms-plan"
    )
    assert response.status_code == 200
    assert not Message.objects.exists() and not Notice.objects.exists()
    event = Event.objects.get(verb="plan.message_removed")
    assert event.data == {"name": "Heads-up", "sent": 1}
    assert "Message “Heads-up” removed." in response.content.decode()


def test_message_delete__a_phase_waits_for_it__409_and_kept(manager_client, manager, release, customers):
    message = create_message(release, manager, customers)
    plan_services.message_require_before_phase(
        actor=manager, message_id=message.pk, phase_id=release.phases.get(position=1).pk
    )
    response = manager_client.post(f"/comms/releases/{release.slug}/plan/messages/{message.pk}/delete/", **HTMX)
    assert response.status_code == 409
    assert "waits for “Heads-up”" in response.content.decode()
    assert Message.objects.filter(pk=message.pk).exists()


def test_message_create__finished_release__refused(manager, release, customers):
    transitions.release_start(release_id=release.pk, actor=manager)
    transitions.release_cancel(release_id=release.pk, actor=manager, reason="Not needed")
    with pytest.raises(ValidationError) as caught:
        create_message(release, manager, customers)
    assert caught.value.code == "finished"


def test_message_add__finished_release__403_for_manager(manager_client, manager, release, customers):
    transitions.release_start(release_id=release.pk, actor=manager)
    transitions.release_cancel(release_id=release.pk, actor=manager, reason="Not needed")
    response = manager_client.post(f"/comms/releases/{release.slug}/plan/messages/add/", form_data(customers))
    assert response.status_code == 403
    page = manager_client.get(plan_url(release), **HTMX)
    assert "+ Add message" not in page.content.decode()


# --- Require before phase -------------------------------------------------------------


def test_message_require__phase_chosen__comms_ready_gate_added(manager_client, manager, release, customers):
    message = create_message(release, manager, customers, name="Support briefing")
    phase = release.phases.get(position=2)
    response = manager_client.post(
        f"/comms/releases/{release.slug}/plan/messages/{message.pk}/require/",
        {"phase": phase.pk},
        **HTMX,
        HTTP_HX_TARGET="comms-plan",
    )
    assert response.status_code == 200
    gate = Gate.objects.get(kind=GateKind.COMMS_READY)
    assert (gate.phase_id, gate.name, gate.config) == (phase.pk, "“Support briefing” sent", {"message": message.pk})
    assert f"Phase “{phase.name}” waits for it" in response.content.decode()


@pytest.mark.parametrize(
    ("trigger", "position", "text"),
    [("phase_end", 1, "finishes"), ("phase_start", 2, "starts, after"), ("on_rollback", None, "may never happen")],
)
def test_message_require__message_comes_too_late__409_and_no_gate(
    manager_client, manager, release, customers, trigger, position, text
):
    about = release.phases.get(position=position) if position is not None else None
    message = create_message(release, manager, customers, trigger=trigger, phase=about, send_at=None)
    response = manager_client.post(
        f"/comms/releases/{release.slug}/plan/messages/{message.pk}/require/",
        {"phase": release.phases.get(position=1).pk},
        **HTMX,
    )
    assert response.status_code == 409
    assert text in response.content.decode()
    assert not Gate.objects.filter(kind=GateKind.COMMS_READY).exists()


def test_message_require__twice__second_refused(manager, release, customers):
    message = create_message(release, manager, customers)
    phase = release.phases.get(position=1)
    plan_services.message_require_before_phase(actor=manager, message_id=message.pk, phase_id=phase.pk)
    with pytest.raises(ValidationError, match="already waits"):
        plan_services.message_require_before_phase(actor=manager, message_id=message.pk, phase_id=phase.pk)


# --- Preview --------------------------------------------------------------------------


def test_preview__form_values__real_release_data_and_unsubscribe_footer_nothing_saved(
    manager_client, release, customers
):
    # Given a phase-start message typed but not saved
    phase = release.phases.get(position=1)
    data = form_data(
        customers,
        subject="{{ release.name }} {{ release.version }}: {{ phase.name }} at {{ phase.exposure }}",
        body="Dear {{ recipient.name }}, we reach **{{ phase.name }}** soon.",
        trigger="phase_start",
        phase=str(phase.pk),
    )
    # When it is previewed
    response = manager_client.post(f"/comms/releases/{release.slug}/plan/preview", data, **HTMX)
    # Then it reads as the first customer will get it, footer and one-click header included
    html = response.content.decode()
    assert response.status_code == 200
    assert "Checkout 2.0.0: Phase 2 at 10%" in html
    assert "Dear Ana Alvarez, we reach" in html
    assert "&lt;strong&gt;Phase 2&lt;/strong&gt;" in html  # the HTML part, inside srcdoc
    assert 'sandbox=""' in html
    assert "Unsubscribe: http" in html and "/u/" in html
    assert "List-Unsubscribe=One-Click" in html
    assert "one of 2 recipients" in html
    assert not Message.objects.exists() and not CommunicationPlan.objects.exists()


def test_preview__nobody_in_audience__placeholder_recipient_with_footer(manager_client, release):
    empty = Audience.objects.create(name="Executives")
    response = manager_client.post(f"/comms/releases/{release.slug}/plan/preview", form_data(empty), **HTMX)
    html = response.content.decode()
    assert "placeholder recipient" in html and "Sample Recipient" in html
    assert "Unsubscribe: http" in html


def test_preview__unknown_variable__listed_as_problem_and_kept_as_typed(manager_client, release, customers):
    response = manager_client.post(
        f"/comms/releases/{release.slug}/plan/preview", form_data(customers, body="Hi {{ nope }}"), **HTMX
    )
    html = response.content.decode()
    assert "Before it can be saved" in html and "{{ nope }}" in html


def test_preview__saved_message_as_support__readable(client, support, manager, release, customers):
    message = create_message(release, manager, customers)
    client.force_login(support)
    response = client.get(f"/comms/releases/{release.slug}/plan/preview?message={message.pk}")
    assert response.status_code == 200
    assert "Checkout 2.0.0 is coming" in response.content.decode()


def test_preview__webhook__json_body_as_posted(manager_client, release):
    data = form_data(None, channel="webhook", webhook_url="https://chat.example.com/hook")
    response = manager_client.post(f"/comms/releases/{release.slug}/plan/preview", data, **HTMX)
    html = response.content.decode()
    assert "https://chat.example.com/…" in html and "/hook" not in html  # the secret path stays hidden
    assert "*Checkout 2.0.0 is coming*" in html


# --- The plan: occurrences and timeline -----------------------------------------------


def test_plan__phase_and_fixed_time_messages__due_times_listed_in_time_order(
    client, support, manager, release, customers
):
    # Given phase 2 planned in two days and messages an hour before it and at a fixed time
    phase = release.phases.get(position=1)
    planned = (timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)
    Phase.objects.filter(pk=phase.pk).update(planned_start=planned)
    create_message(
        release, manager, customers, name="Before beta", trigger="phase_start", phase=phase, offset_minutes=-60
    )
    fixed = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    create_message(release, manager, customers, name="Tomorrow", send_at=fixed)
    create_message(release, manager, customers, name="On pause", trigger="on_pause", send_at=None, offset_minutes=15)
    # When support opens the plan
    client.force_login(support)
    response = client.get(plan_url(release), **HTMX)
    html = response.content.decode()
    # Then each message says when it goes out, and the timeline merges them with the phase start
    assert response.status_code == 200
    before = timezone.localtime(planned - timedelta(hours=1))
    assert "1 h before “Phase 2” starts" in html
    assert f'datetime="{before.isoformat()}"' in html
    assert "15 min after the release pauses" in html
    timeline = html.split('class="events comms-timeline"')[1]
    assert timeline.index("Tomorrow") < timeline.index("Before beta") < timeline.index("“Phase 2” starts")
    assert "to 2 recipients" in timeline
    # and a reader gets no edit buttons
    assert "+ Add message" not in html and "Require before phase" not in html


def test_plan__paused_release__phase_message_on_hold(manager_client, manager, release, customers):
    phase = release.phases.get(position=2)
    Phase.objects.filter(pk=phase.pk).update(planned_start=timezone.now() + timedelta(days=3))
    create_message(release, manager, customers, trigger="phase_start", phase=phase)
    transitions.release_start(release_id=release.pk, actor=manager)
    transitions.release_pause(release_id=release.pk, actor=manager)
    html = manager_client.get(plan_url(release), **HTMX).content.decode()
    assert "On hold while the release is paused" in html


def test_plan__notices_going_out__delivery_counts_and_progress(manager_client, manager, release, customers):
    message = create_message(release, manager, customers)
    make_notice(message, "ana@example.com", Notice.Status.SENT)
    make_notice(message, "ben@example.com", Notice.Status.PENDING, due_in=timedelta(0))
    make_notice(message, "old@example.com", Notice.Status.CANCELLED)
    html = manager_client.get(plan_url(release), **HTMX).content.decode()
    assert "1 of 2 sent · 1 pending · 1 cancelled" in html
    assert 'aria-valuenow="50"' in html
    assert 'class="comms-poll"' in html  # refreshes itself while the batch goes out
    Notice.objects.filter(recipient="ben@example.com").update(status=Notice.Status.SENT, sent_at=timezone.now())
    assert 'class="comms-poll"' not in manager_client.get(plan_url(release), **HTMX).content.decode()


def test_plan__without_htmx__full_page_with_section(manager_client, release):
    response = manager_client.get(plan_url(release))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<section id="comms-plan"' in html and "<html" in html
    assert "HX-Request" in response["Vary"]


def test_plan__htmx__fragment_only(manager_client, release):
    html = manager_client.get(plan_url(release), **HTMX).content.decode()
    assert "<html" not in html and "Communication plan" in html


def test_release_page__section_loads_plan(manager_client, release):
    html = manager_client.get(f"/releases/{release.slug}/").content.decode()
    assert f'hx-get="{plan_url(release)}"' in html


def test_plan_occurrences__read__nothing_written(manager_client, manager, release, customers):
    create_message(release, manager, customers)
    manager_client.get(plan_url(release), **HTMX)
    assert not Notice.objects.exists()


# --- Outbox ---------------------------------------------------------------------------


@pytest.fixture
def two_releases(manager, customers, support_team):
    first = release_with_phases(owner=manager, name="Checkout", version="2.0.0", slug="checkout")
    second = release_with_phases(owner=manager, name="Search", version="5.1.0", slug="search")
    to_customers = create_message(first, manager, customers, name="Customer news")
    to_support = create_message(second, manager, support_team, name="Support briefing")
    make_notice(to_customers, "ana@example.com", Notice.Status.SENT)
    make_notice(to_customers, "ben@example.com", Notice.Status.FAILED, last_error="550 mailbox unavailable", attempts=1)
    make_notice(to_support, "sue@example.com", Notice.Status.PENDING, due_in=timedelta(hours=3))
    return first, second


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("release=checkout", ["ana@example.com", "ben@example.com"], ["sue@example.com"]),
        ("release=search", ["sue@example.com"], ["ana@example.com"]),
        ("state=failed", ["ben@example.com", "550 mailbox unavailable"], ["ana@example.com", "sue@example.com"]),
        ("state=pending", ["sue@example.com"], ["ben@example.com"]),
        ("audience=AUDIENCE", ["sue@example.com"], ["ana@example.com", "ben@example.com"]),
        ("", ["ana@example.com", "ben@example.com", "sue@example.com"], []),
    ],
)
def test_outbox__filter__only_matching_notices(client, support, two_releases, support_team, query, shown, hidden):
    client.force_login(support)
    response = client.get(f"/comms/outbox/?{query.replace('AUDIENCE', str(support_team.pk))}")
    assert response.status_code == 200
    table = response.content.decode().split('class="outbox-table"')[1]
    for text in shown:
        assert text in table
    for text in hidden:
        assert text not in table
    assert "Retry" not in table  # support reads, never retries


def test_outbox__bad_filters__ignored(manager_client, two_releases):
    response = manager_client.get("/comms/outbox/?state=bogus&audience=x&order=sideways&page=zz")
    assert response.status_code == 200
    assert "sue@example.com" in response.content.decode()


def test_outbox__order_newest__latest_created_first(manager_client, two_releases):
    html = manager_client.get("/comms/outbox/?order=newest").content.decode().split('class="outbox-table"')[1]
    assert html.index("sue@example.com") < html.index("ana@example.com")
    html = manager_client.get("/comms/outbox/?order=due").content.decode().split('class="outbox-table"')[1]
    assert html.index("ana@example.com") < html.index("sue@example.com")


def test_outbox__per_message__counts_and_progress(manager_client, two_releases):
    html = manager_client.get("/comms/outbox/").content.decode()
    summary = html.split('class="outbox-messages"')[1].split("</section>")[0]
    assert "Customer news" in summary and "1 of 2 sent" in summary and "1 failed" in summary
    assert 'aria-valuenow="50"' in summary


def test_outbox__batch_going_out__polls_every_3s_until_done(manager_client, manager, release, customers):
    message = create_message(release, manager, customers)
    notice = make_notice(message, "ana@example.com", Notice.Status.PENDING, due_in=timedelta(seconds=-1))
    html = manager_client.get("/comms/outbox/").content.decode()
    assert 'hx-trigger="every 3s"' in html
    polled = manager_client.get("/comms/outbox/?release=checkout", **HTMX)
    assert polled.status_code == 200 and "<html" not in polled.content.decode()
    assert 'hx-get="/comms/outbox/?release=checkout"' in polled.content.decode()
    Notice.objects.filter(pk=notice.pk).update(status=Notice.Status.SENT, sent_at=timezone.now())
    assert 'hx-trigger="every 3s"' not in manager_client.get("/comms/outbox/").content.decode()


def test_notice_retry__failed_notice__pending_again_now_and_event_recorded(manager_client, two_releases):
    failed = Notice.objects.get(status=Notice.Status.FAILED)
    response = manager_client.post(
        f"/comms/outbox/{failed.pk}/retry/", {"next": "/comms/outbox/?state=failed"}, **HTMX, HTTP_HX_TARGET="x"
    )
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#outbox-live"
    failed.refresh_from_db()
    assert failed.status == Notice.Status.PENDING and failed.attempts == 0
    assert failed.due_at <= timezone.now()
    assert Event.objects.filter(verb="comms.notice_retried", data__notice=failed.pk).exists()
    html = response.content.decode()
    assert "goes out again shortly" in html
    assert "ben@example.com" not in html.split('class="outbox-table"')[1]  # the list kept its state=failed filter


def test_notice_retry__without_htmx__303_back_to_list(manager_client, two_releases):
    failed = Notice.objects.get(status=Notice.Status.FAILED)
    response = manager_client.post(f"/comms/outbox/{failed.pk}/retry/", {"next": "/comms/outbox/?state=failed"})
    assert response.status_code == 303 and response["Location"] == "/comms/outbox/?state=failed"
    offsite = manager_client.post(f"/comms/outbox/{failed.pk}/retry/", {"next": "https://evil.example.com/"})
    assert offsite["Location"] == "/comms/outbox/"


def test_notice_retry__not_failed__refused_with_message(manager_client, two_releases):
    sent = Notice.objects.get(status=Notice.Status.SENT)
    response = manager_client.post(f"/comms/outbox/{sent.pk}/retry/", **HTMX)
    assert "Only failed notices can be retried" in response.content.decode()
    sent.refresh_from_db()
    assert sent.status == Notice.Status.SENT


def test_notice_retry__release_rolled_back__refused(manager, manager_client, release, customers):
    message = create_message(release, manager, customers)
    failed = make_notice(message, "ana@example.com", Notice.Status.FAILED)
    transitions.release_start(release_id=release.pk, actor=manager)
    transitions.release_rollback(release_id=release.pk, actor=manager, reason="Errors")
    with pytest.raises(ValidationError, match="rolled back"):
        plan_services.notice_retry(actor=manager, notice_id=failed.pk)


# --- Permissions ----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["support", "viewer", "approver"])
def test_plan_writes__not_a_release_manager__403(request, client, manager, release, customers, who):
    message = create_message(release, manager, customers)
    notice = make_notice(message, "ana@example.com", Notice.Status.FAILED)
    client.force_login(request.getfixturevalue(who))
    base = f"/comms/releases/{release.slug}/plan/messages"
    for url, data in [
        (f"{base}/add/", form_data(customers)),
        (f"{base}/{message.pk}/edit/", form_data(customers, name="Changed")),
        (f"{base}/{message.pk}/delete/", {}),
        (f"{base}/{message.pk}/require/", {"phase": release.phases.first().pk}),
        (f"/comms/outbox/{notice.pk}/retry/", {}),
    ]:
        assert client.post(url, data).status_code == 403, url
    assert client.get(f"{base}/add/").status_code == 403
    message.refresh_from_db()
    assert message.name == "Heads-up" and Message.objects.count() == 1
    notice.refresh_from_db()
    assert notice.status == Notice.Status.FAILED
    # reading is fine
    assert client.get(plan_url(release)).status_code == 200
    assert client.get("/comms/outbox/").status_code == 200


def test_plan_pages__no_flightdeck_role__403(client, outsider, release):
    client.force_login(outsider)
    assert client.get(plan_url(release)).status_code == 403
    assert client.get("/comms/outbox/").status_code == 403
    assert client.post(f"/comms/releases/{release.slug}/plan/preview", form_data()).status_code == 403


def test_plan_pages__anonymous__sent_to_login(client, release):
    response = client.get(plan_url(release))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_plan__unknown_release__404(manager_client):
    assert manager_client.get("/comms/releases/nope/plan/").status_code == 404


def test_message_edit__message_of_another_release__404(manager_client, manager, release, customers):
    other = release_with_phases(owner=manager, slug="other")
    message = create_message(other, manager, customers)
    assert manager_client.get(f"/comms/releases/{release.slug}/plan/messages/{message.pk}/edit/").status_code == 404


# --- Query counts ---------------------------------------------------------------------

# session, user, roles, release, messages, their audiences, phases, events, notice counts, gates
PLAN_QUERIES = 10
# session, user, roles, notice count, notice page, per-message counts, releases, audiences
OUTBOX_QUERIES = 8


def fill_plan(release, manager, audiences, count):
    phase = release.phases.get(position=1)
    Phase.objects.filter(pk=phase.pk).update(planned_start=timezone.now() + timedelta(days=1))
    for i in range(count):
        message = create_message(
            release,
            manager,
            None,
            name=f"Message {i}",
            audiences=audiences,
            trigger="phase_start" if i % 2 else "at_time",
            phase=phase if i % 2 else None,
            send_at=None if i % 2 else timezone.now() + timedelta(hours=i + 1),
        )
        if i % 3 == 0:
            plan_services.message_require_before_phase(actor=manager, message_id=message.pk, phase_id=phase.pk)
    planner.plan_release(release_id=release.pk)


@pytest.mark.parametrize("count", [1, 8])
def test_plan_fragment__few_or_many_messages__same_query_count(
    manager_client, manager, release, customers, support_team, count, django_assert_num_queries
):
    fill_plan(release, manager, [customers, support_team], count)
    assert Notice.objects.count() == 3 * count
    with django_assert_num_queries(PLAN_QUERIES):
        response = manager_client.get(plan_url(release), **HTMX)
    assert response.status_code == 200
    assert response.content.decode().count('class="comms-message') == count


@pytest.mark.parametrize("count", [1, 8])
def test_outbox__few_or_many_notices__same_query_count(
    manager_client, manager, release, customers, support_team, count, django_assert_num_queries
):
    fill_plan(release, manager, [customers, support_team], count)
    Notice.objects.filter(recipient="sue@example.com").update(status=Notice.Status.FAILED, last_error="550 no")
    with django_assert_num_queries(OUTBOX_QUERIES):
        response = manager_client.get(f"/comms/outbox/?release={release.slug}&audience={customers.pk}")
    assert response.status_code == 200
    assert response.content.decode().count('<tr id="notice-') == 3 * count


def test_plan_fragment__phase_without_planned_start__says_it_waits_for_the_phase(manager_client, manager):
    release = release_with_phases(owner=manager, slug="waits")
    audience = Audience.objects.create(name="Waiters")
    stakeholder = Stakeholder.objects.create(email="w@example.com")
    Membership.objects.create(stakeholder=stakeholder, audience=audience)
    phase = release.phases.get(position=2)
    plan_services.message_create(
        actor=manager, release_id=release.pk, name="Heads-up", audiences=[audience], channel="email",
        webhook_url="", subject="{{ release.name }}", body="Hi", trigger=Trigger.PHASE_START, send_at=None,
        phase=phase, offset_minutes=0,
    )  # fmt: skip
    transitions.release_start(release_id=release.pk, actor=manager)
    page = manager_client.get(plan_url(release), HTTP_HX_REQUEST="true").content.decode()
    assert "waits for “Phase 3” to start (it has no planned start)" in page
    assert "paused" not in page
