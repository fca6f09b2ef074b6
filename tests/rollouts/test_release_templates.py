"""Release templates: save a release's plan, start a release from one, clone a release."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from comms import plan_services
from comms.models import Audience, Membership, Message, MessageKind, Notice, Stakeholder, Trigger
from docs_portal.models import DocLink
from rollouts import release_templates, services, transitions
from rollouts.models import (
    Event,
    Gate,
    GateDecision,
    GateKind,
    GateStatus,
    Phase,
    Release,
    ReleaseStatus,
    ReleaseTemplate,
    RollbackAction,
    RollbackStep,
)
from tests.docs_portal.factories import link, make_page
from tests.factories import MessageFactory

pytestmark = pytest.mark.django_db

FORM_LOCAL = "%Y-%m-%dT%H:%M"


def planned(release, manager):
    """Give the release a rich plan, through services as people would."""
    start = timezone.now() + timedelta(days=3)
    services.release_update(release_id=release.pk, actor=manager, planned_start=start)
    phases = list(release.phases.order_by("position"))
    services.phase_update(
        phase_id=phases[1].pk, actor=manager, exposure_percent=10, planned_start=start + timedelta(hours=4)
    )
    services.gate_add(phase_id=phases[0].pk, actor=manager, name="CI green", kind=GateKind.CI_RESULT)
    services.gate_add(
        phase_id=phases[0].pk,
        actor=manager,
        name="Go/no-go",
        kind=GateKind.CHECKLIST,
        checklist=["Dashboards", "On call"],
    )
    services.gate_add(
        phase_id=phases[1].pk,
        actor=manager,
        name="Health",
        kind=GateKind.HTTP_CHECK,
        required=False,
        config={"url": "https://status.example.com/health"},
    )
    services.gate_add(
        phase_id=phases[2].pk, actor=manager, name="CAB", kind=GateKind.MANUAL_APPROVAL, required_approvals=2
    )
    services.rollback_step_add(
        release_id=release.pk,
        actor=manager,
        title="Switch traffic back",
        instructions="Run the playbook.",
        owner=manager,
        expected_minutes=10,
    )
    services.rollback_step_add(
        release_id=release.pk,
        actor=manager,
        title="Tell the load balancer",
        action=RollbackAction.WEBHOOK,
        action_config={"url": "https://lb.example.com/rollback", "method": "POST"},
    )
    customers = Audience.objects.create(name="Customers")
    Membership.objects.create(stakeholder=Stakeholder.objects.create(email="ana@example.com"), audience=customers)
    heads_up = plan_services.message_create(
        actor=manager,
        release_id=release.pk,
        name="Heads-up",
        audiences=[customers.pk],
        subject="{{ release.name }} is coming",
        body="Hello",
        trigger=Trigger.AT_TIME,
        send_at=start - timedelta(hours=2),
    )
    plan_services.message_create(
        actor=manager,
        release_id=release.pk,
        name="Beta starts",
        audiences=[customers.pk],
        subject="{{ phase.name }} started",
        body="Hello",
        trigger=Trigger.PHASE_START,
        phase=phases[1].pk,
        offset_minutes=15,
    )
    plan_services.message_require_before_phase(actor=manager, message_id=heads_up.pk, phase_id=phases[0].pk)
    MessageFactory(plan=heads_up.plan, kind=MessageKind.SUPPORT_DIGEST, name="Support digest")
    page = make_page(author=manager, title="Upgrade guide", slug="upgrade-guide")
    link(page, release, actor=manager)
    link(page, release, phases[2], actor=manager)
    release.refresh_from_db()
    return release


@pytest.fixture
def rich(release, manager):
    return planned(release, manager)


def keys_anywhere(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_anywhere(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_anywhere(v)}
    return set()


# --- Save ---------------------------------------------------------------------------------


def test_template_save__rich_release__plan_captured_without_secrets(rich, manager):
    # When
    template = release_templates.template_save_from_release(release_id=rich.pk, name="Canary with CAB", actor=manager)
    # Then
    plan = template.plan
    assert plan["version"] == 1
    assert template.strategy == rich.strategy
    assert [p["name"] for p in plan["phases"]] == ["Phase 1", "Phase 2", "Phase 3"]
    assert plan["phases"][1]["planned_start_offset_minutes"] == 4 * 60
    kinds = [g["kind"] for g in plan["phases"][0]["gates"]]
    assert kinds == ["manual_approval", "ci_result", "checklist"]  # the comms gate belongs to the comms part
    assert plan["phases"][0]["gates"][2]["checklist"] == ["Dashboards", "On call"]
    assert plan["phases"][2]["gates"][1]["required_approvals"] == 2
    assert plan["rollback_steps"][0]["owner"] == "manager"
    messages = plan["parts"]["comms"]["messages"]
    assert [m["name"] for m in messages] == ["Heads-up", "Beta starts"]  # never the support digest
    assert messages[0]["send_at_offset_minutes"] == -120
    assert messages[0]["waited_for_by"][0]["phase"] == 0
    assert messages[1]["phase"] == 1
    assert plan["parts"]["docs"]["links"] == [
        {"page": "upgrade-guide", "phase": None},
        {"page": "upgrade-guide", "phase": 2},
    ]
    assert not {k for k in keys_anywhere(plan) if any(w in k for w in ("token", "secret", "hash"))}
    assert Gate.objects.get(name="CI green").token_hash not in json.dumps(plan)
    assert Event.objects.filter(release=rich, verb="plan.saved_as_template").exists()


def test_template_save__duplicate_name__error_on_name(rich, manager):
    release_templates.template_save_from_release(release_id=rich.pk, name="Std", actor=manager)
    with pytest.raises(ValidationError) as err:
        release_templates.template_save_from_release(release_id=rich.pk, name="std", actor=manager)
    assert "name" in err.value.message_dict


# --- Start from a template ----------------------------------------------------------------


def _shape(release):
    phases = list(release.phases.order_by("position"))
    return {
        "phases": [(p.name, p.environment, p.exposure_percent, p.min_soak_minutes, p.status) for p in phases],
        "gates": [
            (
                g.phase.position,
                g.name,
                g.kind,
                g.required,
                g.required_approvals,
                g.config,
                [i.text for i in g.items.all()],
            )
            for g in Gate.objects.filter(phase__release=release)
            .exclude(kind=GateKind.COMMS_READY)
            .order_by("phase__position", "position")
        ],
        "steps": list(
            release.rollback_steps.order_by("position").values_list(
                "title", "instructions", "owner__username", "expected_minutes", "action", "action_config"
            )
        ),
        "messages": list(
            Message.objects.filter(plan__release=release, kind=MessageKind.CUSTOM)
            .order_by("created_at", "id")
            .values_list("name", "trigger", "phase__position", "offset_minutes", "subject")
        ),
        "links": sorted(
            DocLink.objects.filter(release=release).values_list("page__slug", "phase__position"),
            key=lambda x: (x[0], x[1] if x[1] is not None else -1),
        ),
        "comms_gates": list(
            Gate.objects.filter(phase__release=release, kind=GateKind.COMMS_READY).values_list(
                "phase__position", "required"
            )
        ),
    }


def test_release_from_template__rich_plan__same_plan_events_and_nothing_else(rich, manager, approver):
    # Given a template of a release that has run a little
    template = release_templates.template_save_from_release(release_id=rich.pk, name="Std", actor=manager)
    start = timezone.now() + timedelta(days=10)
    # When
    new = release_templates.release_create_from_template(
        template_id=template.pk, name="Payments", version="3.0", owner=manager, planned_start=start, actor=manager
    )
    # Then the plan is the same
    assert _shape(new) == _shape(rich)
    assert new.status == ReleaseStatus.DRAFT and new.slug == "payments-3-0"
    assert new.phases.get(position=1).planned_start == start + timedelta(hours=4)
    heads_up = Message.objects.get(plan__release=new, name="Heads-up")
    assert heads_up.send_at == start - timedelta(hours=2)
    assert Gate.objects.get(phase__release=new, kind=GateKind.COMMS_READY).config == {"message": heads_up.pk}
    # and each step went through the services
    verbs = list(Event.objects.filter(release=new).values_list("verb", flat=True))
    assert "release.created" in verbs and "plan.created_from_template" in verbs
    assert verbs.count("plan.phase_added") == 3 and verbs.count("plan.rollback_step_added") == 2
    assert "plan.message_saved" in verbs and "doc.linked" in verbs
    # and nothing is copied that should not be
    assert not Notice.objects.filter(message__plan__release=new).exists()
    assert not GateDecision.objects.filter(gate__phase__release=new).exists()
    assert not Message.objects.filter(plan__release=new, kind=MessageKind.SUPPORT_DIGEST).exists()
    ci_new = Gate.objects.get(phase__release=new, kind=GateKind.CI_RESULT)
    ci_old = Gate.objects.get(phase__release=rich, kind=GateKind.CI_RESULT)
    assert ci_new.token_hash and ci_new.token_hash != ci_old.token_hash
    assert set(Gate.objects.filter(phase__release=new).values_list("status", flat=True)) == {GateStatus.PENDING}


def test_release_from_template__bad_json__clear_error_and_nothing_created(manager):
    template = ReleaseTemplate.objects.create(
        name="Broken",
        plan={"version": 1, "release": {"strategy": "canary"}, "phases": [{"name": "", "exposure_percent": 140}]},
    )
    before = (Release.objects.count(), Event.objects.count())
    with pytest.raises(ValidationError) as err:
        release_templates.release_create_from_template(
            template_id=template.pk, name="X", version="1", owner=manager, actor=manager
        )
    text = " ".join(err.value.messages)
    assert "Phase 1 has no name" in text and "exposure must be a whole number from 0 to 100" in text
    assert (Release.objects.count(), Event.objects.count()) == before


def test_release_from_template__unknown_version__says_so(manager):
    template = ReleaseTemplate.objects.create(name="Future", plan={"version": 7})
    with pytest.raises(ValidationError, match="version 7"):
        release_templates.release_create_from_template(
            template_id=template.pk, name="X", version="1", owner=manager, actor=manager
        )


def test_release_from_template__service_rejects_late_part__nothing_created(rich, manager):
    # Given a template whose fixed-time message needs a planned start
    template = release_templates.template_save_from_release(release_id=rich.pk, name="Std", actor=manager)
    before = (Release.objects.count(), Phase.objects.count(), RollbackStep.objects.count(), Message.objects.count())
    # When the new release has none
    with pytest.raises(ValidationError, match="give the release a planned start"):
        release_templates.release_create_from_template(
            template_id=template.pk, name="Y", version="1", owner=manager, actor=manager
        )
    # Then the transaction left nothing behind
    after = (Release.objects.count(), Phase.objects.count(), RollbackStep.objects.count(), Message.objects.count())
    assert after == before


def test_release_from_template__exposure_goes_down__service_error_nothing_created(manager):
    plan = {
        "version": 1,
        "release": {"strategy": "canary"},
        "phases": [
            {"name": "Big", "environment": "production", "exposure_percent": 50},
            {"name": "Small", "environment": "production", "exposure_percent": 5},
        ],
    }
    template = ReleaseTemplate.objects.create(name="Down", plan=plan)
    with pytest.raises(ValidationError, match="Exposure cannot go down"):
        release_templates.release_create_from_template(
            template_id=template.pk, name="Z", version="1", owner=manager, actor=manager
        )
    assert not Release.objects.filter(name="Z").exists()


# --- Clone --------------------------------------------------------------------------------


def test_release_clone__ran_release__plan_copied_state_not(rich, manager, approver):
    # Given the release started and a gate was approved
    transitions.release_start(release_id=rich.pk, actor=manager)
    gate = Gate.objects.get(phase__release=rich, phase__position=0, kind=GateKind.MANUAL_APPROVAL)
    transitions.gate_approve(gate_id=gate.pk, actor=approver, comment="Fine")
    # When
    clone = release_templates.release_clone(
        release_id=rich.pk,
        actor=manager,
        name="Checkout",
        version="2.0.1",
        planned_start=timezone.now() + timedelta(days=5),
    )
    # Then
    assert _shape(clone)["gates"] == _shape(rich)["gates"]
    assert [p[:4] for p in _shape(clone)["phases"]] == [p[:4] for p in _shape(rich)["phases"]]
    assert set(clone.phases.values_list("status", flat=True)) == {"pending"}
    assert clone.status == ReleaseStatus.DRAFT and clone.started_at is None
    assert not GateDecision.objects.filter(gate__phase__release=clone).exists()
    assert Event.objects.filter(release=clone, verb="plan.cloned", data__source=rich.slug).exists()
    assert not Event.objects.filter(release=clone, verb__in=["release.started", "gate.approved"]).exists()
    assert clone.owner == rich.owner


# --- Pages --------------------------------------------------------------------------------


def test_template_pages__manager__list_save_and_start(client, manager, rich):
    client.force_login(manager)
    # Save
    response = client.get(f"/releases/{rich.slug}/save-as-template/")
    assert response.status_code == 200 and 'for="id_name"' in response.content.decode()
    response = client.post(f"/releases/{rich.slug}/save-as-template/", {"name": "Std", "description": "Most releases"})
    assert response.status_code == 303 and response["Location"] == "/templates/"
    template = ReleaseTemplate.objects.get(name="Std")
    # List
    page = client.get("/templates/").content.decode()
    assert "Std" in page and "Phase 1 → Phase 2 → Phase 3" in page
    assert f"/templates/{template.pk}/new-release/" in page
    # Start
    start = (timezone.localtime() + timedelta(days=4)).strftime(FORM_LOCAL)
    response = client.post(
        f"/templates/{template.pk}/new-release/",
        {"name": "Search", "version": "1.0", "slug": "", "owner": manager.pk, "planned_start": start},
    )
    new = Release.objects.get(name="Search")
    assert response.status_code == 303 and response["Location"] == new.get_absolute_url()
    assert new.phases.count() == 3


def test_template_pages__bad_input__422_with_errors_next_to_fields_and_values_kept(client, manager, rich):
    client.force_login(manager)
    template = release_templates.template_save_from_release(release_id=rich.pk, name="Std", actor=manager)
    # Missing version and a taken slug
    response = client.post(
        f"/templates/{template.pk}/new-release/",
        {"name": "Typed name", "version": "", "slug": rich.slug, "owner": manager.pk, "planned_start": ""},
    )
    body = response.content.decode()
    assert response.status_code == 422
    assert 'id="id_version_error"' in body and 'id="id_slug_error"' in body
    assert 'value="Typed name"' in body
    # A plan error (no planned start for a fixed-time message) is shown at the top, nothing created
    response = client.post(
        f"/templates/{template.pk}/new-release/",
        {"name": "Typed name", "version": "9", "slug": "", "owner": manager.pk, "planned_start": ""},
    )
    assert response.status_code == 422 and "give the release a planned start" in response.content.decode()
    assert not Release.objects.filter(name="Typed name").exists()
    # Duplicate template name
    response = client.post(f"/releases/{rich.slug}/save-as-template/", {"name": "Std"})
    assert response.status_code == 422 and 'id="id_name_error"' in response.content.decode()


def test_clone_page__manager__get_prefilled_then_post_creates(client, manager, rich):
    client.force_login(manager)
    response = client.get(f"/releases/{rich.slug}/clone/")
    assert response.status_code == 200 and f'value="{rich.name}"' in response.content.decode()
    start = (timezone.localtime() + timedelta(days=4)).strftime(FORM_LOCAL)
    response = client.post(
        f"/releases/{rich.slug}/clone/",
        {"name": "Checkout", "version": "2.1.0", "owner": manager.pk, "planned_start": start},
    )
    clone = Release.objects.get(version="2.1.0")
    assert response.status_code == 303 and response["Location"] == clone.get_absolute_url()


@pytest.mark.parametrize("who", ["approver", "support", "viewer", "outsider"])
def test_template_pages__not_a_release_manager__403(client, request, manager, release, who):
    template = ReleaseTemplate.objects.create(name="T", plan={"version": 1})
    client.force_login(request.getfixturevalue(who))
    for url in [
        "/templates/",
        f"/templates/{template.pk}/new-release/",
        f"/releases/{release.slug}/save-as-template/",
        f"/releases/{release.slug}/clone/",
    ]:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"name": "x", "version": "1", "owner": manager.pk}).status_code == 403, url
    assert Release.objects.count() == 1 and ReleaseTemplate.objects.count() == 1


def test_template_pages__anonymous__redirected_to_login(client, release):
    response = client.get("/templates/")
    assert response.status_code == 302 and "login" in response["Location"]


def test_release_page__links__manager_sees_all_viewer_sees_dossier(client, manager, viewer, release):
    client.force_login(manager)
    body = client.get(f"/releases/{release.slug}/").content.decode()
    assert "/save-as-template/" in body and "/clone/" in body and "/dossier/" in body
    assert 'href="/templates/"' in body
    client.force_login(viewer)
    body = client.get(f"/releases/{release.slug}/").content.decode()
    assert "/dossier/" in body and "/save-as-template/" not in body and "/clone/" not in body


def test_template_admin__registered(admin_client):
    ReleaseTemplate.objects.create(name="T", plan={"version": 1})
    assert admin_client.get("/admin/rollouts/releasetemplate/").status_code == 200
    assert admin_client.get("/admin/rollouts/releasetemplate/add/").status_code == 200


def _chat_message(release, manager):
    return plan_services.message_create(
        actor=manager,
        release_id=release.pk,
        name="Ops channel",
        channel="webhook",
        webhook_url="https://hooks.chat.example.com/services/T000/B000/XXXXSECRET",
        subject="{{ release.name }} paused",
        body="Paused.",
        trigger=Trigger.ON_PAUSE,
    )


def test_template_save__chat_message__webhook_url_not_stored_and_left_out_with_a_note(rich, manager):
    # Given a chat message, whose URL holds a secret
    _chat_message(rich, manager)
    # When saved as a template and used
    template = release_templates.template_save_from_release(release_id=rich.pk, name="Std", actor=manager)
    new = release_templates.release_create_from_template(
        template_id=template.pk,
        name="P",
        version="1",
        owner=manager,
        actor=manager,
        planned_start=timezone.now() + timedelta(days=9),
    )
    # Then
    assert "XXXXSECRET" not in json.dumps(template.plan)
    assert not Message.objects.filter(plan__release=new, name="Ops channel").exists()
    assert any("Ops channel" in note and "webhook URLs" in note for note in new.plan_notes)


def test_release_clone__chat_message__copied_with_its_url(rich, manager):
    _chat_message(rich, manager)
    clone = release_templates.release_clone(
        release_id=rich.pk, actor=manager, name="C", version="2", planned_start=timezone.now() + timedelta(days=9)
    )
    assert Message.objects.get(plan__release=clone, name="Ops channel").webhook_url.endswith("XXXXSECRET")
    assert clone.plan_notes == []


def test_release_from_template__doc_page_gone__linked_others_and_says_so(rich, manager):
    template = release_templates.template_save_from_release(release_id=rich.pk, name="Std", actor=manager)
    plan = template.plan
    plan["parts"]["docs"]["links"].append({"page": "deleted-page", "phase": None})
    ReleaseTemplate.objects.filter(pk=template.pk).update(plan=plan)
    new = release_templates.release_create_from_template(
        template_id=template.pk,
        name="P",
        version="1",
        owner=manager,
        actor=manager,
        planned_start=timezone.now() + timedelta(days=9),
    )
    assert DocLink.objects.filter(release=new).count() == 2
    assert new.plan_notes == ["Doc page “deleted-page” no longer exists, so it was not linked."]


@pytest.mark.parametrize(
    ("change", "text"),
    [
        (lambda p: p["phases"][0].update(name="x" * 121), "keep the name under 120 characters"),
        (lambda p: p["phases"][0]["gates"].append({"name": "Sent", "kind": "comms_ready"}), "come with the message"),
        (lambda p: p["phases"][0]["gates"].append({"name": "G", "kind": "coin_flip"}), "no kind Flightdeck knows"),
        (lambda p: p["rollback_steps"].append({"title": "S", "expected_minutes": -1}), "expected minutes"),
        (lambda p: p["rollback_steps"].append({"title": "S", "action": "reboot"}), "no action Flightdeck knows"),
        (lambda p: p.update(parts={"comms": []}), "must be JSON objects"),
        (lambda p: p["release"].update(strategy="yolo"), "no strategy"),
    ],
)
def test_plan_validate__bad_plans__each_named(rich, manager, change, text):
    plan = release_templates.plan_capture(rich)
    change(plan)
    with pytest.raises(ValidationError, match=text):
        release_templates.plan_validate(plan)


def test_plan_validate__captured_plan__valid(rich):
    release_templates.plan_validate(release_templates.plan_capture(rich))


@pytest.mark.parametrize("count", [1, 12])
def test_template_list__few_or_many__same_query_count(client, manager, count, django_assert_num_queries):
    for i in range(count):
        ReleaseTemplate.objects.create(name=f"T{i}", plan={"version": 1, "phases": [{"name": "A"}]}, created_by=manager)
    client.force_login(manager)
    client.get("/templates/")
    # session, user, roles, templates with their authors
    with django_assert_num_queries(4):
        response = client.get("/templates/")
    assert response.status_code == 200 and response.content.decode().count('<tr id="template-') == count


def test_new_release_page__saved_templates__offered_as_a_start(client, manager, rich):
    # Given a saved template
    template = release_templates.template_save_from_release(release_id=rich.pk, name="Canary with comms", actor=manager)
    client.force_login(manager)
    # When a release manager opens "Plan a release"
    page = client.get("/releases/new/").content.decode()
    # Then the template is offered as a starting point
    assert 'id="from-template"' in page and f'href="/templates/{template.pk}/new-release/"' in page
    assert "Canary with comms" in page
