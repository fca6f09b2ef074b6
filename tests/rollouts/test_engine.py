"""The engine's tick, in-process: auto-advance, soak, freezes, deadlines, ci_result."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from rollouts import engine, services, transitions
from rollouts.models import (
    AllowedHours,
    Event,
    GateKind,
    GateStatus,
    Phase,
    Release,
    ReleaseStatus,
)
from rollouts.schedule import automation_block
from tests.conftest import run_task_inline
from tests.factories import RollbackStepFactory, release_with_phases

pytestmark = pytest.mark.django_db


def auto_release(owner, *, exposures=(10, 50, 100), soak=10, gates=0, **kw):
    release = release_with_phases(owner=owner, exposures=exposures, soak=soak, gates_per_phase=gates, **kw)
    Phase.objects.filter(release=release).update(auto_advance=True)
    return release


def tick(now=None):
    return engine.tick(now=now, enqueue=run_task_inline)


def current_position(release):
    release.refresh_from_db()
    return release.current_phase.position


# --- auto-advance and soak ------------------------------------------------------------


def test_tick__soak_not_over__waits_then_advances(manager):
    release = auto_release(manager)
    with time_machine.travel(datetime(2026, 11, 2, 12, 0, tzinfo=UTC), tick=False) as clock:
        transitions.release_start(release_id=release.pk, actor=manager)
        clock.shift(timedelta(minutes=9, seconds=59))
        tick()
        assert current_position(release) == 0
        clock.shift(timedelta(seconds=1))
        report = tick()
    assert report.advanced == [release.pk]
    assert current_position(release) == 1
    event = Event.objects.get(verb="phase.advanced")
    assert event.actor is None and event.data["automatic"] is True


def test_tick__auto_advance_off__never_advances(manager):
    release = release_with_phases(owner=manager, soak=0, gates_per_phase=0)
    transitions.release_start(release_id=release.pk, actor=manager)
    tick(timezone.now() + timedelta(hours=5))
    assert current_position(release) == 0


def test_tick__required_gate_pending__does_not_advance_until_approved(manager, approver):
    release = auto_release(manager, soak=0, gates=1)
    transitions.release_start(release_id=release.pk, actor=manager)
    tick()
    assert current_position(release) == 0
    release.refresh_from_db()
    transitions.gate_approve(gate_id=release.current_phase.gates.get().pk, actor=approver)
    tick()
    assert current_position(release) == 1


def test_tick__last_phase_done__completes_release(manager):
    release = auto_release(manager, exposures=(50, 100), soak=0)
    transitions.release_start(release_id=release.pk, actor=manager)
    tick()
    report = tick()
    release.refresh_from_db()
    assert report.completed == [release.pk]
    assert release.status == ReleaseStatus.COMPLETED


def test_tick__paused_release__does_nothing(manager):
    release = auto_release(manager, soak=0)
    transitions.release_start(release_id=release.pk, actor=manager)
    transitions.release_pause(release_id=release.pk, actor=manager)
    tick()
    assert current_position(release) == 0


def test_tick__run_twice_at_the_same_instant__one_advance(manager):
    release = auto_release(manager, soak=10)
    transitions.release_start(release_id=release.pk, actor=manager)
    now = timezone.now() + timedelta(minutes=10)
    tick(now)
    tick(now)
    assert current_position(release) == 1
    assert Event.objects.filter(release=release, verb="phase.advanced").count() == 1


# --- freeze windows and allowed hours -------------------------------------------------


def add_freeze(release, name, start, end, tz="Europe/Berlin", actor=None):
    return services.freeze_add(
        actor=actor, release_id=release.pk if release else None, name=name, timezone_name=tz,
        starts_local=start, ends_local=end,
    )  # fmt: skip


def test_freeze__automation_waits_and_a_person_needs_a_reason(manager):
    release = auto_release(manager, soak=0)
    transitions.release_start(release_id=release.pk, actor=manager)
    now = timezone.now()
    local_now = now.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin")).replace(tzinfo=None)
    add_freeze(release, "Year-end", local_now - timedelta(hours=1), local_now + timedelta(hours=1), actor=manager)
    tick(now)
    assert current_position(release) == 0
    with pytest.raises(transitions.NotReady, match=r"Freeze “Year-end”.*give a reason"):
        transitions.phase_advance(release_id=release.pk, phase_id=release.current_phase_id, actor=manager)
    transitions.phase_advance(
        release_id=release.pk, phase_id=release.current_phase_id, actor=manager, reason="Security fix, CTO approved"
    )
    event = Event.objects.get(verb="phase.advanced")
    assert event.reason == "Security fix, CTO approved" and event.data["override"] == "freeze"


def test_freeze__global_window__holds_every_release(manager):
    release = auto_release(manager, soak=0)
    transitions.release_start(release_id=release.pk, actor=manager)
    add_freeze(None, "Black Friday", datetime(2000, 1, 1), datetime(2100, 1, 1), tz="UTC")
    tick()
    assert current_position(release) == 0


def test_freeze__ends_at_local_time_across_dst_change(manager):
    # Berlin leaves summer time on 2026-10-25 at 03:00 CEST → 02:00 CET. A freeze that ends at
    # 06:00 Berlin time ends at 05:00 UTC that morning, not 04:00 UTC (which +02:00 would give).
    release = auto_release(manager, soak=0)
    add_freeze(release, "Weekend", datetime(2026, 10, 24, 22, 0), datetime(2026, 10, 25, 6, 0))
    assert automation_block(release, datetime(2026, 10, 24, 19, 59, tzinfo=UTC)) is None  # 21:59 CEST
    assert automation_block(release, datetime(2026, 10, 24, 20, 0, tzinfo=UTC)) is not None  # 22:00 CEST
    assert automation_block(release, datetime(2026, 10, 25, 4, 30, tzinfo=UTC)) is not None  # 05:30 CET
    assert automation_block(release, datetime(2026, 10, 25, 5, 0, tzinfo=UTC)) is None  # 06:00 CET
    with time_machine.travel(datetime(2026, 10, 25, 4, 30, tzinfo=UTC), tick=False) as clock:
        transitions.release_start(release_id=release.pk, actor=manager)
        tick()
        assert current_position(release) == 0
        clock.move_to(datetime(2026, 10, 25, 5, 0, 1, tzinfo=UTC))
        tick()
        assert current_position(release) == 1


def test_allowed_hours__weekday_office_hours_in_berlin__across_dst(manager):
    release = auto_release(manager, soak=0)
    AllowedHours.objects.create(
        release=release, timezone="Europe/Berlin", weekdays=[1, 2, 3, 4, 5], start_time=time(9), end_time=time(17)
    )
    # Friday before the change: 09:30 CEST is 07:30 UTC
    assert automation_block(release, datetime(2026, 10, 23, 7, 30, tzinfo=UTC)) is None
    assert automation_block(release, datetime(2026, 10, 23, 6, 59, tzinfo=UTC)).kind == "hours"
    # Monday after the change: 09:30 CET is 08:30 UTC, and 07:30 UTC is only 08:30 local
    assert automation_block(release, datetime(2026, 10, 26, 8, 30, tzinfo=UTC)) is None
    assert automation_block(release, datetime(2026, 10, 26, 7, 30, tzinfo=UTC)).kind == "hours"
    # Saturday: never
    assert "Outside the allowed hours" in automation_block(release, datetime(2026, 10, 24, 10, 0, tzinfo=UTC)).message


def test_allowed_hours__release_rules_override_global(manager):
    release = auto_release(manager, soak=0)
    AllowedHours.objects.create(timezone="UTC", weekdays=[1], start_time=time(0), end_time=time(1))
    assert automation_block(release, datetime(2026, 11, 4, 12, 0, tzinfo=UTC)) is not None  # Wednesday noon
    AllowedHours.objects.create(
        release=release, timezone="UTC", weekdays=[1, 2, 3, 4, 5, 6, 7], start_time=time(0), end_time=time(23, 59)
    )
    assert automation_block(release, datetime(2026, 11, 4, 12, 0, tzinfo=UTC)) is None


@pytest.mark.parametrize("weekdays", [[0], [1, 8], []])
def test_allowed_hours_add__days_outside_monday_to_sunday__refused_nothing_saved(manager, weekdays):
    release = auto_release(manager, soak=0)
    with pytest.raises(ValidationError) as refused:
        services.allowed_hours_add(
            actor=manager, release_id=release.pk, timezone_name="UTC", weekdays=weekdays,
            start_time=time(9), end_time=time(17),
        )  # fmt: skip
    assert "Monday (1) to Sunday (7)" in str(refused.value)
    assert not AllowedHours.objects.exists()


def test_freeze_form__bad_zone_and_end_before_start__messages(manager_client, release):
    data = {
        "name": "X",
        "timezone": "Mars/Olympus",
        "starts_local": "2026-12-24T00:00",
        "ends_local": "2026-12-23T00:00",
    }
    response = manager_client.post("/releases/checkout/freezes/add/", data, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    page = response.content.decode()
    assert "“Mars/Olympus” is not a known time zone" in page
    assert "The freeze must end after it starts." in page


# --- progress deadline ----------------------------------------------------------------


def test_deadline__passed__degraded_once_then_rollback_when_configured(manager):
    release = auto_release(manager, soak=0, gates=1)
    Phase.objects.filter(release=release).update(progress_deadline_minutes=30, auto_advance=False)
    RollbackStepFactory(release=release)
    with time_machine.travel(datetime(2026, 11, 2, 12, 0, tzinfo=UTC), tick=False) as clock:
        transitions.release_start(release_id=release.pk, actor=manager)
        clock.shift(timedelta(minutes=29))
        tick()
        release.refresh_from_db()
        assert release.degraded_at is None
        clock.shift(timedelta(minutes=2))
        tick()
        tick()
    release.refresh_from_db()
    assert release.degraded_at is not None
    assert Event.objects.filter(verb="release.degraded").count() == 1
    assert release.status == ReleaseStatus.IN_PROGRESS  # not configured to roll back


def test_deadline__rollback_configured__rollback_starts(manager):
    release = auto_release(manager, soak=0, gates=1)
    Release.objects.filter(pk=release.pk).update(rollback_on_deadline=True)
    Phase.objects.filter(release=release).update(progress_deadline_minutes=5)
    RollbackStepFactory(release=release)
    transitions.release_start(release_id=release.pk, actor=manager)
    tick(timezone.now() + timedelta(minutes=6))
    release.refresh_from_db()
    assert release.status == ReleaseStatus.ROLLING_BACK
    started = Event.objects.get(verb="rollback.started")
    assert started.actor is None and "did not advance within 5 min" in started.reason


# --- ci_result gates through the API ---------------------------------------------------


@pytest.fixture
def ci_gate(manager):
    release = release_with_phases(owner=manager, exposures=(10, 100), gates_per_phase=0, slug="ci")
    phase = release.phases.get(position=0)
    gate = services.gate_add(phase_id=phase.pk, actor=manager, name="Integration tests", kind=GateKind.CI_RESULT)
    transitions.release_start(release_id=release.pk, actor=manager)
    return gate


def report(client, gate, token, body):
    return client.post(
        f"/api/v1/gates/{gate.pk}/result", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def test_ci_result__pipeline_reports_pass__gate_passes_with_evidence(client, ci_gate):
    response = report(
        client, ci_gate, ci_gate.new_token, {"status": "pass", "url": "https://ci.example/1", "note": "ok"}
    )
    assert response.status_code == 200
    ci_gate.refresh_from_db()
    assert ci_gate.status == GateStatus.PASSED
    assert ci_gate.evidence["url"] == "https://ci.example/1"
    assert ci_gate.measurements.get().verdict == "success"


def test_ci_result__fail__gate_fails_and_release_pauses(client, ci_gate):
    report(client, ci_gate, ci_gate.new_token, {"status": "fail", "note": "3 tests failed"})
    ci_gate.refresh_from_db()
    release = ci_gate.phase.release
    release.refresh_from_db()
    assert ci_gate.status == GateStatus.FAILED
    assert release.status == ReleaseStatus.PAUSED


def test_ci_result__wrong_or_missing_or_revoked_token__401_and_nothing_recorded(client, ci_gate, manager):
    assert report(client, ci_gate, "fdg_wrong", {"status": "pass"}).status_code == 401
    assert client.post(f"/api/v1/gates/{ci_gate.pk}/result", {"status": "pass"}).status_code == 401
    from rollouts.gate_tokens import gate_token_revoke

    gate_token_revoke(gate_id=ci_gate.pk, actor=manager)
    response = report(client, ci_gate, ci_gate.new_token, {"status": "pass"})
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Missing, wrong or revoked gate token.",
        "code": "not_authenticated",
        "fields": {},
    }
    ci_gate.refresh_from_db()
    assert ci_gate.status == GateStatus.PENDING


def test_ci_result__bad_body__400_naming_the_field(client, ci_gate):
    response = report(client, ci_gate, ci_gate.new_token, {"status": "green", "url": "not a url"})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"status", "url"}


def test_ci_result__reported_twice__second_is_409(client, ci_gate):
    report(client, ci_gate, ci_gate.new_token, {"status": "pass"})
    response = report(client, ci_gate, ci_gate.new_token, {"status": "fail"})
    assert response.status_code == 409
    assert "already passed" in response.json()["detail"]


def test_ci_result__token_stored_hashed_and_shown_once(manager_client, manager, release):
    phase = release.phases.get(position=0)
    data = {"name": "Pipeline", "kind": "ci_result", "required": "on", "required_approvals": "1"}
    response = manager_client.post(f"/releases/checkout/phases/{phase.pk}/gates/add/", data, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    gate = phase.gates.get(name="Pipeline")
    token = page.split('<code class="token">')[1].split("</code>")[0]
    assert token.startswith("fdg_") and token not in gate.token_hash
    again = manager_client.get("/releases/checkout/").content.decode()
    assert token not in again and gate.token_hint in again


# --- schedule pages -------------------------------------------------------------------


def test_schedule_page__manager_adds_global_freeze_and_hours__shown_and_enforced(manager_client, manager):
    response = manager_client.post(
        "/schedule/",
        {
            "kind": "freeze",
            "freeze-name": "Black Friday",
            "freeze-timezone": "America/New_York",
            "freeze-starts_local": "2026-11-27T00:00",
            "freeze-ends_local": "2026-11-30T09:00",
            "freeze-reason": "Peak traffic",
        },
    )
    assert response.status_code == 303
    response = manager_client.post(
        "/schedule/",
        {
            "kind": "hours",
            "hours-timezone": "Europe/Berlin",
            "hours-weekdays": ["1", "2", "3"],
            "hours-start_time": "09:00",
            "hours-end_time": "16:00",
        },
    )
    assert response.status_code == 303
    page = manager_client.get("/schedule/").content.decode()
    assert "Black Friday" in page and "Mon, Tue, Wed 09:00–16:00 Europe/Berlin" in page
    release = auto_release(manager, soak=0)
    # Thursday noon in New York, inside the freeze
    assert automation_block(release, datetime(2026, 11, 27, 17, 0, tzinfo=UTC)).kind == "freeze"
    # Thursday after the freeze, outside Mon–Wed
    assert automation_block(release, datetime(2026, 12, 3, 12, 0, tzinfo=UTC)).kind == "hours"


def test_schedule_page__bad_input__422_with_messages_and_nothing_added(manager_client):
    response = manager_client.post(
        "/schedule/",
        {"kind": "hours", "hours-timezone": "Nowhere/Land", "hours-start_time": "25:00", "hours-end_time": "10:00"},
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "“Nowhere/Land” is not a known time zone" in page
    assert "Pick at least one day." in page and "Enter a valid time." in page
    assert not AllowedHours.objects.exists()


def test_schedule_page__support__reads_but_cannot_change(client, support):
    client.force_login(support)
    assert client.get("/schedule/").status_code == 200
    response = client.post("/schedule/", {"kind": "freeze", "freeze-name": "x"})
    assert response.status_code == 403


def test_release_hours__added_on_release_page__replace_global(manager_client, manager, release):
    AllowedHours.objects.create(timezone="UTC", weekdays=[1], start_time=time(0), end_time=time(1))
    data = {
        "timezone": "UTC",
        "weekdays": ["1", "2", "3", "4", "5", "6", "7"],
        "start_time": "00:00",
        "end_time": "23:59",
    }
    response = manager_client.post("/releases/checkout/hours/add/", data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Mon, Tue, Wed, Thu, Fri, Sat, Sun 00:00–23:59 UTC" in response.content.decode()
    assert automation_block(release, datetime(2026, 11, 4, 12, 0, tzinfo=UTC)) is None
    rule = AllowedHours.objects.get(release=release)
    manager_client.post(f"/releases/checkout/hours/{rule.pk}/remove/", HTTP_HX_REQUEST="true")
    assert automation_block(release, datetime(2026, 11, 4, 12, 0, tzinfo=UTC)) is not None
