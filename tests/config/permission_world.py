"""The world the permission matrix (tests/config/permission_matrix.py) stands on.

One of every kind of object a URL of the site or the API names, made through the services
as the product makes them (factories only where a row has no service of its own):

- "checkout": a canary release in flight (phase 1 of 3 active) owned by the manager, with a
  manual approval, a checklist, a CI result (with a pipeline token) and an HTTP check gate,
  rollback steps, a freeze window, allowed hours, a communication plan with a message to an
  audience of one stakeholder, a failed notice, a linked support doc page, release notes in
  the changelog, a known issue, an FAQ entry, and a flag following it;
- "legacy": a release rolling back, its rollback run waiting for its first step;
- a public and an internal doc page, a segment, a flags API key for production, a webhook
  subscription with a delivery, a release template, and the manager's personal API token
  and calendar feed.

One user per column of the matrix, made with UserFactory as tests/conftest.py makes its
manager, approver, support, viewer and outsider: those fixtures live for one test, and this
world for the whole module.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from django.utils import timezone

from comms import plan_services
from comms import services as comms_services
from comms.models import Trigger
from comms.tokens import stakeholder_token
from docs_portal import briefing_services, calendar
from docs_portal import services as docs_services
from docs_portal.models import DocRevision, Visibility
from flags import services as flag_services
from flags.models import FlagType
from rollouts import gate_tokens, services, transitions
from rollouts.api import tokens
from rollouts.models import ChecklistItem, Environment, Event, Gate, GateKind, RollbackRunStep
from rollouts.release_templates import template_save_from_release
from rollouts.roles import APPROVER, RELEASE_MANAGER, SUPPORT, VIEWER
from tests.factories import (
    GateFactory,
    NoticeFactory,
    RollbackStepFactory,
    UserFactory,
    WebhookDeliveryFactory,
    WebhookSubscriptionFactory,
    release_with_phases,
)


@dataclass
class World:
    """world.users[role]; every other object by name: world.checkout, world.manual_gate …"""

    users: dict = field(default_factory=dict)
    objects: dict = field(default_factory=dict)

    def __getattr__(self, name):
        try:
            return self.__dict__["objects"][name]
        except KeyError:
            raise AttributeError(name) from None


def make_users() -> dict:
    """One user per column of the matrix (anonymous has none)."""
    return {
        "outsider": UserFactory(username="pm-outsider"),
        "viewer": UserFactory(username="pm-viewer", roles=[VIEWER]),
        "support": UserFactory(username="pm-support", roles=[SUPPORT]),
        "approver": UserFactory(username="pm-approver", roles=[APPROVER]),
        "manager": UserFactory(username="pm-manager", roles=[RELEASE_MANAGER]),
        "admin": UserFactory(username="pm-admin", is_staff=True, is_superuser=True),
    }


def build_world() -> World:
    users = make_users()
    manager = users["manager"]
    o: dict = {}

    # --- the release in flight -----------------------------------------------------------
    checkout = release_with_phases(owner=manager, name="Checkout", version="2.0.0", slug="checkout")
    phases = list(checkout.phases.order_by("position"))
    first = phases[0]
    o["manual_gate"] = first.gates.get()
    o["checklist_gate"] = services.gate_add(
        phase_id=first.pk, actor=manager, name="Runbook read", kind=GateKind.CHECKLIST, checklist=["Read it"]
    )
    o["checklist_item"] = ChecklistItem.objects.get(gate=o["checklist_gate"])
    ci_gate = services.gate_add(phase_id=first.pk, actor=manager, name="CI green", kind=GateKind.CI_RESULT)
    o["ci_gate"], o["ci_token"] = ci_gate, ci_gate.new_token
    # Not measured here (no engine tick runs); it is one more kind of gate a URL may name.
    o["http_gate"] = GateFactory(
        phase=phases[1], name="Health", kind=GateKind.HTTP_CHECK, config={"url": "https://example.com/health"}
    )
    o["step"] = RollbackStepFactory(release=checkout, position=0, title="Switch back")
    RollbackStepFactory(release=checkout, position=1, title="Tell support")
    now = timezone.now()
    o["freeze"] = services.freeze_add(
        actor=manager,
        release_id=checkout.pk,
        name="Year end",
        timezone_name="UTC",
        starts_local=datetime(2099, 12, 24, tzinfo=UTC),
        ends_local=datetime(2099, 12, 27, tzinfo=UTC),
    )
    o["hours"] = services.allowed_hours_add(
        actor=manager,
        release_id=checkout.pk,
        timezone_name="UTC",
        weekdays=[1, 2, 3, 4, 5, 6, 7],  # ISO: Monday is 1
        start_time=time(0, 0),
        end_time=time(23, 59),
    )
    transitions.release_start(release_id=checkout.pk, actor=manager)
    checkout.refresh_from_db()
    o["checkout"], o["phase"], o["pending_phase"] = checkout, first, phases[1]
    o["event"] = Event.objects.filter(release=checkout).order_by("pk").first()
    # Public in the changelog from the first phase on (docs_portal.selectors.changelog_entries).
    docs_services.release_notes_save(
        release_id=checkout.pk, actor=manager, body="One page checkout.", visible_from_phase_id=first.pk
    )

    # --- comms ---------------------------------------------------------------------------
    audience = comms_services.audience_create(actor=manager, name="Customers")
    stakeholder = comms_services.stakeholder_create(
        actor=manager, email="ada@example.com", name="Ada", audience_ids=[audience.pk]
    )
    message = plan_services.message_create(
        actor=manager,
        release_id=checkout.pk,
        name="Heads-up",
        trigger=Trigger.AT_TIME,
        send_at=now + timedelta(days=1),
        audiences=[audience.pk],
        subject="{{ release.name }} is coming",
        body="Hello {{ recipient.name }}.",
    )
    o["audience"], o["stakeholder"], o["message"] = audience, stakeholder, message
    o["plan"] = message.plan
    o["notice"] = NoticeFactory(message=message, stakeholder=stakeholder, status="failed")
    o["unsubscribe_token"] = stakeholder_token(stakeholder.pk)

    # --- docs and briefings --------------------------------------------------------------
    o["doc"] = docs_services.page_create(
        actor=manager, slug="support-runbook", title="Support runbook", body="Steps.", visibility=Visibility.SUPPORT
    )
    o["doc_link"] = docs_services.link_add(page_id=o["doc"].pk, release_id=checkout.pk, actor=manager)
    o["doc"] = docs_services.page_publish(page_id=o["doc"].pk, actor=manager)
    o["doc_revision"] = DocRevision.objects.filter(page=o["doc"]).order_by("number").first()
    o["internal_doc"] = docs_services.page_create(
        actor=manager, slug="internal-notes", title="Internal notes", body="Ops.", visibility=Visibility.INTERNAL
    )
    o["internal_doc"] = docs_services.page_publish(page_id=o["internal_doc"].pk, actor=manager)
    o["public_doc"] = docs_services.page_create(
        actor=manager, slug="public-guide", title="Public guide", body="Hi.", visibility=Visibility.PUBLIC
    )
    o["public_doc"] = docs_services.page_publish(page_id=o["public_doc"].pk, actor=manager)
    o["known_issue"] = briefing_services.known_issue_create(
        actor=manager, release_id=checkout.pk, title="Saved cards missing", description="Some cards vanish."
    )
    o["faq"] = briefing_services.faq_create(actor=manager, release_id=checkout.pk, question="Why?", answer="Speed.")
    o["calendar_feed"], o["calendar_token"] = calendar.feed_create(user=manager)

    # --- flags ---------------------------------------------------------------------------
    o["segment"] = flag_services.segment_create(
        actor=manager, key="beta-testers", name="Beta testers", targeting_keys=["user-1"]
    )
    o["flag"] = flag_services.flag_create(
        actor=manager,
        key="new-checkout",
        name="New checkout",
        type=FlagType.BOOLEAN,
        variants={"on": True, "off": False},
        on_variant="on",
        off_variant="off",
        release=checkout,
    )
    o["flags_api_key"], o["ofrep_token"] = flag_services.api_key_create(
        actor=manager, environment=Environment.PRODUCTION, name="checkout-service"
    )

    # --- webhooks, tokens, templates -----------------------------------------------------
    o["webhook"] = WebhookSubscriptionFactory()
    o["delivery"] = WebhookDeliveryFactory(subscription=o["webhook"], event=o["event"])
    o["api_token"], _ = tokens.api_token_create(user=manager, name="ci", scopes=["read"])
    o["template"] = template_save_from_release(release_id=checkout.pk, name="Canary", actor=manager)

    # --- the release rolling back --------------------------------------------------------
    legacy = release_with_phases(owner=manager, name="Legacy", version="1.0.0", slug="legacy", exposures=(5, 100))
    RollbackStepFactory(release=legacy, position=0, title="Restore the old build")
    RollbackStepFactory(release=legacy, position=1, title="Purge caches")
    transitions.release_start(release_id=legacy.pk, actor=manager)
    o["rollback_run"] = transitions.release_rollback(release_id=legacy.pk, actor=manager, reason="Errors up")
    o["run_step"] = RollbackRunStep.objects.filter(run=o["rollback_run"]).order_by("position").first()
    legacy.refresh_from_db()
    o["legacy"] = legacy

    assert gate_tokens.token_matches(Gate.objects.get(pk=ci_gate.pk), o["ci_token"])
    return World(users=users, objects=o)
