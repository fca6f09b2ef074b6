"""The docs-readiness gate holds a phase until its docs are published."""

import pytest

from docs_portal import readiness
from docs_portal.models import PublishRule
from rollouts import engine, services, transitions
from rollouts.models import Gate, GateKind, GateStatus
from tests.conftest import run_task_inline
from tests.docs_portal.factories import link, make_page
from tests.factories import release_with_phases

pytestmark = pytest.mark.django_db


def running_with_docs_gate(manager):
    """In progress, phase 1 active, its only gate a required docs_ready gate."""
    release = release_with_phases(owner=manager, exposures=(10, 100), gates_per_phase=0, slug="docs-gated")
    phase1 = release.phases.order_by("position").first()
    gate = services.gate_add(phase_id=phase1.pk, actor=manager, name="Docs", kind=GateKind.DOCS_READY)
    transitions.release_start(release_id=release.pk, actor=manager)
    return release, phase1, gate


def gate_status(gate) -> str:
    gate.refresh_from_db()
    return gate.status


def test_docs_gate__draft_linked_to_phase__holds_then_passes_after_publish(manager):
    # Given a running phase with a docs gate and a draft linked to it
    release, phase1, gate = running_with_docs_gate(manager)
    page = make_page(author=manager, title="Canary guide")
    link(page, release, phase1, actor=manager)
    # When the engine ticks
    engine.tick(enqueue=run_task_inline)
    # Then the gate waits, and advancing is refused
    assert gate_status(gate) == GateStatus.PENDING
    with pytest.raises(transitions.NotReady, match="Docs"):
        transitions.phase_advance(release_id=release.pk, phase_id=phase1.pk, actor=manager)
    ok, evidence = readiness.linked_docs_published(gate)
    assert not ok and evidence["drafts"] == ["Canary guide"]
    # When the page is published and the engine ticks again
    from docs_portal import services as docs

    docs.page_publish(page_id=page.pk, actor=manager)
    report = engine.tick(enqueue=run_task_inline)
    # Then the gate passes with the pages as evidence, and the phase may advance
    assert report.external_passed == [gate.pk]
    assert gate_status(gate) == GateStatus.PASSED
    assert Gate.objects.get(pk=gate.pk).evidence == {"scope": "phase", "pages": [page.pk], "published": 1}
    transitions.phase_advance(release_id=release.pk, phase_id=phase1.pk, actor=manager)


def test_docs_gate__nothing_linked__keeps_waiting(manager):
    _release, _phase1, gate = running_with_docs_gate(manager)
    engine.tick(enqueue=run_task_inline)
    assert gate_status(gate) == GateStatus.PENDING
    ok, evidence = readiness.linked_docs_published(gate)
    assert not ok and "No doc page" in evidence["waiting"]


def test_docs_gate__no_page_on_phase__waits_for_every_release_page(manager):
    # Given pages linked to the release (none to the gate's phase): one published, one draft
    release, _phase1, gate = running_with_docs_gate(manager)
    phase2 = release.phases.order_by("position").last()
    done = make_page(author=manager, published=True)
    link(done, release, actor=manager)
    draft = make_page(author=manager, title="Later phase page")
    link(draft, release, phase2, actor=manager)
    # Then the gate waits for the release's draft too
    engine.tick(enqueue=run_task_inline)
    assert gate_status(gate) == GateStatus.PENDING
    assert readiness.linked_docs_published(gate)[1]["scope"] == "release"


def test_docs_gate__phase_pages_published__release_drafts_do_not_matter(manager):
    release, phase1, gate = running_with_docs_gate(manager)
    on_phase = make_page(author=manager, published=True)
    link(on_phase, release, phase1, actor=manager)
    elsewhere = make_page(author=manager)
    link(elsewhere, release, actor=manager)
    engine.tick(enqueue=run_task_inline)
    assert gate_status(gate) == GateStatus.PASSED


def test_docs_gate__page_publishes_itself_when_phase_starts__next_gate_passes(
    manager, approver, django_capture_on_commit_callbacks
):
    # Given phase 2 gated on docs, with a page that publishes when phase 2 starts
    release = release_with_phases(owner=manager, exposures=(10, 50, 100), gates_per_phase=0, slug="self-publish")
    phase1, phase2, _ = release.phases.order_by("position")
    gate = services.gate_add(phase_id=phase2.pk, actor=manager, name="Docs", kind=GateKind.DOCS_READY)
    page = make_page(author=manager, publish_rule=PublishRule.PHASE_START)
    link(page, release, phase2, actor=manager)
    # When the release runs into phase 2
    with django_capture_on_commit_callbacks(execute=True):
        transitions.release_start(release_id=release.pk, actor=manager)
        transitions.phase_advance(release_id=release.pk, phase_id=phase1.pk, actor=manager)
    engine.tick(enqueue=run_task_inline)
    # Then the page went out with the phase and the gate let it through
    assert gate_status(gate) == GateStatus.PASSED


def test_gate_form__docs_ready__offered_with_help(manager_client, release):
    phase = release.phases.order_by("position").first()
    body = manager_client.get(f"/releases/checkout/phases/{phase.pk}/gates/add/").content.decode()
    assert 'value="docs_ready"' in body and 'data-kind="docs_ready"' in body
    response = manager_client.post(
        f"/releases/checkout/phases/{phase.pk}/gates/add/",
        {"name": "Docs out", "kind": "docs_ready", "required": "on", "required_approvals": 1},
    )
    assert response.status_code in (200, 303)
    assert Gate.objects.filter(kind=GateKind.DOCS_READY, name="Docs out").exists()
