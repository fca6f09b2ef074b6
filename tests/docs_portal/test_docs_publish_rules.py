"""Publish rules: the engine publishes a draft when a linked phase starts or when a linked
release completes, never before, once, and says so on the release timeline."""

import pytest

from docs_portal import services, tasks
from docs_portal.models import DocRevision, DocStatus, PublishRule
from rollouts import transitions
from rollouts.models import Event
from rollouts.templatetags.rollouts_tags import event_label
from tests.docs_portal.factories import link, make_page

pytestmark = pytest.mark.django_db


def approve_and_advance(release, approver, actor):
    release.refresh_from_db()
    phase = release.current_phase
    for gate in phase.gates.all():
        transitions.gate_approve(gate_id=gate.pk, actor=approver)
    return transitions.phase_advance(release_id=release.pk, phase_id=phase.pk, actor=actor)


def status_of(page) -> str:
    page.refresh_from_db()
    return page.status


def test_phase_start_rule__linked_phase_starts__published_then_not_before(
    manager, approver, release, django_capture_on_commit_callbacks
):
    # Given a draft that publishes when phase 2 starts
    _phase1, phase2, _ = release.phases.order_by("position")
    page = make_page(author=manager, title="Beta guide", publish_rule=PublishRule.PHASE_START)
    link(page, release, phase2, actor=manager)
    # When the release starts (phase 1 active)
    with django_capture_on_commit_callbacks(execute=True):
        transitions.release_start(release_id=release.pk, actor=manager)
    # Then it is still a draft
    assert status_of(page) == DocStatus.DRAFT
    # When phase 2 starts
    with django_capture_on_commit_callbacks(execute=True):
        approve_and_advance(release, approver, manager)
    # Then it is published by Flightdeck, with a revision and a timeline event on phase 2
    assert status_of(page) == DocStatus.PUBLISHED and page.published_at is not None
    revision = DocRevision.objects.get(page=page, number=2)
    assert revision.status == DocStatus.PUBLISHED and revision.author is None
    assert "phase “Phase 2” started" in revision.note
    event = Event.objects.get(verb="doc.published")
    assert event.release_id == release.pk and event.phase_id == phase2.pk and event.actor is None
    assert event.reason == "Beta guide" and event.data["rule"] == PublishRule.PHASE_START
    assert event_label(event.verb) == "published the doc page"


def test_phase_start_rule__first_phase__published_on_release_start(
    manager, release, django_capture_on_commit_callbacks
):
    page = make_page(author=manager, publish_rule=PublishRule.PHASE_START)
    link(page, release, release.phases.order_by("position").first(), actor=manager)
    with django_capture_on_commit_callbacks(execute=True):
        transitions.release_start(release_id=release.pk, actor=manager)
    assert status_of(page) == DocStatus.PUBLISHED


def test_release_complete_rule__phases_start__published_only_on_completion(
    manager, approver, django_capture_on_commit_callbacks
):
    # Given a two-phase release and a draft that publishes when it completes, linked to phase 1
    from tests.factories import release_with_phases

    release = release_with_phases(owner=manager, exposures=(10, 100), slug="two")
    page = make_page(author=manager, publish_rule=PublishRule.RELEASE_COMPLETE)
    link(page, release, release.phases.order_by("position").first(), actor=manager)
    manual = make_page(author=manager, publish_rule=PublishRule.MANUAL)
    link(manual, release, actor=manager)
    # When phases start, Then nothing is published
    with django_capture_on_commit_callbacks(execute=True):
        transitions.release_start(release_id=release.pk, actor=manager)
        approve_and_advance(release, approver, manager)
    assert status_of(page) == DocStatus.DRAFT
    # When the release completes
    release.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        for gate in release.current_phase.gates.all():
            transitions.gate_approve(gate_id=gate.pk, actor=approver)
        transitions.release_complete(release_id=release.pk, actor=manager)
    # Then the rule's page is published, and the manual one is left alone
    assert status_of(page) == DocStatus.PUBLISHED
    assert status_of(manual) == DocStatus.DRAFT


