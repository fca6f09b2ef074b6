"""A change made while the broker is unreachable (Redis restarting) still reaches the apps
that follow it: comms replans its notices and docs publish their pages in the process that
made the change, instead of losing the task that would have done it.

The change runs in a separate `manage.py shell` whose CELERY_BROKER_URL points at a loopback
port nobody listens on, so every enqueue really fails; the test process checks the outcome."""

import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from comms.models import Notice, Trigger
from docs_portal.models import DocStatus, PublishRule
from rollouts import transitions
from rollouts.models import Phase
from tests.docs_portal.factories import link, make_page
from tests.factories import release_with_phases
from tests.reliability.conftest import ROOT, database_url
from tests.reliability.test_comms import add_message, audience_of

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

ADVANCE = """
from rollouts import transitions
from rollouts.models import Release
from django.contrib.auth import get_user_model
release = Release.objects.get(pk={release})
users = get_user_model().objects
for gate in release.current_phase.gates.all():
    transitions.gate_approve(gate_id=gate.pk, actor=users.get(pk={approver}))
transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=users.get(pk={manager}))
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens


def test_broker_unreachable__phase_advance__notices_replanned_and_docs_published(manager, approver):
    # Given a running release whose second phase has a notice and a doc page that wait for it
    release = release_with_phases(owner=manager, exposures=(10, 100))
    second = release.phases.get(position=1)
    Phase.objects.filter(pk=second.pk).update(planned_start=timezone.now() + timedelta(days=2))
    message = add_message(release, audience_of("ana@example.com"), trigger=Trigger.PHASE_START, phase=second)
    page = make_page(author=manager, title="Beta guide", publish_rule=PublishRule.PHASE_START)
    link(page, release, second, actor=manager)
    transitions.release_start(release_id=release.pk, actor=manager)
    assert Notice.objects.filter(message=message).exclude(due_at__gte=timezone.now() + timedelta(days=1)).count() == 0

    # When the second phase starts in a process whose broker does not answer
    env = {
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{closed_port()}/0",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PATH": "/usr/bin:/bin",
    }
    code = ADVANCE.format(release=release.pk, approver=approver.pk, manager=manager.pk)
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    # Then the notice is due when the phase really started, and the page is published
    second.refresh_from_db()
    assert second.started_at is not None
    assert set(Notice.objects.filter(message=message).values_list("due_at", flat=True)) == {second.started_at}
    page.refresh_from_db()
    assert page.status == DocStatus.PUBLISHED
    # and both said why they did the work themselves
    assert "events.run_inline task=comms.tasks.plan_release" in done.stderr
    assert "events.run_inline task=docs_portal.tasks.publish_for_event" in done.stderr
