"""The release dossier: one printable page and a JSON export with a release's whole story."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from comms.models import Message, Notice, Stakeholder
from rollouts import transitions
from rollouts.models import Gate, GateKind, RollbackRunStep
from tests.factories import ChecklistItemFactory, GateFactory, release_with_phases
from tests.rollouts.test_release_templates import keys_anywhere, planned

pytestmark = pytest.mark.django_db

# session, user, roles; release, phases, gates, checklist items, decisions, measurements,
# rollback plan, runs, run steps, events; comms: messages, their audiences, notices; docs: links
DOSSIER_QUERIES = 17


def ran(release, manager, approver):
    """A release that started, had gates approved and a CI result, sent notices and rolled back."""
    release = planned(release, manager)
    transitions.release_start(release_id=release.pk, actor=manager)
    gates = {g.kind: g for g in Gate.objects.filter(phase__release=release, phase__position=0)}
    transitions.gate_approve(gate_id=gates[GateKind.MANUAL_APPROVAL].pk, actor=approver, comment="Looks good to me")
    transitions.gate_record_ci_result(
        gate_id=gates[GateKind.CI_RESULT].pk, passed=True, url="https://ci.example.com/run/42", note="All green"
    )
    first_item = gates[GateKind.CHECKLIST].items.order_by("position").first()
    transitions.checklist_item_set(item_id=first_item.pk, actor=manager, checked=True)
    heads_up = Message.objects.get(plan__release=release, name="Heads-up")
    Notice.objects.create(
        message=heads_up,
        stakeholder=Stakeholder.objects.get(email="ana@example.com"),
        recipient="ana@example.com",
        occurrence="at",
        status=Notice.Status.SENT,
        sent_at=timezone.now(),
        claim_token="secret-claim",
    )
    run = transitions.release_rollback(release_id=release.pk, actor=manager, reason="Error rate doubled")
    step = RollbackRunStep.objects.filter(run=run).order_by("position").first()
    transitions.rollback_step_done(run_step_id=step.pk, actor=manager, note="Traffic is back on blue")
    return release


@pytest.fixture
def story(release, manager, approver):
    return ran(release, manager, approver)


def test_dossier_json__ran_release__whole_story(client, viewer, story):
    # When anyone with a role downloads it
    client.force_login(viewer)
    response = client.get(f"/releases/{story.slug}/dossier.json")
    # Then
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="dossier-{story.slug}.json"'
    d = json.loads(response.content)
    assert d["dossier_version"] == 1
    assert d["release"]["slug"] == story.slug and d["release"]["status"] == "rolling_back"
    assert d["release"]["owner"]["username"] == "manager"
    phase = d["phases"][0]
    assert phase["status"] == "rolled_back" and phase["started_at"] and phase["planned_start"] is None
    assert d["phases"][1]["planned_start"].startswith(str((story.planned_start + timedelta(hours=4)).date()))
    gates = {g["kind"]: g for g in phase["gates"]}
    approval = gates["manual_approval"]["approvals"][0]
    assert approval["by"]["username"] == "approver" and approval["comment"] == "Looks good to me" and approval["at"]
    assert gates["ci_result"]["evidence"]["url"] == "https://ci.example.com/run/42"
    assert gates["ci_result"]["measurements"]["by_verdict"] == {"success": 1}
    assert gates["checklist"]["checklist"][0]["checked_by"]["username"] == "manager"
    assert gates["checklist"]["checklist"][1]["checked_at"] is None
    rollback = d["rollbacks"][0]
    assert rollback["reason"] == "Error rate doubled" and rollback["started_by"]["username"] == "manager"
    assert rollback["steps"][0]["note"] == "Traffic is back on blue" and rollback["steps"][0]["done_at"]
    assert [s["title"] for s in d["rollback_plan"]] == ["Switch traffic back", "Tell the load balancer"]
    messages = {m["name"]: m for m in d["sections"]["comms"]["messages"]}
    assert messages["Heads-up"]["counts"]["sent"] == 1
    assert messages["Heads-up"]["recipients"][0]["recipient"] == "ana@example.com"
    assert messages["Heads-up"]["recipients"][0]["sent_at"]
    assert {link["phase"] for link in d["sections"]["docs"]["links"]} == {None, "Phase 3"}
    verbs = [e["verb"] for e in d["events"]]
    assert {"plan.release_edited", "gate.approved", "rollback.started", "rollback.step_done"} <= set(verbs)
    assert [e["at"] for e in d["events"]] == sorted(e["at"] for e in d["events"])


def test_dossier_json__no_tokens_secrets_or_hashes_anywhere(client, viewer, story):
    client.force_login(viewer)
    text = client.get(f"/releases/{story.slug}/dossier.json").content.decode()
    d = json.loads(text)
    assert not {k for k in keys_anywhere(d) if any(w in k.lower() for w in ("token", "secret", "hash"))}
    ci = Gate.objects.get(phase__release=story, kind=GateKind.CI_RESULT)
    assert ci.token_hash and ci.token_hash not in text
    assert "secret-claim" not in text


def test_dossier_page__ran_release__printable_story(client, support, story):
    client.force_login(support)
    response = client.get(f"/releases/{story.slug}/dossier/")
    body = response.content.decode()
    assert response.status_code == 200
    for text in [
        "Release dossier: Checkout",
        "Looks good to me",
        "https://ci.example.com/run/42",
        "[done] Dashboards",
        "[open] On call",
        "Error rate doubled",
        "Traffic is back on blue",
        "ana@example.com",
        "Upgrade guide",
        "rollback.started",
        f'href="/releases/{story.slug}/dossier.json"',
    ]:
        assert text in body, text


@pytest.mark.parametrize("who", ["manager", "approver", "support", "viewer"])
def test_dossier__any_role__200(client, request, release, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(f"/releases/{release.slug}/dossier/").status_code == 200
    assert client.get(f"/releases/{release.slug}/dossier.json").status_code == 200


def test_dossier__outsider__403_and_unknown_release__404(client, outsider, viewer, release):
    client.force_login(outsider)
    assert client.get(f"/releases/{release.slug}/dossier/").status_code == 403
    assert client.get(f"/releases/{release.slug}/dossier.json").status_code == 403
    client.force_login(viewer)
    assert client.get("/releases/nope/dossier/").status_code == 404
    assert client.get("/releases/nope/dossier.json").status_code == 404


def test_dossier__post__405(client, viewer, release):
    client.force_login(viewer)
    assert client.post(f"/releases/{release.slug}/dossier/").status_code == 405


@pytest.mark.parametrize("size", [1, 6])
def test_dossier__small_or_large_story__same_query_count(
    client, viewer, manager, approver, size, django_assert_num_queries
):
    # Given a release that ran, with `size` times more phases, gates, items and decisions
    release = release_with_phases(owner=manager, slug=f"big-{size}", exposures=[10] * (3 * size), gates_per_phase=size)
    release = ran(release, manager, approver)
    for phase in release.phases.all():
        checklist = GateFactory(phase=phase, kind=GateKind.CHECKLIST, name="Checks")
        for _ in range(size):
            ChecklistItemFactory(gate=checklist)
    client.force_login(viewer)
    client.get(f"/releases/{release.slug}/dossier/")  # warm the session and roles
    # Then
    for url in (f"/releases/{release.slug}/dossier/", f"/releases/{release.slug}/dossier.json"):
        with django_assert_num_queries(DOSSIER_QUERIES):
            assert client.get(url).status_code == 200
