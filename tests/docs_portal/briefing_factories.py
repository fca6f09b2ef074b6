"""Known issues, FAQ entries and calendar feeds for briefing tests.

Factories make rows directly (for volume, e.g. query-count tests); the helpers below go
through the services, as the product does, when a test is about what a change records.
"""

import factory

from docs_portal import briefing_services, calendar
from docs_portal.models import CalendarFeed, FaqEntry, KnownIssue, KnownIssueStatus
from tests.factories import ReleaseFactory, UserFactory


class KnownIssueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KnownIssue

    release = factory.SubFactory(ReleaseFactory)
    title = factory.Sequence(lambda n: f"Known issue {n}")
    description = "Some customers see it."
    workaround = ""
    status = KnownIssueStatus.INVESTIGATING


class FaqEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FaqEntry

    release = factory.SubFactory(ReleaseFactory)
    position = factory.Sequence(lambda n: n)
    question = factory.Sequence(lambda n: f"Question {n}?")
    answer = "The answer."


class CalendarFeedFactory(factory.django.DjangoModelFactory):
    """A feed row whose token nobody knows; `new_feed` below returns a usable token."""

    class Meta:
        model = CalendarFeed

    user = factory.SubFactory(UserFactory)
    token_hash = factory.Sequence(lambda n: calendar.token_digest(f"unknown-token-{n}"))
    token_hint = factory.Sequence(lambda n: f"{n:04d}"[-4:])


def add_known_issue(release, actor, **fields):
    return briefing_services.known_issue_create(
        actor=actor, release_id=release.pk, **{"title": "Saved cards missing", **fields}
    )


def add_faq(release, actor, **fields):
    return briefing_services.faq_create(
        actor=actor, release_id=release.pk, **{"question": "Why?", "answer": "Because.", **fields}
    )


def new_feed(user) -> tuple[CalendarFeed, str]:
    return calendar.feed_create(user=user)
