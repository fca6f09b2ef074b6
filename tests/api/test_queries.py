"""Every API list costs the same number of queries at any size.

Each count is: the token with its user, the user's roles, the page count, the rows, and
one query per prefetched relation the rows show.
"""

import pytest

from rollouts import transitions
from rollouts.models import GateKind
from tests.factories import (
    AudienceFactory,
    ChecklistItemFactory,
    GateFactory,
    MessageFactory,
    NoticeFactory,
    RollbackStepFactory,
    StakeholderFactory,
    WebhookDeliveryFactory,
    WebhookSubscriptionFactory,
    release_with_phases,
)

pytestmark = pytest.mark.django_db

AUTH = 2  # the token with its user; the user's roles
PAGE = 2  # COUNT(*); the rows


def releases(n, manager, approver):
    for i in range(n):
        release = release_with_phases(owner=manager, slug=f"r-{n}-{i}")
        RollbackStepFactory(release=release, owner=manager)
        RollbackStepFactory(release=release)
        if i % 2 == 0:
            transitions.release_start(release_id=release.pk, actor=manager)
            release.refresh_from_db()
            transitions.gate_approve(gate_id=release.current_phase.gates.get().pk, actor=approver)
        if i % 4 == 0:
            transitions.release_rollback(release_id=release.pk, actor=manager, reason="x")
        gate = GateFactory(phase=release.phases.first(), kind=GateKind.CHECKLIST)
        ChecklistItemFactory(gate=gate)


def comms(n, manager, approver):
    audiences = [AudienceFactory() for _ in range(n)]
    for i in range(n):
        StakeholderFactory(audiences=audiences[i : i + 2])
        release = release_with_phases(owner=manager, slug=f"c-{n}-{i}", exposures=(10,))
        message = MessageFactory(plan__release=release, audiences=audiences[i : i + 2])
        NoticeFactory(message=message)


def webhook_data(n, manager, approver):
    for _ in range(n):
        subscription = WebhookSubscriptionFactory(created_by=manager)
        WebhookDeliveryFactory(subscription=subscription)


def docs_data(n, manager, approver):
    from tests.docs_portal.factories import link, make_page

    release = release_with_phases(owner=manager, slug=f"d-{n}")
    for i in range(n):
        page = make_page(author=manager, published=bool(i % 2))
        link(page, release, actor=manager)


def flags_data(n, manager, approver):
    from flags import services

    release = release_with_phases(owner=manager, slug=f"f-{n}")
    for i in range(n):
        segment = services.segment_create(actor=manager, key=f"seg-{i}", name=f"Segment {i}", targeting_keys=["u1"])
        services.flag_create(
            actor=manager,
            key=f"flag-{i}",
            name=f"Flag {i}",
            type="boolean",
            variants={"on": True, "off": False},
            on_variant="on",
            off_variant="off",
            release=release if i % 2 else None,
            segments=[] if i % 2 else [segment],
        )


def briefing_data(n, manager, approver):
    from docs_portal import briefing_services

    release = release_with_phases(owner=manager, slug=f"b-{n}")
    for i in range(n):
        briefing_services.known_issue_create(actor=manager, release_id=release.pk, title=f"Issue {i}")
        briefing_services.faq_create(actor=manager, release_id=release.pk, question=f"Q{i}?", answer="A.")


# (path, how to make data of size n, queries)
LISTS = [
    ("/api/v1/releases", releases, AUTH + PAGE + 1),  # + gates of the current phases
    ("/api/v1/phases", releases, AUTH + PAGE + 3),  # + gates, their decisions, checklist items
    ("/api/v1/gates", releases, AUTH + PAGE + 2),  # + decisions, checklist items
    ("/api/v1/rollback-steps", releases, AUTH + PAGE),
    ("/api/v1/rollback-runs", releases, AUTH + PAGE + 1),  # + steps
    ("/api/v1/events", releases, AUTH + PAGE),
    ("/api/v1/audiences", comms, AUTH + PAGE),
    ("/api/v1/stakeholders", comms, AUTH + PAGE + 1),  # + memberships with audiences
    ("/api/v1/communication-plans", comms, AUTH + PAGE + 2),  # + messages, their audiences
    ("/api/v1/messages", comms, AUTH + PAGE + 1),  # + audiences
    ("/api/v1/notices", comms, AUTH + PAGE),
    ("/api/v1/webhooks", webhook_data, AUTH + PAGE),
    ("/api/v1/webhook-deliveries", webhook_data, AUTH + PAGE + 1),  # + attempts
    ("/api/v1/docs", docs_data, AUTH + PAGE),
    ("/api/v1/known-issues", briefing_data, AUTH + PAGE),
    ("/api/v1/faq", briefing_data, AUTH + PAGE),
    ("/api/v1/flags", flags_data, AUTH + PAGE + 1),  # + segments
    ("/api/v1/segments", flags_data, AUTH + PAGE),
]


@pytest.mark.parametrize("size", [3, 15])
@pytest.mark.parametrize(("path", "make", "queries"), LISTS, ids=[p for p, _, _ in LISTS])
def test_list__few_or_many__same_query_count(
    api, manager, approver, path, make, queries, size, django_assert_num_queries
):
    # Given data of this size
    make(size, manager, approver)
    api.get("/api/v1/me")  # the token's last use is written once a minute; not part of the count
    # When the list is read
    with django_assert_num_queries(queries):
        response = api.get(path)
    # Then the count is fixed, and the rows are there
    assert response.status_code == 200, response.json()
    assert response.json()["count"] >= size // 4 >= 0 and response.json()["results"]


@pytest.mark.parametrize("size", [3, 15])
def test_release_list__session__same_query_count(manager_client, manager, approver, size, django_assert_num_queries):
    releases(size, manager, approver)
    # session, user, roles, count, rows, current phases' gates
    with django_assert_num_queries(6):
        response = manager_client.get("/api/v1/releases")
    assert response.json()["count"] == size