def test_phase_start_rule__page_linked_to_other_phase_or_manual__untouched(
    manager, release, django_capture_on_commit_callbacks
):
    phase1, phase2, _ = release.phases.order_by("position")
    later = make_page(author=manager, publish_rule=PublishRule.PHASE_START)
    link(later, release, phase2, actor=manager)
    whole = make_page(author=manager, publish_rule=PublishRule.PHASE_START)
    link(whole, release, actor=manager)  # no phase: a phase-start rule has nothing to fire on
    manual = make_page(author=manager)
    link(manual, release, phase1, actor=manager)
    with django_capture_on_commit_callbacks(execute=True):
        transitions.release_start(release_id=release.pk, actor=manager)
    assert {status_of(p) for p in (later, whole, manual)} == {DocStatus.DRAFT}


def test_publish_task__delivered_twice_even_after_unpublish__publishes_once(
    manager, release, django_capture_on_commit_callbacks
):
    # Given a page published by its rule
    page = make_page(author=manager, publish_rule=PublishRule.PHASE_START)
    link(page, release, release.phases.order_by("position").first(), actor=manager)
    with django_capture_on_commit_callbacks(execute=True):
        transitions.release_start(release_id=release.pk, actor=manager)
    started = Event.objects.get(verb="release.started")
    # When a manager unpublishes it and the task is delivered again
    services.page_unpublish(page_id=page.pk, actor=manager)
    assert tasks.publish_for_event(started.pk) == []
    # Then it stays a draft: the rule fired once
    assert status_of(page) == DocStatus.DRAFT
    assert Event.objects.filter(verb="doc.published", data__trigger_event=started.pk).count() == 1


def test_publish_task__event_gone_or_other_verb__no_op(manager, release):
    transitions.release_schedule(release_id=release.pk, actor=manager)
    scheduled = Event.objects.get(verb="release.scheduled")
    assert tasks.publish_for_event(scheduled.pk) == []
    assert tasks.publish_for_event(10**9) == []


def test_event_handler__only_trigger_verbs__enqueue(manager, release, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.publish_for_event, "delay", lambda event_id: sent.append(event_id))
    transitions.release_schedule(release_id=release.pk, actor=manager)
    transitions.release_start(release_id=release.pk, actor=manager)
    scheduled, started = Event.objects.get(verb="release.scheduled"), Event.objects.get(verb="release.started")
    tasks.on_release_event(scheduled.pk)
    tasks.on_release_event(started.pk)
    assert sent == [started.pk]


def test_manual_publish__page_view__published_and_on_release_timeline(manager_client, manager, release):
    # Given a draft linked to a release
    page = make_page(author=manager, title="How to switch")
    link(page, release, actor=manager)
    # When the manager presses Publish
    response = manager_client.post(f"/docs/{page.slug}/publish/")
    # Then it is published and the release page's timeline says who did it
    assert response.status_code == 303
    assert status_of(page) == DocStatus.PUBLISHED
    timeline = manager_client.get("/releases/checkout/").content.decode().split('id="timeline"')[1]
    assert "published the doc page" in timeline and "How to switch" in timeline
    # And pressing it again says so, changing nothing
    again = manager_client.post(f"/docs/{page.slug}/publish/", follow=True)
    assert "already published" in again.content.decode()
    assert Event.objects.filter(verb="doc.published").count() == 1


def test_unpublish__published_page__draft_again_and_hidden_from_public(client, manager, release):
    from docs_portal.models import Visibility

    page = make_page(author=manager, visibility=Visibility.PUBLIC, published=True)
    assert client.get(f"/docs/{page.slug}/").status_code == 200
    client.force_login(manager)
    assert client.post(f"/docs/{page.slug}/unpublish/").status_code == 303
    client.logout()
    assert client.get(f"/docs/{page.slug}/").status_code == 404
