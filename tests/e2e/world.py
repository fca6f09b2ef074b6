"""Data the browser tests stand on, made through the services (never by setting fields)."""

from datetime import timedelta

from django.utils import timezone

from comms import plan_services, services
from comms.models import Trigger
from docs_portal import briefing_services
from docs_portal import services as docs_services
from docs_portal.models import Visibility
from rollouts import transitions
from rollouts.models import Release
from tests.factories import RollbackStepFactory, release_with_phases


def running_release(*, owner, name: str, version: str, slug: str, rollback_steps: int = 0) -> Release:
    """A canary (1% → 10% → 100%, one manual approval gate per phase) started by its owner."""
    release = release_with_phases(owner=owner, name=name, version=version, slug=slug)
    for n in range(1, rollback_steps + 1):
        RollbackStepFactory(release=release, position=n, title=f"Step {n}", expected_minutes=5)
    transitions.release_start(release_id=release.pk, actor=owner)
    release.refresh_from_db()
    return release


def audience_with(manager, name: str, people: list[tuple[str, str]]):
    audience = services.audience_create(actor=manager, name=name)
    for email, person in people:
        services.stakeholder_create(actor=manager, email=email, name=person, audience_ids=[audience.pk])
    return audience


def message_to(manager, release: Release, audience, *, name: str, trigger: str = Trigger.AT_TIME, **fields):
    defaults = {"subject": f"{name}: {{{{ release.name }}}}", "body": "Hello **{{ recipient.name }}**."}
    if trigger == Trigger.AT_TIME:
        defaults["send_at"] = timezone.now() + timedelta(minutes=1)  # due in a minute: send with now= later
    return plan_services.message_create(
        actor=manager,
        release_id=release.pk,
        name=name,
        trigger=trigger,
        audiences=[audience.pk],
        **{**defaults, **fields},
    )


def published_doc(manager, release: Release, *, slug: str, title: str):
    page = docs_services.page_create(
        actor=manager,
        slug=slug,
        title=title,
        body="## What changes\n\nThe checkout has **one page** now.\n\n## Who has it\n\nSee the briefing.",
        visibility=Visibility.SUPPORT,
    )
    docs_services.link_add(page_id=page.pk, release_id=release.pk, actor=manager)
    return docs_services.page_publish(page_id=page.pk, actor=manager)


def known_issue(actor, release: Release, title: str):
    return briefing_services.known_issue_create(
        actor=actor, release_id=release.pk, title=title, description="Some cards vanish.", workaround="Log in again."
    )
